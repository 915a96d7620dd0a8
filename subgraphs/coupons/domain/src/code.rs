//! A coupon's code.

use serde::{Deserialize, Serialize};

use crate::CouponError;

/// A coupon code: 3 to 32 of A-Z, 0-9, `-` and `_`, kept upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CouponCode(String);

impl CouponCode {
    /// # Errors
    /// When the code is too short, too long or has other characters.
    pub fn parse(value: &str) -> Result<Self, CouponError> {
        let code = value.trim().to_ascii_uppercase();
        let valid = (3..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(code))
        } else {
            Err(CouponError::invalid("code", "3 to 32 letters, digits, `-` or `_`"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
