//! `checkout`: the Checkout subgraph on its own, with its relay-less saga reconciler
//! (`checkout sdl` prints its SDL). The other contexts are found at
//! `CHECKOUT_<CONTEXT>_URL`.

use std::time::Duration;

use clap::Parser;
use kernel_infra::CancellationToken;

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
    let checkout = checkout_service::Checkout::open(
        &cli.database_url,
        &checkout_service::RemoteUrls::from_env(),
        checkout_service::SagaSettings::from_env(),
    )
    .await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(
        checkout
            .saga
            .clone()
            .run_reconciler(Duration::from_millis(500), shutdown.clone()),
    );
    kernel_infra::server::run_standalone("checkout", checkout.router(), &cli.listen).await
}
