//! E-mails to customers against a real SMTP server (aiosmtpd) and the file sink, on
//! SQLite and PostgreSQL: one message per event however often it arrives, retried
//! while the server is down, and held until the customer's address is known.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kernel::{DomainEvent, EventEnvelope, EventMeta};
use kernel_infra::config::ContextConfig;
use kernel_infra::testing::{SmtpServer, TestDatabase};
use notifications_service::{CONTEXT, EmailCustomers, Notifications};
use serde_json::{Value, json};

/// An event as another context would publish it.
struct Published(&'static str, Value);

impl DomainEvent for Published {
    fn event_type(&self) -> &'static str {
        self.0
    }
    fn partition_key(&self) -> String {
        self.1["orderId"].as_str().unwrap_or("user").to_owned()
    }
    fn payload(&self) -> Value {
        self.1.clone()
    }
}

fn envelope(event_type: &'static str, payload: Value) -> EventEnvelope {
    EventEnvelope::wrap(
        &Published(event_type, payload),
        "test",
        &EventMeta::internal(),
        chrono::Utc::now(),
    )
}

fn registered(user: uuid::Uuid, email: &str) -> EventEnvelope {
    envelope(
        "ecommerce.accounts.user.registered.v1",
        json!({ "userId": user, "email": email, "role": "CUSTOMER" }),
    )
}

fn shipment(event_type: &'static str, user: uuid::Uuid, order: uuid::Uuid, tracking: &str) -> EventEnvelope {
    envelope(
        event_type,
        json!({ "shipmentId": uuid::Uuid::now_v7(), "orderId": order, "userId": user,
            "status": "IN_TRANSIT", "carrier": "UPS", "trackingNumber": tracking }),
    )
}

async fn notifications(database: &TestDatabase, smtp_url: Option<&str>, data_dir: &std::path::Path) -> Notifications {
    let mut settings = (CONTEXT.settings.defaults)();
    settings["smtp_url"] = json!(smtp_url);
    settings["mail_retry_seconds"] = json!([0.2, 0.2, 0.2]);
    settings["mail_timeout_seconds"] = json!(5.0);
    let config = ContextConfig {
        database_url: database.url.clone(),
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_owned(),
        settings,
    };
    let context = kernel_infra::service::open(&CONTEXT, &config, BTreeMap::new())
        .await
        .unwrap();
    kernel_infra::context::downcast::<Notifications>(context.as_ref()).unwrap()
}

/// Sends what is due until `done` holds (or fails after ten seconds).
async fn send_until(notifications: &Notifications, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        notifications.emails.send_due().await.unwrap();
        if done() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_customer_gets_one_email_per_event_sent_through_a_real_smtp_server() {
    let Some(mut server) = SmtpServer::start().await else {
        return;
    };
    for database in TestDatabase::all().await {
        let label = database.label;
        let before = server.messages().len();
        let n = notifications(&database, Some(&server.url), &std::env::temp_dir()).await;
        let consumer = EmailCustomers::subscription(n.emails.clone()).handler;
        let ann = uuid::Uuid::now_v7();
        let order = uuid::Uuid::now_v7();
        consumer.handle(&registered(ann, "ann@example.com")).await.unwrap();
        let shipped = shipment("ecommerce.shipping.shipment.in_transit.v1", ann, order, "SIM-TRACK-1");
        // Delivered twice by the bus: written and sent once.
        consumer.handle(&shipped).await.unwrap();
        consumer.handle(&shipped).await.unwrap();
        send_until(&n, "the shipment e-mail arrives", || server.messages().len() > before).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        n.emails.send_due().await.unwrap();
        let received = server.messages();
        assert_eq!(received.len(), before + 1, "{label}: one message for one event");
        let mail = &received[before];
        assert!(mail.contains("To: ann@example.com"), "{label}: {mail}");
        assert!(mail.contains("From: Shop <orders@shop.example>"), "{label}: {mail}");
        assert!(mail.contains("on its way"), "{label}: {mail}");
        assert!(mail.contains("Tracking number: SIM-TRACK-1"), "{label}: {mail}");
        assert!(
            mail.contains(&format!("Message-ID: <{}@notifications.ecommerce>", shipped.event_id)),
            "{label}: {mail}"
        );

        // The server is down: the message waits, and goes when it is back.
        server.pause().await;
        let delivered = shipment("ecommerce.shipping.shipment.delivered.v1", ann, order, "SIM-TRACK-1");
        consumer.handle(&delivered).await.unwrap();
        n.emails.send_due().await.unwrap();
        let waiting = &n.emails.messages_of(ann).await.unwrap()[0];
        assert_eq!((waiting.status.as_str(), waiting.attempts), ("PENDING", 1), "{label}");
        assert!(waiting.last_error.is_some(), "{label}");
        server.restart().await;
        send_until(&n, "the delivery e-mail arrives once the server is back", || {
            server.messages().len() == before + 2
        })
        .await;
        assert!(server.messages()[before + 1].contains("was delivered"), "{label}");
        let sent = &n.emails.messages_of(ann).await.unwrap()[0];
        assert_eq!((sent.status.as_str(), sent.attempts), ("DELIVERED", 2), "{label}");

        // A refund for a customer whose address has not arrived yet waits for it.
        let bo = uuid::Uuid::now_v7();
        consumer
            .handle(&envelope(
                "ecommerce.payments.refund.completed.v1",
                json!({ "refundId": uuid::Uuid::now_v7(), "paymentId": uuid::Uuid::now_v7(), "orderId": order,
                    "userId": bo, "amount": { "amount": 1999, "currency": "EUR" }, "reference": null,
                    "refunded": { "amount": 1999, "currency": "EUR" }, "status": "REFUNDED" }),
            ))
            .await
            .unwrap();
        n.emails.send_due().await.unwrap();
        let held = &n.emails.messages_of(bo).await.unwrap()[0];
        assert_eq!(held.status, "PENDING", "{label}");
        assert!(
            held.last_error.as_deref().unwrap().contains("no e-mail address"),
            "{label}"
        );
        consumer.handle(&registered(bo, "bo@example.com")).await.unwrap();
        send_until(&n, "the refund e-mail arrives once the address is known", || {
            server.messages().len() == before + 3
        })
        .await;
        let refund = &server.messages()[before + 2];
        assert!(refund.contains("To: bo@example.com"), "{label}: {refund}");
        assert!(refund.contains("19.99 EUR refunded"), "{label}: {refund}");
        database.remove().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn without_an_smtp_server_messages_are_written_to_files_under_the_data_directory() {
    let database = TestDatabase::sqlite();
    let data_dir = std::env::temp_dir()
        .join("ecommerce-tests")
        .join(format!("data-{}", uuid::Uuid::now_v7().simple()));
    let n = notifications(&database, None, &data_dir).await;
    let consumer = EmailCustomers::subscription(n.emails.clone()).handler;
    let cy = uuid::Uuid::now_v7();
    consumer.handle(&registered(cy, "cy@example.com")).await.unwrap();
    consumer
        .handle(&envelope(
            "ecommerce.checkout.session.canceled.v1",
            json!({ "checkoutId": uuid::Uuid::now_v7(), "cartId": uuid::Uuid::now_v7(),
                "orderId": uuid::Uuid::now_v7(), "userId": cy, "paymentId": null, "reason": "ordered twice" }),
        ))
        .await
        .unwrap();
    let mail_dir = data_dir.join("mail");
    let files = || {
        std::fs::read_dir(&mail_dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "eml"))
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
            .collect::<Vec<_>>()
    };
    send_until(&n, "the message is written to a file", || !files().is_empty()).await;
    let written = files();
    assert_eq!(written.len(), 1);
    assert!(written[0].contains("To: cy@example.com"), "{}", written[0]);
    assert!(written[0].contains("was canceled"), "{}", written[0]);
    assert!(written[0].contains("ordered twice"), "{}", written[0]);
    std::fs::remove_dir_all(&data_dir).unwrap();
    database.remove().await;
}
