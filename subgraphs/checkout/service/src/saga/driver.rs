//! Driving a session: its steps one by one while this driver holds the lease, each
//! step's call renewing the lease while it is out, the session saved as it goes.

use std::time::Instant;

use checkout_domain::{CheckoutSession, SessionStatus, Step};
use chrono::Utc;
use kernel::EventMeta;
use kernel_infra::client::CallError;
use tracing::Instrument;

use crate::entity::session;

use super::{CheckoutServiceError, Saga, StepRecord};

impl Saga {
    /// Runs steps while this driver holds the lease and the contexts answer.
    #[tracing::instrument(name = "saga.checkout", skip_all, fields(otel.name = "checkout saga", checkout_id = %session.id(), user_id = %session.request().user_id, order_id = tracing::field::Empty))]
    pub(super) async fn drive_held(
        &self,
        mut session: CheckoutSession,
        meta: &EventMeta,
    ) -> Result<CheckoutSession, CheckoutServiceError> {
        // The steps done since the last save, and when that save renewed the lease
        // (the caller has just inserted or claimed the session).
        let mut unsaved: Vec<StepRecord> = Vec::new();
        let mut saved_at = Instant::now();
        // Its status at the last save: a save that finishes it announces how it ended.
        let mut saved_status = session.status();
        while let Some(step) = session.step() {
            let before = session.clone();
            if let Some(order_id) = session.order_id() {
                tracing::Span::current().record("order_id", tracing::field::display(order_id));
            }
            let span = tracing::info_span!(
                "saga.step",
                otel.name = %format!("checkout step {}", step.as_str()),
                step = step.as_str(),
                outcome = tracing::field::Empty,
            );
            let result = self
                .run_holding_lease(&session, step, meta)
                .instrument(span.clone())
                .await;
            span.record(
                "outcome",
                match &result {
                    Ok(_) => "done",
                    Err(CallError::Refused { .. }) => "refused",
                    Err(_) => "unavailable",
                },
            );
            drop(span);
            let (outcome, detail) = match result {
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
                    tracing::warn!(checkout.id = %session.id(), step = step.as_str(), error = %unavailable, "saga step unavailable; will retry");
                    if !unsaved.is_empty() && !self.persist(&before, &unsaved, saved_status, meta).await? {
                        return Ok(before);
                    }
                    self.log_outage(&session, step, &unavailable.to_string()).await?;
                    self.release::<session::Entity>(session.id().as_uuid()).await?;
                    return Ok(before);
                }
            };
            unsaved.push(StepRecord::now(step, outcome, detail.as_deref()));
            #[cfg(feature = "fault-injection")]
            if self.settings.crash_before_save == Some(step) {
                tracing::error!(step = step.as_str(), "checkout.crash_before_save: aborting the process");
                std::process::abort();
            }
            // Deferred only while the session goes forward (still RUNNING: the step was
            // done and another follows), and only while the lease the last save renewed
            // has at least two thirds left.
            let defer = session.status() == SessionStatus::Running
                && step.may_defer_save()
                && saved_at.elapsed() < self.settings.lease / 3;
            if !defer {
                if !self.persist(&session, &unsaved, saved_status, meta).await? {
                    tracing::warn!(checkout.id = %session.id(), "lost the saga lease; another driver continues");
                    return Ok(session);
                }
                saved_status = session.status();
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
    pub(super) async fn run_holding_lease(
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
                    if let Err(err) = self.renew::<session::Entity>(session.id().as_uuid()).await {
                        tracing::warn!(checkout.id = %session.id(), error = %err, "renewing the saga lease failed");
                    }
                }
            }
        }
    }
}
