//! Notifications' use cases: partners subscribe URLs to event types; every such event
//! becomes one delivery per subscription (consumed from the bus, claimed in the inbox);
//! the dispatcher POSTs each due delivery, signed, records the attempt, and schedules
//! the next or gives up, announcing the dead delivery in the same transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kernel::{EventEnvelope, EventMeta};
use kernel_infra::CancellationToken;
use kernel_infra::bus::{Delivery as BusDelivery, EventHandler, PartlyHandled, Subscription};
use notifications_domain::subscription::TargetPolicy;
use notifications_domain::{
    AttemptOutcome, Delivery, DeliveryId, DeliveryStatus, NextStep, NotificationEvent, RetrySchedule,
    WEBHOOK_EVENT_TYPES, WebhookError, WebhookSubscription, WebhookSubscriptionId, signature,
};
use sea_orm::sea_query::{Condition, Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::entity::{attempt, delivery, subscription};

pub const PRODUCER: &str = "notifications";

/// How deliveries are made (from the Notifications section of the configuration).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub retry: RetrySchedule,
    /// Whether subscriptions may point at private or loopback addresses.
    pub allow_private_targets: bool,
    /// How long one attempt may take before it counts as failed.
    pub timeout: Duration,
    /// How long a dispatcher holds a delivery it is attempting.
    pub lease: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry: RetrySchedule::default(),
            allow_private_targets: false,
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("only the partner that owns webhook subscription {0} may do this")]
    NotYours(WebhookSubscriptionId),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for NotificationsError {
    fn from(err: DbErr) -> Self {
        Self::Unknown(err.into())
    }
}

impl kernel::Classify for NotificationsError {
    fn kind(&self) -> kernel::ErrorKind {
        match self {
            Self::Webhook(err) => err.kind(),
            Self::NotYours(_) => kernel::ErrorKind::Forbidden,
            Self::Unknown(_) => kernel::ErrorKind::Internal,
        }
    }
}

/// Who asks: a partner sees and changes only its own subscriptions; staff see all.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Partner(uuid::Uuid),
    Staff,
}

impl Owner {
    fn may_see(self, partner_id: uuid::Uuid) -> bool {
        match self {
            Self::Partner(id) => id == partner_id,
            Self::Staff => true,
        }
    }
}

/// How many due deliveries one pass claims, and how many are attempted at once.
const BATCH: u64 = 64;
const CONCURRENCY: usize = 16;

/// What waits for one subscription (see [`Webhooks::backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: i64,
    pub dead: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Webhooks {
    db: DatabaseConnection,
    http: reqwest::Client,
    settings: WebhookSettings,
    /// Woken when new deliveries are due, so the first attempt does not wait a tick.
    due: Arc<Notify>,
}

impl Webhooks {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(db: DatabaseConnection, settings: WebhookSettings) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A redirect would send the signed body somewhere the partner did not name.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the check below.
            .no_proxy()
            .user_agent("ecommerce-webhooks/1");
        if !settings.allow_private_targets {
            // Names are checked as they resolve at delivery, and the connection goes to
            // an address that passed: a name cannot be pointed inside in between.
            http = http.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let http = http.build()?;
        Ok(Self {
            db,
            http,
            settings,
            due: Arc::new(Notify::new()),
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn policy(&self) -> TargetPolicy {
        TargetPolicy {
            allow_private: self.settings.allow_private_targets,
        }
    }

    /// Subscribes `partner_id`'s `url` to `event_types`; the answer holds the secret,
    /// which is shown this once.
    ///
    /// # Errors
    /// BAD_USER_INPUT for a bad URL or event type; a database failure.
    pub async fn subscribe(
        &self,
        partner_id: uuid::Uuid,
        url: &str,
        event_types: &[String],
    ) -> Result<WebhookSubscription, NotificationsError> {
        let subscription = WebhookSubscription::new(partner_id, url, event_types, self.policy(), Utc::now())?;
        subscription::Entity::insert(subscription::ActiveModel {
            id: Set(subscription.id.as_uuid()),
            partner_id: Set(subscription.partner_id),
            url: Set(subscription.url.clone()),
            event_types: Set(serde_json::to_string(&subscription.event_types).map_err(anyhow::Error::from)?),
            secret: Set(subscription.secret.clone()),
            active: Set(true),
            created_at: Set(subscription.created_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(subscription)
    }

    /// Stops a subscription: no new deliveries, and its pending ones are not attempted
    /// again. Disabling a disabled subscription changes nothing.
    ///
    /// # Errors
    /// NOT_FOUND, FORBIDDEN for another partner's subscription, a database failure.
    pub async fn disable(
        &self,
        owner: Owner,
        id: WebhookSubscriptionId,
    ) -> Result<subscription::Model, NotificationsError> {
        let found = self.subscription(owner, id).await?;
        let txn = self.db.begin().await?;
        subscription::Entity::update_many()
            .col_expr(subscription::Column::Active, Expr::value(false))
            .filter(subscription::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await?;
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::NextAttemptAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(delivery::Column::SubscriptionId.eq(id.as_uuid()))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(subscription::Model { active: false, ..found })
    }

    /// A subscription the caller may see.
    ///
    /// # Errors
    /// NOT_FOUND (also for another partner's, so ids do not leak), a database failure.
    pub async fn subscription(
        &self,
        owner: Owner,
        id: WebhookSubscriptionId,
    ) -> Result<subscription::Model, NotificationsError> {
        subscription::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .filter(|row| owner.may_see(row.partner_id))
            .ok_or_else(|| WebhookError::NotFound(id.to_string()).into())
    }

    /// The caller's subscriptions (staff: everyone's), newest first.
    ///
    /// # Errors
    /// A database failure.
    pub async fn subscriptions(&self, owner: Owner) -> Result<Vec<subscription::Model>, NotificationsError> {
        let mut query = subscription::Entity::find().order_by_desc(subscription::Column::CreatedAt);
        if let Owner::Partner(partner_id) = owner {
            query = query.filter(subscription::Column::PartnerId.eq(partner_id));
        }
        Ok(query.limit(1000).all(&self.db).await?)
    }

    /// A subscription's deliveries, newest first, `limit` after the delivery `after`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn deliveries(
        &self,
        subscription_id: uuid::Uuid,
        status: Option<DeliveryStatus>,
        after: Option<uuid::Uuid>,
        limit: u64,
    ) -> Result<Vec<delivery::Model>, NotificationsError> {
        let mut query = delivery::Entity::find()
            .filter(delivery::Column::SubscriptionId.eq(subscription_id))
            .order_by_desc(delivery::Column::Id)
            .limit(limit);
        if let Some(status) = status {
            query = query.filter(delivery::Column::Status.eq(status.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(delivery::Column::Id.lt(after));
        }
        Ok(query.all(&self.db).await?)
    }

    /// What waits for a subscription: its PENDING deliveries (and when the oldest was
    /// made) and its DEAD ones, in one grouped query.
    ///
    /// # Errors
    /// A database failure.
    pub async fn backlog(&self, subscription_id: uuid::Uuid) -> Result<Backlog, DbErr> {
        let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Status)
            .column_as(Expr::from(Func::count(Expr::col(delivery::Column::Id))), "count")
            .column_as(Expr::from(Func::min(Expr::col(delivery::Column::CreatedAt))), "oldest")
            .filter(delivery::Column::SubscriptionId.eq(subscription_id))
            .filter(delivery::Column::Status.ne(DeliveryStatus::Delivered.as_str()))
            .group_by(delivery::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut backlog = Backlog::default();
        for (status, count, oldest) in rows {
            match DeliveryStatus::parse(&status) {
                Some(DeliveryStatus::Pending) => {
                    backlog.pending = count;
                    backlog.oldest_pending_at = oldest;
                }
                Some(DeliveryStatus::Dead) => backlog.dead = count,
                Some(DeliveryStatus::Delivered) | None => {}
            }
        }
        Ok(backlog)
    }

    /// Every attempt of the deliveries, in order.
    ///
    /// # Errors
    /// A database failure.
    pub async fn attempts(&self, delivery_ids: &[uuid::Uuid]) -> Result<Vec<attempt::Model>, DbErr> {
        attempt::Entity::find()
            .filter(attempt::Column::DeliveryId.is_in(delivery_ids.iter().copied()))
            .order_by_asc(attempt::Column::DeliveryId)
            .order_by_asc(attempt::Column::Number)
            .all(&self.db)
            .await
    }

    /// A dead delivery is attempted once more, at once. Its schedule is spent, so if
    /// that attempt fails it is dead again (and announced again). Recorded, with who
    /// asked (`by`), as `webhook.redelivered` in the same transaction.
    ///
    /// # Errors
    /// NOT_FOUND (also another partner's), BAD_USER_INPUT when it is not dead, a
    /// database failure.
    pub async fn redeliver(
        &self,
        owner: Owner,
        id: DeliveryId,
        by: uuid::Uuid,
        meta: &EventMeta,
    ) -> Result<delivery::Model, NotificationsError> {
        let not_found = || NotificationsError::from(WebhookError::NotFound(format!("delivery {id}")));
        let row = delivery::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .filter(|row| owner.may_see(row.partner_id))
            .ok_or_else(not_found)?;
        if row.status != DeliveryStatus::Dead.as_str() {
            return Err(WebhookError::Invalid {
                field: "id",
                reason: format!("delivery {id} is {}, not DEAD", row.status),
            }
            .into());
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // Its attempts are kept and numbered on.
        let updated = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(DeliveryStatus::Pending.as_str()))
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(now))
            .filter(delivery::Column::Id.eq(id.as_uuid()))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Dead.as_str()))
            .exec(&txn)
            .await?;
        // Asked twice at once: the one that changed it records it.
        if updated.rows_affected == 1 {
            let subscription = subscription::Entity::find_by_id(row.subscription_id)
                .one(&txn)
                .await?
                .ok_or_else(not_found)?;
            let redelivered = NotificationEvent::WebhookRedelivered {
                delivery_id: id,
                subscription_id: WebhookSubscriptionId::from_uuid(subscription.id),
                partner_id: subscription.partner_id,
                event_id: row.event_id,
                event_type: row.event_type.clone(),
                requested_by: by,
            };
            kernel_infra::outbox::record(&txn, PRODUCER, meta, &[redelivered]).await?;
        }
        txn.commit().await?;
        self.due.notify_one();
        Ok(delivery::Model {
            status: DeliveryStatus::Pending.as_str().to_owned(),
            next_attempt_at: Some(now),
            ..row
        })
    }

    /// One delivery of each event to every active subscription that wants it, once
    /// however often the event arrives. The events handed over together are fanned out
    /// in one transaction.
    ///
    /// Most events interest no partner: those are answered with one read (for all the
    /// events together) and nothing written. An event that nobody wanted when it first
    /// arrived and that is delivered again after a partner subscribed reaches that
    /// partner, as if it had arrived late.
    async fn fan_out(&self, events: &[&EventEnvelope]) -> anyhow::Result<()> {
        let wants = |row: &subscription::Model, event: &EventEnvelope| {
            row.event_types.contains(&format!("\"{}\"", event.event_type.as_str()))
        };
        // Read before the transaction: inside it the read would see the same committed
        // rows and take no lock either.
        let mut any_type = Condition::any();
        for event in events {
            any_type =
                any_type.add(subscription::Column::EventTypes.contains(format!("\"{}\"", event.event_type.as_str())));
        }
        let active = subscription::Entity::find()
            .filter(subscription::Column::Active.eq(true))
            .filter(any_type)
            .all(&self.db)
            .await?;
        if active.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin().await?;
        let now = Utc::now();
        let mut rows: Vec<delivery::ActiveModel> = Vec::new();
        for event in events {
            let wanted: Vec<&subscription::Model> = active.iter().filter(|row| wants(row, event)).collect();
            if wanted.is_empty() || !kernel_infra::inbox::claim(&txn, FanOut::CONSUMER, event).await? {
                continue;
            }
            let body = serde_json::to_string(event)?;
            rows.extend(wanted.into_iter().map(|subscription| delivery::ActiveModel {
                id: Set(DeliveryId::new().as_uuid()),
                subscription_id: Set(subscription.id),
                partner_id: Set(subscription.partner_id),
                event_id: Set(event.event_id.as_uuid()),
                event_type: Set(event.event_type.to_string()),
                body: Set(body.clone()),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(Some(now)),
                leased_until: Set(None),
                last_status_code: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                delivered_at: Set(None),
            }));
        }
        let any = !rows.is_empty();
        // In parts, to stay under the databases' limits on bound values per statement.
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(INSERTED_AT_ONCE));
            delivery::Entity::insert_many(rows).exec_without_returning(&txn).await?;
            rows = rest;
        }
        txn.commit().await?;
        if any {
            self.due.notify_one();
        }
        Ok(())
    }

    /// Attempts every due delivery this replica can claim; returns how many it attempted.
    ///
    /// # Errors
    /// A database failure.
    pub async fn dispatch_due(&self) -> Result<usize, DbErr> {
        let claimed = self.claim_due().await?;
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(CONCURRENCY, |row| async move {
                let id = row.id;
                if let Err(err) = self.attempt(row).await {
                    tracing::warn!(delivery.id = %id, error = %err, "webhook attempt not recorded; it is tried again when its lease ends");
                }
            })
            .await;
        Ok(count)
    }

    /// Due deliveries, each leased to this replica.
    async fn claim_due(&self) -> Result<Vec<delivery::Model>, DbErr> {
        let columns = crate::due::SendingColumns {
            id: delivery::Column::Id,
            status: delivery::Column::Status,
            attempts: delivery::Column::Attempts,
            next_attempt_at: delivery::Column::NextAttemptAt,
            leased_until: delivery::Column::LeasedUntil,
        };
        crate::due::claim_due::<delivery::Entity>(
            &self.db,
            &columns,
            |row| (row.id, row.attempts),
            self.settings.lease,
            BATCH,
        )
        .await
    }

    /// POSTs one delivery and records what came of it.
    async fn attempt(&self, row: delivery::Model) -> anyhow::Result<()> {
        let subscription = subscription::Entity::find_by_id(row.subscription_id)
            .one(&self.db)
            .await?;
        let Some(subscription) = subscription.filter(|s| s.active) else {
            // Disabled since it was claimed: park it like the others of its subscription.
            delivery::Entity::update_many()
                .col_expr(
                    delivery::Column::NextAttemptAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    delivery::Column::LeasedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(delivery::Column::Id.eq(row.id))
                .exec(&self.db)
                .await?;
            return Ok(());
        };
        let number = row.attempts + 1;
        let started_at = Utc::now();
        let started = Instant::now();
        let outcome = self.post(&subscription, &row, number, started_at).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        if number > 1 {
            kernel_infra::metrics::WEBHOOK_RETRY_ATTEMPTS.inc();
        }
        self.record(&subscription, row, number, started_at, duration_ms, &outcome)
            .await
    }

    async fn post(
        &self,
        subscription: &subscription::Model,
        row: &delivery::Model,
        number: i32,
        at: DateTime<Utc>,
    ) -> AttemptOutcome {
        // An address written in the URL is not resolved: it is checked here, again,
        // since the policy may have changed since the subscription was made.
        if let Err(err) = notifications_domain::subscription::target_url(&subscription.url, self.policy()) {
            return AttemptOutcome::Failed {
                status: None,
                error: format!("refused target, not contacted: {err}"),
            };
        }
        let signature = signature::sign(&subscription.secret, at.timestamp(), row.body.as_bytes());
        let mut request = self
            .http
            .post(&subscription.url)
            .header("content-type", "application/json")
            .header(signature::HEADER, signature)
            .header("x-webhook-id", row.id.to_string())
            .header("x-webhook-event", &row.event_type)
            .header("x-webhook-attempt", number.to_string());
        // The dispatch is a span in the event's trace, and the trace goes on to the
        // partner, as it came through the shop.
        let span = tracing::info_span!(
            "webhook.dispatch",
            otel.name = %format!("webhook {}", row.event_type),
            otel.kind = "client",
            delivery_id = %row.id,
            subscription_id = %subscription.id,
            attempt = number,
        );
        if let Ok(envelope) = serde_json::from_str::<EventEnvelope>(&row.body) {
            kernel_infra::telemetry::continue_event(&span, &envelope);
            let mut headers = reqwest::header::HeaderMap::new();
            if span.in_scope(|| kernel_infra::telemetry::inject_current(&mut headers)) {
                request = request.headers(headers);
            } else {
                request = request.header("traceparent", kernel_infra::client::traceparent(&envelope.trace_id));
            }
        }
        match request.body(row.body.clone()).send().instrument(span).await {
            Ok(response) => AttemptOutcome::of_status(response.status().as_u16()),
            Err(err) => AttemptOutcome::Failed {
                status: None,
                error: crate::due::short(&error_chain(&err)),
            },
        }
    }

    /// The attempt, the delivery's new state and, when it died, the event that says so:
    /// one transaction. Conditional on the attempt count, so an attempt whose lease ran
    /// out and was taken over is recorded once.
    async fn record(
        &self,
        subscription: &subscription::Model,
        row: delivery::Model,
        number: i32,
        at: DateTime<Utc>,
        duration_ms: i64,
        outcome: &AttemptOutcome,
    ) -> anyhow::Result<()> {
        let mut delivery = Delivery {
            id: DeliveryId::from_uuid(row.id),
            status: DeliveryStatus::Pending,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
        };
        let Some(next) = delivery.record(outcome, at, &self.settings.retry) else {
            return Ok(());
        };
        let (status_code, error) = match outcome {
            AttemptOutcome::Accepted { status } => (Some(i32::from(*status)), None),
            AttemptOutcome::Failed { status, error } => (status.map(i32::from), Some(crate::due::short(error))),
        };
        let txn = self.db.begin().await?;
        attempt::Entity::insert(attempt::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            delivery_id: Set(row.id),
            number: Set(number),
            attempted_at: Set(at),
            status_code: Set(status_code),
            error: Set(error.clone()),
            duration_ms: Set(duration_ms),
        })
        .exec_without_returning(&txn)
        .await?;
        let (next_attempt_at, delivered_at) = match next {
            NextStep::Delivered => (None, Some(Utc::now())),
            NextStep::RetryAt(when) => (Some(when), None),
            NextStep::Dead => (None, None),
        };
        let updated = delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(delivery.status.as_str()))
            .col_expr(delivery::Column::Attempts, Expr::value(number))
            .col_expr(delivery::Column::NextAttemptAt, Expr::value(next_attempt_at))
            .col_expr(
                delivery::Column::LeasedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(delivery::Column::LastStatusCode, Expr::value(status_code))
            .col_expr(delivery::Column::LastError, Expr::value(error.clone()))
            .col_expr(delivery::Column::DeliveredAt, Expr::value(delivered_at))
            .filter(delivery::Column::Id.eq(row.id))
            .filter(delivery::Column::Attempts.eq(row.attempts))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Ok(()); // another replica recorded this attempt first; ours rolls back
        }
        if next == NextStep::Dead {
            let cause = serde_json::from_str::<EventEnvelope>(&row.body).ok();
            let meta = cause.as_ref().map_or_else(EventMeta::internal, EventMeta::caused_by);
            let failed = NotificationEvent::WebhookDeliveryFailed {
                delivery_id: delivery.id,
                subscription_id: WebhookSubscriptionId::from_uuid(subscription.id),
                partner_id: subscription.partner_id,
                url: subscription.url.clone(),
                event_id: row.event_id,
                event_type: row.event_type.clone(),
                attempts: delivery.attempts,
                last_error: error.unwrap_or_default(),
            };
            kernel_infra::outbox::record(&txn, PRODUCER, &meta, &[failed]).await?;
            tracing::warn!(delivery.id = %row.id, subscription.id = %subscription.id, "webhook delivery dead after {number} attempts");
        }
        txn.commit().await?;
        Ok(())
    }

    /// Attempts due deliveries every `interval` (at once when new ones arrive), until
    /// `shutdown`.
    pub async fn run_dispatcher(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.dispatch_due().await {
                // A full batch: more may be due at once.
                Ok(n) if n as u64 >= BATCH => continue,
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "webhook dispatch failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.due.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// An error with its causes, so that a refused address shows in the attempt's error.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Resolves a webhook's host name and keeps only the addresses a webhook may reach;
/// when none is left, the name is refused and nothing is contacted.
struct PublicAddressesOnly;

/// A host name that resolves only to addresses inside.
#[derive(Debug, thiserror::Error)]
#[error("refused target, not contacted: {0} resolves only to private or internal addresses")]
struct RefusedTarget(String);

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> = resolved
                .into_iter()
                .filter(|address| !notifications_domain::subscription::is_internal(address.ip()))
                .collect();
            if public.is_empty() {
                tracing::warn!(host, "a webhook's host resolves only inside; not contacted");
                return Err(Box::new(RefusedTarget(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Deliveries written by one statement at most (14 values each).
const INSERTED_AT_ONCE: usize = 500;

/// The consumer that turns events into deliveries.
pub struct FanOut {
    webhooks: Webhooks,
}

impl FanOut {
    pub const CONSUMER: &'static str = "notifications.webhooks";

    /// Its subscription, parking in Notifications' database what it fails on again
    /// and again (`kernel_infra::dead_letters`).
    pub fn subscription(webhooks: Webhooks) -> Subscription {
        let db = webhooks.db().clone();
        Subscription {
            consumer: Self::CONSUMER.to_owned(),
            event_types: WEBHOOK_EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            handler: Arc::new(Self { webhooks }),
            delivery: BusDelivery::Shared,
        }
        .parking(db)
    }
}

#[async_trait]
impl EventHandler for FanOut {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.webhooks.fan_out(&[event]).await
    }

    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), PartlyHandled> {
        self.webhooks.fan_out(events).await.map_err(PartlyHandled::none)
    }
}
