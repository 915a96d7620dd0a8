//! `cargo run -p shipping-migration -- up` applies the Shipping migrations to `DATABASE_URL`
//! (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(shipping_migration::Migrator).await;
}
