//! Identity at the gateway: the client's JWT is checked here, once, and the subgraphs
//! receive who is calling in one agreed form they verify.
//!
//! - A bearer token is verified (signature, expiry, issuer, audience) with the keys
//!   configured: `JWT_SECRET` (HS256), `JWT_PUBLIC_KEY_FILE` (RS256 PEM), a JWKS file
//!   (`jwks_file`) or a JWKS URL (`jwks_url`, fetched again every
//!   `jwks_refresh_seconds`, and for an unknown key id at most once a minute). A
//!   request with a token that fails is refused with 401 UNAUTHENTICATED before
//!   anything runs; a request without one runs anonymously (each field decides
//!   whether that is enough).
//! - The verified identity (subject, role, client) goes to every subgraph request as
//!   the `x-identity` header: an assertion signed for that one subgraph (its audience)
//!   with the gateway's Ed25519 private key, living a minute, with a `jti` of its own
//!   (`IDENTITY_GATEWAY_PRIVATE_KEY_FILE`; the subgraphs hold the public key only, see
//!   `kernel_infra::identity`). Subgraphs trust nothing else; the client's own
//!   Authorization header is not forwarded, and every `x-identity…` header a client
//!   sends is dropped.
//! - A subscription's first call to its subgraph runs no subgraph hook: it gets its
//!   headers from the propagation rules only. So for a streaming request (SSE or
//!   multipart) the plugin puts on the incoming request one assertion per subgraph that
//!   the router's rules forward under its own name (`x-identity-orders` to Orders as
//!   `x-identity`, in router.config.yaml); the plugin reads from those rules which
//!   subgraphs they are.
//! - A WebSocket (graphql-transport-ws) operation reaches no HTTP hook: its headers are
//!   the ones the client put in `connection_init`. Its token is verified when its
//!   GraphQL parameters arrive (the same refusal, UNAUTHENTICATED), and the identity
//!   coprocessor (below) puts the assertion on its headers for the propagation rules,
//!   since a plugin cannot change them.
//!
//! The identity coprocessor is Hive Router's coprocessor protocol served by this
//! process on a Unix socket (`coprocessor_socket`; the router's `coprocessor.url` names
//! the same path). At the `graphql.analysis` stage, for an operation that carries an
//! Authorization header that no HTTP hook verified (only a WebSocket operation: over
//! HTTP the plugin marks the request `x-identity-verified`), it answers with the
//! request's headers plus the per-subgraph assertions.
//!
//! The keys come from the platform's configuration (`jwt` and `identity` sections),
//! installed by `platform gateway` before the router starts ([`crate::settings`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hive_router::GraphQLError;
use hive_router::executor::plugins::hooks::on_graphql_params::{
    OnGraphQLParamsStartHookPayload, OnGraphQLParamsStartHookResult,
};
use hive_router::executor::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::executor::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugins::hooks::on_subgraph_execute::{
    OnSubgraphExecuteStartHookPayload, OnSubgraphExecuteStartHookResult,
};
use hive_router::executor::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use hive_router::http::{HeaderValue, StatusCode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;

use kernel::identity::tokens::Claims;
pub use kernel::identity::tokens::{
    ASSERTION_TTL_SECONDS, CLIENT_ADDRESS_HEADER, GATEWAY_ISSUER as ASSERTION_ISSUER, IDENTITY_HEADER,
    assertion_audience, propagated_header,
};

/// Put on a request whose caller this plugin verified over HTTP, so the coprocessor's
/// condition skips it (only a WebSocket operation needs the coprocessor).
pub const VERIFIED_HEADER: &str = "x-identity-verified";

#[derive(Debug, Deserialize)]
pub struct IdentityConfig {
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// `JWT_JWKS_URL` (the platform's `jwt.jwks_url`) overrides it.
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "default_refresh")]
    pub jwks_refresh_seconds: u64,
    /// Where the identity coprocessor listens: a Unix socket, the path the router's
    /// `coprocessor.url` names. None: WebSocket subscriptions run anonymously upstream.
    #[serde(default)]
    pub coprocessor_socket: Option<PathBuf>,
    /// How many proxies of ours stand in front of the gateway, each appending the
    /// address it was called from to `X-Forwarded-For`: the client's address is the
    /// entry that many from the end. 0: the address of the connection itself.
    #[serde(default)]
    pub forwarded_for_hops: usize,
}

/// The address a request came from, kept in its plugin context (never a header a
/// client could have set) for its subgraph calls.
struct ClientAddress(String);

/// The client's address: the peer's, or with `hops` proxies of ours in front, the
/// entry of `forwarded_for` that many from the end (what the first of them saw).
pub fn client_address(peer: Option<std::net::SocketAddr>, forwarded_for: Option<&str>, hops: usize) -> Option<String> {
    if hops > 0 {
        let entries: Vec<&str> = forwarded_for
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        if let Some(entry) = entries.len().checked_sub(hops).and_then(|index| entries.get(index)) {
            return entry.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string());
        }
    }
    peer.map(|peer| peer.ip().to_string())
}

fn default_refresh() -> u64 {
    600
}

/// Who is calling, once the token is verified. Other plugins read it from the
/// request's plugin context.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub subject: String,
    pub role: String,
    pub client: Option<String>,
    /// The token's OAuth scopes (its `scope` claim), for `@requiresScopes`.
    pub scopes: Vec<String>,
    /// When the client's token expires: no assertion is signed for later.
    token_expires: u64,
}

/// A verification key: its key id (if any), the key, and its algorithm.
type Key = (Option<String>, DecodingKey, Algorithm);

/// The keys tokens are checked against.
enum Keys {
    Static(Vec<Key>),
    Remote {
        url: String,
        refresh: Duration,
        http: reqwest::Client,
        /// The keys last fetched, and when.
        current: RwLock<Option<(Vec<Key>, Instant)>>,
        /// When the JWKS was last asked for, fetched or not: at most one fetch per
        /// `min_refetch` ([`JWKS_MIN_REFETCH`]), however many tokens name a key id it
        /// does not hold.
        asked: std::sync::Mutex<Option<Instant>>,
        min_refetch: Duration,
    },
}

/// The least time between two fetches of the JWKS once it has been fetched: a key
/// rotated in is seen within it, and tokens with made-up key ids cannot make the
/// gateway hammer the identity provider.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(60);
/// The least time between two tries while no JWKS has been fetched yet.
const JWKS_FIRST_RETRY: Duration = Duration::from_secs(1);

pub struct IdentityPlugin {
    issuer: String,
    audiences: Vec<String>,
    keys: Keys,
    assertion_key: EncodingKey,
    assertion_header: Header,
    /// The subgraphs that get their assertion through the propagation rules (those that
    /// serve subscriptions).
    propagated: Vec<String>,
    forwarded_for_hops: usize,
}

/// Why a token was refused (said to the client without the token itself).
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidToken(pub String);

fn keys_of(set: &JwkSet) -> Vec<Key> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let algorithm = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok())
                .unwrap_or(Algorithm::RS256);
            DecodingKey::from_jwk(jwk)
                .ok()
                .map(|key| (jwk.common.key_id.clone(), key, algorithm))
        })
        .collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl IdentityPlugin {
    /// The plugin for `config`, with the keys the platform's configuration installed
    /// (or the development keys), signing propagated assertions for `propagated`.
    ///
    /// # Errors
    /// When a configured key cannot be read, or in production without installed keys.
    pub fn from_config(config: &IdentityConfig, propagated: Vec<String>) -> anyhow::Result<Self> {
        let settings = crate::settings::current()?;
        let jwks_url = settings.jwks_url.clone().or_else(|| config.jwks_url.clone());
        let keys = if let Some(url) = jwks_url {
            Keys::Remote {
                url,
                refresh: Duration::from_secs(config.jwks_refresh_seconds),
                http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
                current: RwLock::new(None),
                asked: std::sync::Mutex::new(None),
                min_refetch: JWKS_MIN_REFETCH,
            }
        } else if let Some(path) = &config.jwks_file {
            let set: JwkSet = serde_json::from_str(&std::fs::read_to_string(path)?)?;
            Keys::Static(keys_of(&set))
        } else if let Some(pem) = &settings.jwt_public_pem {
            Keys::Static(vec![(None, DecodingKey::from_rsa_pem(pem)?, Algorithm::RS256)])
        } else if let Some(secret) = &settings.jwt_secret {
            Keys::Static(vec![(
                None,
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )])
        } else {
            anyhow::bail!("no key to verify access tokens: set JWT_PUBLIC_KEY_FILE, JWT_SECRET or JWT_JWKS_URL");
        };
        let Some(assertion_pem) = &settings.assertion_private_pem else {
            anyhow::bail!("no key to sign identity assertions: set IDENTITY_GATEWAY_PRIVATE_KEY_FILE");
        };
        let mut assertion_header = Header::new(Algorithm::EdDSA);
        assertion_header.kid = Some(ASSERTION_ISSUER.to_owned());
        Ok(Self {
            issuer: config.issuer.clone(),
            audiences: config.audiences.clone(),
            keys,
            assertion_key: EncodingKey::from_ed_pem(assertion_pem)?,
            assertion_header,
            propagated,
            forwarded_for_hops: config.forwarded_for_hops,
        })
    }

    async fn candidate_keys(&self, kid: Option<&str>) -> Vec<(DecodingKey, Algorithm)> {
        let matching = |keys: &[Key]| -> Vec<(DecodingKey, Algorithm)> {
            keys.iter()
                .filter(|(key_id, _, _)| kid.is_none() || key_id.is_none() || key_id.as_deref() == kid)
                .map(|(_, key, algorithm)| (key.clone(), *algorithm))
                .collect()
        };
        match &self.keys {
            Keys::Static(keys) => matching(keys),
            Keys::Remote {
                url,
                refresh,
                http,
                current,
                asked,
                min_refetch,
            } => {
                let cached = {
                    let guard = current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                    guard
                        .as_ref()
                        .map(|(keys, at)| (matching(keys), at.elapsed() < *refresh))
                };
                if let Some((found, fresh)) = &cached
                    && *fresh
                    && !found.is_empty()
                {
                    return found.clone();
                }
                // Stale, or no key with this id: fetch again, unless it was asked for
                // too recently (checked and marked at once, so concurrent requests
                // with unknown key ids make one fetch between them).
                let due = {
                    let mut asked = asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let wait = if cached.is_some() {
                        *min_refetch
                    } else {
                        JWKS_FIRST_RETRY
                    };
                    let due = asked.is_none_or(|at| at.elapsed() >= wait);
                    if due {
                        *asked = Some(Instant::now());
                    }
                    due
                };
                if !due {
                    return cached.map(|(found, _)| found).unwrap_or_default();
                }
                match fetch_jwks(http, url).await {
                    Ok(keys) => {
                        let found = matching(&keys);
                        *current.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((keys, Instant::now()));
                        found
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, url, "fetching the JWKS failed; using the keys fetched before");
                        cached.map(|(found, _)| found).unwrap_or_default()
                    }
                }
            }
        }
    }

    /// Verifies a bearer token and signs the assertion for subgraphs.
    ///
    /// # Errors
    /// When the token is malformed, expired, for another audience or issuer, or signed
    /// with a key we do not hold.
    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, InvalidToken> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|err| InvalidToken(format!("malformed token: {err}")))?;
        let keys = self.candidate_keys(header.kid.as_deref()).await;
        let mut last = InvalidToken("no key verifies this token".into());
        for (key, algorithm) in keys.iter().filter(|(_, algorithm)| *algorithm == header.alg) {
            let mut validation = Validation::new(*algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&self.audiences);
            validation.leeway = 5;
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.assert(data.claims),
                Err(err) => last = InvalidToken(format!("the token is not valid: {err}")),
            }
        }
        Err(last)
    }

    fn assert(&self, claims: Claims) -> Result<VerifiedIdentity, InvalidToken> {
        let scopes = claims.scope.split_whitespace().map(str::to_owned).collect();
        if uuid::Uuid::try_parse(&claims.sub).is_err() {
            return Err(InvalidToken("the token's subject is not a user id".into()));
        }
        Ok(VerifiedIdentity {
            subject: claims.sub,
            role: claims.role,
            client: claims.client,
            scopes,
            token_expires: claims.exp,
        })
    }

    /// An assertion that `identity` calls `subgraph`, signed at `now` for a minute (no
    /// later than the client's token expires); none once that token has expired.
    fn assertion(&self, identity: &VerifiedIdentity, subgraph: &str, now: u64) -> Option<String> {
        if now >= identity.token_expires {
            return None;
        }
        let claims = Claims {
            sub: identity.subject.clone(),
            role: identity.role.clone(),
            client: identity.client.clone(),
            scope: String::new(),
            iss: ASSERTION_ISSUER.to_owned(),
            aud: assertion_audience(subgraph),
            iat: now,
            exp: (now + ASSERTION_TTL_SECONDS).min(identity.token_expires),
            jti: Some(uuid::Uuid::now_v7().to_string()),
        };
        match jsonwebtoken::encode(&self.assertion_header, &claims, &self.assertion_key) {
            Ok(signed) => Some(signed),
            Err(err) => {
                tracing::error!(error = %err, "signing an identity assertion failed");
                None
            }
        }
    }

    /// The assertions that ride on the incoming request, by header name, for the
    /// subgraphs whose calls no hook sees.
    fn propagated_assertions(&self, identity: &VerifiedIdentity, now: u64) -> Vec<(String, String)> {
        self.propagated
            .iter()
            .filter_map(|subgraph| {
                self.assertion(identity, subgraph, now)
                    .map(|assertion| (propagated_header(subgraph), assertion))
            })
            .collect()
    }
}

/// The subgraphs that router configuration's header rules send an assertion of their
/// own through propagation (`x-identity-<name>` to `<name>`).
pub fn propagated_subgraphs(headers: &hive_router::config::headers::HeadersConfig) -> Vec<String> {
    let mut names: Vec<String> = headers
        .subgraphs
        .iter()
        .flatten()
        .filter(|(name, rules)| {
            serde_json::to_string(rules).is_ok_and(|rules| rules.contains(&format!("\"{}\"", propagated_header(name))))
        })
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

/// True for headers only this plugin may set.
fn is_identity_header(name: &str) -> bool {
    name.len() >= IDENTITY_HEADER.len() && name[..IDENTITY_HEADER.len()].eq_ignore_ascii_case(IDENTITY_HEADER)
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<Vec<(Option<String>, DecodingKey, Algorithm)>> {
    let set: JwkSet = http.get(url).send().await?.error_for_status()?.json().await?;
    Ok(keys_of(&set))
}

/// The bearer token of an Authorization header value.
///
/// # Errors
/// When the value is not `Bearer <token>`.
fn bearer(value: &[u8]) -> Result<String, InvalidToken> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned())
        .ok_or_else(|| InvalidToken("the Authorization header must be `Bearer <token>`".into()))
}

impl IdentityPlugin {
    /// The coprocessor's answer to one `graphql.analysis` call: the request's headers
    /// with the caller's assertions for the propagated subgraphs (every `x-identity…`
    /// header the client sent dropped), or, for a request without a valid token, the
    /// headers without any.
    pub async fn coprocessor_reply(&self, request: &serde_json::Value) -> serde_json::Value {
        let Some(headers) = request["headers"].as_object() else {
            return serde_json::json!({ "version": 1, "control": "continue" });
        };
        let mut answer: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .filter(|(name, _)| !is_identity_header(name))
            .map(|(name, values)| (name.clone(), values.clone()))
            .collect();
        let authorization = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, values)| values.as_array()?.first()?.as_str().map(str::to_owned));
        if let Some(value) = authorization {
            let verified = match bearer(value.as_bytes()) {
                Ok(token) => self.verify(&token).await,
                Err(err) => Err(err),
            };
            match verified {
                Ok(identity) => {
                    for (name, assertion) in self.propagated_assertions(&identity, now_secs()) {
                        answer.insert(name, serde_json::json!([assertion]));
                    }
                }
                Err(InvalidToken(reason)) => tracing::info!(reason, "coprocessor: token refused"),
            }
        }
        serde_json::json!({ "version": 1, "control": "continue", "headers": answer })
    }
}

/// Serves the identity coprocessor on the Unix socket at `path`, on a thread of its
/// own, until the process ends. The socket's folder must be this user's alone (mode
/// 0700; made so when it does not exist): whoever can put a socket at that path speaks
/// for every caller of a WebSocket subscription. A socket file left by a process that
/// is gone is replaced; one that a live process answers on is left to it.
///
/// # Errors
/// When the folder is not private or the socket cannot be bound.
pub fn serve_coprocessor(path: &Path, plugin: IdentityPlugin) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .ok_or_else(|| anyhow::anyhow!("{}: the coprocessor socket needs a folder of its own", path.display()))?;
    private_folder(folder)?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("{} is served by another process", path.display());
        }
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    let plugin = Arc::new(plugin);
    std::thread::Builder::new()
        .name("identity-coprocessor".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => return tracing::error!(error = %err, "identity coprocessor: no runtime"),
            };
            runtime.block_on(async move {
                let listener = match tokio::net::UnixListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(err) => return tracing::error!(error = %err, "identity coprocessor: bad socket"),
                };
                let app = axum::Router::new()
                    .route(
                        "/",
                        axum::routing::post(
                            |axum::extract::State(plugin): axum::extract::State<Arc<IdentityPlugin>>,
                             axum::Json(request): axum::Json<serde_json::Value>| async move {
                                axum::Json(plugin.coprocessor_reply(&request).await)
                            },
                        ),
                    )
                    .with_state(plugin);
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::error!(error = %err, "identity coprocessor stopped");
                }
            });
        })?;
    Ok(())
}

/// Makes `folder` (mode 0700) when it does not exist; refuses one that is a link, is
/// another user's, or that others may enter.
///
/// # Errors
/// When it cannot be made or is not private.
pub fn private_folder(folder: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = folder.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(folder) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => anyhow::bail!("{}: {err}", folder.display()),
    }
    let found = std::fs::symlink_metadata(folder)?;
    // /proc/self belongs to the process's effective user.
    let me = std::fs::metadata("/proc/self")?.uid();
    anyhow::ensure!(
        found.is_dir() && found.uid() == me,
        "{} is not a folder of this user's own: refusing to serve the identity coprocessor in it",
        folder.display()
    );
    anyhow::ensure!(
        found.permissions().mode() & 0o077 == 0,
        "{} can be entered by other users (mode {:o}); make it 0700",
        folder.display(),
        found.permissions().mode() & 0o777
    );
    Ok(())
}

fn unauthenticated(message: String) -> GraphQLError {
    GraphQLError::from_message_and_code(message, "UNAUTHENTICATED")
}

#[hive_router::async_trait]
impl RouterPlugin for IdentityPlugin {
    type Config = IdentityConfig;

    fn plugin_name() -> &'static str {
        "identity"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let propagated = propagated_subgraphs(&payload.router_config().headers);
        let plugin = Self::from_config(&config, propagated.clone()).map_err(|err| err.to_string())?;
        if let Some(socket) = &config.coprocessor_socket {
            // Not served, the router would call whatever answers at that path: no start.
            Self::from_config(&config, propagated)
                .and_then(|coprocessor| serve_coprocessor(socket, coprocessor))
                .map_err(|err| format!("the identity coprocessor cannot be served: {err}"))?;
        }
        payload.initialize_plugin(plugin)
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        use hive_router::ntex::http::header::{HeaderName as NtexName, HeaderValue as NtexValue};
        Box::pin(async move {
            let mut payload = payload;
            // Only this plugin speaks for the caller: every identity header a client sent
            // itself is dropped before anything can forward it.
            let headers = payload.router_http_request.headers_mut();
            let forged: Vec<NtexName> = headers
                .keys()
                .filter(|name| is_identity_header(name.as_str()))
                .cloned()
                .collect();
            for name in forged {
                headers.remove(name);
            }
            let address = client_address(
                payload.router_http_request.peer_addr(),
                payload
                    .router_http_request
                    .headers()
                    .get("x-forwarded-for")
                    .and_then(|value| value.to_str().ok()),
                self.forwarded_for_hops,
            );
            if let Some(address) = address {
                payload.context.insert(ClientAddress(address));
            }
            let token = match payload.router_http_request.headers().get("authorization") {
                None => return payload.proceed(),
                Some(value) => match bearer(value.as_bytes()) {
                    Ok(token) => token,
                    Err(InvalidToken(reason)) => {
                        return payload.end_with_graphql_error(unauthenticated(reason), StatusCode::UNAUTHORIZED);
                    }
                },
            };
            match self.verify(&token).await {
                Ok(identity) => {
                    let streaming = payload
                        .router_http_request
                        .headers()
                        .get("accept")
                        .and_then(|accept| accept.to_str().ok())
                        .is_some_and(|accept| {
                            accept.contains("text/event-stream") || accept.contains("multipart/mixed")
                        });
                    let mut added = vec![(VERIFIED_HEADER.to_owned(), "true".to_owned())];
                    // A subscription's first subgraph call runs no subgraph hook: its
                    // assertion rides on the request, for the propagation rules.
                    if streaming {
                        added.extend(self.propagated_assertions(&identity, now_secs()));
                    }
                    let headers = payload.router_http_request.headers_mut();
                    for (name, value) in added {
                        if let (Ok(name), Ok(value)) =
                            (NtexName::from_bytes(name.as_bytes()), NtexValue::from_str(&value))
                        {
                            headers.insert(name, value);
                        }
                    }
                    payload.context.insert(identity);
                    payload.proceed()
                }
                Err(InvalidToken(reason)) => {
                    tracing::info!(reason, "token refused");
                    payload.end_with_graphql_error(unauthenticated(reason), StatusCode::UNAUTHORIZED)
                }
            }
        })
    }

    /// Refuses a request whose JSON nests too deep ([`super::json_depth`]). A WebSocket
    /// operation: its headers (from `connection_init`) reached no HTTP hook, so its
    /// token is verified here, and the identity kept for the other plugins.
    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        // First of all plugins, before the engine or any plugin parses the request.
        if super::json_depth::request_too_deep(&payload.body, payload.router_http_request.query_string) {
            let (error, status) = super::json_depth::too_deep();
            return payload.end_with_graphql_error(error, status);
        }
        // Over HTTP the identity headers on the request are the ones this plugin put
        // there (it dropped the client's first). Any on a request it did not verify came
        // from the client (a WebSocket's connection_init): refused, so that the
        // propagation rules never forward one.
        let verified_over_http = payload.context.get_ref::<VerifiedIdentity>().is_some();
        let sent_by_client = payload
            .router_http_request
            .headers
            .keys()
            .any(|name| is_identity_header(name.as_str()));
        if sent_by_client && !verified_over_http {
            return payload.end_with_graphql_error(
                unauthenticated(format!(
                    "`{IDENTITY_HEADER}…` headers are set by the gateway, not by clients"
                )),
                StatusCode::UNAUTHORIZED,
            );
        }
        if payload.context.get_ref::<VerifiedIdentity>().is_some() {
            return payload.proceed();
        }
        let Some(value) = payload.router_http_request.headers.get("authorization") else {
            return payload.proceed();
        };
        let verified = match bearer(value.as_bytes()) {
            Ok(token) => self.verify(&token).await,
            Err(err) => Err(err),
        };
        match verified {
            Ok(identity) => {
                payload.context.insert(identity);
                payload.proceed()
            }
            Err(InvalidToken(reason)) => {
                tracing::info!(reason, "token refused");
                payload.end_with_graphql_error(unauthenticated(reason), StatusCode::UNAUTHORIZED)
            }
        }
    }

    async fn on_subgraph_execute<'exec>(
        &'exec self,
        mut payload: OnSubgraphExecuteStartHookPayload<'exec>,
    ) -> OnSubgraphExecuteStartHookResult<'exec> {
        let address = payload
            .context
            .get_ref::<ClientAddress>()
            .and_then(|address| HeaderValue::from_str(&address.0).ok());
        let headers = &mut payload.execution_request.headers;
        headers.remove("authorization");
        headers.remove(IDENTITY_HEADER);
        headers.remove(CLIENT_ADDRESS_HEADER);
        if let Some(address) = address {
            headers.insert(CLIENT_ADDRESS_HEADER, address);
        }
        if let Some(identity) = payload.context.get_ref::<VerifiedIdentity>() {
            let assertion = self.assertion(&identity, payload.subgraph_name, now_secs());
            drop(identity);
            if let Some(value) = assertion.and_then(|assertion| HeaderValue::from_str(&assertion).ok()) {
                payload.execution_request.headers.insert(IDENTITY_HEADER, value);
            }
        }
        payload.proceed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::identity::tokens::{DEVELOPMENT_GATEWAY_PRIVATE_KEY, DEVELOPMENT_GATEWAY_PUBLIC_KEY};

    fn plugin(secret: &str) -> IdentityPlugin {
        let mut assertion_header = Header::new(Algorithm::EdDSA);
        assertion_header.kid = Some(ASSERTION_ISSUER.to_owned());
        IdentityPlugin {
            issuer: "ecommerce-accounts".into(),
            audiences: vec!["ecommerce".into()],
            keys: Keys::Static(vec![(
                None,
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )]),
            assertion_key: EncodingKey::from_ed_pem(DEVELOPMENT_GATEWAY_PRIVATE_KEY.as_bytes()).unwrap(),
            assertion_header,
            propagated: vec!["orders".into(), "products".into()],
            forwarded_for_hops: 0,
        }
    }

    fn token(secret: &str, aud: &str, exp_offset: i64, client: Option<&str>) -> String {
        let now = now_secs() as i64;
        let claims = serde_json::json!({
            "sub": "0190f3d2-0000-7000-8000-000000000001", "role": "PARTNER", "client": client,
            "iss": "ecommerce-accounts", "aud": aud, "iat": now, "exp": now + exp_offset,
        });
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    const JWKS_SECRET: &str = "jwks-test-secret-0123456789abcdef";

    /// A JWKS endpoint holding one HS256 key (`kid` "k1"); returns its URL and how many
    /// times it was fetched.
    async fn jwks_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = fetches.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    axum::Json(serde_json::json!({ "keys": [{
                        "kty": "oct", "kid": "k1", "alg": "HS256",
                        "k": "andrcy10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm",
                    }]}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, fetches)
    }

    fn token_with_kid(kid: &str) -> String {
        let now = now_secs() as i64;
        let claims = serde_json::json!({
            "sub": "0190f3d2-0000-7000-8000-000000000001", "role": "CUSTOMER",
            "iss": "ecommerce-accounts", "aud": "ecommerce", "iat": now, "exp": now + 60,
        });
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(JWKS_SECRET.as_bytes())).unwrap()
    }

    #[tokio::test]
    async fn tokens_with_unknown_key_ids_refetch_the_jwks_at_most_once_a_minute() {
        let (url, fetches) = jwks_server().await;
        let mut plugin = plugin("unused");
        plugin.keys = Keys::Remote {
            url,
            refresh: Duration::from_secs(600),
            http: reqwest::Client::new(),
            current: RwLock::new(None),
            asked: std::sync::Mutex::new(None),
            // A minute in production; shortened so the test sees the next refetch.
            min_refetch: Duration::from_millis(500),
        };
        let fetched = || fetches.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            plugin.verify(&token_with_kid("k1")).await.is_ok(),
            "the key it holds verifies"
        );
        assert_eq!(fetched(), 1);
        let tries: Vec<_> = (0..50).map(|i| token_with_kid(&format!("made-up-{i}"))).collect();
        let verdicts = futures::future::join_all(tries.iter().map(|token| plugin.verify(token))).await;
        assert!(verdicts.iter().all(Result::is_err), "no made-up key id verifies");
        assert_eq!(fetched(), 1, "fifty unknown key ids right after a fetch: none");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let verdicts = futures::future::join_all(tries.iter().map(|token| plugin.verify(token))).await;
        assert!(verdicts.iter().all(Result::is_err));
        assert_eq!(
            fetched(),
            2,
            "fifty unknown key ids once the interval has passed: one refetch"
        );
        for token in &tries {
            assert!(plugin.verify(token).await.is_err());
        }
        assert_eq!(fetched(), 2, "none more within the interval");
        assert!(
            plugin.verify(&token_with_kid("k1")).await.is_ok(),
            "the known key still verifies"
        );
    }

    #[test]
    fn the_client_address_is_the_peers_or_what_our_own_proxies_saw() {
        let peer: std::net::SocketAddr = "10.0.0.5:41000".parse().unwrap();
        let forwarded = Some("6.6.6.6, 203.0.113.9");
        assert_eq!(
            client_address(Some(peer), forwarded, 0).as_deref(),
            Some("10.0.0.5"),
            "no proxy trusted"
        );
        assert_eq!(
            client_address(Some(peer), forwarded, 1).as_deref(),
            Some("203.0.113.9"),
            "one proxy of ours: the entry it appended, not what the client wrote"
        );
        assert_eq!(client_address(Some(peer), forwarded, 2).as_deref(), Some("6.6.6.6"));
        assert_eq!(
            client_address(Some(peer), None, 1).as_deref(),
            Some("10.0.0.5"),
            "no header: the peer"
        );
        assert_eq!(client_address(Some(peer), Some("not-an-ip"), 1), None);
    }

    #[test]
    fn the_coprocessor_socket_lives_only_in_a_folder_of_this_users_own() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("copro-{}", uuid::Uuid::now_v7().simple()));
        let made = root.join("new");
        private_folder(&made).unwrap();
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        let open = root.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(private_folder(&open).is_err(), "others may enter it");
        let link = root.join("link");
        std::os::unix::fs::symlink(&made, &link).unwrap();
        assert!(private_folder(&link).is_err(), "a link may point anywhere");
        assert!(private_folder(Path::new("/tmp")).is_err(), "the shared /tmp itself");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// What an assertion says, when it is good for `subgraph`.
    fn decode(assertion: &str, subgraph: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[assertion_audience(subgraph)]);
        validation.set_issuer(&[ASSERTION_ISSUER]);
        jsonwebtoken::decode::<Claims>(
            assertion,
            &DecodingKey::from_ed_pem(DEVELOPMENT_GATEWAY_PUBLIC_KEY.as_bytes()).unwrap(),
            &validation,
        )
        .map(|data| data.claims)
    }

    #[tokio::test]
    async fn a_valid_token_becomes_an_assertion_per_subgraph_with_its_client() {
        let plugin = plugin("s");
        let identity = plugin
            .verify(&token("s", "ecommerce", 600, Some("acme")))
            .await
            .unwrap();
        assert_eq!(
            (identity.role.as_str(), identity.client.as_deref()),
            ("PARTNER", Some("acme"))
        );
        let now = now_secs();
        let orders = plugin.assertion(&identity, "orders", now).unwrap();
        let claims = decode(&orders, "orders").unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.client.as_deref()),
            (identity.subject.as_str(), Some("acme"))
        );
        assert_eq!(claims.exp - claims.iat, ASSERTION_TTL_SECONDS);
        assert!(decode(&orders, "payments").is_err(), "made out to Orders only");
        let again = decode(&plugin.assertion(&identity, "orders", now).unwrap(), "orders").unwrap();
        assert!(claims.jti.is_some() && claims.jti != again.jti, "a jti each");
    }

    #[tokio::test]
    async fn no_assertion_outlives_the_clients_token() {
        let plugin = plugin("s");
        let identity = plugin.verify(&token("s", "ecommerce", 30, None)).await.unwrap();
        let now = now_secs();
        let claims = decode(&plugin.assertion(&identity, "cart", now).unwrap(), "cart").unwrap();
        assert_eq!(claims.exp, identity.token_expires, "cut at the token's expiry");
        assert_eq!(plugin.assertion(&identity, "cart", identity.token_expires), None);
    }

    #[tokio::test]
    async fn the_coprocessor_adds_each_propagated_subgraphs_assertion_for_a_valid_caller_only() {
        let plugin = plugin("s");
        let request = |authorization: Option<String>| {
            let mut headers = serde_json::json!({
                "x-identity": ["forged"], "X-Identity-Orders": ["forged"], "accept": ["application/json"],
            });
            if let Some(value) = authorization {
                headers["authorization"] = serde_json::json!([value]);
            }
            serde_json::json!({ "version": 1, "stage": "graphql.analysis", "id": "1", "headers": headers })
        };
        let valid = plugin
            .coprocessor_reply(&request(Some(format!("Bearer {}", token("s", "ecommerce", 60, None)))))
            .await;
        assert_eq!(valid["control"], "continue");
        for subgraph in ["orders", "products"] {
            let assertion = valid["headers"][propagated_header(subgraph)][0].as_str().unwrap();
            decode(assertion, subgraph).unwrap();
        }
        assert!(valid["headers"].get("x-identity").is_none(), "{valid}");
        assert!(valid["headers"].get("X-Identity-Orders").is_none(), "{valid}");
        assert_eq!(
            valid["headers"]["accept"],
            serde_json::json!(["application/json"]),
            "the rest is kept"
        );

        for bad in [
            None,
            Some("Bearer not.a.token".to_owned()),
            Some("Basic abc".to_owned()),
        ] {
            let reply = plugin.coprocessor_reply(&request(bad.clone())).await;
            assert_eq!(reply["control"], "continue", "{bad:?}");
            let identity_headers: Vec<&String> = reply["headers"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|name| is_identity_header(name))
                .collect();
            assert!(identity_headers.is_empty(), "{bad:?}: {reply}");
        }
    }

    #[test]
    fn the_router_configuration_forwards_an_assertion_to_the_subscription_subgraphs() {
        let config: serde_json::Value = serde_yaml_ng::from_str(include_str!("../../router.config.yaml")).unwrap();
        let headers: hive_router::config::headers::HeadersConfig =
            serde_json::from_value(config["headers"].clone()).unwrap();
        // Every subgraph that serves a subscription, and only those.
        let supergraph = include_str!("../../../schema/supergraph.graphql");
        let mut serving: Vec<String> = supergraph
            .split("type Subscription")
            .nth(1)
            .unwrap()
            .lines()
            .skip(1)
            .map_while(|line| line.trim().strip_prefix("@join__type(graph: "))
            .map(|graph| graph.trim_end_matches(')').to_ascii_lowercase())
            .collect();
        serving.sort();
        assert!(!serving.is_empty());
        assert_eq!(propagated_subgraphs(&headers), serving);
    }

    #[tokio::test]
    async fn expired_wrong_audience_and_wrong_signature_are_refused() {
        let plugin = plugin("s");
        for (case, bad) in [
            ("expired", token("s", "ecommerce", -3600, None)),
            ("audience", token("s", "elsewhere", 60, None)),
            ("signature", token("other", "ecommerce", 60, None)),
            ("garbage", "not.a.token".to_owned()),
        ] {
            assert!(plugin.verify(&bad).await.is_err(), "{case}");
        }
    }
}
