//! What a bounded context is, said once: its name, port, migrations, schema, settings,
//! consumers and background jobs. Each service crate provides one [`ContextSpec`]; its
//! own binary ([`crate::service::main`]) and the one-process launcher both run every
//! context from that description, so neither names a context's parts by hand.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::bus::Subscription;
use crate::identity::KeyUse;

/// Every context of the platform with its default port: the one place ports live.
pub const PORTS: [(&str, u16); 11] = [
    ("products", 4001),
    ("inventory", 4002),
    ("accounts", 4003),
    ("coupons", 4004),
    ("orders", 4005),
    ("payments", 4006),
    ("shipping", 4007),
    ("cart", 4008),
    ("checkout", 4009),
    ("search", 4010),
    ("notifications", 4011),
];

/// The gateway's default port.
pub const GATEWAY_PORT: u16 = 4000;
/// The gateway's metrics port (OpenTelemetry's usual one for Prometheus), apart from
/// the clients' so that a deployment can keep it inside.
pub const GATEWAY_METRICS_PORT: u16 = 9464;

/// A context's default port (0, any free one, for a name that is not a context).
pub fn default_port(name: &str) -> u16 {
    PORTS
        .iter()
        .find(|(context, _)| *context == name)
        .map_or(0, |(_, port)| *port)
}

/// Where a context's subgraph listens by default.
pub fn default_url(name: &str) -> String {
    format!("http://127.0.0.1:{}/graphql", default_port(name))
}

/// A background job of a context: its name (for logs) and the work, which runs until
/// the shutdown token it was made with is cancelled.
pub struct Job {
    pub name: &'static str,
    pub work: BoxFuture<'static, ()>,
}

impl Job {
    pub fn new(name: &'static str, work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            name,
            work: Box::pin(work),
        }
    }
}

/// An opened context, as its binary and the launcher drive it.
pub trait Context: Send + Sync + 'static {
    /// The subgraph's HTTP routes.
    fn router(&self) -> axum::Router;
    /// The context's database: the relay publishes its outbox, readiness pings it.
    fn db(&self) -> &DatabaseConnection;
    /// The events it consumes, and how.
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
    }
    /// Its background jobs (sweepers, reconcilers, dispatchers), each until `shutdown`.
    fn jobs(&self, _shutdown: &CancellationToken) -> Vec<Job> {
        Vec::new()
    }
    /// The concrete context, for the launcher's typed handles.
    fn as_any(&self) -> &dyn Any;
}

/// What a context is given to open: its migrated database, its settings section, and
/// where the other contexts listen.
pub struct Opening {
    pub db: DatabaseConnection,
    /// The context's own settings (its section less `database_url` and `listen`),
    /// already checked against its type.
    pub settings: serde_json::Value,
    /// Each other context's `/graphql` URL, when one process runs them all.
    pub peers: BTreeMap<String, String>,
    /// Where the context keeps files other than its database (the platform's
    /// `data_dir`).
    pub data_dir: std::path::PathBuf,
}

impl Opening {
    /// The settings section as the context's type.
    ///
    /// # Errors
    /// When the section does not fit the type (checked at start, so only a bug).
    pub fn settings<S: DeserializeOwned>(&self) -> anyhow::Result<S> {
        Ok(serde_json::from_value(self.settings.clone())?)
    }

    /// Where the context `name` listens: the launcher's address when it runs it, else
    /// `configured`.
    pub fn peer_url(&self, name: &str, configured: &str) -> String {
        self.peers.get(name).cloned().unwrap_or_else(|| configured.to_owned())
    }
}

/// A context's settings type, erased so that a list of contexts can hold it: its
/// defaults, its JSON Schema, and reading its section as that type (so a wrong value
/// is reported at start, naming its key and where it came from).
///
/// The type needs no `deny_unknown_fields`: the configuration refuses unknown keys for
/// the whole tree before it reads any section (and a section also holds
/// `database_url` and `listen`).
#[derive(Clone, Copy)]
pub struct SettingsType {
    pub defaults: fn() -> serde_json::Value,
    pub schema: fn() -> serde_json::Value,
    pub read: fn(&figment::Figment, &str) -> Result<serde_json::Value, Box<figment::Error>>,
}

impl SettingsType {
    /// The erased form of `S`.
    pub const fn of<S: Serialize + DeserializeOwned + Default + schemars::JsonSchema>() -> Self {
        Self {
            defaults: defaults::<S>,
            schema: schema::<S>,
            read: read::<S>,
        }
    }
}

fn defaults<S: Serialize + Default>() -> serde_json::Value {
    serde_json::to_value(S::default()).unwrap_or_default()
}

fn schema<S: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(S)).unwrap_or_default()
}

fn read<S: Serialize + DeserializeOwned>(
    figment: &figment::Figment,
    section: &str,
) -> Result<serde_json::Value, Box<figment::Error>> {
    // Focused on the section, so that an error's path is the key within it, which is
    // then put behind the section's name.
    let typed: S = figment.focus(section).extract().map_err(|mut err| {
        err.path.insert(0, section.to_owned());
        Box::new(err)
    })?;
    serde_json::to_value(typed).map_err(|err| Box::new(figment::Error::from(err.to_string())))
}

/// No settings of its own.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct NoSettings {}

/// Opens a context from its migrated database and settings.
pub type Open = fn(Opening) -> BoxFuture<'static, anyhow::Result<Arc<dyn Context>>>;

/// Applies a context's migrations.
pub type Migrate = for<'a> fn(sea_orm::DatabaseExecutor<'a>) -> BoxFuture<'a, Result<(), DbErr>>;

/// Runs a [`Task`] with its arguments on the opened context.
pub type RunTask = fn(Vec<String>, Arc<dyn Context>) -> BoxFuture<'static, anyhow::Result<()>>;

/// A command of a context's own besides serving (`accounts create-user`): it gets the
/// arguments after its name and the opened context.
#[derive(Clone, Copy)]
pub struct Task {
    pub name: &'static str,
    pub about: &'static str,
    pub run: RunTask,
}

/// What a bounded context is.
#[derive(Clone, Copy)]
pub struct ContextSpec {
    /// Lower case, as in `<NAME>_DATABASE_URL` upper-cased and in the supergraph.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The subgraph's SDL, as committed under schema/subgraphs/.
    pub sdl: fn() -> String,
    pub migrate: Migrate,
    pub settings: SettingsType,
    pub open: Open,
    pub tasks: &'static [Task],
    /// What it signs, beside verifying its callers' assertions (which every context
    /// does): in production the keys for these must be configured.
    pub signs: &'static [KeyUse],
}

impl ContextSpec {
    /// Every use of keys a process running this context makes.
    pub fn key_uses(&self) -> Vec<KeyUse> {
        let mut uses = vec![KeyUse::VerifiesAssertions];
        uses.extend_from_slice(self.signs);
        uses
    }

    pub fn default_port(&self) -> u16 {
        default_port(self.name)
    }

    /// The contexts this one calls: a `<peer>_url` key of its settings names one (as
    /// Checkout's `orders_url` does), when `<peer>` is a context of the platform.
    pub fn peers(&self) -> Vec<&'static str> {
        let defaults = (self.settings.defaults)();
        PORTS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| defaults.get(format!("{name}_url")).is_some())
            .collect()
    }

    /// The default database: a SQLite file under `data_dir`.
    pub fn default_database_url(&self, data_dir: &std::path::Path) -> String {
        format!("sqlite://{}/{}.db", data_dir.display(), self.name)
    }
}

/// An opened context as the list holds it.
pub fn opened<T: Context>(context: T) -> Arc<dyn Context> {
    Arc::new(context)
}

/// The typed handle of an opened context, e.g. `downcast::<Orders>(opened)`.
pub fn downcast<T: Clone + 'static>(context: &dyn Context) -> Option<T> {
    context.as_any().downcast_ref::<T>().cloned()
}
