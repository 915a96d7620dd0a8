//! Live prices: `priceChanged(productId)`, fed by the catalog's own
//! `product.price_changed` events through a [`LiveFeed`] (`kernel_infra::live`).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use kernel::{EventEnvelope, Money};
use kernel_infra::graphql::money::MoneyObject;
use kernel_infra::live::LiveFeed;
use products_domain::ProductEvent;
use serde::Deserialize;

use crate::graphql::{ProductObject, load, parse_id};

/// The feed of every product's price changes.
pub fn feed() -> LiveFeed {
    LiveFeed::new("products.live-prices", &[ProductEvent::PRICE_CHANGED])
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceChangedPayload {
    product_id: uuid::Uuid,
    old_price: Money,
    new_price: Money,
    valid_from: DateTime<Utc>,
}

/// A new price of a product.
pub struct PriceChangeObject {
    event_id: uuid::Uuid,
    payload: PriceChangedPayload,
}

impl PriceChangeObject {
    fn from_event(event: &EventEnvelope) -> Option<Self> {
        Some(Self {
            event_id: event.event_id.as_uuid(),
            payload: event.payload_as().ok()?,
        })
    }
}

#[Object(name = "PriceChange")]
impl PriceChangeObject {
    /// The event that carried the change; a client that sees an id twice may skip it.
    async fn event_id(&self) -> ID {
        ID(self.event_id.to_string())
    }
    async fn product_id(&self) -> ID {
        ID(self.payload.product_id.to_string())
    }
    async fn old_price(&self) -> MoneyObject {
        self.payload.old_price.into()
    }
    async fn new_price(&self) -> MoneyObject {
        self.payload.new_price.into()
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.payload.valid_from
    }
    /// The product as it is when the change is sent.
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<ProductObject>> {
        load(ctx, products_domain::ProductId::from_uuid(self.payload.product_id)).await
    }
}

pub struct Subscription;

#[async_graphql::Subscription]
impl Subscription {
    /// Every new price of one product from now on.
    async fn price_changed(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
    ) -> Result<impl Stream<Item = PriceChangeObject> + use<>> {
        let id = parse_id(&product_id)?.as_uuid();
        Ok(ctx.data_unchecked::<LiveFeed>().events().filter_map(move |event| {
            let change = PriceChangeObject::from_event(&event).filter(|c| c.payload.product_id == id);
            futures::future::ready(change)
        }))
    }
}
