//! `cargo run -p products-migration -- up` applies the Products migrations to
//! `DATABASE_URL` (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(products_migration::Migrator).await;
}
