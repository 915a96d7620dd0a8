//! `inventory`: the Inventory subgraph on its own.
//!
//! `inventory sdl` prints the subgraph's SDL. Without a subcommand it serves GraphQL on
//! `--listen`. Alone, the in-process bus has no consumers, so the outbox relay stays
//! off and events wait in the outbox for a broker; the platform launcher runs it with
//! every consumer in one process.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "inventory", about = "The Inventory subgraph (stock and reservations)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(long, env = "INVENTORY_DATABASE_URL", default_value = inventory_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "INVENTORY_LISTEN", default_value = "127.0.0.1:4002")]
    listen: String,
}

#[derive(Subcommand)]
enum Command {
    /// Print the subgraph's SDL.
    Sdl,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Sdl) = cli.command {
        print!("{}", inventory_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let inventory = inventory_service::Inventory::open(&cli.database_url).await?;
    let shutdown = kernel_infra::CancellationToken::new();
    let sweeper = tokio::spawn(
        inventory
            .stock
            .clone()
            .run_sweeper(std::time::Duration::from_secs(5), shutdown.clone()),
    );
    let served = kernel_infra::server::run_standalone("inventory", inventory.router(), &cli.listen).await;
    shutdown.cancel();
    sweeper.await?;
    served
}
