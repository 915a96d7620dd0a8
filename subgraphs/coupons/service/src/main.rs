//! `coupons`: the Coupons subgraph on its own (`coupons sdl` prints its SDL).

use clap::Parser;

#[derive(Parser)]
#[command(name = "coupons", about = "The Coupons subgraph")]
struct Cli {
    /// `sdl` prints the subgraph's SDL instead of serving.
    command: Option<String>,
    #[arg(long, env = "COUPONS_DATABASE_URL", default_value = coupons_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "COUPONS_LISTEN", default_value = "127.0.0.1:4004")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.as_deref() == Some("sdl") {
        print!("{}", coupons_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let coupons = coupons_service::Coupons::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("coupons", coupons.router(), &cli.listen).await
}
