//! `platform`: runs the whole platform on one machine with no setup.
//!
//! - `platform` (what `cargo run --release` runs): migrates the SQLite databases under
//!   ./data, seeds a demo catalog on first start, serves every subgraph, runs the relays
//!   and background jobs, and starts the gateway.
//! - `platform gateway`: the gateway alone (the launcher starts it this way, as a child
//!   process, because the router owns process-wide state).
//! - `platform <context>` (`platform orders`, …): that context alone, whole, as its
//!   own process (events through Redis Streams); `platform orders --help` lists its
//!   commands, e.g. `platform accounts create-user`.
//! - `platform config`: the effective configuration, secrets masked.
//! - `platform deploy [--check]`: writes (or checks) the deployment files under deploy/.
//! - `platform schema [--check]`: writes (or checks) the SDL files under schema/.
//! - `platform schema check [--base REV]`: what the code's supergraph changes against
//!   the one committed at REV, and which client operations a breaking change hits.
//! - `platform replay search [--rebuild --reason …]`: replays Search's read models from
//!   the retained event log and proves parity with the live view (or rebuilds it in
//!   place, while the platform runs).

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use clap::{Parser, Subcommand};
use kernel_infra::CancellationToken;

#[derive(Parser)]
#[command(
    name = "platform",
    about = "Runs every subgraph and the gateway",
    after_help = "A context's name (products, inventory, accounts, coupons, orders, payments, shipping, \
                  cart, checkout, search, notifications) runs that context alone: `platform orders --help`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A YAML or TOML configuration file (environment variables override it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
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
    /// Print the effective configuration (defaults, the file, the environment),
    /// secrets masked.
    Config,
    /// Write the deployment files under deploy/ from the context descriptions.
    Deploy {
        /// Only check that the committed files match; exit 1 if not.
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = "deploy")]
        dir: PathBuf,
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
        /// Then rebuild the live view in place, while the platform runs (recorded as an
        /// event with `--reason` and the system user that ran it).
        #[arg(long, requires = "reason")]
        rebuild: bool,
        /// Why the read model is rebuilt, for the audit trail.
        #[arg(long, requires = "rebuild")]
        reason: Option<String>,
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
    let args: Vec<String> = std::env::args().collect();
    if let Some(spec) = args.get(1).and_then(|name| platform::context(name)) {
        let program = format!("platform {}", spec.name);
        return kernel_infra::service::main(spec, std::iter::once(program).chain(args.into_iter().skip(2)));
    }
    let cli = Cli::parse();
    let config_file = cli.config;
    match cli.command {
        Some(Command::Gateway { exit_with_stdin }) => {
            apply_gateway_settings(config_file.as_deref())?;
            // A wrong setting or, in production, a missing key stops it before it listens.
            let config = platform::load_config(config_file.as_deref())?;
            gateway::settings::install(platform::gateway_settings(&config)?);
            if exit_with_stdin {
                std::thread::spawn(|| {
                    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
                    std::process::exit(0);
                });
            }
            gateway::serve::run()
        }
        Some(Command::Deploy { check: false, dir }) => {
            for path in platform::deploy::write(&dir)? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Some(Command::Deploy { check: true, dir }) => exit_if_stale(&platform::deploy::stale(&dir), "deploy"),
        Some(Command::Config) => {
            print!("{}", platform::load_config(config_file.as_deref())?.to_masked_yaml());
            Ok(())
        }
        Some(Command::Replay {
            context,
            rebuild: _,
            reason,
        }) => run_replay(&context, reason.as_deref(), config_file.as_deref()),
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
        }) => exit_if_stale(&platform::schema_files::stale(&dir)?, "schema"),
        None => run_platform(config_file.as_deref()),
    }
}

/// Says which generated files are stale and exits 1 when any is.
fn exit_if_stale(stale: &[PathBuf], command: &str) -> anyhow::Result<()> {
    for path in stale {
        eprintln!("stale: {} (run `cargo run -p platform -- {command}`)", path.display());
    }
    if stale.is_empty() {
        Ok(())
    } else {
        std::process::exit(1)
    }
}

/// The gateway's settings from the configuration: `gateway.env` (`GATEWAY_ENV`) and
/// `gateway.subgraph_urls` (`GATEWAY_SUBGRAPH_URLS_ORDERS=…`), and its trace exporter
/// from `OTEL_EXPORTER_OTLP_ENDPOINT`. Hive Router reads the first from its environment
/// and the others from its own configuration file, named by the environment, so when
/// they differ from what the environment says the process starts itself again with
/// them (the URLs and the exporter in a copy of that file). Returns when there is
/// nothing to apply (or it was applied).
fn apply_gateway_settings(config_file: Option<&Path>) -> anyhow::Result<()> {
    const APPLIED: &str = "PLATFORM_GATEWAY_SETTINGS_APPLIED";
    if std::env::var_os(APPLIED).is_some() {
        return Ok(());
    }
    let config = platform::load_config(config_file)?;
    let gateway = &config.common.gateway;
    let mut env = Vec::new();
    if std::env::var("GATEWAY_ENV").unwrap_or_else(|_| "development".into()) != gateway.env {
        env.push(("GATEWAY_ENV".to_owned(), PathBuf::from(&gateway.env)));
    }
    if let Some(unknown) = gateway
        .subgraph_urls
        .keys()
        .find(|name| platform::context(name).is_none())
    {
        anyhow::bail!("gateway.subgraph_urls.{unknown}: no such subgraph");
    }
    let edits = gateway::serve::RouterConfigEdits {
        subgraph_urls: gateway.subgraph_urls.clone(),
        otlp_traces_endpoint: kernel_infra::telemetry::otlp_traces_endpoint(),
    };
    if !edits.is_empty() {
        let original = std::env::var_os("ROUTER_CONFIG_FILE_PATH")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow::anyhow!("gateway.subgraph_urls and traces need ROUTER_CONFIG_FILE_PATH"))?;
        let effective = std::env::temp_dir().join(format!("gateway-router-{}.yaml", std::process::id()));
        gateway::serve::write_router_config(&original, &edits, &effective)?;
        env.push(("ROUTER_CONFIG_FILE_PATH".to_owned(), effective));
    }
    if env.is_empty() {
        return Ok(());
    }
    let err = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .envs(env)
            .env(APPLIED, "1"),
    );
    Err(anyhow::anyhow!("restarting the gateway with its settings: {err}"))
}

#[tokio::main]
async fn run_replay(context: &str, rebuild_reason: Option<&str>, config_file: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(context == "search", "only `search` has read models to replay");
    let config = platform::load_config(config_file)?;
    let operator = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let rebuild = rebuild_reason.map(|reason| search_service::replay::Rebuild {
        operator: &operator,
        reason,
    });
    let parity = platform::replay_search(&config, &config.common.data_dir, rebuild).await?;
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
    if rebuild.is_some() {
        println!("rebuilt: the live view is now the replayed one");
    } else if !parity.holds() {
        std::process::exit(1);
    }
    Ok(())
}

#[tokio::main]
async fn run_platform(config_file: Option<&Path>) -> anyhow::Result<()> {
    // A wrong setting stops the launcher before anything listens.
    let config = platform::load_config(config_file)?;
    // Readable at a glance: the launcher's own lines, then the contexts' warnings and
    // errors (`RUST_LOG` shows more); spans go to OTLP when an endpoint is set.
    let telemetry = kernel_infra::telemetry::init_with_filter("platform", LAUNCHER_LOG_FILTER);
    let shutdown = CancellationToken::new();
    let running = platform::start(&config, &shutdown, &|_, router| router).await?;
    let supergraph = platform::supergraph(&running.endpoints)?;
    let gateway_port = config.common.gateway.port;
    let metrics_port = config.common.gateway.metrics_port;
    let env = platform::gateway_env(
        &config.common.data_dir.join("gateway"),
        &supergraph,
        gateway_port,
        metrics_port,
    )?;
    let mut gateway = tokio::process::Command::new(std::env::current_exe()?);
    gateway.args(["gateway", "--exit-with-stdin"]);
    // The gateway reads its settings (`gateway.*`) from the same file.
    if let Some(file) = config_file {
        gateway.arg("--config").arg(file);
    }
    // The gateway's per-request lines are for `LOG_LEVEL=debug`; by default it says
    // what went wrong, as the contexts do.
    if std::env::var_os("LOG_LEVEL").is_none() {
        gateway.env("LOG_LEVEL", "warn");
    }
    let mut gateway = gateway.envs(env).stdin(Stdio::piped()).kill_on_drop(true).spawn()?;
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
        gateway_port
    );
    println!(
        "  gateway health, readiness:    http://127.0.0.1:{0}/health, /readiness",
        gateway_port
    );
    println!("  gateway metrics (internal):   http://127.0.0.1:{metrics_port}/metrics");
    println!(
        "  operations console (staff):   http://127.0.0.1:{gateway_port}/console/ (make an ADMIN with \
         `ACCOUNT_PASSWORD=… platform accounts create-user --email … --display-name … --role ADMIN`)"
    );
    for (name, url) in &running.endpoints {
        println!("  {:<30}{url}", format!("{name} subgraph:"));
    }
    println!("  demo coupon:                  WELCOME10 (10 % off orders from 10.00 USD)");
    println!("  press Ctrl-C to stop");
    println!();

    tokio::select! {
        () = kernel_infra::service::terminated() => {}
        status = gateway.wait() => tracing::error!(?status, "the gateway exited"),
    }
    shutdown.cancel();
    let _ = gateway.start_kill();
    for task in running.tasks {
        let _ = task.await;
    }
    telemetry.shutdown();
    Ok(())
}

/// The launcher's log filter when `RUST_LOG` is unset.
const LAUNCHER_LOG_FILTER: &str = "warn,platform=info";
