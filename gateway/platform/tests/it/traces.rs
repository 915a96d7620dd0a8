//! Traces over OTLP: one checkout, made through the gateway with the client's own
//! `traceparent`, arrives at an OTLP/HTTP receiver (started here, decoding with the
//! `opentelemetry-proto` types) as one trace: the gateway's spans under the client's,
//! each subgraph's request under the gateway's, the saga's steps, the relays'
//! publishing and the consumers' handling (linked to the span that wrote each event),
//! the SQL statements, and the message the customer's live subscription is sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kernel_infra::testing::TestDatabase;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::platform_of_processes::{Layout, Processes, cart_with, stocked_product};
use crate::shop::CHECKOUT;

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    kind: SpanKind,
    /// The span ids it links to.
    links: Vec<String>,
    /// Its string attributes.
    attributes: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP traces receiver on a port of its own; returns its base URL.
async fn receiver(spans: Spans) -> String {
    async fn export(
        axum::extract::State(spans): axum::extract::State<Spans>,
        body: axum::body::Bytes,
    ) -> impl axum::response::IntoResponse {
        let Ok(request) = ExportTraceServiceRequest::decode(body) else {
            return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
        };
        let mut received = spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()))
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                let kind = span.kind();
                received.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    kind,
                    links: span.links.iter().map(|link| hex(&link.span_id)).collect(),
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref())?)))
                        .collect(),
                });
            }
        }
        (
            axum::http::StatusCode::OK,
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
    }
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }
    fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<String> {
        match value?.value.as_ref()? {
            any_value::Value::StringValue(text) => Some(text.clone()),
            _ => None,
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .with_state(spans);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn one_checkout_is_one_trace_from_the_client_through_every_hop() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    if TestDatabase::postgres().await.is_none() {
        return;
    }
    let spans: Spans = Arc::default();
    let endpoint = receiver(spans.clone()).await;
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("SHIPPING_CARRIER_STEP_SECONDS", "0.2"),
    ];
    let processes = Processes::start(
        redis,
        &Layout {
            replicated: &[],
            gateways: 1,
            pool_size: 3,
            env: &otel,
            gateway_env: &otel[..1],
        },
    )
    .await;
    let gateway = &processes.gateways[0];
    stocked_product(&processes.client, gateway, "TRACE-1", 5).await;
    let (token, _) = crate::platform_of_processes::token(kernel::Role::Customer);
    let mut live = crate::websocket::WsClient::connect_at(gateway, Some(&token)).await;
    live.subscribe("mine", "subscription { myOrderUpdates { orderId to } }", json!({}))
        .await;
    let cart = cart_with(&processes.client, gateway, &token, "TRACE-1").await;

    // The client's own trace and span.
    let (trace_id, client_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let response: Value = processes
        .client
        .post(format!("{gateway}/graphql"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({ "query": CHECKOUT, "variables": { "input": {
            "cartId": cart, "paymentMethod": "card", "idempotencyKey": "trace-1",
        }}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["data"]["checkout"]["status"], "COMPLETED", "{response}");
    // The order's update reaches the subscriber (its message is a span of the trace).
    let update = live.next(Duration::from_secs(20)).await;
    assert!(update.is_some(), "no live update of the order");

    // Spans are exported in batches (every few seconds): wait for the shipment's.
    let of_trace = || -> Vec<Received> {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|span| span.trace_id == trace_id)
            .cloned()
            .collect()
    };
    let wanted = ["gateway", "checkout", "inventory", "orders", "payments", "shipping"];
    crate::platform_of_processes::eventually("every context's spans of the checkout", || async {
        let services: HashSet<String> = of_trace().into_iter().map(|span| span.service).collect();
        wanted.iter().all(|name| services.contains(*name))
            && of_trace()
                .iter()
                .any(|span| span.name.starts_with("subscription message"))
            && of_trace()
                .iter()
                .any(|span| span.name.contains("shipment.label_created"))
    })
    .await;
    let trace = of_trace();
    let by_id: HashMap<&str, &Received> = trace.iter().map(|span| (span.span_id.as_str(), span)).collect();
    let describe = || {
        trace
            .iter()
            .map(|span| format!("{} {} ({} <- {})", span.service, span.name, span.span_id, span.parent))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // The gateway's request continues the client's span.
    assert!(
        trace
            .iter()
            .any(|span| span.service == "gateway" && span.parent == client_span),
        "no gateway span under the client's:\n{}",
        describe()
    );
    // The checkout subgraph's request is a child of a gateway span.
    let checkout_request = trace
        .iter()
        .find(|span| span.service == "checkout" && span.kind == SpanKind::Server)
        .unwrap_or_else(|| panic!("no checkout request span:\n{}", describe()));
    assert_eq!(
        by_id
            .get(checkout_request.parent.as_str())
            .map(|parent| parent.service.as_str()),
        Some("gateway"),
        "{}",
        describe()
    );
    // The saga's steps, each calling another context under its own span.
    let steps: Vec<&Received> = trace
        .iter()
        .filter(|span| span.name.starts_with("checkout step "))
        .collect();
    assert!(steps.len() >= 3, "saga steps: {steps:?}");
    assert!(
        steps
            .iter()
            .all(|step| step.attributes.get("outcome").map(String::as_str) == Some("done"))
    );
    let calls_from_steps = trace
        .iter()
        .filter(|span| span.name.starts_with("call ") && steps.iter().any(|step| step.span_id == span.parent))
        .count();
    assert!(calls_from_steps >= 3, "{}", describe());
    // Another context served a step's call as a child of that call.
    assert!(
        trace.iter().any(|span| span.service == "payments"
            && span.kind == SpanKind::Server
            && by_id
                .get(span.parent.as_str())
                .is_some_and(|parent| parent.name.starts_with("call "))),
        "{}",
        describe()
    );
    // The relays publish in the trace of the span that wrote each event; the consumers
    // handle it as its child, linked to it.
    let published: Vec<&Received> = trace.iter().filter(|span| span.name.starts_with("publish ")).collect();
    assert!(!published.is_empty(), "{}", describe());
    let consumed: Vec<&Received> = trace.iter().filter(|span| span.name.starts_with("consume ")).collect();
    assert!(!consumed.is_empty(), "{}", describe());
    for span in &consumed {
        assert!(
            span.links.contains(&span.parent),
            "{span:?} is not linked to its writer"
        );
        assert!(
            by_id.contains_key(span.parent.as_str()),
            "{span:?}'s writer is not in the trace"
        );
    }
    assert!(
        consumed.iter().any(|span| span.service == "shipping"),
        "Shipping's handling of the paid order:\n{}",
        describe()
    );
    // ... and the trace ends with the shipment's label event, published by Shipping.
    assert!(
        published
            .iter()
            .any(|span| span.service == "shipping" && span.name.contains("shipment.label_created")),
        "{}",
        describe()
    );
    // A consumer's log lines name the order: its span carries the order id.
    assert!(
        consumed
            .iter()
            .any(|span| span.attributes.get("order_id").is_some_and(|id| !id.is_empty())),
        "{}",
        describe()
    );
    // The SQL statements are spans of the requests that ran them.
    assert!(
        trace.iter().any(|span| span
            .attributes
            .values()
            .any(|value| value.starts_with("sea_orm::driver"))),
        "no SQL statement spans:\n{}",
        describe()
    );
    // The customer's live update went out in the same trace.
    assert!(
        trace
            .iter()
            .any(|span| span.service == "orders" && span.name.starts_with("subscription message"))
    );
    processes.stop().await;
}
