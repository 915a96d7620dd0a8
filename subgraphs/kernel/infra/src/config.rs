//! One typed configuration for the platform and for each service: defaults, then an
//! optional file (`--config FILE`, YAML or TOML), then environment variables.
//!
//! The file has the shape of [`Common`] plus one section per context:
//!
//! ```yaml
//! data_dir: /var/lib/shop
//! event_bus: { redis_url: redis://redis:6379 }
//! orders: { database_url: postgres://…/orders, unpaid_timeout_seconds: 900 }
//! ```
//!
//! A variable is its key upper-cased, the section first: `ORDERS_DATABASE_URL`,
//! `EVENT_BUS_REDIS_URL`, `DATA_DIR`. A variable that starts with a section's prefix
//! must name one of its keys, so a typo is an error, as is an unknown key in the file
//! or a value that does not parse; each error names the key and what was expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::ContextSpec;

/// The settings every process reads, beside its context's section. (Unknown keys are
/// refused for the whole tree at once, before any section is read: see `check_keys`.)
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Common {
    /// Where the SQLite files go for every context whose `database_url` is not set.
    pub data_dir: PathBuf,
    /// How long a stopping process lets in-flight requests and the current relay pass
    /// finish after SIGTERM, in seconds.
    pub shutdown_grace_seconds: f64,
    pub event_bus: EventBusSettings,
    pub gateway: GatewaySettings,
    pub jwt: JwtSettings,
    pub identity: IdentitySettings,
    pub apq: ApqSettings,
    pub rate_limit: RateLimitSettings,
    pub response_cache: ResponseCacheSettings,
    pub trusted_documents: TrustedDocumentsSettings,
}

impl Common {
    /// True with `gateway.env` = `production` (`GATEWAY_ENV=production`): the one
    /// switch that makes every process refuse development keys.
    pub fn is_production(&self) -> bool {
        self.gateway.env.eq_ignore_ascii_case("production")
    }
}

impl Default for Common {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            shutdown_grace_seconds: 30.0,
            event_bus: EventBusSettings::default(),
            gateway: GatewaySettings::default(),
            jwt: JwtSettings::default(),
            identity: IdentitySettings::default(),
            apq: ApqSettings::default(),
            rate_limit: RateLimitSettings::default(),
            response_cache: ResponseCacheSettings::default(),
            trusted_documents: TrustedDocumentsSettings::default(),
        }
    }
}

/// Where events travel between contexts.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBusSettings {
    /// Redis Streams, so that separate processes and replicas share the events. Unset:
    /// the in-process bus of the one-process platform.
    pub redis_url: Option<String>,
    /// Streams per event family; fixed for a deployment's life.
    pub shards: u32,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub prefix: String,
}

impl Default for EventBusSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            shards: 8,
            prefix: "events".into(),
        }
    }
}

/// The gateway as the launcher starts it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The clients' port.
    pub port: u16,
    /// The port of the gateway's Prometheus metrics, which stays inside the network.
    pub metrics_port: u16,
    /// `production` turns on the gateway's production limits (read by the gateway
    /// process itself as `GATEWAY_ENV`).
    pub env: String,
    /// A subgraph URL per context that replaces the one in the supergraph, e.g. a load
    /// balancer or a cluster Service (`GATEWAY_SUBGRAPH_URLS_ORDERS`).
    pub subgraph_urls: BTreeMap<String, String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            port: crate::context::GATEWAY_PORT,
            metrics_port: crate::context::GATEWAY_METRICS_PORT,
            env: "development".into(),
            subgraph_urls: BTreeMap::new(),
        }
    }
}

/// Access tokens, which Accounts signs and the gateway verifies (`JWT_*`). One of
/// `secret` (HS256) or the RS256 key files; without either, outside production, a
/// development secret that everyone knows.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The HS256 secret Accounts and the gateway share (at least 32 bytes).
    pub secret: Option<String>,
    /// RS256: the PEM private key Accounts signs with.
    pub private_key_file: Option<PathBuf>,
    /// RS256: the PEM public key the gateway verifies with.
    pub public_key_file: Option<PathBuf>,
    /// A JWKS the gateway fetches its verification keys from (an identity provider).
    pub jwks_url: Option<String>,
    /// How long an access token lives, in seconds.
    pub ttl_seconds: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            secret: None,
            private_key_file: None,
            public_key_file: None,
            jwks_url: None,
            ttl_seconds: 3600,
        }
    }
}

/// Identity assertions (`IDENTITY_*`): Ed25519 key pairs as PEM files. The gateway signs
/// what it asserts about a verified caller with the gateway key; a service that calls
/// another (Checkout) signs with the service key, and its assertions can only say
/// SERVICE. Every subgraph holds the two public keys only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    pub gateway_private_key_file: Option<PathBuf>,
    pub gateway_public_key_file: Option<PathBuf>,
    pub service_private_key_file: Option<PathBuf>,
    pub service_public_key_file: Option<PathBuf>,
}

/// The gateway's automatic persisted queries (`APQ_*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApqSettings {
    /// Shared by every gateway replica; unset, each keeps its own in memory.
    pub redis_url: Option<String>,
}

/// Rate limits and throttles (`RATE_LIMIT_*`): the gateway's per-client limits, and the
/// services' throttles on sign-in attempts and coupon lookups.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Counted in Redis, so each limit holds across replicas; unset, per process.
    pub redis_url: Option<String>,
}

/// The gateway's cache of subgraph answers (`RESPONSE_CACHE_*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseCacheSettings {
    /// Shared by every gateway replica; unset, each keeps its own in memory.
    pub redis_url: Option<String>,
}

/// The persisted-operation manifests the gateway serves partners from
/// (`TRUSTED_DOCUMENTS_*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedDocumentsSettings {
    /// The manifests' folder; unset, the gateway's configuration says.
    pub dir: Option<PathBuf>,
}

/// Where a context keeps its data and listens: the keys every context section has.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Placement {
    /// `sqlite://…` or `postgres://…`; unset, a SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// The address its subgraph listens on.
    pub listen: String,
}

/// One context's effective configuration.
#[derive(Debug, Clone)]
pub struct ContextConfig {
    pub database_url: String,
    pub listen: String,
    /// Where the context keeps files other than its database (`data_dir`).
    pub data_dir: PathBuf,
    /// The context's own settings, as its type reads them.
    pub settings: serde_json::Value,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: Common,
    pub contexts: BTreeMap<String, ContextConfig>,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        Self(err.to_string())
    }
}

impl Config {
    /// Defaults, then `file`, then this process's environment.
    ///
    /// # Errors
    /// When the file cannot be read, a key is unknown, or a value does not parse.
    pub fn load(specs: &[ContextSpec], file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(specs, file, std::env::vars())
    }

    /// Defaults, then `file`, then the variables `env`.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_from(
        specs: &[ContextSpec],
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = defaults(specs);
        let mut figment = Figment::from(Serialized::defaults(defaults.clone()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!("no configuration file at {}", path.display())));
            }
            figment = match path.extension().and_then(|ext| ext.to_str()) {
                Some("toml") => figment.merge(Toml::file_exact(path)),
                Some("yaml" | "yml") => figment.merge(Yaml::file_exact(path)),
                _ => {
                    return Err(ConfigError(format!(
                        "{}: a configuration file ends in .yaml, .yml or .toml",
                        path.display()
                    )));
                }
            };
        }
        figment = figment.merge(Environment::new(&defaults, env));
        let merged: Dict = figment.extract()?;
        check_keys(&defaults, &merged, "")?;

        let common: Common = figment.extract()?;
        let mut contexts = BTreeMap::new();
        for spec in specs {
            let placement: Placement = figment.extract_inner(spec.name)?;
            let own = (spec.settings.read)(&figment, spec.name).map_err(|err| ConfigError(err.to_string()))?;
            contexts.insert(
                spec.name.to_owned(),
                ContextConfig {
                    database_url: placement
                        .database_url
                        .unwrap_or_else(|| spec.default_database_url(&common.data_dir)),
                    listen: placement.listen,
                    data_dir: common.data_dir.clone(),
                    settings: own,
                },
            );
        }
        Ok(Self { common, contexts })
    }

    /// A context's configuration.
    ///
    /// # Errors
    /// When `name` is not one of the contexts it was loaded for.
    pub fn context(&self, name: &str) -> anyhow::Result<&ContextConfig> {
        self.contexts
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("no configuration for the context `{name}`"))
    }

    /// Moves every file the contexts keep outside their databases (and the default
    /// SQLite files of contexts not placed yet) under `dir` (tests keep them in a
    /// directory of their own).
    pub fn set_data_dir(&mut self, dir: &Path) {
        self.common.data_dir = dir.to_owned();
        for context in self.contexts.values_mut() {
            context.data_dir = dir.to_owned();
        }
    }

    /// A context's configuration to change (tests set a job's pace with it).
    ///
    /// # Panics
    /// When `name` is not one of the contexts it was loaded for.
    pub fn set(&mut self, context: &str, key: &str, value: serde_json::Value) {
        let section = self.contexts.get_mut(context).expect("a configured context");
        section.settings[key] = value;
    }

    /// Puts a context's data at `database_url` and its subgraph on a free port (tests
    /// and benchmarks).
    ///
    /// # Panics
    /// When `context` is not one of the contexts it was loaded for.
    pub fn place(&mut self, context: &str, database_url: &str) {
        let section = self.contexts.get_mut(context).expect("a configured context");
        section.database_url = database_url.to_owned();
        section.listen = "127.0.0.1:0".into();
    }

    /// The effective configuration as the file would say it, secrets masked.
    pub fn to_masked_yaml(&self) -> String {
        let mut root = serde_json::to_value(&self.common).unwrap_or_default();
        for (name, context) in &self.contexts {
            let mut section = json!({ "database_url": context.database_url, "listen": context.listen });
            if let serde_json::Value::Object(own) = &context.settings {
                for (key, value) in own {
                    section[key] = value.clone();
                }
            }
            root[name] = section;
        }
        mask(&mut root, "");
        serde_yaml_ng::to_string(&root).unwrap_or_default()
    }
}

/// A setting given in seconds, as a duration; `key` names it in the error.
///
/// # Errors
/// When `value` is negative, not finite or too large.
pub fn seconds(key: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("{key} must be a number of seconds ≥ 0, not {value}"))
}

/// The JSON Schema of the configuration file for these contexts.
pub fn json_schema(specs: &[ContextSpec]) -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Common)).unwrap_or_default();
    let placement = serde_json::to_value(schemars::schema_for!(Placement)).unwrap_or_default();
    for spec in specs {
        let mut section = (spec.settings.schema)();
        let properties = section["properties"].as_object().cloned().unwrap_or_default();
        let mut all = placement["properties"].as_object().cloned().unwrap_or_default();
        all.extend(properties);
        section["properties"] = serde_json::Value::Object(all);
        section["additionalProperties"] = json!(false);
        section["required"] = json!([]);
        if let Some(object) = section.as_object_mut() {
            object.remove("$schema");
            object.insert("title".into(), json!(format!("the {} context", spec.name)));
            // Definitions that a section's type refers to move to the root.
            if let Some(serde_json::Value::Object(defs)) = object.remove("$defs") {
                for (name, def) in defs {
                    schema["$defs"][name] = def;
                }
            }
        }
        schema["properties"][spec.name] = section;
    }
    schema["title"] = json!("The platform's configuration (platform --config FILE)");
    schema["required"] = json!([]);
    schema["additionalProperties"] = json!(false);
    schema
}

/// Every key with its default.
fn defaults(specs: &[ContextSpec]) -> serde_json::Value {
    let mut root = serde_json::to_value(Common::default()).unwrap_or_default();
    for spec in specs {
        let mut section = (spec.settings.defaults)();
        section["database_url"] = serde_json::Value::Null;
        section["listen"] = json!(format!("127.0.0.1:{}", spec.default_port()));
        root[spec.name] = section;
    }
    root
}

/// An unknown key anywhere is an error that names it and the keys allowed there.
fn check_keys(defaults: &serde_json::Value, given: &Dict, path: &str) -> Result<(), ConfigError> {
    let Some(known) = defaults.as_object() else {
        return Ok(());
    };
    // An empty table by default is a map of names (e.g. gateway.subgraph_urls).
    if known.is_empty() {
        return Ok(());
    }
    for (key, value) in given {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match known.get(key) {
            None => {
                let expected: Vec<&str> = known.keys().map(String::as_str).collect();
                return Err(ConfigError(format!(
                    "unknown key `{full}` (expected one of: {})",
                    expected.join(", ")
                )));
            }
            Some(default) => {
                if let (Some(inner), serde_json::Value::Object(_)) = (value.as_dict(), default) {
                    check_keys(default, inner, &full)?;
                }
            }
        }
    }
    Ok(())
}

/// Masks what looks like a secret: passwords in URLs, and keys that name one.
fn mask(value: &mut serde_json::Value, key: &str) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                mask(value, key);
            }
        }
        serde_json::Value::String(text) => {
            let secret = ["secret", "password", "token", "private"]
                .iter()
                .any(|word| key.contains(word));
            if secret && !text.is_empty() {
                *text = "***".into();
            } else if text.contains("://") {
                *text = crate::db::redact(text);
            }
        }
        _ => {}
    }
}

/// The environment as a configuration source: `SECTION_KEY=value`.
struct Environment {
    values: Dict,
}

impl Environment {
    fn new(defaults: &serde_json::Value, env: impl IntoIterator<Item = (String, String)>) -> Self {
        // Keys whose default is a table are sections (`orders`, `event_bus`); the others
        // stand at the top (`data_dir`).
        let (sections, top_level): (Vec<(&String, &serde_json::Value)>, Vec<_>) = defaults
            .as_object()
            .into_iter()
            .flatten()
            .partition(|(_, value)| value.is_object());
        let sections: Vec<&str> = sections.into_iter().map(|(name, _)| name.as_str()).collect();
        let top_level: Vec<&str> = top_level.into_iter().map(|(name, _)| name.as_str()).collect();
        let mut values = Dict::new();
        for (variable, text) in env {
            let lower = variable.to_ascii_lowercase();
            let value: Value = text.parse().unwrap_or_else(|_| Value::from(text.clone()));
            if top_level.contains(&lower.as_str()) {
                values.insert(lower, value);
                continue;
            }
            // The longest section name that prefixes the variable (`event_bus` before
            // a hypothetical `event`).
            let section = sections
                .iter()
                .filter(|section| lower.starts_with(&format!("{section}_")))
                .max_by_key(|section| section.len());
            if let Some(section) = section {
                let key = &lower[section.len() + 1..];
                let inner = values
                    .entry((*section).to_owned())
                    .or_insert_with(|| Value::from(Dict::new()));
                if let Value::Dict(_, dict) = inner {
                    // A map's entries (gateway.subgraph_urls.orders) nest by their name.
                    let nested = defaults[*section].as_object().and_then(|keys| {
                        keys.iter()
                            .find(|(name, v)| v.is_object() && key.starts_with(&format!("{name}_")))
                    });
                    match nested {
                        Some((name, _)) => {
                            let entry = dict.entry(name.clone()).or_insert_with(|| Value::from(Dict::new()));
                            if let Value::Dict(_, map) = entry {
                                map.insert(key[name.len() + 1..].to_owned(), value);
                            }
                        }
                        None => {
                            dict.insert(key.to_owned(), value);
                        }
                    }
                }
            }
        }
        Self { values }
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        // An error inside a section may list the section's name last: the variable
        // puts it first.
        let sections: Vec<String> = self.values.keys().cloned().collect();
        Metadata::named("environment variable").interpolater(move |_, keys| {
            let mut ordered: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|key| sections.iter().any(|s| s == key))
                .collect();
            ordered.extend(keys.iter().copied().filter(|key| !sections.iter().any(|s| s == key)));
            ordered.join("_").to_ascii_uppercase()
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::context::{Context, Opening, SettingsType};

    #[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(default)]
    struct ShopSettings {
        unpaid_timeout_seconds: u64,
        retry_seconds: Vec<f64>,
    }

    impl Default for ShopSettings {
        fn default() -> Self {
            Self {
                unpaid_timeout_seconds: 1800,
                retry_seconds: vec![30.0, 120.0],
            }
        }
    }

    fn never_opens(_: Opening) -> futures::future::BoxFuture<'static, anyhow::Result<Arc<dyn Context>>> {
        Box::pin(async { anyhow::bail!("not in these tests") })
    }

    const ORDERS: ContextSpec = ContextSpec {
        name: "orders",
        about: "",
        sdl: String::new,
        migrate: |_| Box::pin(async { Ok(()) }),
        settings: SettingsType::of::<ShopSettings>(),
        open: never_opens,
        tasks: &[],
        signs: &[],
    };

    fn load(file: Option<&Path>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load_from(&[ORDERS], file, env)
    }

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("config-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_run_embedded_with_the_sqlite_file_under_the_data_dir() {
        let config = load(None, &[]).unwrap();
        let orders = config.context("orders").unwrap();
        assert_eq!(orders.database_url, "sqlite://data/orders.db");
        assert_eq!(orders.listen, "127.0.0.1:4005");
        assert_eq!(orders.settings["unpaid_timeout_seconds"], 1800);
        assert!(config.common.event_bus.redis_url.is_none());

        let moved = load(None, &[("DATA_DIR", "/var/lib/shop")]).unwrap();
        assert_eq!(
            moved.context("orders").unwrap().database_url,
            "sqlite:///var/lib/shop/orders.db"
        );
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_the_defaults() {
        let yaml = file(
            "shop.yaml",
            "orders:\n  unpaid_timeout_seconds: 600\n  listen: 0.0.0.0:8080\nevent_bus:\n  redis_url: redis://redis:6379\n",
        );
        let config = load(Some(&yaml), &[("ORDERS_UNPAID_TIMEOUT_SECONDS", "60")]).unwrap();
        let orders = config.context("orders").unwrap();
        assert_eq!(orders.settings["unpaid_timeout_seconds"], 60);
        assert_eq!(orders.listen, "0.0.0.0:8080");
        assert_eq!(config.common.event_bus.redis_url.as_deref(), Some("redis://redis:6379"));

        let toml = file("shop.toml", "[orders]\nretry_seconds = [1.5, 3]\n");
        let config = load(Some(&toml), &[]).unwrap();
        assert_eq!(
            config.context("orders").unwrap().settings["retry_seconds"],
            json!([1.5, 3.0])
        );
        let config = load(None, &[("ORDERS_RETRY_SECONDS", "[0.2, 0.4]")]).unwrap();
        assert_eq!(
            config.context("orders").unwrap().settings["retry_seconds"],
            json!([0.2, 0.4])
        );
    }

    #[test]
    fn a_misspelt_variable_or_key_is_an_error_that_names_it() {
        let err = load(None, &[("ORDERS_UNPAID_TIMEOUT_SECOND", "60")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("orders.unpaid_timeout_second"), "{err}");
        assert!(
            err.contains("unpaid_timeout_seconds"),
            "expected keys are listed: {err}"
        );

        let err = load(None, &[("EVENT_BUS_REDIS", "redis://x")]).unwrap_err().to_string();
        assert!(err.contains("event_bus.redis"), "{err}");

        let yaml = file("typo.yaml", "ordrs:\n  listen: 0.0.0.0:1\n");
        let err = load(Some(&yaml), &[]).unwrap_err().to_string();
        assert!(err.contains("`ordrs`"), "{err}");

        // Variables of no section are not ours to judge.
        assert!(load(None, &[("HOME", "/root"), ("ORDER_X", "1")]).is_ok());
    }

    #[test]
    fn a_value_that_does_not_parse_is_an_error_that_names_its_key_and_source() {
        let err = load(None, &[("ORDERS_UNPAID_TIMEOUT_SECONDS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ORDERS_UNPAID_TIMEOUT_SECONDS"),
            "the variable is named: {err}"
        );
        let yaml = file("bad.yaml", "orders:\n  unpaid_timeout_seconds: soon\n");
        let err = load(Some(&yaml), &[]).unwrap_err().to_string();
        assert!(err.contains("orders.unpaid_timeout_seconds"), "{err}");
        assert!(err.contains("bad.yaml"), "the file is named: {err}");

        let err = load(None, &[("EVENT_BUS_SHARDS", "-1")]).unwrap_err().to_string();
        assert!(err.contains("EVENT_BUS_SHARDS"), "{err}");

        let err = load(Some(Path::new("/nonexistent/shop.yaml")), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/shop.yaml"), "{err}");
    }

    #[test]
    fn printing_the_configuration_masks_its_secrets() {
        let config = load(
            None,
            &[
                ("ORDERS_DATABASE_URL", "postgres://shop:hunter2@db/orders"),
                ("EVENT_BUS_REDIS_URL", "redis://:s3cret@redis:6379"),
            ],
        )
        .unwrap();
        assert_eq!(
            config.context("orders").unwrap().database_url,
            "postgres://shop:hunter2@db/orders"
        );
        let printed = config.to_masked_yaml();
        assert!(!printed.contains("hunter2") && !printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("postgres://shop:***@db/orders"), "{printed}");
    }

    #[test]
    fn the_json_schema_lists_every_key_and_refuses_others() {
        let schema = json_schema(&[ORDERS]);
        let orders = &schema["properties"]["orders"];
        for key in ["database_url", "listen", "unpaid_timeout_seconds", "retry_seconds"] {
            assert!(orders["properties"].get(key).is_some(), "{key} missing: {orders}");
        }
        assert_eq!(orders["additionalProperties"], json!(false));
        assert!(schema["properties"].get("event_bus").is_some());
    }
}
