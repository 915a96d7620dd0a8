//! `cargo run -p coupons-migration -- up` applies the Coupons migrations to `DATABASE_URL`
//! (see sea-orm-migration's CLI for the other commands).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(coupons_migration::Migrator).await;
}
