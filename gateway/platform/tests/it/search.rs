//! Search answers from read models built only from events, through the gateway, and a
//! replay of the retained events rebuilds them to the same rows.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::shop::{Customer, add_to_cart, checkout, eventually, new_product, ok, stocked_product, until_delivered};
use crate::{Backend, TestPlatform, fast_jobs};

const SEARCH: &str = r#"query($text: String, $category: String, $min: Long, $max: Long, $first: Int, $after: String) {
  searchProducts(text: $text, category: $category, minPrice: $min, maxPrice: $max, first: $first, after: $after) {
    totalCount
    edges { cursor node { id name price { amount } } }
    pageInfo { hasNextPage endCursor }
    facets { categories { category count } priceRanges { min max count } }
  }
}"#;

async fn search(platform: &TestPlatform, variables: Value) -> Value {
    let (status, body) = platform.post(SEARCH, variables).await;
    assert!(status == 200 && body["errors"].is_null(), "{body}");
    body["data"]["searchProducts"].clone()
}

fn names(result: &Value) -> Vec<&str> {
    result["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn products_are_found_by_text_category_and_price_with_facets() {
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        find_products(&platform).await;
        platform.stop().await;
    }
}

async fn find_products(platform: &TestPlatform) {
    new_product(platform, "Blue Lamp", "home/lighting", 1999, "LAMP-BLUE", false).await;
    let red = new_product(platform, "Red Lamp", "home/lighting", 6000, "LAMP-RED", false).await;
    new_product(platform, "Blue Phone", "electronics/phones", 45000, "PHONE-BLUE", false).await;
    new_product(platform, "Blue Draft", "home", 500, "DRAFT-BLUE", true).await;
    eventually("search has the three published products", || async {
        search(platform, json!({})).await["totalCount"] == 3
    })
    .await;

    let lamps = search(platform, json!({ "text": "LAMP" })).await;
    assert_eq!(names(&lamps), ["Blue Lamp", "Red Lamp"], "by name; names from Products");
    assert_eq!(
        lamps["facets"]["categories"],
        json!([{ "category": "home/lighting", "count": 2 }])
    );
    let ranges: Vec<(i64, i64)> = lamps["facets"]["priceRanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["count"] != 0)
        .map(|r| (r["min"].as_i64().unwrap(), r["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(ranges, [(1_000, 1), (5_000, 1)]);

    // Word starts match ("pho" finds "Phone"); every word must match; SKUs count.
    assert_eq!(
        names(&search(platform, json!({ "text": "blue pho" })).await),
        ["Blue Phone"]
    );
    assert_eq!(
        names(&search(platform, json!({ "text": "lamp-red" })).await),
        ["Red Lamp"]
    );
    assert_eq!(
        names(&search(platform, json!({ "text": "amp" })).await),
        Vec::<&str>::new()
    );
    // Category (and below it) and price.
    assert_eq!(search(platform, json!({ "category": "home" })).await["totalCount"], 2);
    assert_eq!(
        names(&search(platform, json!({ "min": 5000 })).await),
        ["Blue Phone", "Red Lamp"]
    );
    assert_eq!(
        names(&search(platform, json!({ "min": 1000, "max": 5000 })).await),
        ["Blue Lamp"]
    );

    // Pages.
    let first = search(platform, json!({ "text": "blue", "first": 1 })).await;
    assert_eq!(names(&first), ["Blue Lamp"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["totalCount"], 2);
    let after = first["pageInfo"]["endCursor"].clone();
    let second = search(platform, json!({ "text": "blue", "first": 1, "after": after })).await;
    assert_eq!(names(&second), ["Blue Phone"]);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);

    // A new price reaches search through its event.
    ok(
        platform,
        &platform.admin_token(),
        "mutation($id: ID!) { changePrice(id: $id, price: { amount: 900, currency: \"USD\" }) { id } }",
        json!({ "id": red }),
    )
    .await;
    eventually("search sees the new price", || async {
        names(&search(platform, json!({ "max": 1000 })).await) == ["Red Lamp"]
    })
    .await;

    // Bad input is refused with a code.
    for variables in [
        json!({ "min": 10, "max": 5 }),
        json!({ "text": "x".repeat(201) }),
        json!({ "first": 0 }),
        json!({ "after": "not a cursor" }),
        json!({ "after": kernel_infra::graphql::cursor::encode(&u64::MAX.to_string()) }),
    ] {
        let (_, body) = platform.post(SEARCH, variables.clone()).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{variables}: {body}"
        );
    }
}

const SUMMARIES: &str = "query($customer: ID) { orderSummaries(customerId: $customer) { \
     orderId status itemCount total { amount } order { id status } } }";

#[tokio::test]
async fn a_customer_lists_their_own_orders_from_search_and_no_one_elses() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "SEARCH-ORD", 1250, 10).await;
    let customer = Customer::new();
    let cart = add_to_cart(&platform, &customer, "SEARCH-ORD", 2).await;
    let session = checkout(&platform, &customer, &cart, None, "tok_visa", "search-order").await;
    assert_eq!(session["data"]["checkout"]["status"], "COMPLETED", "{session}");
    let order = session["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();

    eventually("the summary has reached DELIVERED", || async {
        let (_, body) = platform.post_as(Some(&customer.token), SUMMARIES, json!({})).await;
        body["data"]["orderSummaries"][0]["status"] == "DELIVERED"
    })
    .await;
    let (_, body) = platform.post_as(Some(&customer.token), SUMMARIES, json!({})).await;
    let summary = &body["data"]["orderSummaries"][0];
    assert_eq!(summary["orderId"], order.as_str());
    assert_eq!(
        (summary["itemCount"].as_i64(), summary["total"]["amount"].as_i64()),
        (Some(2), Some(2500))
    );
    assert_eq!(summary["order"]["status"], "DELIVERED", "the order itself, from Orders");

    let stranger = Customer::new();
    let (_, own) = platform.post_as(Some(&stranger.token), SUMMARIES, json!({})).await;
    assert_eq!(own["data"]["orderSummaries"], json!([]), "{own}");
    let (_, refused) = platform
        .post_as(
            Some(&stranger.token),
            SUMMARIES,
            json!({ "customer": customer.user_id }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let (_, staff) = platform
        .post_as(
            Some(&platform.admin_token()),
            SUMMARIES,
            json!({ "customer": customer.user_id }),
        )
        .await;
    assert_eq!(staff["data"]["orderSummaries"][0]["orderId"], order.as_str(), "{staff}");
    let (_, anonymous) = platform.post(SUMMARIES, json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
    platform.stop().await;
}

#[tokio::test]
async fn a_replay_of_the_retained_events_equals_the_live_view_and_rebuilds_it() {
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        replay_and_rebuild(&platform).await;
        platform.stop().await;
    }
}

async fn replay_and_rebuild(platform: &TestPlatform) {
    stocked_product(platform, "REPLAY-1", 3000, 10).await;
    let lamp = new_product(platform, "Replay Lamp", "home/lighting", 1999, "REPLAY-LAMP", false).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, "REPLAY-1", 1).await;
    let session = checkout(platform, &customer, &cart, None, "tok_visa", "replay").await;
    assert_eq!(session["data"]["checkout"]["status"], "COMPLETED", "{session}");
    // Compare once no more events flow: a consumer applies an event just before the
    // relay marks it published, so a view still moving can be a step ahead of the log.
    let order = session["data"]["checkout"]["order"]["id"].as_str().unwrap();
    until_delivered(platform, &customer, order).await;

    let live = platform.contexts.search.db.clone();
    let logs = [
        platform.contexts.products.catalog.db().clone(),
        platform.contexts.orders.orders.db().clone(),
    ];
    let scratch = std::env::temp_dir();
    let replay = |rebuild: bool| {
        let rebuild = rebuild.then_some(search_service::replay::Rebuild {
            operator: "ops",
            reason: "a drifted price and a lost order",
        });
        search_service::replay::replay(&live, &logs, &scratch, rebuild)
    };
    // Once Search has applied what the relays published, the two agree.
    eventually("the replayed view equals the live one", || async {
        let parity = replay(false).await.unwrap();
        parity.holds() && parity.products >= 2 && parity.orders == 1
    })
    .await;
    let parity = replay(false).await.unwrap();
    assert!(parity.events >= 5, "{parity:?}");

    // A live view that drifted (a wrong price, a lost order) is caught, then rebuilt.
    let lamp_id = uuid::Uuid::parse_str(&lamp).unwrap();
    search_service::entity::product::Entity::update_many()
        .col_expr(search_service::entity::product::Column::PriceAmount, Expr::value(1))
        .filter(search_service::entity::product::Column::ProductId.eq(lamp_id))
        .exec(&live)
        .await
        .unwrap();
    let lamp_in_range = || search(platform, json!({ "text": "replay lamp", "min": 1500, "max": 2000 }));
    assert_eq!(lamp_in_range().await["totalCount"], 0, "the drifted price hides it");
    live.execute_unprepared("DELETE FROM orders_by_customer").await.unwrap();
    let drifted = replay(false).await.unwrap();
    assert_eq!(drifted.different, 2, "{drifted:?}");
    assert!(drifted.differences.iter().any(|d| d.contains(&lamp)), "{drifted:?}");

    // Rebuilt while the platform serves and a second customer's order flows through
    // the live consumer: once that order is delivered, the live view equals the log
    // again (nothing lost, nothing applied twice).
    let second = Customer::new();
    let second_cart = add_to_cart(platform, &second, "REPLAY-1", 2).await;
    let (rebuilt, placed) = tokio::join!(
        replay(true),
        checkout(platform, &second, &second_cart, None, "tok_visa", "replay-2")
    );
    let rebuilt = rebuilt.unwrap();
    // What it replaced: the two drifts, and the second order too when the consumer
    // applied its first event before the relay marked it published (a view still moving).
    assert!(
        (2..=3).contains(&rebuilt.different),
        "the rebuild reports what it replaced: {rebuilt:?}"
    );
    assert!(rebuilt.differences.iter().any(|d| d.contains(&lamp)), "{rebuilt:?}");
    assert_eq!(placed["data"]["checkout"]["status"], "COMPLETED", "{placed}");
    let second_order = placed["data"]["checkout"]["order"]["id"].as_str().unwrap();
    until_delivered(platform, &second, second_order).await;
    eventually("the rebuilt view, moved on by the consumer, equals the log", || async {
        let parity = replay(false).await.unwrap();
        parity.holds() && parity.orders == 2
    })
    .await;
    assert_eq!(lamp_in_range().await["totalCount"], 1, "found at its price again");

    // The rebuild is on Search's record: who, why, how many events.
    let rebuilds: Vec<kernel::EventEnvelope> = kernel_infra::outbox::all(&live)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.event_type.as_str() == "ecommerce.search.read_models.rebuilt.v1")
        .collect();
    assert_eq!(rebuilds.len(), 1);
    let audit = &rebuilds[0].payload;
    assert_eq!(audit["operator"], "ops", "{audit}");
    assert_eq!(audit["reason"], "a drifted price and a lost order", "{audit}");
    assert!(audit["events"].as_u64().unwrap() >= parity.events as u64, "{audit}");
    crate::shop::assert_meets_contract(&rebuilds[0]);
    // A rebuild needs a reason; without one nothing changes.
    let refused = search_service::replay::rebuild_in_place(
        &live,
        &logs,
        search_service::replay::Rebuild {
            operator: "ops",
            reason: " ",
        },
    )
    .await;
    assert!(refused.unwrap_err().to_string().contains("reason"));
}

#[tokio::test]
async fn an_order_summary_keeps_its_status_when_its_creation_comes_again() {
    use kernel::id::EventId;
    use kernel::{EventEnvelope, EventType};
    use kernel_infra::testing::TestDatabase;
    use search_service::entity::order;

    for database in TestDatabase::all().await {
        let search = search_service::Search::open(&database.url).await.unwrap();
        let (id, customer) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let event = |event_type: &str, payload: Value| EventEnvelope {
            event_id: EventId::new(),
            event_type: EventType::parse(event_type).unwrap(),
            occurred_at: chrono::Utc::now(),
            producer: "orders".into(),
            trace_id: "trace".into(),
            span_id: None,
            correlation_id: "correlation".into(),
            schema_version: "1".into(),
            partition_key: id.to_string(),
            payload,
        };
        let created = event(
            "ecommerce.orders.order.created.v1",
            json!({ "orderId": id, "userId": customer, "total": { "amount": 500, "currency": "USD" },
                "items": [{ "quantity": 2 }, { "quantity": 1 }], "discount": null, "couponCode": null }),
        );
        let status = |to: &str| {
            event(
                "ecommerce.orders.order.status_changed.v1",
                json!({ "orderId": id, "userId": customer, "from": "PENDING", "to": to, "reason": null }),
            )
        };
        let stored = || async { order::Entity::find_by_id(id).one(&search.db).await.unwrap() };

        // A status for an order not seen yet changes nothing.
        search_service::projection::apply(&search.db, &status("PAID"))
            .await
            .unwrap();
        assert_eq!(stored().await, None, "{}", database.label);
        search_service::projection::apply(&search.db, &created).await.unwrap();
        search_service::projection::apply(&search.db, &status("PAID"))
            .await
            .unwrap();
        let paid = stored().await.unwrap();
        assert_eq!(
            (paid.status.as_str(), paid.item_count, paid.total_amount),
            ("PAID", 3, 500)
        );
        // The creation again (a replay, a redelivery) keeps the status reached since.
        search_service::projection::apply(&search.db, &created).await.unwrap();
        assert_eq!(stored().await.unwrap(), paid, "{}", database.label);
        drop(search);
        database.remove().await;
    }
}
