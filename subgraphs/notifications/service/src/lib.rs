//! The Notifications subgraph service: partners' webhook subscriptions, the consumer
//! that turns events into deliveries, and the dispatcher that makes them, signed and
//! retried; and e-mails to customers at each step of their orders (`emails`). Run it
//! alone with the `notifications` binary, or with every other context through the
//! platform launcher.

mod due;
pub mod emails;
pub mod entity;
pub mod graphql;
pub mod webhooks;

use std::time::Duration;

use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::context::{Context, ContextSpec, Job, Opening, SettingsType};
use kernel_infra::dead_letters::DeadLetters;
use sea_orm_migration::MigratorTrait;

pub use emails::{EmailCustomers, Emails, Mailer};
pub use graphql::NotificationsSchema;
pub use webhooks::{WebhookSettings, Webhooks};

/// What the Notifications context is (see `kernel_infra::context`).
pub const CONTEXT: ContextSpec = ContextSpec {
    name: "notifications",
    about: "The Notifications subgraph (partner webhooks, e-mails to customers)",
    sdl,
    migrate: |db| Box::pin(notifications_migration::Migrator::up(db, None)),
    settings: SettingsType::of::<NotificationsSettings>(),
    open: |opening| Box::pin(async move { Ok(kernel_infra::context::opened(Notifications::new(opening)?)) }),
    tasks: &[],
    signs: &[],
};

/// The Notifications section of the configuration: how webhooks are delivered and
/// e-mails sent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct NotificationsSettings {
    /// The waits between attempts, in seconds
    /// (`NOTIFICATIONS_WEBHOOK_RETRY_SECONDS='[30, 120, 300]'`).
    pub webhook_retry_seconds: Vec<f64>,
    /// Whether subscriptions may point at private or loopback addresses.
    pub webhook_allow_private_targets: bool,
    /// How long one attempt may take before it counts as failed, in seconds.
    pub webhook_timeout_seconds: f64,
    /// How long a dispatcher holds a delivery it is attempting, in seconds.
    pub webhook_lease_seconds: f64,
    /// The SMTP server customers' e-mails go through, as a URL
    /// (`NOTIFICATIONS_SMTP_URL=smtps://user:password@smtp.example.com`;
    /// `smtp://host:port` for a server without TLS). Unset, each message is written as
    /// an `.eml` file under `<data_dir>/mail`.
    pub smtp_url: Option<String>,
    /// Who customers' e-mails come from.
    pub mail_from: String,
    /// The waits between attempts to send an e-mail, in seconds.
    pub mail_retry_seconds: Vec<f64>,
    /// How long one attempt to send an e-mail may take, in seconds.
    pub mail_timeout_seconds: f64,
}

impl Default for NotificationsSettings {
    fn default() -> Self {
        let defaults = WebhookSettings::default();
        Self {
            webhook_retry_seconds: defaults.retry.waits().iter().map(Duration::as_secs_f64).collect(),
            webhook_allow_private_targets: defaults.allow_private_targets,
            webhook_timeout_seconds: defaults.timeout.as_secs_f64(),
            webhook_lease_seconds: defaults.lease.as_secs_f64(),
            smtp_url: None,
            mail_from: "Shop <orders@shop.example>".into(),
            mail_retry_seconds: defaults.retry.waits().iter().map(Duration::as_secs_f64).collect(),
            mail_timeout_seconds: 30.0,
        }
    }
}

impl NotificationsSettings {
    fn webhooks(&self) -> anyhow::Result<WebhookSettings> {
        let seconds = |key: &str, value: f64| kernel_infra::config::seconds(&format!("notifications.{key}"), value);
        Ok(WebhookSettings {
            retry: notifications_domain::RetrySchedule::new(
                self.webhook_retry_seconds
                    .iter()
                    .map(|wait| seconds("webhook_retry_seconds", *wait))
                    .collect::<anyhow::Result<_>>()?,
            ),
            allow_private_targets: self.webhook_allow_private_targets,
            timeout: seconds("webhook_timeout_seconds", self.webhook_timeout_seconds)?,
            lease: seconds("webhook_lease_seconds", self.webhook_lease_seconds)?,
        })
    }

    fn emails(&self, opening: &Opening) -> anyhow::Result<Emails> {
        let seconds = |key: &str, value: f64| kernel_infra::config::seconds(&format!("notifications.{key}"), value);
        let mailer = Mailer::new(
            self.smtp_url.as_deref(),
            opening.data_dir.join("mail"),
            seconds("mail_timeout_seconds", self.mail_timeout_seconds)?,
        )?;
        let settings = emails::EmailSettings {
            from: self
                .mail_from
                .parse()
                .map_err(|err| anyhow::anyhow!("notifications.mail_from: {err}"))?,
            retry: notifications_domain::RetrySchedule::new(
                self.mail_retry_seconds
                    .iter()
                    .map(|wait| seconds("mail_retry_seconds", *wait))
                    .collect::<anyhow::Result<_>>()?,
            ),
            lease: seconds("mail_timeout_seconds", self.mail_timeout_seconds)? * 2,
        };
        Emails::new(opening.db.clone(), mailer, settings)
    }
}

/// A running Notifications context.
#[derive(Clone)]
pub struct Notifications {
    pub webhooks: Webhooks,
    pub emails: Emails,
    pub schema: NotificationsSchema,
}

impl Notifications {
    /// Connects to the context's database, applies its migrations and opens it with
    /// its default settings.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        kernel_infra::service::open_as(&CONTEXT, database_url).await
    }

    fn new(opening: Opening) -> anyhow::Result<Self> {
        let settings: NotificationsSettings = opening.settings()?;
        let emails = settings.emails(&opening)?;
        let webhooks = Webhooks::new(opening.db, settings.webhooks()?)?;
        Ok(Self {
            schema: graphql::schema(
                webhooks.clone(),
                DeadLetters::new(CONTEXT.name, webhooks.db().clone())
                    .with(EmailCustomers::subscription(emails.clone()))
                    .with(webhooks::FanOut::subscription(webhooks.clone())),
            ),
            webhooks,
            emails,
        })
    }
}

impl Context for Notifications {
    fn router(&self) -> axum::Router {
        kernel_infra::server::router(CONTEXT.name, self.schema.clone())
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.webhooks.db()
    }

    /// Events fan out to the partners' subscriptions; an order's steps become e-mails
    /// to its buyer.
    fn subscriptions(&self) -> Vec<Subscription> {
        vec![
            webhooks::FanOut::subscription(self.webhooks.clone()),
            EmailCustomers::subscription(self.emails.clone()),
        ]
    }

    /// Deliveries are made, signed and retried; e-mails are sent and retried.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let dispatcher = self
            .webhooks
            .clone()
            .run_dispatcher(Duration::from_secs(1), shutdown.clone());
        let sender = self.emails.clone().run_sender(Duration::from_secs(1), shutdown.clone());
        vec![
            Job::new("webhook dispatcher", dispatcher),
            Job::new("e-mail sender", sender),
        ]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The subgraph's SDL, as committed in schema/subgraphs/notifications.graphql.
pub fn sdl() -> String {
    let schema = async_graphql::Schema::build(
        graphql::Query::default(),
        graphql::Mutation::default(),
        async_graphql::EmptySubscription,
    )
    .enable_federation()
    .finish();
    kernel_infra::graphql::federation_sdl(&schema)
}
