//! Serving a subgraph over HTTP: `POST`/`GET /graphql` and `GET /health`.
//!
//! Each request's trace and correlation ids are put into the GraphQL context as
//! [`kernel::EventMeta`], so the events a mutation writes carry them, and its caller
//! (from the bearer token) as [`crate::identity::Caller`].

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
    let caller = crate::identity::TokenVerifier::shared().caller(&headers);
    let request = request.into_inner().data(event_meta(&headers)).data(caller);
    executor.execute(request).await.into()
}

/// Runs one subgraph alone, as its binary does: logs to stdout (`RUST_LOG`), serves
/// `router` on `listen` until Ctrl-C, then drains.
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn run_standalone(name: &str, router: Router, listen: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    tracing::info!("{name} subgraph on http://{}/graphql", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        signal.cancel();
    });
    serve(listener, router, shutdown).await?;
    Ok(())
}

/// Installs the stdout log subscriber for a standalone binary (`RUST_LOG`, default info).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
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
