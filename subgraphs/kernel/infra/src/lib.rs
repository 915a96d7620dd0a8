//! The shared kernel's adapters: what every subgraph service needs around its domain.
//!
//! - [`db`]: connecting to a context's own database (SQLite file by default, PostgreSQL
//!   when the URL says so).
//! - [`outbox`] and [`relay`]: events written in the same transaction as the state
//!   change, then published at least once, in order per partition key.
//! - [`bus`]: the `EventBus` port and its in-process adapter; [`redis_bus`]: its Redis
//!   Streams adapter for several replicas.
//! - [`client`]: commands to another context's subgraph under a service identity.
//! - [`inbox`]: processed event ids, so every consumer is idempotent;
//!   [`dead_letters`]: the events a consumer failed on again and again, for staff.
//! - [`graphql`]: domain errors to GraphQL errors with `extensions.code`, Relay cursors,
//!   and request metadata (trace and correlation ids).
//! - [`server`]: serving a subgraph over HTTP with graceful shutdown.
//! - [`context`]: what a context is, said once; [`config`]: the typed configuration;
//!   [`service`]: running one context as its own process, or many in one.
//! - [`migration`]: the outbox and inbox tables, for each context's migrations.
//! - [`telemetry`]: logs (readable or JSON) and traces exported over OTLP.

pub mod bus;
pub mod cache;
pub mod client;
pub mod config;
pub mod context;
pub mod db;
pub mod dead_letters;
pub mod graphql;
pub mod identity;
pub mod inbox;
pub mod live;
pub mod metrics;
pub mod migration;
pub mod outbox;
pub mod redis_bus;
pub mod relay;
pub mod server;
pub mod service;
pub mod status;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;

pub use tokio_util::sync::CancellationToken;
