//! Claiming what waits to be sent: webhook deliveries and customer e-mails keep the
//! same columns for it (`status`, `attempts`, `next_attempt_at`, `leased_until`), and
//! a sender of either takes its due rows here, each leased to this replica by a
//! conditional update, so two replicas never attempt the same one at once.

use std::time::Duration;

use chrono::Utc;
use notifications_domain::DeliveryStatus;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// The most of an error or answer kept with an attempt.
const MAX_ERROR_LENGTH: usize = 500;

/// An attempt's error as it is kept: at most [`MAX_ERROR_LENGTH`] characters.
pub(crate) fn short(text: &str) -> String {
    text.chars().take(MAX_ERROR_LENGTH).collect()
}

/// The columns of a table of things to send.
pub(crate) struct SendingColumns<C> {
    pub id: C,
    pub status: C,
    pub attempts: C,
    pub next_attempt_at: C,
    pub leased_until: C,
}

/// Up to `batch` PENDING rows of `E` due now and not leased, oldest due first, each
/// leased to this replica for `lease`. `key` reads a row's id and attempts: a row
/// attempted since it was read is left alone.
///
/// # Errors
/// A database failure.
pub(crate) async fn claim_due<E: EntityTrait>(
    db: &DatabaseConnection,
    columns: &SendingColumns<E::Column>,
    key: impl Fn(&E::Model) -> (uuid::Uuid, i32),
    lease: Duration,
    batch: u64,
) -> Result<Vec<E::Model>, DbErr> {
    let now = Utc::now();
    let free = Condition::any()
        .add(columns.leased_until.is_null())
        .add(columns.leased_until.lt(now));
    let due = E::find()
        .filter(columns.status.eq(DeliveryStatus::Pending.as_str()))
        .filter(columns.next_attempt_at.lte(now))
        .filter(free.clone())
        .order_by_asc(columns.next_attempt_at)
        .limit(batch)
        .all(db)
        .await?;
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        let (id, attempts) = key(&row);
        let taken = E::update_many()
            .col_expr(columns.leased_until, Expr::value(lease_until))
            .filter(columns.id.eq(id))
            .filter(columns.attempts.eq(attempts))
            .filter(free.clone())
            .exec(db)
            .await?;
        if taken.rows_affected == 1 {
            claimed.push(row);
        }
    }
    Ok(claimed)
}
