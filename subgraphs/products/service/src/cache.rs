//! What Products tells the gateway's response cache (`kernel_infra::cache`): products
//! and variants may be shared for a while, and which of them each of the catalog's
//! events changes.

use std::sync::Arc;

use kernel::EventEnvelope;
use kernel_infra::cache::{InvalidationFeed, Tagger};
use products_domain::{ProductEvent, ProductId};
use sea_orm::DatabaseConnection;

use crate::repository;

/// The tag of a product's answers.
pub fn product_tag(id: impl std::fmt::Display) -> String {
    format!("Product:{id}")
}

/// The tag of a variant's answers.
pub fn variant_tag(sku: impl std::fmt::Display) -> String {
    format!("Variant:{sku}")
}

/// The tag of every list of products (`products`): a product that is created,
/// published, renamed or repriced may join, leave or move in any of them.
pub const PRODUCT_LISTS: &str = "Product:list";

/// The tags a change of one product touches: the product, its variants (they show its
/// price) and the lists.
pub fn tags_of_product(product: &products_domain::Product) -> Vec<String> {
    let mut tags = vec![product_tag(product.id()), PRODUCT_LISTS.to_owned()];
    tags.extend(product.state().variants.iter().map(|variant| variant_tag(&variant.sku)));
    tags
}

/// Every event of a product (its details, status, price and flash sales) as its tags.
pub fn feed(db: DatabaseConnection) -> InvalidationFeed {
    let tagger: Tagger = Arc::new(move |event: Arc<EventEnvelope>| {
        let db = db.clone();
        Box::pin(async move { tags_of(&db, &event).await })
    });
    InvalidationFeed::new("products.cache", &ProductEvent::ALL, tagger)
}

async fn tags_of(db: &DatabaseConnection, event: &EventEnvelope) -> anyhow::Result<Vec<String>> {
    let Some(id) = event.payload["productId"].as_str() else {
        return Ok(Vec::new());
    };
    let id = uuid::Uuid::try_parse(id)?;
    Ok(match repository::find(db, ProductId::from_uuid(id)).await? {
        Some(product) => tags_of_product(&product),
        None => vec![product_tag(id), PRODUCT_LISTS.to_owned()],
    })
}
