//! Returns' use cases: a customer asks to send back delivered units, staff approve or
//! refuse; the return saga (run by Checkout) receives the goods and completes the
//! return once refunded and restocked, or reopens it when the refund is refused. Each
//! change is one transaction: the return's row and its event (and, on completion, the
//! order's move). The SQL is in [`crate::repository::returns`].

use chrono::Utc;
use kernel::{EventMeta, Identity};
use kernel_infra::db::{write_if, write_together};
use orders_domain::returns::{Return, ReturnId, ReturnRequest, ReturnStatus, ReturnWindow};
use orders_domain::{Order, OrderError, OrderId};
use sea_orm::{DatabaseConnection, TransactionTrait};

use crate::orders::{OrdersError, PRODUCER, transition_in};
use crate::repository::lock_order;
use crate::repository::returns as repository;

/// Returns over Orders' database.
#[derive(Clone)]
pub struct Returns {
    db: DatabaseConnection,
    window: ReturnWindow,
}

impl Returns {
    pub fn new(db: DatabaseConnection, window: ReturnWindow) -> Self {
        Self { db, window }
    }

    /// The customer (or staff for them) asks to send back units of a delivered order.
    ///
    /// # Errors
    /// NOT_FOUND (also for another customer's order); CONFLICT when the order is not
    /// delivered or its return window closed; BAD_USER_INPUT for lines the order
    /// cannot give back or a bad reason.
    pub async fn request(
        &self,
        order_id: OrderId,
        caller: &Identity,
        request: ReturnRequest,
        meta: &EventMeta,
    ) -> Result<Return, OrdersError> {
        let txn = self.db.begin().await?;
        // Locked, so that two requests for the same order see each other's units.
        let order = lock_order(&txn, order_id, true).await?;
        if !caller.may_act_for(order.user_id()) {
            return Err(OrdersError::NotFound(order_id));
        }
        let delivered_at = repository::delivered_at(&txn, order_id)
            .await?
            .unwrap_or(order.updated_at());
        let earlier = repository::of_order(&txn, order_id).await?;
        let asked = Return::request(&order, delivered_at, &earlier, request, self.window, Utc::now())?;
        let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[asked.event()]);
        write_together(
            &txn,
            repository::insert(&asked)?,
            kernel_infra::outbox::insert(&envelopes).into_iter().collect(),
        )
        .await?;
        txn.commit().await?;
        Ok(asked)
    }

    /// Staff agree to take the goods back.
    ///
    /// # Errors
    /// NOT_FOUND; CONFLICT unless the return is REQUESTED (or APPROVED already).
    pub async fn approve(&self, id: ReturnId, meta: &EventMeta) -> Result<Return, OrdersError> {
        self.decide(id, meta, |asked| asked.approve(Utc::now())).await
    }

    /// Staff refuse the return, saying why.
    ///
    /// # Errors
    /// NOT_FOUND; CONFLICT unless the return is REQUESTED (or REFUSED already);
    /// BAD_USER_INPUT for a bad reason.
    pub async fn refuse(&self, id: ReturnId, reason: &str, meta: &EventMeta) -> Result<Return, OrdersError> {
        self.decide(id, meta, |asked| asked.refuse(reason, Utc::now())).await
    }

    /// The goods arrived (the return saga's first step).
    ///
    /// # Errors
    /// NOT_FOUND; CONFLICT unless the return is APPROVED (or further on).
    pub async fn receive(&self, id: ReturnId, meta: &EventMeta) -> Result<Return, OrdersError> {
        self.decide(id, meta, |asked| asked.receive(Utc::now())).await
    }

    /// The refund was refused after the goods arrived: the return is APPROVED again,
    /// with the reason (the return saga's compensation).
    ///
    /// # Errors
    /// NOT_FOUND; CONFLICT unless the return is RECEIVED (or APPROVED).
    pub async fn reopen(&self, id: ReturnId, reason: &str, meta: &EventMeta) -> Result<Return, OrdersError> {
        self.decide(id, meta, |asked| asked.reopen(reason, Utc::now())).await
    }

    /// The payment is refunded for the return and its units are back on hand (the
    /// return saga's last step): the return is REFUNDED and, in the same transaction,
    /// the order PARTIALLY_REFUNDED, or REFUNDED once every unit of it is. Completing a
    /// completed return changes nothing.
    ///
    /// # Errors
    /// NOT_FOUND; CONFLICT unless the return is RECEIVED (or REFUNDED already).
    pub async fn complete(&self, id: ReturnId, meta: &EventMeta) -> Result<Return, OrdersError> {
        let found = self.get(id).await?.ok_or(OrdersError::ReturnNotFound(id))?;
        let txn = self.db.begin().await?;
        // The order's lock serializes the returns of one order.
        let order = lock_order(&txn, found.order_id(), true).await?;
        let mut returns = repository::of_order(&txn, found.order_id()).await?;
        let index = returns
            .iter()
            .position(|r| r.id() == id)
            .ok_or(OrdersError::ReturnNotFound(id))?;
        let read = returns[index].status();
        if !returns[index].complete(Utc::now())? {
            return Ok(returns.swap_remove(index));
        }
        let completed = &returns[index];
        let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[completed.event()]);
        write_together(
            &txn,
            repository::update_status(completed, read),
            kernel_infra::outbox::insert(&envelopes).into_iter().collect(),
        )
        .await?;
        let to = orders_domain::returns::status_after_refunds(&order, &returns);
        // Payments' `payment.refunded` may have moved the order to REFUNDED first.
        if order.status() != to && order.status().can_move_to(to) {
            let reason = format!("return {id} refunded");
            transition_in(&txn, order.id(), to, &reason, None, meta).await?;
        }
        txn.commit().await?;
        Ok(returns.swap_remove(index))
    }

    /// Applies `decision` to the return as read and writes it, with its event, only if
    /// no other decision was written meanwhile.
    async fn decide(
        &self,
        id: ReturnId,
        meta: &EventMeta,
        decision: impl Fn(&mut Return) -> Result<bool, OrderError>,
    ) -> Result<Return, OrdersError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let mut asked = self.get(id).await?.ok_or(OrdersError::ReturnNotFound(id))?;
            let read = asked.status();
            if !decision(&mut asked)? {
                return Ok(asked);
            }
            let envelopes = kernel_infra::outbox::wrap(PRODUCER, meta, &[asked.event()]);
            let update = repository::update_status(&asked, read);
            if write_if(&self.db, update, |when| {
                kernel_infra::outbox::insert_when(&envelopes, when)
                    .into_iter()
                    .collect()
            })
            .await?
            {
                return Ok(asked);
            }
        }
        Err(anyhow::anyhow!("return {id} kept changing while it was being decided").into())
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: ReturnId) -> Result<Option<Return>, OrdersError> {
        repository::get(&self.db, id).await
    }

    /// The order's returns, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn of_order(&self, order_id: OrderId) -> Result<Vec<Return>, OrdersError> {
        repository::of_order(&self.db, order_id).await
    }

    /// Returns with `status`, oldest first, at most `limit`: staff's queue.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn with_status(&self, status: ReturnStatus, limit: u64) -> Result<Vec<Return>, OrdersError> {
        repository::with_status(&self.db, status, limit).await
    }

    /// When the order's return window closes; None for an order whose goods may not be
    /// returned (not delivered, or all of it given back already).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn returnable_until(&self, order: &Order) -> Result<Option<chrono::DateTime<Utc>>, OrdersError> {
        if !order.status().is_returnable() {
            return Ok(None);
        }
        let delivered_at = repository::delivered_at(&self.db, order.id()).await?;
        Ok(delivered_at.map(|at| self.window.closes(at)))
    }
}
