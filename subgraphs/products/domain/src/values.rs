//! The catalog's value objects. Each is valid once it exists.

use serde::{Deserialize, Serialize};

use crate::ProductError;

fn bounded_text(field: &'static str, value: &str, min: usize, max: usize) -> Result<String, ProductError> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length < min {
        return Err(ProductError::invalid(
            field,
            format!("must have at least {min} character(s)"),
        ));
    }
    if length > max {
        return Err(ProductError::invalid(
            field,
            format!("must have at most {max} characters, got {length}"),
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ProductError::invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, ProductError> {
                bounded_text($field, value, $min, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_value!(
    /// A product's display name, 1 to 200 characters.
    ProductName, "name", 1, 200
);
text_value!(
    /// Free text about the product, up to 5,000 characters.
    Description, "description", 0, 5000
);

/// A category path such as `electronics/phones`: lowercase words, digits, `-` and `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    pub fn parse(value: &str) -> Result<Self, ProductError> {
        let value = bounded_text("category", value, 1, 100)?;
        let valid_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/');
        if !valid_chars || value.starts_with('/') || value.ends_with('/') || value.contains("//") {
            return Err(ProductError::invalid(
                "category",
                "use lowercase words, digits, `-` and `/`, e.g. `electronics/phones`",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock keeping unit: the kernel's rule, shared with every context that moves goods.
pub use kernel::Sku;

/// A named property such as `color: red`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribute {
    name: String,
    value: String,
}

impl Attribute {
    pub fn new(name: &str, value: &str) -> Result<Self, ProductError> {
        Ok(Self {
            name: bounded_text("attribute name", name, 1, 64)?,
            value: bounded_text("attribute value", value, 0, 256)?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Checks a whole list: at most 50, names unique.
    pub fn check_list(attributes: &[Attribute]) -> Result<(), ProductError> {
        if attributes.len() > 50 {
            return Err(ProductError::invalid("attributes", "at most 50 attributes"));
        }
        let mut names: Vec<&str> = attributes.iter().map(Attribute::name).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ProductError::invalid(
                "attributes",
                format!("`{}` is given twice", pair[0]),
            ));
        }
        Ok(())
    }
}

/// A variant to be added with a new product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVariant {
    pub sku: Sku,
    pub name: ProductName,
    pub attributes: Vec<Attribute>,
}

/// A purchasable variant of a product, identified by its SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub sku: Sku,
    pub name: ProductName,
    pub attributes: Vec<Attribute>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_upper_case_codes() {
        assert_eq!(Sku::parse(" PHONE-01_B ").unwrap().as_str(), "PHONE-01_B");
        assert!(Sku::parse("phone-1").is_err());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse(&"A".repeat(65)).is_err());
        assert!(Sku::parse("A B").is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ProductName::parse("  Phone ").unwrap().as_str(), "Phone");
        assert!(ProductName::parse("   ").is_err());
        assert!(ProductName::parse(&"x".repeat(201)).is_err());
        assert!(ProductName::parse("bad\u{0}name").is_err());
    }

    #[test]
    fn categories_are_slug_paths() {
        assert!(Category::parse("electronics/phones").is_ok());
        for bad in ["Electronics", "/phones", "phones/", "a//b", "a b", ""] {
            assert!(Category::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attribute_names_are_unique() {
        let list = vec![
            Attribute::new("color", "red").unwrap(),
            Attribute::new("color", "blue").unwrap(),
        ];
        assert!(Attribute::check_list(&list).is_err());
    }
}
