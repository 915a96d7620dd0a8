//! The Coupons context: discount coupons with their rules, and redemptions.
//!
//! A redemption is a recorded row with the discount it granted, reserved during a
//! checkout and then committed or released; the discount is never recalculated
//! afterwards. A coupon counts its live redemptions (reserved or committed) so its
//! limits hold however many checkouts race for the last use.

use chrono::{DateTime, Utc};
use kernel::{Classify, DomainEvent, ErrorKind, Money, typed_id};
use serde::{Deserialize, Serialize};

typed_id!(CouponId, "coupon");
typed_id!(RedemptionId, "redemption");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CouponError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("coupon {0} does not exist")]
    NotFound(String),
    #[error("coupon {0} is not valid yet")]
    NotYetValid(String),
    #[error("coupon {0} has expired")]
    Expired(String),
    #[error("coupon {0} is no longer active")]
    Inactive(String),
    #[error("coupon {0} has no uses left")]
    Exhausted(String),
    #[error("coupon {code} may be used {limit} times per customer")]
    UserLimitReached { code: String, limit: u32 },
    #[error("coupon {code} needs an order of at least {minimum}")]
    MinimumNotMet { code: String, minimum: Money },
    #[error("coupon {code} is in {coupon}, the order in {order}")]
    CurrencyMismatch {
        code: String,
        coupon: String,
        order: String,
    },
    #[error("redemption is {status}: it cannot be {action}")]
    RedemptionClosed { status: &'static str, action: &'static str },
}

impl CouponError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CouponError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl Classify for CouponError {
    fn kind(&self) -> ErrorKind {
        match self {
            CouponError::NotFound(_) => ErrorKind::NotFound,
            CouponError::Exhausted(_) | CouponError::UserLimitReached { .. } | CouponError::RedemptionClosed { .. } => {
                ErrorKind::Conflict
            }
            _ => ErrorKind::BadUserInput,
        }
    }
}

/// A coupon code: 3 to 32 of A-Z, 0-9, `-` and `_`, kept upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CouponCode(String);

impl CouponCode {
    /// # Errors
    /// When the code is too short, too long or has other characters.
    pub fn parse(value: &str) -> Result<Self, CouponError> {
        let code = value.trim().to_ascii_uppercase();
        let valid = (3..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(code))
        } else {
            Err(CouponError::invalid("code", "3 to 32 letters, digits, `-` or `_`"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a coupon takes off an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// Hundredths of a percent: 1,000 is 10 %.
    Percentage { basis_points: u32 },
    /// A fixed amount, never more than the order.
    Fixed(Money),
}

impl Discount {
    /// # Errors
    /// A percentage outside 0.01 %–100 %, a fixed amount that is not positive.
    pub fn validate(self) -> Result<Self, CouponError> {
        match self {
            Discount::Percentage { basis_points } if !(1..=10_000).contains(&basis_points) => Err(
                CouponError::invalid("percentage", "between 0.01 % and 100 % (1 to 10,000 basis points)"),
            ),
            Discount::Fixed(amount) if amount.amount() <= 0 => {
                Err(CouponError::invalid("amount", "a fixed discount must be positive"))
            }
            discount => Ok(discount),
        }
    }

    /// The discount on `order`: rounded down, never more than the order.
    pub fn on(self, order: Money) -> Money {
        let amount = match self {
            Discount::Percentage { basis_points } => {
                i64::try_from(i128::from(order.amount()) * i128::from(basis_points) / 10_000).unwrap_or(i64::MAX)
            }
            Discount::Fixed(fixed) => fixed.amount().min(order.amount()),
        };
        Money::new(amount.max(0), order.currency())
    }
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub id: CouponId,
    pub code: CouponCode,
    pub discount: Discount,
    pub rules: CouponRules,
    /// Redemptions reserved or committed.
    pub uses: u32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl Coupon {
    /// # Errors
    /// An invalid discount, a window that ends before it starts, a zero limit, or
    /// currencies that differ between a fixed discount and the minimum order.
    pub fn create(
        code: CouponCode,
        discount: Discount,
        rules: CouponRules,
        now: DateTime<Utc>,
    ) -> Result<Self, CouponError> {
        let discount = discount.validate()?;
        if rules.valid_until.is_some_and(|until| until <= rules.valid_from) {
            return Err(CouponError::invalid("validUntil", "must be after validFrom"));
        }
        if rules.max_uses == Some(0) || rules.max_uses_per_user == Some(0) {
            return Err(CouponError::invalid("maxUses", "a limit must allow at least one use"));
        }
        if let (Discount::Fixed(fixed), Some(minimum)) = (discount, rules.minimum_order)
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
        let coupon_currency = match (self.discount, self.rules.minimum_order) {
            (Discount::Fixed(fixed), _) => Some(fixed.currency()),
            (_, Some(minimum)) => Some(minimum.currency()),
            _ => None,
        };
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
        Ok(Redemption {
            id,
            coupon_id: self.id,
            code: self.code.clone(),
            user_id,
            order_amount: order,
            discount,
            status: RedemptionStatus::Reserved,
            created_at: now,
        })
    }

    /// A released redemption gives its use back.
    pub fn give_back(&mut self) {
        self.uses = self.uses.saturating_sub(1);
    }
}

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

/// One use of a coupon, with the discount it granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub id: RedemptionId,
    pub coupon_id: CouponId,
    pub code: CouponCode,
    pub user_id: uuid::Uuid,
    pub order_amount: Money,
    pub discount: Money,
    pub status: RedemptionStatus,
    pub created_at: DateTime<Utc>,
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

/// The events Coupons publishes (contracts, v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CouponEvent {
    Created { coupon_id: CouponId, code: String },
    RedemptionReserved(Redemption),
    RedemptionCommitted(Redemption),
    RedemptionReleased(Redemption),
    RedemptionReturned(Redemption),
}

impl CouponEvent {
    pub const CREATED: &'static str = "ecommerce.coupons.coupon.created.v1";
    pub const RESERVED: &'static str = "ecommerce.coupons.redemption.reserved.v1";
    pub const COMMITTED: &'static str = "ecommerce.coupons.redemption.committed.v1";
    pub const RELEASED: &'static str = "ecommerce.coupons.redemption.released.v1";
    pub const RETURNED: &'static str = "ecommerce.coupons.redemption.returned.v1";
}

impl DomainEvent for CouponEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CouponEvent::Created { .. } => Self::CREATED,
            CouponEvent::RedemptionReserved(_) => Self::RESERVED,
            CouponEvent::RedemptionCommitted(_) => Self::COMMITTED,
            CouponEvent::RedemptionReleased(_) => Self::RELEASED,
            CouponEvent::RedemptionReturned(_) => Self::RETURNED,
        }
    }

    /// Every event of a coupon is ordered by the coupon.
    fn partition_key(&self) -> String {
        match self {
            CouponEvent::Created { coupon_id, .. } => coupon_id.to_string(),
            CouponEvent::RedemptionReserved(r)
            | CouponEvent::RedemptionCommitted(r)
            | CouponEvent::RedemptionReleased(r)
            | CouponEvent::RedemptionReturned(r) => r.coupon_id.to_string(),
        }
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            CouponEvent::Created { coupon_id, code } => serde_json::json!({ "couponId": coupon_id, "code": code }),
            CouponEvent::RedemptionReserved(r)
            | CouponEvent::RedemptionCommitted(r)
            | CouponEvent::RedemptionReleased(r)
            | CouponEvent::RedemptionReturned(r) => serde_json::json!({
                "redemptionId": r.id, "couponId": r.coupon_id, "code": r.code.as_str(), "userId": r.user_id,
                "orderAmount": r.order_amount, "discount": r.discount,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use kernel::{Currency, EventType};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn coupon(discount: Discount, rules: CouponRules) -> Coupon {
        Coupon::create(CouponCode::parse("save10").unwrap(), discount, rules, Utc::now()).unwrap()
    }

    fn open_rules() -> CouponRules {
        CouponRules {
            minimum_order: None,
            valid_from: Utc::now() - Duration::hours(1),
            valid_until: None,
            max_uses: None,
            max_uses_per_user: None,
        }
    }

    #[test]
    fn percentages_round_down_and_fixed_amounts_never_exceed_the_order() {
        assert_eq!(Discount::Percentage { basis_points: 1000 }.on(usd(1999)), usd(199));
        assert_eq!(Discount::Fixed(usd(500)).on(usd(300)), usd(300));
        assert!(Discount::Percentage { basis_points: 0 }.validate().is_err());
        assert!(Discount::Percentage { basis_points: 10_001 }.validate().is_err());
        assert!(Discount::Fixed(usd(0)).validate().is_err());
    }

    #[test]
    fn every_rule_is_checked_before_a_use_is_taken() {
        let now = Utc::now();
        let user = uuid::Uuid::now_v7();
        let mut limited = coupon(
            Discount::Percentage { basis_points: 1000 },
            CouponRules {
                minimum_order: Some(usd(1000)),
                max_uses: Some(1),
                max_uses_per_user: Some(1),
                ..open_rules()
            },
        );
        assert!(matches!(
            limited.redeem(RedemptionId::new(), user, usd(999), 0, now),
            Err(CouponError::MinimumNotMet { .. })
        ));
        assert!(matches!(
            limited.redeem(RedemptionId::new(), user, usd(5000), 1, now),
            Err(CouponError::UserLimitReached { limit: 1, .. })
        ));
        let redemption = limited.redeem(RedemptionId::new(), user, usd(5000), 0, now).unwrap();
        assert_eq!(redemption.discount, usd(500));
        assert_eq!(limited.uses, 1);
        let err = limited
            .redeem(RedemptionId::new(), user, usd(5000), 0, now)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        limited.give_back();
        assert!(limited.redeem(RedemptionId::new(), user, usd(5000), 0, now).is_ok());

        let eur = Money::new(5000, Currency::parse("EUR").unwrap());
        assert!(matches!(
            limited.quote(eur, 0, now),
            Err(CouponError::Exhausted(_)) | Err(CouponError::CurrencyMismatch { .. })
        ));
        let fixed = coupon(Discount::Fixed(usd(100)), open_rules());
        assert!(matches!(
            fixed.quote(eur, 0, now),
            Err(CouponError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn the_validity_window_is_enforced() {
        let now = Utc::now();
        let later = coupon(
            Discount::Fixed(usd(100)),
            CouponRules {
                valid_from: now + Duration::hours(1),
                ..open_rules()
            },
        );
        assert!(matches!(
            later.quote(usd(1000), 0, now),
            Err(CouponError::NotYetValid(_))
        ));
        let over = coupon(
            Discount::Fixed(usd(100)),
            CouponRules {
                valid_until: Some(now - Duration::minutes(1)),
                valid_from: now - Duration::hours(2),
                ..open_rules()
            },
        );
        assert!(matches!(over.quote(usd(1000), 0, now), Err(CouponError::Expired(_))));
    }

    #[test]
    fn redemptions_close_once_and_repeat_harmlessly() {
        let mut coupon = coupon(Discount::Fixed(usd(100)), open_rules());
        let mut redemption = coupon
            .redeem(RedemptionId::new(), uuid::Uuid::now_v7(), usd(1000), 0, Utc::now())
            .unwrap();
        assert_eq!(redemption.commit(), Ok(Closed::Now));
        assert_eq!(redemption.commit(), Ok(Closed::Already));
        assert!(redemption.release().is_err());
        // A canceled paid order gives the use back, once; then it is closed for good.
        assert_eq!(redemption.give_back_after_cancellation(), Ok(Closed::Now));
        assert_eq!(redemption.status, RedemptionStatus::Returned);
        assert!(!redemption.status.is_live());
        assert_eq!(redemption.give_back_after_cancellation(), Ok(Closed::Already));
        assert!(redemption.commit().is_err());
        assert!(redemption.release().is_err());
        // Only a committed redemption is returned: a reserved one is released.
        let mut reserved = coupon
            .redeem(RedemptionId::new(), uuid::Uuid::now_v7(), usd(1000), 0, Utc::now())
            .unwrap();
        let err = reserved.give_back_after_cancellation().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(reserved.status, RedemptionStatus::Reserved);
    }

    #[test]
    fn codes_are_normalised_and_event_names_follow_the_contract() {
        assert_eq!(CouponCode::parse(" welcome-10 ").unwrap().as_str(), "WELCOME-10");
        assert!(CouponCode::parse("no").is_err());
        assert!(CouponCode::parse("has space").is_err());
        for name in [
            CouponEvent::CREATED,
            CouponEvent::RESERVED,
            CouponEvent::COMMITTED,
            CouponEvent::RELEASED,
            CouponEvent::RETURNED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
