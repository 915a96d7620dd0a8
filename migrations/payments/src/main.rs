//! `cargo run -p payments-migration -- up` applies the Payments migrations to `DATABASE_URL`
//! (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(payments_migration::Migrator).await;
}
