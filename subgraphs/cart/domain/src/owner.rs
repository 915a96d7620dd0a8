//! Whose cart it is: a signed-in customer's, or an anonymous visitor's session's.

use crate::CartError;

/// Whose cart it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    User(uuid::Uuid),
    /// An anonymous visitor's session.
    Session(SessionToken),
}

impl CartOwner {
    /// The customer who owns it; None for an anonymous session's cart.
    pub fn user_id(&self) -> Option<uuid::Uuid> {
        match self {
            CartOwner::User(id) => Some(*id),
            CartOwner::Session(_) => None,
        }
    }
}

/// The unguessable token an anonymous visitor's client keeps: 16 to 128 letters,
/// digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// # Errors
    /// A token shorter than 16 or longer than 128 characters, or with characters other
    /// than letters, digits, `-` and `_`.
    pub fn parse(value: &str) -> Result<Self, CartError> {
        let valid = (16..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(CartError::Invalid {
                field: "sessionId",
                reason: "16 to 128 letters, digits, `-` or `_`".into(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
