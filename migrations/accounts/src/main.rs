//! `cargo run -p accounts-migration -- up` applies the Accounts migrations to
//! `DATABASE_URL` (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(accounts_migration::Migrator).await;
}
