//! What Coupons' rules refuse.

use kernel::{Classify, ErrorKind, Money};

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
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
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
