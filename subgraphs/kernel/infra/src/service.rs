//! Running contexts from their descriptions: one alone as its own process
//! ([`run_alone`], behind every context's binary and `platform <context>`), or several
//! in one process (the launcher uses [`open`], [`serve`] and [`start_background`]).
//!
//! A context alone is whole: its migrations (one replica at a time on PostgreSQL), its
//! subgraph with `/health`, `/readiness` and `/metrics`, its outbox relay, its
//! consumers on Redis Streams and its background jobs. SIGTERM (or Ctrl-C) drains it:
//! readiness turns false, the listener closes, in-flight requests and the current
//! relay pass finish, consumers stop without acknowledging unfinished work, all within
//! `shutdown_grace_seconds`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sea_orm::{ConnectionTrait, TransactionTrait};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::{EventBus, InProcessBus};
use crate::config::{Common, Config, ContextConfig};
use crate::context::{Context, ContextSpec, Opening};
use crate::redis_bus::{RedisBusSettings, RedisStreamsBus};
use crate::relay::Relay;

/// Connects to a context's database, applies its migrations and opens it.
///
/// On PostgreSQL the migrations run in one transaction that holds an advisory lock
/// first, so replicas starting together migrate one after another: the first applies
/// them, the others wait and then find nothing to do.
///
/// # Errors
/// When the database cannot be reached or migrated, or the context cannot open.
pub async fn open(
    spec: &ContextSpec,
    config: &ContextConfig,
    peers: BTreeMap<String, String>,
) -> anyhow::Result<Arc<dyn Context>> {
    let db = crate::db::connect(&config.database_url).await?;
    if crate::db::is_postgres(&db) {
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock(hashtext('ecommerce.migrate.{}'))",
            spec.name
        ))
        .await?;
        (spec.migrate)(sea_orm::DatabaseExecutor::Transaction(&txn)).await?;
        txn.commit().await?;
    } else {
        (spec.migrate)(sea_orm::DatabaseExecutor::Connection(&db)).await?;
    }
    (spec.open)(Opening {
        db,
        settings: config.settings.clone(),
        peers,
        data_dir: config.data_dir.clone(),
    })
    .await
}

/// Opens a context alone with its default settings, as its typed handle: for a
/// service crate's own tests.
///
/// # Errors
/// As [`open`].
pub async fn open_as<T: Clone + 'static>(spec: &ContextSpec, database_url: &str) -> anyhow::Result<T> {
    let config = ContextConfig {
        database_url: database_url.to_owned(),
        listen: "127.0.0.1:0".into(),
        data_dir: std::env::temp_dir().join(format!("ecommerce-{}", spec.name)),
        settings: (spec.settings.defaults)(),
    };
    let context = open(spec, &config, BTreeMap::new()).await?;
    crate::context::downcast::<T>(context.as_ref())
        .ok_or_else(|| anyhow::anyhow!("{} does not open as the type asked for", spec.name))
}

/// The bus the configuration names: Redis Streams, or the in-process bus.
///
/// # Errors
/// When Redis cannot be reached.
pub async fn connect_bus(common: &Common) -> anyhow::Result<Arc<dyn EventBus>> {
    Ok(match &common.event_bus.redis_url {
        Some(url) => RedisStreamsBus::connect(RedisBusSettings {
            shards: common.event_bus.shards,
            prefix: common.event_bus.prefix.clone(),
            ..RedisBusSettings::new(url)
        })
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "the event bus (event_bus.redis_url, EVENT_BUS_REDIS_URL = {}) does not answer: {err}",
                crate::db::redact(url)
            )
        })?,
        None => InProcessBus::new(),
    })
}

/// Registers the context's consumers on `bus`.
///
/// # Errors
/// When the bus refuses one.
pub async fn subscribe(context: &dyn Context, bus: &dyn EventBus) -> anyhow::Result<()> {
    for subscription in context.subscriptions() {
        bus.subscribe(subscription.traced()).await?;
    }
    Ok(())
}

/// Starts the context's outbox relay and background jobs until `shutdown`.
pub fn start_background(
    context: &dyn Context,
    bus: Arc<dyn EventBus>,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(
        Relay::new(context.db().clone(), bus).run(shutdown.clone()),
    )];
    for job in context.jobs(shutdown) {
        tracing::debug!(job = job.name, "starting");
        tasks.push(tokio::spawn(job.work));
    }
    tasks
}

/// Serves `router` on `listen` (port 0: any free one) until `shutdown`, then drains.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(
    router: axum::Router,
    listen: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| anyhow::anyhow!("binding {listen}: {err}"))?;
    let address = listener.local_addr()?;
    Ok((address, serve_on(listener, router, shutdown)))
}

/// Serves `router` on a bound `listener` until `shutdown`, then drains.
pub fn serve_on(listener: TcpListener, router: axum::Router, shutdown: &CancellationToken) -> JoinHandle<()> {
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        if let Err(err) = crate::server::serve(listener, router, shutdown).await {
            tracing::error!(error = %err, "subgraph server failed");
        }
    })
}

/// Whether a process should get traffic: false while it drains, or while its database
/// or the bus does not answer.
#[derive(Clone)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
    db: sea_orm::DatabaseConnection,
    bus: Arc<dyn EventBus>,
}

impl Readiness {
    pub fn new(db: sea_orm::DatabaseConnection, bus: Arc<dyn EventBus>) -> Self {
        Self {
            draining: Arc::new(AtomicBool::new(false)),
            db,
            bus,
        }
    }

    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Why the process is not ready, or None.
    pub async fn problem(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::SeqCst) {
            return Some("draining");
        }
        let db = tokio::time::timeout(Duration::from_secs(2), self.db.ping()).await;
        if !matches!(db, Ok(Ok(()))) {
            return Some("database unreachable");
        }
        if !self.bus.ready().await {
            return Some("event bus unreachable");
        }
        None
    }

    /// `GET /readiness`: 200 `ready`, or 503 with the reason.
    pub fn route(&self) -> axum::Router {
        axum::Router::new()
            .route("/readiness", get(readiness))
            .with_state(self.clone())
    }
}

async fn readiness(State(readiness): State<Readiness>) -> (StatusCode, &'static str) {
    match readiness.problem().await {
        None => (StatusCode::OK, "ready"),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

/// Runs one context alone until SIGTERM or Ctrl-C, then drains it.
///
/// # Errors
/// When the bus is not Redis (a context alone would hear no event), or the context
/// cannot open or bind.
pub async fn run_alone(spec: &ContextSpec, config: &Config) -> anyhow::Result<()> {
    let own = config.context(spec.name)?;
    crate::identity::install(&config.common, &spec.key_uses())?;
    crate::throttle::install(&config.common);
    if config.common.event_bus.redis_url.is_none() {
        anyhow::bail!(
            "{} alone needs an event bus that other processes share: set EVENT_BUS_REDIS_URL \
             (event_bus.redis_url), or run every context in one process with `platform`",
            spec.name
        );
    }
    let context = open(spec, own, BTreeMap::new()).await?;
    let bus = connect_bus(&config.common).await?;
    subscribe(context.as_ref(), bus.as_ref()).await?;

    let readiness = Readiness::new(context.db().clone(), bus.clone());
    let stop_serving = CancellationToken::new();
    let router = context.router().merge(readiness.route());
    let (address, server) = serve(router, &own.listen, &stop_serving).await?;
    let stop_work = CancellationToken::new();
    let background = start_background(context.as_ref(), bus.clone(), &stop_work);
    tracing::info!(
        "{} subgraph on http://{address}/graphql (health /health, readiness /readiness, metrics /metrics)",
        spec.name
    );

    terminated().await;
    tracing::info!("{}: draining", spec.name);
    readiness.drain();
    stop_serving.cancel();
    stop_work.cancel();
    let grace = Duration::from_secs_f64(config.common.shutdown_grace_seconds.max(0.0));
    let drained = tokio::time::timeout(grace, async {
        let _ = server.await;
        for task in background {
            let _ = task.await;
        }
        bus.shutdown().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{}: still busy after the {grace:?} grace period; stopping anyway",
            spec.name
        );
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn terminated() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What a context's binary does, from its arguments: `[--config FILE] [COMMAND]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub config_file: Option<PathBuf>,
    pub command: ServiceCommand,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceCommand {
    /// Serve the context (no command).
    Serve,
    /// Print the subgraph's SDL.
    Sdl,
    /// Print the effective configuration, secrets masked.
    Config,
    /// Apply the migrations and exit.
    Migrate,
    /// One of the context's own tasks, with its arguments.
    Task(String, Vec<String>),
}

/// The clap command of a context's binary: its name, about line and subcommands.
pub fn cli(spec: &ContextSpec) -> clap::Command {
    let mut command = clap::Command::new(spec.name)
        .about(spec.about)
        .arg(
            clap::Arg::new("config")
                .long("config")
                .global(true)
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("A YAML or TOML configuration file (environment variables override it)"),
        )
        .subcommand(clap::Command::new("serve").about("Serve the context (the default)"))
        .subcommand(clap::Command::new("sdl").about("Print the subgraph's SDL"))
        .subcommand(clap::Command::new("config").about("Print the effective configuration, secrets masked"))
        .subcommand(clap::Command::new("migrate").about("Apply the migrations and exit"));
    for task in spec.tasks {
        command = command.subcommand(
            clap::Command::new(task.name).about(task.about).arg(
                clap::Arg::new("args")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true),
            ),
        );
    }
    command
}

/// Parses a context binary's arguments (the first is the program name).
///
/// # Errors
/// When they do not parse (clap's error, with usage).
pub fn parse(spec: &ContextSpec, args: impl IntoIterator<Item = String>) -> Result<Invocation, clap::Error> {
    let matches = cli(spec).try_get_matches_from(args)?;
    let config_file = matches.get_one::<PathBuf>("config").cloned();
    let command = match matches.subcommand() {
        None | Some(("serve", _)) => ServiceCommand::Serve,
        Some(("sdl", _)) => ServiceCommand::Sdl,
        Some(("config", _)) => ServiceCommand::Config,
        Some(("migrate", _)) => ServiceCommand::Migrate,
        Some((task, args)) => ServiceCommand::Task(
            task.to_owned(),
            args.get_many::<String>("args").into_iter().flatten().cloned().collect(),
        ),
    };
    Ok(Invocation { config_file, command })
}

/// A context's binary: `main` of every service crate, and `platform <context>`.
///
/// # Errors
/// When the configuration is wrong (before anything listens) or the context fails.
pub fn main(spec: &ContextSpec, args: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    let invocation = parse(spec, args).unwrap_or_else(|err| err.exit());
    if invocation.command == ServiceCommand::Sdl {
        print!("{}", (spec.sdl)());
        return Ok(());
    }
    let config = Config::load(std::slice::from_ref(spec), invocation.config_file.as_deref())?;
    if invocation.command == ServiceCommand::Config {
        print!("{}", config.to_masked_yaml());
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match invocation.command {
            ServiceCommand::Serve => {
                let telemetry = crate::telemetry::init(spec.name);
                let served = run_alone(spec, &config).await;
                telemetry.shutdown();
                served
            }
            ServiceCommand::Migrate => {
                let own = config.context(spec.name)?;
                open(spec, own, BTreeMap::new()).await?;
                println!("{}: migrated", spec.name);
                Ok(())
            }
            ServiceCommand::Task(name, args) => {
                let task = spec
                    .tasks
                    .iter()
                    .find(|task| task.name == name)
                    .ok_or_else(|| anyhow::anyhow!("{} has no command `{name}`", spec.name))?;
                let context = open(spec, config.context(spec.name)?, BTreeMap::new()).await?;
                (task.run)(args, context).await
            }
            ServiceCommand::Sdl | ServiceCommand::Config => Ok(()),
        }
    })
}
