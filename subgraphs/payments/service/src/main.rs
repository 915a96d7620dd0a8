//! `payments`: the Payments subgraph on its own (`payments sdl` prints its SDL).

use clap::Parser;

#[derive(Parser)]
#[command(name = "payments", about = "The Payments subgraph")]
struct Cli {
    /// `sdl` prints the subgraph's SDL instead of serving.
    command: Option<String>,
    #[arg(long, env = "COUPONS_DATABASE_URL", default_value = payments_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "COUPONS_LISTEN", default_value = "127.0.0.1:4006")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.as_deref() == Some("sdl") {
        print!("{}", payments_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let payments = payments_service::Payments::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("payments", payments.router(), &cli.listen).await
}
