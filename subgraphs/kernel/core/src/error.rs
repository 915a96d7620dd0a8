//! How a domain error is classified for clients.
//!
//! Each context keeps its own error enums; they only say which kind they are. The
//! GraphQL edge (kernel-infra) turns the kind into `extensions.code`.

/// The kinds of failure a client can see. Each maps to one `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is malformed or breaks a rule of the domain.
    BadUserInput,
    /// The thing asked for does not exist.
    NotFound,
    /// The request is well formed but clashes with the current state.
    Conflict,
    /// The caller is known but not allowed.
    Forbidden,
    /// The caller is not known.
    Unauthenticated,
    /// Something failed that the client cannot fix.
    Internal,
}

impl ErrorKind {
    /// The `extensions.code` value that clients see.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadUserInput => "BAD_USER_INPUT",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::Forbidden => "FORBIDDEN",
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::Internal => "INTERNAL",
        }
    }
}

/// Implemented by every error that may reach a client.
pub trait Classify {
    fn kind(&self) -> ErrorKind;
}
