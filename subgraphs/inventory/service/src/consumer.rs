//! What Inventory does with other contexts' events.
//!
//! `product.created`: a stock item (zero on hand) for every SKU of the new product,
//! claimed in the inbox in the same transaction, so a redelivery changes nothing.

use async_trait::async_trait;
use chrono::Utc;
use inventory_domain::{InventoryEvent, Sku, StockItem};
use kernel::{EventEnvelope, EventMeta};
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde::Deserialize;

use crate::repository;
use crate::stock::PRODUCER;

pub const PRODUCT_CREATED: &str = "ecommerce.product.product.created.v1";

/// Inventory's view of `product.created.v1`: only what it needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductCreated {
    product_id: uuid::Uuid,
    variants: Vec<CreatedVariant>,
}

#[derive(Deserialize)]
struct CreatedVariant {
    sku: String,
}

pub struct TrackNewProducts;

impl TrackNewProducts {
    pub const CONSUMER: &'static str = "inventory.track-new-products";

    pub fn subscription(db: DatabaseConnection) -> Subscription {
        InboxConsumer::subscription(Self::CONSUMER, vec![PRODUCT_CREATED.to_owned()], db, Self)
    }
}

#[async_trait]
impl ApplyEvent for TrackNewProducts {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        let created: ProductCreated = event.payload_as()?;
        let now = Utc::now();
        let mut events = Vec::new();
        for variant in created.variants {
            let item = StockItem::new(Sku::parse(&variant.sku)?, Some(created.product_id));
            if repository::insert_item_if_absent(txn, &item, now).await? {
                events.push(InventoryEvent::StockItemCreated {
                    sku: variant.sku,
                    product_id: Some(created.product_id),
                });
            }
        }
        kernel_infra::outbox::record(txn, PRODUCER, &EventMeta::caused_by(event), &events).await?;
        Ok(())
    }
}
