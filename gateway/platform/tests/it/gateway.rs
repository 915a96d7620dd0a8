use std::time::{Duration, Instant};

use serde_json::json;

use crate::TestPlatform;

const CREATE: &str = r#"mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }"#;

/// A product with these SKUs, created and published by an admin (shoppers see only
/// published products).
async fn create(platform: &TestPlatform, name: &str, skus: &[&str], cents: i64) -> String {
    let input = json!({ "input": {
        "name": name, "category": "electronics/phones",
        "variants": skus.iter().map(|sku| json!({ "sku": sku, "name": sku })).collect::<Vec<_>>(),
        "price": { "amount": cents, "currency": "USD" },
    }});
    let (status, body) = platform.post_admin(CREATE, input).await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["createProduct"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let (_, body) = platform
        .post_admin(
            "mutation($id: ID!) { publishProduct(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    id
}

/// Inventory learns of SKUs from product.created through the relay: wait for it.
async fn wait_for_stock_item(platform: &TestPlatform, sku: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = platform
            .post(
                "query($sku: String!) { stockItem(sku: $sku) { sku } }",
                json!({ "sku": sku }),
            )
            .await;
        if !body["data"]["stockItem"].is_null() {
            return;
        }
        assert!(Instant::now() < deadline, "inventory never learned of {sku}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn adjust(platform: &TestPlatform, sku: &str, delta: i64) {
    let (_, body) = platform
        .post_admin(
            r#"mutation($sku: String!, $delta: Int!) { adjustStock(sku: $sku, delta: $delta, reason: "delivery") { sku } }"#,
            json!({ "sku": sku, "delta": delta }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

const LISTING: &str = r#"query($first: Int!, $filter: ProductFilter) {
  products(first: $first, filter: $filter) {
    edges { node { id name price { amount currency } inventory { available inStock } variants { sku inventory { available } } } }
  }
}"#;

#[tokio::test]
async fn the_gateway_answers_the_product_view_with_live_inventory() {
    let platform = TestPlatform::start().await;
    let phone = create(&platform, "Phone", &["PH-BLACK", "PH-WHITE"], 49_900).await;
    let case = create(&platform, "Case", &["CASE-1"], 1_500).await;
    for sku in ["PH-BLACK", "PH-WHITE", "CASE-1"] {
        wait_for_stock_item(&platform, sku).await;
    }
    adjust(&platform, "PH-BLACK", 7).await;
    adjust(&platform, "PH-WHITE", 3).await;

    platform.inventory_requests.lock().unwrap().clear();
    let (status, body) = platform
        .post(LISTING, json!({ "first": 20, "filter": { "category": "electronics" } }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["products"]["edges"],
        json!([
            { "node": { "id": phone, "name": "Phone", "price": { "amount": 49_900, "currency": "USD" },
                "inventory": { "available": 10, "inStock": true },
                "variants": [ { "sku": "PH-BLACK", "inventory": { "available": 7 } }, { "sku": "PH-WHITE", "inventory": { "available": 3 } } ] } },
            { "node": { "id": case, "name": "Case", "price": { "amount": 1_500, "currency": "USD" },
                "inventory": { "available": 0, "inStock": false },
                "variants": [ { "sku": "CASE-1", "inventory": { "available": 0 } } ] } },
        ]),
        "{body}"
    );
    let requests = platform.inventory_requests.lock().unwrap().clone();
    // Both entity levels (Product.inventory, Variant.inventory) go to Inventory in one
    // batched HTTP request, each as one `_entities` list.
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(
        requests[0].matches("_entities(representations:").count(),
        2,
        "{requests:#?}"
    );

    let (_, body) = platform
        .post(
            "query($id: ID!) { product(id: $id) { name inventory { available reserved } } }",
            json!({ "id": phone }),
        )
        .await;
    assert_eq!(
        body["data"]["product"],
        json!({ "name": "Phone", "inventory": { "available": 10, "reserved": 0 } })
    );
    platform.stop().await;
}

#[tokio::test]
async fn errors_carry_codes_and_the_graphql_over_http_status() {
    let platform = TestPlatform::start().await;

    // A field error: the request was valid, so 200 with data null and the code.
    let (status, body) = platform
        .post_admin(r#"mutation { publishProduct(id: "not-an-id") { id } }"#, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(body["data"].is_null());

    // A SKU that breaks the kernel's rule is told so, in every context that takes one.
    let customer = crate::shop::Customer::new();
    for (operation, what) in [
        (r#"mutation { addToCart(sku: "mug 1") { id } }"#, "the cart"),
        (r#"query { stockItem(sku: "mug 1") { sku } }"#, "the stock"),
    ] {
        let (status, body) = platform.post_as(Some(&customer.token), operation, json!({})).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{what}: {body}"
        );
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains("is not a SKU"),
            "{what}: {body}"
        );
    }

    let (status, body) = platform
        .post(
            r#"query { products(first: 5, after: "%%%") { edges { cursor } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (200, Some("BAD_USER_INPUT")),
        "{body}"
    );

    // Request errors: the operation never ran, so 400.
    let (status, body) = platform
        .post("{ products(first: 5 { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(status, 400, "parse error: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    let (status, body) = platform.post("{ noSuchField }", json!({})).await;
    assert_eq!(status, 400, "validation error: {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FieldsOnCorrectType",
        "the failed validation rule"
    );
    let (status, body) = platform
        .post(
            "query($n: Int!) { products(first: $n) { edges { cursor } } }",
            json!({ "n": "many" }),
        )
        .await;
    assert_eq!(status, 400, "bad variable: {body}");

    // Without a token a mutation is refused, again as a field error.
    let (status, body) = platform
        .post(r#"mutation { publishProduct(id: "not-an-id") { id } }"#, json!({}))
        .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].as_str()),
        (200, Some("UNAUTHENTICATED")),
        "{body}"
    );

    // Mutations are not allowed over GET.
    let response = platform
        .client()
        .get(format!("{}/graphql", platform.url))
        .query(&[("query", r#"mutation { publishProduct(id: "x") { id } }"#)])
        .header("accept", "application/graphql-response+json")
        // A GET needs the CSRF header (a browser's simple GET is refused before this).
        .header("x-graphql-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    platform.stop().await;
}

#[tokio::test]
async fn the_gateway_serves_graphiql_and_health() {
    let platform = TestPlatform::start().await;
    let health = platform
        .client()
        .get(format!("{}/health", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let page = platform
        .client()
        .get(format!("{}/graphql", platform.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.to_lowercase().contains("graphiql"),
        "{}",
        &html[..html.len().min(300)]
    );
    platform.stop().await;
}

#[tokio::test]
async fn a_customer_registers_and_reads_their_profile_through_the_gateway() {
    let platform = TestPlatform::start().await;
    let register = r#"mutation($input: RegisterInput!) { register(input: $input) { token user { id } } }"#;
    let input =
        json!({ "input": { "email": "ann@example.com", "password": "correct horse battery", "displayName": "Ann" } });
    let (status, body) = platform.post(register, input).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["register"]["token"].as_str().unwrap().to_owned();
    let id = body["data"]["register"]["user"]["id"].clone();

    let (_, me) = platform
        .post_as(Some(&token), "{ me { id email role } }", json!({}))
        .await;
    assert_eq!(
        me["data"]["me"],
        json!({ "id": id, "email": "ann@example.com", "role": "CUSTOMER" }),
        "{me}"
    );
    let (_, anonymous) = platform.post("{ me { id } }", json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
    platform.stop().await;
}
