//! `cargo run -p search-migration -- up` applies the Search migrations to
//! `DATABASE_URL` (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(search_migration::Migrator).await;
}
