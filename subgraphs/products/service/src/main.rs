//! `products`: the Products subgraph on its own.
//!
//! `products sdl` prints the subgraph's SDL. Without a subcommand it serves GraphQL on
//! `--listen`. Alone, the in-process bus has no consumers, so the outbox relay stays
//! off and events wait in the outbox for a broker; the platform launcher runs it with
//! every consumer in one process.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "products", about = "The Products subgraph (catalog and pricing)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(long, env = "PRODUCTS_DATABASE_URL", default_value = products_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "PRODUCTS_LISTEN", default_value = "127.0.0.1:4001")]
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
        print!("{}", products_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let products = products_service::Products::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("products", products.router(), &cli.listen).await
}
