//! The checkout saga's driver: starts a checkout, runs its steps one by one, persists
//! the session as it goes (after a step, or with a later one where
//! [`Step::may_defer_save`] allows), and resumes sessions that a crash or an outage
//! left half-way.
//!
//! Only one process drives a session at a time: it holds a lease (`locked_by`,
//! `locked_until`) that it renews with every save and while a step's call is out (a
//! save is deferred only while two thirds of the lease are left); a session whose
//! lease ran out is taken over by the reconciler of any replica.

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkout_domain::{
    CheckoutError, CheckoutEvent, CheckoutId, CheckoutRequest, CheckoutSession, Line, SessionStatus, Step,
};
use chrono::{DateTime, Utc};
use kernel::{Classify, Currency, ErrorKind, EventMeta, Identity, Money};
use kernel_infra::CancellationToken;
use kernel_infra::client::CallError;
use sea_orm::sea_query::{CommonTableExpression, Expr, Query, UnionType, WithClause};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};

use crate::entity::{session, step_log};
use crate::remotes::Remotes;

pub const PRODUCER: &str = "checkout";

#[derive(Debug, thiserror::Error)]
pub enum CheckoutServiceError {
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error("cart {0} does not exist")]
    CartNotFound(uuid::Uuid),
    #[error("{0}")]
    CartNotReady(String),
    #[error("idempotency key `{0}` was already used for another checkout")]
    KeyReused(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for CheckoutServiceError {
    fn from(err: DbErr) -> Self {
        CheckoutServiceError::Unknown(err.into())
    }
}

impl From<CallError> for CheckoutServiceError {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Refused { message, .. } => CheckoutServiceError::Refused(message),
            unavailable @ CallError::Unavailable { .. } => CheckoutServiceError::Unavailable(unavailable.to_string()),
        }
    }
}

impl Classify for CheckoutServiceError {
    fn kind(&self) -> ErrorKind {
        match self {
            CheckoutServiceError::Checkout(err) => err.kind(),
            CheckoutServiceError::CartNotFound(_) => ErrorKind::NotFound,
            CheckoutServiceError::CartNotReady(_) | CheckoutServiceError::Refused(_) => ErrorKind::BadUserInput,
            CheckoutServiceError::KeyReused(_) => ErrorKind::Conflict,
            CheckoutServiceError::Unavailable(_) | CheckoutServiceError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// One entry of a session's step log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub step: Step,
    /// DONE, REFUSED or UNAVAILABLE.
    pub outcome: String,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// How the driver behaves.
#[derive(Debug, Clone)]
pub struct SagaSettings {
    /// How long a driver owns a session without renewing.
    pub lease: Duration,
    /// A running session untouched this long is resumed by the reconciler.
    pub resume_after: Duration,
    /// Fault injection for the crash test: abort the process right after this step
    /// and its save, if it has one of its own. Compiled only with the
    /// `fault-injection` feature, which no release build enables.
    #[cfg(feature = "fault-injection")]
    pub crash_after: Option<Step>,
    /// Fault injection: abort after this step's call was answered but before the
    /// answer was persisted, so the resumed saga repeats a call that already acted.
    #[cfg(feature = "fault-injection")]
    pub crash_before_save: Option<Step>,
}

impl Default for SagaSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            resume_after: Duration::from_secs(30),
            #[cfg(feature = "fault-injection")]
            crash_after: None,
            #[cfg(feature = "fault-injection")]
            crash_before_save: None,
        }
    }
}

#[derive(Clone)]
pub struct Saga {
    db: DatabaseConnection,
    remotes: Arc<Remotes>,
    settings: Arc<SagaSettings>,
    /// This process's name in leases.
    driver: String,
}

impl Saga {
    pub fn new(db: DatabaseConnection, remotes: Arc<Remotes>, settings: SagaSettings) -> Self {
        Self {
            db,
            remotes,
            settings: Arc::new(settings),
            driver: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Starts (or, for a key seen before, continues) a checkout and drives it as far
    /// as it goes now. The answer is the session: COMPLETED, FAILED (compensated), or
    /// still RUNNING/COMPENSATING when a context was unreachable (the reconciler
    /// finishes it).
    ///
    /// # Errors
    /// An invalid request, a cart that is not the caller's or is empty, a SKU not for
    /// sale, a reused key, Cart or Products unreachable.
    pub async fn checkout(
        &self,
        caller: &Identity,
        request: CheckoutRequest,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        request.validate()?;
        // A new key is the common case, so the cart is read before the key is looked
        // up: a repeated submission is recognised when its cart can no longer be
        // checked out (the first one closed it) or when inserting its session collides.
        let lines = match self.priced_cart(caller, &request, meta).await {
            Ok(lines) => lines,
            Err(err) => return self.continue_existing_or(&request, meta, err).await,
        };
        let session = CheckoutSession::start(request.clone(), lines, Utc::now())?;
        if let Err(err) = insert(&self.db, &session, &self.driver, self.settings.lease).await {
            // A concurrent submission with the same key inserted first.
            return self.continue_existing_or(&request, meta, err.into()).await;
        }
        self.drive_held(session, meta).await
    }

    /// The session an earlier submission with this key started, continued; `err` when
    /// there is none.
    async fn continue_existing_or(
        &self,
        request: &CheckoutRequest,
        meta: &EventMeta,
        err: CheckoutServiceError,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        match self.by_key(request.user_id, &request.idempotency_key).await? {
            Some(existing) => self.continue_existing(existing, request, meta).await,
            None => Err(err),
        }
    }

    /// The caller's cart, priced from the catalog.
    async fn priced_cart(
        &self,
        caller: &Identity,
        request: &CheckoutRequest,
        meta: &EventMeta,
    ) -> Result<Vec<Line>, CheckoutServiceError> {
        let cart = self
            .remotes
            .cart(request.cart_id, meta)
            .await?
            .ok_or(CheckoutServiceError::CartNotFound(request.cart_id))?;
        if cart.user_id.as_deref() != Some(caller.user_id.to_string().as_str()) {
            return Err(CheckoutServiceError::CartNotFound(request.cart_id));
        }
        if cart.status != "ACTIVE" || cart.items.is_empty() {
            return Err(CheckoutServiceError::CartNotReady(format!(
                "cart {} is {} with {} items: only an active cart with items can be checked out",
                request.cart_id,
                cart.status,
                cart.items.len()
            )));
        }
        Ok(self.remotes.price(&cart.items, meta).await?)
    }

    async fn continue_existing(
        &self,
        existing: CheckoutSession,
        request: &CheckoutRequest,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        if existing.request.fingerprint() != request.fingerprint() {
            return Err(CheckoutServiceError::KeyReused(
                request.idempotency_key.chars().take(64).collect(),
            ));
        }
        if existing.status.is_finished() {
            return Ok(existing);
        }
        self.drive(existing.id, meta).await
    }

    /// Drives a session if no other driver holds it; returns its state afterwards.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn drive(&self, id: CheckoutId, meta: &EventMeta) -> Result<CheckoutSession, CheckoutServiceError> {
        if !self.claim(id).await? {
            return self
                .get(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("session {id} vanished").into());
        }
        let session = self
            .get(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("session {id} vanished"))?;
        self.drive_held(session, meta).await
    }

    /// Runs steps while this driver holds the lease and the contexts answer.
    async fn drive_held(
        &self,
        mut session: CheckoutSession,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        // The steps done since the last save, and when that save renewed the lease
        // (the caller has just inserted or claimed the session).
        let mut unsaved: Vec<StepRecord> = Vec::new();
        let mut saved_at = Instant::now();
        while let Some(step) = session.step {
            let before = session.clone();
            let (outcome, detail) = match self.run_holding_lease(&session, step, meta).await {
                Ok(outcome) => {
                    session.complete(step, outcome, Utc::now());
                    ("DONE", None)
                }
                Err(CallError::Refused { message, code, .. }) => {
                    let reason = format!("{message} ({code})");
                    session.refuse(step, &reason, Utc::now());
                    ("REFUSED", Some(reason))
                }
                Err(unavailable) => {
                    tracing::warn!(checkout.id = %session.id, step = step.as_str(), error = %unavailable, "saga step unavailable; will retry");
                    if !unsaved.is_empty() && !self.persist(&before, &unsaved, meta).await? {
                        return Ok(before);
                    }
                    self.log_outage(&session, step, &unavailable.to_string()).await?;
                    self.release(session.id).await?;
                    return Ok(before);
                }
            };
            unsaved.push(StepRecord {
                step,
                outcome: outcome.to_owned(),
                detail: detail.as_deref().map(short_detail),
                at: Utc::now(),
            });
            #[cfg(feature = "fault-injection")]
            if self.settings.crash_before_save == Some(step) {
                tracing::error!(step = step.as_str(), "checkout.crash_before_save: aborting the process");
                std::process::abort();
            }
            // Deferred only while the session goes forward (still RUNNING: the step was
            // done and another follows), and only while the lease the last save renewed
            // has at least two thirds left.
            let defer = session.status == SessionStatus::Running
                && step.may_defer_save()
                && saved_at.elapsed() < self.settings.lease / 3;
            if !defer {
                if !self.persist(&session, &unsaved, meta).await? {
                    tracing::warn!(checkout.id = %session.id, "lost the saga lease; another driver continues");
                    return Ok(session);
                }
                unsaved.clear();
                saved_at = Instant::now();
            }
            #[cfg(feature = "fault-injection")]
            if self.settings.crash_after == Some(step) {
                tracing::error!(step = step.as_str(), "checkout.crash_after: aborting the process");
                std::process::abort();
            }
        }
        // Finishing cleared the lease with the last step.
        Ok(session)
    }

    /// Runs a step's call, renewing this driver's lease every third of it while the
    /// call is out: a call slower than the lease (a provider retrying, a loaded
    /// machine) must not let another driver take the session over half-way.
    async fn run_holding_lease(
        &self,
        session: &CheckoutSession,
        step: Step,
        meta: &EventMeta,
    ) -> Result<checkout_domain::Outcome, CallError> {
        let call = self.remotes.run(session, step, meta);
        tokio::pin!(call);
        let every = self.settings.lease / 3;
        loop {
            tokio::select! {
                outcome = &mut call => return outcome,
                () = tokio::time::sleep(every) => {
                    // Failing to renew is not fatal: saving the step checks the lease.
                    if let Err(err) = self.renew(session.id).await {
                        tracing::warn!(checkout.id = %session.id, error = %err, "renewing the saga lease failed");
                    }
                }
            }
        }
    }

    /// Extends the lease this driver holds.
    async fn renew(&self, id: CheckoutId) -> Result<(), DbErr> {
        session::Entity::update_many()
            .col_expr(
                session::Column::LockedUntil,
                Expr::value(Some(Utc::now() + lease(&self.settings))),
            )
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::LockedBy.eq(self.driver.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Takes the lease of a session whose lease is free or ran out.
    async fn claim(&self, id: CheckoutId) -> Result<bool, DbErr> {
        let now = Utc::now();
        let result = session::Entity::update_many()
            .col_expr(session::Column::LockedBy, Expr::value(self.driver.clone()))
            .col_expr(
                session::Column::LockedUntil,
                Expr::value(Some(now + lease(&self.settings))),
            )
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(
                session::Column::LockedUntil
                    .is_null()
                    .or(session::Column::LockedUntil.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    async fn release(&self, id: CheckoutId) -> Result<(), DbErr> {
        session::Entity::update_many()
            .col_expr(session::Column::LockedBy, Expr::value(Option::<String>::None))
            .col_expr(session::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::LockedBy.eq(self.driver.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Saves the session, the log entries of the steps done since the last save and,
    /// when it finished, its event, in one transaction, renewing the lease (or, when it
    /// finished, clearing it). False when another driver took the lease.
    async fn persist(&self, s: &CheckoutSession, records: &[StepRecord], meta: &EventMeta) -> Result<bool, DbErr> {
        let now = Utc::now();
        // COMPLETED, FAILED or STUCK: nobody drives it any more.
        let finished = s.status.is_finished();
        let locked_until = (!finished).then(|| now + lease(&self.settings));
        let events = if matches!(s.status, SessionStatus::Completed | SessionStatus::Failed) {
            kernel_infra::outbox::wrap(PRODUCER, meta, &[CheckoutEvent { session: s.clone() }])
        } else {
            Vec::new()
        };
        if kernel_infra::db::is_postgres(&self.db) {
            return self.persist_pg(s, records, now, locked_until, &events).await;
        }
        let txn = self.db.begin().await?;
        let updated = self.save_session(s, locked_until, now).exec(&txn).await?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        for record in records {
            append_log(&txn, s.id, record).await?;
        }
        kernel_infra::outbox::append(&txn, &events).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Writes the session's state, if this driver still holds it. A lease
    /// (`locked_until`) keeps the driver; none releases the session.
    fn save_session(
        &self,
        s: &CheckoutSession,
        locked_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> sea_orm::UpdateMany<session::Entity> {
        session::Entity::update_many()
            .col_expr(session::Column::Status, Expr::value(s.status.as_str()))
            .col_expr(
                session::Column::Step,
                Expr::value(s.step.map(|x| x.as_str().to_owned())),
            )
            .col_expr(
                session::Column::FailedStep,
                Expr::value(s.failed_step.map(|x| x.as_str().to_owned())),
            )
            .col_expr(session::Column::Failure, Expr::value(s.failure.clone()))
            .col_expr(session::Column::OrderId, Expr::value(s.order_id))
            .col_expr(session::Column::PaymentId, Expr::value(s.payment_id))
            .col_expr(session::Column::Discount, Expr::value(s.discount.map(|m| m.amount())))
            .col_expr(session::Column::Total, Expr::value(s.total.map(|m| m.amount())))
            .col_expr(session::Column::LockedUntil, Expr::value(locked_until))
            .col_expr(
                session::Column::LockedBy,
                Expr::value(locked_until.is_some().then(|| self.driver.clone())),
            )
            .col_expr(session::Column::UpdatedAt, Expr::value(now))
            .filter(session::Column::Id.eq(s.id.as_uuid()))
            .filter(session::Column::LockedBy.eq(self.driver.clone()))
    }

    /// [`persist`](Self::persist) on PostgreSQL: the session row, the log entries and the
    /// events in one statement (a single statement is atomic on its own), so a save
    /// costs one round trip. The log entries and the events are written only if the
    /// session row was, that is while this driver holds the lease.
    async fn persist_pg(
        &self,
        s: &CheckoutSession,
        records: &[StepRecord],
        now: DateTime<Utc>,
        locked_until: Option<DateTime<Utc>>,
        events: &[kernel::EventEnvelope],
    ) -> Result<bool, DbErr> {
        let mut saved = self.save_session(s, locked_until, now).into_query();
        saved.returning_col(session::Column::Id);
        let mut with = WithClause::new();
        with.cte(CommonTableExpression::new().query(saved).table_name("saved").to_owned());
        let was_saved = Expr::exists(Query::select().expr(Expr::value(1)).from("saved").to_owned());
        if let Some(insert) = kernel_infra::outbox::insert_when(events, &was_saved) {
            with.cte(
                CommonTableExpression::new()
                    .query(insert)
                    .table_name("events")
                    .to_owned(),
            );
        }
        // One row per record, each selected from `saved`, in the order they ran.
        let entry = |record: &StepRecord| {
            Query::select()
                .column(session::Column::Id)
                .exprs([
                    Expr::value(record.step.as_str()),
                    Expr::value(record.outcome.clone()),
                    Expr::value(record.detail.clone()),
                    Expr::value(record.at),
                ])
                .from("saved")
                .to_owned()
        };
        let (first, rest) = records
            .split_first()
            .ok_or_else(|| DbErr::Custom("a save without a step".into()))?;
        let mut entries = entry(first);
        entries.unions(rest.iter().map(|record| (UnionType::All, entry(record))));
        let mut log = Query::insert();
        log.into_table(step_log::Entity)
            .columns([
                step_log::Column::SessionId,
                step_log::Column::Step,
                step_log::Column::Outcome,
                step_log::Column::Detail,
                step_log::Column::At,
            ])
            .select_from(entries)
            .map_err(|err| DbErr::Custom(err.to_string()))?;
        let result = self.db.execute(&log.with(with)).await?;
        Ok(result.rows_affected() == records.len() as u64)
    }

    async fn log_outage(&self, s: &CheckoutSession, step: Step, reason: &str) -> Result<(), DbErr> {
        let record = StepRecord {
            step,
            outcome: "UNAVAILABLE".to_owned(),
            detail: Some(short_detail(reason)),
            at: Utc::now(),
        };
        append_log(&self.db, s.id, &record).await?;
        session::Entity::update_many()
            .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(session::Column::Id.eq(s.id.as_uuid()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Resumes every unfinished session that nobody drives and that has not moved for
    /// `resume_after`. Returns how many it drove.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn resume_unfinished(&self) -> Result<usize, CheckoutServiceError> {
        let now = Utc::now();
        let quiet_since = now - chrono::Duration::from_std(self.settings.resume_after).unwrap_or_default();
        let due: Vec<uuid::Uuid> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(
                session::Column::Status.is_in([SessionStatus::Running.as_str(), SessionStatus::Compensating.as_str()]),
            )
            .filter(session::Column::UpdatedAt.lt(quiet_since))
            .filter(
                session::Column::LockedUntil
                    .is_null()
                    .or(session::Column::LockedUntil.lt(now)),
            )
            .order_by_asc(session::Column::UpdatedAt)
            .limit(100)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut driven = 0;
        for id in due {
            let id = CheckoutId::from_uuid(id);
            tracing::info!(checkout.id = %id, "resuming an unfinished checkout");
            self.drive(id, &EventMeta::internal()).await?;
            driven += 1;
        }
        Ok(driven)
    }

    /// The reconciler: resumes unfinished sessions every `interval` until `shutdown`.
    pub async fn run_reconciler(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.resume_unfinished().await {
                tracing::error!(error = %err, "resuming checkouts failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: CheckoutId) -> Result<Option<CheckoutSession>, CheckoutServiceError> {
        session::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()
    }

    async fn by_key(&self, user_id: uuid::Uuid, key: &str) -> Result<Option<CheckoutSession>, CheckoutServiceError> {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()
    }

    /// The session's step log, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn steps(&self, id: CheckoutId) -> Result<Vec<StepRecord>, CheckoutServiceError> {
        let rows = step_log::Entity::find()
            .filter(step_log::Column::SessionId.eq(id.as_uuid()))
            .order_by_asc(step_log::Column::Id)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(StepRecord {
                    step: Step::parse(&row.step).ok_or_else(|| anyhow::anyhow!("unknown step {}", row.step))?,
                    outcome: row.outcome,
                    detail: row.detail,
                    at: row.at,
                })
            })
            .collect()
    }

    /// Sessions by status (for operators and tests).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn all(&self) -> Result<Vec<CheckoutSession>, CheckoutServiceError> {
        session::Entity::find()
            .order_by_asc(session::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }
}

fn lease(settings: &SagaSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::seconds(30))
}

/// A log entry's detail, at most 600 characters.
fn short_detail(detail: &str) -> String {
    detail.chars().take(600).collect()
}

async fn append_log(conn: &impl ConnectionTrait, id: CheckoutId, record: &StepRecord) -> Result<(), DbErr> {
    step_log::Entity::insert(step_log::ActiveModel {
        session_id: Set(id.as_uuid()),
        step: Set(record.step.as_str().to_owned()),
        outcome: Set(record.outcome.clone()),
        detail: Set(record.detail.clone()),
        at: Set(record.at),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

async fn insert(conn: &impl ConnectionTrait, s: &CheckoutSession, driver: &str, lease: Duration) -> Result<(), DbErr> {
    let currency = s.lines[0].unit_price.currency();
    session::Entity::insert(session::ActiveModel {
        id: Set(s.id.as_uuid()),
        user_id: Set(s.request.user_id),
        cart_id: Set(s.request.cart_id),
        coupon_code: Set(s.request.coupon_code.clone()),
        payment_method: Set(s.request.payment_method.clone()),
        idempotency_key: Set(s.request.idempotency_key.clone()),
        fingerprint: Set(s.request.fingerprint()),
        lines: Set(serde_json::to_string(&s.lines).map_err(|e| DbErr::Custom(e.to_string()))?),
        status: Set(s.status.as_str().to_owned()),
        step: Set(s.step.map(|x| x.as_str().to_owned())),
        failed_step: Set(None),
        failure: Set(None),
        reservation_id: Set(s.reservation_id),
        redemption_id: Set(s.redemption_id),
        order_id: Set(None),
        payment_id: Set(None),
        currency: Set(currency.code().to_owned()),
        discount: Set(None),
        total: Set(None),
        locked_by: Set(Some(driver.to_owned())),
        locked_until: Set(Some(
            s.created_at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30)),
        )),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn from_row(row: session::Model) -> Result<CheckoutSession, CheckoutServiceError> {
    let currency = Currency::parse(&row.currency).map_err(|e| anyhow::anyhow!("stored currency: {e}"))?;
    let step = |value: Option<String>| -> Result<Option<Step>, CheckoutServiceError> {
        value
            .map(|v| Step::parse(&v).ok_or_else(|| anyhow::anyhow!("unknown step {v}").into()))
            .transpose()
    };
    let lines: Vec<Line> = serde_json::from_str(&row.lines).map_err(|e| anyhow::anyhow!("stored lines: {e}"))?;
    Ok(CheckoutSession {
        id: CheckoutId::from_uuid(row.id),
        request: CheckoutRequest {
            user_id: row.user_id,
            cart_id: row.cart_id,
            coupon_code: row.coupon_code,
            payment_method: row.payment_method,
            idempotency_key: row.idempotency_key,
        },
        lines,
        status: SessionStatus::parse(&row.status).ok_or_else(|| anyhow::anyhow!("unknown status {}", row.status))?,
        step: step(row.step)?,
        failed_step: step(row.failed_step)?,
        failure: row.failure,
        reservation_id: row.reservation_id,
        redemption_id: row.redemption_id,
        order_id: row.order_id,
        payment_id: row.payment_id,
        discount: row.discount.map(|a| Money::new(a, currency)),
        total: row.total.map(|a| Money::new(a, currency)),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
