//! The Search context's domain: read models built only from other contexts' events.
//!
//! - [`ProductDocument`]: a product as search sees it (`product_search_view`), kept by
//!   Products' events; its `search_text` is what text queries match.
//! - [`OrderSummary`]: a customer's order as listed (`orders_by_customer`), kept by
//!   Orders' events.
//! - [`SearchQuery`]: a validated query; [`price_range_of`] the price facet's ranges.
//!
//! Plain Rust: the service stores the documents and applies the events.

use chrono::{DateTime, SubsecRound, Utc};
use kernel::{Classify, Currency, ErrorKind, Money};
use serde::Deserialize;

/// The event types the read models are built from.
pub mod events {
    pub const PRODUCT_CREATED: &str = "ecommerce.product.product.created.v1";
    pub const PRODUCT_UPDATED: &str = "ecommerce.product.product.updated.v1";
    pub const PRODUCT_PUBLISHED: &str = "ecommerce.product.product.published.v1";
    pub const PRODUCT_UNPUBLISHED: &str = "ecommerce.product.product.unpublished.v1";
    pub const PRICE_CHANGED: &str = "ecommerce.product.product.price_changed.v1";
    pub const ORDER_CREATED: &str = "ecommerce.orders.order.created.v1";
    pub const ORDER_STATUS_CHANGED: &str = "ecommerce.orders.order.status_changed.v1";
    /// The moves v1 cannot name (PARTIALLY_REFUNDED), in the same shape.
    pub const ORDER_STATUS_CHANGED_V2: &str = "ecommerce.orders.order.status_changed.v2";
    pub const RETURN_REQUESTED: &str = "ecommerce.orders.return.requested.v1";
    pub const RETURN_REFUSED: &str = "ecommerce.orders.return.refused.v1";
    pub const RETURN_REFUNDED: &str = "ecommerce.orders.return.refunded.v1";

    pub const PRODUCT_EVENTS: [&str; 5] = [
        PRODUCT_CREATED,
        PRODUCT_UPDATED,
        PRODUCT_PUBLISHED,
        PRODUCT_UNPUBLISHED,
        PRICE_CHANGED,
    ];
    pub const ORDER_EVENTS: [&str; 6] = [
        ORDER_CREATED,
        ORDER_STATUS_CHANGED,
        ORDER_STATUS_CHANGED_V2,
        RETURN_REQUESTED,
        RETURN_REFUSED,
        RETURN_REFUNDED,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Classify for SearchError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::BadUserInput
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SearchError {
    SearchError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A product as search sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDocument {
    pub product_id: uuid::Uuid,
    pub name: String,
    pub description: String,
    pub category: String,
    pub status: String,
    pub price: Money,
    pub skus: Vec<String>,
}

impl ProductDocument {
    /// The status of the products a search finds: published ones only.
    pub const SEARCHABLE_STATUS: &'static str = "PUBLISHED";

    pub fn is_searchable(&self) -> bool {
        self.status == Self::SEARCHABLE_STATUS
    }

    /// The words a text query matches: name, description, category and SKUs, lower
    /// case, each once, separated by single spaces and framed by one.
    pub fn search_text(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        let sources = [self.name.as_str(), self.description.as_str(), self.category.as_str()];
        for word in sources
            .into_iter()
            .chain(self.skus.iter().map(String::as_str))
            .flat_map(words_of)
        {
            if !words.contains(&word) {
                words.push(word);
            }
        }
        format!(" {} ", words.join(" "))
    }
}

/// Lower-case words of `text`: runs of letters and digits.
pub fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What a product event changes in its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductChange {
    Created(ProductDocument),
    Described {
        product_id: uuid::Uuid,
        name: String,
        description: String,
        category: String,
    },
    Status {
        product_id: uuid::Uuid,
        status: &'static str,
    },
    Priced {
        product_id: uuid::Uuid,
        price: Money,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    product_id: uuid::Uuid,
    name: String,
    category: String,
    status: String,
    price: Money,
    variants: Vec<CreatedVariant>,
}

#[derive(Deserialize)]
struct CreatedVariant {
    sku: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Described {
    product_id: uuid::Uuid,
    name: String,
    description: String,
    category: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductOnly {
    product_id: uuid::Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Priced {
    product_id: uuid::Uuid,
    new_price: Money,
}

impl ProductChange {
    /// The change a product event makes; `None` for other events.
    ///
    /// # Errors
    /// A payload that does not match its contract.
    pub fn from_event(event_type: &str, payload: &serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        Ok(Some(match event_type {
            events::PRODUCT_CREATED => {
                let c: Created = serde_json::from_value(payload.clone())?;
                ProductChange::Created(ProductDocument {
                    product_id: c.product_id,
                    name: c.name,
                    description: String::new(),
                    category: c.category,
                    status: c.status,
                    price: c.price,
                    skus: c.variants.into_iter().map(|v| v.sku).collect(),
                })
            }
            events::PRODUCT_UPDATED => {
                let d: Described = serde_json::from_value(payload.clone())?;
                ProductChange::Described {
                    product_id: d.product_id,
                    name: d.name,
                    description: d.description,
                    category: d.category,
                }
            }
            events::PRODUCT_PUBLISHED | events::PRODUCT_UNPUBLISHED => {
                let p: ProductOnly = serde_json::from_value(payload.clone())?;
                let status = if event_type == events::PRODUCT_PUBLISHED {
                    "PUBLISHED"
                } else {
                    "UNPUBLISHED"
                };
                ProductChange::Status {
                    product_id: p.product_id,
                    status,
                }
            }
            events::PRICE_CHANGED => {
                let p: Priced = serde_json::from_value(payload.clone())?;
                ProductChange::Priced {
                    product_id: p.product_id,
                    price: p.new_price,
                }
            }
            _ => return Ok(None),
        }))
    }

    pub fn product_id(&self) -> uuid::Uuid {
        match self {
            ProductChange::Created(document) => document.product_id,
            ProductChange::Described { product_id, .. }
            | ProductChange::Status { product_id, .. }
            | ProductChange::Priced { product_id, .. } => *product_id,
        }
    }

    /// The document after the change; `None` when a change arrives for a product
    /// never created (nothing to change).
    pub fn apply(self, current: Option<ProductDocument>) -> Option<ProductDocument> {
        match (self, current) {
            (ProductChange::Created(document), _) => Some(document),
            (_, None) => None,
            (
                ProductChange::Described {
                    name,
                    description,
                    category,
                    ..
                },
                Some(document),
            ) => Some(ProductDocument {
                name,
                description,
                category,
                ..document
            }),
            (ProductChange::Status { status, .. }, Some(document)) => Some(ProductDocument {
                status: status.to_owned(),
                ..document
            }),
            (ProductChange::Priced { price, .. }, Some(document)) => Some(ProductDocument { price, ..document }),
        }
    }
}

/// A customer's order as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub order_id: uuid::Uuid,
    pub customer_id: uuid::Uuid,
    pub status: String,
    pub total: Money,
    pub item_count: i64,
    pub placed_at: DateTime<Utc>,
    /// Returns asked for and not refused.
    pub returns: i64,
    /// What its returns refunded, in the order's currency.
    pub refunded: Money,
}

/// What an order event changes in its summary. An order's events share its partition
/// key, so its creation comes first: a status change for an order never seen changes
/// nothing, and a creation seen again keeps the status reached since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderChange {
    /// The summary of the order as placed.
    Placed(OrderSummary),
    /// The order's status only.
    Status { order_id: uuid::Uuid, status: String },
    /// A return was asked for (+1) or refused (−1).
    Returns { order_id: uuid::Uuid, change: i64 },
    /// A return was refunded: its refund adds to the order's.
    Refunded { order_id: uuid::Uuid, refund: Money },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReturnEvent {
    order_id: uuid::Uuid,
    refund: Money,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderCreated {
    order_id: uuid::Uuid,
    user_id: uuid::Uuid,
    items: Vec<OrderCreatedItem>,
    total: Money,
}

#[derive(Deserialize)]
struct OrderCreatedItem {
    quantity: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusChanged {
    order_id: uuid::Uuid,
    to: String,
}

impl OrderChange {
    /// The change an order event makes; `None` for other events. `occurred_at` is
    /// the event's time, the order's placing time for `order.created`.
    ///
    /// # Errors
    /// A payload that does not match its contract.
    pub fn from_event(
        event_type: &str,
        payload: &serde_json::Value,
        occurred_at: DateTime<Utc>,
    ) -> Result<Option<Self>, serde_json::Error> {
        Ok(Some(match event_type {
            events::ORDER_CREATED => {
                let c: OrderCreated = serde_json::from_value(payload.clone())?;
                OrderChange::Placed(OrderSummary {
                    order_id: c.order_id,
                    customer_id: c.user_id,
                    // order.created comes with the order in PENDING.
                    status: "PENDING".to_owned(),
                    total: c.total,
                    item_count: c.items.iter().map(|i| i.quantity).sum(),
                    // Microseconds: what every store keeps, so a replay into another
                    // store compares equal.
                    placed_at: occurred_at.trunc_subsecs(6),
                    returns: 0,
                    refunded: Money::zero(c.total.currency()),
                })
            }
            events::RETURN_REQUESTED | events::RETURN_REFUSED => {
                let r: ReturnEvent = serde_json::from_value(payload.clone())?;
                OrderChange::Returns {
                    order_id: r.order_id,
                    change: if event_type == events::RETURN_REQUESTED { 1 } else { -1 },
                }
            }
            events::RETURN_REFUNDED => {
                let r: ReturnEvent = serde_json::from_value(payload.clone())?;
                OrderChange::Refunded {
                    order_id: r.order_id,
                    refund: r.refund,
                }
            }
            events::ORDER_STATUS_CHANGED | events::ORDER_STATUS_CHANGED_V2 => {
                let s: StatusChanged = serde_json::from_value(payload.clone())?;
                // An order is PENDING only when placed, which order.created says.
                if s.to == "PENDING" {
                    return Ok(None);
                }
                OrderChange::Status {
                    order_id: s.order_id,
                    status: s.to,
                }
            }
            _ => return Ok(None),
        }))
    }
}

/// A validated product search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    /// Lower-case words that must all occur (as word prefixes).
    pub words: Vec<String>,
    pub category: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub currency: Option<Currency>,
}

pub const MAX_QUERY_LENGTH: usize = 200;
pub const MAX_QUERY_WORDS: usize = 10;

impl SearchQuery {
    /// # Errors
    /// Text over 200 characters or 10 words, a negative or inverted price range.
    pub fn parse(
        text: Option<&str>,
        category: Option<&str>,
        min_price: Option<i64>,
        max_price: Option<i64>,
        currency: Option<Currency>,
    ) -> Result<Self, SearchError> {
        let text = text.unwrap_or("");
        if text.chars().count() > MAX_QUERY_LENGTH {
            return Err(invalid("text", format!("at most {MAX_QUERY_LENGTH} characters")));
        }
        let mut words = words_of(text);
        words.dedup();
        if words.len() > MAX_QUERY_WORDS {
            return Err(invalid("text", format!("at most {MAX_QUERY_WORDS} words")));
        }
        if min_price.is_some_and(|p| p < 0) || max_price.is_some_and(|p| p < 0) {
            return Err(invalid("price", "must not be negative"));
        }
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            return Err(invalid("minPrice", "must not be above maxPrice"));
        }
        let category = category.map(str::trim).filter(|c| !c.is_empty()).map(str::to_lowercase);
        Ok(Self {
            words,
            category,
            min_price,
            max_price,
            currency,
        })
    }
}

/// The price facet's ranges, in minor units: [0, 10.00), [10.00, 25.00), … [500.00, ∞).
pub const PRICE_RANGES: [(i64, Option<i64>); 7] = [
    (0, Some(1_000)),
    (1_000, Some(2_500)),
    (2_500, Some(5_000)),
    (5_000, Some(10_000)),
    (10_000, Some(25_000)),
    (25_000, Some(50_000)),
    (50_000, None),
];

/// The range of [`PRICE_RANGES`] that holds `amount`.
pub fn price_range_of(amount: i64) -> (i64, Option<i64>) {
    PRICE_RANGES
        .into_iter()
        .find(|(min, max)| amount >= *min && max.is_none_or(|max| amount < max))
        .unwrap_or(PRICE_RANGES[0])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    #[test]
    fn product_events_build_the_document_in_any_later_order() {
        let id = uuid::Uuid::now_v7();
        let created = json!({ "productId": id, "name": "Blue Lamp", "category": "home/lighting",
            "status": "DRAFT", "price": { "amount": 1999, "currency": "USD" }, "variants": [{ "sku": "LAMP-B", "name": "Blue" }] });
        let document = ProductChange::from_event(events::PRODUCT_CREATED, &created)
            .unwrap()
            .unwrap()
            .apply(None)
            .unwrap();
        assert!(!document.is_searchable());
        let published = json!({ "productId": id });
        let priced = json!({ "productId": id, "oldPrice": { "amount": 1999, "currency": "USD" },
            "newPrice": { "amount": 1499, "currency": "USD" }, "validFrom": "2026-11-22T00:00:00Z" });
        let mut current = Some(document);
        for (event_type, payload) in [
            (events::PRODUCT_PUBLISHED, &published),
            (events::PRICE_CHANGED, &priced),
        ] {
            let change = ProductChange::from_event(event_type, payload).unwrap().unwrap();
            assert_eq!(change.product_id(), id);
            current = change.apply(current);
        }
        let document = current.unwrap();
        assert!(document.is_searchable());
        assert_eq!(document.price, usd(1499));
        assert_eq!(document.search_text(), " blue lamp home lighting b ");
        // A change for a product never created changes nothing.
        let orphan =
            ProductChange::from_event(events::PRODUCT_PUBLISHED, &json!({ "productId": uuid::Uuid::now_v7() }));
        assert_eq!(orphan.unwrap().unwrap().apply(None), None);
        assert_eq!(
            ProductChange::from_event("ecommerce.orders.order.paid.v1", &json!({})).unwrap(),
            None
        );
    }

    #[test]
    fn order_events_read_as_the_summary_placed_or_a_status() {
        let (order, customer) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let now = Utc::now();
        let created = json!({ "orderId": order, "userId": customer, "total": { "amount": 500, "currency": "USD" },
            "items": [{ "quantity": 2 }, { "quantity": 1 }], "discount": null, "couponCode": null });
        let paid =
            json!({ "orderId": order, "userId": customer, "from": "AWAITING_PAYMENT", "to": "PAID", "reason": null });
        let Some(OrderChange::Placed(summary)) = OrderChange::from_event(events::ORDER_CREATED, &created, now).unwrap()
        else {
            panic!("order.created places an order");
        };
        assert_eq!((summary.status.as_str(), summary.item_count), ("PENDING", 3));
        assert_eq!((summary.order_id, summary.customer_id), (order, customer));
        assert_eq!(
            OrderChange::from_event(events::ORDER_STATUS_CHANGED, &paid, now).unwrap(),
            Some(OrderChange::Status {
                order_id: order,
                status: "PAID".into()
            })
        );
        // The move into PENDING comes with order.created, which already says it.
        let placed = json!({ "orderId": order, "userId": customer, "from": null, "to": "PENDING", "reason": null });
        assert_eq!(
            OrderChange::from_event(events::ORDER_STATUS_CHANGED, &placed, now).unwrap(),
            None
        );
        assert_eq!(
            OrderChange::from_event(events::PRODUCT_PUBLISHED, &json!({}), now).unwrap(),
            None
        );
        assert!(OrderChange::from_event(events::ORDER_STATUS_CHANGED, &json!({ "orderId": 1 }), now).is_err());
    }

    #[test]
    fn returns_count_until_refused_and_add_their_refunds() {
        let order = uuid::Uuid::now_v7();
        let now = Utc::now();
        let a_return = json!({ "orderId": order, "refund": { "amount": 900, "currency": "USD" } });
        let change = |event_type| OrderChange::from_event(event_type, &a_return, now).unwrap();
        assert_eq!(
            change(events::RETURN_REQUESTED),
            Some(OrderChange::Returns {
                order_id: order,
                change: 1
            })
        );
        assert_eq!(
            change(events::RETURN_REFUSED),
            Some(OrderChange::Returns {
                order_id: order,
                change: -1
            })
        );
        assert_eq!(
            change(events::RETURN_REFUNDED),
            Some(OrderChange::Refunded {
                order_id: order,
                refund: Money::new(900, Currency::parse("USD").unwrap())
            })
        );
        // The status v1 cannot name comes with v2, in the same shape.
        let partly = json!({ "orderId": order, "from": "DELIVERED", "to": "PARTIALLY_REFUNDED" });
        assert_eq!(
            OrderChange::from_event(events::ORDER_STATUS_CHANGED_V2, &partly, now).unwrap(),
            Some(OrderChange::Status {
                order_id: order,
                status: "PARTIALLY_REFUNDED".into()
            })
        );
    }

    #[test]
    fn queries_are_bounded_and_ranges_cover_every_price() {
        let query = SearchQuery::parse(Some("  Blue, LAMP!  "), Some(" Home "), Some(100), Some(5000), None).unwrap();
        assert_eq!(query.words, ["blue", "lamp"]);
        assert_eq!(query.category.as_deref(), Some("home"));
        assert!(SearchQuery::parse(Some(&"x".repeat(201)), None, None, None, None).is_err());
        assert!(SearchQuery::parse(Some("a b c d e f g h i j k"), None, None, None, None).is_err());
        assert!(SearchQuery::parse(None, None, Some(10), Some(5), None).is_err());
        assert!(SearchQuery::parse(None, None, Some(-1), None, None).is_err());
        assert_eq!(price_range_of(0), (0, Some(1_000)));
        assert_eq!(price_range_of(999), (0, Some(1_000)));
        assert_eq!(price_range_of(1_000), (1_000, Some(2_500)));
        assert_eq!(price_range_of(10_000_000), (50_000, None));
    }
}
