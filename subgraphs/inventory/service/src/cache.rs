//! What Inventory tells the gateway's response cache (`kernel_infra::cache`): a
//! product's and a variant's stock may be shared for a while, and which of them each of
//! Inventory's events changes.

use std::sync::Arc;

use inventory_domain::InventoryEvent;
use kernel::EventEnvelope;
use kernel_infra::cache::{InvalidationFeed, Tagger};
use sea_orm::DatabaseConnection;

use crate::repository;

/// The tag of a product's answers (`Product.inventory`).
pub fn product_tag(id: uuid::Uuid) -> String {
    format!("Product:{id}")
}

/// The tag of a variant's answers (`Variant.inventory`).
pub fn variant_tag(sku: &str) -> String {
    format!("Variant:{sku}")
}

/// Every event that moves stock, as the tags of the variants and products it moved.
pub fn feed(db: DatabaseConnection) -> InvalidationFeed {
    let tagger: Tagger = Arc::new(move |event: Arc<EventEnvelope>| {
        let db = db.clone();
        Box::pin(async move { tags_of(&db, &event).await })
    });
    InvalidationFeed::new("inventory.cache", &InventoryEvent::ALL, tagger)
}

/// The SKUs an event names (`sku`, or each of its `lines`), their variants' tags and
/// their products' (a product's stock is its variants' sum).
async fn tags_of(db: &DatabaseConnection, event: &EventEnvelope) -> anyhow::Result<Vec<String>> {
    let payload = &event.payload;
    let mut skus: Vec<String> = payload["sku"].as_str().map(str::to_owned).into_iter().collect();
    if let Some(lines) = payload["lines"].as_array() {
        skus.extend(lines.iter().filter_map(|line| line["sku"].as_str().map(str::to_owned)));
    }
    let items = repository::items(db, &skus).await?;
    let mut tags: Vec<String> = skus.iter().map(|sku| variant_tag(sku)).collect();
    tags.extend(items.values().filter_map(|item| item.product_id()).map(product_tag));
    tags.sort_unstable();
    tags.dedup();
    Ok(tags)
}
