//! Inventory's use cases: reserve, commit, release, adjust, and the expiry sweep.
//! Each runs in one transaction with its movements and outbox rows.

use std::time::Duration;

use chrono::Utc;
use inventory_domain::event::LineSummary;
use inventory_domain::{
    InventoryError, InventoryEvent, MovementReason, Reservation, ReservationId, ReservationLine, ReservationStatus,
    Sku, StockItem,
};
use kernel::{Classify, ErrorKind, EventMeta};
use kernel_infra::CancellationToken;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};

use crate::repository;

/// The name this context signs its events with.
pub const PRODUCER: &str = "inventory";

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("SKU {0} is not stocked")]
    UnknownSku(String),
    #[error("reservation {0} does not exist")]
    ReservationNotFound(ReservationId),
    #[error("reservation {0} already exists with other lines")]
    ReservationIdTaken(ReservationId),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for StockError {
    fn from(err: DbErr) -> Self {
        StockError::Unknown(err.into())
    }
}

impl Classify for StockError {
    fn kind(&self) -> ErrorKind {
        match self {
            StockError::Inventory(err) => err.kind(),
            StockError::UnknownSku(_) | StockError::ReservationNotFound(_) => ErrorKind::NotFound,
            StockError::ReservationIdTaken(_) => ErrorKind::Conflict,
            StockError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

fn summaries(lines: &[ReservationLine]) -> Vec<LineSummary> {
    lines
        .iter()
        .map(|l| LineSummary {
            sku: l.sku.as_str().to_owned(),
            quantity: l.quantity.get(),
        })
        .collect()
}

/// How a reservation closes.
#[derive(Clone, Copy)]
enum Closing {
    Sell,
    GiveBack {
        expired: bool,
    },
    /// A sold reservation comes back to stock.
    Return,
}

/// Inventory's commands over one database.
#[derive(Clone)]
pub struct Stock {
    db: DatabaseConnection,
}

impl Stock {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Holds every line of `reservation` or none of them. Sending the same reservation
    /// (id and lines) again returns the first one unchanged, so a caller that lost the
    /// answer can safely retry.
    ///
    /// # Errors
    /// An unknown SKU, not enough stock for any line, the id already used for other
    /// lines (CONFLICT), a database failure.
    #[tracing::instrument(skip_all, fields(reservation.id = %reservation.id))]
    pub async fn reserve(&self, reservation: Reservation, meta: &EventMeta) -> Result<Reservation, StockError> {
        let reserved = self.try_reserve(reservation, meta).await;
        if reserved.is_err() {
            kernel_infra::metrics::INVENTORY_RESERVATION_FAILURES.inc();
        }
        reserved
    }

    async fn try_reserve(&self, mut reservation: Reservation, meta: &EventMeta) -> Result<Reservation, StockError> {
        reservation.lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        if let Some(existing) = repository::reservation(&self.db, reservation.id, false).await? {
            let mut lines = existing.lines.clone();
            lines.sort_by(|a, b| a.sku.cmp(&b.sku));
            return if lines == reservation.lines {
                Ok(existing)
            } else {
                Err(StockError::ReservationIdTaken(reservation.id))
            };
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        // The stock rows are locked last, so that a popular SKU's row is held for as
        // few statements as possible. The event may be written first: its partition
        // key is the reservation, not the SKU.
        let event = InventoryEvent::Reserved {
            reservation_id: reservation.id.to_string(),
            lines: summaries(&reservation.lines),
            expires_at: reservation.expires_at,
        };
        let events = kernel_infra::outbox::wrap(PRODUCER, meta, &[event]);
        repository::insert_reservation(&txn, &reservation, &events).await?;
        let mut items = lock_all(&txn, reservation.lines.iter().map(|l| &l.sku)).await?;
        let mut movements = Vec::with_capacity(items.len());
        for (item, line) in items.iter_mut().zip(&reservation.lines) {
            movements.push(item.reserve(line.quantity, reservation.id, now)?);
        }
        repository::save_items_and_movements(&txn, &items, &movements, now).await?;
        txn.commit().await?;
        Ok(reservation)
    }

    /// The held units are sold: they leave stock for good. Committing a committed
    /// reservation again changes nothing.
    ///
    /// # Errors
    /// NOT_FOUND, or a reservation that is closed or expired.
    pub async fn commit(&self, id: ReservationId, meta: &EventMeta) -> Result<Reservation, StockError> {
        self.close(id, Closing::Sell, meta).await
    }

    /// Gives the held units back to sale; `expired` when the hold ran out. Releasing a
    /// released or expired reservation again changes nothing.
    ///
    /// # Errors
    /// NOT_FOUND, or a reservation that is already closed.
    pub async fn release(&self, id: ReservationId, expired: bool, meta: &EventMeta) -> Result<Reservation, StockError> {
        self.close(id, Closing::GiveBack { expired }, meta).await
    }

    /// Closes a reservation: the reservation, its stock rows, the movements and the
    /// event are written in one transaction.
    async fn close(&self, id: ReservationId, closing: Closing, meta: &EventMeta) -> Result<Reservation, StockError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut reservation = repository::reservation(&txn, id, true)
            .await?
            .ok_or(StockError::ReservationNotFound(id))?;
        let already_closed = match closing {
            Closing::Sell => reservation.status == ReservationStatus::Committed,
            Closing::GiveBack { .. } => {
                matches!(
                    reservation.status,
                    ReservationStatus::Released | ReservationStatus::Expired
                )
            }
            Closing::Return => reservation.status == ReservationStatus::Returned,
        };
        if already_closed {
            return Ok(reservation);
        }
        match closing {
            Closing::Sell => reservation.commit(now)?,
            Closing::GiveBack { expired } => reservation.release(expired)?,
            Closing::Return => reservation.give_back_sold()?,
        }
        let (reservation_id, lines) = (id.to_string(), summaries(&reservation.lines));
        let event = match closing {
            Closing::Sell => InventoryEvent::Committed { reservation_id, lines },
            Closing::GiveBack { expired } => InventoryEvent::Released {
                reservation_id,
                lines,
                expired,
            },
            Closing::Return => InventoryEvent::Returned { reservation_id, lines },
        };
        // As in `reserve`: the stock rows last.
        let events = kernel_infra::outbox::wrap(PRODUCER, meta, &[event]);
        repository::save_reservation_status(&txn, &reservation, now, &events).await?;
        let mut items = lock_all(&txn, reservation.lines.iter().map(|l| &l.sku)).await?;
        let movements: Vec<_> = items
            .iter_mut()
            .zip(&reservation.lines)
            .map(|(item, line)| match closing {
                Closing::Sell => item.commit(line.quantity, id, now),
                Closing::GiveBack { expired } => item.release(line.quantity, id, expired, now),
                Closing::Return => item.restock(line.quantity, id, now),
            })
            .collect();
        repository::save_items_and_movements(&txn, &items, &movements, now).await?;
        txn.commit().await?;
        Ok(reservation)
    }

    /// Puts the units of a committed reservation back on hand, when the sale they
    /// belonged to was undone. Returning it again changes nothing.
    ///
    /// # Errors
    /// NOT_FOUND, or a reservation that was never committed.
    pub async fn return_sold(&self, id: ReservationId, meta: &EventMeta) -> Result<Reservation, StockError> {
        self.close(id, Closing::Return, meta).await
    }

    /// Puts units that customers sent back on hand, once per `reference` (the return):
    /// the stock rows, their RETURNED movements, a `stock.adjusted` event per SKU and
    /// the reference, in one transaction. Answers false when the reference was
    /// restocked before (nothing is written again).
    ///
    /// # Errors
    /// No lines, a SKU twice or not stocked.
    pub async fn restock_returned(
        &self,
        reference: &str,
        lines: &[(Sku, inventory_domain::Quantity)],
        meta: &EventMeta,
    ) -> Result<bool, StockError> {
        let reference = reference.trim();
        if reference.is_empty() || reference.chars().count() > 100 {
            return Err(InventoryError::invalid("reference", "must have 1 to 100 characters").into());
        }
        if lines.is_empty()
            || lines
                .iter()
                .enumerate()
                .any(|(i, (sku, _))| lines[..i].iter().any(|(s, _)| s == sku))
        {
            return Err(InventoryError::invalid("lines", "one line or more, each SKU once").into());
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        if !repository::record_restock(&txn, reference, now).await? {
            return Ok(false);
        }
        let mut items = lock_all(&txn, lines.iter().map(|(sku, _)| sku)).await?;
        let mut movements = Vec::with_capacity(lines.len());
        let mut events = Vec::with_capacity(lines.len());
        for (sku, quantity) in lines {
            let item = items
                .iter_mut()
                .find(|item| item.sku() == sku)
                .ok_or_else(|| StockError::UnknownSku(sku.as_str().to_owned()))?;
            movements.push(item.take_back(*quantity, now));
            events.push(InventoryEvent::StockAdjusted {
                sku: sku.as_str().to_owned(),
                delta: quantity.get(),
                on_hand: item.on_hand(),
                reserved: item.reserved(),
                reason: format!("returned: {reference}"),
            });
        }
        repository::save_items_and_movements(&txn, &items, &movements, now).await?;
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &events).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Corrects the units on hand of a SKU.
    ///
    /// # Errors
    /// An unknown SKU, a zero delta, or one that would leave less than is reserved.
    pub async fn adjust(
        &self,
        sku: &Sku,
        delta: i64,
        reason: MovementReason,
        meta: &EventMeta,
    ) -> Result<StockItem, StockError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut items = lock_all(&txn, std::iter::once(sku)).await?;
        let item = &mut items[0];
        let note = reason.note().unwrap_or_default().to_owned();
        let movement = item.adjust(delta, reason, now)?;
        repository::save_items_and_movements(&txn, &items, &[movement], now).await?;
        let item = items.remove(0);
        let event = InventoryEvent::StockAdjusted {
            sku: sku.as_str().to_owned(),
            delta,
            on_hand: item.on_hand(),
            reserved: item.reserved(),
            reason: note,
        };
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        Ok(item)
    }

    /// Releases every hold that has run out. Returns how many were released.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn expire_due(&self) -> Result<usize, StockError> {
        let due = repository::due_reservations(&self.db, Utc::now(), 500).await?;
        let mut released = 0;
        for id in due {
            match self.release(id, true, &EventMeta::internal()).await {
                Ok(_) => released += 1,
                // Committed or released since it was listed: nothing to do.
                Err(StockError::Inventory(InventoryError::ReservationClosed { .. })) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(released)
    }

    /// The background sweeper: releases expired holds every `interval`.
    pub async fn run_sweeper(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.expire_due().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "released expired reservations"),
                Err(err) => tracing::error!(error = %err, "reservation sweep failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Locks the stock items of `skus` (sorted), failing on the first unknown SKU.
async fn lock_all<'a>(
    txn: &DatabaseTransaction,
    skus: impl Iterator<Item = &'a Sku>,
) -> Result<Vec<StockItem>, StockError> {
    let skus: Vec<&Sku> = skus.collect();
    let items = repository::lock_items(txn, &skus).await?;
    if let Some(missing) = skus.iter().find(|sku| !items.iter().any(|item| item.sku() == **sku)) {
        return Err(StockError::UnknownSku(missing.as_str().to_owned()));
    }
    Ok(items)
}
