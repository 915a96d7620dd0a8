//! `notifications`: the Notifications subgraph on its own.
//!
//! `notifications sdl` prints the subgraph's SDL. Without a subcommand it serves
//! GraphQL on `--listen` and runs the webhook dispatcher. Alone, no bus feeds it: new
//! deliveries come only when the platform launcher runs it with the other contexts
//! (or a broker delivers their events).

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "notifications", about = "The Notifications subgraph (partner webhooks)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[arg(long, env = "NOTIFICATIONS_DATABASE_URL", default_value = notifications_service::DEFAULT_DATABASE_URL)]
    database_url: String,
    #[arg(long, env = "NOTIFICATIONS_LISTEN", default_value = "127.0.0.1:4011")]
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
        print!("{}", notifications_service::sdl());
        return Ok(());
    }
    kernel_infra::server::init_logging();
    let settings = notifications_service::WebhookSettings::from_env();
    let notifications = notifications_service::Notifications::open(&cli.database_url, settings).await?;
    let shutdown = kernel_infra::CancellationToken::new();
    let dispatcher = tokio::spawn(
        notifications
            .webhooks
            .clone()
            .run_dispatcher(Duration::from_secs(1), shutdown.clone()),
    );
    let served = kernel_infra::server::run_standalone("notifications", notifications.router(), &cli.listen).await;
    shutdown.cancel();
    dispatcher.await?;
    served
}
