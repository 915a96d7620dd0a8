//! What Accounts refuses.

use kernel::{Classify, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
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
        ErrorKind::BadUserInput
    }
}
