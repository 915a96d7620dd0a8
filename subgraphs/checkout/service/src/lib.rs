//! The Checkout subgraph service: the orchestrated checkout saga (process state only)
//! around `checkout-domain`, calling the owning contexts over their subgraphs.

pub mod contract;
pub mod entity;
pub mod graphql;
pub mod remotes;
pub mod saga;

use std::sync::Arc;
use std::time::Duration;

use kernel_infra::CancellationToken;
use kernel_infra::context::{Context, ContextSpec, Job, Opening, SettingsType, default_url};
use kernel_infra::identity::{KeyUse, ServiceSigner};
use sea_orm_migration::MigratorTrait;

pub use graphql::CheckoutSchema;
pub use remotes::RemoteUrls;
pub use saga::{Saga, SagaSettings};

/// What the Checkout context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "checkout",
    about: "The Checkout subgraph (the checkout saga)",
    sdl,
    migrate: |db| Box::pin(checkout_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<CheckoutSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Checkout::new(opening)?)) }),
    tasks: &[],
    signs: &[KeyUse::SignsServiceCalls],
};

/// The name Checkout's service token carries.
pub const SERVICE_NAME: &str = "checkout";

/// The Checkout section of the configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CheckoutSettings {
    /// How long a driver owns a session without renewing, in seconds.
    pub lease_seconds: f64,
    /// A running session untouched this long is resumed by the reconciler, in seconds.
    pub resume_after_seconds: f64,
    /// Where the contexts the saga calls listen (`CHECKOUT_PRODUCTS_URL`, …); the
    /// one-process platform uses its own addresses instead.
    pub accounts_url: String,
    pub shipping_url: String,
    pub products_url: String,
    pub inventory_url: String,
    pub coupons_url: String,
    pub orders_url: String,
    pub payments_url: String,
    pub cart_url: String,
    /// Failed checkouts a customer may have within `failed_checkout_window_seconds`;
    /// past it a new checkout is RATE_LIMITED until the oldest of them leaves the
    /// window, so one cart cannot be tried against the payment provider again and again.
    pub failed_checkouts_per_customer: u32,
    pub failed_checkout_window_seconds: f64,
    /// Fault injection for the crash test: abort right after this step and its save.
    /// Left out of the configuration's schema, which is the same for every build.
    #[cfg(feature = "fault-injection")]
    #[schemars(skip)]
    pub crash_after: Option<String>,
    /// Fault injection: abort after this step's answer, before it is saved.
    #[cfg(feature = "fault-injection")]
    #[schemars(skip)]
    pub crash_before_save: Option<String>,
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        Self {
            lease_seconds: 30.0,
            resume_after_seconds: 30.0,
            accounts_url: default_url("accounts"),
            shipping_url: default_url("shipping"),
            products_url: default_url("products"),
            inventory_url: default_url("inventory"),
            coupons_url: default_url("coupons"),
            orders_url: default_url("orders"),
            payments_url: default_url("payments"),
            cart_url: default_url("cart"),
            failed_checkouts_per_customer: 5,
            failed_checkout_window_seconds: 600.0,
            #[cfg(feature = "fault-injection")]
            crash_after: None,
            #[cfg(feature = "fault-injection")]
            crash_before_save: None,
        }
    }
}

impl CheckoutSettings {
    fn saga(&self) -> anyhow::Result<SagaSettings> {
        let seconds = |key: &str, value: f64| {
            let key = format!("checkout.{key}");
            let duration = kernel_infra::config::seconds(&key, value)?;
            anyhow::ensure!(!duration.is_zero(), "{key} must be more than 0 seconds");
            Ok(duration)
        };
        // A name is a checkout step's or a return step's (their names differ).
        #[cfg(feature = "fault-injection")]
        let step = |key: &str,
                    name: &Option<String>|
         -> anyhow::Result<(
            Option<checkout_domain::Step>,
            Option<checkout_domain::returns::ReturnStep>,
        )> {
            let Some(name) = name.as_deref() else {
                return Ok((None, None));
            };
            match (
                checkout_domain::Step::parse(name),
                checkout_domain::returns::ReturnStep::parse(name),
            ) {
                (None, None) => anyhow::bail!("checkout.{key} must name a step, not `{name}`"),
                steps => Ok(steps),
            }
        };
        #[cfg(feature = "fault-injection")]
        let (crash_after, crash_after_return) = step("crash_after", &self.crash_after)?;
        #[cfg(feature = "fault-injection")]
        let (crash_before_save, crash_before_save_return) = step("crash_before_save", &self.crash_before_save)?;
        Ok(SagaSettings {
            lease: seconds("lease_seconds", self.lease_seconds)?,
            resume_after: seconds("resume_after_seconds", self.resume_after_seconds)?,
            failed_checkouts_per_customer: self.failed_checkouts_per_customer,
            failed_checkout_window: seconds("failed_checkout_window_seconds", self.failed_checkout_window_seconds)?,
            #[cfg(feature = "fault-injection")]
            crash_after,
            #[cfg(feature = "fault-injection")]
            crash_before_save,
            #[cfg(feature = "fault-injection")]
            crash_after_return,
            #[cfg(feature = "fault-injection")]
            crash_before_save_return,
        })
    }
}

/// A running Checkout context.
#[derive(Clone)]
pub struct Checkout {
    pub saga: Saga,
    pub schema: CheckoutSchema,
    resume_after: Duration,
}

impl Checkout {
    /// Prepares the saga from an opened database: the clients of the contexts it calls
    /// (signing its service token with the key the environment configures).
    fn new(opening: Opening) -> anyhow::Result<Self> {
        let settings: CheckoutSettings = opening.settings()?;
        let urls = RemoteUrls {
            accounts: opening.peer_url("accounts", &settings.accounts_url),
            shipping: opening.peer_url("shipping", &settings.shipping_url),
            products: opening.peer_url("products", &settings.products_url),
            inventory: opening.peer_url("inventory", &settings.inventory_url),
            coupons: opening.peer_url("coupons", &settings.coupons_url),
            orders: opening.peer_url("orders", &settings.orders_url),
            payments: opening.peer_url("payments", &settings.payments_url),
            cart: opening.peer_url("cart", &settings.cart_url),
        };
        let saga_settings = settings.saga()?;
        let resume_after = saga_settings.resume_after;
        let token = Arc::new(ServiceSigner::configured(SERVICE_NAME)?);
        let remotes = Arc::new(remotes::Remotes::new(&urls, token)?);
        let saga = Saga::new(opening.db, remotes, saga_settings);
        Ok(Self {
            schema: graphql::schema(saga.clone()),
            saga,
            resume_after,
        })
    }
}

impl Context for Checkout {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.saga.db()
    }

    /// The reconciler resumes sessions that a crash or an outage left half-way.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let every = (self.resume_after / 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
        vec![Job::new(
            "saga reconciler",
            self.saga.clone().run_reconciler(every, shutdown.clone()),
        )]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/checkout.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(
        graphql::Query::default(),
        graphql::Mutation,
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
