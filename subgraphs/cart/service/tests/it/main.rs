//! Cart on SQLite and PostgreSQL: prices kept current by Products' events, one active
//! cart per owner, session carts merged on sign-in, idle carts expired.

#![allow(clippy::unwrap_used)]

use cart_domain::{CartOwner, CartStatus, LineQuantity, SessionToken};
use cart_service::Cart;
use cart_service::carts::{CartConsumer, PRICE_CHANGED, PRODUCT_CREATED};
use chrono::Utc;
use kernel::Sku;
use kernel::{DomainEvent, EventEnvelope, EventMeta};
use kernel_infra::testing::TestDatabase;

/// An event as Products would publish it.
struct Published(&'static str, serde_json::Value);

impl DomainEvent for Published {
    fn event_type(&self) -> &'static str {
        self.0
    }
    fn partition_key(&self) -> String {
        self.1["productId"].as_str().unwrap().to_owned()
    }
    fn payload(&self) -> serde_json::Value {
        self.1.clone()
    }
}

fn envelope(event_type: &'static str, payload: serde_json::Value) -> EventEnvelope {
    EventEnvelope::wrap(
        &Published(event_type, payload),
        "products",
        &EventMeta::internal(),
        Utc::now(),
    )
}

#[tokio::test]
async fn prices_follow_products_events_and_carts_follow_their_owner() {
    for database in TestDatabase::all().await {
        let cart = Cart::open(&database.url).await.unwrap();
        let consumer = CartConsumer::subscription(cart.carts.db().clone()).handler;
        let product = uuid::Uuid::now_v7();
        let created = envelope(
            PRODUCT_CREATED,
            serde_json::json!({
                "productId": product, "name": "Lamp", "category": "home", "status": "DRAFT",
                "price": { "amount": 2_000, "currency": "USD" },
                "variants": [{ "sku": "LAMP-1", "name": "White" }, { "sku": "LAMP-2", "name": "Black" }],
            }),
        );
        consumer.handle(&created).await.unwrap();
        consumer.handle(&created).await.unwrap(); // redelivered: changes nothing

        let meta = EventMeta::internal();
        let sku = |value: &str| Sku::parse(value).unwrap();
        let units = |n: i64| LineQuantity::new(n).unwrap();
        let user = CartOwner::User(uuid::Uuid::now_v7());
        // Unknown SKUs cannot be added.
        assert!(cart.carts.add(&user, &sku("NOPE-1"), units(1), &meta).await.is_err());
        let (lamp_1, lamp_2) = (sku("LAMP-1"), sku("LAMP-2"));
        let (a, b) = tokio::join!(
            cart.carts.add(&user, &lamp_1, units(1), &meta),
            cart.carts.add(&user, &lamp_2, units(2), &meta)
        );
        assert_eq!(
            a.unwrap().id(),
            b.unwrap().id(),
            "{}: one active cart per owner",
            database.label
        );
        let current = cart.carts.active(&user).await.unwrap().unwrap();
        let prices = cart.carts.prices(&[sku("LAMP-1"), sku("LAMP-2")]).await.unwrap();
        assert_eq!(current.estimate(&prices).unwrap().0.unwrap().amount(), 6_000);

        let changed = envelope(
            PRICE_CHANGED,
            serde_json::json!({
                "productId": product, "oldPrice": { "amount": 2_000, "currency": "USD" },
                "newPrice": { "amount": 1_500, "currency": "USD" }, "validFrom": Utc::now(),
            }),
        );
        consumer.handle(&changed).await.unwrap();
        let prices = cart.carts.prices(&[sku("LAMP-1"), sku("LAMP-2")]).await.unwrap();
        assert_eq!(current.estimate(&prices).unwrap().0.unwrap().amount(), 4_500);

        // A visitor's session cart joins the customer's cart when they sign in.
        let session = CartOwner::Session(SessionToken::parse("visitor-session-0001").unwrap());
        cart.carts.add(&session, &sku("LAMP-1"), units(2), &meta).await.unwrap();
        let CartOwner::User(user_id) = user else { unreachable!() };
        let merged = cart.carts.merge(user_id, &session, &meta).await.unwrap();
        assert_eq!(merged.units(), 5);
        assert!(cart.carts.active(&session).await.unwrap().is_none());

        // Idle carts expire.
        assert_eq!(cart.carts.expire_idle(chrono::Duration::zero()).await.unwrap(), 1);
        let expired = cart.carts.get(merged.id()).await.unwrap().unwrap();
        assert_eq!(expired.status(), CartStatus::Expired);
        database.remove().await;
    }
}
