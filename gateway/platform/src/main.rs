//! `platform`: runs the whole platform on one machine with no setup.
//!
//! - `platform` (what `cargo run --release` runs): migrates the SQLite databases under
//!   ./data, seeds a demo catalog on first start, serves every subgraph, runs the relays
//!   and background jobs, and starts the gateway.
//! - `platform gateway`: the gateway alone (the launcher starts it this way, as a child
//!   process, because the router owns process-wide state).
//! - `platform checkout`: the Checkout subgraph alone (the crash test kills it).
//! - `platform schema [--check]`: writes (or checks) the SDL files under schema/.
//! - `platform schema check [--base REV]`: what the code's supergraph changes against
//!   the one committed at REV, and which client operations a breaking change hits.
//! - `platform replay search [--rebuild]`: rebuilds Search's read models from the
//!   retained event log and proves parity with the live view (or replaces it).

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

use std::path::PathBuf;
use std::process::Stdio;

use clap::{Parser, Subcommand};
use kernel_infra::CancellationToken;
use platform::Settings;

#[derive(Parser)]
#[command(name = "platform", about = "Runs every subgraph and the gateway")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway only (configured by ROUTER_CONFIG_FILE_PATH).
    Gateway {
        /// Exit when standard input closes: the launcher holds it open, so the gateway
        /// never outlives it, however the launcher ends.
        #[arg(long)]
        exit_with_stdin: bool,
    },
    /// Run the Checkout subgraph alone, with its saga reconciler (the other contexts
    /// at CHECKOUT_<CONTEXT>_URL); the crash test kills and restarts it.
    Checkout {
        #[arg(long, env = "CHECKOUT_DATABASE_URL", default_value = "sqlite://data/checkout.db")]
        database_url: String,
        #[arg(long, env = "CHECKOUT_LISTEN", default_value = "127.0.0.1:4009")]
        listen: String,
    },
    /// Write every subgraph's SDL, the supergraph and the API schema under schema/.
    Schema {
        #[command(subcommand)]
        action: Option<SchemaAction>,
        /// Only check that the committed files match the code; exit 1 if not.
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = "schema", global = true)]
        dir: PathBuf,
    },
    /// Rebuild a read model from the retained event log (the producers' outboxes) and
    /// compare it with the live one, row by row; exit 1 when they differ.
    Replay {
        /// The read model's context: `search`.
        context: String,
        /// Replace the live view with the replayed one (stop the platform first).
        #[arg(long)]
        rebuild: bool,
    },
}

#[derive(Subcommand)]
enum SchemaAction {
    /// Classify every change of the code's supergraph against a committed one as
    /// BREAKING, DANGEROUS or SAFE, with the client operations each one hits; exit 1
    /// when a breaking change that a client uses is not acknowledged.
    Check {
        /// The git revision whose schema/supergraph.graphql is the base.
        #[arg(long, default_value = "HEAD", conflicts_with = "base_file")]
        base: String,
        /// A supergraph file to use as the base instead of a git revision.
        #[arg(long)]
        base_file: Option<PathBuf>,
        #[arg(long, default_value = "frontend-contracts")]
        contracts: PathBuf,
        /// Breaking changes accepted on purpose (kind, coordinate, reason).
        #[arg(long, default_value = "schema/acknowledged-changes.yaml")]
        acknowledgements: PathBuf,
        /// Also write the report as Markdown to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[global_allocator]
static GLOBAL: gateway::GlobalAllocator = gateway::GlobalAllocator;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Some(Command::Gateway { exit_with_stdin }) => {
            if exit_with_stdin {
                std::thread::spawn(|| {
                    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
                    std::process::exit(0);
                });
            }
            gateway::serve::run()
        }
        Some(Command::Checkout { database_url, listen }) => run_checkout(&database_url, &listen),
        Some(Command::Replay { context, rebuild }) => run_replay(&context, rebuild),
        Some(Command::Schema {
            action:
                Some(SchemaAction::Check {
                    base,
                    base_file,
                    contracts,
                    acknowledgements,
                    markdown,
                    json,
                }),
            dir,
            ..
        }) => {
            let committed = match base_file {
                Some(path) => std::fs::read_to_string(&path)?,
                None => platform::schema_files::committed_supergraph(&dir, &base)?,
            };
            let proposed = platform::schema_files::proposed_supergraph(&dir)?;
            let acknowledgements = gateway::schema_check::load_acknowledgements(&acknowledgements)?;
            let report = gateway::schema_check::check(&committed, &proposed, &contracts, &acknowledgements)?;
            print!("{}", report.to_markdown());
            if let Some(path) = markdown {
                std::fs::write(path, report.to_markdown())?;
            }
            if let Some(path) = json {
                std::fs::write(path, report.to_json())?;
            }
            if !report.passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Schema {
            action: None,
            check: false,
            dir,
        }) => {
            for path in platform::schema_files::write(&dir)? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Some(Command::Schema {
            action: None,
            check: true,
            dir,
        }) => {
            let stale = platform::schema_files::stale(&dir)?;
            for path in &stale {
                eprintln!("stale: {} (run `cargo run -p platform -- schema`)", path.display());
            }
            if stale.is_empty() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        None => run_platform(),
    }
}

#[tokio::main]
async fn run_replay(context: &str, rebuild: bool) -> anyhow::Result<()> {
    anyhow::ensure!(context == "search", "only `search` has read models to replay");
    let settings = Settings::from_env()?;
    let parity = platform::replay_search(&settings.database_urls, &settings.data_dir, rebuild).await?;
    println!(
        "replayed {} events: {} products, {} orders",
        parity.events, parity.products, parity.orders
    );
    for difference in &parity.differences {
        println!("  {difference}");
    }
    if parity.holds() {
        println!("parity: the live view equals the replayed one");
    } else {
        println!("parity: {} rows differ", parity.different);
    }
    if rebuild {
        println!("rebuilt: the live view is now the replayed one");
    } else if !parity.holds() {
        std::process::exit(1);
    }
    Ok(())
}

#[tokio::main]
async fn run_checkout(database_url: &str, listen: &str) -> anyhow::Result<()> {
    kernel_infra::server::init_logging();
    checkout_service::run_alone(database_url, listen).await
}

#[tokio::main]
async fn run_platform() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let settings = Settings::from_env()?;
    let shutdown = CancellationToken::new();
    let running = platform::start(
        &settings.database_urls,
        &settings.listen,
        &settings.jobs,
        &shutdown,
        &|_, router| router,
    )
    .await?;
    let supergraph = platform::supergraph(&running.endpoints)?;
    let env = platform::gateway_env(&settings.data_dir.join("gateway"), &supergraph, settings.gateway_port)?;
    let mut gateway = tokio::process::Command::new(std::env::current_exe()?)
        .args(["gateway", "--exit-with-stdin"])
        .envs(env)
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // Held open for the launcher's lifetime (`wait` would close it): the gateway exits
    // when it closes.
    let _gateway_stdin = gateway.stdin.take();

    let seeding = running.contexts.clone();
    tokio::spawn(async move {
        match platform::seed::demo(&seeding, 1000).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "seeded the demo catalog and coupons"),
            Err(err) => tracing::error!(error = %err, "seeding the demo data failed"),
        }
    });

    println!();
    println!(
        "  gateway (GraphQL, GraphiQL):  http://127.0.0.1:{}/graphql",
        settings.gateway_port
    );
    println!(
        "  gateway health, readiness:    http://127.0.0.1:{0}/health, /readiness",
        settings.gateway_port
    );
    for (name, url) in &running.endpoints {
        println!("  {:<30}{url}", format!("{name} subgraph:"));
    }
    println!("  demo coupon:                  WELCOME10 (10 % off orders from 10.00 USD)");
    println!("  press Ctrl-C to stop");
    println!();

    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        status = gateway.wait() => tracing::error!(?status, "the gateway exited"),
    }
    shutdown.cancel();
    let _ = gateway.start_kill();
    for task in running.tasks {
        let _ = task.await;
    }
    Ok(())
}
