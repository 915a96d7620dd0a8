//! `cargo run -p cart-migration -- up` applies the Cart migrations to `DATABASE_URL`
//! (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(cart_migration::Migrator).await;
}
