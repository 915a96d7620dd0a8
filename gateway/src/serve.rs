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
        .register::<crate::plugins::response_cache::ResponseCache>()
        .register::<crate::plugins::console::Console>()
}

/// Runs the router until it is stopped (SIGINT/SIGTERM).
///
/// # Errors
/// When the configuration or the supergraph is invalid, or the port is taken.
pub fn run() -> anyhow::Result<()> {
    hive_router::init_rustls_crypto_provider();
    run_router().map_err(|err| anyhow::anyhow!("gateway failed: {err}"))
}

/// The stack of each of the router's threads. The engine parses a GraphQL-over-WebSocket
/// message (one frame of at most 64 KiB) before any plugin sees it, and its JSON parser
/// (sonic-rs, building a `Value` for `variables`) recurses once per level of nesting
/// with no limit: 64 KiB of `[` are 65,000 levels. Measured on a release build, a level
/// takes about 280 bytes of stack, so the default 2 MiB overflowed at about 7,500
/// levels, and ntex's SIGSEGV handler then spun on the worker for minutes. 64 MiB holds
/// the deepest frame with three times the room; it is address space, and only the
/// pages a thread touches take memory. (Debug builds compile sonic-rs optimised, see
/// Cargo.toml, or a level would take 37 KiB.) HTTP requests are refused deeper than 64
/// levels before they are parsed (`plugins::json_depth`).
pub const THREAD_STACK_BYTES: usize = 64 * 1024 * 1024;

fn run_router() -> Result<(), RouterInitError> {
    ntex::rt::System::build()
        .name("gateway")
        .stack_size(THREAD_STACK_BYTES)
        .build(ntex::rt::DefaultRuntime)
        .block_on(async move { hive_router::router_entrypoint(plugins()).await })
}

/// What the launcher changes in a copy of the router configuration, from the
/// platform's configuration and the standard OpenTelemetry environment.
#[derive(Debug, Default)]
pub struct RouterConfigEdits {
    /// Each named subgraph's URL (a load balancer or a cluster Service instead of the
    /// URL in the supergraph): `override_subgraph_urls`, and the streams the response
    /// cache follows.
    pub subgraph_urls: std::collections::BTreeMap<String, String>,
    /// Where the gateway's spans go over OTLP/HTTP (Hive Router's own exporter), as
    /// service `gateway`; none exported without it.
    pub otlp_traces_endpoint: Option<String>,
}

impl RouterConfigEdits {
    pub fn is_empty(&self) -> bool {
        self.subgraph_urls.is_empty() && self.otlp_traces_endpoint.is_none()
    }
}

/// A copy of the router configuration at `original` with `edits`, written to `target`.
/// A relative supergraph path is made absolute, since the copy lives elsewhere.
///
/// # Errors
/// When the configuration cannot be read, parsed or written.
pub fn write_router_config(
    original: &std::path::Path,
    edits: &RouterConfigEdits,
    target: &std::path::Path,
) -> anyhow::Result<()> {
    use serde_yaml_ng::{Mapping, Value};
    let text =
        std::fs::read_to_string(original).map_err(|err| anyhow::anyhow!("reading {}: {err}", original.display()))?;
    let mut config: Value = serde_yaml_ng::from_str(&text)?;
    let dir = original.parent().unwrap_or(std::path::Path::new("."));
    if let Some(path) = config["supergraph"]["path"].as_str().map(std::path::PathBuf::from)
        && path.is_relative()
    {
        config["supergraph"]["path"] = Value::from(dir.join(path).display().to_string());
    }
    let Value::Mapping(root) = &mut config else {
        anyhow::bail!("{}: not a mapping", original.display());
    };
    if !edits.subgraph_urls.is_empty() {
        let urls = || {
            edits
                .subgraph_urls
                .iter()
                .map(|(name, url)| (Value::from(name.as_str()), Value::from(url.as_str())))
        };
        let subgraphs: Mapping = urls()
            .map(|(name, url)| (name, Value::Mapping(Mapping::from_iter([("url".into(), url)]))))
            .collect();
        root.insert(
            "override_subgraph_urls".into(),
            Value::Mapping(Mapping::from_iter([("subgraphs".into(), Value::Mapping(subgraphs))])),
        );
        // The response cache follows each subgraph's invalidation stream beside its URL.
        if let Some(Value::Mapping(cache)) = root
            .get_mut("plugins")
            .and_then(|plugins| plugins.get_mut("response_cache"))
            .and_then(|cache| cache.get_mut("config"))
        {
            cache.insert("subgraph_urls".into(), Value::Mapping(urls().collect()));
        }
    }
    if let Some(endpoint) = &edits.otlp_traces_endpoint {
        let telemetry = root
            .entry("telemetry".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        let Value::Mapping(telemetry) = telemetry else {
            anyhow::bail!("{}: `telemetry` is not a mapping", original.display());
        };
        let exporter: Mapping = [
            ("kind", Value::from("otlp")),
            ("protocol", Value::from("http")),
            ("endpoint", Value::from(endpoint.as_str())),
        ]
        .into_iter()
        .map(|(key, value)| (Value::from(key), value))
        .collect();
        let tracing = Mapping::from_iter([("exporters".into(), Value::Sequence(vec![Value::Mapping(exporter)]))]);
        telemetry.insert("tracing".into(), Value::Mapping(tracing));
        let attributes = Mapping::from_iter([("service.name".into(), Value::from("gateway"))]);
        telemetry.insert(
            "resource".into(),
            Value::Mapping(Mapping::from_iter([("attributes".into(), Value::Mapping(attributes))])),
        );
    }
    std::fs::write(target, serde_yaml_ng::to_string(&config)?)
        .map_err(|err| anyhow::anyhow!("writing {}: {err}", target.display()))?;
    Ok(())
}
