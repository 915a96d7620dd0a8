//! Event contracts: every event the contexts write to their outboxes during a shop's
//! day (a sign-up, a catalog change, checkouts that succeed and fail, a delivery,
//! returns asked for and decided, a refund) has a JSON Schema under schema/events/, named by its type, and its payload
//! validates against it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::TestPlatform;
use crate::shop::{
    CHECKOUT, Customer, add_to_cart, approve_return, checkout, coupon, eventually, ok, receive_return, request_return,
    stocked_product, until_delivered,
};

fn schema_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/events")
}

/// Every envelope in every context's outbox.
async fn outbox_envelopes(platform: &TestPlatform) -> Vec<kernel::EventEnvelope> {
    let mut envelopes = Vec::new();
    for url in platform.database_urls() {
        let db = kernel_infra::db::connect(&url).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT envelope FROM outbox_events ORDER BY seq",
            ))
            .await
            .unwrap();
        for row in rows {
            let text: String = row.try_get("", "envelope").unwrap();
            envelopes.push(serde_json::from_str(&text).unwrap());
        }
    }
    envelopes
}

/// A day at the shop that makes every context speak.
async fn a_day_at_the_shop(platform: &TestPlatform) {
    let product = stocked_product(platform, "EVT-1", 4000, 10).await;
    coupon(platform, "EVT10", 1000, Some(5)).await;
    let admin = platform.admin_token();
    ok(
        platform,
        &admin,
        "mutation($id: ID!) { changePrice(id: $id, price: { amount: 3500, currency: \"USD\" }) { id } }",
        json!({ "id": product }),
    )
    .await;
    let (status, body) = platform
        .post(
            "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            json!({ "i": { "email": "contracts@example.com", "password": "correct horse battery", "displayName": "Contracts" } }),
        )
        .await;
    assert!(status == 200 && body["errors"].is_null(), "{body}");

    // A flash sale of another product that starts at once and ends a second later.
    let on_sale = stocked_product(platform, "EVT-SALE", 2000, 5).await;
    let ends_at = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    ok(
        platform,
        &admin,
        "mutation($input: ScheduleFlashSaleInput!) { scheduleFlashSale(input: $input) { id } }",
        json!({ "input": { "productId": on_sale, "price": { "amount": 1500, "currency": "USD" }, "endsAt": ends_at } }),
    )
    .await;

    // A checkout with a coupon and a delivery that is paid, shipped and delivered, then
    // refunded.
    let method = ok(
        platform,
        &admin,
        "mutation($input: ShippingMethodInput!) { createShippingMethod(input: $input) { id } }",
        json!({ "input": {
            "name": "Standard", "carrier": "UPS", "currency": "USD", "minDeliveryDays": 2, "maxDeliveryDays": 4,
            "zones": [{ "name": "Domestic", "countries": ["US"], "rates": [{ "price": 599 }] }]
        } }),
    )
    .await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, "EVT-1", 2).await;
    let address = json!({
        "name": "Eve Example", "line1": "1 Main St", "city": "Austin", "postalCode": "73301", "country": "US",
        "phone": "+15125550100",
    });
    let input = json!({ "input": {
        "cartId": cart, "couponCode": "EVT10", "paymentMethod": "card", "idempotencyKey": "evt-paid",
        "delivery": {
            "shippingAddress": { "address": address },
            "shippingMethodId": method["createShippingMethod"]["id"],
        },
    }});
    let paid = platform.post_as(Some(&customer.token), CHECKOUT, input).await.1;
    assert_eq!(paid["data"]["checkout"]["status"], "COMPLETED", "{paid}");
    let order = paid["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();
    until_delivered(platform, &customer, &order).await;
    let query = "query($id: ID!) { order(id: $id) { payment { id } } }";
    let data = ok(platform, &customer.token, query, json!({ "id": order })).await;
    let payment = data["order"]["payment"]["id"].as_str().unwrap().to_owned();
    // The customer asks to return a unit, which staff approve, and the other, which
    // they refuse.
    let asked = [
        request_return(platform, &customer, &order, "EVT-1", 1, "too big").await,
        request_return(platform, &customer, &order, "EVT-1", 1, "too big").await,
    ];
    approve_return(platform, &asked[0]).await;
    ok(
        platform,
        &admin,
        "mutation($id: ID!) { refuseReturn(id: $id, reason: \"worn\") { id } }",
        json!({ "id": asked[1] }),
    )
    .await;
    // Staff receive the approved one: refunded, restocked, the order partly refunded.
    assert_eq!(receive_return(platform, &asked[0]).await, "COMPLETED");
    // The other unit again, approved; refunded by hand before its goods arrive, its
    // refund is refused and the return reopened.
    let again = request_return(platform, &customer, &order, "EVT-1", 1, "too big").await;
    approve_return(platform, &again).await;
    ok(
        platform,
        &admin,
        "mutation($id: ID!) { refundPayment(id: $id) { status } }",
        json!({ "id": payment }),
    )
    .await;
    assert_eq!(receive_return(platform, &again).await, "FAILED");

    // A paid order with a coupon canceled before it ships: stopped, refunded, restocked,
    // the coupon use given back.
    let changed_mind = Customer::new();
    let cart = add_to_cart(platform, &changed_mind, "EVT-1", 1).await;
    let bought = checkout(platform, &changed_mind, &cart, Some("EVT10"), "card", "evt-canceled").await;
    assert_eq!(bought["data"]["checkout"]["status"], "COMPLETED", "{bought}");
    let canceled = ok(
        platform,
        &changed_mind.token,
        "mutation($order: ID!) { cancelPaidOrder(orderId: $order, reason: \"changed my mind\") { status } }",
        json!({ "order": bought["data"]["checkout"]["order"]["id"] }),
    )
    .await;
    assert_eq!(canceled["cancelPaidOrder"]["status"], "CANCELED", "{canceled}");

    // A checkout whose payment is declined: every step is compensated.
    let other = Customer::new();
    let cart = add_to_cart(platform, &other, "EVT-1", 1).await;
    let declined = checkout(platform, &other, &cart, Some("EVT10"), "card_declined", "evt-declined").await;
    assert_eq!(declined["data"]["checkout"]["status"], "FAILED", "{declined}");
    eventually("the flash sale has ended", || async {
        let data = ok(
            platform,
            &admin,
            "query($id: ID!) { product(id: $id) { flashSale { id } } }",
            json!({ "id": on_sale }),
        )
        .await;
        data["product"]["flashSale"].is_null()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn every_event_written_has_a_schema_and_validates_against_it() {
    let mut jobs = crate::fast_jobs();
    // Slow enough that an order canceled right after its checkout is not shipped yet.
    jobs.set("shipping", "carrier_step_seconds", json!(3.0));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    a_day_at_the_shop(&platform).await;
    let envelopes = outbox_envelopes(&platform).await;

    let mut schemas: BTreeMap<String, jsonschema::Validator> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for envelope in &envelopes {
        let event_type = envelope.event_type.to_string();
        *seen.entry(event_type.clone()).or_default() += 1;
        if !schemas.contains_key(&event_type) {
            let path = schema_dir().join(format!("{event_type}.json"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                if seen[&event_type] == 1 {
                    problems.push(format!("{event_type}: no schema at {}", path.display()));
                }
                continue;
            };
            let schema: Value = serde_json::from_str(&text).unwrap();
            schemas.insert(event_type.clone(), jsonschema::validator_for(&schema).unwrap());
        }
        for error in schemas[&event_type].iter_errors(&envelope.payload) {
            problems.push(format!(
                "{event_type} {}: {error} at {}",
                envelope.event_id,
                error.instance_path()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(seen.len() >= 25, "the day covers most event types: {seen:?}");
    for cancellation in [
        "ecommerce.checkout.session.canceled.v1",
        "ecommerce.shipping.shipment.canceled.v1",
        "ecommerce.coupons.redemption.returned.v1",
        "ecommerce.payments.refund.completed.v1",
        "ecommerce.orders.return.requested.v1",
        "ecommerce.orders.return.approved.v1",
        "ecommerce.orders.return.refused.v1",
        "ecommerce.orders.return.received.v1",
        "ecommerce.orders.return.refunded.v1",
        "ecommerce.orders.return.reopened.v1",
        "ecommerce.orders.order.status_changed.v2",
    ] {
        assert!(
            seen.contains_key(cancellation),
            "the cancellation's {cancellation}: {seen:?}"
        );
    }
    platform.stop().await;
}

/// A schema's `$id` and title name its event type, and the file is named by it too:
/// a new version is a new file beside the old one.
#[test]
fn every_schema_is_named_by_its_event_type_and_version() {
    let mut count = 0;
    for entry in std::fs::read_dir(schema_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(kernel::EventType::parse(&name).is_ok(), "{name} is not an event type");
        assert_eq!(schema["title"], name.as_str(), "{}", path.display());
        assert!(
            schema["$id"]
                .as_str()
                .is_some_and(|id| id.ends_with(&format!("{name}.json"))),
            "{}",
            path.display()
        );
        assert!(jsonschema::validator_for(&schema).is_ok(), "{}", path.display());
        count += 1;
    }
    assert!(count >= 36, "{count} schemas");
}
