//! What Orders refuses.

use kernel::{Classify, ErrorKind, MoneyError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("an order cannot go from {from} to {to}")]
    Transition { from: &'static str, to: &'static str },
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A return that the order or the return's state does not allow now.
    #[error("{0}")]
    NotReturnable(String),
}

impl OrderError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        OrderError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl Classify for OrderError {
    fn kind(&self) -> ErrorKind {
        match self {
            OrderError::Transition { .. } | OrderError::NotReturnable(_) => ErrorKind::Conflict,
            OrderError::Invalid { .. } | OrderError::Money(_) => ErrorKind::BadUserInput,
        }
    }
}
