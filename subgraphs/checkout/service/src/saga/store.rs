//! Saving a session: its state, step log and events together (one statement on
//! PostgreSQL, guarded by the lease), and reading it back.

use std::time::Duration;

use checkout_domain::{
    AskedCoupon, CheckoutError, CheckoutEvent, CheckoutId, CheckoutRequest, CheckoutSession, IdempotencyKey, Line,
    PaymentMethod, SessionStatus, Step, StoredCheckoutSession,
};
use chrono::{DateTime, Utc};
use kernel::{Currency, EventMeta, Money};
use sea_orm::sea_query::{CommonTableExpression, Expr, Query, UnionType, WithClause};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryTrait, TransactionTrait,
};

use crate::entity::{self, session};

use super::step_log::{self, StepRecord};
use super::{CheckoutServiceError, PRODUCER, Saga};

impl Saga {
    /// Saves the session, the log entries of the steps done since the last save and,
    /// when it has just finished (it was `before` at the last save), the event that
    /// says how, in one transaction, renewing the lease (or, when it finished, clearing
    /// it). False when another driver took the lease.
    pub(super) async fn persist(
        &self,
        s: &CheckoutSession,
        records: &[StepRecord],
        before: SessionStatus,
        meta: &EventMeta,
    ) -> Result<bool, DbErr> {
        let now = Utc::now();
        // COMPLETED, FAILED, STUCK or CANCELED: nobody drives it any more.
        let locked_until = self.lease_after_save(!s.status().is_finished(), now);
        let events = match CheckoutEvent::on_finishing(before, s) {
            Some(event) => kernel_infra::outbox::wrap(PRODUCER, meta, &[event]),
            None => Vec::new(),
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
            step_log::append(&txn, s.id().as_uuid(), record).await?;
        }
        kernel_infra::outbox::append(&txn, &events).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Saves what staff did to a session with its audit event, in one transaction,
    /// keeping this driver's lease while the session is unfinished. False when another
    /// driver took the lease.
    pub(super) async fn save_staff_action(
        &self,
        s: &CheckoutSession,
        action: &checkout_domain::StaffAction,
        meta: &EventMeta,
    ) -> Result<bool, DbErr> {
        let now = Utc::now();
        let locked_until = self.lease_after_save(!s.status().is_finished(), now);
        let txn = self.db.begin().await?;
        let updated = self.save_session(s, locked_until, now).exec(&txn).await?;
        if updated.rows_affected != 1 {
            return Ok(false);
        }
        kernel_infra::outbox::record(&txn, PRODUCER, meta, std::slice::from_ref(action)).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Saves a session whose cancellation was just asked for, keeping this driver's
    /// lease. False when another driver took it.
    pub(super) async fn start_cancellation(&self, s: &CheckoutSession) -> Result<bool, DbErr> {
        let now = Utc::now();
        let updated = self
            .save_session(s, self.lease_after_save(true, now), now)
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Writes the session's state, if this driver still holds it. A lease
    /// (`locked_until`) keeps the driver; none releases the session.
    pub(super) fn save_session(
        &self,
        s: &CheckoutSession,
        locked_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> sea_orm::UpdateMany<session::Entity> {
        let update = session::Entity::update_many()
            .col_expr(session::Column::Status, Expr::value(s.status().as_str()))
            .col_expr(
                session::Column::Step,
                Expr::value(s.step().map(|x| x.as_str().to_owned())),
            )
            .col_expr(
                session::Column::FailedStep,
                Expr::value(s.failed_step().map(|x| x.as_str().to_owned())),
            )
            .col_expr(session::Column::Failure, Expr::value(s.failure().map(str::to_owned)))
            .col_expr(session::Column::OrderId, Expr::value(s.order_id()))
            .col_expr(session::Column::PaymentId, Expr::value(s.payment_id()))
            .col_expr(session::Column::Discount, Expr::value(s.discount().map(|m| m.amount())))
            .col_expr(session::Column::Total, Expr::value(s.total().map(|m| m.amount())))
            .col_expr(
                session::Column::CancelReason,
                Expr::value(s.cancel_reason().map(str::to_owned)),
            )
            .col_expr(
                session::Column::StuckStep,
                Expr::value(s.stuck_step().map(|x| x.as_str().to_owned())),
            )
            .col_expr(
                session::Column::Resolution,
                Expr::value(s.resolution().map(str::to_owned)),
            );
        self.while_held(update, s.id().as_uuid(), locked_until, now)
    }

    /// [`persist`](Self::persist) on PostgreSQL: the session row, the log entries and the
    /// events in one statement (a single statement is atomic on its own), so a save
    /// costs one round trip. The log entries and the events are written only if the
    /// session row was, that is while this driver holds the lease.
    pub(super) async fn persist_pg(
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
        log.into_table(entity::step_log::Entity)
            .columns([
                entity::step_log::Column::SessionId,
                entity::step_log::Column::Step,
                entity::step_log::Column::Outcome,
                entity::step_log::Column::Detail,
                entity::step_log::Column::At,
            ])
            .select_from(entries)
            .map_err(|err| DbErr::Custom(err.to_string()))?;
        let result = self.db.execute(&log.with(with)).await?;
        Ok(result.rows_affected() == records.len() as u64)
    }

    pub(super) async fn log_outage(&self, s: &CheckoutSession, step: Step, reason: &str) -> Result<(), DbErr> {
        step_log::append(
            &self.db,
            s.id().as_uuid(),
            &StepRecord::now(step, "UNAVAILABLE", Some(reason)),
        )
        .await?;
        session::Entity::update_many()
            .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(session::Column::Id.eq(s.id().as_uuid()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

pub(super) async fn insert(
    conn: &impl ConnectionTrait,
    s: &CheckoutSession,
    driver: &str,
    lease: Duration,
) -> Result<(), DbErr> {
    let currency = s.lines()[0].unit_price.currency();
    session::Entity::insert(session::ActiveModel {
        id: Set(s.id().as_uuid()),
        user_id: Set(s.request().user_id),
        cart_id: Set(s.request().cart_id),
        coupon_code: Set(s.request().coupon().map(str::to_owned)),
        payment_method: Set(s.request().payment_method.as_str().to_owned()),
        idempotency_key: Set(s.request().idempotency_key.as_str().to_owned()),
        fingerprint: Set(s.request().fingerprint()),
        lines: Set(json(&s.lines())?),
        delivery_request: Set(s.request().delivery.as_ref().map(json).transpose()?),
        delivery: Set(s.delivery().as_ref().map(json).transpose()?),
        tax_rates: Set(s.tax_rates().as_ref().map(json).transpose()?),
        status: Set(s.status().as_str().to_owned()),
        step: Set(s.step().map(|x| x.as_str().to_owned())),
        failed_step: Set(None),
        failure: Set(None),
        reservation_id: Set(s.reservation_id()),
        redemption_id: Set(s.redemption_id()),
        order_id: Set(None),
        payment_id: Set(None),
        currency: Set(currency.code().to_owned()),
        discount: Set(None),
        total: Set(None),
        cancel_reason: Set(None),
        stuck_step: Set(None),
        resolution: Set(None),
        locked_by: Set(Some(driver.to_owned())),
        locked_until: Set(Some(
            s.created_at() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30)),
        )),
        created_at: Set(s.created_at()),
        updated_at: Set(s.updated_at()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn json(value: &impl serde::Serialize) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|e| DbErr::Custom(e.to_string()))
}

/// A JSON column's value, read back.
fn stored<T: serde::de::DeserializeOwned>(what: &str, value: Option<&str>) -> Result<Option<T>, CheckoutServiceError> {
    value
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored {what}: {e}").into())
}

pub(super) fn from_row(row: session::Model) -> Result<CheckoutSession, CheckoutServiceError> {
    let currency = Currency::parse(&row.currency).map_err(|e| anyhow::anyhow!("stored currency: {e}"))?;
    let step = |value: Option<String>| -> Result<Option<Step>, CheckoutServiceError> {
        value
            .map(|v| Step::parse(&v).ok_or_else(|| anyhow::anyhow!("unknown step {v}").into()))
            .transpose()
    };
    let lines: Vec<Line> = serde_json::from_str(&row.lines).map_err(|e| anyhow::anyhow!("stored lines: {e}"))?;
    let corrupt = |e: CheckoutError| anyhow::anyhow!("stored request of session {}: {e}", row.id);
    Ok(StoredCheckoutSession {
        id: CheckoutId::from_uuid(row.id),
        request: CheckoutRequest {
            user_id: row.user_id,
            cart_id: row.cart_id,
            coupon_code: row
                .coupon_code
                .as_deref()
                .map(AskedCoupon::parse)
                .transpose()
                .map_err(corrupt)?,
            payment_method: PaymentMethod::parse(&row.payment_method).map_err(corrupt)?,
            idempotency_key: IdempotencyKey::parse(&row.idempotency_key).map_err(corrupt)?,
            delivery: stored("delivery request", row.delivery_request.as_deref())?,
        },
        lines,
        delivery: stored("delivery", row.delivery.as_deref())?,
        tax_rates: stored("tax rates", row.tax_rates.as_deref())?,
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
        cancel_reason: row.cancel_reason,
        stuck_step: step(row.stuck_step)?,
        resolution: row.resolution,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
    .into())
}
