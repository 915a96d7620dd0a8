//! The checkout saga's driver: starts a checkout, runs its steps one by one, persists
//! the session as it goes (after a step, or with a later one where
//! [`Step::may_defer_save`] allows), and resumes sessions that a crash or an outage
//! left half-way.
//!
//! Only one process drives a session at a time: it holds a lease (`locked_by`,
//! `locked_until`) that it renews with every save and while a step's call is out (a
//! save is deferred only while two thirds of the lease are left); a session whose
//! lease ran out is taken over by the reconciler of any replica.
//!
//! Here: starting, resuming and reading sessions. [`driver`]: the step loop;
//! [`lease`]: claiming, renewing and releasing a session; [`store`]: saving a session
//! with its step log and events, and reading it back; [`step_log`]: the log both
//! sagas keep; [`returns`]: the return saga's driver.

mod driver;
mod lease;
mod returns;
mod step_log;
mod store;

pub use step_log::{SagaStep, StepRecord};

use store::{from_row, insert};

use std::sync::Arc;
use std::time::Duration;

use checkout_domain::{
    AddressChoice, CheckoutError, CheckoutId, CheckoutRequest, CheckoutSession, Delivery, DeliveryRequest, Line,
    SessionStatus, Step, TaxRates,
};
use chrono::{DateTime, Utc};
use kernel::{Classify, ErrorKind, EventMeta, Identity};
use kernel_infra::CancellationToken;
use kernel_infra::client::CallError;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::session;
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
    #[error("no checkout of yours placed order {0}")]
    NoCheckoutFor(uuid::Uuid),
    #[error("there is no checkout {0}")]
    NoSession(CheckoutId),
    #[error("there is no return {0}")]
    NoReturn(uuid::Uuid),
    /// Shipping would not stop the shipment: the goods are on their way.
    #[error("the order can no longer be canceled: {0}")]
    CancellationRefused(String),
    /// Too many of the customer's checkouts failed lately: a new one must wait.
    #[error("too many failed checkouts; try again in {} s", std::cmp::max(.0.as_secs(), 1))]
    TooManyFailures(Duration),
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
            CheckoutServiceError::CartNotFound(_)
            | CheckoutServiceError::NoCheckoutFor(_)
            | CheckoutServiceError::NoSession(_)
            | CheckoutServiceError::NoReturn(_) => ErrorKind::NotFound,
            CheckoutServiceError::CancellationRefused(_) => ErrorKind::Conflict,
            CheckoutServiceError::CartNotReady(_) | CheckoutServiceError::Refused(_) => ErrorKind::BadUserInput,
            CheckoutServiceError::KeyReused(_) => ErrorKind::Conflict,
            // The GraphQL edge answers RATE_LIMITED with `retryAfter`.
            CheckoutServiceError::TooManyFailures(_) => ErrorKind::Forbidden,
            CheckoutServiceError::Unavailable(_) | CheckoutServiceError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// How the driver behaves.
#[derive(Debug, Clone)]
pub struct SagaSettings {
    /// How long a driver owns a session without renewing.
    pub lease: Duration,
    /// A running session untouched this long is resumed by the reconciler.
    pub resume_after: Duration,
    /// A customer with this many FAILED checkouts within `failed_checkout_window`
    /// starts no new one until the oldest of them is out of it.
    pub failed_checkouts_per_customer: u32,
    pub failed_checkout_window: Duration,
    /// Fault injection for the crash test: abort the process right after this step
    /// and its save, if it has one of its own. Compiled only with the
    /// `fault-injection` feature, which no release build enables.
    #[cfg(feature = "fault-injection")]
    pub crash_after: Option<Step>,
    /// Fault injection: abort after this step's call was answered but before the
    /// answer was persisted, so the resumed saga repeats a call that already acted.
    #[cfg(feature = "fault-injection")]
    pub crash_before_save: Option<Step>,
    /// The same two, for a step of the return saga.
    #[cfg(feature = "fault-injection")]
    pub crash_after_return: Option<checkout_domain::returns::ReturnStep>,
    #[cfg(feature = "fault-injection")]
    pub crash_before_save_return: Option<checkout_domain::returns::ReturnStep>,
}

impl Default for SagaSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            resume_after: Duration::from_secs(30),
            failed_checkouts_per_customer: 5,
            failed_checkout_window: Duration::from_secs(600),
            #[cfg(feature = "fault-injection")]
            crash_after: None,
            #[cfg(feature = "fault-injection")]
            crash_before_save: None,
            #[cfg(feature = "fault-injection")]
            crash_after_return: None,
            #[cfg(feature = "fault-injection")]
            crash_before_save_return: None,
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
        // A new key is the common case, so the cart is read before the key is looked
        // up: a repeated submission is recognised when its cart can no longer be
        // checked out (the first one closed it) or when inserting its session collides.
        let lines = match self.priced_cart(caller, &request, meta).await {
            Ok(lines) => lines,
            Err(err) => return self.continue_existing_or(&request, meta, err).await,
        };
        if let Err(err) = self.refuse_after_repeated_failures(request.user_id).await {
            // A repeated submission still gets its own answer.
            return self.continue_existing_or(&request, meta, err).await;
        }
        let (delivery, tax_rates) = match &request.delivery {
            Some(asked) => match self.settle_delivery(request.user_id, asked, &lines, meta).await {
                Ok((delivery, tax_rates)) => (Some(delivery), Some(tax_rates)),
                Err(err) => return self.continue_existing_or(&request, meta, err).await,
            },
            None => (None, None),
        };
        let session = CheckoutSession::start(request.clone(), lines, delivery, tax_rates, Utc::now())?;
        if let Err(err) = insert(&self.db, &session, &self.driver, self.settings.lease).await {
            // A concurrent submission with the same key inserted first.
            return self.continue_existing_or(&request, meta, err.into()).await;
        }
        self.drive_held(session, meta).await
    }

    /// Cancels the paid order of a completed checkout: the cancellation runs as the
    /// session's next steps (stop the shipment, cancel the order, refund, return the
    /// stock, give the coupon use back), driven now as far as it goes. The answer is
    /// the session: CANCELED, or CANCELING when a context was unreachable (the
    /// reconciler finishes it). Asking again returns the same cancellation.
    ///
    /// # Errors
    /// NOT_FOUND for an order no checkout of the caller placed (any for staff),
    /// CONFLICT for a checkout that did not complete or goods already on their way
    /// (nothing changed then), BAD_USER_INPUT for a reason that is not a short line.
    pub async fn cancel_paid_order(
        &self,
        caller: &Identity,
        order_id: uuid::Uuid,
        reason: &str,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        let not_found = || CheckoutServiceError::NoCheckoutFor(order_id);
        let found = self.by_order(order_id).await?.ok_or_else(not_found)?;
        if !caller.may_act_for(found.request().user_id) {
            return Err(not_found());
        }
        // Checked before the lease is taken, so a refusal leaves the session untouched.
        found.clone().request_cancellation(reason, Utc::now())?;
        if found.status() == SessionStatus::Canceled {
            return Ok(found);
        }
        let Some((session, asked)) = self
            .take_and_change(found.id(), |s| {
                let asked = s.status() == SessionStatus::Completed;
                s.request_cancellation(reason, Utc::now()).map(|()| asked)
            })
            .await?
        else {
            // Another driver holds it: it runs this cancellation, or the one it started.
            return self.get(found.id()).await?.ok_or_else(not_found);
        };
        if asked && !self.start_cancellation(&session).await? {
            return self.get(found.id()).await?.ok_or_else(not_found);
        }
        let session = self.drive_held(session, meta).await?;
        if session.status() == SessionStatus::Completed {
            let refusal = self.steps(session.id()).await?.into_iter().next_back();
            return Err(CheckoutServiceError::CancellationRefused(
                refusal
                    .and_then(|record| record.detail)
                    .unwrap_or_else(|| "the shipment could not be stopped".into()),
            ));
        }
        Ok(session)
    }

    /// The sessions staff should look at: STUCK ones, and those RUNNING,
    /// COMPENSATING or CANCELING that have not moved for `quiet_for` (a context
    /// down for long, a bug), oldest first, at most 100.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn needing_attention(&self, quiet_for: Duration) -> Result<Vec<CheckoutSession>, CheckoutServiceError> {
        self.needing_attention_in::<session::Entity>(quiet_for)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// Staff resume a session: a STUCK one runs its refused step again (its cause
    /// fixed), an unfinished one is driven now. Audited as `checkout.session.resumed`.
    ///
    /// # Errors
    /// NOT_FOUND, CONFLICT for a finished session that is not STUCK.
    pub async fn resume_by_staff(
        &self,
        staff: &Identity,
        id: CheckoutId,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        let not_found = || CheckoutServiceError::NoSession(id);
        self.get(id).await?.ok_or_else(not_found)?.resume(Utc::now())?;
        let Some((session, step)) = self.take_and_change(id, |s| s.resume(Utc::now())).await? else {
            // A driver holds it and is moving it already.
            return self.get(id).await?.ok_or_else(not_found);
        };
        let action = checkout_domain::StaffAction::Resumed {
            session: session.clone(),
            staff: staff.user_id,
            step,
        };
        if !self.save_staff_action(&session, &action, meta).await? {
            return self.get(id).await?.ok_or_else(not_found);
        }
        tracing::info!(checkout.id = %id, staff = %staff.user_id, step = ?step.map(Step::as_str), "staff resumed a checkout");
        self.drive_held(session, meta).await
    }

    /// Staff undo a session STUCK on its way forward, saying why: it compensates what
    /// was done (the payment voided, never captured) and ends FAILED; audited as
    /// `checkout.session.compensated`. Compensating one already compensating or FAILED
    /// answers it as it is.
    ///
    /// # Errors
    /// NOT_FOUND, CONFLICT for a session stuck while undoing or finished otherwise,
    /// BAD_USER_INPUT for a reason that is not one short line.
    pub async fn compensate_by_staff(
        &self,
        staff: &Identity,
        id: CheckoutId,
        reason: &str,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        let not_found = || CheckoutServiceError::NoSession(id);
        let mut current = self.get(id).await?.ok_or_else(not_found)?;
        if !current.compensate(reason, Utc::now())? {
            // Already compensating or FAILED: left as it is.
            return Ok(current);
        }
        let Some((session, changed)) = self.take_and_change(id, |s| s.compensate(reason, Utc::now())).await? else {
            return Err(CheckoutServiceError::Checkout(
                checkout_domain::CheckoutError::NotForStaff {
                    id,
                    status: "being driven",
                    action: "try again in a moment",
                },
            ));
        };
        if !changed {
            self.release::<session::Entity>(id.as_uuid()).await?;
            return Ok(session);
        }
        let action = checkout_domain::StaffAction::Compensated {
            session: session.clone(),
            staff: staff.user_id,
            reason: reason.trim().to_owned(),
        };
        if !self.save_staff_action(&session, &action, meta).await? {
            return self.get(id).await?.ok_or_else(not_found);
        }
        tracing::info!(checkout.id = %id, staff = %staff.user_id, "staff compensated a stuck checkout");
        self.drive_held(session, meta).await
    }

    /// Staff settled a STUCK session by hand and say how: RESOLVED, audited as
    /// `checkout.session.resolved`.
    ///
    /// # Errors
    /// NOT_FOUND, CONFLICT for a session that is not STUCK, BAD_USER_INPUT for a reason
    /// that is not one short line.
    pub async fn resolve(
        &self,
        staff: &Identity,
        id: CheckoutId,
        how: &str,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        let not_found = || CheckoutServiceError::NoSession(id);
        self.get(id).await?.ok_or_else(not_found)?.resolve(how, Utc::now())?;
        let Some((session, ())) = self.take_and_change(id, |s| s.resolve(how, Utc::now())).await? else {
            return Err(CheckoutServiceError::Checkout(
                checkout_domain::CheckoutError::NotForStaff {
                    id,
                    status: "being driven",
                    action: "try again in a moment",
                },
            ));
        };
        let action = checkout_domain::StaffAction::Resolved {
            session: session.clone(),
            staff: staff.user_id,
        };
        if !self.save_staff_action(&session, &action, meta).await? {
            return Err(anyhow::anyhow!("checkout {id} was taken over while it was being resolved").into());
        }
        tracing::info!(checkout.id = %id, staff = %staff.user_id, "staff resolved a stuck checkout");
        Ok(session)
    }

    /// Takes the session's lease and applies `change` to it as it is now; None when
    /// another driver holds it. A change the session refuses gives the lease back.
    async fn take_and_change<T>(
        &self,
        id: CheckoutId,
        change: impl FnOnce(&mut CheckoutSession) -> Result<T, checkout_domain::CheckoutError>,
    ) -> Result<Option<(CheckoutSession, T)>, CheckoutServiceError> {
        if !self.claim::<session::Entity>(id.as_uuid()).await? {
            return Ok(None);
        }
        let mut session = self.get(id).await?.ok_or(CheckoutServiceError::NoSession(id))?;
        match change(&mut session) {
            Ok(changed) => Ok(Some((session, changed))),
            Err(err) => {
                self.release::<session::Entity>(id.as_uuid()).await?;
                Err(err.into())
            }
        }
    }

    /// The checkout that placed `order_id`.
    async fn by_order(&self, order_id: uuid::Uuid) -> Result<Option<CheckoutSession>, CheckoutServiceError> {
        session::Entity::find()
            .filter(session::Column::OrderId.eq(order_id))
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()
    }

    /// The session an earlier submission with this key started, continued; `err` when
    /// there is none.
    async fn continue_existing_or(
        &self,
        request: &CheckoutRequest,
        meta: &EventMeta,
        err: CheckoutServiceError,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        match self.by_key(request.user_id, request.idempotency_key.as_str()).await? {
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

    /// The delivery asked for, settled: each address copied from the customer's book or
    /// taken as written, the method quoted by Shipping for the cart's value there, and
    /// the tax rates that apply at the shipping address. A saved address the book does
    /// not hold, or a method that does not serve the address, is refused.
    async fn settle_delivery(
        &self,
        user: uuid::Uuid,
        asked: &DeliveryRequest,
        lines: &[Line],
        meta: &EventMeta,
    ) -> Result<(Delivery, TaxRates), CheckoutServiceError> {
        let shipping_address = self.address(user, &asked.shipping_address, meta).await?;
        let billing_address = match &asked.billing_address {
            Some(choice) => self.address(user, choice, meta).await?,
            None => shipping_address.clone(),
        };
        let value = checkout_domain::subtotal(lines)
            .ok_or_else(|| CheckoutServiceError::Refused("the cart's prices do not add up".into()))?;
        let (method, cost) = self
            .remotes
            .quote_shipping(&shipping_address, value, asked.method_id, meta)
            .await?
            .ok_or_else(|| {
                CheckoutServiceError::Refused(format!(
                    "shipping method {} does not ship to {} ({})",
                    asked.method_id,
                    shipping_address.country().name(),
                    shipping_address.country()
                ))
            })?;
        // Taxed where the goods go.
        let tax_rates = self.remotes.tax_rates_at(&shipping_address, meta).await?;
        let delivery = Delivery {
            shipping_address,
            billing_address,
            method,
            cost,
        };
        Ok((delivery, tax_rates))
    }

    async fn address(
        &self,
        user: uuid::Uuid,
        choice: &AddressChoice,
        meta: &EventMeta,
    ) -> Result<kernel::Address, CheckoutServiceError> {
        match choice {
            AddressChoice::Written(address) => Ok(address.clone()),
            AddressChoice::Saved(id) => self.remotes.saved_address(user, *id, meta).await?.ok_or_else(|| {
                CheckoutServiceError::Refused(format!("there is no saved address {id} in your address book"))
            }),
        }
    }

    async fn continue_existing(
        &self,
        existing: CheckoutSession,
        request: &CheckoutRequest,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        if existing.request().fingerprint() != request.fingerprint() {
            return Err(CheckoutServiceError::KeyReused(
                request.idempotency_key.as_str().chars().take(64).collect(),
            ));
        }
        if existing.status().is_finished() {
            return Ok(existing);
        }
        self.drive(existing.id(), meta).await
    }

    /// Drives a session if no other driver holds it; returns its state afterwards.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn drive(&self, id: CheckoutId, meta: &EventMeta) -> Result<CheckoutSession, CheckoutServiceError> {
        if !self.claim::<session::Entity>(id.as_uuid()).await? {
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

    /// Resumes every unfinished session that nobody drives and that has not moved for
    /// `resume_after`. Returns how many it drove.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn resume_unfinished(&self) -> Result<usize, CheckoutServiceError> {
        let due = self.due_for_resume::<session::Entity>().await?;
        let mut driven = 0;
        for id in due {
            let id = CheckoutId::from_uuid(id);
            tracing::info!(checkout.id = %id, "resuming an unfinished checkout");
            self.drive(id, &EventMeta::internal()).await?;
            driven += 1;
        }
        Ok(driven)
    }

    /// The reconciler: resumes unfinished sessions and return processes every
    /// `interval` until `shutdown`.
    pub async fn run_reconciler(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.resume_unfinished().await {
                tracing::error!(error = %err, "resuming checkouts failed");
            }
            if let Err(err) = self.resume_unfinished_returns().await {
                tracing::error!(error = %err, "resuming returns failed");
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

    /// Refuses a new checkout of a customer with too many FAILED ones lately (read by
    /// the customer's index, so it holds across replicas and restarts).
    ///
    /// # Errors
    /// `TooManyFailures` with the time until the oldest of them leaves the window.
    async fn refuse_after_repeated_failures(&self, user_id: uuid::Uuid) -> Result<(), CheckoutServiceError> {
        let limit = self.settings.failed_checkouts_per_customer;
        let window = self.settings.failed_checkout_window;
        let since = Utc::now() - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let failed: Vec<DateTime<Utc>> = session::Entity::find()
            .select_only()
            .column(session::Column::UpdatedAt)
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::Status.eq(SessionStatus::Failed.as_str()))
            .filter(session::Column::UpdatedAt.gte(since))
            .order_by_desc(session::Column::UpdatedAt)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.db)
            .await?;
        match failed.get(limit.saturating_sub(1) as usize) {
            Some(oldest_counted) if failed.len() >= limit as usize => {
                let frees_at = *oldest_counted + chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
                let wait = (frees_at - Utc::now()).to_std().unwrap_or(Duration::from_secs(1));
                Err(CheckoutServiceError::TooManyFailures(wait))
            }
            _ => Ok(()),
        }
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
        step_log::read(&self.db, id.as_uuid()).await
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
