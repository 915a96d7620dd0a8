//! Calling another context's subgraph: a GraphQL operation over HTTP under this
//! service's identity, with the request's trace and correlation ids passed on.
//!
//! Sagas and jobs use it for commands (reserve stock, place an order, …). The answer is
//! either the `data` the caller asked for or a [`CallError`] that says whether the
//! other context refused (with its `extensions.code`) or could not be reached, because
//! a refusal is compensated and an outage is retried.

use std::sync::Arc;
use std::time::Duration;

use kernel::EventMeta;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::identity::ServiceSigner;

/// Why a call to another subgraph did not return data.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The other context answered with a GraphQL error: it refused the command.
    #[error("{service} refused: {message} ({code})")]
    Refused {
        service: String,
        code: String,
        message: String,
    },
    /// It could not be reached, timed out, or failed internally: try again later.
    #[error("{service} is unavailable: {reason}")]
    Unavailable { service: String, reason: String },
}

impl CallError {
    /// The `extensions.code` of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Refused { code, .. } => Some(code),
            CallError::Unavailable { .. } => None,
        }
    }

    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, CallError::Unavailable { .. })
    }
}

/// A client for one other subgraph.
#[derive(Clone)]
pub struct SubgraphClient {
    service: String,
    url: String,
    http: reqwest::Client,
    token: Arc<ServiceSigner>,
}

impl SubgraphClient {
    /// Calls the context `service` at `url` (its `/graphql` endpoint) with assertions
    /// from `token`, each made out to `service`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(service: &str, url: &str, token: Arc<ServiceSigner>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            service: service.to_owned(),
            url: url.to_owned(),
            http,
            token,
        })
    }

    /// Runs `query` with `variables` and reads `data` as `T`.
    ///
    /// # Errors
    /// [`CallError::Refused`] for a GraphQL error with a client-facing code,
    /// [`CallError::Unavailable`] for anything that may pass if retried.
    pub async fn execute<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: serde_json::Value,
        meta: &EventMeta,
    ) -> Result<T, CallError> {
        let unavailable = |reason: String| CallError::Unavailable {
            service: self.service.clone(),
            reason,
        };
        let token = self
            .token
            .token_for(&self.service)
            .map_err(|err| unavailable(err.to_string()))?;
        let mut request = self
            .http
            .post(&self.url)
            .header(crate::identity::IDENTITY_HEADER, token)
            .header("accept", "application/graphql-response+json, application/json")
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        // The call's own span continues the trace; without exported spans, a new span id
        // under the request's trace id keeps the trace id travelling.
        let span = tracing::info_span!("call", otel.name = %format!("call {}", self.service), otel.kind = "client", service = %self.service);
        let mut headers = axum::http::HeaderMap::new();
        if !span.in_scope(|| crate::telemetry::inject_current(&mut headers))
            && let Some(trace_id) = &meta.trace_id
        {
            request = request.header("traceparent", traceparent(trace_id));
        }
        request = request.headers(headers);
        if let Some(correlation_id) = &meta.correlation_id {
            request = request.header("x-correlation-id", correlation_id);
        }
        let response = request
            .send()
            .instrument(span)
            .await
            .map_err(|err| unavailable(err.to_string()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|err| unavailable(format!("HTTP {status}: unreadable body: {err}")))?;
        if let Some(error) = body.get("errors").and_then(|e| e.get(0)) {
            let message = error["message"].as_str().unwrap_or("no message").to_owned();
            let code = error["extensions"]["code"].as_str().unwrap_or("INTERNAL").to_owned();
            if code == "INTERNAL" || status.is_server_error() {
                return Err(unavailable(format!("{message} ({code})")));
            }
            return Err(CallError::Refused {
                service: self.service.clone(),
                code,
                message,
            });
        }
        if !status.is_success() {
            return Err(unavailable(format!("HTTP {status}")));
        }
        serde_json::from_value(body["data"].clone())
            .map_err(|err| unavailable(format!("unexpected answer shape: {err}")))
    }
}

/// A W3C `traceparent` header value that continues the trace `trace_id` with a new span
/// of ours.
pub fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{:016x}-01", uuid::Uuid::now_v7().as_u64_pair().1)
}
