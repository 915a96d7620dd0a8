use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Request, Variables};
use inventory_service::Inventory;
use kernel_infra::testing::TestDatabase;

use crate::stocked;

#[tokio::test]
async fn entities_with_a_hundred_representations_take_one_sql_query() {
    let database = TestDatabase::sqlite();
    let skus: Vec<String> = (0..100).map(|i| format!("SKU-{i:03}")).collect();
    let pairs: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 3)).collect();
    stocked(&database, &pairs).await;

    // A fresh connection whose every statement is counted.
    let mut db = kernel_infra::db::connect(&database.url).await.unwrap();
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let inventory = Inventory {
        schema: inventory_service::graphql::schema(
            inventory_service::Stock::new(db.clone()),
            kernel_infra::dead_letters::DeadLetters::new("inventory", db.clone()),
        ),
        invalidations: inventory_service::cache::feed(db.clone()),
        stock: inventory_service::Stock::new(db),
    };

    let representations: Vec<_> = skus
        .iter()
        .map(|sku| serde_json::json!({ "__typename": "Variant", "sku": sku }))
        .collect();
    let request = Request::new("query($r: [_Any!]!) { _entities(representations: $r) { ... on Variant { sku inventory { available inStock } } } }")
        .variables(Variables::from_json(serde_json::json!({ "r": representations })));
    let response = serde_json::to_value(inventory.schema.execute(request).await).unwrap();

    let entities = response["data"]["_entities"].as_array().unwrap();
    assert_eq!(entities.len(), 100, "{response}");
    assert!(entities.iter().all(|e| e["inventory"]["available"] == 3));
    assert_eq!(
        statements.load(Ordering::SeqCst),
        1,
        "one SQL statement for 100 representations"
    );
    database.remove().await;
}
