//! `cargo run -p checkout-migration -- up` applies the Checkout migrations to `DATABASE_URL`
//! (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(checkout_migration::Migrator).await;
}
