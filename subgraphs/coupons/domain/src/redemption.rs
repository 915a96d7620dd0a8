//! One use of a coupon, and how it closes.

use chrono::{DateTime, Utc};
use kernel::Money;

use crate::{Coupon, CouponCode, CouponError, CouponId, RedemptionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedemptionStatus {
    Reserved,
    Committed,
    Released,
    /// Committed, and then its paid order was canceled: the use is back.
    Returned,
}

impl RedemptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RedemptionStatus::Reserved => "RESERVED",
            RedemptionStatus::Committed => "COMMITTED",
            RedemptionStatus::Released => "RELEASED",
            RedemptionStatus::Returned => "RETURNED",
        }
    }

    /// Whether it still holds a use of its coupon.
    pub fn is_live(self) -> bool {
        matches!(self, RedemptionStatus::Reserved | RedemptionStatus::Committed)
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Reserved, Self::Committed, Self::Released, Self::Returned]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// One use of a coupon, with the discount it granted. Its status changes only by [`Redemption::commit`], [`Redemption::release`] and [`Redemption::give_back_after_cancellation`]; one read back from the store is a [`StoredRedemption`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    id: RedemptionId,
    coupon_id: CouponId,
    code: CouponCode,
    user_id: uuid::Uuid,
    order_amount: Money,
    discount: Money,
    status: RedemptionStatus,
    created_at: DateTime<Utc>,
}

/// A redemption as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRedemption {
    pub id: RedemptionId,
    pub coupon_id: CouponId,
    pub code: CouponCode,
    pub user_id: uuid::Uuid,
    pub order_amount: Money,
    pub discount: Money,
    pub status: RedemptionStatus,
    pub created_at: DateTime<Utc>,
}

impl From<StoredRedemption> for Redemption {
    fn from(stored: StoredRedemption) -> Self {
        Self {
            id: stored.id,
            coupon_id: stored.coupon_id,
            code: stored.code,
            user_id: stored.user_id,
            order_amount: stored.order_amount,
            discount: stored.discount,
            status: stored.status,
            created_at: stored.created_at,
        }
    }
}

/// What closing a redemption did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// It moved to the asked status.
    Now,
    /// It already had that status: nothing changes (a retried command).
    Already,
}

impl Redemption {
    /// A new redemption of `coupon`, holding one of its uses.
    pub(crate) fn reserved(
        id: RedemptionId,
        coupon: &Coupon,
        user_id: uuid::Uuid,
        order_amount: Money,
        discount: Money,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            coupon_id: coupon.id(),
            code: coupon.code().clone(),
            user_id,
            order_amount,
            discount,
            status: RedemptionStatus::Reserved,
            created_at: now,
        }
    }

    pub fn id(&self) -> RedemptionId {
        self.id
    }
    pub fn coupon_id(&self) -> CouponId {
        self.coupon_id
    }
    pub fn code(&self) -> &CouponCode {
        &self.code
    }
    pub fn user_id(&self) -> uuid::Uuid {
        self.user_id
    }
    pub fn order_amount(&self) -> Money {
        self.order_amount
    }
    pub fn discount(&self) -> Money {
        self.discount
    }
    pub fn status(&self) -> RedemptionStatus {
        self.status
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// # Errors
    /// When it was released.
    pub fn commit(&mut self) -> Result<Closed, CouponError> {
        match self.status {
            RedemptionStatus::Reserved => {
                self.status = RedemptionStatus::Committed;
                Ok(Closed::Now)
            }
            RedemptionStatus::Committed => Ok(Closed::Already),
            RedemptionStatus::Released | RedemptionStatus::Returned => Err(CouponError::RedemptionClosed {
                status: self.status.as_str(),
                action: "committed",
            }),
        }
    }

    /// Releasing gives the use back to the coupon (the caller does that on `Now`).
    ///
    /// # Errors
    /// When it was committed: a sold order's discount stays.
    pub fn release(&mut self) -> Result<Closed, CouponError> {
        match self.status {
            RedemptionStatus::Reserved => {
                self.status = RedemptionStatus::Released;
                Ok(Closed::Now)
            }
            RedemptionStatus::Released => Ok(Closed::Already),
            RedemptionStatus::Committed | RedemptionStatus::Returned => Err(CouponError::RedemptionClosed {
                status: self.status.as_str(),
                action: "released",
            }),
        }
    }

    /// The paid order was canceled: a committed redemption gives its use back (the
    /// caller does that on `Now`).
    ///
    /// # Errors
    /// When it was never committed: a reserved one is released instead.
    pub fn give_back_after_cancellation(&mut self) -> Result<Closed, CouponError> {
        match self.status {
            RedemptionStatus::Committed => {
                self.status = RedemptionStatus::Returned;
                Ok(Closed::Now)
            }
            RedemptionStatus::Returned => Ok(Closed::Already),
            RedemptionStatus::Reserved | RedemptionStatus::Released => Err(CouponError::RedemptionClosed {
                status: self.status.as_str(),
                action: "returned",
            }),
        }
    }
}
