//! The customer's e-mails, end to end through the gateway and a real SMTP server
//! (aiosmtpd): one signs up, checks out with a delivery, follows the order to
//! DELIVERED and returns it; another cancels a paid order before it ships. Each gets
//! one message per step: confirmed, shipped (with the tracking number), delivered,
//! return requested, approved and refunded; confirmed, canceled and refunded.

use std::time::Duration;

use kernel_infra::testing::SmtpServer;
use serde_json::json;

use crate::shop::{
    add_to_cart, approve_return, checkout_shipped, eventually, ok, receive_return, register, request_return,
    shipping_method, stocked_product, until_delivered,
};
use crate::{Backend, TestPlatform, fast_jobs};

/// The messages `server` received for `to`, each as (subject, whole text).
fn inbox(server: &SmtpServer, to: &str) -> Vec<(String, String)> {
    server
        .messages()
        .into_iter()
        .filter(|mail| mail.lines().any(|line| line == format!("To: {to}")))
        .map(|mail| {
            let subject = mail
                .lines()
                .find_map(|line| line.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_owned();
            (subject, mail)
        })
        .collect()
}

#[tokio::test]
async fn a_customer_gets_an_email_at_each_step_of_their_order() {
    let Some(server) = SmtpServer::start().await else {
        return;
    };
    let mut jobs = fast_jobs();
    jobs.set("notifications", "smtp_url", json!(server.url));
    // Slow enough that a cancellation right after the checkout comes before the carrier.
    jobs.set("shipping", "carrier_step_seconds", json!(4.0));
    let platform = TestPlatform::start_with(Backend::Sqlite, jobs).await;
    stocked_product(&platform, "MAIL-1", 2_000, 10).await;
    let method = shipping_method(&platform).await;

    let eve = register(&platform, "eve@example.com").await;
    let cart = add_to_cart(&platform, &eve, "MAIL-1", 1).await;
    let kept = checkout_shipped(&platform, &eve, &cart, None, &method).await;
    let ned = register(&platform, "ned@example.com").await;
    let cart = add_to_cart(&platform, &ned, "MAIL-1", 1).await;
    let canceled = checkout_shipped(&platform, &ned, &cart, None, &method).await;
    let body = ok(
        &platform,
        &ned.token,
        "mutation($order: ID!) { cancelPaidOrder(orderId: $order, reason: \"found it cheaper\") { status } }",
        json!({ "order": canceled }),
    )
    .await;
    assert_eq!(body["cancelPaidOrder"]["status"], "CANCELED", "{body}");
    until_delivered(&platform, &eve, &kept).await;

    eventually("the order's e-mails arrive", || async {
        inbox(&server, "eve@example.com").len() >= 3 && inbox(&server, "ned@example.com").len() >= 3
    })
    .await;
    // Eve sends it back; staff approve and receive the return.
    let asked = request_return(&platform, &eve, &kept, "MAIL-1", 1, "wrong colour").await;
    approve_return(&platform, &asked).await;
    assert_eq!(receive_return(&platform, &asked).await, "COMPLETED");
    eventually("every e-mail arrives", || async {
        inbox(&server, "eve@example.com").len() >= 6
    })
    .await;
    // Nothing more comes: one message per step.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let short = |order: &str| order[..8].to_ascii_uppercase();
    let eves = inbox(&server, "eve@example.com");
    let subjects: Vec<&str> = eves.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(
        subjects[..3],
        [
            format!("Your order {} is confirmed", short(&kept)),
            format!("Your order {} is on its way", short(&kept)),
            format!("Your order {} was delivered", short(&kept)),
        ],
        "{eves:?}"
    );
    // The return's messages come from Orders, the refund's from Payments: the refund may
    // overtake the approval.
    let mut returned = subjects[3..].to_vec();
    returned.sort_unstable();
    assert_eq!(
        returned,
        [
            // 20.00 USD and the 5.00 USD shipping: the order's only unit came back.
            format!("25.00 USD refunded for order {}", short(&kept)),
            format!("We received your return request for order {}", short(&kept)),
            format!("Your return for order {} is approved", short(&kept)),
        ],
        "{eves:?}"
    );
    assert!(
        eves.iter().any(|(_, mail)| mail.contains("Reason: wrong colour")),
        "{eves:?}"
    );
    let tracking = ok(
        &platform,
        &eve.token,
        "query($id: ID!) { order(id: $id) { shipment { trackingNumber } } }",
        json!({ "id": kept }),
    )
    .await["order"]["shipment"]["trackingNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eves[1].1.contains(&format!("Tracking number: {tracking}")),
        "{}",
        eves[1].1
    );
    assert!(eves[0].1.contains("Total paid: 25.00 USD"), "{}", eves[0].1);

    let neds = inbox(&server, "ned@example.com");
    let subjects: Vec<&str> = neds.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(subjects.len(), 3, "{neds:?}");
    assert_eq!(subjects[0], format!("Your order {} is confirmed", short(&canceled)));
    // The cancellation and the refund come from two contexts: either may be first.
    let mut rest = subjects[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(
        rest,
        [
            format!("25.00 USD refunded for order {}", short(&canceled)),
            format!("Your order {} was canceled", short(&canceled)),
        ],
        "{neds:?}"
    );
    assert!(
        neds.iter().any(|(_, mail)| mail.contains("found it cheaper")),
        "the reason is told: {neds:?}"
    );
    platform.stop().await;
    server.stop().await;
}
