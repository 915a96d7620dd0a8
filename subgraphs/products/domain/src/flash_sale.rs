//! Flash sales: a timed price override. An ADMIN schedules a lower price for a published
//! product between two instants. While the sale runs, the product's price is the sale
//! price (a price change like any other, so carts and checkouts follow it); when it
//! ends, on time or early, the price the product had before comes back.
//!
//! A product has at most one sale scheduled or running, and its price is not changed by
//! hand while a sale runs: the service refuses both.

use chrono::{DateTime, Duration, Utc};
use kernel::Money;
use serde::{Deserialize, Serialize};

use crate::product::{Product, ProductStatus};
use crate::{ProductError, ProductEvent, ProductId};

kernel::typed_id!(FlashSaleId, "flash sale");

/// The longest a sale may run.
pub const MAX_DURATION: Duration = Duration::days(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlashSaleStatus {
    Scheduled,
    Active,
    Ended,
    /// Ended before it started.
    Canceled,
}

impl FlashSaleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlashSaleStatus::Scheduled => "SCHEDULED",
            FlashSaleStatus::Active => "ACTIVE",
            FlashSaleStatus::Ended => "ENDED",
            FlashSaleStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "SCHEDULED" => Some(FlashSaleStatus::Scheduled),
            "ACTIVE" => Some(FlashSaleStatus::Active),
            "ENDED" => Some(FlashSaleStatus::Ended),
            "CANCELED" => Some(FlashSaleStatus::Canceled),
            _ => None,
        }
    }

    /// Scheduled or running: the product is taken (at most one such sale each).
    pub const OPEN: [FlashSaleStatus; 2] = [FlashSaleStatus::Scheduled, FlashSaleStatus::Active];
}

/// A flash sale as stored and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashSale {
    pub id: FlashSaleId,
    pub product_id: ProductId,
    pub price: Money,
    /// The product's price when the sale started, restored when it ends.
    pub regular_price: Option<Money>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: FlashSaleStatus,
    pub ended_at: Option<DateTime<Utc>>,
}

impl FlashSale {
    /// A sale of `product` at `price` from `starts_at` (now, if earlier) to `ends_at`.
    ///
    /// # Errors
    /// A product that is not published, a price in another currency or not below the
    /// product's, an empty, past or over-long window.
    pub fn schedule(
        product: &Product,
        price: Money,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, ProductError> {
        let state = product.state();
        if state.status != ProductStatus::Published {
            return Err(ProductError::InvalidTransition {
                from: state.status.as_str(),
                action: "put on sale",
            });
        }
        if price.currency() != state.price.currency() {
            return Err(ProductError::CurrencyMismatch {
                expected: state.price.currency(),
                got: price.currency(),
            });
        }
        if price.is_negative() {
            return Err(ProductError::invalid("price", "must not be negative"));
        }
        if price.amount() >= state.price.amount() {
            return Err(ProductError::invalid(
                "price",
                format!(
                    "a sale price must be below the product's price of {} minor units",
                    state.price.amount()
                ),
            ));
        }
        let starts_at = starts_at.max(now);
        if ends_at <= starts_at {
            return Err(ProductError::invalid(
                "endsAt",
                "must be after the start and in the future",
            ));
        }
        if ends_at - starts_at > MAX_DURATION {
            return Err(ProductError::invalid("endsAt", "a flash sale lasts at most 7 days"));
        }
        Ok(Self {
            id: FlashSaleId::new(),
            product_id: state.id,
            price,
            regular_price: None,
            starts_at,
            ends_at,
            status: FlashSaleStatus::Scheduled,
            ended_at: None,
        })
    }

    /// Whether the sale should be running at `now` but has not started.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.status == FlashSaleStatus::Scheduled && self.starts_at <= now
    }

    /// Whether the sale is running past its end at `now`.
    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.status == FlashSaleStatus::Active && self.ends_at <= now
    }

    /// Starts the sale: the product takes the sale price.
    ///
    /// # Errors
    /// A sale that is not scheduled, a product no longer published, or a product whose
    /// price has fallen to the sale price or below since it was scheduled.
    pub fn start(&mut self, product: &mut Product, now: DateTime<Utc>) -> Result<Vec<ProductEvent>, ProductError> {
        if self.status != FlashSaleStatus::Scheduled {
            return Err(self.refuse("start"));
        }
        let state = product.state();
        if state.status != ProductStatus::Published {
            return Err(ProductError::InvalidTransition {
                from: state.status.as_str(),
                action: "put on sale",
            });
        }
        let regular_price = state.price;
        if self.price.amount() >= regular_price.amount() {
            return Err(ProductError::invalid(
                "price",
                "the product's price is already this low",
            ));
        }
        let price_changed = product.change_price(self.price, now)?;
        self.status = FlashSaleStatus::Active;
        self.regular_price = Some(regular_price);
        let mut events = vec![ProductEvent::FlashSaleStarted {
            sale_id: self.id,
            product_id: self.product_id,
            sale_price: self.price,
            regular_price,
            starts_at: now,
            ends_at: self.ends_at,
        }];
        events.extend(price_changed);
        Ok(events)
    }

    /// Ends the sale: a running one gives the product its regular price back; a
    /// scheduled one is canceled. `product` is required for a running sale.
    ///
    /// # Errors
    /// A sale that has already ended.
    pub fn end(&mut self, product: &mut Product, now: DateTime<Utc>) -> Result<Vec<ProductEvent>, ProductError> {
        let mut events = Vec::new();
        let restored = match self.status {
            FlashSaleStatus::Scheduled => {
                self.status = FlashSaleStatus::Canceled;
                None
            }
            FlashSaleStatus::Active => {
                let regular = self.regular_price.unwrap_or(self.price);
                events.extend(product.change_price(regular, now)?);
                self.status = FlashSaleStatus::Ended;
                Some(regular)
            }
            FlashSaleStatus::Ended | FlashSaleStatus::Canceled => return Err(self.refuse("end")),
        };
        self.ended_at = Some(now);
        events.insert(
            0,
            ProductEvent::FlashSaleEnded {
                sale_id: self.id,
                product_id: self.product_id,
                sale_price: self.price,
                restored_price: restored,
                ended_at: now,
            },
        );
        Ok(events)
    }

    fn refuse(&self, action: &'static str) -> ProductError {
        ProductError::InvalidTransition {
            from: self.status.as_str(),
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use kernel::Currency;

    use super::*;
    use crate::{Category, Description, NewProduct, NewVariant, ProductName, Sku};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn published(price: i64) -> Product {
        let command = NewProduct {
            name: ProductName::parse("Lamp").unwrap(),
            description: Description::parse("A lamp").unwrap(),
            category: Category::parse("home").unwrap(),
            attributes: vec![],
            variants: vec![NewVariant {
                sku: Sku::parse("LAMP-1").unwrap(),
                name: ProductName::parse("Lamp").unwrap(),
                attributes: vec![],
            }],
            price: usd(price),
            tax_category: kernel::TaxCategory::Standard,
        };
        let (mut product, _) = Product::create(command, Utc::now()).unwrap();
        product.publish(Utc::now()).unwrap();
        product
    }

    #[test]
    fn a_running_sale_lowers_the_price_and_its_end_restores_it() {
        let now = Utc::now();
        let mut product = published(1000);
        let mut sale = FlashSale::schedule(&product, usd(600), now, now + Duration::hours(1), now).unwrap();
        assert!(sale.is_due(now));

        let started = sale.start(&mut product, now).unwrap();
        assert_eq!(product.state().price, usd(600));
        assert_eq!(sale.status, FlashSaleStatus::Active);
        let types: Vec<&str> = started.iter().map(kernel::DomainEvent::event_type).collect();
        assert_eq!(types, [ProductEvent::FLASH_SALE_STARTED, ProductEvent::PRICE_CHANGED]);
        assert!(!sale.is_over(now));
        assert!(sale.is_over(now + Duration::hours(1)));

        let ended = sale.end(&mut product, now + Duration::hours(1)).unwrap();
        assert_eq!(product.state().price, usd(1000));
        assert_eq!(sale.status, FlashSaleStatus::Ended);
        let types: Vec<&str> = ended.iter().map(kernel::DomainEvent::event_type).collect();
        assert_eq!(types, [ProductEvent::FLASH_SALE_ENDED, ProductEvent::PRICE_CHANGED]);
        assert!(sale.end(&mut product, now).is_err(), "ends once");
    }

    #[test]
    fn a_sale_ended_before_it_started_is_canceled_and_the_price_never_moved() {
        let now = Utc::now();
        let mut product = published(1000);
        let mut sale = FlashSale::schedule(
            &product,
            usd(600),
            now + Duration::hours(1),
            now + Duration::hours(2),
            now,
        )
        .unwrap();
        assert!(!sale.is_due(now));
        let events = sale.end(&mut product, now).unwrap();
        assert_eq!(sale.status, FlashSaleStatus::Canceled);
        assert_eq!(product.state().price, usd(1000));
        assert_eq!(events.len(), 1);
        assert!(sale.start(&mut product, now + Duration::hours(1)).is_err());
    }

    #[test]
    fn a_sale_must_be_cheaper_short_future_and_on_a_published_product() {
        let now = Utc::now();
        let product = published(1000);
        let hour = Duration::hours(1);
        let refused = [
            FlashSale::schedule(&product, usd(1000), now, now + hour, now),
            FlashSale::schedule(&product, usd(-1), now, now + hour, now),
            FlashSale::schedule(
                &product,
                Money::new(500, Currency::parse("EUR").unwrap()),
                now,
                now + hour,
                now,
            ),
            FlashSale::schedule(&product, usd(500), now, now - hour, now),
            FlashSale::schedule(&product, usd(500), now - hour * 2, now - hour, now),
            FlashSale::schedule(&product, usd(500), now, now + Duration::days(8), now),
        ];
        for result in refused {
            assert!(result.is_err(), "{result:?}");
        }
        let (draft, _) = Product::create(draft_command(), now).unwrap();
        assert!(matches!(
            FlashSale::schedule(&draft, usd(500), now, now + hour, now),
            Err(ProductError::InvalidTransition { .. })
        ));
        // A start in the past starts now.
        let sale = FlashSale::schedule(&product, usd(500), now - hour, now + hour, now).unwrap();
        assert_eq!(sale.starts_at, now);
    }

    fn draft_command() -> NewProduct {
        NewProduct {
            name: ProductName::parse("Draft").unwrap(),
            description: Description::parse("Not yet").unwrap(),
            category: Category::parse("home").unwrap(),
            attributes: vec![],
            variants: vec![NewVariant {
                sku: Sku::parse("DRAFT-1").unwrap(),
                name: ProductName::parse("Draft").unwrap(),
                attributes: vec![],
            }],
            price: usd(1000),
            tax_category: kernel::TaxCategory::Standard,
        }
    }
}
