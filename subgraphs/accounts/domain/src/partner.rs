//! Partner applications: shops and services that call our API through the gateway with
//! an access token of their own.

use crate::AccountError;

/// A partner's name: 2 to 40 of `a-z`, `0-9` and `-`. It names the partner's manifest
/// of operations and is the `client` claim of its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerName(String);

impl PartnerName {
    pub fn parse(value: &str) -> Result<Self, AccountError> {
        let valid = (2..=40).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(AccountError::invalid("partner", "is not 2 to 40 of a-z, 0-9 and -"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_names_are_short_lower_case_slugs() {
        assert_eq!(PartnerName::parse("acme-2").unwrap().as_str(), "acme-2");
        for bad in ["a", "Acme", "acme corp", "acme/../web", &"x".repeat(41), ""] {
            assert!(PartnerName::parse(bad).is_err(), "{bad}");
        }
    }
}
