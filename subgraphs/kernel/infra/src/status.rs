//! A context's status for staff, over GraphQL: whether its database answers, how far
//! its relay is behind (the events committed to its outbox and not yet published),
//! and for each of its consumers when it last handled an event and how many events it
//! failed on. The operations console shows one per context; a context that does not
//! answer at all shows as an error on its field.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect};

use crate::dead_letters::{self, DeadLetterStatus};
use crate::{inbox, outbox};

/// How long the status waits for the database before it calls it unreachable.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a context's status is read from: put in the schema's data.
#[derive(Clone)]
pub struct ContextStatus {
    context: &'static str,
    db: DatabaseConnection,
}

/// A context's status at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub context: &'static str,
    pub checked_at: DateTime<Utc>,
    /// Why the context is not ready, or None.
    pub problem: Option<String>,
    /// Events committed and not yet published; None when the database did not answer.
    pub unpublished_events: Option<u64>,
    /// When the oldest of them was committed.
    pub oldest_unpublished_at: Option<DateTime<Utc>>,
    pub consumers: Vec<ConsumerReport>,
}

/// One consumer of a context, as its inbox and dead letters tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerReport {
    pub consumer: String,
    pub last_handled_at: Option<DateTime<Utc>>,
    pub failing: u64,
    pub dead: u64,
}

impl ContextStatus {
    pub fn new(context: &'static str, db: DatabaseConnection) -> Self {
        Self { context, db }
    }

    /// The status now, with `consumers` (the context's consumers that park events; see
    /// [`dead_letters::DeadLetters::consumers`]).
    pub async fn report(&self, consumers: &[String]) -> StatusReport {
        let checked_at = Utc::now();
        let read = tokio::time::timeout(DATABASE_TIMEOUT, self.read(consumers)).await;
        let (problem, backlog, consumers) = match read {
            Ok(Ok((backlog, consumers))) => (None, Some(backlog), consumers),
            Ok(Err(err)) => {
                tracing::warn!(context = self.context, error = %err, "status: the database failed");
                (Some("database unreachable".to_owned()), None, Vec::new())
            }
            Err(_) => (Some("database unreachable".to_owned()), None, Vec::new()),
        };
        StatusReport {
            context: self.context,
            checked_at,
            problem,
            unpublished_events: backlog.map(|(count, _)| count),
            oldest_unpublished_at: backlog.and_then(|(_, oldest)| oldest),
            consumers,
        }
    }

    async fn read(&self, consumers: &[String]) -> Result<((u64, Option<DateTime<Utc>>), Vec<ConsumerReport>), DbErr> {
        // Both read the relay's partial index of pending rows only.
        let pending = || outbox::entity::Entity::find().filter(outbox::entity::Column::PublishedAt.is_null());
        let unpublished = pending().count(&self.db).await?;
        let oldest: Option<DateTime<Utc>> = pending()
            .select_only()
            .column(outbox::entity::Column::OccurredAt)
            .order_by_asc(outbox::entity::Column::Seq)
            .into_tuple()
            .one(&self.db)
            .await?;
        let mut reports = Vec::with_capacity(consumers.len());
        for consumer in consumers {
            reports.push(self.consumer(consumer).await?);
        }
        Ok(((unpublished, oldest), reports))
    }

    async fn consumer(&self, consumer: &str) -> Result<ConsumerReport, DbErr> {
        let last_handled_at: Option<DateTime<Utc>> = inbox::entity::Entity::find()
            .filter(inbox::entity::Column::Consumer.eq(consumer))
            .select_only()
            .column(inbox::entity::Column::ProcessedAt)
            .order_by_desc(inbox::entity::Column::ProcessedAt)
            .into_tuple()
            .one(&self.db)
            .await?;
        let letters = |status: DeadLetterStatus| {
            dead_letters::entity::Entity::find()
                .filter(dead_letters::entity::Column::Consumer.eq(consumer))
                .filter(dead_letters::entity::Column::Status.eq(status.as_str()))
                .count(&self.db)
        };
        Ok(ConsumerReport {
            consumer: consumer.to_owned(),
            last_handled_at,
            failing: letters(DeadLetterStatus::Failing).await?,
            dead: letters(DeadLetterStatus::Dead).await?,
        })
    }
}

/// The GraphQL edge: the object [`status_field!`](crate::status_field) returns.
pub mod graphql {
    use async_graphql::{Context, Object, Result, SimpleObject};
    use chrono::{DateTime, Utc};
    use kernel::Role;

    use super::{ContextStatus, StatusReport};
    use crate::dead_letters::DeadLetters;
    use crate::identity::require_role;

    /// A context's status for staff.
    pub struct ContextStatusObject(pub StatusReport);

    #[Object(name = "ContextStatus", shareable)]
    impl ContextStatusObject {
        /// The context, e.g. `orders`.
        async fn context(&self) -> &str {
            self.0.context
        }
        async fn checked_at(&self) -> DateTime<Utc> {
            self.0.checked_at
        }
        /// True when its database answers (it answered this query, so it runs).
        async fn ready(&self) -> bool {
            self.0.problem.is_none()
        }
        /// Why it is not ready, e.g. `database unreachable`.
        async fn problem(&self) -> Option<&str> {
            self.0.problem.as_deref()
        }
        /// Events committed to its outbox and not yet published to the bus; null
        /// when the database did not answer.
        async fn unpublished_events(&self) -> Option<i64> {
            self.0
                .unpublished_events
                .map(|count| i64::try_from(count).unwrap_or(i64::MAX))
        }
        /// How long the oldest of them has waited, in milliseconds: the relay's lag
        /// (0 when every event is published).
        async fn relay_lag_ms(&self) -> Option<i64> {
            self.0.unpublished_events?;
            Some(
                self.0
                    .oldest_unpublished_at
                    .map_or(0, |oldest| (self.0.checked_at - oldest).num_milliseconds().max(0)),
            )
        }
        /// Its consumers that keep read models or react to other contexts' events.
        async fn consumers(&self) -> Vec<ConsumerStatus> {
            self.0
                .consumers
                .iter()
                .map(|consumer| ConsumerStatus {
                    consumer: consumer.consumer.clone(),
                    last_handled_at: consumer.last_handled_at,
                    failing: i32::try_from(consumer.failing).unwrap_or(i32::MAX),
                    dead: i32::try_from(consumer.dead).unwrap_or(i32::MAX),
                })
                .collect()
        }
    }

    /// One consumer of a context.
    #[derive(SimpleObject)]
    #[graphql(shareable)]
    pub struct ConsumerStatus {
        /// Its name, e.g. `search.product-view`: the `consumer` of its dead letters.
        consumer: String,
        /// When it last handled an event; null before its first.
        last_handled_at: Option<DateTime<Utc>>,
        /// Events it failed on that the bus still delivers again.
        failing: i32,
        /// Events it gave up on, waiting for staff (see the context's dead letters).
        dead: i32,
    }

    /// The context's status (ADMIN).
    ///
    /// # Errors
    /// UNAUTHENTICATED or FORBIDDEN for anyone but staff.
    pub async fn status(ctx: &Context<'_>) -> Result<ContextStatusObject> {
        require_role(ctx, Role::Admin)?;
        let consumers = ctx
            .data_opt::<DeadLetters>()
            .map(DeadLetters::consumers)
            .unwrap_or_default();
        let report = ctx.data_unchecked::<ContextStatus>().report(&consumers).await;
        Ok(ContextStatusObject(report))
    }
}

/// A context's status field, named after it (a root field belongs to one subgraph):
/// `StatusQuery`, to merge into the context's `Query`. The schema's data must hold
/// the context's [`ContextStatus`] (and its `DeadLetters`, when it has consumers).
#[macro_export]
macro_rules! status_field {
    ($name:tt) => {
        /// This context's status (staff only).
        #[derive(Default)]
        pub struct StatusQuery;

        #[async_graphql::Object]
        impl StatusQuery {
            /// This context's status (ADMIN): whether its database answers, its relay's
            /// lag, and its consumers' last event and dead letters. The operations
            /// console shows one per context.
            #[graphql(name = $name)]
            async fn context_status(
                &self,
                ctx: &async_graphql::Context<'_>,
            ) -> async_graphql::Result<Option<$crate::status::graphql::ContextStatusObject>> {
                // Nullable, so that one context that does not answer leaves the others'
                // fields of the same request standing.
                $crate::status::graphql::status(ctx).await.map(Some)
            }
        }
    };
}
