//! `cargo run -p inventory-migration -- up` applies the Inventory migrations to
//! `DATABASE_URL` (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(inventory_migration::Migrator).await;
}
