//! What Cart's rules refuse.

use kernel::{Classify, ErrorKind, MoneyError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("SKU {0} is not in the cart")]
    NotInCart(String),
    #[error("the cart is {0}: it can no longer change")]
    Closed(&'static str),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl Classify for CartError {
    fn kind(&self) -> ErrorKind {
        match self {
            CartError::NotInCart(_) => ErrorKind::NotFound,
            CartError::Closed(_) => ErrorKind::Conflict,
            CartError::Invalid { .. } | CartError::Money(_) => ErrorKind::BadUserInput,
        }
    }
}
