//! The lease that lets one driver at a time own a saga's run (a checkout session or a
//! return's process): claimed, renewed while a call is out and with every save,
//! released when the driver stops. The reconciler's queries over unfinished runs live
//! here too: both tables keep the same columns for them, named by [`Leased`].

use std::time::Duration;

use checkout_domain::SessionStatus;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, UpdateMany};
use uuid::Uuid;

use crate::entity::{return_process, session};

use super::{Saga, SagaSettings};

/// How many runs one pass of the reconciler or one staff listing takes.
const BATCH: u64 = 100;

/// A table of saga runs: the columns the lease and the reconciler use.
pub(super) trait Leased: EntityTrait {
    const ID: Self::Column;
    const STATUS: Self::Column;
    const UPDATED_AT: Self::Column;
    const LOCKED_BY: Self::Column;
    const LOCKED_UNTIL: Self::Column;
}

impl Leased for session::Entity {
    const ID: session::Column = session::Column::Id;
    const STATUS: session::Column = session::Column::Status;
    const UPDATED_AT: session::Column = session::Column::UpdatedAt;
    const LOCKED_BY: session::Column = session::Column::LockedBy;
    const LOCKED_UNTIL: session::Column = session::Column::LockedUntil;
}

impl Leased for return_process::Entity {
    const ID: return_process::Column = return_process::Column::Id;
    const STATUS: return_process::Column = return_process::Column::Status;
    const UPDATED_AT: return_process::Column = return_process::Column::UpdatedAt;
    const LOCKED_BY: return_process::Column = return_process::Column::LockedBy;
    const LOCKED_UNTIL: return_process::Column = return_process::Column::LockedUntil;
}

impl Saga {
    /// Extends the lease this driver holds.
    pub(super) async fn renew<E: Leased>(&self, id: Uuid) -> Result<(), DbErr> {
        E::update_many()
            .col_expr(E::LOCKED_UNTIL, Expr::value(Some(Utc::now() + lease(&self.settings))))
            .filter(E::ID.eq(id))
            .filter(E::LOCKED_BY.eq(self.driver.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Takes the lease of a run whose lease is free or ran out.
    pub(super) async fn claim<E: Leased>(&self, id: Uuid) -> Result<bool, DbErr> {
        let now = Utc::now();
        let result = E::update_many()
            .col_expr(E::LOCKED_BY, Expr::value(self.driver.clone()))
            .col_expr(E::LOCKED_UNTIL, Expr::value(Some(now + lease(&self.settings))))
            .filter(E::ID.eq(id))
            .filter(lease_free::<E>(now))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    pub(super) async fn release<E: Leased>(&self, id: Uuid) -> Result<(), DbErr> {
        E::update_many()
            .col_expr(E::LOCKED_BY, Expr::value(Option::<String>::None))
            .col_expr(E::LOCKED_UNTIL, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(E::ID.eq(id))
            .filter(E::LOCKED_BY.eq(self.driver.clone()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// When a save should hold the lease until: a new lease while the run goes on and
    /// this driver keeps it, none (released) otherwise.
    pub(super) fn lease_after_save(&self, keep: bool, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        keep.then(|| now + lease(&self.settings))
    }

    /// Completes an update of a run's row with the lease (`locked_until`, released
    /// when none) and the time, guarded by this driver holding it: it changes nothing
    /// once another driver took the run.
    pub(super) fn while_held<E: Leased>(
        &self,
        update: UpdateMany<E>,
        id: Uuid,
        locked_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> UpdateMany<E> {
        update
            .col_expr(E::LOCKED_UNTIL, Expr::value(locked_until))
            .col_expr(
                E::LOCKED_BY,
                Expr::value(locked_until.is_some().then(|| self.driver.clone())),
            )
            .col_expr(E::UPDATED_AT, Expr::value(now))
            .filter(E::ID.eq(id))
            .filter(E::LOCKED_BY.eq(self.driver.clone()))
    }

    /// The unfinished runs that nobody drives and that have not moved for
    /// `resume_after`, oldest first: what the reconciler resumes.
    pub(super) async fn due_for_resume<E: Leased>(&self) -> Result<Vec<Uuid>, DbErr> {
        let now = Utc::now();
        E::find()
            .select_only()
            .column(E::ID)
            .filter(unfinished_since::<E>(now, self.settings.resume_after))
            .filter(lease_free::<E>(now))
            .order_by_asc(E::UPDATED_AT)
            .limit(BATCH)
            .into_tuple()
            .all(&self.db)
            .await
    }

    /// The runs staff should look at: STUCK ones, and unfinished ones that have not
    /// moved for `quiet_for`, oldest first.
    pub(super) async fn needing_attention_in<E: Leased>(&self, quiet_for: Duration) -> Result<Vec<E::Model>, DbErr> {
        E::find()
            .filter(
                Condition::any()
                    .add(E::STATUS.eq(SessionStatus::Stuck.as_str()))
                    .add(unfinished_since::<E>(Utc::now(), quiet_for)),
            )
            .order_by_asc(E::UPDATED_AT)
            .limit(BATCH)
            .all(&self.db)
            .await
    }
}

/// Nobody holds the run's lease, or its holder let it run out.
fn lease_free<E: Leased>(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(E::LOCKED_UNTIL.is_null())
        .add(E::LOCKED_UNTIL.lt(now))
}

/// Unfinished, and unchanged for `quiet_for`.
fn unfinished_since<E: Leased>(now: DateTime<Utc>, quiet_for: Duration) -> Condition {
    let quiet_since = now - chrono::Duration::from_std(quiet_for).unwrap_or_default();
    Condition::all()
        .add(E::STATUS.is_in(SessionStatus::UNFINISHED.map(SessionStatus::as_str)))
        .add(E::UPDATED_AT.lt(quiet_since))
}

pub(super) fn lease(settings: &SagaSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::seconds(30))
}
