//! Subscriptions over WebSocket with the graphql-transport-ws protocol (what the
//! `graphql-ws` library speaks): the client signs in with the Authorization header in
//! its `connection_init` payload, as browsers must (they cannot set headers on the
//! upgrade request).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::TestPlatform;
use crate::shop::{Customer, add_to_cart, checkout, stocked_product};
use crate::subscriptions::JOURNEY;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws client on one connection.
pub struct WsClient {
    socket: Socket,
}

impl WsClient {
    /// Connects and initialises; with `token`, as that caller.
    pub async fn connect(platform: &TestPlatform, token: Option<&str>) -> Self {
        Self::connect_at(&platform.url, token).await
    }

    /// [`WsClient::connect`] to the gateway at `url`.
    pub async fn connect_at(url: &str, token: Option<&str>) -> Self {
        let payload = token.map_or(
            json!({}),
            |token| json!({ "headers": { "authorization": format!("Bearer {token}") } }),
        );
        Self::connect_with(url, payload).await
    }

    /// Connects to the gateway at `url` and initialises with `payload` in
    /// `connection_init`.
    async fn connect_with(url: &str, payload: Value) -> Self {
        let url = format!("{}/graphql", url.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        let mut client = Self { socket };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = client.next(Duration::from_secs(10)).await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    /// Sends `text` as one text frame, as it is: for messages a JSON value cannot
    /// hold (unclosed, or too deep for `serde_json`).
    pub async fn send_text(&mut self, text: String) {
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message (pings answered on the way), or `None` when the
    /// connection closes or stays quiet for `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next()).await.ok()??.ok()?;
            let Message::Text(text) = message else {
                if matches!(message, Message::Close(_)) {
                    return None;
                }
                continue;
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "ping" {
                self.send(json!({ "type": "pong" })).await;
                continue;
            }
            return Some(value);
        }
    }
}

const ORDER_STATUS: &str = "subscription($id: ID!) { orderStatusChanged(orderId: $id) { eventId from to \
     order { id items { product { name } } } } }";

const MY_ORDERS: &str =
    "subscription { myOrderUpdates { eventId orderId from to order { id items { product { name } } } } }";

#[tokio::test]
async fn a_graphql_ws_client_watches_its_order_to_delivered_and_nobody_else_may() {
    let mut jobs = crate::fast_jobs();
    jobs.set("shipping", "carrier_step_seconds", json!(0.7));
    let platform = TestPlatform::start_with(crate::Backend::Sqlite, jobs).await;
    stocked_product(&platform, "WS-1", 1800, 5).await;
    let customer = Customer::new();
    // The customer follows their orders before checking out.
    let cart = add_to_cart(&platform, &customer, "WS-1", 1).await;
    let mut owner = WsClient::connect(&platform, Some(&customer.token)).await;
    owner.subscribe("mine", MY_ORDERS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut other = WsClient::connect(&platform, Some(&Customer::new().token)).await;
    let mut anonymous = WsClient::connect(&platform, None).await;

    let session = checkout(&platform, &customer, &cart, None, "card", "ws-1").await;
    assert_eq!(session["data"]["checkout"]["status"], "COMPLETED", "{session}");
    let order = session["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();

    // Another customer and an anonymous client may not follow the order.
    for (client, code) in [(&mut other, "NOT_FOUND"), (&mut anonymous, "UNAUTHENTICATED")] {
        client.subscribe("s1", ORDER_STATUS, json!({ "id": order })).await;
        let refused = client.next(Duration::from_secs(10)).await.expect("an answer");
        let errors = match refused["type"].as_str() {
            Some("error") => refused["payload"].clone(),
            _ => refused["payload"]["errors"].clone(),
        };
        assert_eq!(errors[0]["extensions"]["code"], code, "{refused}");
        assert!(refused["payload"]["data"]["orderStatusChanged"].is_null(), "{refused}");
    }

    // The customer: every status from PENDING to DELIVERED, once each, in order, the
    // product's name resolved through federation for each.
    let mut statuses = Vec::new();
    let mut event_ids = Vec::new();
    while let Some(message) = owner.next(Duration::from_secs(30)).await {
        assert_eq!(message["id"], "mine", "{message}");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        let update = &message["payload"]["data"]["myOrderUpdates"];
        assert_eq!(update["orderId"], order.as_str(), "{update}");
        assert_eq!(
            update["order"]["items"][0]["product"]["name"], "Product WS-1",
            "{update}"
        );
        statuses.push(update["to"].as_str().unwrap().to_owned());
        event_ids.push(update["eventId"].as_str().unwrap().to_owned());
        if update["to"] == "DELIVERED" {
            break;
        }
    }
    assert_eq!(statuses, JOURNEY, "every status once, in order");
    let mut unique = event_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), event_ids.len(), "nothing twice");

    // A token that is not valid, or an identity assertion of the client's own making,
    // is refused when it subscribes.
    let mut forged = WsClient::connect(&platform, Some("not.a.token")).await;
    let mut asserted = WsClient::connect_with(
        &platform.url,
        json!({ "headers": { "x-identity": customer.assertion("orders") } }),
    )
    .await;
    for client in [&mut forged, &mut asserted] {
        client.subscribe("f", ORDER_STATUS, json!({ "id": order })).await;
        let refused = client.next(Duration::from_secs(10)).await.expect("an answer");
        let errors = match refused["type"].as_str() {
            Some("error") => refused["payload"].clone(),
            _ => refused["payload"]["errors"].clone(),
        };
        assert_eq!(errors[0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    }
    platform.stop().await;
}
