//! A coupon, its rules, and the uses it grants.

use chrono::{DateTime, Utc};
use kernel::Money;

use crate::{CouponCode, CouponError, CouponId, Discount, Redemption, RedemptionId};

/// The rules a coupon is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRules {
    pub minimum_order: Option<Money>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    /// Live redemptions allowed in all.
    pub max_uses: Option<u32>,
    /// Live redemptions allowed per customer.
    pub max_uses_per_user: Option<u32>,
}
/// A coupon. Its state is private: its uses change only by redeeming and giving back; one read back from the store is a [`StoredCoupon`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    id: CouponId,
    code: CouponCode,
    discount: Discount,
    rules: CouponRules,
    /// Redemptions reserved or committed.
    uses: u32,
    active: bool,
    created_at: DateTime<Utc>,
}

/// A coupon as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCoupon {
    pub id: CouponId,
    pub code: CouponCode,
    pub discount: Discount,
    pub rules: CouponRules,
    pub uses: u32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<StoredCoupon> for Coupon {
    fn from(stored: StoredCoupon) -> Self {
        Self {
            id: stored.id,
            code: stored.code,
            discount: stored.discount,
            rules: stored.rules,
            uses: stored.uses,
            active: stored.active,
            created_at: stored.created_at,
        }
    }
}

impl Coupon {
    pub fn id(&self) -> CouponId {
        self.id
    }
    pub fn code(&self) -> &CouponCode {
        &self.code
    }
    pub fn discount(&self) -> Discount {
        self.discount
    }
    pub fn rules(&self) -> &CouponRules {
        &self.rules
    }
    /// Redemptions reserved or committed.
    pub fn uses(&self) -> u32 {
        self.uses
    }
    pub fn active(&self) -> bool {
        self.active
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// # Errors
    /// An invalid discount, a window that ends before it starts, a zero limit, or
    /// currencies that differ between a fixed discount and the minimum order.
    pub fn create(
        code: CouponCode,
        discount: Discount,
        rules: CouponRules,
        now: DateTime<Utc>,
    ) -> Result<Self, CouponError> {
        if rules.valid_until.is_some_and(|until| until <= rules.valid_from) {
            return Err(CouponError::invalid("validUntil", "must be after validFrom"));
        }
        if rules.max_uses == Some(0) || rules.max_uses_per_user == Some(0) {
            return Err(CouponError::invalid("maxUses", "a limit must allow at least one use"));
        }
        if let (Some(fixed), Some(minimum)) = (discount.fixed_amount(), rules.minimum_order)
            && fixed.currency() != minimum.currency()
        {
            return Err(CouponError::invalid(
                "minimumOrder",
                "must be in the discount's currency",
            ));
        }
        if rules.minimum_order.is_some_and(|m| m.amount() < 0) {
            return Err(CouponError::invalid("minimumOrder", "cannot be negative"));
        }
        Ok(Self {
            id: CouponId::new(),
            code,
            discount,
            rules,
            uses: 0,
            active: true,
            created_at: now,
        })
    }

    /// Checks every rule for an order of `order` by a customer who already holds
    /// `user_uses` live redemptions, and returns the discount.
    ///
    /// # Errors
    /// Outside the validity window, inactive, exhausted, over the per-customer limit,
    /// below the minimum, or in another currency.
    pub fn quote(&self, order: Money, user_uses: u32, now: DateTime<Utc>) -> Result<Money, CouponError> {
        let code = || self.code.as_str().to_owned();
        if !self.active {
            return Err(CouponError::Inactive(code()));
        }
        if now < self.rules.valid_from {
            return Err(CouponError::NotYetValid(code()));
        }
        if self.rules.valid_until.is_some_and(|until| now >= until) {
            return Err(CouponError::Expired(code()));
        }
        if self.rules.max_uses.is_some_and(|max| self.uses >= max) {
            return Err(CouponError::Exhausted(code()));
        }
        if let Some(limit) = self.rules.max_uses_per_user
            && user_uses >= limit
        {
            return Err(CouponError::UserLimitReached { code: code(), limit });
        }
        let coupon_currency = self.currency();
        if let Some(currency) = coupon_currency
            && currency != order.currency()
        {
            return Err(CouponError::CurrencyMismatch {
                code: code(),
                coupon: currency.code().to_owned(),
                order: order.currency().code().to_owned(),
            });
        }
        if let Some(minimum) = self.rules.minimum_order
            && order.amount() < minimum.amount()
        {
            return Err(CouponError::MinimumNotMet { code: code(), minimum });
        }
        Ok(self.discount.on(order))
    }

    /// Takes one use for a new redemption.
    ///
    /// # Errors
    /// As [`Coupon::quote`].
    pub fn redeem(
        &mut self,
        id: RedemptionId,
        user_id: uuid::Uuid,
        order: Money,
        user_uses: u32,
        now: DateTime<Utc>,
    ) -> Result<Redemption, CouponError> {
        let discount = self.quote(order, user_uses, now)?;
        self.uses += 1;
        Ok(Redemption::reserved(id, self, user_id, order, discount, now))
    }

    /// The currency it is limited to: its fixed amount's, or else its minimum order's;
    /// None for a percentage without a minimum.
    pub fn currency(&self) -> Option<kernel::Currency> {
        self.discount
            .fixed_amount()
            .or(self.rules.minimum_order)
            .map(|m| m.currency())
    }

    /// A released redemption gives its use back.
    pub fn give_back(&mut self) {
        self.uses = self.uses.saturating_sub(1);
    }
}
