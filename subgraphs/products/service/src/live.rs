//! Live prices and sales: `priceChanged(productId)` and `flashSaleStarted`, fed by the
//! catalog's own `product.price_changed` and `pricing.flash_sale.started` events
//! through a [`LiveFeed`] (`kernel_infra::live`).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use kernel::{EventEnvelope, Money};
use kernel_infra::graphql::money::MoneyObject;
use kernel_infra::live::LiveFeed;
use products_domain::{FlashSale, FlashSaleId, FlashSaleStatus, ProductEvent, ProductId};
use serde::Deserialize;

use crate::graphql::{FlashSaleObject, ProductObject, load, parse_id};

/// The feed of every product's price changes and flash sales.
pub fn feed() -> LiveFeed {
    LiveFeed::new(
        "products.live",
        &[ProductEvent::PRICE_CHANGED, ProductEvent::FLASH_SALE_STARTED],
    )
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
    trace_id: String,
    payload: PriceChangedPayload,
}

impl PriceChangeObject {
    fn from_event(event: &EventEnvelope) -> Option<Self> {
        if event.event_type.as_str() != ProductEvent::PRICE_CHANGED {
            return None;
        }
        Some(Self {
            event_id: event.event_id.as_uuid(),
            trace_id: event.trace_id.clone(),
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
    /// The W3C trace id of the request that caused this, carried by the event from the
    /// request through the outbox, the relay and the bus, so a client can follow its
    /// request to the update it caused.
    async fn trace_id(&self) -> &str {
        &self.trace_id
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlashSaleStartedPayload {
    sale_id: uuid::Uuid,
    product_id: uuid::Uuid,
    sale_price: Money,
    regular_price: Money,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// A flash sale that has just started.
pub struct FlashSaleStartedObject {
    event_id: uuid::Uuid,
    trace_id: String,
    sale: FlashSale,
}

impl FlashSaleStartedObject {
    fn from_event(event: &EventEnvelope) -> Option<Self> {
        if event.event_type.as_str() != ProductEvent::FLASH_SALE_STARTED {
            return None;
        }
        let payload: FlashSaleStartedPayload = event.payload_as().ok()?;
        Some(Self {
            event_id: event.event_id.as_uuid(),
            trace_id: event.trace_id.clone(),
            sale: FlashSale {
                id: FlashSaleId::from_uuid(payload.sale_id),
                product_id: ProductId::from_uuid(payload.product_id),
                price: payload.sale_price,
                regular_price: Some(payload.regular_price),
                starts_at: payload.starts_at,
                ends_at: payload.ends_at,
                status: FlashSaleStatus::Active,
                ended_at: None,
            },
        })
    }
}

#[Object(name = "FlashSaleStarted")]
impl FlashSaleStartedObject {
    /// The event that announced the sale; a client that sees an id twice may skip it.
    async fn event_id(&self) -> ID {
        ID(self.event_id.to_string())
    }
    /// The W3C trace id of the request that caused this, carried by the event from the
    /// request through the outbox, the relay and the bus, so a client can follow its
    /// request to the update it caused.
    async fn trace_id(&self) -> &str {
        &self.trace_id
    }
    /// The sale as it started.
    async fn sale(&self) -> FlashSaleObject {
        FlashSaleObject(self.sale.clone())
    }
}

pub struct Subscription;

#[async_graphql::Subscription]
impl Subscription {
    /// Every new price of one product from now on. A client that reconnects passes the
    /// `eventId` of the last change it saw as `after`, and first receives the changes it
    /// missed, in order, then the live ones, each once.
    async fn price_changed(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = PriceChangeObject> + use<>> {
        let id = parse_id(&product_id)?.as_uuid();
        // Listen before reading what was missed, so nothing falls between the two.
        let live = ctx.data_unchecked::<LiveFeed>().events_of(id.to_string());
        let missed = kernel_infra::live::missed_of_key(
            ctx.data_unchecked::<crate::Catalog>().db(),
            &id.to_string(),
            &[ProductEvent::PRICE_CHANGED],
            after.as_ref().map(|id| id.as_str()),
            "a price change of this product",
        )
        .await?;
        let events = kernel_infra::live::missed_then_live(missed, live);
        Ok(events.filter_map(move |event| {
            let change = PriceChangeObject::from_event(&event).filter(|c| c.payload.product_id == id);
            futures::future::ready(change)
        }))
    }

    /// Every flash sale that starts from now on, optionally only in one category (and
    /// its sub-categories). A client that reconnects passes the `eventId` of the last
    /// announcement it saw as `after`, and first receives the sales that started since,
    /// in order, then the live ones, each once. It may be up to 100,000 announcements
    /// behind.
    async fn flash_sale_started(
        &self,
        ctx: &Context<'_>,
        category: Option<String>,
        after: Option<ID>,
    ) -> Result<impl Stream<Item = FlashSaleStartedObject> + use<>> {
        // Listen before reading what was missed, so nothing falls between the two.
        let live = ctx.data_unchecked::<LiveFeed>().events();
        let db = ctx.data_unchecked::<crate::Catalog>().db().clone();
        let missed = kernel_infra::live::missed_since(
            &db,
            &[ProductEvent::FLASH_SALE_STARTED],
            after.as_ref().map(|id| id.as_str()),
            "a flash sale announcement",
            |_| true,
        )
        .await?;
        let feed = kernel_infra::live::missed_then_live(missed, live);
        Ok(feed
            .filter_map(|event| futures::future::ready(FlashSaleStartedObject::from_event(&event)))
            .filter_map(move |started| {
                let (db, category) = (db.clone(), category.clone());
                async move {
                    let Some(category) = category else {
                        return Some(started);
                    };
                    let product = crate::repository::find(&db, started.sale.product_id).await.ok()??;
                    let name = product.state().category.as_str();
                    let within = name == category || name.starts_with(&format!("{category}/"));
                    within.then_some(started)
                }
            }))
    }
}
