//! The two values every context that moves goods agrees on: which goods (a [`Sku`])
//! and how many (a [`Quantity`]). Products names SKUs, Inventory counts them, Cart,
//! Checkout and Orders carry them; the rule for each is written once, here.

use serde::{Deserialize, Serialize};

/// A value that broke its rule; `field` names the input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValueError {
    pub field: &'static str,
    pub reason: String,
}

impl crate::Classify for ValueError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::BadUserInput
    }
}

/// A stock keeping unit: 1 to 64 of `A-Z`, `0-9`, `-` and `_`, surrounding blanks
/// trimmed. Unique across the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub const MAX_LEN: usize = 64;

    /// # Errors
    /// Empty, longer than [`Sku::MAX_LEN`], or a character outside `A-Z`, `0-9`, `-`
    /// and `_`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let value = value.trim();
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValueError {
                field: "sku",
                reason: format!(
                    "`{}` is not a SKU (1 to {} of A-Z, 0-9, `-`, `_`)",
                    value.chars().take(Self::MAX_LEN).collect::<String>(),
                    Self::MAX_LEN
                ),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Sku {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> Self {
        sku.0
    }
}

/// A number of units of one SKU: 1 to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1_000_000;

    /// # Errors
    /// Below 1 or above [`Quantity::MAX`].
    pub fn new(value: i64) -> Result<Self, ValueError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ValueError {
                field: "quantity",
                reason: format!("must be between 1 and {}, got {value}", Self::MAX),
            })
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValueError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Quantity> for i64 {
    fn from(quantity: Quantity) -> Self {
        quantity.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sku_is_upper_case_letters_digits_dashes_and_underscores() {
        assert_eq!(Sku::parse("  MUG-RED_1 ").unwrap().as_str(), "MUG-RED_1");
        for bad in ["", "   ", "mug", "MUG RED", "MUG/1", "MÜG", &"A".repeat(65)] {
            let err = Sku::parse(bad).unwrap_err();
            assert_eq!(err.field, "sku", "{bad:?}");
        }
        assert!(Sku::parse(&"A".repeat(64)).is_ok());
        // Read back from JSON by the same rule.
        assert!(serde_json::from_str::<Sku>("\"MUG-1\"").is_ok());
        assert!(serde_json::from_str::<Sku>("\"mug 1\"").is_err());
        assert_eq!(
            serde_json::to_string(&Sku::parse("MUG-1").unwrap()).unwrap(),
            "\"MUG-1\""
        );
    }

    #[test]
    fn a_quantity_is_one_to_a_million() {
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(Quantity::MAX).unwrap().get(), Quantity::MAX);
        for bad in [0, -1, Quantity::MAX + 1] {
            assert_eq!(Quantity::new(bad).unwrap_err().field, "quantity");
        }
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert_eq!(serde_json::from_str::<Quantity>("3").unwrap().get(), 3);
    }
}
