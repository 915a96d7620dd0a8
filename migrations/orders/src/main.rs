//! `cargo run -p orders-migration -- up` applies the Orders migrations to `DATABASE_URL`
//! (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(orders_migration::Migrator).await;
}
