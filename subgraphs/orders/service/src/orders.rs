//! Orders' use cases. Every change of an order is one transaction: the order row, its
//! history entry and its events. On PostgreSQL those writes are one statement
//! ([`write_together`]). The reads and the inserts they are made of are in
//! [`crate::repository`].

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use kernel::EventEnvelope;
use kernel::{Classify, ErrorKind, EventMeta, Identity, Role};
use kernel_infra::CancellationToken;
use kernel_infra::db::{insert_rows_when, write_if, write_together};
use orders_domain::{Order, OrderError, OrderEvent, OrderId, OrderStatus, Placement, StatusChange};
use sea_orm::sea_query::{Expr, InsertStatement, UpdateStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryTrait, TransactionTrait,
};
use sha2::{Digest, Sha256};

use crate::entity::{history, idempotency, order};
use crate::repository::{
    self, HISTORY_COLUMNS, history_insert, history_row, items_insert, load_orders, lock_order, order_insert,
    reached_before,
};

pub const PRODUCER: &str = "orders";

/// How long a placement's idempotency key is remembered.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("order {0} does not exist")]
    NotFound(OrderId),
    #[error("return {0} does not exist")]
    ReturnNotFound(orders_domain::returns::ReturnId),
    #[error("idempotency key `{0}` was already used for another order request")]
    KeyReused(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for OrdersError {
    fn from(err: DbErr) -> Self {
        OrdersError::Unknown(err.into())
    }
}

impl Classify for OrdersError {
    fn kind(&self) -> ErrorKind {
        match self {
            OrdersError::Order(err) => err.kind(),
            OrdersError::NotFound(_) | OrdersError::ReturnNotFound(_) => ErrorKind::NotFound,
            OrdersError::KeyReused(_) => ErrorKind::Conflict,
            OrdersError::Forbidden(_) => ErrorKind::Forbidden,
            OrdersError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// Orders' commands and queries over one database.
#[derive(Clone)]
pub struct Orders {
    db: DatabaseConnection,
}

/// The hash a placement is remembered by: the same key with another payload is a
/// different request.
fn request_hash(placement: &Placement) -> String {
    let mut canonical = serde_json::json!({
        "userId": placement.user_id,
        "items": placement.items,
        "discount": placement.discount,
        "couponCode": placement.coupon_code,
        "checkoutId": placement.checkout_id,
    });
    // Only when set, so that the hashes of the placements made before the field existed
    // stay the same.
    if placement.awaiting_payment {
        canonical["awaitingPayment"] = true.into();
    }
    if let Some(delivery) = &placement.delivery {
        canonical["delivery"] = serde_json::to_value(delivery).unwrap_or_default();
    }
    if let Some(tax) = &placement.tax {
        canonical["tax"] = serde_json::to_value(tax).unwrap_or_default();
    }
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

impl Orders {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Places an order once per idempotency key: the same key and payload within 24
    /// hours return the first order (`true` as the second value), the same key with
    /// another payload is a CONFLICT.
    ///
    /// # Errors
    /// An invalid placement, a reused key, a database failure.
    pub async fn place(&self, key: &str, placement: Placement, meta: &EventMeta) -> Result<(Order, bool), OrdersError> {
        if key.trim().is_empty() || key.len() > 200 {
            return Err(OrderError::Invalid {
                field: "idempotencyKey",
                reason: "1 to 200 characters".into(),
            }
            .into());
        }
        let hash = request_hash(&placement);
        let user_id = placement.user_id;
        if let Some(order) = self.replay(user_id, key, &hash).await? {
            return Ok((order, true));
        }
        let started = std::time::Instant::now();
        let now = Utc::now();
        let (order, changes) = Order::place(placement, now)?;
        // One event per history entry, as a transition would have announced it.
        let events: Vec<OrderEvent> = changes
            .iter()
            .flat_map(|change| {
                order
                    .events_for(change)
                    .into_iter()
                    .chain([OrderEvent::status_changed(&order, change)])
            })
            .collect();
        let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &events);
        let key_row = idempotency::Entity::insert(idempotency::ActiveModel {
            user_id: Set(user_id),
            key: Set(key.to_owned()),
            request_hash: Set(hash.clone()),
            order_id: Set(order.id().as_uuid()),
            created_at: Set(now),
        })
        .into_query();
        let mut rest = vec![items_insert(&order), history_insert(order.id(), &changes), key_row];
        rest.extend(kernel_infra::outbox::insert(&envelopes));
        let written = if kernel_infra::db::is_postgres(&self.db) {
            // One statement: one round trip instead of eight.
            write_together(&self.db, order_insert(&order), rest).await.map(drop)
        } else {
            async {
                let txn = self.db.begin().await?;
                write_together(&txn, order_insert(&order), rest).await?;
                txn.commit().await
            }
            .await
        };
        match written {
            Ok(()) => {
                kernel_infra::metrics::ORDERS_CREATED.inc();
                kernel_infra::metrics::ORDER_CREATION_LATENCY_MS.observe(started.elapsed().as_secs_f64() * 1000.0);
                Ok((order, false))
            }
            // A concurrent placement with the same key won the insert: answer as it did.
            Err(err) => match self.replay(user_id, key, &hash).await? {
                Some(order) => Ok((order, true)),
                None => Err(err.into()),
            },
        }
    }

    /// The order an earlier placement with `key` made, if it had the same payload.
    async fn replay(&self, user_id: uuid::Uuid, key: &str, hash: &str) -> Result<Option<Order>, OrdersError> {
        let Some(row) = idempotency::Entity::find_by_id((user_id, key.to_owned()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if row.created_at + IDEMPOTENCY_WINDOW < Utc::now() {
            idempotency::Entity::delete_by_id((user_id, key.to_owned()))
                .exec(&self.db)
                .await?;
            return Ok(None);
        }
        if row.request_hash != hash {
            return Err(OrdersError::KeyReused(key.chars().take(64).collect()));
        }
        self.get(OrderId::from_uuid(row.order_id))
            .await?
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("idempotency key points at a missing order").into())
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: OrderId) -> Result<Option<Order>, OrdersError> {
        Ok(load_orders(&self.db, vec![id.as_uuid()]).await?.pop())
    }

    /// Several orders by id, in one query for the orders and one for their items.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get_many(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>, OrdersError> {
        let orders = load_orders(&self.db, ids.iter().map(OrderId::as_uuid).collect()).await?;
        Ok(orders.into_iter().map(|o| (o.id(), o)).collect())
    }

    /// A user's orders, newest first, after the order `after` (a cursor), `limit` of
    /// them.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn for_user(
        &self,
        user_id: uuid::Uuid,
        after: Option<OrderId>,
        limit: u64,
    ) -> Result<Vec<Order>, OrdersError> {
        let ids = repository::ids_of_user(&self.db, user_id, after, limit).await?;
        let mut orders = load_orders(&self.db, ids).await?;
        orders.sort_by_key(|o| std::cmp::Reverse(o.id()));
        Ok(orders)
    }

    /// The ids of the user's orders changed at or after `since` (by the user's index).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn changed_since(
        &self,
        user_id: uuid::Uuid,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<uuid::Uuid>, sea_orm::DbErr> {
        repository::ids_changed_since(&self.db, user_id, since).await
    }

    /// The order's status history, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn history(&self, id: OrderId) -> Result<Vec<StatusChange>, OrdersError> {
        repository::history(&self.db, id).await
    }

    /// Moves an order to `to`. Asking for the status it has, or had before it moved
    /// on, changes nothing, so a retried command is harmless.
    ///
    /// # Errors
    /// NOT_FOUND, or a transition the state machine refuses (CONFLICT).
    pub async fn transition(
        &self,
        id: OrderId,
        to: OrderStatus,
        reason: &str,
        payment_id: Option<uuid::Uuid>,
        meta: &EventMeta,
    ) -> Result<Order, OrdersError> {
        self.transition_from(id, |_| true, to, reason, payment_id, meta).await
    }

    /// Cancels an order that is still unpaid; a paid one is refused (CONFLICT), even
    /// when it was paid a moment ago. A paid order is canceled only by the
    /// cancellation saga, which refunds it.
    ///
    /// # Errors
    /// NOT_FOUND, CONFLICT when paid.
    pub async fn cancel_if_unpaid(&self, id: OrderId, reason: &str, meta: &EventMeta) -> Result<Order, OrdersError> {
        self.transition_from(id, OrderStatus::is_unpaid, OrderStatus::Canceled, reason, None, meta)
            .await
    }

    /// [`transition`](Self::transition), only from a status that `from_allowed`
    /// accepts (the state machine still decides the rest).
    async fn transition_from(
        &self,
        id: OrderId,
        from_allowed: impl Fn(OrderStatus) -> bool,
        to: OrderStatus,
        reason: &str,
        payment_id: Option<uuid::Uuid>,
        meta: &EventMeta,
    ) -> Result<Order, OrdersError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let mut order = self.get(id).await?.ok_or(OrdersError::NotFound(id))?;
            let from = order.status();
            if from != to && !from_allowed(from) {
                return Err(OrderError::Transition {
                    from: from.as_str(),
                    to: to.as_str(),
                }
                .into());
            }
            let Some(planned) = plan_move(&self.db, &mut order, to, reason, payment_id, meta).await? else {
                return Ok(order);
            };
            // Written only if no other change moved the order since it was read.
            let mut guarded = planned.update.clone();
            guarded.and_where(order::Column::Status.eq(from.as_str()));
            if write_if(&self.db, guarded, |when| planned.inserts_when(when)).await? {
                return Ok(order);
            }
        }
        Err(anyhow::anyhow!("order {id} kept changing while it was being moved").into())
    }

    /// A customer cancels their own order, and staff any order, only before it is
    /// paid. A paid order is canceled by the cancellation saga (Checkout's
    /// `cancelPaidOrder`, which stops the shipment and refunds the payment): only a
    /// service may cancel it here, and only until it is handed to the carrier.
    ///
    /// # Errors
    /// NOT_FOUND (also for another customer's order), FORBIDDEN after payment unless a
    /// service asks, CONFLICT once shipped.
    pub async fn cancel(
        &self,
        id: OrderId,
        caller: &Identity,
        reason: &str,
        meta: &EventMeta,
    ) -> Result<Order, OrdersError> {
        let txn = self.db.begin().await?;
        let mut order = lock_order(&txn, id, true).await?;
        if !caller.may_act_for(order.user_id()) {
            return Err(OrdersError::NotFound(id));
        }
        let may_cancel_paid = caller.role == Role::Service;
        if order.status().is_paid_but_not_shipped() && !may_cancel_paid {
            return Err(OrdersError::Forbidden(format!(
                "order {id} is {}: a paid order is canceled with `cancelPaidOrder`, which refunds it",
                order.status().as_str()
            )));
        }
        move_locked(&txn, &mut order, OrderStatus::Canceled, reason, None, meta).await?;
        txn.commit().await?;
        Ok(order)
    }

    /// Cancels every order still unpaid `older_than` after it was placed. Returns how
    /// many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn cancel_unpaid(&self, older_than: chrono::Duration) -> Result<usize, OrdersError> {
        let due = repository::unpaid_placed_before(&self.db, Utc::now() - older_than, 500).await?;
        let mut canceled = 0;
        for id in due {
            let id = OrderId::from_uuid(id);
            match self
                .cancel_if_unpaid(id, "not paid in time", &EventMeta::internal())
                .await
            {
                Ok(_) => canceled += 1,
                // Paid since it was listed.
                Err(OrdersError::Order(OrderError::Transition { .. })) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(canceled)
    }

    /// Forgets idempotency keys older than the window. Returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn purge_idempotency_keys(&self) -> Result<u64, OrdersError> {
        Ok(repository::forget_keys_before(&self.db, Utc::now() - IDEMPOTENCY_WINDOW).await?)
    }

    /// The background job: cancels unpaid orders after `unpaid_timeout` and purges old
    /// idempotency keys, every `interval`.
    pub async fn run_jobs(self, unpaid_timeout: chrono::Duration, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.cancel_unpaid(unpaid_timeout).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "canceled unpaid orders"),
                Err(err) => tracing::error!(error = %err, "canceling unpaid orders failed"),
            }
            if let Err(err) = self.purge_idempotency_keys().await {
                tracing::error!(error = %err, "purging idempotency keys failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Moves the order inside `txn`: the row, the history entry and the events.
///
/// # Errors
/// NOT_FOUND, or a transition the state machine refuses.
pub async fn transition_in(
    txn: &DatabaseTransaction,
    id: OrderId,
    to: OrderStatus,
    reason: &str,
    payment_id: Option<uuid::Uuid>,
    meta: &EventMeta,
) -> Result<Order, OrdersError> {
    let mut order = lock_order(txn, id, Order::announced_with_items(to)).await?;
    move_locked(txn, &mut order, to, reason, payment_id, meta).await?;
    Ok(order)
}

/// Moves `order`, whose row `txn` holds locked, to `to`.
async fn move_locked(
    txn: &DatabaseTransaction,
    order: &mut Order,
    to: OrderStatus,
    reason: &str,
    payment_id: Option<uuid::Uuid>,
    meta: &EventMeta,
) -> Result<(), OrdersError> {
    if let Some(planned) = plan_move(txn, order, to, reason, payment_id, meta).await? {
        // The row is locked, so the three writes go in one statement.
        let inserts = planned.inserts();
        write_together(txn, planned.update, inserts).await?;
    }
    Ok(())
}

/// The writes of a move: the order's row, its history entry and its events.
struct PlannedMove {
    update: UpdateStatement,
    id: OrderId,
    change: StatusChange,
    envelopes: Vec<EventEnvelope>,
}

impl PlannedMove {
    /// The history entry and the events.
    fn inserts(&self) -> Vec<InsertStatement> {
        let history = history_insert(self.id, std::slice::from_ref(&self.change));
        std::iter::once(history)
            .chain(kernel_infra::outbox::insert(&self.envelopes))
            .collect()
    }

    /// The history entry and the events, written only if `when` holds.
    fn inserts_when(&self, when: &Expr) -> Vec<InsertStatement> {
        let row = history_row(self.id, &self.change);
        insert_rows_when(history::Entity, HISTORY_COLUMNS, [row], when)
            .into_iter()
            .chain(kernel_infra::outbox::insert_when(&self.envelopes, when))
            .collect()
    }
}

/// Applies the move to `to` to `order` as read, and plans its writes; None when there
/// is nothing to write: the order is there already, or was before it moved on (a
/// command repeated after the order was paid, then shipped, was applied already).
async fn plan_move(
    conn: &impl ConnectionTrait,
    order: &mut Order,
    to: OrderStatus,
    reason: &str,
    payment_id: Option<uuid::Uuid>,
    meta: &EventMeta,
) -> Result<Option<PlannedMove>, OrdersError> {
    if order.status() == to || (!order.status().can_move_to(to) && reached_before(conn, order.id(), to).await?) {
        return Ok(None);
    }
    let now = Utc::now();
    let change = order.move_to(to, reason, now)?;
    if let Some(payment_id) = payment_id {
        order.paid_with(payment_id);
    }
    let update = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(order.status().as_str()))
        .col_expr(order::Column::PaymentId, Expr::value(order.payment_id()))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(order.id().as_uuid()))
        .into_query();
    let events: Vec<OrderEvent> = order
        .events_for(&change)
        .into_iter()
        .chain([OrderEvent::status_changed(order, &change)])
        .collect();
    Ok(Some(PlannedMove {
        update,
        id: order.id(),
        change,
        envelopes: kernel_infra::outbox::wrap(PRODUCER, meta, &events),
    }))
}
