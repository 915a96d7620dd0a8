//! A user of the shop: who they are, how they sign in, what they may do.

use chrono::{DateTime, Utc};

pub use kernel::Role;

use crate::{AccountError, AccountEvent, UserId};

/// An e-mail address, trimmed and lower-cased; the sign-in name, unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, AccountError> {
        let value = value.trim().to_lowercase();
        let valid = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && local.len() <= 64
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && !domain.contains('@')
            })
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(value))
        } else {
            Err(AccountError::invalid("email", "is not an e-mail address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name shown for a user, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(value: &str) -> Result<Self, AccountError> {
        kernel::text::printable_line(value, 100)
            .map(|value| Self(value.to_owned()))
            .ok_or_else(|| AccountError::invalid("displayName", kernel::text::printable_line_rule(100)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed at registration: 10 to 128 characters, not only spaces. It is
/// hashed at once and never stored or logged.
pub struct Password(String);

impl Password {
    pub const MIN_LENGTH: usize = 10;

    pub fn new(value: &str) -> Result<Self, AccountError> {
        let length = value.chars().count();
        if !(Self::MIN_LENGTH..=128).contains(&length) || value.trim().is_empty() {
            return Err(AccountError::invalid(
                "password",
                format!("must have {} to 128 characters", Self::MIN_LENGTH),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A password hash in PHC string form (argon2id), opaque to the domain.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    pub password_hash: PasswordHash,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    state: UserState,
}

impl User {
    /// A new account. Self-registration always makes a CUSTOMER; other roles are given
    /// by operators (`role`).
    pub fn register(
        email: Email,
        display_name: DisplayName,
        password_hash: PasswordHash,
        role: Role,
        now: DateTime<Utc>,
    ) -> (User, AccountEvent) {
        let state = UserState {
            id: UserId::new(),
            email,
            display_name,
            role,
            password_hash,
            created_at: now,
        };
        let event = AccountEvent::Registered {
            user_id: state.id,
            email: state.email.as_str().to_owned(),
            role: state.role.as_str(),
        };
        (User { state }, event)
    }

    pub fn restore(state: UserState) -> Self {
        Self { state }
    }

    pub fn state(&self) -> &UserState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@.com",
            "a b@example.com",
            "ann@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_minimum_length_and_never_print() {
        assert!(Password::new("short").is_err());
        assert!(Password::new(&" ".repeat(12)).is_err());
        assert!(Password::new(&"x".repeat(129)).is_err());
        let password = Password::new("correct horse battery").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert_eq!(
            format!("{:?}", PasswordHash::new("$argon2id$...".into())),
            "PasswordHash(***)"
        );
    }

    #[test]
    fn registration_announces_the_user_without_credentials() {
        let (user, event) = User::register(
            Email::parse("ann@example.com").unwrap(),
            DisplayName::parse("Ann").unwrap(),
            PasswordHash::new("$argon2id$hash".into()),
            Role::Customer,
            Utc::now(),
        );
        let payload = kernel::DomainEvent::payload(&event);
        assert_eq!(payload["userId"], user.state().id.to_string());
        assert_eq!(payload["role"], "CUSTOMER");
        assert!(!payload.to_string().contains("argon2"));
    }
}
