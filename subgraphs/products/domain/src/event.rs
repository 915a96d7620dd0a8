//! The events the Products context publishes (contracts, v1).

use chrono::{DateTime, Utc};
use kernel::{DomainEvent, Money};
use serde::{Deserialize, Serialize};

use crate::ProductId;
use crate::flash_sale::FlashSaleId;

/// A variant as events describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantSummary {
    pub sku: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProductEvent {
    Created {
        product_id: ProductId,
        name: String,
        category: String,
        status: String,
        price: Money,
        variants: Vec<VariantSummary>,
    },
    Updated {
        product_id: ProductId,
        name: String,
        description: String,
        category: String,
    },
    Published {
        product_id: ProductId,
    },
    Unpublished {
        product_id: ProductId,
    },
    PriceChanged {
        product_id: ProductId,
        old_price: Money,
        new_price: Money,
        valid_from: DateTime<Utc>,
    },
    FlashSaleStarted {
        sale_id: FlashSaleId,
        product_id: ProductId,
        sale_price: Money,
        regular_price: Money,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    FlashSaleEnded {
        sale_id: FlashSaleId,
        product_id: ProductId,
        sale_price: Money,
        /// The price the product went back to; none when the sale never started.
        restored_price: Option<Money>,
        ended_at: DateTime<Utc>,
    },
}

impl ProductEvent {
    pub const CREATED: &'static str = "ecommerce.product.product.created.v1";
    pub const UPDATED: &'static str = "ecommerce.product.product.updated.v1";
    pub const PUBLISHED: &'static str = "ecommerce.product.product.published.v1";
    pub const UNPUBLISHED: &'static str = "ecommerce.product.product.unpublished.v1";
    pub const PRICE_CHANGED: &'static str = "ecommerce.product.product.price_changed.v1";
    pub const FLASH_SALE_STARTED: &'static str = "ecommerce.pricing.flash_sale.started.v1";
    pub const FLASH_SALE_ENDED: &'static str = "ecommerce.pricing.flash_sale.ended.v1";
    /// Every event type the catalog publishes.
    pub const ALL: [&'static str; 7] = [
        Self::CREATED,
        Self::UPDATED,
        Self::PUBLISHED,
        Self::UNPUBLISHED,
        Self::PRICE_CHANGED,
        Self::FLASH_SALE_STARTED,
        Self::FLASH_SALE_ENDED,
    ];

    pub fn product_id(&self) -> ProductId {
        match self {
            ProductEvent::Created { product_id, .. }
            | ProductEvent::Updated { product_id, .. }
            | ProductEvent::Published { product_id }
            | ProductEvent::Unpublished { product_id }
            | ProductEvent::PriceChanged { product_id, .. }
            | ProductEvent::FlashSaleStarted { product_id, .. }
            | ProductEvent::FlashSaleEnded { product_id, .. } => *product_id,
        }
    }
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProductEvent::Created { .. } => Self::CREATED,
            ProductEvent::Updated { .. } => Self::UPDATED,
            ProductEvent::Published { .. } => Self::PUBLISHED,
            ProductEvent::Unpublished { .. } => Self::UNPUBLISHED,
            ProductEvent::PriceChanged { .. } => Self::PRICE_CHANGED,
            ProductEvent::FlashSaleStarted { .. } => Self::FLASH_SALE_STARTED,
            ProductEvent::FlashSaleEnded { .. } => Self::FLASH_SALE_ENDED,
        }
    }

    fn partition_key(&self) -> String {
        self.product_id().to_string()
    }

    /// The payload is the variant's fields in camelCase, without the enum tag.
    fn payload(&self) -> serde_json::Value {
        match self {
            ProductEvent::Created {
                product_id,
                name,
                category,
                status,
                price,
                variants,
            } => serde_json::json!({
                "productId": product_id, "name": name, "category": category, "status": status,
                "price": price, "variants": variants,
            }),
            ProductEvent::Updated {
                product_id,
                name,
                description,
                category,
            } => serde_json::json!({
                "productId": product_id, "name": name, "description": description, "category": category,
            }),
            ProductEvent::Published { product_id } | ProductEvent::Unpublished { product_id } => {
                serde_json::json!({ "productId": product_id })
            }
            ProductEvent::PriceChanged {
                product_id,
                old_price,
                new_price,
                valid_from,
            } => serde_json::json!({
                "productId": product_id, "oldPrice": old_price, "newPrice": new_price, "validFrom": valid_from,
            }),
            ProductEvent::FlashSaleStarted {
                sale_id,
                product_id,
                sale_price,
                regular_price,
                starts_at,
                ends_at,
            } => serde_json::json!({
                "saleId": sale_id, "productId": product_id, "salePrice": sale_price,
                "regularPrice": regular_price, "startsAt": starts_at, "endsAt": ends_at,
            }),
            ProductEvent::FlashSaleEnded {
                sale_id,
                product_id,
                sale_price,
                restored_price,
                ended_at,
            } => serde_json::json!({
                "saleId": sale_id, "productId": product_id, "salePrice": sale_price,
                "restoredPrice": restored_price, "endedAt": ended_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::EventType;

    #[test]
    fn every_event_type_follows_the_naming_contract() {
        for name in ProductEvent::ALL {
            assert_eq!(EventType::parse(name).unwrap().version(), 1, "{name}");
        }
    }
}
