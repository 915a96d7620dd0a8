//! `products`: the Products subgraph on its own.
//!
//! `products sdl` prints the subgraph's SDL. Without a subcommand it serves GraphQL on
//! `--listen`. Alone, the in-process bus has no consumers, so the outbox relay stays
//! off and events wait in the outbox for a broker; the platform launcher runs it with
//! every consumer in one process.

use clap::{Parser, Subcommand};
use kernel_infra::CancellationToken;

#[derive(Parser)]
#[command(
    name = "products",
    about = "The Products subgraph (catalog and pricing)"
)]
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let products = products_service::Products::open(&cli.database_url).await?;
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    tracing::info!(
        "products subgraph on http://{}/graphql",
        listener.local_addr()?
    );
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        signal.cancel();
    });
    kernel_infra::server::serve(listener, products.router(), shutdown).await?;
    Ok(())
}
