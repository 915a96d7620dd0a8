//! Dead letters: events a consumer failed on again and again, parked in the consuming
//! context's own database so that they stop holding back the events after them, until
//! staff redrive them (the consumer handles the event again, now) or discard them with
//! a reason.
//!
//! A consumer whose subscription is [`Subscription::parking`] (every
//! [`InboxConsumer`](crate::inbox::InboxConsumer), and Notifications' webhook fan-out)
//! counts each failure here. After [`MAX_FAILURES`] the event is DEAD: the consumer
//! acknowledges it to the bus (on either bus), and it waits here with its envelope and
//! last error. A failure that cannot even be counted (the database does not answer) is
//! not acknowledged, so the bus delivers the event again. Redriving and discarding are
//! staff actions, recorded as events of the context
//! (`ecommerce.<context>.dead_letter.redriven.v1`, `….discarded.v1`) with who, when and
//! why, in the transaction that settles the letter.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use chrono::Utc;
use kernel::{DomainEvent, ErrorKind, EventEnvelope, EventMeta};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue, QueryOrder, QuerySelect, TransactionTrait};

use crate::bus::{EventHandler, Subscription};

/// Failed deliveries of one event to one consumer before it is parked as DEAD.
pub const MAX_FAILURES: i32 = 5;
// A first failure is only counted (`count_failure` inserts it as FAILING).
const _: () = assert!(MAX_FAILURES > 1);

/// The most dead letters one listing returns.
pub const LISTED_AT_MOST: u64 = 100;

/// A row of `dead_letters`.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dead_letters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        pub event_type: String,
        #[sea_orm(column_type = "Text")]
        pub envelope: String,
        pub failures: i32,
        #[sea_orm(column_type = "Text")]
        pub last_error: String,
        pub first_failed_at: DateTimeUtc,
        pub last_failed_at: DateTimeUtc,
        /// FAILING (still retried), DEAD, REDRIVEN or DISCARDED.
        pub status: String,
        pub settled_at: Option<DateTimeUtc>,
        pub settled_by: Option<Uuid>,
        #[sea_orm(column_type = "Text", nullable)]
        pub reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Where a dead letter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum DeadLetterStatus {
    /// Failed, and still delivered again by the bus.
    Failing,
    /// Parked: waits for staff.
    Dead,
    /// Handled when staff redrove it.
    Redriven,
    /// Given up by staff, with a reason.
    Discarded,
}

impl DeadLetterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "FAILING",
            Self::Dead => "DEAD",
            Self::Redriven => "REDRIVEN",
            Self::Discarded => "DISCARDED",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "DEAD" => Self::Dead,
            "REDRIVEN" => Self::Redriven,
            "DISCARDED" => Self::Discarded,
            _ => Self::Failing,
        }
    }
}

/// What came of a failure: the bus delivers the event again, or it is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    Retry,
    Parked,
}

/// Counts a failure of `consumer` on `event`; parks the event when it has failed
/// [`MAX_FAILURES`] times.
///
/// # Errors
/// When the database fails: the failure is then not counted, and nothing is parked.
pub async fn count_failure(
    db: &DatabaseConnection,
    consumer: &str,
    event: &EventEnvelope,
    error: &anyhow::Error,
) -> Result<AfterFailure, DbErr> {
    let now = Utc::now();
    let error = short(&format!("{error:#}"));
    let txn = db.begin().await?;
    let mut find = entity::Entity::find_by_id((consumer.to_owned(), event.event_id.as_uuid()));
    if crate::db::is_postgres(db) {
        find = find.lock_exclusive();
    }
    let existing = find.one(&txn).await?;
    let failures = match existing {
        Some(row) if row.status != DeadLetterStatus::Failing.as_str() => {
            // Parked or settled already (a late redelivery): nothing more to count.
            txn.commit().await?;
            return Ok(AfterFailure::Parked);
        }
        Some(row) => {
            let failures = row.failures + 1;
            let status = if failures >= MAX_FAILURES {
                DeadLetterStatus::Dead
            } else {
                DeadLetterStatus::Failing
            };
            entity::Entity::update_many()
                .col_expr(entity::Column::Failures, Expr::value(failures))
                .col_expr(entity::Column::LastError, Expr::value(error.clone()))
                .col_expr(entity::Column::LastFailedAt, Expr::value(now))
                .col_expr(entity::Column::Status, Expr::value(status.as_str()))
                .filter(entity::Column::Consumer.eq(consumer))
                .filter(entity::Column::EventId.eq(event.event_id.as_uuid()))
                .exec(&txn)
                .await?;
            failures
        }
        // The first failure (parking needs more than one).
        None => {
            entity::ActiveModel {
                consumer: ActiveValue::Set(consumer.to_owned()),
                event_id: ActiveValue::Set(event.event_id.as_uuid()),
                event_type: ActiveValue::Set(event.event_type.to_string()),
                envelope: ActiveValue::Set(serde_json::to_string(event).map_err(|err| DbErr::Custom(err.to_string()))?),
                failures: ActiveValue::Set(1),
                last_error: ActiveValue::Set(error.clone()),
                first_failed_at: ActiveValue::Set(now),
                last_failed_at: ActiveValue::Set(now),
                status: ActiveValue::Set(DeadLetterStatus::Failing.as_str().to_owned()),
                settled_at: ActiveValue::Set(None),
                settled_by: ActiveValue::Set(None),
                reason: ActiveValue::Set(None),
            }
            .insert(&txn)
            .await?;
            1
        }
    };
    txn.commit().await?;
    if failures >= MAX_FAILURES {
        crate::metrics::DEAD_LETTERS.with_label_values(&[consumer]).inc();
        tracing::error!(consumer, event_id = %event.event_id, event_type = %event.event_type, failures, error, "event parked as a dead letter; staff can redrive or discard it");
        Ok(AfterFailure::Parked)
    } else {
        Ok(AfterFailure::Retry)
    }
}

/// Forgets the failures of `consumer` on an event it has now handled.
///
/// # Errors
/// When the database fails.
pub async fn forget_failures(db: &DatabaseConnection, consumer: &str, event_id: Uuid) -> Result<(), DbErr> {
    entity::Entity::delete_many()
        .filter(entity::Column::Consumer.eq(consumer))
        .filter(entity::Column::EventId.eq(event_id))
        .filter(entity::Column::Status.eq(DeadLetterStatus::Failing.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

impl Subscription {
    /// The same consumer, parking in `db` (its context's database) each event it fails
    /// on [`MAX_FAILURES`] times.
    pub fn parking(self, db: DatabaseConnection) -> Self {
        let handler = Arc::new(Parking {
            consumer: self.consumer.clone(),
            db,
            inner: self.handler,
            failed: Mutex::default(),
        });
        Self { handler, ..self }
    }
}

/// A handler that counts its failures and parks what keeps failing
/// ([`Subscription::parking`]).
struct Parking {
    consumer: String,
    db: DatabaseConnection,
    inner: Arc<dyn EventHandler>,
    /// Events this process failed on and has not handled since: handling one forgets
    /// its failures.
    failed: Mutex<HashSet<Uuid>>,
}

impl Parking {
    fn failed(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl EventHandler for Parking {
    /// Handles one event; a failure is counted, and the event is parked (and
    /// acknowledged) once it has failed `MAX_FAILURES` times.
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let id = event.event_id.as_uuid();
        match self.inner.handle(event).await {
            Ok(()) => {
                if self.failed().remove(&id)
                    && let Err(err) = forget_failures(&self.db, &self.consumer, id).await
                {
                    tracing::warn!(consumer = %self.consumer, event_id = %id, error = %err, "forgetting the failures of a handled event failed");
                }
                Ok(())
            }
            Err(err) => match count_failure(&self.db, &self.consumer, event, &err).await {
                Ok(AfterFailure::Parked) => {
                    self.failed().remove(&id);
                    Ok(())
                }
                Ok(AfterFailure::Retry) => {
                    self.failed().insert(id);
                    Err(err)
                }
                Err(db) => {
                    tracing::warn!(consumer = %self.consumer, event_id = %id, error = %db, "counting a failure failed; the event is delivered again");
                    Err(err)
                }
            },
        }
    }

    /// All together; when that fails, the bus hands them over again one at a time (to
    /// `handle`, which counts each one's failures).
    async fn handle_all(&self, events: &[&EventEnvelope]) -> Result<(), crate::bus::PartlyHandled> {
        self.inner.handle_all(events).await
    }

    /// At staff's request: a failure is the answer, not counted.
    async fn redrive(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        self.inner.redrive(event).await
    }
}

/// Why a staff action on a dead letter was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no dead letter of consumer `{0}` for that event")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the dead letter is {0}, not DEAD")]
    NotDead(&'static str),
    #[error("the consumer failed again: {0}")]
    FailedAgain(String),
    #[error("no consumer `{0}` redrives here")]
    NoConsumer(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl kernel::Classify for DeadLetterError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::BadUserInput,
            Self::NotDead(_) | Self::FailedAgain(_) => ErrorKind::Conflict,
            Self::NoConsumer(_) | Self::Db(_) => ErrorKind::Internal,
        }
    }
}

/// One context's dead letters, for its staff: put it in the subgraph's schema data.
#[derive(Clone)]
pub struct DeadLetters {
    context: &'static str,
    db: DatabaseConnection,
    /// The context's consumers that park dead letters, by name: they redrive them.
    consumers: HashMap<String, Arc<dyn EventHandler>>,
}

impl DeadLetters {
    pub fn new(context: &'static str, db: DatabaseConnection) -> Self {
        Self {
            context,
            db,
            consumers: HashMap::new(),
        }
    }

    /// With `subscription`'s consumer, which redrives its own dead letters.
    #[must_use]
    pub fn with(mut self, subscription: Subscription) -> Self {
        self.consumers.insert(subscription.consumer, subscription.handler);
        self
    }

    /// The names of the context's consumers that park dead letters, in order.
    pub fn consumers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.consumers.keys().cloned().collect();
        names.sort();
        names
    }

    /// The letters with `status` (any but REDRIVEN and DISCARDED when none), the most
    /// recently failed first, at most [`LISTED_AT_MOST`].
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(&self, status: Option<DeadLetterStatus>) -> Result<Vec<entity::Model>, DbErr> {
        let statuses: Vec<&str> = match status {
            Some(status) => vec![status.as_str()],
            None => vec![DeadLetterStatus::Dead.as_str(), DeadLetterStatus::Failing.as_str()],
        };
        entity::Entity::find()
            .filter(entity::Column::Status.is_in(statuses))
            .order_by_desc(entity::Column::LastFailedAt)
            .limit(LISTED_AT_MOST)
            .all(&self.db)
            .await
    }

    async fn find(&self, consumer: &str, event_id: Uuid) -> Result<entity::Model, DeadLetterError> {
        entity::Entity::find_by_id((consumer.to_owned(), event_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DeadLetterError::NotFound(consumer.to_owned()))
    }

    /// Hands a DEAD letter to its consumer again, now. Handled, it is REDRIVEN (an
    /// event says who did it and when); failing again, it stays DEAD with the new
    /// error. A letter already REDRIVEN is answered as it is: redriving twice handles
    /// the event once.
    ///
    /// # Errors
    /// NOT_FOUND, CONFLICT (DISCARDED, or the consumer failed again), INTERNAL.
    pub async fn redrive(
        &self,
        consumer: &str,
        event_id: Uuid,
        staff: Uuid,
        meta: &EventMeta,
    ) -> Result<entity::Model, DeadLetterError> {
        let letter = self.find(consumer, event_id).await?;
        match DeadLetterStatus::parse(&letter.status) {
            DeadLetterStatus::Redriven => return Ok(letter),
            DeadLetterStatus::Dead => {}
            other => return Err(DeadLetterError::NotDead(other.as_str())),
        }
        let envelope: EventEnvelope = serde_json::from_str(&letter.envelope)
            .map_err(|err| DeadLetterError::FailedAgain(format!("its envelope is unreadable: {err}")))?;
        let handler = self
            .consumers
            .get(consumer)
            .ok_or_else(|| DeadLetterError::NoConsumer(consumer.to_owned()))?;
        if let Err(err) = handler.redrive(&envelope).await {
            let error = short(&format!("{err:#}"));
            entity::Entity::update_many()
                .col_expr(entity::Column::Failures, Expr::col(entity::Column::Failures).add(1))
                .col_expr(entity::Column::LastError, Expr::value(error.clone()))
                .col_expr(entity::Column::LastFailedAt, Expr::value(Utc::now()))
                .filter(entity::Column::Consumer.eq(consumer))
                .filter(entity::Column::EventId.eq(event_id))
                .exec(&self.db)
                .await?;
            return Err(DeadLetterError::FailedAgain(error));
        }
        self.settle(&letter, DeadLetterStatus::Redriven, staff, None, meta)
            .await
    }

    /// Redrives every DEAD letter of `consumer`, oldest first (so one key's events are
    /// applied in their order), at most [`LISTED_AT_MOST`] at once. It stops at the first
    /// that fails again, which stays DEAD and comes last in the answer with its new
    /// error; the letters after it wait. Each letter redriven is recorded as by
    /// [`Self::redrive`]; with nothing DEAD the answer is empty.
    ///
    /// # Errors
    /// BAD_USER_INPUT for a consumer that does not park here, INTERNAL.
    pub async fn redrive_all(
        &self,
        consumer: &str,
        staff: Uuid,
        meta: &EventMeta,
    ) -> Result<Vec<entity::Model>, DeadLetterError> {
        if !self.consumers.contains_key(consumer) {
            return Err(DeadLetterError::Invalid(format!(
                "no consumer `{consumer}` parks events in {}",
                self.context
            )));
        }
        let dead = entity::Entity::find()
            .filter(entity::Column::Consumer.eq(consumer))
            .filter(entity::Column::Status.eq(DeadLetterStatus::Dead.as_str()))
            .order_by_asc(entity::Column::FirstFailedAt)
            .order_by_asc(entity::Column::EventId)
            .limit(LISTED_AT_MOST)
            .all(&self.db)
            .await?;
        let mut settled = Vec::with_capacity(dead.len());
        for letter in dead {
            match self.redrive(consumer, letter.event_id, staff, meta).await {
                Ok(redriven) => settled.push(redriven),
                Err(DeadLetterError::FailedAgain(_)) => {
                    settled.push(self.find(consumer, letter.event_id).await?);
                    break;
                }
                // Settled by someone else meanwhile: theirs stands.
                Err(DeadLetterError::NotDead(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(settled)
    }

    /// Gives a DEAD letter up, saying why: DISCARDED, never handled. An event says who
    /// did it, when and why. Discarding twice answers the letter as it is.
    ///
    /// # Errors
    /// BAD_USER_INPUT without a reason, NOT_FOUND, CONFLICT (REDRIVEN), INTERNAL.
    pub async fn discard(
        &self,
        consumer: &str,
        event_id: Uuid,
        staff: Uuid,
        reason: &str,
        meta: &EventMeta,
    ) -> Result<entity::Model, DeadLetterError> {
        let reason = kernel::text::printable_line(reason, 500).ok_or_else(|| {
            DeadLetterError::Invalid(format!(
                "a reason to discard a dead letter {}",
                kernel::text::printable_line_rule(500)
            ))
        })?;
        let letter = self.find(consumer, event_id).await?;
        match DeadLetterStatus::parse(&letter.status) {
            DeadLetterStatus::Discarded => return Ok(letter),
            DeadLetterStatus::Dead => {}
            other => return Err(DeadLetterError::NotDead(other.as_str())),
        }
        self.settle(&letter, DeadLetterStatus::Discarded, staff, Some(reason), meta)
            .await
    }

    /// Marks a DEAD letter settled and records the event that says so, together; a
    /// letter someone else settled meanwhile is answered as they left it.
    async fn settle(
        &self,
        letter: &entity::Model,
        to: DeadLetterStatus,
        staff: Uuid,
        reason: Option<&str>,
        meta: &EventMeta,
    ) -> Result<entity::Model, DeadLetterError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let settled = entity::Entity::update_many()
            .col_expr(entity::Column::Status, Expr::value(to.as_str()))
            .col_expr(entity::Column::SettledAt, Expr::value(now))
            .col_expr(entity::Column::SettledBy, Expr::value(staff))
            .col_expr(entity::Column::Reason, Expr::value(reason.map(str::to_owned)))
            .filter(entity::Column::Consumer.eq(&letter.consumer))
            .filter(entity::Column::EventId.eq(letter.event_id))
            .filter(entity::Column::Status.eq(DeadLetterStatus::Dead.as_str()))
            .exec(&txn)
            .await?;
        if settled.rows_affected == 1 {
            let event = Settled {
                event_type: settled_event_type(self.context, to),
                consumer: letter.consumer.clone(),
                event_id: letter.event_id,
                dead_event_type: letter.event_type.clone(),
                staff,
                reason: reason.map(str::to_owned),
            };
            crate::outbox::record(&txn, self.context, meta, &[event]).await?;
        }
        txn.commit().await?;
        self.find(&letter.consumer, letter.event_id).await
    }
}

/// The event type that records a letter settled `to` in `context`:
/// `ecommerce.<context>.dead_letter.redriven.v1` or `….discarded.v1`.
pub fn settled_event_type(context: &str, to: DeadLetterStatus) -> &'static str {
    static TYPES: LazyLock<RwLock<HashMap<(String, &'static str), &'static str>>> = LazyLock::new(Default::default);
    let verb = match to {
        DeadLetterStatus::Redriven => "redriven",
        _ => "discarded",
    };
    let key = (context.to_owned(), verb);
    if let Some(found) = TYPES
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return found;
    }
    // One string per context and verb, made once for the process's life.
    let name: &'static str = Box::leak(format!("ecommerce.{context}.dead_letter.{verb}.v1").into_boxed_str());
    TYPES
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(key)
        .or_insert(name)
}

/// A staff action on a dead letter, as an event; when, the envelope's `occurredAt`.
struct Settled {
    event_type: &'static str,
    consumer: String,
    event_id: Uuid,
    dead_event_type: String,
    staff: Uuid,
    reason: Option<String>,
}

impl DomainEvent for Settled {
    fn event_type(&self) -> &'static str {
        self.event_type
    }

    fn partition_key(&self) -> String {
        format!("{}/{}", self.consumer, self.event_id)
    }

    fn payload(&self) -> serde_json::Value {
        let mut payload = serde_json::json!({
            "consumer": self.consumer,
            "eventId": self.event_id,
            "eventType": self.dead_event_type,
            "staffId": self.staff,
        });
        if let Some(reason) = &self.reason {
            payload["reason"] = serde_json::json!(reason);
        }
        payload
    }
}

/// An error as kept: its first 2,000 characters.
fn short(error: &str) -> String {
    error.chars().take(2_000).collect()
}

/// The GraphQL edge of a context's dead letters, for staff (ADMIN): the fields
/// [`dead_letter_fields!`](crate::dead_letter_fields) names for each context.
pub mod graphql {
    use async_graphql::{Context, ID, Object, Result};
    use chrono::{DateTime, Utc};
    use kernel::Role;

    use super::{DeadLetterStatus, DeadLetters, entity};
    use crate::graphql::{bad_input, error, internal, request_meta};
    use crate::identity::require_role;

    /// An event a consumer failed on again and again, parked for staff.
    pub struct DeadLetter(pub entity::Model);

    #[Object(shareable)]
    impl DeadLetter {
        /// The consumer that failed on it, e.g. `shipping.ship-paid-orders`.
        async fn consumer(&self) -> &str {
            &self.0.consumer
        }
        async fn event_id(&self) -> ID {
            ID(self.0.event_id.to_string())
        }
        async fn event_type(&self) -> &str {
            &self.0.event_type
        }
        /// The event's envelope, as JSON text.
        async fn envelope(&self) -> &str {
            &self.0.envelope
        }
        /// Failed deliveries (and failed redrives).
        async fn failures(&self) -> i32 {
            self.0.failures
        }
        async fn last_error(&self) -> &str {
            &self.0.last_error
        }
        async fn first_failed_at(&self) -> DateTime<Utc> {
            self.0.first_failed_at
        }
        async fn last_failed_at(&self) -> DateTime<Utc> {
            self.0.last_failed_at
        }
        async fn status(&self) -> DeadLetterStatus {
            DeadLetterStatus::parse(&self.0.status)
        }
        /// When staff redrove or discarded it.
        async fn settled_at(&self) -> Option<DateTime<Utc>> {
            self.0.settled_at
        }
        /// The staff member who did.
        async fn settled_by(&self) -> Option<ID> {
            self.0.settled_by.map(|id| ID(id.to_string()))
        }
        /// Why it was discarded.
        async fn reason(&self) -> Option<&str> {
            self.0.reason.as_deref()
        }
    }

    fn event_id(id: &ID) -> Result<uuid::Uuid> {
        uuid::Uuid::try_parse(id).map_err(|_| bad_input("eventId is not a valid event id"))
    }

    /// The context's letters with `status` (DEAD and FAILING when none).
    ///
    /// # Errors
    /// FORBIDDEN for anyone but staff; INTERNAL when the database fails.
    pub async fn list(ctx: &Context<'_>, status: Option<DeadLetterStatus>) -> Result<Vec<DeadLetter>> {
        require_role(ctx, Role::Admin)?;
        let letters = ctx
            .data_unchecked::<DeadLetters>()
            .list(status)
            .await
            .map_err(internal)?;
        Ok(letters.into_iter().map(DeadLetter).collect())
    }

    /// Redrives a DEAD letter; see [`DeadLetters::redrive`].
    ///
    /// # Errors
    /// FORBIDDEN, BAD_USER_INPUT, NOT_FOUND, CONFLICT, INTERNAL.
    pub async fn redrive(ctx: &Context<'_>, consumer: &str, id: &ID) -> Result<DeadLetter> {
        let staff = require_role(ctx, Role::Admin)?;
        let letter = ctx
            .data_unchecked::<DeadLetters>()
            .redrive(consumer, event_id(id)?, staff.user_id, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(DeadLetter(letter))
    }

    /// Redrives every DEAD letter of a consumer; see [`DeadLetters::redrive_all`].
    ///
    /// # Errors
    /// FORBIDDEN, BAD_USER_INPUT, INTERNAL.
    pub async fn redrive_all(ctx: &Context<'_>, consumer: &str) -> Result<Vec<DeadLetter>> {
        let staff = require_role(ctx, Role::Admin)?;
        let letters = ctx
            .data_unchecked::<DeadLetters>()
            .redrive_all(consumer, staff.user_id, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(letters.into_iter().map(DeadLetter).collect())
    }

    /// Discards a DEAD letter with a reason; see [`DeadLetters::discard`].
    ///
    /// # Errors
    /// FORBIDDEN, BAD_USER_INPUT, NOT_FOUND, CONFLICT, INTERNAL.
    pub async fn discard(ctx: &Context<'_>, consumer: &str, id: &ID, reason: &str) -> Result<DeadLetter> {
        let staff = require_role(ctx, Role::Admin)?;
        let letter = ctx
            .data_unchecked::<DeadLetters>()
            .discard(consumer, event_id(id)?, staff.user_id, reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(DeadLetter(letter))
    }
}

/// A context's dead-letter fields, named after it (a root field belongs to one
/// subgraph): `DeadLetterQuery` with the list and `DeadLetterMutation` with redrive
/// and discard, to merge into the context's `Query` and `Mutation`. The schema's data
/// must hold the context's [`DeadLetters`].
#[macro_export]
macro_rules! dead_letter_fields {
    (list: $list:tt, redrive: $redrive:tt, redrive_all: $redrive_all:tt, discard: $discard:tt $(,)?) => {
        /// This context's dead letters (staff only).
        #[derive(Default)]
        pub struct DeadLetterQuery;

        #[async_graphql::Object]
        impl DeadLetterQuery {
            /// Events this context's consumers failed on again and again (ADMIN): DEAD
            /// ones wait for staff, FAILING ones are still retried; `status` picks
            /// one kind (default both). The most recently failed first, at most 100.
            #[graphql(name = $list)]
            async fn dead_letters(
                &self,
                ctx: &async_graphql::Context<'_>,
                status: Option<$crate::dead_letters::DeadLetterStatus>,
            ) -> async_graphql::Result<Vec<$crate::dead_letters::graphql::DeadLetter>> {
                $crate::dead_letters::graphql::list(ctx, status).await
            }
        }

        /// Staff actions on this context's dead letters.
        #[derive(Default)]
        pub struct DeadLetterMutation;

        #[async_graphql::Object]
        impl DeadLetterMutation {
            /// Hands a DEAD letter to its consumer again, now (ADMIN): REDRIVEN when it
            /// is handled, still DEAD with the new error (CONFLICT) when it fails again.
            /// Redriving twice handles the event once. Audited as an event.
            #[graphql(name = $redrive)]
            async fn redrive_dead_letter(
                &self,
                ctx: &async_graphql::Context<'_>,
                consumer: String,
                event_id: async_graphql::ID,
            ) -> async_graphql::Result<$crate::dead_letters::graphql::DeadLetter> {
                $crate::dead_letters::graphql::redrive(ctx, &consumer, &event_id).await
            }

            /// Hands every DEAD letter of `consumer` to it again (ADMIN), oldest first,
            /// stopping at the first that fails again: that one stays DEAD and comes
            /// last with its new error. Nothing DEAD: an empty list. Each redrive is
            /// audited as an event.
            #[graphql(name = $redrive_all)]
            async fn redrive_all_dead_letters(
                &self,
                ctx: &async_graphql::Context<'_>,
                consumer: String,
            ) -> async_graphql::Result<Vec<$crate::dead_letters::graphql::DeadLetter>> {
                $crate::dead_letters::graphql::redrive_all(ctx, &consumer).await
            }

            /// Gives a DEAD letter up (ADMIN), saying why: DISCARDED, never handled.
            /// Audited as an event.
            #[graphql(name = $discard)]
            async fn discard_dead_letter(
                &self,
                ctx: &async_graphql::Context<'_>,
                consumer: String,
                event_id: async_graphql::ID,
                reason: String,
            ) -> async_graphql::Result<$crate::dead_letters::graphql::DeadLetter> {
                $crate::dead_letters::graphql::discard(ctx, &consumer, &event_id, &reason).await
            }
        }
    };
}
