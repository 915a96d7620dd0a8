//! The step log both sagas keep (`checkout_steps`): one entry per step run, with how
//! it went, append-only. A checkout's entries name its [`Step`]s, a return process's
//! its [`ReturnStep`]s; the run's id keys them.

use checkout_domain::Step;
use checkout_domain::returns::ReturnStep;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::step_log;

use super::CheckoutServiceError;

/// A saga's step as its log names it.
pub trait SagaStep: Copy {
    fn name(self) -> &'static str;
    fn from_name(name: &str) -> Option<Self>;
}

impl SagaStep for Step {
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn from_name(name: &str) -> Option<Self> {
        Step::parse(name)
    }
}

impl SagaStep for ReturnStep {
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn from_name(name: &str) -> Option<Self> {
        ReturnStep::parse(name)
    }
}

/// One entry of a run's step log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord<S = Step> {
    pub step: S,
    /// DONE, REFUSED or UNAVAILABLE.
    pub outcome: String,
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

impl<S: SagaStep> StepRecord<S> {
    /// An entry for now, its detail cut to what the log keeps.
    pub(super) fn now(step: S, outcome: &str, detail: Option<&str>) -> Self {
        Self {
            step,
            outcome: outcome.to_owned(),
            detail: detail.map(short_detail),
            at: Utc::now(),
        }
    }
}

/// A log entry's detail, at most 600 characters.
pub(super) fn short_detail(detail: &str) -> String {
    detail.chars().take(600).collect()
}

pub(super) async fn append<S: SagaStep>(
    conn: &impl ConnectionTrait,
    run: Uuid,
    record: &StepRecord<S>,
) -> Result<(), DbErr> {
    step_log::Entity::insert(step_log::ActiveModel {
        session_id: Set(run),
        step: Set(record.step.name().to_owned()),
        outcome: Set(record.outcome.clone()),
        detail: Set(record.detail.clone()),
        at: Set(record.at),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The run's log, oldest first.
pub(super) async fn read<S: SagaStep>(
    conn: &impl ConnectionTrait,
    run: Uuid,
) -> Result<Vec<StepRecord<S>>, CheckoutServiceError> {
    let rows = step_log::Entity::find()
        .filter(step_log::Column::SessionId.eq(run))
        .order_by_asc(step_log::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StepRecord {
                step: S::from_name(&row.step).ok_or_else(|| anyhow::anyhow!("run {run}: unknown step {}", row.step))?,
                outcome: row.outcome,
                detail: row.detail,
                at: row.at,
            })
        })
        .collect()
}

/// Deletes the run's log (of a run that never was: see `receive_return`).
pub(super) async fn forget(conn: &impl ConnectionTrait, run: Uuid) -> Result<(), DbErr> {
    step_log::Entity::delete_many()
        .filter(step_log::Column::SessionId.eq(run))
        .exec(conn)
        .await?;
    Ok(())
}
