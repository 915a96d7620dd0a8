//! Starting Hive Router.
//!
//! The router reads its configuration from the file named by
//! `ROUTER_CONFIG_FILE_PATH` (ours: gateway/router.config.yaml) with environment
//! overrides such as `SUPERGRAPH_FILE_PATH`, `PORT` and `HOST`. It installs the
//! process-wide tracing subscriber and allocator-independent runtime (ntex), so it
//! runs once per process: the platform launcher starts it as a child process.

use hive_router::error::RouterInitError;
use hive_router::{PluginRegistry, ntex};

/// The plugins our gateway registers with the engine. Each is switched on under
/// `plugins:` in the router configuration.
pub fn plugins() -> PluginRegistry {
    PluginRegistry::new()
        .register::<crate::plugins::identity::IdentityPlugin>()
        .register::<crate::plugins::trusted_documents::TrustedDocuments>()
        .register::<crate::plugins::rate_limits::RateLimits>()
        .register::<crate::plugins::operation_limits::OperationLimits>()
        .register::<crate::plugins::authorization::Authorization>()
}

/// Runs the router until it is stopped (SIGINT/SIGTERM).
///
/// # Errors
/// When the configuration or the supergraph is invalid, or the port is taken.
pub fn run() -> anyhow::Result<()> {
    hive_router::init_rustls_crypto_provider();
    run_router().map_err(|err| anyhow::anyhow!("gateway failed: {err}"))
}

#[ntex::main]
async fn run_router() -> Result<(), RouterInitError> {
    hive_router::router_entrypoint(plugins()).await
}
