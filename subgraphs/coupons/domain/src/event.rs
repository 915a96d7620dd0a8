//! The events Coupons publishes.

use kernel::DomainEvent;

use crate::{CouponId, Redemption};

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
            | CouponEvent::RedemptionReturned(r) => r.coupon_id().to_string(),
        }
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            CouponEvent::Created { coupon_id, code } => serde_json::json!({ "couponId": coupon_id, "code": code }),
            CouponEvent::RedemptionReserved(r)
            | CouponEvent::RedemptionCommitted(r)
            | CouponEvent::RedemptionReleased(r)
            | CouponEvent::RedemptionReturned(r) => serde_json::json!({
                "redemptionId": r.id(), "couponId": r.coupon_id(), "code": r.code().as_str(), "userId": r.user_id(),
                "orderAmount": r.order_amount(), "discount": r.discount(),
            }),
        }
    }
}
