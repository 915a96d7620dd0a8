//! What Payments refuses.

use kernel::{Classify, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("a payment cannot go from {from} to {to}")]
    Transition { from: &'static str, to: &'static str },
}

impl Classify for PaymentError {
    fn kind(&self) -> ErrorKind {
        match self {
            PaymentError::Invalid { .. } => ErrorKind::BadUserInput,
            PaymentError::Transition { .. } => ErrorKind::Conflict,
        }
    }
}
