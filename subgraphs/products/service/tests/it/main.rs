//! Products' integration tests through its GraphQL schema, each on SQLite and (when
//! reachable) PostgreSQL.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod catalog;
mod listing;

use async_graphql::{Request, Variables};
use kernel::{Identity, Role};
use kernel_infra::identity::Caller;
use products_service::Products;

/// Runs an operation as an ADMIN.
pub async fn execute(products: &Products, query: &str, variables: serde_json::Value) -> serde_json::Value {
    execute_as(products, admin(), query, variables).await
}

pub fn admin() -> Caller {
    Caller::User(Identity {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Admin,
    })
}

/// Runs an operation as `caller`, as the HTTP server would.
pub async fn execute_as(
    products: &Products,
    caller: Caller,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let request = Request::new(query)
        .variables(Variables::from_json(variables))
        .data(caller);
    serde_json::to_value(products.schema.execute(request).await).unwrap()
}

pub fn error_code(response: &serde_json::Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

pub const CREATE: &str = r#"mutation($input: CreateProductInput!) {
  createProduct(input: $input) { id name status price { amount currency formatted } variants { sku } }
}"#;

/// A valid createProduct input with the given SKUs and price (USD cents).
pub fn new_product(name: &str, category: &str, skus: &[&str], cents: i64) -> serde_json::Value {
    serde_json::json!({ "input": {
        "name": name,
        "category": category,
        "variants": skus.iter().map(|sku| serde_json::json!({ "sku": sku, "name": sku })).collect::<Vec<_>>(),
        "price": { "amount": cents, "currency": "USD" },
    }})
}

pub async fn create(products: &Products, name: &str, category: &str, skus: &[&str], cents: i64) -> String {
    let response = execute(products, CREATE, new_product(name, category, skus, cents)).await;
    response["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_owned()
}
