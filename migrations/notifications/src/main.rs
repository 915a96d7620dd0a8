//! `cargo run -p notifications-migration -- up` applies the Notifications migrations to
//! `DATABASE_URL` (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(notifications_migration::Migrator).await;
}
