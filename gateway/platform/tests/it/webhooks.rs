//! Partner webhooks through the gateway: a partner subscribes its endpoint with a
//! persisted operation; the shop's events reach it signed; a failing endpoint is
//! retried on schedule and then given up on, which Notifications announces; the
//! partner reads every attempt, and only its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use notifications_domain::signature;
use serde_json::{Value, json};

use crate::security::{code, manifest_id, partner_token, send};
use crate::shop::{Customer, add_to_cart, checkout, eventually, stocked_product};
use crate::{Backend, TestPlatform, fast_jobs};

const ORDER_CREATED: &str = "ecommerce.orders.order.created.v1";
const ORDER_PAID: &str = "ecommerce.orders.order.paid.v1";

/// A request the partner's endpoint received.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A partner's endpoint on this machine: it fails the first `fail_first` attempts of
/// each delivery with 503 (all of them when `None`), then accepts.
#[derive(Clone)]
struct Endpoint {
    received: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<Mutex<Option<usize>>>,
    url: String,
}

impl Endpoint {
    async fn start(fail_first: Option<usize>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Self {
            received: Arc::default(),
            fail_first: Arc::new(Mutex::new(fail_first)),
            url: format!("http://{}/hooks/shop", listener.local_addr().unwrap()),
        };
        let app = axum::Router::new()
            .route("/hooks/shop", axum::routing::post(Self::receive))
            .with_state(endpoint.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        endpoint
    }

    async fn receive(State(endpoint): State<Self>, headers: HeaderMap, body: String) -> StatusCode {
        let delivery = header(&headers, "x-webhook-id");
        let mut received = endpoint.received.lock().unwrap();
        let earlier = received
            .iter()
            .filter(|r| header(&r.headers, "x-webhook-id") == delivery)
            .count();
        received.push(Received { headers, body });
        match *endpoint.fail_first.lock().unwrap() {
            Some(n) if earlier >= n => StatusCode::NO_CONTENT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn accept_from_now_on(&self) {
        *self.fail_first.lock().unwrap() = Some(0);
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

struct Partner {
    headers: Vec<(&'static str, String)>,
    client: &'static str,
}

impl Partner {
    async fn new(platform: &TestPlatform, client: &'static str) -> Self {
        Self {
            headers: vec![(
                "authorization",
                format!("Bearer {}", partner_token(platform, client).await),
            )],
            client,
        }
    }

    /// Runs the partner's persisted operation `name` by id.
    async fn run(&self, platform: &TestPlatform, name: &str, variables: Value) -> (u16, Value) {
        let id = manifest_id(self.client, name);
        send(
            platform,
            &self.headers,
            json!({ "documentId": id, "variables": variables }),
        )
        .await
    }

    async fn ok(&self, platform: &TestPlatform, name: &str, variables: Value) -> Value {
        let (status, body) = self.run(platform, name, variables).await;
        assert!(status == 200 && body["errors"].is_null(), "{name}: {status} {body}");
        body["data"].clone()
    }

    /// Subscribes `url` to `event_types`; returns the subscription's id and secret.
    async fn subscribe(&self, platform: &TestPlatform, url: &str, event_types: &[&str]) -> (String, String) {
        let data = self
            .ok(
                platform,
                "AcmeCreateWebhook",
                json!({ "url": url, "eventTypes": event_types }),
            )
            .await;
        let created = &data["createWebhookSubscription"];
        (
            created["subscription"]["id"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// The subscription's deliveries, newest first.
    async fn deliveries(&self, platform: &TestPlatform, id: &str) -> Vec<Value> {
        let data = self
            .ok(platform, "AcmeWebhookDeliveries", json!({ "id": id, "first": 50 }))
            .await;
        data["webhookSubscription"]["deliveries"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"].clone())
            .collect()
    }
}

/// The body of a GET.
async fn text_of(platform: &TestPlatform, url: &str) -> String {
    platform.client().get(url).send().await.unwrap().text().await.unwrap()
}

/// A customer buys one unit of a new product; returns the order id.
async fn an_order(platform: &TestPlatform, sku: &str) -> String {
    stocked_product(platform, sku, 2_500, 5).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 1).await;
    let body = checkout(platform, &customer, &cart, None, "card", &format!("{sku}-key")).await;
    assert_eq!(body["data"]["checkout"]["status"], "COMPLETED", "{body}");
    body["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn events_reach_a_partner_signed_and_retried_and_every_attempt_is_readable() {
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        let endpoint = Endpoint::start(Some(2)).await;
        let acme = Partner::new(&platform, "acme").await;
        let (subscription, secret) = acme
            .subscribe(&platform, &endpoint.url, &[ORDER_PAID, ORDER_CREATED])
            .await;

        let order = an_order(&platform, &format!("HOOK-{backend:?}").to_uppercase()).await;
        let deliveries = async || acme.deliveries(&platform, &subscription).await;
        eventually("both deliveries are delivered", || async {
            let now = deliveries().await;
            now.len() == 2 && now.iter().all(|d| d["status"] == "DELIVERED")
        })
        .await;

        // Each delivery: two 503s, then 204, in order, each attempt recorded.
        let now = deliveries().await;
        let mut types: Vec<&str> = now.iter().map(|d| d["eventType"].as_str().unwrap()).collect();
        types.sort_unstable();
        assert_eq!(types, [ORDER_CREATED, ORDER_PAID], "{backend:?}");
        for delivery in &now {
            assert_eq!(delivery["attemptCount"], 3, "{delivery}");
            let attempts: Vec<(i64, i64)> = delivery["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| (a["number"].as_i64().unwrap(), a["statusCode"].as_i64().unwrap()))
                .collect();
            assert_eq!(attempts, [(1, 503), (2, 503), (3, 204)], "{delivery}");
            assert!(
                delivery["deliveredAt"].is_string() && delivery["nextAttemptAt"].is_null(),
                "{delivery}"
            );
        }

        // What the endpoint got: six signed POSTs of two events about the order, each
        // event the same body every time, with its trace.
        let received = endpoint.received();
        assert_eq!(received.len(), 6, "{backend:?}");
        let mut bodies: HashMap<String, Vec<String>> = HashMap::new();
        let now_secs = chrono::Utc::now().timestamp();
        for request in &received {
            let signed = header(&request.headers, signature::HEADER);
            assert!(
                signature::verify(&secret, &signed, request.body.as_bytes(), now_secs, 300),
                "bad signature {signed}"
            );
            assert!(!signature::verify(
                "whsec_other",
                &signed,
                request.body.as_bytes(),
                now_secs,
                300
            ));
            let envelope: kernel::EventEnvelope = serde_json::from_str(&request.body).unwrap();
            assert_eq!(envelope.payload["orderId"], order.as_str());
            assert_eq!(
                header(&request.headers, "x-webhook-event"),
                envelope.event_type.as_str()
            );
            assert!(
                header(&request.headers, "traceparent").contains(&envelope.trace_id),
                "the event's trace goes on to the partner"
            );
            bodies
                .entry(header(&request.headers, "x-webhook-id"))
                .or_default()
                .push(request.body.clone());
        }
        assert_eq!(bodies.len(), 2);
        for (delivery, sent) in &bodies {
            assert!(
                sent.windows(2).all(|w| w[0] == w[1]),
                "{delivery} changed between attempts"
            );
        }

        // Another partner cannot read them; a customer cannot subscribe.
        let globex = Partner::new(&platform, "globex").await;
        let data = globex
            .ok(&platform, "GlobexWebhookDeliveries", json!({ "id": subscription }))
            .await;
        assert!(data["webhookSubscription"].is_null(), "{data}");
        let customer = Customer::new();
        let (status, body) = platform
            .post_as(
                Some(&customer.token),
                "mutation($i: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $i) { secret } }",
                json!({ "i": { "url": endpoint.url, "eventTypes": [ORDER_PAID] } }),
            )
            .await;
        assert_eq!((status, code(&body)), (200, "FORBIDDEN"), "{body}");

        // The retries were counted, in Prometheus' format.
        let metrics = text_of(
            &platform,
            &platform.endpoints["notifications"].replace("/graphql", "/metrics"),
        )
        .await;
        let value = |name: &str| -> f64 {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} not in {metrics}"))
        };
        assert!(value("webhook_retry_attempts_total") >= 4.0, "{metrics}");
        assert!(value("orders_created_total") >= 1.0, "{metrics}");
        assert!(metrics.contains("relay_lag_ms_count{producer=\"orders\"}"), "{metrics}");
        // The gateway exports its own, on its metrics port.
        let gateway_metrics = text_of(&platform, &format!("{}/metrics", platform.metrics_url)).await;
        assert!(gateway_metrics.contains("# TYPE hive_router_"), "{gateway_metrics}");
        platform.stop().await;
    }
}

#[tokio::test]
async fn a_delivery_that_always_fails_dies_is_announced_and_can_be_redelivered() {
    for backend in crate::Backend::all().await {
        let platform = TestPlatform::start_with(backend, crate::fast_jobs()).await;
        dies_and_is_redelivered(platform).await;
    }
}

async fn dies_and_is_redelivered(platform: TestPlatform) {
    let endpoint = Endpoint::start(None).await;
    let acme = Partner::new(&platform, "acme").await;
    let (subscription, _) = acme.subscribe(&platform, &endpoint.url, &[ORDER_PAID]).await;
    an_order(&platform, "HOOK-DEAD").await;

    eventually("the delivery is dead", || async {
        let now = acme.deliveries(&platform, &subscription).await;
        now.len() == 1 && now[0]["status"] == "DEAD"
    })
    .await;
    let dead = acme.deliveries(&platform, &subscription).await.remove(0);
    assert_eq!(dead["attemptCount"], 6, "the first attempt and five retries: {dead}");
    assert_eq!(dead["lastStatusCode"], 503);
    assert!(dead["nextAttemptAt"].is_null(), "{dead}");
    let attempts = dead["attempts"].as_array().unwrap();
    let numbers: Vec<i64> = attempts.iter().map(|a| a["number"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
    // The retries waited for the schedule (200 ms here) between attempts.
    for pair in attempts.windows(2) {
        let at = |a: &Value| chrono::DateTime::parse_from_rfc3339(a["attemptedAt"].as_str().unwrap()).unwrap();
        assert!((at(&pair[1]) - at(&pair[0])).num_milliseconds() >= 200, "{pair:?}");
    }
    assert_eq!(endpoint.received().len(), 6, "nothing more after it died");
    // Staff see it in the subscription's backlog.
    let backlog = "{ webhookSubscriptions { id backlog { pending dead oldestPendingAt } } }";
    let backlog_of = |body: Value| {
        body["data"]["webhookSubscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == subscription.as_str())
            .unwrap_or_else(|| panic!("{body}"))["backlog"]
            .clone()
    };
    let seen = backlog_of(platform.post_admin(backlog, json!({})).await.1);
    assert_eq!(seen, json!({ "pending": 0, "dead": 1, "oldestPendingAt": null }));

    // Notifications announced it: one event, in its outbox, valid by its contract,
    // published by its relay.
    let db = platform.contexts.notifications.webhooks.db().clone();
    eventually("the failure is published", || async {
        kernel_infra::outbox::pending(&db).await.unwrap().is_empty()
    })
    .await;
    let events = kernel_infra::outbox::all(&db).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let failed = &events[0];
    assert_eq!(
        failed.event_type.as_str(),
        "ecommerce.notifications.webhook.delivery_failed.v1"
    );
    assert_eq!(failed.payload["deliveryId"], dead["id"]);
    assert_eq!(failed.payload["subscriptionId"], subscription.as_str());
    assert_eq!(failed.payload["eventId"], dead["eventId"]);
    assert_eq!(failed.payload["attempts"], 6);
    crate::shop::assert_meets_contract(failed);

    // The partner fixed its endpoint and asks again: attempt 7 delivers it.
    endpoint.accept_from_now_on();
    let data = acme
        .ok(&platform, "AcmeRedeliverWebhook", json!({ "deliveryId": dead["id"] }))
        .await;
    assert_eq!(data["redeliverWebhook"]["status"], "PENDING");
    // The redelivery is on Notifications' record, with who asked.
    let events = kernel_infra::outbox::all(&db).await.unwrap();
    let redelivered = events
        .iter()
        .find(|event| event.event_type.as_str() == "ecommerce.notifications.webhook.redelivered.v1")
        .unwrap_or_else(|| panic!("no redelivery recorded: {events:?}"));
    assert_eq!(redelivered.payload["deliveryId"], dead["id"]);
    assert_eq!(redelivered.payload["subscriptionId"], subscription.as_str());
    assert!(
        redelivered.payload["requestedBy"].is_string(),
        "{}",
        redelivered.payload
    );
    crate::shop::assert_meets_contract(redelivered);
    eventually("the redelivery is delivered", || async {
        acme.deliveries(&platform, &subscription).await[0]["status"] == "DELIVERED"
    })
    .await;
    let delivered = acme.deliveries(&platform, &subscription).await.remove(0);
    assert_eq!(delivered["attemptCount"], 7, "{delivered}");
    let seen = backlog_of(platform.post_admin(backlog, json!({})).await.1);
    assert_eq!(seen, json!({ "pending": 0, "dead": 0, "oldestPendingAt": null }));
    let (status, body) = acme
        .run(&platform, "AcmeRedeliverWebhook", json!({ "deliveryId": dead["id"] }))
        .await;
    assert_eq!(
        (status, code(&body)),
        (200, "BAD_USER_INPUT"),
        "only a dead one: {body}"
    );

    // Disabled: the next order's event makes no delivery.
    let data = acme
        .ok(&platform, "AcmeDisableWebhook", json!({ "id": subscription }))
        .await;
    assert_eq!(data["disableWebhookSubscription"]["active"], false);
    an_order(&platform, "HOOK-AFTER").await;
    // The in-process bus lets the relay mark an event published only once every
    // consumer, Notifications' too, has handled it.
    let orders = platform.contexts.orders.orders.db().clone();
    eventually("every consumer handled the second order's paid event", || async {
        use kernel_infra::outbox::entity::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        Entity::find()
            .filter(Column::EventType.eq(ORDER_PAID))
            .filter(Column::PublishedAt.is_not_null())
            .count(&orders)
            .await
            .unwrap()
            == 2
    })
    .await;
    assert_eq!(acme.deliveries(&platform, &subscription).await.len(), 1);
    platform.stop().await;
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_their_reason() {
    let platform = TestPlatform::start().await;
    let acme = Partner::new(&platform, "acme").await;
    for (url, event_types, reason) in [
        ("not a url", vec![ORDER_PAID], "url"),
        ("ftp://partner.example/hook", vec![ORDER_PAID], "url"),
        ("https://partner.example/hook", vec![], "eventTypes"),
        (
            "https://partner.example/hook",
            vec!["ecommerce.checkout.session.completed.v1"],
            "eventTypes",
        ),
    ] {
        let (status, body) = acme
            .run(
                &platform,
                "AcmeCreateWebhook",
                json!({ "url": url, "eventTypes": event_types }),
            )
            .await;
        assert_eq!((status, code(&body)), (200, "BAD_USER_INPUT"), "{url}: {body}");
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains(reason),
            "{body}"
        );
    }
    let data = acme.ok(&platform, "AcmeWebhooks", json!({})).await;
    assert_eq!(data["webhookSubscriptions"], json!([]), "nothing was written");
    let data = acme.ok(&platform, "AcmeWebhookEventTypes", json!({})).await;
    assert!(
        data["webhookEventTypes"]
            .as_array()
            .unwrap()
            .contains(&json!(ORDER_PAID))
    );
    platform.stop().await;
}

/// A host name of this machine that resolves only to loopback or private addresses
/// (the machine's own name, or Debian's `ip6-localhost`).
fn name_resolving_inside() -> String {
    use std::net::ToSocketAddrs;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    [hostname.trim(), "ip6-localhost", "ip6-loopback"]
        .into_iter()
        .find(|name| {
            !name.is_empty()
                && (*name, 80).to_socket_addrs().is_ok_and(|addresses| {
                    let addresses: Vec<_> = addresses.collect();
                    !addresses.is_empty()
                        && addresses
                            .iter()
                            .all(|a| notifications_domain::subscription::is_internal(a.ip()))
                })
        })
        .expect("a host name that resolves to this machine")
        .to_owned()
}

/// Webhooks never reach inside the shop's network: an address written in the URL is
/// refused when subscribing, and a name that resolves inside is refused when
/// delivering, recorded on the attempt, and never contacted.
#[tokio::test]
async fn webhooks_cannot_reach_inside() {
    let mut jobs = fast_jobs();
    jobs.set("notifications", "webhook_allow_private_targets", json!(false));
    let platform = TestPlatform::start_with(Backend::Sqlite, jobs).await;
    let acme = Partner::new(&platform, "acme").await;
    for url in [
        "http://127.0.0.1:4000/graphql",
        "http://100.64.0.7/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://224.0.0.251/hook",
        "http://0.0.0.0:8080/hook",
    ] {
        let (_, body) = acme
            .run(
                &platform,
                "AcmeCreateWebhook",
                json!({ "url": url, "eventTypes": [ORDER_PAID] }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{url}: {body}");
    }

    let endpoint = Endpoint::start(Some(0)).await;
    let port = endpoint
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let inside = format!("http://{}:{port}/hooks/shop", name_resolving_inside());
    let (subscription, _) = acme.subscribe(&platform, &inside, &[ORDER_PAID]).await;
    an_order(&platform, "HOOK-INSIDE").await;
    let deliveries = async || acme.deliveries(&platform, &subscription).await;
    eventually("the delivery is attempted", || async {
        deliveries()
            .await
            .first()
            .is_some_and(|d| d["attemptCount"].as_i64() >= Some(2))
    })
    .await;
    let delivery = deliveries().await[0].clone();
    for attempt in delivery["attempts"].as_array().unwrap() {
        let error = attempt["error"].as_str().unwrap_or_default();
        assert!(error.contains("refused target"), "{delivery}");
        assert!(attempt["statusCode"].is_null(), "{delivery}");
    }
    assert!(endpoint.received().is_empty(), "the endpoint inside was never called");
    platform.stop().await;
}
