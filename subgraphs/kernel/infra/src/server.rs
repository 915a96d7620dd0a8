//! Serving a subgraph over HTTP: `POST`/`GET /graphql` and `GET /health`.
//!
//! Each request's trace and correlation ids are put into the GraphQL context as
//! [`kernel::EventMeta`], so the events a mutation writes carry them.

use async_graphql::Executor;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::graphql::event_meta;

/// The HTTP routes of a subgraph around its executable schema.
pub fn router<E: Executor>(executor: E) -> Router {
    Router::new()
        .route("/graphql", get(graphql::<E>).post(graphql::<E>))
        .route("/health", get(|| async { "ok" }))
        .with_state(executor)
}

async fn graphql<E: Executor>(
    State(executor): State<E>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let request = request.into_inner().data(event_meta(&headers));
    executor.execute(request).await.into()
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
