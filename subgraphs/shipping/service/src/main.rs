//! `shipping`: the Shipping subgraph on its own (`shipping sdl` prints its SDL).

use clap::Parser;

#[derive(Parser)]
#[command(name = "shipping", about = "The Shipping subgraph")]
struct Cli {
    /// `sdl` prints the subgraph's SDL instead of serving.
    command: Option<String>,
    #[arg(long, env = "COUPONS_DATABASE_URL", default_value = shipping_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "COUPONS_LISTEN", default_value = "127.0.0.1:4007")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.as_deref() == Some("sdl") {
        print!("{}", shipping_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let shipping = shipping_service::Shipping::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("shipping", shipping.router(), &cli.listen).await
}
