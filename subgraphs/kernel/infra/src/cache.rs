//! What a subgraph tells the gateway's response cache (gateway/src/plugins/response_cache):
//! which answers everyone may share, which entities they hold, and when those change.
//!
//! - **Hints.** A type or field says how long it may be cached with async-graphql's own
//!   `#[graphql(cache_control(max_age = …))]`. A query's answer is offered for sharing
//!   only when async-graphql finds it public with a max age, it has no errors, and no
//!   resolver read the caller's identity: the identity helpers (`require_user`,
//!   `require_role`, …) call [`mark_private`], so whatever depends on who asks is never
//!   shared. (Whether the caller is staff is read by [`crate::identity::is_privileged`]
//!   without marking: the gateway never serves staff from the cache nor stores their
//!   answers.) The offer is the answer's `extensions.cache`: `{ maxAge, tags }`.
//! - **Tags.** Resolvers name the entities an answer holds with [`tag`] (`Product:<id>`),
//!   and a list its collection (`Product:list`), so the gateway drops exactly the answers
//!   an event changes. An `_entities` answer is tagged by the gateway from each
//!   representation (`Product:<id>`).
//! - **Mutations.** A mutation's answer names what it returned in the
//!   `x-cache-invalidate` header; the gateway drops those entries before it answers,
//!   so the caller reads its own write at once.
//! - **Events.** [`InvalidationFeed`] turns the context's own events into tags and
//!   streams them at `GET /cache-invalidations` (one JSON object per line; `{}` as a
//!   heartbeat). Every gateway replica follows it; when the stream breaks, the gateway
//!   drops what it can no longer prove fresh.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};
use async_trait::async_trait;
use axum::response::IntoResponse;
use futures::StreamExt;
use futures::future::BoxFuture;
use kernel::EventEnvelope;
use tokio::sync::broadcast;

use crate::bus::{EventHandler, Subscription};

/// The header a mutation's answer names its changed entities in, space-separated.
pub const INVALIDATE_HEADER: &str = "x-cache-invalidate";
/// The route of a context's invalidation stream.
pub const FEED_PATH: &str = "/cache-invalidations";
/// How often an idle invalidation stream says it is alive.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);
/// How many invalidations a slow follower may fall behind before its stream ends.
const CAPACITY: usize = 16_384;

/// What the resolvers of one request said about its answer.
#[derive(Default)]
pub struct Answer {
    private: AtomicBool,
    tags: Mutex<Vec<String>>,
}

/// Names an entity (or a collection) the answer being resolved holds.
pub fn tag(ctx: &async_graphql::Context<'_>, tag: impl Into<String>) {
    if let Some(answer) = ctx.data_opt::<Arc<Answer>>() {
        answer
            .tags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tag.into());
    }
}

/// Says the answer depends on who asks: it is never offered for sharing.
pub fn mark_private(ctx: &async_graphql::Context<'_>) {
    if let Some(answer) = ctx.data_opt::<Arc<Answer>>() {
        answer.private.store(true, Ordering::Relaxed);
    }
}

/// The schema extension that collects an [`Answer`] per request and writes the offer
/// (or a mutation's invalidations) onto the response. Add it to a schema whose types
/// carry cache hints.
pub struct CacheHints;

impl ExtensionFactory for CacheHints {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(HintsOfOneRequest {
            answer: Arc::new(Answer::default()),
            changes: AtomicBool::new(false),
        })
    }
}

struct HintsOfOneRequest {
    answer: Arc<Answer>,
    /// The operation is a mutation (or a subscription): its answer is never offered.
    changes: AtomicBool,
}

#[async_trait]
impl Extension for HintsOfOneRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(self.answer.clone())).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let changes = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty != OperationType::Query);
        self.changes.store(changes, Ordering::Relaxed);
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let mut tags = std::mem::take(
            &mut *self
                .answer
                .tags
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        tags.sort_unstable();
        tags.dedup();
        if self.changes.load(Ordering::Relaxed) {
            if !tags.is_empty()
                && let Ok(value) = axum::http::HeaderValue::from_str(&tags.join(" "))
            {
                response.http_headers.insert(INVALIDATE_HEADER, value);
            }
            return response;
        }
        let max_age = response.cache_control.max_age;
        let shareable = response.errors.is_empty()
            && response.cache_control.public
            && max_age > 0
            && !self.answer.private.load(Ordering::Relaxed);
        if shareable {
            let tags = tags.into_iter().map(async_graphql::Value::String).collect();
            let offer = async_graphql::indexmap::IndexMap::from([
                (async_graphql::Name::new("maxAge"), async_graphql::Value::from(max_age)),
                (async_graphql::Name::new("tags"), async_graphql::Value::List(tags)),
            ]);
            response
                .extensions
                .insert("cache".into(), async_graphql::Value::Object(offer));
        }
        response
    }
}

/// Turns one event into the tags of what it changed.
pub type Tagger = Arc<dyn Fn(Arc<EventEnvelope>) -> BoxFuture<'static, anyhow::Result<Vec<String>>> + Send + Sync>;

/// One invalidation as the stream carries it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invalidation {
    pub event_id: uuid::Uuid,
    pub event_type: String,
    /// When the change happened (the event's time), for the gateway's lag figures.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub tags: Vec<String>,
}

/// A context's own events of `event_types`, turned into tags and fanned out to the
/// gateway replicas that follow [`FEED_PATH`]. A bus consumer that every replica of the
/// context runs (each sees every event), like a live feed.
#[derive(Clone)]
pub struct InvalidationFeed {
    consumer: String,
    event_types: Vec<String>,
    tagger: Tagger,
    sender: broadcast::Sender<Arc<Invalidation>>,
}

impl InvalidationFeed {
    pub fn new(consumer: &str, event_types: &[&str], tagger: Tagger) -> Self {
        Self {
            consumer: consumer.to_owned(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            tagger,
            sender: broadcast::channel(CAPACITY).0,
        }
    }

    /// The bus subscription that feeds it.
    pub fn subscription(&self) -> Subscription {
        Subscription::every_replica(&self.consumer, &self.event_types, Arc::new(self.clone()))
    }

    /// `GET /cache-invalidations` on the context's router.
    pub fn routes(&self) -> axum::Router {
        let feed = self.clone();
        axum::Router::new().route(FEED_PATH, axum::routing::get(move || stream(feed.clone())))
    }
}

#[async_trait]
impl EventHandler for InvalidationFeed {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let tags = (self.tagger)(Arc::new(event.clone())).await?;
        if !tags.is_empty() {
            // Nobody following is not an error: no gateway caches anything then.
            let _ = self.sender.send(Arc::new(Invalidation {
                event_id: event.event_id.as_uuid(),
                event_type: event.event_type.to_string(),
                occurred_at: event.occurred_at,
                tags,
            }));
        }
        Ok(())
    }
}

/// The stream's body: one JSON object per line, a heartbeat `{}` at once and then
/// whenever it was idle for [`HEARTBEAT`]. It ends when the follower falls behind (the
/// gateway then drops what it cannot prove fresh).
async fn stream(feed: InvalidationFeed) -> axum::response::Response {
    let receiver = feed.sender.subscribe();
    let lines = futures::stream::unfold((receiver, true), |(mut receiver, first)| async move {
        if first {
            return Some((b"{}\n".to_vec(), (receiver, false)));
        }
        let line = match tokio::time::timeout(HEARTBEAT, receiver.recv()).await {
            Err(_idle) => b"{}\n".to_vec(),
            Ok(Ok(invalidation)) => {
                let mut line = serde_json::to_vec(&*invalidation).unwrap_or_default();
                line.push(b'\n');
                line
            }
            Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                tracing::warn!(missed, "a cache-invalidation follower fell behind; its stream ends");
                return None;
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
        };
        Some((line, (receiver, false)))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(
            lines.map(|line| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(line))),
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptySubscription, Object, Schema, SimpleObject};

    use super::*;

    #[derive(SimpleObject)]
    #[graphql(cache_control(max_age = 60))]
    struct Shelf {
        name: String,
    }

    struct Query;

    #[Object]
    impl Query {
        /// The same for everyone.
        async fn shelf(&self, ctx: &async_graphql::Context<'_>) -> Shelf {
            tag(ctx, "Shelf:1");
            Shelf { name: "A".into() }
        }
        /// Depends on who asks.
        async fn my_shelf(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Shelf> {
            crate::identity::require_user(ctx)?;
            Ok(Shelf { name: "mine".into() })
        }
        /// Not hinted, but reads the caller's identity without failing.
        async fn greeting(&self, ctx: &async_graphql::Context<'_>) -> String {
            mark_private(ctx);
            "hello".into()
        }
    }

    struct Mutation;

    #[Object]
    impl Mutation {
        async fn rename_shelf(&self, ctx: &async_graphql::Context<'_>) -> Shelf {
            tag(ctx, "Shelf:1");
            Shelf { name: "B".into() }
        }
    }

    fn schema() -> Schema<Query, Mutation, EmptySubscription> {
        Schema::build(Query, Mutation, EmptySubscription)
            .extension(CacheHints)
            .finish()
    }

    #[tokio::test]
    async fn a_public_answer_is_offered_with_its_tags() {
        let response = schema().execute("{ shelf { name } }").await;
        let offer = response
            .extensions
            .get("cache")
            .expect("offered")
            .clone()
            .into_json()
            .unwrap();
        assert_eq!(offer, serde_json::json!({ "maxAge": 60, "tags": ["Shelf:1"] }));
    }

    #[tokio::test]
    async fn an_answer_that_read_the_caller_is_never_offered() {
        let identity = kernel::Identity {
            user_id: uuid::Uuid::now_v7(),
            role: kernel::Role::Customer,
        };
        let request = async_graphql::Request::new("{ shelf { name } my_shelf: myShelf { name } }")
            .data(crate::identity::Caller::User(identity));
        let response = schema().execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert!(!response.extensions.contains_key("cache"));
        // Even when the field that read it carries no hint of its own.
        let response = schema().execute("{ shelf { name } greeting }").await;
        assert!(!response.extensions.contains_key("cache"));
    }

    #[tokio::test]
    async fn an_answer_with_errors_is_never_offered() {
        let response = schema().execute("{ shelf { name } myShelf { name } }").await;
        assert!(!response.errors.is_empty());
        assert!(!response.extensions.contains_key("cache"));
    }

    #[tokio::test]
    async fn a_mutation_names_what_it_changed_and_is_never_offered() {
        let response = schema().execute("mutation { renameShelf { name } }").await;
        assert!(!response.extensions.contains_key("cache"));
        assert_eq!(response.http_headers.get(INVALIDATE_HEADER).unwrap(), "Shelf:1");
    }
}
