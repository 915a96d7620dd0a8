//! The Product aggregate: its lifecycle (DRAFT → PUBLISHED ⇄ UNPUBLISHED), its variants
//! and its current price. Every change returns the events it causes; the service
//! persists the new state and those events in one transaction.

use chrono::{DateTime, Utc};
use kernel::{Money, TaxCategory};
use serde::{Deserialize, Serialize};

use crate::event::{ProductEvent, VariantSummary};
use crate::values::{Attribute, Category, Description, NewVariant, ProductName, Variant};
use crate::{ProductError, ProductId};

/// The largest price accepted, in minor units: a guard against typos, not a business rule.
pub const MAX_PRICE_MINOR: i64 = 1_000_000_000_000;
pub const MAX_VARIANTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProductStatus {
    Draft,
    Published,
    Unpublished,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "DRAFT",
            ProductStatus::Published => "PUBLISHED",
            ProductStatus::Unpublished => "UNPUBLISHED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "DRAFT" => Some(ProductStatus::Draft),
            "PUBLISHED" => Some(ProductStatus::Published),
            "UNPUBLISHED" => Some(ProductStatus::Unpublished),
            _ => None,
        }
    }
}

/// The command to add a product to the catalog.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub name: ProductName,
    pub description: Description,
    pub category: Category,
    pub attributes: Vec<Attribute>,
    pub variants: Vec<NewVariant>,
    pub price: Money,
    /// Which of a place's tax rates applies to it.
    pub tax_category: TaxCategory,
}

/// The command to change a product's descriptive fields; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ProductUpdate {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub category: Option<Category>,
    pub attributes: Option<Vec<Attribute>>,
    pub tax_category: Option<TaxCategory>,
}

impl ProductUpdate {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.attributes.is_none()
            && self.tax_category.is_none()
    }
}

/// Everything a product is, as stored and read. Only [`Product`]'s methods change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductState {
    pub id: ProductId,
    pub name: ProductName,
    pub description: Description,
    pub category: Category,
    pub attributes: Vec<Attribute>,
    pub variants: Vec<Variant>,
    pub status: ProductStatus,
    pub price: Money,
    pub tax_category: TaxCategory,
    /// Incremented by every change; the repository's optimistic lock.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    state: ProductState,
}

fn check_price(price: Money) -> Result<(), ProductError> {
    if price.is_negative() {
        return Err(ProductError::invalid("price", "must not be negative"));
    }
    if price.amount() > MAX_PRICE_MINOR {
        return Err(ProductError::invalid(
            "price",
            format!("must be at most {MAX_PRICE_MINOR} minor units"),
        ));
    }
    Ok(())
}

impl Product {
    /// A new product in DRAFT.
    ///
    /// # Errors
    /// No or too many variants, a SKU given twice, duplicate attributes, a negative price.
    pub fn create(command: NewProduct, now: DateTime<Utc>) -> Result<(Product, ProductEvent), ProductError> {
        if command.variants.is_empty() {
            return Err(ProductError::invalid(
                "variants",
                "a product needs at least one variant",
            ));
        }
        if command.variants.len() > MAX_VARIANTS {
            return Err(ProductError::invalid(
                "variants",
                format!("at most {MAX_VARIANTS} variants"),
            ));
        }
        let mut skus: Vec<&str> = command.variants.iter().map(|v| v.sku.as_str()).collect();
        skus.sort_unstable();
        if let Some(pair) = skus.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ProductError::DuplicateSku(pair[0].to_owned()));
        }
        Attribute::check_list(&command.attributes)?;
        for variant in &command.variants {
            Attribute::check_list(&variant.attributes)?;
        }
        check_price(command.price)?;

        let variants: Vec<Variant> = command
            .variants
            .into_iter()
            .map(|v| Variant {
                sku: v.sku,
                name: v.name,
                attributes: v.attributes,
            })
            .collect();
        let state = ProductState {
            id: ProductId::new(),
            name: command.name,
            description: command.description,
            category: command.category,
            attributes: command.attributes,
            variants,
            status: ProductStatus::Draft,
            price: command.price,
            tax_category: command.tax_category,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let event = ProductEvent::Created {
            product_id: state.id,
            name: state.name.as_str().to_owned(),
            category: state.category.as_str().to_owned(),
            status: state.status.as_str().to_owned(),
            price: state.price,
            variants: state
                .variants
                .iter()
                .map(|v| VariantSummary {
                    sku: v.sku.as_str().to_owned(),
                    name: v.name.as_str().to_owned(),
                })
                .collect(),
        };
        Ok((Product { state }, event))
    }

    /// Rebuilds a product from stored state.
    pub fn restore(state: ProductState) -> Self {
        Self { state }
    }

    pub fn state(&self) -> &ProductState {
        &self.state
    }

    pub fn id(&self) -> ProductId {
        self.state.id
    }

    /// Changes descriptive fields.
    ///
    /// # Errors
    /// An empty update or duplicate attributes.
    pub fn update(&mut self, update: ProductUpdate, now: DateTime<Utc>) -> Result<ProductEvent, ProductError> {
        if update.is_empty() {
            return Err(ProductError::invalid("input", "nothing to update"));
        }
        if let Some(attributes) = &update.attributes {
            Attribute::check_list(attributes)?;
        }
        let state = &mut self.state;
        if let Some(name) = update.name {
            state.name = name;
        }
        if let Some(description) = update.description {
            state.description = description;
        }
        if let Some(category) = update.category {
            state.category = category;
        }
        if let Some(attributes) = update.attributes {
            state.attributes = attributes;
        }
        if let Some(tax_category) = update.tax_category {
            state.tax_category = tax_category;
        }
        self.touch(now);
        Ok(ProductEvent::Updated {
            product_id: self.state.id,
            name: self.state.name.as_str().to_owned(),
            description: self.state.description.as_str().to_owned(),
            category: self.state.category.as_str().to_owned(),
        })
    }

    /// Puts the product on sale.
    ///
    /// # Errors
    /// When it is already published.
    pub fn publish(&mut self, now: DateTime<Utc>) -> Result<ProductEvent, ProductError> {
        match self.state.status {
            ProductStatus::Draft | ProductStatus::Unpublished => {
                self.state.status = ProductStatus::Published;
                self.touch(now);
                Ok(ProductEvent::Published {
                    product_id: self.state.id,
                })
            }
            ProductStatus::Published => Err(self.refuse("publish")),
        }
    }

    /// Takes the product off sale.
    ///
    /// # Errors
    /// When it is not published.
    pub fn unpublish(&mut self, now: DateTime<Utc>) -> Result<ProductEvent, ProductError> {
        match self.state.status {
            ProductStatus::Published => {
                self.state.status = ProductStatus::Unpublished;
                self.touch(now);
                Ok(ProductEvent::Unpublished {
                    product_id: self.state.id,
                })
            }
            ProductStatus::Draft | ProductStatus::Unpublished => Err(self.refuse("unpublish")),
        }
    }

    /// Sets a new price from `now` on. The old price's period closes at `now`.
    /// Returns `None` when the price is unchanged: no new period, no event.
    ///
    /// # Errors
    /// Another currency than the product's, or a negative price.
    pub fn change_price(&mut self, price: Money, now: DateTime<Utc>) -> Result<Option<ProductEvent>, ProductError> {
        if price.currency() != self.state.price.currency() {
            return Err(ProductError::CurrencyMismatch {
                expected: self.state.price.currency(),
                got: price.currency(),
            });
        }
        check_price(price)?;
        if price == self.state.price {
            return Ok(None);
        }
        let old_price = self.state.price;
        self.state.price = price;
        self.touch(now);
        Ok(Some(ProductEvent::PriceChanged {
            product_id: self.state.id,
            old_price,
            new_price: price,
            valid_from: now,
        }))
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.state.version += 1;
        self.state.updated_at = now;
    }

    fn refuse(&self, action: &'static str) -> ProductError {
        ProductError::InvalidTransition {
            from: self.state.status.as_str(),
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sku;
    use kernel::Currency;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn new_product(skus: &[&str]) -> NewProduct {
        NewProduct {
            name: ProductName::parse("Phone").unwrap(),
            description: Description::parse("").unwrap(),
            category: Category::parse("electronics").unwrap(),
            attributes: vec![],
            variants: skus
                .iter()
                .map(|sku| NewVariant {
                    sku: Sku::parse(sku).unwrap(),
                    name: ProductName::parse(sku).unwrap(),
                    attributes: vec![],
                })
                .collect(),
            price: usd(999),
            tax_category: kernel::TaxCategory::Standard,
        }
    }

    #[test]
    fn a_new_product_is_a_draft_and_announces_its_variants() {
        let (product, event) = Product::create(new_product(&["P-1", "P-2"]), Utc::now()).unwrap();
        assert_eq!(product.state().status, ProductStatus::Draft);
        match event {
            ProductEvent::Created { variants, price, .. } => {
                assert_eq!(variants.len(), 2);
                assert_eq!(price, usd(999));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn skus_must_be_unique_within_a_product_and_present() {
        assert_eq!(
            Product::create(new_product(&["P-1", "P-1"]), Utc::now()).unwrap_err(),
            ProductError::DuplicateSku("P-1".into())
        );
        assert!(Product::create(new_product(&[]), Utc::now()).is_err());
    }

    #[test]
    fn lifecycle_allows_only_its_transitions() {
        let (mut product, _) = Product::create(new_product(&["P-1"]), Utc::now()).unwrap();
        assert!(matches!(
            product.unpublish(Utc::now()),
            Err(ProductError::InvalidTransition { .. })
        ));
        product.publish(Utc::now()).unwrap();
        assert!(matches!(
            product.publish(Utc::now()),
            Err(ProductError::InvalidTransition { .. })
        ));
        product.unpublish(Utc::now()).unwrap();
        product.publish(Utc::now()).unwrap();
        assert_eq!(product.state().status, ProductStatus::Published);
        assert_eq!(product.state().version, 4);
    }

    #[test]
    fn price_changes_keep_the_currency_and_skip_no_ops() {
        let (mut product, _) = Product::create(new_product(&["P-1"]), Utc::now()).unwrap();
        let eur = Money::new(500, Currency::parse("EUR").unwrap());
        assert!(matches!(
            product.change_price(eur, Utc::now()),
            Err(ProductError::CurrencyMismatch { .. })
        ));
        assert!(product.change_price(usd(-1), Utc::now()).is_err());
        assert_eq!(product.change_price(usd(999), Utc::now()).unwrap(), None);
        let event = product.change_price(usd(799), Utc::now()).unwrap().unwrap();
        assert!(
            matches!(event, ProductEvent::PriceChanged { old_price, new_price, .. } if old_price == usd(999) && new_price == usd(799))
        );
        assert_eq!(product.state().price, usd(799));
    }
}
