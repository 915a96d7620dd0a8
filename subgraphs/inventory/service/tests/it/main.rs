//! Inventory's integration tests, each on SQLite and (when reachable) PostgreSQL.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod entities;
mod oversell;
mod reservations;

use async_graphql::Request;
use inventory_domain::{MovementReason, Sku};
use inventory_service::Inventory;
use kernel::{EventEnvelope, EventMeta};
use kernel_infra::identity::Caller;
use kernel_infra::testing::TestDatabase;

/// Opens Inventory on `database` and stocks `sku` with `units` through the same path
/// as production: a `product.created` event, then an adjustment.
pub async fn stocked(database: &TestDatabase, skus: &[(&str, i64)]) -> Inventory {
    let inventory = Inventory::open(&database.url).await.unwrap();
    let product_id = uuid::Uuid::now_v7();
    let created = product_created(product_id, &skus.iter().map(|(sku, _)| *sku).collect::<Vec<_>>());
    let handler = inventory_service::consumer::TrackNewProducts::subscription(inventory.stock.db().clone()).handler;
    handler.handle(&created).await.unwrap();
    for (sku, units) in skus {
        if *units > 0 {
            let reason = MovementReason::adjustment("test stock").unwrap();
            inventory
                .stock
                .adjust(&Sku::parse(sku).unwrap(), *units, reason, &EventMeta::internal())
                .await
                .unwrap();
        }
    }
    inventory
}

pub fn product_created(product_id: uuid::Uuid, skus: &[&str]) -> EventEnvelope {
    let json = serde_json::json!({
        "eventId": uuid::Uuid::now_v7(),
        "eventType": "ecommerce.product.product.created.v1",
        "occurredAt": chrono::Utc::now(),
        "producer": "products",
        "traceId": "trace",
        "correlationId": "corr",
        "schemaVersion": "1.0",
        "partitionKey": product_id,
        "payload": {
            "productId": product_id,
            "name": "Thing",
            "category": "things",
            "status": "DRAFT",
            "price": { "amount": 100, "currency": "USD" },
            "variants": skus.iter().map(|sku| serde_json::json!({ "sku": sku, "name": sku })).collect::<Vec<_>>(),
        }
    });
    serde_json::from_value(json).unwrap()
}

/// Runs a GraphQL operation as an ADMIN and returns its JSON response.
pub async fn execute(inventory: &Inventory, query: &str) -> serde_json::Value {
    let admin = Caller::User(kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role: kernel::Role::Admin,
    });
    execute_as(inventory, admin, query).await
}

/// Runs a GraphQL operation as `caller`.
pub async fn execute_as(inventory: &Inventory, caller: Caller, query: &str) -> serde_json::Value {
    let response = inventory.schema.execute(Request::new(query).data(caller)).await;
    serde_json::to_value(&response).unwrap()
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(response: &serde_json::Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}
