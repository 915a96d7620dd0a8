//! The gateway: Hive Router used as a library, plus what the engine lacks.
//!
//! - [`compose`]: subgraph SDLs to the supergraph the engine plans against.
//! - [`serve`]: starting the router with our plugin registry.

pub mod compose;
pub mod serve;
