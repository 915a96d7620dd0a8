//! What Accounts refuses.

use kernel::{Classify, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Address(#[from] kernel::AddressError),
    #[error("the address book is full: it keeps {capacity} addresses")]
    AddressBookFull { capacity: usize },
    #[error("no such address in the address book")]
    UnknownAddress,
}

impl AccountError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl Classify for AccountError {
    fn kind(&self) -> ErrorKind {
        match self {
            AccountError::Invalid { .. } | AccountError::Address(_) => ErrorKind::BadUserInput,
            AccountError::AddressBookFull { .. } => ErrorKind::Conflict,
            AccountError::UnknownAddress => ErrorKind::NotFound,
        }
    }
}
