//! A customer cancels a paid order before the carrier picks it up, through the
//! gateway: the shipment is stopped, the order canceled and then refunded, the payment
//! refunded with a balanced ledger, the stock back on sale and the coupon use given
//! back. Once the carrier has the parcel, a cancellation is refused and changes
//! nothing.

use coupons_domain::RedemptionStatus;
use serde_json::{Value, json};

use crate::shop::{
    Customer, add_to_cart, coupon, eventually, ledger_imbalance, ok, redemptions, stock, stocked_product,
    until_delivered,
};
use crate::{Backend, TestPlatform, fast_jobs};

const CANCEL: &str = r#"mutation($order: ID!, $reason: String) {
  cancelPaidOrder(orderId: $order, reason: $reason) {
    id status cancelReason
    steps { step outcome detail }
  }
}"#;

const ORDER: &str = r#"query($id: ID!) {
  order(id: $id) {
    status
    statusHistory { from to reason }
    payment { status }
    shipment { status trackingEvents { status note } }
  }
}"#;

async fn order(platform: &TestPlatform, customer: &Customer, id: &str) -> Value {
    ok(platform, &customer.token, ORDER, json!({ "id": id })).await["order"].clone()
}

#[tokio::test]
async fn a_customer_cancels_a_paid_order_before_it_ships_and_everything_is_given_back() {
    for backend in Backend::all().await {
        let mut jobs = fast_jobs();
        // The carrier takes its time: the parcel waits with its label printed.
        jobs.set("shipping", "carrier_step_seconds", json!(600.0));
        let platform = TestPlatform::start_with(backend, jobs).await;
        cancel_before_the_carrier_has_it(&platform, backend).await;
        platform.stop().await;
    }
}

async fn cancel_before_the_carrier_has_it(platform: &TestPlatform, backend: Backend) {
    let sku = "CANCEL-1";
    stocked_product(platform, sku, 2_500, 10).await;
    coupon(platform, "ONCE", 1_000, Some(1)).await;
    let method = crate::shop::shipping_method(platform).await;
    let cam = Customer::new();
    let cart = add_to_cart(platform, &cam, sku, 2).await;
    let order_id = crate::shop::checkout_shipped(platform, &cam, &cart, Some("ONCE"), &method).await;
    assert_eq!(stock(platform, sku).await, (8, 0), "{backend:?}");
    // The label is printed: the order is being fulfilled, and not yet shipped.
    eventually("the order is being fulfilled", || async {
        order(platform, &cam, &order_id).await["status"] == "FULFILLING"
    })
    .await;

    // Nobody else can cancel it, nor learn that it exists.
    let (_, body) = platform
        .post_as(Some(&Customer::new().token), CANCEL, json!({ "order": order_id }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{backend:?}: {body}"
    );
    let (_, body) = platform
        .post_as(Some(&cam.token), CANCEL, json!({ "order": order_id, "reason": "x\ny" }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{backend:?}: {body}"
    );
    assert_eq!(
        order(platform, &cam, &order_id).await["status"],
        "FULFILLING",
        "{backend:?}"
    );

    let (status, body) = platform
        .post_as(
            Some(&cam.token),
            CANCEL,
            json!({ "order": order_id, "reason": "changed my mind" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let session = &body["data"]["cancelPaidOrder"];
    assert_eq!(session["status"], "CANCELED", "{backend:?}: {body}");
    assert_eq!(session["cancelReason"], "changed my mind", "{backend:?}");
    let done = crate::shop::steps(session, "DONE");
    assert_eq!(
        done[done.len() - 5..],
        [
            "STOP_SHIPMENT",
            "CANCEL_ORDER",
            "REFUND_PAYMENT",
            "RETURN_STOCK",
            "GIVE_BACK_COUPON"
        ],
        "{backend:?}: {body}"
    );

    // The stock is back on sale, the payment refunded, the books balanced.
    assert_eq!(stock(platform, sku).await, (10, 0), "{backend:?}");
    assert!(ledger_imbalance(platform).await.is_empty(), "{backend:?}");
    eventually("the order follows its refund", || async {
        order(platform, &cam, &order_id).await["status"] == "REFUNDED"
    })
    .await;
    let seen = order(platform, &cam, &order_id).await;
    assert_eq!(seen["payment"]["status"], "REFUNDED", "{backend:?}: {seen}");
    assert_eq!(seen["shipment"]["status"], "CANCELED", "{backend:?}: {seen}");
    let moves: Vec<(&str, &str)> = seen["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["to"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    let tail = &moves[moves.len() - 2..];
    assert_eq!(tail[0].0, "CANCELED", "{backend:?}: {moves:?}");
    assert!(tail[0].1.contains("changed my mind"), "{backend:?}: {moves:?}");
    assert_eq!(tail[1].0, "REFUNDED", "{backend:?}: {moves:?}");

    // Asking again returns the same cancellation and gives nothing back twice.
    let again = ok(platform, &cam.token, CANCEL, json!({ "order": order_id })).await;
    assert_eq!(again["cancelPaidOrder"]["id"], session["id"], "{backend:?}");
    assert_eq!(again["cancelPaidOrder"]["status"], "CANCELED", "{backend:?}");
    assert_eq!(stock(platform, sku).await, (10, 0), "{backend:?}");
    assert_eq!(
        redemptions(platform, "ONCE", RedemptionStatus::Returned).await,
        1,
        "{backend:?}"
    );
    assert_eq!(
        redemptions(platform, "ONCE", RedemptionStatus::Committed).await,
        0,
        "{backend:?}"
    );

    // The coupon's only use is free again: another customer takes it.
    let dee = Customer::new();
    let cart = add_to_cart(platform, &dee, sku, 1).await;
    crate::shop::checkout_shipped(platform, &dee, &cart, Some("ONCE"), &method).await;
    assert_eq!(
        redemptions(platform, "ONCE", RedemptionStatus::Committed).await,
        1,
        "{backend:?}"
    );
    assert_eq!(stock(platform, sku).await, (9, 0), "{backend:?}");
}

#[tokio::test]
async fn a_paid_order_the_carrier_has_cannot_be_canceled() {
    let platform = TestPlatform::start_with(Backend::Sqlite, fast_jobs()).await;
    let sku = "CANCEL-LATE";
    stocked_product(&platform, sku, 1_000, 5).await;
    let method = crate::shop::shipping_method(&platform).await;
    let cam = Customer::new();
    let cart = add_to_cart(&platform, &cam, sku, 1).await;
    let order_id = crate::shop::checkout_shipped(&platform, &cam, &cart, None, &method).await;
    until_delivered(&platform, &cam, &order_id).await;

    let (status, body) = platform
        .post_as(Some(&cam.token), CANCEL, json!({ "order": order_id }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("DELIVERED"),
        "the customer is told why: {body}"
    );
    // Nothing changed: delivered, paid, the stock sold.
    let seen = order(&platform, &cam, &order_id).await;
    assert_eq!(seen["status"], "DELIVERED", "{seen}");
    assert_eq!(seen["payment"]["status"], "CAPTURED", "{seen}");
    assert_eq!(seen["shipment"]["status"], "DELIVERED", "{seen}");
    assert_eq!(stock(&platform, sku).await, (4, 0));
    assert!(ledger_imbalance(&platform).await.is_empty());
    // A refused cancellation leaves nothing for staff to do; only staff may look.
    let attention = "{ checkoutsNeedingAttention { id status } }";
    let listed = ok(&platform, &platform.admin_token(), attention, json!({})).await;
    assert_eq!(listed["checkoutsNeedingAttention"], json!([]), "{listed}");
    let (_, body) = platform.post_as(Some(&cam.token), attention, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Compensating is for staff, for a checkout that exists, by a well-formed id.
    let compensate = "mutation($id: ID!) { compensateCheckout(id: $id, reason: \"bank said no\") { status } }";
    let (_, body) = platform
        .post_as(Some(&cam.token), compensate, json!({ "id": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let (_, body) = platform
        .post_admin(compensate, json!({ "id": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    let (_, body) = platform.post_admin(compensate, json!({ "id": "nonsense" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    // An unpaid order is canceled with cancelOrder; one no checkout placed is unknown here.
    let (_, body) = platform
        .post_as(Some(&cam.token), CANCEL, json!({ "order": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");

    // What staff can do instead: give part of the money back, once per reference.
    let paid = ok(
        &platform,
        &cam.token,
        "query($id: ID!) { order(id: $id) { payment { id } } }",
        json!({ "id": order_id }),
    )
    .await;
    let payment = paid["order"]["payment"]["id"].as_str().unwrap().to_owned();
    let refund = "mutation($id: ID!, $amount: Long!, $reference: String) {
        refundPayment(id: $id, amount: { amount: $amount, currency: \"USD\" }, reference: $reference) {
          status refunded { amount } refundable { amount } } }";
    let goodwill = json!({ "id": payment, "amount": 300, "reference": "goodwill-1" });
    for _ in 0..2 {
        let refunded = ok(&platform, &platform.admin_token(), refund, goodwill.clone()).await;
        assert_eq!(
            refunded["refundPayment"],
            json!({ "status": "PARTIALLY_REFUNDED", "refunded": { "amount": 300 }, "refundable": { "amount": 1_200 } }),
            "once, however often asked: {refunded}"
        );
    }
    let too_much = json!({ "id": payment, "amount": 1_201, "reference": "goodwill-2" });
    let (_, body) = platform.post_admin(refund, too_much).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    let (_, body) = platform.post_as(Some(&cam.token), refund, goodwill).await;
    assert!(
        ["FORBIDDEN", "UNAUTHENTICATED"].contains(&body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")),
        "{body}"
    );
    assert!(ledger_imbalance(&platform).await.is_empty());
    platform.stop().await;
}
