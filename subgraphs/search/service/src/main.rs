//! `search`: the Search subgraph on its own.
//!
//! `search sdl` prints the subgraph's SDL. Without a subcommand it serves GraphQL on
//! `--listen`. Alone, no bus feeds it: its read models change only when the platform
//! launcher runs it with the other contexts (or a broker delivers their events).

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "search", about = "The Search subgraph (read models built from events)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(long, env = "SEARCH_DATABASE_URL", default_value = search_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "SEARCH_LISTEN", default_value = "127.0.0.1:4010")]
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
        print!("{}", search_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let search = search_service::Search::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("search", search.router(), &cli.listen).await
}
