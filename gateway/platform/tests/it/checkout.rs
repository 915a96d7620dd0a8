//! The checkout saga, scenario by scenario, through the gateway, on SQLite and on
//! PostgreSQL.

use std::time::Duration;

use serde_json::json;

use crate::shop::{
    Customer, add_to_cart, checkout, coupon, eventually, ledger_imbalance, ok, steps, stock, stocked_product,
};
use crate::{Backend, TestPlatform, fast_jobs};

/// Runs `scenario` on a fresh platform per database.
macro_rules! on_every_database {
    ($scenario:ident) => {
        for backend in Backend::all().await {
            let platform = TestPlatform::start_with(backend, fast_jobs()).await;
            $scenario(&platform).await;
            platform.stop().await;
        }
    };
}

/// The saga's forward steps, in order, when a checkout with a coupon completes.
const EVERY_FORWARD_STEP: [&str; 8] = [
    "RESERVE_STOCK",
    "REDEEM_COUPON",
    "PLACE_ORDER",
    "AUTHORIZE_PAYMENT",
    "CONFIRM_STOCK",
    "MARK_ORDER_PAID",
    "COMMIT_COUPON",
    "CAPTURE_PAYMENT",
];

const ORDER: &str = r#"query($id: ID!) {
  order(id: $id) {
    status
    userId
    statusHistory { from to }
    items { sku quantity unitPrice { amount } product { id name } }
    payment { status amount { amount } transactions { kind } }
    shipment { status trackingEvents { status } }
  }
}"#;

#[tokio::test]
async fn a_customer_checks_out_with_a_coupon_and_the_order_is_delivered() {
    on_every_database!(happy_path);
}

async fn happy_path(platform: &TestPlatform) {
    let sku = "HAPPY-1";
    let product_id = stocked_product(platform, sku, 2_500, 10).await;
    coupon(platform, "SAVE10", 1_000, Some(100)).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 2).await;

    let body = checkout(platform, &customer, &cart, Some("save10"), "card", "order-1").await;
    let session = &body["data"]["checkout"];
    assert_eq!(session["status"], "COMPLETED", "{body}");
    assert_eq!(steps(session, "DONE"), EVERY_FORWARD_STEP);
    assert_eq!(session["discount"]["amount"], 500);
    assert_eq!(session["total"]["amount"], 4_500);
    let order_id = session["order"]["id"].as_str().unwrap().to_owned();

    // Fulfilment is choreographed: the shipment follows order.paid, the carrier moves
    // it, and the order follows the shipment.
    eventually("the order is delivered", || async {
        let data = ok(platform, &customer.token, ORDER, json!({ "id": order_id })).await;
        data["order"]["status"] == "DELIVERED"
    })
    .await;
    let order = ok(platform, &customer.token, ORDER, json!({ "id": order_id })).await["order"].clone();
    let history: Vec<&str> = order["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "PENDING",
            "AWAITING_PAYMENT",
            "PAID",
            "FULFILLING",
            "SHIPPED",
            "DELIVERED"
        ]
    );
    assert_eq!(order["userId"], customer.user_id.to_string());
    assert_eq!(order["items"][0]["product"]["id"], product_id);
    assert_eq!(order["items"][0]["product"]["name"], "Product HAPPY-1");
    assert_eq!(order["items"][0]["unitPrice"]["amount"], 2_500);
    assert_eq!(order["payment"]["status"], "CAPTURED");
    assert_eq!(order["payment"]["amount"]["amount"], 4_500);
    assert_eq!(order["shipment"]["status"], "DELIVERED");
    assert_eq!(order["shipment"]["trackingEvents"].as_array().unwrap().len(), 3);

    assert_eq!(stock(platform, sku).await, (8, 0));
    assert!(ledger_imbalance(platform).await.is_empty());
    // The payment's two transactions are booked, each with its pair of entries: what
    // the customer paid sits settled, nothing is left authorized.
    let kinds: Vec<&str> = order["payment"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["AUTHORIZE", "CAPTURE"]);
    let balances = platform
        .contexts
        .payments
        .payments
        .account_balances("USD")
        .await
        .unwrap();
    assert_eq!(
        balances,
        [
            ("AUTHORIZED".to_owned(), 0),
            ("CUSTOMER".to_owned(), -4_500),
            ("SETTLED".to_owned(), 4_500)
        ]
    );
    assert_eq!(
        crate::shop::redemptions(platform, "SAVE10", coupons_domain::RedemptionStatus::Committed).await,
        1
    );
    // The cart was closed by checkout.session.completed; a new one starts empty.
    eventually("the cart is checked out", || async {
        let data = ok(platform, &customer.token, "{ myCart { id } }", json!({})).await;
        data["myCart"].is_null()
    })
    .await;
    // Another customer cannot see the order.
    let stranger = Customer::new();
    let data = ok(platform, &stranger.token, ORDER, json!({ "id": order_id })).await;
    assert!(data["order"].is_null());
}

/// A call slower than the saga's lease (here Payments answers after 1.5 s, the lease is
/// 0.6 s, and the reconciler looks every 0.1 s) keeps its driver: the lease is renewed
/// while the call is out, so no other driver takes the session over half-way and the
/// customer gets the finished checkout. The lease does not depend on the database.
#[tokio::test]
async fn a_step_slower_than_the_lease_keeps_its_driver() {
    let mut jobs = fast_jobs();
    jobs.set("checkout", "lease_seconds", json!(0.6));
    jobs.set("checkout", "resume_after_seconds", json!(0.1));
    let slow = Some(("payments", Duration::from_millis(1_500)));
    let platform = TestPlatform::start_slowed(Backend::Sqlite, jobs, slow).await;
    let sku = "SLOW-1";
    stocked_product(&platform, sku, 1_000, 5).await;
    coupon(&platform, "SLOW", 100, None).await;
    let customer = Customer::new();
    let cart = add_to_cart(&platform, &customer, sku, 1).await;

    let body = checkout(&platform, &customer, &cart, Some("SLOW"), "card", "slow-1").await;
    let session = &body["data"]["checkout"];
    assert_eq!(session["status"], "COMPLETED", "{body}");
    assert_eq!(
        steps(session, "DONE"),
        EVERY_FORWARD_STEP,
        "each step ran once, by one driver: {body}"
    );
    platform.stop().await;
}

#[tokio::test]
async fn a_payment_declined_after_retries_undoes_every_step() {
    on_every_database!(payment_declined);
}

async fn payment_declined(platform: &TestPlatform) {
    let sku = "DECLINE-1";
    stocked_product(platform, sku, 1_000, 5).await;
    coupon(platform, "ONCE", 500, Some(1)).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 3).await;

    // The simulated provider never answers for `card_unavailable`: five attempts, then
    // the payment is declined.
    let body = checkout(platform, &customer, &cart, Some("ONCE"), "card_unavailable", "k1").await;
    let session = &body["data"]["checkout"];
    assert_eq!(session["status"], "FAILED", "{body}");
    assert_eq!(session["failedStep"], "AUTHORIZE_PAYMENT");
    assert!(
        session["failureReason"].as_str().unwrap().contains("after 5 attempts"),
        "{body}"
    );
    assert_eq!(
        steps(session, "DONE"),
        [
            "RESERVE_STOCK",
            "REDEEM_COUPON",
            "PLACE_ORDER",
            "CANCEL_ORDER",
            "RELEASE_COUPON",
            "RELEASE_STOCK"
        ]
    );
    let order_id = session["order"]["id"].as_str().unwrap();
    let order = ok(platform, &customer.token, ORDER, json!({ "id": order_id })).await["order"].clone();
    assert_eq!(order["status"], "CANCELED");
    assert_eq!(order["payment"]["status"], "DECLINED");
    assert_eq!(stock(platform, sku).await, (5, 0));
    // The coupon's only use is free again: the same customer pays with a good card.
    let body = checkout(platform, &customer, &cart, Some("ONCE"), "card", "k2").await;
    assert_eq!(body["data"]["checkout"]["status"], "COMPLETED", "{body}");
    assert!(ledger_imbalance(platform).await.is_empty());
}

#[tokio::test]
async fn out_of_stock_fails_before_anything_is_held() {
    on_every_database!(out_of_stock);
}

async fn out_of_stock(platform: &TestPlatform) {
    let sku = "SCARCE-1";
    stocked_product(platform, sku, 1_000, 1).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 2).await;
    let body = checkout(platform, &customer, &cart, None, "card", "k1").await;
    let session = &body["data"]["checkout"];
    assert_eq!(session["status"], "FAILED", "{body}");
    assert_eq!(session["failedStep"], "RESERVE_STOCK");
    assert!(session["order"].is_null());
    assert!(steps(session, "DONE").is_empty(), "nothing to compensate: {body}");
    assert_eq!(stock(platform, sku).await, (1, 0));
}

#[tokio::test]
async fn an_exhausted_coupon_releases_the_stock_it_held() {
    on_every_database!(coupon_exhausted);
}

async fn coupon_exhausted(platform: &TestPlatform) {
    let sku = "COUPON-1";
    stocked_product(platform, sku, 1_000, 10).await;
    coupon(platform, "FIRSTONLY", 2_000, Some(1)).await;
    let first = Customer::new();
    let cart = add_to_cart(platform, &first, sku, 1).await;
    let body = checkout(platform, &first, &cart, Some("FIRSTONLY"), "card", "k").await;
    assert_eq!(body["data"]["checkout"]["status"], "COMPLETED", "{body}");

    let second = Customer::new();
    let cart = add_to_cart(platform, &second, sku, 1).await;
    let body = checkout(platform, &second, &cart, Some("FIRSTONLY"), "card", "k").await;
    let session = &body["data"]["checkout"];
    assert_eq!(session["status"], "FAILED", "{body}");
    assert_eq!(session["failedStep"], "REDEEM_COUPON");
    assert!(
        session["failureReason"].as_str().unwrap().contains("no uses left"),
        "{body}"
    );
    assert_eq!(steps(session, "DONE"), ["RESERVE_STOCK", "RELEASE_STOCK"]);
    assert_eq!(stock(platform, sku).await, (9, 0));
}

#[tokio::test]
async fn a_duplicate_submission_places_one_order() {
    on_every_database!(duplicate_submission);
}

async fn duplicate_submission(platform: &TestPlatform) {
    let sku = "TWICE-1";
    stocked_product(platform, sku, 1_000, 10).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 1).await;
    let (first, second) = tokio::join!(
        checkout(platform, &customer, &cart, None, "card", "same-key"),
        checkout(platform, &customer, &cart, None, "card", "same-key"),
    );
    let id = first["data"]["checkout"]["id"].clone();
    assert_eq!(second["data"]["checkout"]["id"], id, "{first} {second}");
    // Whichever answered first, the saga completes once.
    eventually("the checkout completes", || async {
        let again = checkout(platform, &customer, &cart, None, "card", "same-key").await;
        again["data"]["checkout"]["status"] == "COMPLETED"
    })
    .await;
    let orders = ok(
        platform,
        &customer.token,
        "{ myOrders { edges { node { id status } } } }",
        json!({}),
    )
    .await;
    assert_eq!(orders["myOrders"]["edges"].as_array().unwrap().len(), 1, "{orders}");
    assert_eq!(stock(platform, sku).await, (9, 0));

    // The same key with another request is refused, and changes nothing.
    let body = checkout(platform, &customer, &cart, None, "card_declined", "same-key").await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
}

#[tokio::test]
async fn customers_see_and_cancel_only_their_own_unpaid_orders() {
    let platform = TestPlatform::start().await;
    let sku = "AUTHZ-1";
    stocked_product(&platform, sku, 1_000, 10).await;
    let customer = Customer::new();
    let cart = add_to_cart(&platform, &customer, sku, 1).await;
    let body = checkout(&platform, &customer, &cart, None, "card", "k").await;
    let order_id = body["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();

    let cancel = "mutation($id: ID!) { cancelOrder(id: $id) { status } }";
    // Paid: even its owner can no longer cancel it.
    let (_, body) = platform
        .post_as(Some(&customer.token), cancel, json!({ "id": order_id }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Another customer is told it does not exist.
    let (_, body) = platform
        .post_as(Some(&Customer::new().token), cancel, json!({ "id": order_id }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    // Only services and staff place orders or mark them paid; nobody anonymous checks out.
    let (_, body) = platform
        .post_as(
            Some(&customer.token),
            "mutation($id: ID!) { markOrderPaid(id: $id) { status } }",
            json!({ "id": order_id }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let (status, body) = platform
        .post(
            crate::shop::CHECKOUT,
            json!({ "input": { "cartId": cart, "paymentMethod": "card", "idempotencyKey": "x" } }),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].clone()),
        (200, json!("UNAUTHENTICATED"))
    );
    // Only staff create coupons.
    let (_, body) = platform
        .post_as(
            Some(&customer.token),
            r#"mutation { createCoupon(input: { code: "FREE", kind: PERCENTAGE, basisPoints: 10000 }) { code } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    platform.stop().await;
}

#[tokio::test]
async fn the_whole_journey_through_the_gateway() {
    let platform = TestPlatform::start().await;
    let sku = "JOURNEY-1";
    stocked_product(&platform, sku, 12_000, 3).await;
    coupon(&platform, "HELLO", 1_500, None).await;

    // Register, then log in.
    let input =
        json!({ "input": { "email": "joe@example.com", "password": "correct horse battery", "displayName": "Joe" } });
    let (_, body) = platform
        .post(
            "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
            input,
        )
        .await;
    let user_id = body["data"]["register"]["user"]["id"].as_str().unwrap().to_owned();
    let (_, body) = platform
        .post(
            r#"mutation { login(email: "joe@example.com", password: "correct horse battery") { token } }"#,
            json!({}),
        )
        .await;
    let token = body["data"]["login"]["token"].as_str().unwrap().to_owned();

    // Browse: the product page with live inventory.
    let data = ok(
        &platform,
        &token,
        "query($sku: String!) { variant(sku: $sku) { sku price { amount } inventory { available } product { name } } }",
        json!({ "sku": sku }),
    )
    .await;
    assert_eq!(data["variant"]["inventory"]["available"], 3);

    // Fill the cart: the estimate comes from Cart's own price table.
    let data = ok(
        &platform,
        &token,
        "mutation($sku: String!) { addToCart(sku: $sku, quantity: 2) { id estimatedTotal { amount } items { sku name product { name } } } }",
        json!({ "sku": sku }),
    )
    .await;
    assert_eq!(data["addToCart"]["estimatedTotal"]["amount"], 24_000);
    assert_eq!(data["addToCart"]["items"][0]["product"]["name"], "Product JOURNEY-1");
    let cart_id = data["addToCart"]["id"].as_str().unwrap().to_owned();

    // Check out with the coupon: 15 % off.
    let input = json!({ "input": { "cartId": cart_id, "couponCode": "HELLO", "paymentMethod": "card", "idempotencyKey": "journey" } });
    let data = ok(&platform, &token, crate::shop::CHECKOUT, input).await;
    assert_eq!(data["checkout"]["status"], "COMPLETED", "{data}");
    assert_eq!(data["checkout"]["total"]["amount"], 20_400);

    // Watch the order reach DELIVERED from the customer's own order list.
    let orders = r#"{ me { id orders(first: 5) { edges { node { id status total { amount } payment { status } shipment { status } items { product { name } } } } } } }"#;
    eventually("the order is delivered", || async {
        let data = ok(&platform, &token, orders, json!({})).await;
        data["me"]["orders"]["edges"][0]["node"]["status"] == "DELIVERED"
    })
    .await;
    let data = ok(&platform, &token, orders, json!({})).await;
    assert_eq!(data["me"]["id"], user_id);
    let order = &data["me"]["orders"]["edges"][0]["node"];
    assert_eq!(order["payment"]["status"], "CAPTURED");
    assert_eq!(order["shipment"]["status"], "DELIVERED");
    assert_eq!(order["items"][0]["product"]["name"], "Product JOURNEY-1");
    assert_eq!(stock(&platform, sku).await, (1, 0));

    // Staff refund the payment; the order follows the refund event.
    let order_id = data["me"]["orders"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let payment = ok(
        &platform,
        &token,
        "query($id: ID!) { order(id: $id) { payment { id } } }",
        json!({ "id": order_id }),
    )
    .await;
    let (_, body) = platform
        .post_as(
            Some(&token),
            "mutation($id: ID!) { refundPayment(id: $id) { status } }",
            json!({ "id": payment["order"]["payment"]["id"] }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let (_, body) = platform
        .post_admin(
            "mutation($id: ID!) { refundPayment(id: $id) { status } }",
            json!({ "id": payment["order"]["payment"]["id"] }),
        )
        .await;
    assert_eq!(body["data"]["refundPayment"]["status"], "REFUNDED", "{body}");
    eventually("the order is refunded", || async {
        let data = ok(
            &platform,
            &token,
            "query($id: ID!) { order(id: $id) { status } }",
            json!({ "id": order_id }),
        )
        .await;
        data["order"]["status"] == "REFUNDED"
    })
    .await;
    assert!(ledger_imbalance(&platform).await.is_empty());
    platform.stop().await;
}
