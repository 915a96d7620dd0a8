//! Serving a subgraph over HTTP: `POST`/`GET /graphql` and `GET /health`.
//!
//! A subscription is answered as a stream when the request accepts the multipart
//! subscription protocol (`Accept: multipart/mixed;subscriptionSpec="1.0"`), which
//! is how the gateway subscribes to a subgraph.
//!
//! Each request's trace and correlation ids are put into the GraphQL context as
//! [`kernel::EventMeta`], so the events a mutation writes carry them, and its caller
//! (from its identity assertion) as [`crate::identity::Caller`].

use async_graphql::Executor;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::graphql::event_meta;

/// The HTTP routes of the subgraph `name` around its executable schema. Its callers
/// are read from identity assertions made out to `name`.
pub fn router<E: Executor>(name: &'static str, executor: E) -> Router {
    Router::new()
        .route("/graphql", get(graphql::<E>).post(graphql::<E>))
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(Subgraph { name, executor })
        .layer(axum::middleware::from_fn(limit_body))
}

/// The largest request body a subgraph reads, as the gateway's for its clients.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Refuses a body over [`MAX_BODY_BYTES`] with 413 and a GraphQL error, whether it says
/// its length or streams it (the GraphQL extractor itself reads without a limit).
async fn limit_body(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let too_large = || {
        (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(serde_json::json!({ "errors": [{
                "message": format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                "extensions": { "code": "PAYLOAD_TOO_LARGE" },
            }]})),
        )
            .into_response()
    };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => too_large(),
    }
}

/// A subgraph's name (the audience its callers' assertions must name) and schema.
#[derive(Clone)]
struct Subgraph<E> {
    name: &'static str,
    executor: E,
}

async fn metrics() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(),
    )
}

async fn graphql<E: Executor>(
    State(Subgraph { name, executor }): State<Subgraph<E>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> axum::response::Response {
    let caller = crate::identity::AssertionVerifier::shared().caller(&headers, name);
    let mut meta = event_meta(&headers);
    let request = request.into_inner();
    // One span per request, continuing the caller's trace; its fields are on every log
    // line written while it runs.
    let span = tracing::info_span!(
        "graphql.request",
        otel.name = %format!("{name} {}", request.operation_name.as_deref().unwrap_or("graphql")),
        otel.kind = "server",
        subgraph = name,
        trace_id = tracing::field::Empty,
        correlation_id = meta.correlation_id.as_deref().unwrap_or(""),
        user_id = tracing::field::Empty,
    );
    crate::telemetry::continue_request(&span, &headers);
    if let Some(trace_id) = crate::telemetry::trace_id_of(&span) {
        meta.trace_id = Some(trace_id);
    }
    if let Some(trace_id) = &meta.trace_id {
        span.record("trace_id", trace_id.as_str());
    }
    if let crate::identity::Caller::User(identity) = &caller {
        span.record("user_id", tracing::field::display(identity.user_id));
    }
    let request = request
        .data(meta)
        .data(caller)
        .data(crate::graphql::ClientAddress::from_headers(&headers));
    // Hive Router asks for `multipart/mixed;subscriptionSpec="1.0"` without the
    // `boundary=graphql` that async-graphql's own check wants; our parts use it anyway.
    let accepts_stream = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("multipart/mixed") && accept.contains("subscriptionSpec"));
    if accepts_stream {
        // A subscription lives for hours: its span ends at once (marking its start), and
        // each message it sends has a span of its own, continuing the trace of the event
        // it carries (`crate::live`).
        drop(span);
        let stream = multipart(executor.execute_stream(request, None));
        return axum::response::Response::builder()
            .header(
                axum::http::header::CONTENT_TYPE,
                "multipart/mixed; boundary=\"graphql\"; subscriptionSpec=\"1.0\"",
            )
            .body(axum::body::Body::from_stream(
                stream.map(Ok::<_, std::convert::Infallible>),
            ))
            .unwrap_or_default();
    }
    GraphQLResponse::from(executor.execute(request).instrument(span).await).into_response()
}

/// How often an idle subscription stream sends a heartbeat part.
const SUBSCRIPTION_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// Responses as multipart parts, each followed at once by the boundary. A reader
/// knows a part is complete only when the next boundary arrives (Hive Router's does),
/// so a part that waited for the next one would wait for the next event.
fn multipart(
    responses: futures::stream::BoxStream<'static, async_graphql::Response>,
) -> impl futures::Stream<Item = axum::body::Bytes> {
    fn part(json: &[u8]) -> axum::body::Bytes {
        let mut part = b"Content-Type: application/json\r\n\r\n".to_vec();
        part.extend_from_slice(json);
        part.extend_from_slice(b"\r\n--graphql\r\n");
        part.into()
    }
    let heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + SUBSCRIPTION_HEARTBEAT,
        SUBSCRIPTION_HEARTBEAT,
    );
    let parts = futures::stream::unfold(
        (responses, heartbeat, false),
        |(mut responses, mut heartbeat, ended)| async move {
            if ended {
                return None;
            }
            tokio::select! {
                next = responses.next() => match next {
                    Some(response) => {
                        let json = serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec());
                        Some((part(&json), (responses, heartbeat, false)))
                    }
                    None => Some((axum::body::Bytes::from_static(b"--graphql--\r\n"), (responses, heartbeat, true))),
                },
                _ = heartbeat.tick() => Some((part(b"{}"), (responses, heartbeat, false))),
            }
        },
    );
    futures::stream::once(futures::future::ready(axum::body::Bytes::from_static(b"--graphql\r\n"))).chain(parts)
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains.
///
/// # Errors
/// When the listener fails.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
