//! Subscriptions through the gateway: an order's status changes reach its customer
//! live over SSE and multipart HTTP, with the rest of the selection resolved through
//! federation for every event; nobody else may follow the order.

use std::time::Duration;

use serde_json::{Value, json};

use crate::shop::{Customer, add_to_cart, change_price, checkout, stocked_product};
use crate::{Backend, TestPlatform, fast_jobs};

const MY_ORDER_UPDATES: &str = "subscription { myOrderUpdates { eventId orderId from to reason \
     order { id items { sku product { name } } } } }";

/// The transports a client may subscribe with.
#[derive(Clone, Copy)]
enum Transport {
    Sse,
    Multipart,
}

/// An open subscription: the events of one streamed response.
struct Events {
    response: reqwest::Response,
    transport: Transport,
    buffer: String,
}

impl Events {
    async fn open(
        platform: &TestPlatform,
        transport: Transport,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Self {
        Self::open_at(platform, &platform.url, transport, token, query, variables).await
    }

    /// [`Events::open`] on the gateway at `url`.
    async fn open_at(
        platform: &TestPlatform,
        url: &str,
        transport: Transport,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Self {
        let accept = match transport {
            Transport::Sse => "text/event-stream",
            Transport::Multipart => r#"multipart/mixed;subscriptionSpec="1.0""#,
        };
        let mut request = platform
            .client()
            .post(format!("{url}/graphql"))
            .header("accept", accept)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Self {
            response,
            transport,
            buffer: String::new(),
        }
    }

    /// The next result (`{data, errors}`), or `None` when the stream ends or stays
    /// quiet for `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            if let Some(result) = self.take_result() {
                return result;
            }
            match tokio::time::timeout(wait, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// One complete message from the buffer: `Some(Some(result))`, `Some(None)` at the
    /// end of the stream, `None` when more bytes are needed.
    fn take_result(&mut self) -> Option<Option<Value>> {
        loop {
            let (separator, end) = match self.transport {
                Transport::Sse => ("\n\n", "event: complete"),
                Transport::Multipart => ("\r\n--graphql", "--graphql--"),
            };
            let at = self.buffer.find(separator)?;
            let message: String = self.buffer.drain(..at + separator.len()).collect();
            if message.contains(end) {
                return Some(None);
            }
            let json = match self.transport {
                Transport::Sse => message
                    .lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .map(str::to_owned),
                Transport::Multipart => message
                    .split("\r\n\r\n")
                    .nth(1)
                    .map(|body| body.trim_end_matches(separator).trim().to_owned()),
            };
            let Some(value) = json.and_then(|j| serde_json::from_str::<Value>(&j).ok()) else {
                continue; // a heartbeat or a part header
            };
            // Multipart wraps each result in `payload`; `{}` is a heartbeat.
            let result = match self.transport {
                Transport::Sse => value,
                Transport::Multipart => match value.get("payload") {
                    Some(payload) => payload.clone(),
                    None => continue,
                },
            };
            return Some(Some(result));
        }
    }
}

/// Subscribes with `variables` and expects BAD_USER_INPUT.
async fn assert_refused(platform: &TestPlatform, token: Option<&str>, query: &str, variables: Value) {
    let mut events = Events::open(platform, Transport::Sse, token, query, variables).await;
    let refused = events.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
}

/// Checks out one unit of a fresh product as `customer`; returns the order id.
async fn place_paid_order(platform: &TestPlatform, customer: &Customer, sku: &str) -> String {
    let cart = add_to_cart(platform, customer, sku, 1).await;
    let session = checkout(platform, customer, &cart, None, "tok_visa", &format!("key-{sku}")).await;
    assert_eq!(session["data"]["checkout"]["status"], "COMPLETED", "{session}");
    session["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned()
}

/// Collects the statuses of `order` until DELIVERED (or the stream goes quiet).
async fn statuses_until_delivered(events: &mut Events, order: &str) -> Vec<Value> {
    let mut updates = Vec::new();
    while let Some(result) = events.next(Duration::from_secs(30)).await {
        assert!(result["errors"].is_null(), "{result}");
        let update = result["data"]
            .as_object()
            .and_then(|data| data.values().next())
            .cloned()
            .unwrap();
        if update["orderId"] == order {
            let delivered = update["to"] == "DELIVERED";
            updates.push(update);
            if delivered {
                break;
            }
        }
    }
    updates
}

/// An order's statuses from placement to delivery.
pub const JOURNEY: [&str; 6] = [
    "PENDING",
    "AWAITING_PAYMENT",
    "PAID",
    "FULFILLING",
    "SHIPPED",
    "DELIVERED",
];

#[tokio::test]
async fn a_customer_watches_an_order_from_pending_to_delivered_over_sse() {
    let platform = TestPlatform::start().await;
    watch_the_journey(&platform, "LIVE-1").await;
    platform.stop().await;
}

/// Fast jobs with the Redis Streams bus under a fresh key prefix: the Redis URL, the
/// prefix and the settings, when both Redis and PostgreSQL are reachable.
async fn redis_and_postgres_jobs() -> Option<(String, String, kernel_infra::config::Config)> {
    let redis = kernel_infra::testing::redis_url().await?;
    if !Backend::all().await.contains(&Backend::Postgres) {
        return None;
    }
    let prefix = format!("test-platform-{}", uuid::Uuid::now_v7().simple());
    let mut jobs = fast_jobs();
    jobs.common.event_bus.redis_url = Some(redis.clone());
    jobs.common.event_bus.prefix.clone_from(&prefix);
    Some((redis, prefix, jobs))
}

/// The production wiring: PostgreSQL, and events through Redis Streams, so the
/// consumers that move the order on and the live feed read them from Redis.
#[tokio::test]
async fn on_postgres_and_redis_streams_the_journey_shows_up_live_too() {
    let Some((redis, prefix, jobs)) = redis_and_postgres_jobs().await else {
        return;
    };
    let platform = TestPlatform::start_with(Backend::Postgres, jobs).await;
    watch_the_journey(&platform, "LIVE-REDIS").await;
    platform.stop().await;
    let keys = kernel_infra::testing::remove_redis_keys(&redis, &prefix).await;
    assert!(keys.iter().any(|k| k.contains("ecommerce.orders.order")), "{keys:?}");
}

/// The deployment shape: two replicas of every service on the same PostgreSQL
/// databases and Redis streams, each behind its own gateway. The customer checks out
/// through the first and follows the order over graphql-ws through the second: every
/// status once, in order, although two of every relay, consumer and job ran.
#[tokio::test]
async fn two_replicas_of_every_service_on_postgres_and_redis_show_the_journey_once() {
    let Some((redis, prefix, jobs)) = redis_and_postgres_jobs().await else {
        return;
    };
    let platform = TestPlatform::start_with(Backend::Postgres, jobs.clone()).await;
    let replica = platform.start_replica(&jobs).await;
    stocked_product(&platform, "LIVE-TWO", 2500, 5).await;
    let customer = Customer::new();
    let mut client = crate::websocket::WsClient::connect_at(&replica.url, Some(&customer.token)).await;
    client.subscribe("mine", MY_ORDER_UPDATES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let order = place_paid_order(&platform, &customer, "LIVE-TWO").await;

    let mut statuses = Vec::new();
    while let Some(message) = client.next(Duration::from_secs(30)).await {
        assert_eq!(message["type"], "next", "{message}");
        let update = &message["payload"]["data"]["myOrderUpdates"];
        assert_eq!(update["orderId"], order.as_str(), "{message}");
        assert_eq!(
            update["order"]["items"][0]["product"]["name"], "Product LIVE-TWO",
            "{message}"
        );
        statuses.push(update["to"].as_str().unwrap().to_owned());
        if update["to"] == "DELIVERED" {
            break;
        }
    }
    assert_eq!(statuses, JOURNEY, "every status once, in order");
    assert!(client.next(Duration::from_secs(2)).await.is_none(), "nothing twice");
    let order_id = uuid::Uuid::try_parse(&order).unwrap();
    let shipments = replica
        .contexts
        .shipping
        .shipping
        .for_orders(&[order_id])
        .await
        .unwrap();
    assert_eq!(shipments.len(), 1, "one shipment, though two consumers read order.paid");
    drop(replica);
    platform.stop().await;
    kernel_infra::testing::remove_redis_keys(&redis, &prefix).await;
}

/// A customer follows `myOrderUpdates` over SSE while an order of `sku` is placed,
/// paid, shipped and delivered: every status once, in order, with the items' product
/// names resolved through federation.
async fn watch_the_journey(platform: &TestPlatform, sku: &str) {
    stocked_product(platform, sku, 2500, 5).await;
    let customer = Customer::new();

    let mut events = Events::open(
        platform,
        Transport::Sse,
        Some(&customer.token),
        MY_ORDER_UPDATES,
        json!({}),
    )
    .await;
    // The gateway answers before the subgraph's stream is open; give it a moment so
    // the order's first status is not placed before anyone listens.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let order = place_paid_order(platform, &customer, sku).await;

    let updates = statuses_until_delivered(&mut events, &order).await;
    let statuses: Vec<&str> = updates.iter().map(|u| u["to"].as_str().unwrap()).collect();
    assert_eq!(statuses, JOURNEY, "every status once, in order");
    let mut event_ids: Vec<&str> = updates.iter().map(|u| u["eventId"].as_str().unwrap()).collect();
    event_ids.dedup();
    assert_eq!(event_ids.len(), JOURNEY.len());
    assert_eq!(updates[0]["from"], Value::Null);
    for update in &updates {
        // Products resolves the item's name for every event, through the gateway.
        assert_eq!(
            update["order"]["items"][0]["product"]["name"],
            format!("Product {sku}"),
            "{update}"
        );
    }
}

#[tokio::test]
async fn another_customer_and_an_anonymous_caller_cannot_follow_an_order() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "LIVE-2", 1500, 5).await;
    let owner = Customer::new();
    let order = place_paid_order(&platform, &owner, "LIVE-2").await;
    let query = "subscription($id: ID!) { orderStatusChanged(orderId: $id) { to } }";

    let stranger = Customer::new();
    let mut events = Events::open(
        &platform,
        Transport::Sse,
        Some(&stranger.token),
        query,
        json!({ "id": order }),
    )
    .await;
    let refused = events.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(refused["data"], Value::Null, "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert!(events.next(Duration::from_secs(2)).await.is_none(), "the stream ends");

    // Without a token the gateway refuses before anything reaches Orders. The engine
    // answers such a refusal as one JSON response, so the client must accept JSON too.
    let response = platform
        .client()
        .post(format!("{}/graphql", platform.url))
        .header("accept", "text/event-stream, application/graphql-response+json")
        .json(&json!({ "query": query, "variables": { "id": order } }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");

    // A forged identity header is dropped at the gateway: still anonymous.
    let response = platform
        .client()
        .post(format!("{}/graphql", platform.url))
        .header("accept", "text/event-stream, application/graphql-response+json")
        .header("x-identity", owner.assertion("orders"))
        .json(&json!({ "query": MY_ORDER_UPDATES }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    platform.stop().await;
}

#[tokio::test]
async fn an_order_is_followed_over_multipart_http_too() {
    // A slower carrier, so the order is still on its way when the client subscribes.
    let mut jobs = crate::fast_jobs();
    jobs.set("shipping", "carrier_step_seconds", json!(2.0));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    stocked_product(&platform, "LIVE-3", 900, 5).await;
    let customer = Customer::new();
    let order = place_paid_order(&platform, &customer, "LIVE-3").await;

    let query = "subscription($id: ID!) { orderStatusChanged(orderId: $id) { orderId from to order { status } } }";
    let mut events = Events::open(
        &platform,
        Transport::Multipart,
        Some(&customer.token),
        query,
        json!({ "id": order }),
    )
    .await;
    // Subscribed after payment: it sees what happens from now on, in order.
    let updates = statuses_until_delivered(&mut events, &order).await;
    let statuses: Vec<&str> = updates.iter().map(|u| u["to"].as_str().unwrap()).collect();
    assert!(statuses.len() >= 2, "at least SHIPPED and DELIVERED: {updates:?}");
    assert!(
        updates[0]["order"]["status"].is_string(),
        "federation resolved the order: {updates:?}"
    );
    let expected_tail = &JOURNEY[JOURNEY.len() - statuses.len()..];
    assert_eq!(statuses, expected_tail, "the remaining statuses, in order");
    platform.stop().await;
}

#[tokio::test]
async fn anyone_may_follow_a_products_price_and_sees_each_new_one() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "LIVE-4", 1000, 5).await;
    let query = "subscription($id: ID!) { priceChanged(productId: $id) { productId oldPrice { amount } \
                 newPrice { amount currency } product { name inventory { available } } } }";
    let mut events = Events::open(&platform, Transport::Sse, None, query, json!({ "id": product })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    for amount in [1200, 900] {
        change_price(&platform, &product, amount).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let result = events.next(Duration::from_secs(15)).await.expect("a price change");
        assert!(result["errors"].is_null(), "{result}");
        seen.push(result["data"]["priceChanged"].clone());
    }
    assert_eq!(seen[0]["oldPrice"]["amount"], 1000);
    assert_eq!(seen[0]["newPrice"]["amount"], 1200);
    assert_eq!(seen[1]["oldPrice"]["amount"], 1200);
    assert_eq!(seen[1]["newPrice"]["amount"], 900);
    // The product's name comes from Products and its stock from Inventory.
    assert_eq!(seen[1]["product"]["name"], "Product LIVE-4", "{:?}", seen[1]);
    assert_eq!(seen[1]["product"]["inventory"]["available"], 5, "{:?}", seen[1]);
    platform.stop().await;
}

#[tokio::test]
async fn two_tabs_following_one_order_share_one_upstream_subscription() {
    let mut jobs = crate::fast_jobs();
    jobs.set("shipping", "carrier_step_seconds", json!(2.0));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    stocked_product(&platform, "LIVE-5", 700, 5).await;
    let customer = Customer::new();
    let order = place_paid_order(&platform, &customer, "LIVE-5").await;
    platform.orders_requests.lock().unwrap().clear();

    let query = "subscription($id: ID!) { orderStatusChanged(orderId: $id) { orderId to } }";
    let variables = json!({ "id": order });
    let mut first = Events::open(
        &platform,
        Transport::Sse,
        Some(&customer.token),
        query,
        variables.clone(),
    )
    .await;
    let mut second = Events::open(&platform, Transport::Sse, Some(&customer.token), query, variables).await;
    let first_seen = statuses_until_delivered(&mut first, &order).await;
    let second_seen = statuses_until_delivered(&mut second, &order).await;

    assert_eq!(first_seen.last().unwrap()["to"], "DELIVERED", "{first_seen:?}");
    // The second tab joined the shared stream a moment later: it sees the same updates
    // from then on.
    assert!(
        second_seen.len() >= 2 && first_seen.ends_with(&second_seen),
        "first {first_seen:?}, second {second_seen:?}"
    );
    let upstream: Vec<String> = platform
        .orders_requests
        .lock()
        .unwrap()
        .iter()
        .filter(|body| body.contains("orderStatusChanged"))
        .cloned()
        .collect();
    assert_eq!(
        upstream.len(),
        1,
        "one subscription to Orders for both tabs: {upstream:?}"
    );
    platform.stop().await;
}

#[tokio::test]
async fn a_client_that_reconnects_gets_what_it_missed_in_order_and_nothing_twice() {
    let mut jobs = crate::fast_jobs();
    jobs.set("shipping", "carrier_step_seconds", json!(2.0));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    stocked_product(&platform, "LIVE-6", 800, 5).await;
    let customer = Customer::new();
    let order = place_paid_order(&platform, &customer, "LIVE-6").await;
    let query = "subscription($id: ID!, $after: ID) { orderStatusChanged(orderId: $id, after: $after) { eventId to } }";

    // The first connection sees one update, then drops.
    let mut events = Events::open(
        &platform,
        Transport::Sse,
        Some(&customer.token),
        query,
        json!({ "id": order }),
    )
    .await;
    let first = events.next(Duration::from_secs(30)).await.unwrap();
    let first = first["data"]["orderStatusChanged"].clone();
    drop(events);

    // While it is away the order moves on to DELIVERED.
    crate::shop::until_delivered(&platform, &customer, &order).await;

    // Reconnecting after the update it saw, it gets the rest, in order, once each.
    let variables = json!({ "id": order, "after": first["eventId"] });
    let mut events = Events::open(&platform, Transport::Sse, Some(&customer.token), query, variables).await;
    let mut missed = Vec::new();
    while let Some(result) = events.next(Duration::from_secs(3)).await {
        assert!(result["errors"].is_null(), "{result}");
        missed.push(result["data"]["orderStatusChanged"].clone());
    }
    let statuses: Vec<&str> = std::iter::once(&first)
        .chain(&missed)
        .map(|u| u["to"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, JOURNEY[JOURNEY.len() - statuses.len()..], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"DELIVERED"));
    assert!(missed.iter().all(|u| u["eventId"] != first["eventId"]), "nothing twice");

    // An `after` that is not an update of this order is refused.
    let variables = json!({ "id": order, "after": uuid::Uuid::now_v7().to_string() });
    assert_refused(&platform, Some(&customer.token), query, variables).await;
    platform.stop().await;
}

#[tokio::test]
async fn my_order_updates_resume_across_orders_with_only_my_own() {
    let mut jobs = crate::fast_jobs();
    jobs.set("shipping", "carrier_step_seconds", json!(2.0));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    for sku in ["LIVE-7", "LIVE-8", "LIVE-9"] {
        stocked_product(&platform, sku, 700, 10).await;
    }
    let (customer, other) = (Customer::new(), Customer::new());
    let query = "subscription($after: ID) { myOrderUpdates(after: $after) { eventId orderId to } }";

    // The first connection sees the first update of the first order, then drops.
    let mut events = Events::open(&platform, Transport::Sse, Some(&customer.token), query, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first_order = place_paid_order(&platform, &customer, "LIVE-7").await;
    let first = events.next(Duration::from_secs(30)).await.unwrap();
    let first = first["data"]["myOrderUpdates"].clone();
    assert_eq!(first["orderId"], first_order.as_str());
    drop(events);

    // While it is away: its order moves on, it places a second one, another customer
    // places one too.
    let second_order = place_paid_order(&platform, &customer, "LIVE-8").await;
    place_paid_order(&platform, &other, "LIVE-9").await;
    for order in [&first_order, &second_order] {
        crate::shop::until_delivered(&platform, &customer, order).await;
    }
    // And the rest of the shop is busy: 120,000 updates of other customers' orders.
    // Catching up reads this customer's own updates by index, never through those.
    flood_with_other_order_updates(platform.contexts.orders.orders.db(), 120_000).await;

    // Back after the update it saw: the rest of both orders, in order, once, and none
    // of the other customer's.
    let variables = json!({ "after": first["eventId"] });
    let mut events = Events::open(&platform, Transport::Sse, Some(&customer.token), query, variables).await;
    let mut missed = Vec::new();
    while let Some(result) = events.next(Duration::from_secs(3)).await {
        assert!(result["errors"].is_null(), "{result}");
        missed.push(result["data"]["myOrderUpdates"].clone());
    }
    for (order, expected) in [(&first_order, &JOURNEY[1..]), (&second_order, &JOURNEY[..])] {
        let statuses: Vec<&str> = missed
            .iter()
            .filter(|u| u["orderId"] == order.as_str())
            .map(|u| u["to"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, expected, "{order}: {missed:?}");
    }
    assert_eq!(missed.len(), JOURNEY.len() * 2 - 1, "only my own orders: {missed:?}");
    let mut ids: Vec<&Value> = missed.iter().map(|u| &u["eventId"]).collect();
    ids.sort_by_key(|id| id.to_string());
    ids.dedup();
    assert_eq!(ids.len(), missed.len(), "nothing twice");

    // An `after` that is no order update is refused.
    let variables = json!({ "after": uuid::Uuid::now_v7().to_string() });
    let mut events = Events::open(&platform, Transport::Sse, Some(&customer.token), query, variables).await;
    let refused = events.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    platform.stop().await;
}

/// Writes `count` published order-status updates of orders that are no one's here,
/// straight into Orders' outbox (as if they had happened and been relayed).
async fn flood_with_other_order_updates(db: &sea_orm::DatabaseConnection, count: usize) {
    use kernel_infra::outbox::entity;
    use sea_orm::{EntityTrait, Set};
    let now = chrono::Utc::now();
    for batch in 0..count.div_ceil(1_000) {
        let rows = (0..1_000.min(count - batch * 1_000)).map(|_| {
            let order = uuid::Uuid::now_v7();
            entity::ActiveModel {
                event_id: Set(uuid::Uuid::now_v7()),
                event_type: Set("ecommerce.orders.order.status_changed.v1".to_owned()),
                partition_key: Set(order.to_string()),
                envelope: Set(json!({ "orderId": order }).to_string()),
                occurred_at: Set(now),
                published_at: Set(Some(now)),
                attempts: Set(1),
                last_error: Set(None),
                ..Default::default()
            }
        });
        entity::Entity::insert_many(rows).exec(db).await.unwrap();
    }
}

const FLASH_SALE_STARTED: &str = "subscription($category: String) { flashSaleStarted(category: $category) { \
     eventId sale { id status price { amount } regularPrice { amount } endsAt product { id name price { amount } } } } }";

const SCHEDULE_FLASH_SALE: &str = "mutation($input: ScheduleFlashSaleInput!) { scheduleFlashSale(input: $input) { \
     id status price { amount } regularPrice { amount } } }";

const PRODUCT_PRICE: &str = "query($id: ID!) { product(id: $id) { price { amount } flashSale { id status } } }";

#[tokio::test]
async fn a_flash_sale_is_announced_live_lowers_the_price_and_ends_on_time() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "SALE-1", 1000, 20).await;
    let admin = platform.admin_token();
    let customer = Customer::new();

    // Only an ADMIN puts a product on sale.
    let ends_at = (chrono::Utc::now() + chrono::Duration::seconds(20)).to_rfc3339();
    let input = json!({ "input": {
        "productId": product, "price": { "amount": 600, "currency": "USD" }, "endsAt": ends_at,
    }});
    let (_, refused) = platform
        .post_as(Some(&customer.token), SCHEDULE_FLASH_SALE, input.clone())
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    let (_, body) = platform.post(PRODUCT_PRICE, json!({ "id": product })).await;
    assert_eq!(
        body["data"]["product"]["flashSale"],
        Value::Null,
        "nothing scheduled: {body}"
    );

    // Anyone may follow sales as they start; one watcher only for another category.
    let mut phones = Events::open(
        &platform,
        Transport::Sse,
        None,
        FLASH_SALE_STARTED,
        json!({ "category": "electronics" }),
    )
    .await;
    let mut garden = Events::open(
        &platform,
        Transport::Sse,
        None,
        FLASH_SALE_STARTED,
        json!({ "category": "garden" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (_, scheduled) = platform.post_as(Some(&admin), SCHEDULE_FLASH_SALE, input.clone()).await;
    assert!(scheduled["errors"].is_null(), "{scheduled}");
    let sale = &scheduled["data"]["scheduleFlashSale"];
    assert_eq!(
        sale["status"], "ACTIVE",
        "a sale whose start has come starts at once: {sale}"
    );
    assert_eq!(sale["regularPrice"]["amount"], 1000);

    let started = phones
        .next(Duration::from_secs(15))
        .await
        .expect("the sale is announced");
    assert!(started["errors"].is_null(), "{started}");
    let announced = &started["data"]["flashSaleStarted"]["sale"];
    assert_eq!(announced["id"], sale["id"]);
    assert_eq!(announced["price"]["amount"], 600);
    assert_eq!(announced["product"]["name"], "Product SALE-1", "resolved for the event");
    assert_eq!(
        announced["product"]["price"]["amount"], 600,
        "the sale price is the price"
    );
    assert!(
        garden.next(Duration::from_secs(1)).await.is_none(),
        "not announced to another category"
    );

    // While it runs: the price is the sale price, a second sale and a hand-made price
    // change are refused, and a checkout pays the sale price.
    let (_, again) = platform.post_as(Some(&admin), SCHEDULE_FLASH_SALE, input).await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "CONFLICT", "{again}");
    let (_, repriced) = platform
        .post_as(
            Some(&admin),
            "mutation($id: ID!) { changePrice(id: $id, price: { amount: 900, currency: \"USD\" }) { id } }",
            json!({ "id": product }),
        )
        .await;
    assert_eq!(repriced["errors"][0]["extensions"]["code"], "CONFLICT", "{repriced}");
    let cart = add_to_cart(&platform, &customer, "SALE-1", 2).await;
    let session = checkout(&platform, &customer, &cart, None, "tok_visa", "sale-1").await;
    assert_eq!(session["data"]["checkout"]["status"], "COMPLETED", "{session}");
    assert_eq!(session["data"]["checkout"]["total"]["amount"], 1200, "{session}");

    // It ends on time and the price comes back.
    crate::shop::eventually("the sale has ended", || async {
        let (_, body) = platform.post(PRODUCT_PRICE, json!({ "id": product })).await;
        body["data"]["product"]["price"]["amount"] == 1000 && body["data"]["product"]["flashSale"].is_null()
    })
    .await;
    let (_, body) = platform
        .post(
            "query($id: ID!) { product(id: $id) { priceHistory { price { amount } } } }",
            json!({ "id": product }),
        )
        .await;
    let history: Vec<&Value> = body["data"]["product"]["priceHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["price"]["amount"])
        .collect();
    assert_eq!(history, [&json!(1000), &json!(600), &json!(1000)], "{body}");
    platform.stop().await;
}

/// Every envelope in one context's outbox whose payload mentions `text`.
async fn outbox_mentioning(db: &sea_orm::DatabaseConnection, text: &str) -> Vec<kernel::EventEnvelope> {
    kernel_infra::outbox::all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|envelope| envelope.payload.to_string().contains(text))
        .collect()
}

#[tokio::test]
async fn a_requests_trace_id_reaches_its_events_the_events_they_cause_and_the_subscriber() {
    let mut jobs = crate::fast_jobs();
    jobs.set("shipping", "carrier_step_seconds", json!(1.0));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    stocked_product(&platform, "TRACE-1", 1500, 3).await;
    let customer = Customer::new();
    let query = "subscription { myOrderUpdates { orderId to traceId } }";
    let mut events = Events::open(&platform, Transport::Sse, Some(&customer.token), query, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The client starts a trace (W3C traceparent) and checks out under it.
    let trace = uuid::Uuid::now_v7().simple().to_string();
    let cart = add_to_cart(&platform, &customer, "TRACE-1", 1).await;
    let input = json!({ "input": {
        "cartId": cart, "couponCode": null, "paymentMethod": "card", "idempotencyKey": "trace-1",
    }});
    let body: Value = platform
        .client()
        .post(format!("{}/graphql", platform.url))
        .bearer_auth(&customer.token)
        .header("accept", "application/graphql-response+json")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&json!({ "query": crate::shop::CHECKOUT, "variables": input }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["checkout"]["status"], "COMPLETED", "{body}");
    let order = body["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();

    // The subscriber sees the trace on every update the request caused: the order's
    // placement and payment (Orders, called by the saga), and its fulfilment (Orders
    // consuming Shipping's label, which Shipping made consuming order.paid).
    let mut traced = Vec::new();
    while let Some(result) = events.next(Duration::from_secs(30)).await {
        let update = result["data"]["myOrderUpdates"].clone();
        assert_eq!(update["orderId"], order.as_str(), "{result}");
        if update["to"] == "SHIPPED" {
            // The carrier's own step: a new trace, not the client's.
            assert_ne!(update["traceId"], trace.as_str(), "{update}");
            break;
        }
        assert_eq!(update["traceId"], trace.as_str(), "{update}");
        traced.push(update["to"].as_str().unwrap().to_owned());
    }
    assert_eq!(traced, ["PENDING", "AWAITING_PAYMENT", "PAID", "FULFILLING"]);

    // In the outboxes, the events the request caused carry the trace: the order's
    // placement, payment and fulfilment, the payment's, and Shipping's label.
    let contexts = &platform.contexts;
    let caused = |event: &kernel::EventEnvelope| match event.event_type.as_str() {
        "ecommerce.orders.order.status_changed.v1" => {
            ["PENDING", "AWAITING_PAYMENT", "PAID", "FULFILLING"].contains(&event.payload["to"].as_str().unwrap_or(""))
        }
        // The carrier's steps (in transit: the order is SHIPPED, fulfilled), each a
        // trace of its own.
        "ecommerce.shipping.shipment.in_transit.v1" | "ecommerce.shipping.shipment.delivered.v1" => false,
        "ecommerce.orders.order.fulfilled.v1" | "ecommerce.orders.order.delivered.v1" => false,
        _ => true,
    };
    let mut checked = Vec::new();
    for db in [
        contexts.orders.orders.db(),
        contexts.payments.payments.db(),
        contexts.shipping.shipping.db(),
    ] {
        for event in outbox_mentioning(db, &order).await.iter().filter(|e| caused(e)) {
            assert_eq!(event.trace_id, trace, "{}", event.event_type);
            checked.push(event.event_type.to_string());
        }
    }
    for expected in [
        "ecommerce.orders.order.created.v1",
        "ecommerce.orders.order.paid.v1",
        "ecommerce.payments.payment.authorized.v1",
        "ecommerce.shipping.shipment.label_created.v1",
    ] {
        assert!(
            checked.iter().any(|t| t == expected),
            "{expected} not among {checked:?}"
        );
    }
    platform.stop().await;
}

#[tokio::test]
async fn a_price_follower_that_reconnects_gets_the_changes_it_missed_in_order_once() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "LIVE-10", 1000, 5).await;
    let query = "subscription($id: ID!, $after: ID) { priceChanged(productId: $id, after: $after) { eventId newPrice { amount } } }";
    let change = async |amount: i64| change_price(&platform, &product, amount).await;

    // The first connection sees one change, then drops.
    let mut events = Events::open(&platform, Transport::Sse, None, query, json!({ "id": product })).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    change(1100).await;
    let first = events.next(Duration::from_secs(15)).await.unwrap();
    let first = first["data"]["priceChanged"].clone();
    assert_eq!(first["newPrice"]["amount"], 1100, "{first}");
    drop(events);

    // While it is away the price changes twice; after it is back, once more.
    change(1200).await;
    change(1300).await;
    let variables = json!({ "id": product, "after": first["eventId"] });
    let mut events = Events::open(&platform, Transport::Sse, None, query, variables).await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let result = events.next(Duration::from_secs(15)).await.expect("a missed change");
        assert!(result["errors"].is_null(), "{result}");
        seen.push(result["data"]["priceChanged"].clone());
    }
    change(1400).await;
    while let Some(result) = events.next(Duration::from_secs(3)).await {
        seen.push(result["data"]["priceChanged"].clone());
    }
    let amounts: Vec<i64> = seen.iter().map(|c| c["newPrice"]["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [1200, 1300, 1400], "missed, in order, then live, once each");

    // An `after` that is not a change of this product is refused.
    let variables = json!({ "id": product, "after": uuid::Uuid::now_v7().to_string() });
    assert_refused(&platform, None, query, variables).await;
    platform.stop().await;
}

/// Hive Router ends the subscriptions of a supergraph it replaces, with the error code
/// SUBSCRIPTION_SCHEMA_RELOAD. A client that then resubscribes with the `eventId` it
/// saw last loses nothing across the reload and sees nothing twice.
#[tokio::test]
async fn a_subscription_resumes_across_a_supergraph_reload_without_losing_an_event() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "LIVE-11", 1000, 5).await;
    // A gateway that looks at its supergraph file every 300 ms (not every 10 s).
    let gateway = platform
        .another_gateway(
            |config| {
                assert!(config.contains("  poll_interval: 10s\n"), "{config}");
                config.replacen("  poll_interval: 10s\n", "  poll_interval: 300ms\n", 1)
            },
            &[],
        )
        .await;
    let query = "subscription($id: ID!, $after: ID) { priceChanged(productId: $id, after: $after) { eventId newPrice { amount } product { name } } }";
    let open = async |after: Option<&Value>| {
        let variables = json!({ "id": product, "after": after });
        Events::open_at(&platform, &gateway.url, Transport::Sse, None, query, variables).await
    };
    let change = async |amount: i64| change_price(&platform, &product, amount).await;
    let mut events = open(None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    change(1100).await;
    let seen = events
        .next(Duration::from_secs(15))
        .await
        .expect("a change before the reload");
    let seen = seen["data"]["priceChanged"].clone();
    assert_eq!(seen["newPrice"]["amount"], 1100, "{seen}");

    // A broken supergraph file is not loaded: the gateway keeps the one it has.
    let ask = async || {
        platform
            .client()
            .post(format!("{}/graphql", gateway.url))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": "{ webhookEventTypes }" }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let sdl = std::fs::read_to_string(&gateway.supergraph).unwrap();
    std::fs::write(&gateway.supergraph, "type Query {").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ask().await, 200, "the broken file was not loaded");

    // A new supergraph: the same, without Query.webhookEventTypes. The gateway has
    // reloaded when that field is gone, and the open subscription is told so.
    let line = sdl
        .lines()
        .find(|line| line.starts_with("  webhookEventTypes:"))
        .expect("the supergraph has the field to remove");
    let field = format!("  \"\"\"\n  The event types a partner can subscribe a webhook to.\n  \"\"\"\n{line}\n");
    assert!(sdl.contains(&field), "the field has its description above it");
    std::fs::write(&gateway.supergraph, sdl.replacen(&field, "", 1)).unwrap();
    crate::shop::eventually("the gateway reloaded its supergraph", || async { ask().await == 400 }).await;
    let closed = events
        .next(Duration::from_secs(10))
        .await
        .expect("the reload is announced");
    assert_eq!(
        closed["errors"][0]["extensions"]["code"], "SUBSCRIPTION_SCHEMA_RELOAD",
        "{closed}"
    );

    // The price changes before the client is back; it resumes after what it saw, gets
    // the change it missed, then the live ones, resolved through the new supergraph.
    change(1200).await;
    let mut events = open(Some(&seen["eventId"])).await;
    let missed = events.next(Duration::from_secs(15)).await.expect("the missed change");
    change(1300).await;
    let live = events.next(Duration::from_secs(15)).await.expect("a live change");
    for (result, amount) in [(&missed, 1200), (&live, 1300)] {
        assert!(result["errors"].is_null(), "{result}");
        assert_eq!(result["data"]["priceChanged"]["newPrice"]["amount"], amount, "{result}");
        assert_eq!(
            result["data"]["priceChanged"]["product"]["name"], "Product LIVE-11",
            "{result}"
        );
    }
    assert!(events.next(Duration::from_secs(2)).await.is_none(), "nothing twice");
    platform.stop().await;
}

#[tokio::test]
async fn a_flash_sale_watcher_that_reconnects_gets_the_sales_it_missed_in_its_category_once() {
    let platform = TestPlatform::start().await;
    let admin = platform.admin_token();
    let first = stocked_product(&platform, "SALE-R1", 1000, 5).await;
    let second = stocked_product(&platform, "SALE-R2", 1000, 5).await;
    let garden = crate::shop::new_product(&platform, "Hose", "garden", 1000, "SALE-R3", false).await;
    let put_on_sale = async |product: &str| {
        let ends_at = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
        let input = json!({ "input": {
            "productId": product, "price": { "amount": 700, "currency": "USD" }, "endsAt": ends_at,
        }});
        let (_, body) = platform.post_as(Some(&admin), SCHEDULE_FLASH_SALE, input).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["scheduleFlashSale"]["id"].as_str().unwrap().to_owned()
    };
    let query = "subscription($category: String, $after: ID) { flashSaleStarted(category: $category, after: $after) { eventId sale { id } } }";

    // The first connection sees the first sale, then drops.
    let mut events = Events::open(
        &platform,
        Transport::Sse,
        None,
        query,
        json!({ "category": "electronics" }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    put_on_sale(&first).await;
    let seen = events.next(Duration::from_secs(15)).await.expect("the first sale");
    let seen = seen["data"]["flashSaleStarted"].clone();
    drop(events);

    // While it is away a sale starts in its category and one in another.
    let missed = put_on_sale(&second).await;
    put_on_sale(&garden).await;
    let variables = json!({ "category": "electronics", "after": seen["eventId"] });
    let mut events = Events::open(&platform, Transport::Sse, None, query, variables).await;
    let result = events.next(Duration::from_secs(15)).await.expect("the missed sale");
    assert!(result["errors"].is_null(), "{result}");
    assert_eq!(
        result["data"]["flashSaleStarted"]["sale"]["id"],
        missed.as_str(),
        "{result}"
    );
    assert!(
        events.next(Duration::from_secs(2)).await.is_none(),
        "nothing else, nothing twice"
    );

    // An `after` that is not an announcement is refused.
    let variables = json!({ "after": uuid::Uuid::now_v7().to_string() });
    assert_refused(&platform, None, query, variables).await;
    platform.stop().await;
}

/// More open subscriptions than Hive Router's default limit of long-lived clients (128)
/// on one gateway: every one is accepted and every one receives the change.
#[tokio::test]
async fn a_gateway_holds_more_than_128_subscriptions_and_feeds_them_all() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "LIVE-MANY", 1000, 5).await;
    let query = "subscription($id: ID!) { priceChanged(productId: $id) { newPrice { amount } } }";
    let mut all = Vec::new();
    for _ in 0..200 {
        all.push(Events::open(&platform, Transport::Sse, None, query, json!({ "id": product })).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = platform
        .post_admin(
            "mutation($id: ID!) { changePrice(id: $id, price: { amount: 1234, currency: \"USD\" }) { id } }",
            json!({ "id": product }),
        )
        .await;
    assert!(status == 200 && body["errors"].is_null(), "{body}");
    for events in &mut all {
        let result = events.next(Duration::from_secs(15)).await.expect("the change");
        assert_eq!(result["data"]["priceChanged"]["newPrice"]["amount"], 1234, "{result}");
    }
    platform.stop().await;
}

/// Asks for a return of `quantity` units of `sku`, approves and receives it; the
/// process's status.
async fn return_units(platform: &TestPlatform, customer: &Customer, order: &str, sku: &str, quantity: i64) -> Value {
    let asked = crate::shop::request_return(platform, customer, order, sku, quantity, "spare").await;
    crate::shop::approve_return(platform, &asked).await;
    crate::shop::receive_return(platform, &asked).await
}

#[tokio::test]
async fn returns_move_a_followed_order_live_and_a_reconnect_resumes_after_them() {
    let platform = TestPlatform::start_with(Backend::Sqlite, fast_jobs()).await;
    stocked_product(&platform, "LIVE-RET", 800, 5).await;
    let customer = Customer::new();
    let cart = add_to_cart(&platform, &customer, "LIVE-RET", 2).await;
    let session = checkout(&platform, &customer, &cart, None, "tok_visa", "key-live-ret").await;
    let order = session["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();
    crate::shop::until_delivered(&platform, &customer, &order).await;
    let query =
        "subscription($id: ID!, $after: ID) { orderStatusChanged(orderId: $id, after: $after) { eventId from to } }";

    // PARTIALLY_REFUNDED is announced by order.status_changed.v2; the follower sees it.
    let mut events = Events::open(
        &platform,
        Transport::Sse,
        Some(&customer.token),
        query,
        json!({ "id": order }),
    )
    .await;
    assert_eq!(
        return_units(&platform, &customer, &order, "LIVE-RET", 1).await,
        "COMPLETED"
    );
    let partly = events.next(Duration::from_secs(30)).await.unwrap();
    let partly = partly["data"]["orderStatusChanged"].clone();
    assert_eq!(
        (partly["from"].as_str(), partly["to"].as_str()),
        (Some("DELIVERED"), Some("PARTIALLY_REFUNDED")),
        "{partly}"
    );
    drop(events);

    // Away, the last unit comes back; reconnecting after the v2 update it saw, the
    // follower gets the move to REFUNDED, once.
    assert_eq!(
        return_units(&platform, &customer, &order, "LIVE-RET", 1).await,
        "COMPLETED"
    );
    let variables = json!({ "id": order, "after": partly["eventId"] });
    let mut events = Events::open(&platform, Transport::Sse, Some(&customer.token), query, variables).await;
    let mut missed = Vec::new();
    while let Some(result) = events.next(Duration::from_secs(3)).await {
        assert!(result["errors"].is_null(), "{result}");
        missed.push(result["data"]["orderStatusChanged"]["to"].clone());
    }
    assert_eq!(missed, [json!("REFUNDED")]);
    platform.stop().await;
}
