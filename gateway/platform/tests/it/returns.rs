//! Returns through the gateway: a customer asks to send back units of a delivered
//! order, each line refunding its share after the coupon with its tax, the shipping
//! with the last unit; staff approve or refuse. Asking before delivery, for more than
//! was bought or for another customer's order is refused with its code, and nothing is
//! written. Staff receive the goods of an approved return and the return saga refunds
//! the payment for them, puts the units back on hand and moves the order to
//! PARTIALLY_REFUNDED, then REFUNDED with the last; a refund that Payments refuses
//! reopens the return and changes nothing else.

use serde_json::{Value, json};

use crate::shop::{
    Customer, add_to_cart, checkout_shipped, coupon, ledger_imbalance, ok, shipping_method, stock, stocked_product,
    until_delivered,
};
use crate::{Backend, TestPlatform, fast_jobs};

const REQUEST: &str = r#"mutation($input: RequestReturnInput!) {
  requestReturn(input: $input) {
    id orderId status reason refusal
    lines { sku quantity refund { amount currency } }
    shippingRefund { amount } refund { amount }
  }
}"#;

const RETURNS: &str = r#"query($id: ID!) {
  order(id: $id) {
    total { amount } returnableUntil
    returns { id status lines { sku quantity } refund { amount } refusal }
  }
}"#;

fn request(order: &str, lines: Value) -> Value {
    json!({ "input": { "orderId": order, "lines": lines, "reason": "does not fit" } })
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

async fn returns_of(platform: &TestPlatform, customer: &Customer, order: &str) -> Value {
    ok(platform, &customer.token, RETURNS, json!({ "id": order })).await["order"].clone()
}

#[tokio::test]
async fn a_customer_asks_to_return_delivered_units_and_staff_decide() {
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        returns_asked_and_decided(&platform).await;
        platform.stop().await;
    }
}

async fn returns_asked_and_decided(platform: &TestPlatform) {
    stocked_product(platform, "RET-1", 1_000, 50).await;
    coupon(platform, "RET10", 1_000, None).await;
    let method = shipping_method(platform).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, "RET-1", 3).await;
    let order = checkout_shipped(platform, &customer, &cart, Some("RET10"), &method).await;

    // Not before delivery.
    let early = platform
        .post_as(
            Some(&customer.token),
            REQUEST,
            request(&order, json!([{ "sku": "RET-1", "quantity": 1 }])),
        )
        .await;
    assert_eq!((early.0, code(&early.1)), (200, "CONFLICT"), "{}", early.1);
    until_delivered(platform, &customer, &order).await;
    let view = returns_of(platform, &customer, &order).await;
    // The window (30 days by default) runs from the delivery; the domain's tests refuse
    // a return after it closes.
    let history = ok(
        platform,
        &customer.token,
        "query($id: ID!) { order(id: $id) { statusHistory { to at } } }",
        json!({ "id": order }),
    )
    .await;
    let delivered_at = history["order"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["to"] == "DELIVERED")
        .map(|change| chrono::DateTime::parse_from_rfc3339(change["at"].as_str().unwrap()).unwrap())
        .unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(view["returnableUntil"].as_str().unwrap()).unwrap();
    assert_eq!(until - delivered_at, chrono::Duration::days(30), "{view}");
    // 3 × 1000 − 10 % = 2700, shipping 500: 3200.
    assert_eq!(view["total"]["amount"], 3_200, "{view}");

    // Bad requests are refused with their codes, and write nothing.
    let stranger = Customer::new();
    for (token, lines, expected) in [
        (
            &customer.token,
            json!([{ "sku": "RET-1", "quantity": 4 }]),
            "BAD_USER_INPUT",
        ),
        (
            &customer.token,
            json!([{ "sku": "OTHER-1", "quantity": 1 }]),
            "BAD_USER_INPUT",
        ),
        (
            &customer.token,
            json!([{ "sku": "RET-1", "quantity": 0 }]),
            "BAD_USER_INPUT",
        ),
        (&customer.token, json!([]), "BAD_USER_INPUT"),
        (&stranger.token, json!([{ "sku": "RET-1", "quantity": 1 }]), "NOT_FOUND"),
    ] {
        let (_, body) = platform
            .post_as(Some(token), REQUEST, request(&order, lines.clone()))
            .await;
        assert_eq!(code(&body), expected, "{lines}: {body}");
    }
    assert_eq!(returns_of(platform, &customer, &order).await["returns"], json!([]));

    // One unit: 2700 / 3 = 900. Then the two others, which bring the last unit back
    // and with it the shipping: 1800 + 500.
    let first = ok(
        platform,
        &customer.token,
        REQUEST,
        request(&order, json!([{ "sku": "RET-1", "quantity": 1 }])),
    )
    .await["requestReturn"]
        .clone();
    assert_eq!(first["status"], "REQUESTED", "{first}");
    assert_eq!(first["lines"][0]["refund"], json!({ "amount": 900, "currency": "USD" }));
    assert_eq!(first["refund"]["amount"], 900);
    let too_many = platform
        .post_as(
            Some(&customer.token),
            REQUEST,
            request(&order, json!([{ "sku": "RET-1", "quantity": 3 }])),
        )
        .await
        .1;
    assert_eq!(code(&too_many), "BAD_USER_INPUT", "{too_many}");
    let rest = ok(
        platform,
        &customer.token,
        REQUEST,
        request(&order, json!([{ "sku": "RET-1", "quantity": 2 }])),
    )
    .await["requestReturn"]
        .clone();
    assert_eq!(
        (
            rest["shippingRefund"]["amount"].clone(),
            rest["refund"]["amount"].clone()
        ),
        (json!(500), json!(2_300))
    );

    // A customer may not decide; staff see the queue and decide.
    let approve = "mutation($id: ID!) { approveReturn(id: $id) { id status } }";
    let refuse =
        "mutation($id: ID!, $reason: String!) { refuseReturn(id: $id, reason: $reason) { id status refusal } }";
    let (_, body) = platform
        .post_as(Some(&customer.token), approve, json!({ "id": first["id"] }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let queue = ok(
        platform,
        &platform.admin_token(),
        "{ returns(status: REQUESTED) { id } }",
        json!({}),
    )
    .await;
    let queued: Vec<&Value> = queue["returns"].as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert!(
        queued.contains(&&first["id"]) && queued.contains(&&rest["id"]),
        "{queue}"
    );
    for _ in 0..2 {
        let approved = platform.post_admin(approve, json!({ "id": first["id"] })).await.1;
        assert_eq!(
            approved["data"]["approveReturn"]["status"], "APPROVED",
            "approving twice is harmless: {approved}"
        );
    }
    let (_, body) = platform
        .post_admin(refuse, json!({ "id": rest["id"], "reason": " " }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let refused = platform
        .post_admin(refuse, json!({ "id": rest["id"], "reason": "the box was opened" }))
        .await
        .1;
    assert_eq!(
        refused["data"]["refuseReturn"]["refusal"], "the box was opened",
        "{refused}"
    );
    let (_, body) = platform
        .post_admin(refuse, json!({ "id": first["id"], "reason": "late" }))
        .await;
    assert_eq!(code(&body), "CONFLICT", "an approved return is not refused: {body}");
    let view = returns_of(platform, &customer, &order).await;
    let statuses: Vec<&Value> = view["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!("APPROVED"), &json!("REFUSED")], "{view}");

    // A refused return's units may be asked for again.
    let again = ok(
        platform,
        &customer.token,
        REQUEST,
        request(&order, json!([{ "sku": "RET-1", "quantity": 2 }])),
    )
    .await;
    assert_eq!(again["requestReturn"]["refund"]["amount"], 2_300, "{again}");

    // Staff receive the approved return: refunded, restocked, the order partly refunded.
    let on_hand = stock(platform, "RET-1").await.0;
    let process = receive(platform, &first["id"]).await;
    assert_eq!(process["status"], "COMPLETED", "{process}");
    assert_eq!(process["refund"]["amount"], 900, "{process}");
    let steps: Vec<&str> = process["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "MARK_RETURN_RECEIVED",
            "REFUND_RETURN",
            "RESTOCK_RETURN",
            "MARK_RETURN_REFUNDED"
        ],
        "{process}"
    );
    assert_eq!(stock(platform, "RET-1").await.0, on_hand + 1);
    let view = order_after_returns(platform, &customer, &order).await;
    assert_eq!(view["status"], "PARTIALLY_REFUNDED", "{view}");
    assert_eq!(view["payment"]["status"], "PARTIALLY_REFUNDED", "{view}");
    assert_eq!(view["payment"]["refunded"]["amount"], 900, "{view}");
    // Search's summary follows: the status that only order.status_changed.v2 names,
    // the returns and what they refunded.
    summary_shows(platform, &customer, &order, "PARTIALLY_REFUNDED", 2, 900).await;
    // The rest may still be returned, until the same day.
    let window = returns_of(platform, &customer, &order).await["returnableUntil"].clone();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(window.as_str().unwrap_or_default()).ok(),
        Some(until),
        "a partly refunded order is still returnable: {window}"
    );
    // Receiving again answers the same process and refunds nothing more.
    assert_eq!(receive(platform, &first["id"]).await["status"], "COMPLETED");
    assert_eq!(
        order_after_returns(platform, &customer, &order).await["payment"]["refunded"]["amount"],
        900
    );
    // A return that does not exist is NOT_FOUND, and leaves no process behind.
    let (_, body) = platform
        .post_admin(RECEIVE, json!({ "id": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    // A return not yet approved is not received: its process fails having changed nothing.
    let early = receive(platform, &again["requestReturn"]["id"]).await;
    assert_eq!(
        (early["status"].as_str(), early["failedStep"].as_str()),
        (Some("FAILED"), Some("MARK_RETURN_RECEIVED")),
        "{early}"
    );

    // The last units: everything is given back, the shipping with them.
    platform
        .post_admin(approve, json!({ "id": again["requestReturn"]["id"] }))
        .await;
    let last = receive(platform, &again["requestReturn"]["id"]).await;
    assert_eq!(last["status"], "COMPLETED", "{last}");
    assert_eq!(stock(platform, "RET-1").await.0, on_hand + 3);
    let view = order_after_returns(platform, &customer, &order).await;
    assert_eq!(view["status"], "REFUNDED", "{view}");
    assert_eq!(view["payment"]["status"], "REFUNDED", "{view}");
    assert_eq!(
        view["payment"]["refunded"]["amount"], 3_200,
        "all the customer paid: {view}"
    );
    let statuses: Vec<&Value> = view["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("REFUNDED"), &json!("REFUSED"), &json!("REFUNDED")],
        "{view}"
    );
    assert!(ledger_imbalance(platform).await.is_empty());
    summary_shows(platform, &customer, &order, "REFUNDED", 2, 3_200).await;
    assert_eq!(
        returns_of(platform, &customer, &order).await["returnableUntil"],
        Value::Null,
        "nothing is left to return"
    );

    // A return whose refund Payments refuses (staff refunded the order by hand first)
    // is reopened with the reason; nothing is restocked.
    let other = Customer::new();
    let cart = add_to_cart(platform, &other, "RET-1", 1).await;
    let bought = checkout_shipped(platform, &other, &cart, None, &method).await;
    until_delivered(platform, &other, &bought).await;
    let asked = ok(
        platform,
        &other.token,
        REQUEST,
        request(&bought, json!([{ "sku": "RET-1", "quantity": 1 }])),
    )
    .await["requestReturn"]["id"]
        .clone();
    platform.post_admin(approve, json!({ "id": asked })).await;
    let payment = order_after_returns(platform, &other, &bought).await["payment"]["id"].clone();
    let refunded = platform
        .post_admin(
            "mutation($id: ID!) { refundPayment(id: $id) { status } }",
            json!({ "id": payment }),
        )
        .await
        .1;
    assert_eq!(refunded["data"]["refundPayment"]["status"], "REFUNDED", "{refunded}");
    let on_hand = stock(platform, "RET-1").await.0;
    let failed = receive(platform, &asked).await;
    assert_eq!(
        (failed["status"].as_str(), failed["failedStep"].as_str()),
        (Some("FAILED"), Some("REFUND_RETURN")),
        "{failed}"
    );
    assert_eq!(stock(platform, "RET-1").await.0, on_hand);
    let reopened = order_after_returns(platform, &other, &bought).await;
    assert_eq!(reopened["returns"][0]["status"], "APPROVED", "{reopened}");
    assert!(
        reopened["returns"][0]["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("the refund was refused"),
        "{reopened}"
    );
}

const RECEIVE: &str = r#"mutation($id: ID!) {
  receiveReturn(id: $id) { id status failedStep failureReason refund { amount } steps { step outcome detail } }
}"#;

/// Staff receive the return's goods; the return saga's process as it ended.
async fn receive(platform: &TestPlatform, id: &Value) -> Value {
    let (_, body) = platform.post_admin(RECEIVE, json!({ "id": id })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["receiveReturn"].clone()
}

async fn order_after_returns(platform: &TestPlatform, customer: &Customer, order: &str) -> Value {
    let query = r#"query($id: ID!) {
      order(id: $id) {
        status payment { id status refunded { amount } }
        returns { status failure }
      }
    }"#;
    ok(platform, &customer.token, query, json!({ "id": order })).await["order"].clone()
}

/// Waits until Search's summary of `order` has `status`, `returns` returns not refused
/// and `refunded` refunded by them.
async fn summary_shows(
    platform: &TestPlatform,
    customer: &Customer,
    order: &str,
    status: &str,
    returns: i64,
    refunded: i64,
) {
    let query = "{ orderSummaries(first: 10) { orderId status returns refunded { amount } } }";
    let expected =
        json!({ "orderId": order, "status": status, "returns": returns, "refunded": { "amount": refunded } });
    crate::shop::eventually("Search's summary follows the returns", || async {
        let data = ok(platform, &customer.token, query, json!({})).await;
        data["orderSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|summary| summary == &expected)
    })
    .await;
}
