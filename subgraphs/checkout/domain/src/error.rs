//! What Checkout refuses.

use kernel::{Classify, ErrorKind};

use crate::CheckoutId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A cancellation of a checkout that did not complete.
    #[error("checkout {id} is {status}: only a completed checkout's order can be canceled")]
    NotCancelable { id: CheckoutId, status: &'static str },
    /// Staff asked to resume or resolve a checkout that is not waiting for them.
    #[error("checkout {id} is {status}: {action}")]
    NotForStaff {
        id: CheckoutId,
        status: &'static str,
        action: &'static str,
    },
}

impl Classify for CheckoutError {
    fn kind(&self) -> ErrorKind {
        match self {
            CheckoutError::Invalid { .. } => ErrorKind::BadUserInput,
            CheckoutError::NotCancelable { .. } | CheckoutError::NotForStaff { .. } => ErrorKind::Conflict,
        }
    }
}
