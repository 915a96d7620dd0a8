//! `checkout`: the Checkout subgraph on its own, with its saga reconciler (`checkout
//! sdl` prints its SDL). The other contexts are found at `CHECKOUT_<CONTEXT>_URL`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "checkout", about = "The Checkout subgraph (the checkout saga)")]
struct Cli {
    /// `sdl` prints the subgraph's SDL instead of serving.
    command: Option<String>,
    #[arg(long, env = "CHECKOUT_DATABASE_URL", default_value = checkout_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "CHECKOUT_LISTEN", default_value = "127.0.0.1:4009")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.as_deref() == Some("sdl") {
        print!("{}", checkout_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    checkout_service::run_alone(&cli.database_url, &cli.listen).await
}
