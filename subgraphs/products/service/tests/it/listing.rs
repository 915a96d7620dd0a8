use kernel_infra::testing::TestDatabase;
use products_service::Products;
use serde_json::json;

use crate::{create, execute};

const LIST: &str = r#"query($filter: ProductFilter, $first: Int!, $after: String) {
  products(filter: $filter, first: $first, after: $after) {
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"#;

fn names(response: &serde_json::Value) -> Vec<String> {
    response["data"]["products"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn catalog(database: &TestDatabase) -> Products {
    let products = Products::open(&database.url).await.unwrap();
    create(&products, "Red Phone", "electronics/phones", &["P-1"], 30_000).await;
    create(&products, "Blue Phone", "electronics/phones", &["P-2"], 50_000).await;
    create(&products, "Laptop 100%", "electronics/laptops", &["L-1"], 120_000).await;
    create(&products, "Garden Hose", "home/garden", &["G-1"], 2_500).await;
    create(&products, "Phone Case", "fashion/bags", &["C-1"], 1_500).await;
    products
}

#[tokio::test]
async fn pages_follow_creation_order_and_cursors_resume_where_they_stopped() {
    for database in TestDatabase::all().await {
        let products = catalog(&database).await;
        let first = execute(&products, LIST, json!({ "first": 2 })).await;
        assert_eq!(names(&first), ["Red Phone", "Blue Phone"], "{}", database.label);
        assert_eq!(first["data"]["products"]["pageInfo"]["hasNextPage"], true);
        let after = first["data"]["products"]["pageInfo"]["endCursor"].clone();
        let second = execute(&products, LIST, json!({ "first": 2, "after": after })).await;
        assert_eq!(names(&second), ["Laptop 100%", "Garden Hose"]);
        assert_eq!(second["data"]["products"]["pageInfo"]["hasPreviousPage"], true);
        let after = second["data"]["products"]["pageInfo"]["endCursor"].clone();
        let last = execute(&products, LIST, json!({ "first": 2, "after": after })).await;
        assert_eq!(names(&last), ["Phone Case"]);
        assert_eq!(last["data"]["products"]["pageInfo"]["hasNextPage"], false);
        database.remove().await;
    }
}

#[tokio::test]
async fn filters_combine_category_text_price_and_status() {
    for database in TestDatabase::all().await {
        let products = catalog(&database).await;
        let list = |filter: serde_json::Value| {
            let products = products.clone();
            async move { names(&execute(&products, LIST, json!({ "first": 20, "filter": filter })).await) }
        };
        assert_eq!(
            list(json!({ "category": "electronics" })).await,
            ["Red Phone", "Blue Phone", "Laptop 100%"],
            "{}",
            database.label
        );
        assert_eq!(
            list(json!({ "category": "electronics/phones" })).await,
            ["Red Phone", "Blue Phone"]
        );
        assert_eq!(
            list(json!({ "text": "phone" })).await,
            ["Red Phone", "Blue Phone", "Phone Case"],
            "case-insensitive"
        );
        assert_eq!(
            list(json!({ "text": "100%" })).await,
            ["Laptop 100%"],
            "% is matched literally"
        );
        assert_eq!(
            list(json!({ "text": "_" })).await,
            Vec::<String>::new(),
            "_ is matched literally"
        );
        assert_eq!(
            list(json!({ "minPrice": 2_500, "maxPrice": 50_000 })).await,
            ["Red Phone", "Blue Phone", "Garden Hose"]
        );
        assert_eq!(
            list(json!({ "text": "phone", "maxPrice": 40_000 })).await,
            ["Red Phone", "Phone Case"]
        );
        assert_eq!(list(json!({ "status": "PUBLISHED" })).await, Vec::<String>::new());
        assert_eq!(list(json!({ "status": "DRAFT", "currency": "USD" })).await.len(), 5);
        let inverted = execute(
            &products,
            LIST,
            json!({ "first": 5, "filter": { "minPrice": 10, "maxPrice": 5 } }),
        )
        .await;
        assert_eq!(crate::error_code(&inverted), Some("BAD_USER_INPUT"));
        database.remove().await;
    }
}

#[tokio::test]
async fn entities_resolve_products_by_id_and_variants_by_sku() {
    let database = TestDatabase::sqlite();
    let products = Products::open(&database.url).await.unwrap();
    let id = create(&products, "Watch", "electronics", &["W-1", "W-2"], 9_900).await;
    let query = r#"query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Product { name } ... on Variant { sku product { id } } } }"#;
    let representations = json!([
        { "__typename": "Product", "id": id },
        { "__typename": "Variant", "sku": "W-2" },
        { "__typename": "Product", "id": "0190b3a0-0000-7000-8000-000000000000" },
    ]);
    let response = execute(&products, query, json!({ "r": representations })).await;
    let entities = &response["data"]["_entities"];
    assert_eq!(entities[0]["name"], "Watch", "{response}");
    assert_eq!(entities[1]["sku"], "W-2");
    assert_eq!(entities[1]["product"]["id"], id.as_str());
    assert!(entities[2].is_null(), "unknown ids resolve to null");
    database.remove().await;
}
