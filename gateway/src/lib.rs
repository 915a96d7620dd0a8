//! The gateway: Hive Router used as a library, plus what the engine lacks.
//!
//! - [`compose`]: subgraph SDLs to the supergraph the engine plans against.
//! - [`contracts`]: the clients' operations and their persisted-operation manifests.
//! - [`schema_check`]: what a proposed supergraph breaks for which client.
//! - [`plugins`]: identity and trusted documents, registered with the engine.
//! - [`serve`]: starting the router with our plugin registry.

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

pub mod compose;
pub mod contracts;
pub mod plugins;
pub mod schema_check;
pub mod serve;
pub mod settings;

/// The allocator Hive Router is built and benchmarked with (mimalloc); our binaries
/// install it too: `#[global_allocator] static GLOBAL: gateway::GlobalAllocator = gateway::GlobalAllocator;`.
pub use hive_router::RouterGlobalAllocator as GlobalAllocator;
