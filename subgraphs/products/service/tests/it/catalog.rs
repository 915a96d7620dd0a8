use kernel_infra::testing::TestDatabase;
use products_service::Products;
use serde_json::json;

use crate::{CREATE, create, error_code, execute, new_product};

async fn row_counts(products: &Products) -> (usize, usize) {
    let outbox = kernel_infra::outbox::all(products.catalog.db()).await.unwrap().len();
    let listed = execute(products, "{ products(first: 100) { edges { cursor } } }", json!({})).await;
    (listed["data"]["products"]["edges"].as_array().unwrap().len(), outbox)
}

#[tokio::test]
async fn creating_a_product_writes_it_and_its_event_together() {
    for database in TestDatabase::all().await {
        let products = Products::open(&database.url).await.unwrap();
        let response = execute(
            &products,
            CREATE,
            new_product("Phone", "electronics/phones", &["PH-1", "PH-2"], 19_999),
        )
        .await;
        let product = &response["data"]["createProduct"];
        assert_eq!(product["status"], "DRAFT", "{}: {response}", database.label);
        assert_eq!(
            product["price"],
            json!({ "amount": 19_999, "currency": "USD", "formatted": "199.99 USD" })
        );

        let events = kernel_infra::outbox::all(products.catalog.db()).await.unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_type.as_str(), "ecommerce.product.product.created.v1");
        assert_eq!(event.producer, "products");
        assert_eq!(event.partition_key, product["id"].as_str().unwrap());
        assert_eq!(
            event.payload["variants"],
            json!([{ "sku": "PH-1", "name": "PH-1" }, { "sku": "PH-2", "name": "PH-2" }])
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn the_lifecycle_refuses_transitions_it_does_not_allow() {
    for database in TestDatabase::all().await {
        let products = Products::open(&database.url).await.unwrap();
        let id = create(&products, "Lamp", "home", &["LAMP-1"], 500).await;
        let call = |op: &str| format!(r#"mutation {{ {op}(id: "{id}") {{ status }} }}"#);
        assert_eq!(
            error_code(&execute(&products, &call("unpublishProduct"), json!({})).await),
            Some("CONFLICT")
        );
        let published = execute(&products, &call("publishProduct"), json!({})).await;
        assert_eq!(
            published["data"]["publishProduct"]["status"], "PUBLISHED",
            "{}",
            database.label
        );
        assert_eq!(
            error_code(&execute(&products, &call("publishProduct"), json!({})).await),
            Some("CONFLICT")
        );
        let unpublished = execute(&products, &call("unpublishProduct"), json!({})).await;
        assert_eq!(unpublished["data"]["unpublishProduct"]["status"], "UNPUBLISHED");

        let types: Vec<String> = kernel_infra::outbox::all(products.catalog.db())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type.to_string())
            .collect();
        assert_eq!(
            types,
            [
                "ecommerce.product.product.created.v1",
                "ecommerce.product.product.published.v1",
                "ecommerce.product.product.unpublished.v1"
            ],
            "{}: refused transitions write no event",
            database.label
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn price_changes_keep_a_history_with_validity_intervals() {
    for database in TestDatabase::all().await {
        let products = Products::open(&database.url).await.unwrap();
        let id = create(&products, "Kettle", "home/kitchen", &["KET-1"], 4_000).await;
        let before_change = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let change = r#"mutation($id: ID!, $amount: Long!) { changePrice(id: $id, price: { amount: $amount, currency: "USD" }) { price { amount } } }"#;
        let changed = execute(&products, change, json!({ "id": id, "amount": 3_500 })).await;
        assert_eq!(
            changed["data"]["changePrice"]["price"]["amount"], 3_500,
            "{}: {changed}",
            database.label
        );

        let query = r#"query($id: ID!, $at: DateTime!) { product(id: $id) {
            price { amount } priceAt(at: $at) { amount } priceHistory { price { amount } validTo } } }"#;
        let response = execute(&products, query, json!({ "id": id, "at": before_change })).await;
        let product = &response["data"]["product"];
        assert_eq!(product["price"]["amount"], 3_500, "{response}");
        assert_eq!(
            product["priceAt"]["amount"], 4_000,
            "{}: the price in force then",
            database.label
        );
        let history = product["priceHistory"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        assert!(history[0]["validTo"].is_string(), "the old period is closed");
        assert!(history[1]["validTo"].is_null(), "the current period is open");

        let other_currency =
            r#"mutation($id: ID!) { changePrice(id: $id, price: { amount: 10, currency: "EUR" }) { id } }"#;
        assert_eq!(
            error_code(&execute(&products, other_currency, json!({ "id": id })).await),
            Some("BAD_USER_INPUT")
        );
        let priced = kernel_infra::outbox::all(products.catalog.db()).await.unwrap();
        let price_changed = priced
            .iter()
            .find(|e| e.event_type.as_str() == "ecommerce.product.product.price_changed.v1")
            .unwrap();
        assert_eq!(
            price_changed.payload["oldPrice"],
            json!({ "amount": 4_000, "currency": "USD" })
        );
        assert_eq!(
            price_changed.payload["newPrice"],
            json!({ "amount": 3_500, "currency": "USD" })
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_writes_nothing() {
    for database in TestDatabase::all().await {
        let products = Products::open(&database.url).await.unwrap();
        let id = create(&products, "Existing", "toys", &["TAKEN-1"], 100).await;
        let before = row_counts(&products).await;
        let long_name = "x".repeat(201);
        let cases = [
            (CREATE, new_product("Dup", "toys", &["TAKEN-1"], 100), "CONFLICT"),
            (
                CREATE,
                new_product("Twice", "toys", &["T-1", "T-1"], 100),
                "BAD_USER_INPUT",
            ),
            (CREATE, new_product(&long_name, "toys", &["L-1"], 100), "BAD_USER_INPUT"),
            (CREATE, new_product("Neg", "toys", &["N-1"], -1), "BAD_USER_INPUT"),
            (
                CREATE,
                new_product("Cat", "Not A Category", &["C-1"], 100),
                "BAD_USER_INPUT",
            ),
            (
                CREATE,
                new_product("Sku", "toys", &["lower-case"], 100),
                "BAD_USER_INPUT",
            ),
            (CREATE, new_product("None", "toys", &[], 100), "BAD_USER_INPUT"),
            (
                CREATE,
                json!({ "input": { "name": "Cur", "category": "toys", "variants": [{ "sku": "CU-1", "name": "x" }], "price": { "amount": 1, "currency": "XXX" } } }),
                "BAD_USER_INPUT",
            ),
            (
                r#"query { product(id: "not-a-uuid") { id } }"#,
                json!({}),
                "BAD_USER_INPUT",
            ),
            (
                r#"query { products(after: "garbage") { edges { cursor } } }"#,
                json!({}),
                "BAD_USER_INPUT",
            ),
            (
                r#"query { products(first: 0) { edges { cursor } } }"#,
                json!({}),
                "BAD_USER_INPUT",
            ),
            (
                r#"query { products(first: 1000) { edges { cursor } } }"#,
                json!({}),
                "BAD_USER_INPUT",
            ),
            (
                r#"mutation { publishProduct(id: "0190b3a0-0000-7000-8000-000000000000") { id } }"#,
                json!({}),
                "NOT_FOUND",
            ),
            (
                r#"mutation { updateProduct(id: "0190b3a0-0000-7000-8000-000000000000", input: { name: "x" }) { id } }"#,
                json!({}),
                "NOT_FOUND",
            ),
        ];
        for (query, variables, code) in cases {
            let response = execute(&products, query, variables.clone()).await;
            assert_eq!(
                error_code(&response),
                Some(code),
                "{}: {variables} -> {response}",
                database.label
            );
        }
        let update = format!(r#"mutation {{ updateProduct(id: "{id}", input: {{}}) {{ id }} }}"#);
        assert_eq!(
            error_code(&execute(&products, &update, json!({})).await),
            Some("BAD_USER_INPUT")
        );
        assert_eq!(
            row_counts(&products).await,
            before,
            "{}: no partial write",
            database.label
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn concurrent_creations_with_one_sku_yield_one_product() {
    for database in TestDatabase::all().await {
        let products = Products::open(&database.url).await.unwrap();
        let attempts = (0..10).map(|i| {
            let products = products.clone();
            tokio::spawn(async move {
                execute(
                    &products,
                    CREATE,
                    new_product(&format!("Racer {i}"), "toys", &["RACE-1"], 100),
                )
                .await
            })
        });
        let responses: Vec<serde_json::Value> = futures::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let created = responses.iter().filter(|r| r["errors"].is_null()).count();
        assert_eq!(created, 1, "{}: {responses:?}", database.label);
        assert!(
            responses
                .iter()
                .filter(|r| !r["errors"].is_null())
                .all(|r| error_code(r) == Some("CONFLICT"))
        );
        assert_eq!(row_counts(&products).await, (1, 1), "{}", database.label);
        database.remove().await;
    }
}

#[tokio::test]
async fn only_admins_change_the_catalog() {
    let database = TestDatabase::sqlite();
    let products = Products::open(&database.url).await.unwrap();
    let id = create(&products, "Lamp", "home", &["LAMP-1"], 500).await;
    let customer = kernel_infra::identity::Caller::User(kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role: kernel::Role::Customer,
    });
    let change = format!(r#"mutation {{ changePrice(id: "{id}", price: {{ amount: 1, currency: "USD" }}) {{ id }} }}"#);
    let publish = format!(r#"mutation {{ publishProduct(id: "{id}") {{ id }} }}"#);
    for query in [change.as_str(), publish.as_str(), crate::CREATE] {
        let variables = new_product("Other", "home", &["OTHER-1"], 100);
        let anonymous = crate::execute_as(
            &products,
            kernel_infra::identity::Caller::Anonymous,
            query,
            variables.clone(),
        )
        .await;
        assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
        let refused = crate::execute_as(&products, customer.clone(), query, variables).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    }
    let product = format!(r#"{{ product(id: "{id}") {{ price {{ amount }} status }} }}"#);
    let read = crate::execute(&products, &product, json!({})).await;
    assert_eq!(
        read["data"]["product"],
        json!({ "price": { "amount": 500 }, "status": "DRAFT" }),
        "nothing changed"
    );
    // A product that is not published is the shop's business: others do not see it.
    for caller in [kernel_infra::identity::Caller::Anonymous, customer.clone()] {
        let hidden = crate::execute_as(&products, caller, &product, json!({})).await;
        assert!(
            hidden["errors"].is_null() && hidden["data"]["product"].is_null(),
            "{hidden}"
        );
    }
    assert_eq!(
        kernel_infra::outbox::all(products.catalog.db()).await.unwrap().len(),
        1,
        "only the creation's event"
    );
    database.remove().await;
}
