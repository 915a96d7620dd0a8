//! Driving a return's process (`checkout_domain::returns`): started when staff receive
//! the goods, its steps run one by one while this driver holds the process's lease,
//! each saved with its step log entry before the next; the reconciler resumes what a
//! crash or an outage left half-way.

use checkout_domain::SessionStatus;
use checkout_domain::returns::{ReceivedReturn, ReturnProcess, ReturnStep, ReturnedUnits, StoredReturnProcess};
use chrono::Utc;
use kernel::{Currency, EventMeta, Money};
use kernel_infra::client::CallError;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, TransactionTrait};

use crate::entity::return_process;

use super::lease::lease;
use super::step_log::{self, StepRecord, short_detail};
use super::{CheckoutServiceError, Saga};

/// Where a drive left a process, and the code of the refusal that ended it, if one did.
struct Driven {
    process: ReturnProcess,
    refused_with: Option<String>,
}

impl Driven {
    fn stopped(process: ReturnProcess) -> Self {
        Self {
            process,
            refused_with: None,
        }
    }
}

impl Saga {
    /// Staff have the goods of an approved return in hand: the return saga runs now,
    /// as far as it goes (the reconciler finishes what an outage stops). Receiving a
    /// return again answers its process; a FAILED one (its refund was refused and the
    /// return reopened) starts over, its cause settled.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn receive_return(
        &self,
        id: uuid::Uuid,
        meta: &EventMeta,
    ) -> Result<ReturnProcess, CheckoutServiceError> {
        let now = Utc::now();
        let fresh = ReturnProcess::start(id, now);
        if self.insert_return(&fresh).await? {
            let run = self.drive_return_held(fresh, meta).await?;
            // No such return: nothing was done, and a mistyped id leaves no process.
            if run.process.failed_step() == Some(ReturnStep::MarkReceived)
                && run.refused_with.as_deref() == Some(kernel::ErrorKind::NotFound.code())
            {
                self.forget_return(id).await?;
                return Err(CheckoutServiceError::NoReturn(id));
            }
            return Ok(run.process);
        }
        let found = self
            .return_process(id)
            .await?
            .ok_or(CheckoutServiceError::NoReturn(id))?;
        match found.status() {
            SessionStatus::Failed => {
                if !self.claim::<return_process::Entity>(id).await? {
                    return self.return_process(id).await?.ok_or(CheckoutServiceError::NoReturn(id));
                }
                let again = found.start_over(now);
                Ok(self.drive_return_held(again, meta).await?.process)
            }
            status if status.is_finished() => Ok(found),
            _ => self.drive_return(id, meta).await,
        }
    }

    /// Drives a process if no other driver holds it; its state afterwards.
    async fn drive_return(&self, id: uuid::Uuid, meta: &EventMeta) -> Result<ReturnProcess, CheckoutServiceError> {
        let claimed = self.claim::<return_process::Entity>(id).await?;
        let process = self
            .return_process(id)
            .await?
            .ok_or(CheckoutServiceError::NoReturn(id))?;
        if !claimed {
            return Ok(process);
        }
        Ok(self.drive_return_held(process, meta).await?.process)
    }

    /// Runs steps while this driver holds the lease and the contexts answer, saving
    /// after each.
    #[tracing::instrument(name = "saga.return", skip_all, fields(otel.name = "return saga", return_process_id = %process.id()))]
    async fn drive_return_held(
        &self,
        mut process: ReturnProcess,
        meta: &EventMeta,
    ) -> Result<Driven, CheckoutServiceError> {
        let mut refused_with = None;
        while let Some(step) = process.step() {
            let before = process.clone();
            let (outcome, detail) = match self.remotes.run_return(&process, step, meta).await {
                Ok(outcome) => {
                    process.complete(step, outcome, Utc::now());
                    ("DONE", None)
                }
                Err(CallError::Refused { message, code, .. }) => {
                    let reason = format!("{message} ({code})");
                    process.refuse(step, &reason, Utc::now());
                    refused_with = Some(code);
                    ("REFUSED", Some(reason))
                }
                Err(unavailable) => {
                    tracing::warn!(return.id = %process.id(), step = step.as_str(), error = %unavailable, "return step unavailable; will retry");
                    let record = StepRecord::now(step, "UNAVAILABLE", Some(&unavailable.to_string()));
                    self.save_return(&before, Some(&record), false).await?;
                    return Ok(Driven::stopped(before));
                }
            };
            #[cfg(feature = "fault-injection")]
            if self.settings.crash_before_save_return == Some(step) {
                tracing::error!(step = step.as_str(), "checkout.crash_before_save: aborting the process");
                std::process::abort();
            }
            if !self
                .save_return(&process, Some(&StepRecord::now(step, outcome, detail.as_deref())), true)
                .await?
            {
                tracing::warn!(return.id = %process.id(), "lost the return's lease; another driver continues");
                return Ok(Driven::stopped(process));
            }
            #[cfg(feature = "fault-injection")]
            if self.settings.crash_after_return == Some(step) {
                tracing::error!(step = step.as_str(), "checkout.crash_after: aborting the process");
                std::process::abort();
            }
        }
        Ok(Driven { process, refused_with })
    }

    /// Resumes every unfinished process that nobody drives and that has not moved for
    /// `resume_after`. Returns how many it drove.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn resume_unfinished_returns(&self) -> Result<usize, CheckoutServiceError> {
        let due = self.due_for_resume::<return_process::Entity>().await?;
        for id in &due {
            tracing::info!(return.id = %id, "resuming an unfinished return");
            self.drive_return(*id, &EventMeta::internal()).await?;
        }
        Ok(due.len())
    }

    /// The return processes staff should look at: STUCK ones, and unfinished ones that
    /// have not moved for `quiet_for`, oldest first, at most 100.
    ///
    /// # Errors
    /// When the database fails or a stored process does not read.
    pub async fn returns_needing_attention(
        &self,
        quiet_for: std::time::Duration,
    ) -> Result<Vec<ReturnProcess>, CheckoutServiceError> {
        self.needing_attention_in::<return_process::Entity>(quiet_for)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// # Errors
    /// When the database fails or a stored process does not read.
    pub async fn return_process(&self, id: uuid::Uuid) -> Result<Option<ReturnProcess>, CheckoutServiceError> {
        return_process::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(from_row)
            .transpose()
    }

    /// The process's step log, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn return_steps(&self, id: uuid::Uuid) -> Result<Vec<StepRecord<ReturnStep>>, CheckoutServiceError> {
        step_log::read(&self.db, id).await
    }

    /// Inserts a new process holding this driver's lease; false when the return has
    /// one already.
    async fn insert_return(&self, p: &ReturnProcess) -> Result<bool, DbErr> {
        let inserted = return_process::Entity::insert(return_process::ActiveModel {
            id: Set(p.id()),
            order_id: Set(None),
            payment_id: Set(None),
            refund: Set(None),
            currency: Set(None),
            lines: Set(None),
            status: Set(p.status().as_str().to_owned()),
            step: Set(p.step().map(|s| s.as_str().to_owned())),
            failed_step: Set(None),
            failure: Set(None),
            locked_by: Set(Some(self.driver.clone())),
            locked_until: Set(Some(p.created_at() + lease(&self.settings))),
            created_at: Set(p.created_at()),
            updated_at: Set(p.updated_at()),
        })
        .on_conflict(OnConflict::column(return_process::Column::Id).do_nothing().to_owned())
        .exec_without_returning(&self.db)
        .await?;
        Ok(inserted == 1)
    }

    /// Saves the process and its step log entry in one transaction, if this driver
    /// still holds it: renewing the lease while `keep` and the process is unfinished,
    /// releasing it otherwise. False when another driver took it.
    async fn save_return(
        &self,
        p: &ReturnProcess,
        entry: Option<&StepRecord<ReturnStep>>,
        keep: bool,
    ) -> Result<bool, DbErr> {
        let now = Utc::now();
        let locked_until = self.lease_after_save(keep && !p.status().is_finished(), now);
        let received = p.received();
        let txn = self.db.begin().await?;
        let update = return_process::Entity::update_many()
            .col_expr(
                return_process::Column::OrderId,
                Expr::value(received.map(|r| r.order_id)),
            )
            .col_expr(
                return_process::Column::PaymentId,
                Expr::value(received.and_then(|r| r.payment_id)),
            )
            .col_expr(
                return_process::Column::Refund,
                Expr::value(received.map(|r| r.refund.amount())),
            )
            .col_expr(
                return_process::Column::Currency,
                Expr::value(received.map(|r| r.refund.currency().code().to_owned())),
            )
            .col_expr(
                return_process::Column::Lines,
                Expr::value(received.map(|r| serde_json::to_string(&r.lines).unwrap_or_default())),
            )
            .col_expr(return_process::Column::Status, Expr::value(p.status().as_str()))
            .col_expr(
                return_process::Column::Step,
                Expr::value(p.step().map(|s| s.as_str().to_owned())),
            )
            .col_expr(
                return_process::Column::FailedStep,
                Expr::value(p.failed_step().map(|s| s.as_str().to_owned())),
            )
            .col_expr(
                return_process::Column::Failure,
                Expr::value(p.failure().map(short_detail)),
            );
        let updated = self.while_held(update, p.id(), locked_until, now).exec(&txn).await?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        if let Some(entry) = entry {
            step_log::append(&txn, p.id(), entry).await?;
        }
        txn.commit().await?;
        Ok(true)
    }

    /// Deletes a finished process and its step log.
    async fn forget_return(&self, id: uuid::Uuid) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        step_log::forget(&txn, id).await?;
        return_process::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await
    }
}

fn from_row(row: return_process::Model) -> Result<ReturnProcess, CheckoutServiceError> {
    let corrupt = |what: &str| CheckoutServiceError::Unknown(anyhow::anyhow!("return process {}: {what}", row.id));
    let step = |value: &Option<String>| {
        value
            .as_deref()
            .map(|name| ReturnStep::parse(name).ok_or_else(|| corrupt("unknown step")))
            .transpose()
    };
    let received = match (row.order_id, row.refund, row.currency.as_deref(), row.lines.as_deref()) {
        (Some(order_id), Some(refund), Some(currency), Some(lines)) => {
            let currency = Currency::parse(currency).map_err(|_| corrupt("unknown currency"))?;
            let lines: Vec<ReturnedUnits> = serde_json::from_str(lines).map_err(|_| corrupt("unreadable lines"))?;
            Some(ReceivedReturn {
                order_id,
                payment_id: row.payment_id,
                refund: Money::new(refund, currency),
                lines,
            })
        }
        _ => None,
    };
    Ok(StoredReturnProcess {
        id: row.id,
        received,
        status: SessionStatus::parse(&row.status).ok_or_else(|| corrupt("unknown status"))?,
        step: step(&row.step)?,
        failed_step: step(&row.failed_step)?,
        failure: row.failure.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
    .into())
}
