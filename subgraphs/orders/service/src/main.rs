//! `orders`: the Orders subgraph on its own (`orders sdl` prints its SDL).

use clap::Parser;

#[derive(Parser)]
#[command(name = "orders", about = "The Orders subgraph")]
struct Cli {
    /// `sdl` prints the subgraph's SDL instead of serving.
    command: Option<String>,
    #[arg(long, env = "COUPONS_DATABASE_URL", default_value = orders_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "COUPONS_LISTEN", default_value = "127.0.0.1:4005")]
    listen: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.command.as_deref() == Some("sdl") {
        print!("{}", orders_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let orders = orders_service::Orders::open(&cli.database_url).await?;
    kernel_infra::server::run_standalone("orders", orders.router(), &cli.listen).await
}
