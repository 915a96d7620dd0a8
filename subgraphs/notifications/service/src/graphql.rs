//! The Notifications subgraph: partners manage their webhook subscriptions and read
//! every delivery and attempt made to them.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel::Role;
use kernel_infra::dead_letters::DeadLetters;
use kernel_infra::graphql::{PageInfo, bad_input, cursor, error, page_size};
use kernel_infra::identity::require_any_role;
use notifications_domain::{DeliveryId, DeliveryStatus, WEBHOOK_EVENT_TYPES, WebhookSubscriptionId};

use crate::entity::{attempt, delivery, subscription};
use crate::webhooks::{Owner, Webhooks};

pub type NotificationsSchema = Schema<Query, Mutation, async_graphql::EmptySubscription>;

pub fn schema(webhooks: Webhooks, dead_letters: DeadLetters) -> NotificationsSchema {
    kernel_infra::graphql::with_limits(Schema::build(
        Query::default(),
        Mutation::default(),
        async_graphql::EmptySubscription,
    ))
    .enable_federation()
    .data(kernel_infra::status::ContextStatus::new(
        "notifications",
        webhooks.db().clone(),
    ))
    .data(dead_letters)
    .data(webhooks)
    .finish()
}

kernel_infra::status_field!("notificationsStatus");

kernel_infra::dead_letter_fields!(
    list: "notificationsDeadLetters",
    redrive: "redriveNotificationsDeadLetter",
    redrive_all: "redriveAllNotificationsDeadLetters",
    discard: "discardNotificationsDeadLetter",
);

/// The subgraph's queries: the context's own, its dead letters and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(NotificationsQuery, DeadLetterQuery, StatusQuery);

/// The subgraph's mutations: the context's own and its staff's on dead letters.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(NotificationsMutation, DeadLetterMutation);

/// Partners manage their own webhooks; ADMIN sees and manages everyone's.
fn owner(ctx: &Context<'_>) -> Result<Owner> {
    let identity = require_any_role(ctx, &[Role::Partner, Role::Admin])?;
    Ok(match identity.role {
        Role::Admin => Owner::Staff,
        _ => Owner::Partner(identity.user_id),
    })
}

fn parse_id<T>(id: &ID, parse: impl Fn(&str) -> Result<T, kernel::IdError>) -> Result<T> {
    parse(id.as_str()).map_err(|err| bad_input(err.to_string()))
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl From<WebhookDeliveryStatus> for DeliveryStatus {
    fn from(status: WebhookDeliveryStatus) -> Self {
        match status {
            WebhookDeliveryStatus::Pending => Self::Pending,
            WebhookDeliveryStatus::Delivered => Self::Delivered,
            WebhookDeliveryStatus::Dead => Self::Dead,
        }
    }
}

impl WebhookDeliveryStatus {
    fn of(text: &str) -> Self {
        match DeliveryStatus::parse(text) {
            Some(DeliveryStatus::Delivered) => Self::Delivered,
            Some(DeliveryStatus::Dead) => Self::Dead,
            _ => Self::Pending,
        }
    }
}

/// Where a partner's events go.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookSubscription {
    id: ID,
    url: String,
    event_types: Vec<String>,
    /// A disabled subscription gets no new deliveries, and its pending ones wait.
    active: bool,
    created_at: DateTime<Utc>,
}

impl From<subscription::Model> for WebhookSubscription {
    fn from(row: subscription::Model) -> Self {
        Self {
            id: ID(row.id.to_string()),
            url: row.url,
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            active: row.active,
            created_at: row.created_at,
        }
    }
}

/// What waits for a subscription: the webhook backlog staff watch.
#[derive(SimpleObject)]
pub struct WebhookBacklog {
    /// Deliveries not yet made (first tries and retries, and those of a disabled
    /// subscription).
    pending: i64,
    /// When the oldest pending delivery was made; null when none is pending.
    oldest_pending_at: Option<DateTime<Utc>>,
    /// Deliveries that gave up; `redeliverWebhook` sends one again.
    dead: i64,
}

#[ComplexObject]
impl WebhookSubscription {
    /// What waits for this subscription.
    async fn backlog(&self, ctx: &Context<'_>) -> Result<WebhookBacklog> {
        let subscription_id =
            uuid::Uuid::try_parse(self.id.as_str()).map_err(|_| bad_input("not a subscription id"))?;
        let backlog = ctx
            .data_unchecked::<Webhooks>()
            .backlog(subscription_id)
            .await
            .map_err(kernel_infra::graphql::internal)?;
        Ok(WebhookBacklog {
            pending: backlog.pending,
            oldest_pending_at: backlog.oldest_pending_at,
            dead: backlog.dead,
        })
    }

    /// Deliveries of events to this subscription, newest first.
    #[graphql(directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), Some(vec!["edges".into()]), None))]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<WebhookDeliveryStatus>,
    ) -> Result<WebhookDeliveryConnection> {
        let limit = page_size(first)?;
        let after = match after {
            Some(after) => {
                Some(uuid::Uuid::try_parse(&cursor::decode(&after)?).map_err(|_| bad_input("not a delivery cursor"))?)
            }
            None => None,
        };
        let webhooks = ctx.data_unchecked::<Webhooks>();
        let subscription_id =
            uuid::Uuid::try_parse(self.id.as_str()).map_err(|_| bad_input("not a subscription id"))?;
        let mut rows = webhooks
            .deliveries(subscription_id, status.map(Into::into), after, limit + 1)
            .await
            .map_err(error)?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.id).collect();
        let mut attempts = webhooks
            .attempts(&ids)
            .await
            .map_err(kernel_infra::graphql::internal)?
            .into_iter()
            .peekable();
        let mut edges = Vec::with_capacity(rows.len());
        let mut sorted = rows;
        sorted.sort_by_key(|row| row.id);
        for row in sorted {
            let mut mine = Vec::new();
            while let Some(attempt) = attempts.next_if(|a| a.delivery_id == row.id) {
                mine.push(WebhookAttempt::from(attempt));
            }
            edges.push(WebhookDeliveryEdge {
                cursor: cursor::encode(&row.id.to_string()),
                node: WebhookDelivery::new(row, mine),
            });
        }
        edges.reverse(); // newest first, as asked of the database
        Ok(WebhookDeliveryConnection {
            page_info: PageInfo {
                has_next_page,
                has_previous_page: false,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}

#[derive(SimpleObject)]
pub struct WebhookDeliveryConnection {
    edges: Vec<WebhookDeliveryEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct WebhookDeliveryEdge {
    cursor: String,
    node: WebhookDelivery,
}

/// One event on its way to one subscription.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    id: ID,
    /// The event's id: the same in every retry, so the partner can drop a repeat.
    event_id: ID,
    event_type: String,
    status: WebhookDeliveryStatus,
    attempt_count: i32,
    /// When it is tried next; null once delivered or dead, or while its subscription
    /// is disabled.
    next_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// Every attempt, first first.
    attempts: Vec<WebhookAttempt>,
}

impl WebhookDelivery {
    fn new(row: delivery::Model, attempts: Vec<WebhookAttempt>) -> Self {
        Self {
            id: ID(row.id.to_string()),
            event_id: ID(row.event_id.to_string()),
            event_type: row.event_type,
            status: WebhookDeliveryStatus::of(&row.status),
            attempt_count: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            attempts,
        }
    }
}

/// One POST of a delivery and what came of it.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    number: i32,
    attempted_at: DateTime<Utc>,
    /// The partner's HTTP status; null when it did not answer.
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

impl From<attempt::Model> for WebhookAttempt {
    fn from(row: attempt::Model) -> Self {
        Self {
            number: row.number,
            attempted_at: row.attempted_at,
            status_code: row.status_code,
            error: row.error,
            duration_ms: row.duration_ms,
        }
    }
}

/// A new subscription and its signing secret, which is shown only here.
#[derive(SimpleObject)]
pub struct WebhookSubscriptionCreated {
    subscription: WebhookSubscription,
    /// Verify each delivery's `X-Webhook-Signature` with it (docs/webhooks.md).
    secret: String,
}

#[derive(InputObject)]
pub struct CreateWebhookSubscriptionInput {
    /// An absolute http(s) URL.
    url: String,
    /// Names from `webhookEventTypes`.
    event_types: Vec<String>,
}

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The event types a partner can subscribe a webhook to.
    #[graphql(directive = kernel_infra::graphql::directives::cost::apply(1))]
    async fn webhook_event_types(&self) -> Vec<String> {
        WEBHOOK_EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect()
    }

    /// The caller's webhook subscriptions, newest first (ADMIN: everyone's).
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn webhook_subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<WebhookSubscription>> {
        let owner = owner(ctx)?;
        let rows = ctx
            .data_unchecked::<Webhooks>()
            .subscriptions(owner)
            .await
            .map_err(error)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One of the caller's webhook subscriptions; null when there is none by that id
    /// that the caller may see.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn webhook_subscription(&self, ctx: &Context<'_>, id: ID) -> Result<Option<WebhookSubscription>> {
        let owner = owner(ctx)?;
        let id = parse_id(&id, WebhookSubscriptionId::parse)?;
        match ctx.data_unchecked::<Webhooks>().subscription(owner, id).await {
            Ok(row) => Ok(Some(row.into())),
            Err(crate::webhooks::NotificationsError::Webhook(notifications_domain::WebhookError::NotFound(_))) => {
                Ok(None)
            }
            Err(err) => Err(error(err)),
        }
    }
}

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Sends every event of the given types to `url`, signed. PARTNER or ADMIN.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn create_webhook_subscription(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookSubscriptionInput,
    ) -> Result<WebhookSubscriptionCreated> {
        let identity = require_any_role(ctx, &[Role::Partner, Role::Admin])?;
        let created = ctx
            .data_unchecked::<Webhooks>()
            .subscribe(identity.user_id, &input.url, &input.event_types)
            .await
            .map_err(error)?;
        Ok(WebhookSubscriptionCreated {
            secret: created.secret.clone(),
            subscription: WebhookSubscription {
                id: ID(created.id.to_string()),
                url: created.url,
                event_types: created.event_types,
                active: created.active,
                created_at: created.created_at,
            },
        })
    }

    /// Stops a subscription; its pending deliveries wait and no new ones are made.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn disable_webhook_subscription(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookSubscription> {
        let owner = owner(ctx)?;
        let id = parse_id(&id, WebhookSubscriptionId::parse)?;
        let row = ctx
            .data_unchecked::<Webhooks>()
            .disable(owner, id)
            .await
            .map_err(error)?;
        Ok(row.into())
    }

    /// Tries a DEAD delivery once more, at once; if that attempt fails too, it is dead
    /// again.
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply())]
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> Result<WebhookDelivery> {
        let owner = owner(ctx)?;
        let caller = kernel_infra::identity::require_user(ctx)?.user_id;
        let id = parse_id(&delivery_id, DeliveryId::parse)?;
        let webhooks = ctx.data_unchecked::<Webhooks>();
        let row = webhooks
            .redeliver(owner, id, caller, &kernel_infra::graphql::request_meta(ctx))
            .await
            .map_err(error)?;
        let attempts = webhooks
            .attempts(&[row.id])
            .await
            .map_err(kernel_infra::graphql::internal)?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(WebhookDelivery::new(row, attempts))
    }
}
