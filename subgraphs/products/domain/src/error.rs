//! What the Product aggregate refuses.

use kernel::{Classify, Currency, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("SKU {0} appears twice in the product")]
    DuplicateSku(String),
    #[error("the price must be in {expected}, the product's currency, not {got}")]
    CurrencyMismatch { expected: Currency, got: Currency },
    #[error("cannot {action} a product that is {from}")]
    InvalidTransition { from: &'static str, action: &'static str },
}

impl ProductError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<kernel::ValueError> for ProductError {
    fn from(err: kernel::ValueError) -> Self {
        Self::Invalid {
            field: err.field,
            reason: err.reason,
        }
    }
}

impl Classify for ProductError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProductError::InvalidTransition { .. } => ErrorKind::Conflict,
            _ => ErrorKind::BadUserInput,
        }
    }
}
