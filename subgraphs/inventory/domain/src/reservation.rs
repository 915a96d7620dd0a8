//! Reservations: units held for a checkout for a limited time, then committed (sold)
//! or released (given back, by the client or by expiry).

use chrono::{DateTime, Duration, Utc};

use crate::{InventoryError, Quantity, ReservationId, Sku};

/// The longest a hold may last.
pub const MAX_HOLD: Duration = Duration::hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Active,
    Committed,
    Released,
    Expired,
    /// Sold, then given back to stock (a checkout undone after its commit).
    Returned,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Active => "ACTIVE",
            ReservationStatus::Committed => "COMMITTED",
            ReservationStatus::Released => "RELEASED",
            ReservationStatus::Expired => "EXPIRED",
            ReservationStatus::Returned => "RETURNED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Committed,
            Self::Released,
            Self::Expired,
            Self::Returned,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    pub sku: Sku,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub lines: Vec<ReservationLine>,
    pub status: ReservationStatus,
    pub reference: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl Reservation {
    /// A new active hold of `lines` for `hold`.
    ///
    /// # Errors
    /// No lines, a SKU twice, a hold that is not between 1 second and [`MAX_HOLD`], an
    /// over-long reference.
    pub fn open(
        lines: Vec<ReservationLine>,
        hold: Duration,
        reference: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, InventoryError> {
        if lines.is_empty() || lines.len() > 100 {
            return Err(InventoryError::invalid("lines", "a reservation holds 1 to 100 lines"));
        }
        let mut skus: Vec<&Sku> = lines.iter().map(|l| &l.sku).collect();
        skus.sort();
        if let Some(pair) = skus.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(InventoryError::invalid(
                "lines",
                format!("SKU {} appears twice", pair[0].as_str()),
            ));
        }
        if hold < Duration::seconds(1) || hold > MAX_HOLD {
            return Err(InventoryError::invalid(
                "ttlSeconds",
                "a hold lasts from 1 second to 24 hours",
            ));
        }
        if reference.as_ref().is_some_and(|r| r.chars().count() > 200) {
            return Err(InventoryError::invalid("reference", "at most 200 characters"));
        }
        Ok(Self {
            id: ReservationId::new(),
            lines,
            status: ReservationStatus::Active,
            reference,
            expires_at: now + hold,
            created_at: now,
        })
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// Marks the hold as sold.
    ///
    /// # Errors
    /// When it is no longer active or has expired.
    pub fn commit(&mut self, now: DateTime<Utc>) -> Result<(), InventoryError> {
        self.ensure_active("committed")?;
        if self.is_expired(now) {
            return Err(InventoryError::ReservationExpired(self.expires_at));
        }
        self.status = ReservationStatus::Committed;
        Ok(())
    }

    /// Gives the units back: `expired` when the sweeper does it.
    ///
    /// # Errors
    /// When it is no longer active.
    pub fn release(&mut self, expired: bool) -> Result<(), InventoryError> {
        self.ensure_active("released")?;
        self.status = if expired {
            ReservationStatus::Expired
        } else {
            ReservationStatus::Released
        };
        Ok(())
    }

    /// The sold units come back to stock.
    ///
    /// # Errors
    /// When it was not committed.
    pub fn give_back_sold(&mut self) -> Result<(), InventoryError> {
        if self.status != ReservationStatus::Committed {
            return Err(InventoryError::ReservationClosed {
                status: self.status.as_str(),
                action: "returned",
            });
        }
        self.status = ReservationStatus::Returned;
        Ok(())
    }

    fn ensure_active(&self, action: &'static str) -> Result<(), InventoryError> {
        match self.status {
            ReservationStatus::Active => Ok(()),
            other => Err(InventoryError::ReservationClosed {
                status: other.as_str(),
                action,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: i64) -> ReservationLine {
        ReservationLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    #[test]
    fn a_hold_needs_distinct_lines_and_a_sane_duration() {
        let now = Utc::now();
        assert!(Reservation::open(vec![], Duration::minutes(5), None, now).is_err());
        assert!(Reservation::open(vec![line("A", 1), line("A", 2)], Duration::minutes(5), None, now).is_err());
        assert!(Reservation::open(vec![line("A", 1)], Duration::days(2), None, now).is_err());
        assert!(Reservation::open(vec![line("A", 1)], Duration::zero(), None, now).is_err());
    }

    #[test]
    fn a_reservation_closes_once() {
        let now = Utc::now();
        let mut reservation = Reservation::open(vec![line("A", 1)], Duration::minutes(5), None, now).unwrap();
        reservation.commit(now).unwrap();
        assert!(matches!(
            reservation.release(false),
            Err(InventoryError::ReservationClosed {
                status: "COMMITTED",
                ..
            })
        ));
    }

    #[test]
    fn an_expired_hold_cannot_be_committed() {
        let now = Utc::now();
        let mut reservation = Reservation::open(vec![line("A", 1)], Duration::seconds(1), None, now).unwrap();
        assert!(matches!(
            reservation.commit(now + Duration::seconds(2)),
            Err(InventoryError::ReservationExpired(_))
        ));
        reservation.release(true).unwrap();
        assert_eq!(reservation.status, ReservationStatus::Expired);
    }
}
