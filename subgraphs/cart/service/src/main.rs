//! `cart`: the Cart subgraph on its own (`cart sdl` prints its SDL).

use clap::Parser;

#[derive(Parser)]
#[command(name = "cart", about = "The Cart subgraph")]
struct Cli {
    /// `sdl` prints the subgraph's SDL instead of serving.
    command: Option<String>,
    #[arg(long, env = "COUPONS_DATABASE_URL", default_value = cart_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "COUPONS_LISTEN", default_value = "127.0.0.1:4008")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.as_deref() == Some("sdl") {
        print!("{}", cart_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let cart = cart_service::Cart::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("cart", cart.router(), &cli.listen).await
}
