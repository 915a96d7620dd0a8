//! Trusted documents per client, and automatic persisted queries (APQ).
//!
//! Each client has a manifest (see [`crate::contracts`]) and a mode:
//! - `allow`: any operation runs;
//! - `log_unknown`: any operation runs; one that is not in the manifest is logged;
//! - `persisted_only`: only ids from the client's own manifest run, sent as
//!   `documentId` or as the APQ hash; anything else is PERSISTED_QUERY_NOT_IN_LIST.
//!
//! The client is named by the verified token's `client` claim (see
//! [`super::identity`]), else by the `graphql-client-name` header; a request that names
//! no client gets `default_mode`.
//!
//! APQ: a request with `extensions.persistedQuery { version: 1, sha256Hash }` and no
//! query is answered from the manifest or the APQ store (in memory, or Redis shared by
//! every replica when `redis_url` is set), else PERSISTED_QUERY_NOT_FOUND so the
//! client sends the text along; a hash that does not match the text is a 400.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use hive_router::executor::plugins::hooks::on_graphql_params::{
    GraphQLParams, OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use hive_router::http::StatusCode;
use hive_router::sonic_rs::JsonValueTrait;
use hive_router::{GraphQLError, sonic_rs};
use serde::Deserialize;

use super::apq_store::ApqStore;
use super::identity::VerifiedIdentity;
use crate::contracts::{Manifest, document_id};

/// What a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Allow,
    LogUnknown,
    PersistedOnly,
}

#[derive(Debug, Deserialize)]
pub struct ClientConfig {
    pub mode: Mode,
}

#[derive(Debug, Deserialize)]
pub struct ApqConfig {
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Redis URL of the shared store; `APQ_REDIS_URL` overrides it. None: in memory.
    #[serde(default)]
    pub redis_url: Option<String>,
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u64,
    /// Entries kept by the in-memory store.
    #[serde(default = "default_capacity")]
    pub capacity: u64,
}

fn enabled() -> bool {
    true
}

fn default_ttl_seconds() -> u64 {
    24 * 3600
}

fn default_capacity() -> u64 {
    10_000
}

#[derive(Debug, Deserialize)]
pub struct TrustedDocumentsConfig {
    /// The folder of `<client>.json` manifests; `TRUSTED_DOCUMENTS_DIR` overrides it.
    pub manifests_dir: PathBuf,
    #[serde(default = "default_client_header")]
    pub client_header: String,
    pub default_mode: Mode,
    #[serde(default)]
    pub clients: BTreeMap<String, ClientConfig>,
    pub apq: ApqConfig,
}

fn default_client_header() -> String {
    "graphql-client-name".to_owned()
}

/// A client's mode and operations (id → body).
struct Client {
    mode: Mode,
    operations: HashMap<String, String>,
}

pub struct TrustedDocuments {
    client_header: String,
    default_mode: Mode,
    clients: HashMap<String, Client>,
    apq: Option<ApqStore>,
}

/// The parts of a GraphQL request this plugin reads, from a POST body or GET query.
#[derive(Debug, Default, Deserialize)]
struct RawRequest {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<HashMap<String, sonic_rs::Value>>,
    extensions: Option<HashMap<String, sonic_rs::Value>>,
    #[serde(rename = "documentId")]
    document_id: Option<String>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl Refusal {
    fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status,
        }
    }

    fn not_in_list(client: &str) -> Self {
        Self::new(
            "PERSISTED_QUERY_NOT_IN_LIST",
            StatusCode::BAD_REQUEST,
            format!("client `{client}` may only send operations from its manifest, by id"),
        )
    }
}

impl TrustedDocuments {
    /// The plugin over loaded manifests (client → manifest).
    pub fn new(config: &TrustedDocumentsConfig, manifests: BTreeMap<String, Manifest>, apq: Option<ApqStore>) -> Self {
        let mut clients: HashMap<String, Client> = manifests
            .into_iter()
            .map(|(name, manifest)| {
                let mode = config.clients.get(&name).map_or(config.default_mode, |c| c.mode);
                let operations = manifest.operations.into_iter().map(|op| (op.id, op.body)).collect();
                (name, Client { mode, operations })
            })
            .collect();
        for (name, client) in &config.clients {
            clients.entry(name.clone()).or_insert_with(|| Client {
                mode: client.mode,
                operations: HashMap::new(),
            });
        }
        Self {
            client_header: config.client_header.clone(),
            default_mode: config.default_mode,
            clients,
            apq,
        }
    }

    /// Reads `<dir>/<client>.json` for every manifest in `dir`.
    ///
    /// # Errors
    /// When the folder or a manifest cannot be read.
    pub fn load_manifests(dir: &std::path::Path) -> anyhow::Result<BTreeMap<String, Manifest>> {
        let mut manifests = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|err| anyhow::anyhow!("reading {}: {err}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "json")
                && let Some(client) = path.file_stem().and_then(|s| s.to_str())
            {
                let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&path)?)
                    .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
                manifests.insert(client.to_owned(), manifest);
            }
        }
        Ok(manifests)
    }

    /// Decides a POST body of `client`: the query text to run (as sent, or from a
    /// manifest or the APQ store; `None` when there is none) and the operation name.
    /// What the plugin does for a POST, without the engine around it (the fuzz target).
    ///
    /// # Errors
    /// The refusal the client gets.
    pub async fn decide_body(
        &self,
        client: Option<&str>,
        body: &[u8],
    ) -> Result<(Option<String>, Option<String>), Refusal> {
        let request = parse_body(body)?;
        let resolved = self.resolve(client, &request).await?;
        Ok((resolved.or(request.query), request.operation_name))
    }

    /// Decides a request: `Ok(Some(query))` when the text to run comes from a manifest or
    /// the APQ store, `Ok(None)` when the request runs as sent.
    async fn resolve(&self, client: Option<&str>, request: &RawRequest) -> Result<Option<String>, Refusal> {
        let known = client.and_then(|name| self.clients.get(name));
        let mode = known.map_or(self.default_mode, |c| c.mode);
        let client_label = client.unwrap_or("anonymous");
        let in_manifest = |id: &str| known.and_then(|c| c.operations.get(id)).cloned();

        if let Some(document_id) = &request.document_id {
            let id = document_id.strip_prefix("sha256:").unwrap_or(document_id);
            return match in_manifest(id) {
                Some(body) => Ok(Some(body)),
                None => Err(Refusal::new(
                    "PERSISTED_QUERY_NOT_IN_LIST",
                    StatusCode::BAD_REQUEST,
                    format!("document `{document_id}` is not in the manifest of client `{client_label}`"),
                )),
            };
        }

        if let Some(persisted) = request.extensions.as_ref().and_then(|e| e.get("persistedQuery")) {
            let version = persisted.get("version").and_then(|v| v.as_i64());
            let hash = persisted
                .get("sha256Hash")
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase);
            let (Some(1), Some(hash)) = (version, hash) else {
                return Err(Refusal::new(
                    "PERSISTED_QUERY_NOT_SUPPORTED",
                    StatusCode::BAD_REQUEST,
                    "only persistedQuery version 1 with a sha256Hash is supported",
                ));
            };
            if let Some(query) = &request.query {
                if document_id(query) != hash {
                    return Err(Refusal::new(
                        "PERSISTED_QUERY_HASH_MISMATCH",
                        StatusCode::BAD_REQUEST,
                        "provided sha256Hash does not match the query",
                    ));
                }
                if mode == Mode::PersistedOnly {
                    return match in_manifest(&hash) {
                        Some(_) => Ok(None),
                        None => Err(Refusal::not_in_list(client_label)),
                    };
                }
                if let Some(store) = &self.apq {
                    store.put(&hash, query).await;
                }
                self.log_if_unknown(mode, client_label, &hash, request);
                return Ok(None);
            }
            if let Some(body) = in_manifest(&hash) {
                return Ok(Some(body));
            }
            if mode == Mode::PersistedOnly {
                return Err(Refusal::not_in_list(client_label));
            }
            let Some(store) = &self.apq else {
                return Err(Refusal::new(
                    "PERSISTED_QUERY_NOT_SUPPORTED",
                    StatusCode::BAD_REQUEST,
                    "automatic persisted queries are switched off",
                ));
            };
            return match store.get(&hash).await {
                Some(query) => {
                    self.log_if_unknown(mode, client_label, &hash, request);
                    Ok(Some(query))
                }
                // The APQ protocol: 200 with this error, and the client retries with the text.
                None => Err(Refusal::new(
                    "PERSISTED_QUERY_NOT_FOUND",
                    StatusCode::OK,
                    "PersistedQueryNotFound",
                )),
            };
        }

        match (mode, &request.query) {
            (Mode::PersistedOnly, _) => Err(Refusal::not_in_list(client_label)),
            (Mode::LogUnknown, Some(query)) => {
                self.log_if_unknown(mode, client_label, &document_id(query), request);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    fn log_if_unknown(&self, mode: Mode, client: &str, hash: &str, request: &RawRequest) {
        let known = self
            .clients
            .get(client)
            .is_some_and(|c| c.operations.contains_key(hash));
        if mode == Mode::LogUnknown && !known {
            tracing::warn!(
                client,
                operation = request.operation_name.as_deref().unwrap_or(""),
                hash,
                "operation not in the client's manifest"
            );
        }
    }

    fn client_name(&self, payload: &OnGraphQLParamsStartHookPayload<'_>) -> Option<String> {
        if let Some(identity) = payload.context.get_ref::<VerifiedIdentity>()
            && let Some(client) = &identity.client
        {
            return Some(client.clone());
        }
        payload
            .router_http_request
            .headers
            .get(self.client_header.as_str())
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }
}

/// The request as sent: the JSON body of a POST, or the query string of a GET.
fn raw_request(payload: &OnGraphQLParamsStartHookPayload<'_>) -> Result<RawRequest, Refusal> {
    let bad = |message: String| Refusal::new("BAD_REQUEST", StatusCode::BAD_REQUEST, message);
    // An operation over WebSocket (graphql-transport-ws) arrives parsed, with no body:
    // a persisted one names its document by the APQ hash in `extensions`.
    if payload.body.is_empty()
        && let Some(params) = &payload.graphql_params
    {
        return Ok(RawRequest {
            query: params.query.clone(),
            operation_name: params.operation_name.clone(),
            variables: Some(params.variables.clone()),
            extensions: params.extensions.clone(),
            document_id: None,
        });
    }
    if payload.router_http_request.method == hive_router::http::Method::GET {
        let mut request = RawRequest::default();
        for (key, value) in form_urlencoded::parse(payload.router_http_request.query_string.as_bytes()) {
            match key.as_ref() {
                "query" => request.query = Some(value.into_owned()),
                "operationName" => request.operation_name = Some(value.into_owned()),
                "documentId" => request.document_id = Some(value.into_owned()),
                "variables" => {
                    request.variables = Some(
                        sonic_rs::from_str(&value)
                            .map_err(|err| bad(format!("`variables` is not a JSON object: {err}")))?,
                    );
                }
                "extensions" => {
                    request.extensions = Some(
                        sonic_rs::from_str(&value)
                            .map_err(|err| bad(format!("`extensions` is not a JSON object: {err}")))?,
                    );
                }
                _ => {}
            }
        }
        return Ok(request);
    }
    parse_body(&payload.body)
}

fn parse_body(body: &[u8]) -> Result<RawRequest, Refusal> {
    // The identity plugin refused deeper requests already; this parse must not rely on it.
    if super::json_depth::nests_deeper_than(body, super::json_depth::MAX_JSON_DEPTH) {
        let (error, status) = super::json_depth::too_deep();
        return Err(Refusal::new("BAD_REQUEST", status, error.message));
    }
    sonic_rs::from_slice(body).map_err(|err| {
        Refusal::new(
            "BAD_REQUEST",
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request: {err}"),
        )
    })
}

/// Does the request need this plugin's attention? Cheap byte checks first, so plain
/// queries of `allow` clients pay no second parse.
fn mentions_persistence(payload: &OnGraphQLParamsStartHookPayload<'_>) -> bool {
    let needles: [&[u8]; 2] = [b"persistedQuery", b"documentId"];
    let haystacks = [
        payload.body.as_ref(),
        payload.router_http_request.query_string.as_bytes(),
    ];
    let over_websocket = payload
        .graphql_params
        .as_ref()
        .and_then(|params| params.extensions.as_ref())
        .is_some_and(|extensions| extensions.contains_key("persistedQuery"));
    over_websocket
        || haystacks.iter().any(|hay| {
            needles
                .iter()
                .any(|needle| hay.windows(needle.len()).any(|w| w == *needle))
        })
}

#[hive_router::async_trait]
impl RouterPlugin for TrustedDocuments {
    type Config = TrustedDocumentsConfig;

    fn plugin_name() -> &'static str {
        "trusted_documents"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let settings = crate::settings::current().map_err(|err| err.to_string())?;
        let dir = settings
            .trusted_documents_dir
            .clone()
            .unwrap_or_else(|| config.manifests_dir.clone());
        let manifests = Self::load_manifests(&dir).map_err(|err| err.to_string())?;
        let apq = config.apq.enabled.then(|| {
            let redis_url = settings.apq_redis_url.clone().or_else(|| config.apq.redis_url.clone());
            let ttl = Duration::from_secs(config.apq.ttl_seconds);
            match redis_url {
                Some(url) => ApqStore::redis(&url, ttl),
                None => Ok(ApqStore::memory(config.apq.capacity, ttl)),
            }
        });
        let apq = apq.transpose().map_err(|err| err.to_string())?;
        tracing::info!(clients = manifests.len(), dir = %dir.display(), "trusted documents loaded");
        payload.initialize_plugin(Self::new(&config, manifests, apq))
    }

    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        let client = self.client_name(&payload);
        payload.context.insert(super::RequestClient(client.clone()));
        let mode = client
            .as_deref()
            .and_then(|name| self.clients.get(name))
            .map_or(self.default_mode, |c| c.mode);
        if mode == Mode::Allow && !mentions_persistence(&payload) {
            return payload.proceed();
        }
        let request = match raw_request(&payload) {
            Ok(request) => request,
            Err(refusal) => return refuse(payload, client.as_deref(), refusal),
        };
        match self.resolve(client.as_deref(), &request).await {
            Ok(None) => payload.proceed(),
            Ok(Some(query)) => {
                let params = GraphQLParams {
                    query: Some(query),
                    operation_name: request.operation_name,
                    variables: request.variables.unwrap_or_default(),
                    extensions: request.extensions,
                };
                payload.with_graphql_params(params).proceed()
            }
            Err(refusal) => refuse(payload, client.as_deref(), refusal),
        }
    }
}

fn refuse<'exec>(
    payload: OnGraphQLParamsStartHookPayload<'exec>,
    client: Option<&str>,
    refusal: Refusal,
) -> OnGraphQLParamsStartHookResult<'exec> {
    if refusal.status != StatusCode::OK {
        tracing::info!(
            client = client.unwrap_or("anonymous"),
            code = refusal.code,
            "request refused"
        );
    }
    payload.end_with_graphql_error(
        GraphQLError::from_message_and_code(refusal.message, refusal.code),
        refusal.status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::PersistedOperation;

    const BODY: &str = "query Stock($sku: String!) {\n  variant(sku: $sku) {\n    sku\n  }\n}";

    fn plugin() -> TrustedDocuments {
        let config: TrustedDocumentsConfig = serde_json::from_value(serde_json::json!({
            "manifests_dir": "unused",
            "default_mode": "allow",
            "clients": { "acme": { "mode": "persisted_only" }, "mobile": { "mode": "log_unknown" } },
            "apq": { "enabled": true }
        }))
        .unwrap();
        let manifest = Manifest {
            format: crate::contracts::MANIFEST_FORMAT.into(),
            version: 1,
            operations: vec![PersistedOperation {
                id: document_id(BODY),
                name: "Stock".into(),
                kind: "query".into(),
                body: BODY.into(),
            }],
        };
        let apq = ApqStore::memory(100, Duration::from_secs(60));
        TrustedDocuments::new(&config, BTreeMap::from([("acme".to_owned(), manifest)]), Some(apq))
    }

    fn apq(hash: &str, query: Option<&str>) -> RawRequest {
        RawRequest {
            query: query.map(str::to_owned),
            extensions: Some(HashMap::from([(
                "persistedQuery".to_owned(),
                sonic_rs::json!({ "version": 1, "sha256Hash": hash }),
            )])),
            ..RawRequest::default()
        }
    }

    #[tokio::test]
    async fn a_partner_runs_its_manifest_by_id_and_nothing_else() {
        let plugin = plugin();
        let by_id = RawRequest {
            document_id: Some(document_id(BODY)),
            ..RawRequest::default()
        };
        assert_eq!(plugin.resolve(Some("acme"), &by_id).await, Ok(Some(BODY.to_owned())));
        assert_eq!(
            plugin.resolve(Some("acme"), &apq(&document_id(BODY), None)).await,
            Ok(Some(BODY.to_owned()))
        );
        let text = RawRequest {
            query: Some("{ me { id } }".into()),
            ..RawRequest::default()
        };
        assert_eq!(
            plugin.resolve(Some("acme"), &text).await.unwrap_err().code,
            "PERSISTED_QUERY_NOT_IN_LIST"
        );
        let other = RawRequest {
            document_id: Some(document_id("query Other { me { id } }")),
            ..RawRequest::default()
        };
        assert_eq!(
            plugin.resolve(Some("acme"), &other).await.unwrap_err().code,
            "PERSISTED_QUERY_NOT_IN_LIST"
        );
        // A partner cannot register new documents through APQ either.
        let query = "{ me { id } }";
        assert_eq!(
            plugin
                .resolve(Some("acme"), &apq(&document_id(query), Some(query)))
                .await
                .unwrap_err()
                .code,
            "PERSISTED_QUERY_NOT_IN_LIST"
        );
    }

    #[tokio::test]
    async fn another_clients_ids_are_not_in_the_list() {
        let plugin = plugin();
        let by_id = RawRequest {
            document_id: Some(document_id(BODY)),
            ..RawRequest::default()
        };
        assert_eq!(
            plugin.resolve(Some("mobile"), &by_id).await.unwrap_err().code,
            "PERSISTED_QUERY_NOT_IN_LIST"
        );
    }

    #[tokio::test]
    async fn apq_registers_a_query_and_then_serves_it_by_hash() {
        let plugin = plugin();
        let query = "query Me { me { id } }";
        let hash = document_id(query);
        let missing = plugin.resolve(None, &apq(&hash, None)).await.unwrap_err();
        assert_eq!(
            (missing.code, missing.status),
            ("PERSISTED_QUERY_NOT_FOUND", StatusCode::OK)
        );
        assert_eq!(plugin.resolve(None, &apq(&hash, Some(query))).await, Ok(None));
        assert_eq!(
            plugin.resolve(None, &apq(&hash, None)).await,
            Ok(Some(query.to_owned()))
        );
    }

    #[tokio::test]
    async fn a_hash_that_does_not_match_the_query_is_a_bad_request() {
        let refusal = plugin()
            .resolve(None, &apq(&document_id("{ a }"), Some("{ b }")))
            .await
            .unwrap_err();
        assert_eq!(
            (refusal.code, refusal.status),
            ("PERSISTED_QUERY_HASH_MISMATCH", StatusCode::BAD_REQUEST)
        );
        let mut wrong_version = apq(&document_id("{ a }"), None);
        wrong_version.extensions = Some(HashMap::from([(
            "persistedQuery".to_owned(),
            sonic_rs::json!({ "version": 2, "sha256Hash": "00" }),
        )]));
        assert_eq!(
            plugin().resolve(None, &wrong_version).await.unwrap_err().code,
            "PERSISTED_QUERY_NOT_SUPPORTED"
        );
    }
}
