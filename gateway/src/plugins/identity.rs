//! Identity at the gateway: the client's JWT is checked here, once, and the subgraphs
//! receive who is calling in one agreed form they verify.
//!
//! - A bearer token is verified (signature, expiry, issuer, audience) with the keys
//!   configured: `JWT_SECRET` (HS256), `JWT_PUBLIC_KEY_FILE` (RS256 PEM), a JWKS file
//!   (`jwks_file`) or a JWKS URL (`jwks_url`, fetched again every
//!   `jwks_refresh_seconds`, and at once for an unknown key id). A request with a token
//!   that fails is refused with 401 UNAUTHENTICATED before anything runs; a request
//!   without one runs anonymously (each field decides whether that is enough).
//! - The verified identity (subject, role, client) goes to every subgraph request as
//!   the `x-identity` header: a short-lived assertion signed with the key that only
//!   the gateway and the services hold (`IDENTITY_SECRET`, see
//!   `kernel_infra::identity::IdentityAssertion`). Subgraphs trust nothing else; the
//!   client's own Authorization header is not forwarded. The assertion is also put on
//!   the incoming request (after any `x-identity` the client sent is dropped), where
//!   the header propagation rules pick it up for subscriptions, whose subgraph calls
//!   run no subgraph hook.
//! - A WebSocket (graphql-transport-ws) operation reaches no HTTP hook: its headers are
//!   the ones the client put in `connection_init`. Its token is verified when its
//!   GraphQL parameters arrive (the same refusal, UNAUTHENTICATED), and the identity
//!   coprocessor (below) puts the assertion on its headers for the propagation rules,
//!   since a plugin cannot change them.
//!
//! The identity coprocessor is Hive Router's coprocessor protocol served by this
//! process on a Unix socket (`coprocessor_socket`; the router's `coprocessor.url` names
//! the same path). At the `graphql.analysis` stage, for an operation that carries an
//! Authorization header but no assertion (only a WebSocket operation: over HTTP the
//! assertion is already on the request), it answers with the request's headers plus
//! `x-identity`.

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

pub use kernel::identity::tokens::{ASSERTION_AUDIENCE, GATEWAY_ISSUER as ASSERTION_ISSUER, IDENTITY_HEADER};
use kernel::identity::tokens::{Claims, DEVELOPMENT_IDENTITY_SECRET, DEVELOPMENT_JWT_SECRET};
const ASSERTION_TTL_SECONDS: u64 = 60;

#[derive(Debug, Deserialize)]
pub struct IdentityConfig {
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// `JWKS_URL` overrides it.
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default = "default_refresh")]
    pub jwks_refresh_seconds: u64,
    /// Where the identity coprocessor listens: a Unix socket, the path the router's
    /// `coprocessor.url` names. None: WebSocket subscriptions run anonymously upstream.
    #[serde(default)]
    pub coprocessor_socket: Option<PathBuf>,
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
    /// The signed assertion forwarded to subgraphs.
    assertion: HeaderValue,
    /// What the assertion says, to sign a fresh one for a long-lived subscription.
    asserted: Claims,
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
    },
}

pub struct IdentityPlugin {
    issuer: String,
    audiences: Vec<String>,
    keys: Keys,
    assertion_key: EncodingKey,
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
    /// # Errors
    /// When a configured key cannot be read.
    pub fn from_config(config: &IdentityConfig) -> anyhow::Result<Self> {
        let jwks_url = std::env::var("JWKS_URL").ok().or_else(|| config.jwks_url.clone());
        let keys = if let Some(url) = jwks_url {
            Keys::Remote {
                url,
                refresh: Duration::from_secs(config.jwks_refresh_seconds),
                http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
                current: RwLock::new(None),
            }
        } else if let Some(path) = &config.jwks_file {
            let set: JwkSet = serde_json::from_str(&std::fs::read_to_string(path)?)?;
            Keys::Static(keys_of(&set))
        } else if let Ok(path) = std::env::var("JWT_PUBLIC_KEY_FILE") {
            Keys::Static(vec![(
                None,
                DecodingKey::from_rsa_pem(&std::fs::read(path)?)?,
                Algorithm::RS256,
            )])
        } else {
            let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| {
                tracing::warn!("JWT_SECRET is not set: the gateway verifies tokens with the development secret");
                DEVELOPMENT_JWT_SECRET.to_owned()
            });
            Keys::Static(vec![(
                None,
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )])
        };
        let identity_secret = std::env::var("IDENTITY_SECRET").unwrap_or_else(|_| {
            tracing::warn!("IDENTITY_SECRET is not set: identity assertions use the development secret");
            DEVELOPMENT_IDENTITY_SECRET.to_owned()
        });
        Ok(Self {
            issuer: config.issuer.clone(),
            audiences: config.audiences.clone(),
            keys,
            assertion_key: EncodingKey::from_secret(identity_secret.as_bytes()),
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
        let token_expires = claims.exp;
        let asserted = Claims {
            iss: ASSERTION_ISSUER.to_owned(),
            aud: ASSERTION_AUDIENCE.to_owned(),
            scope: String::new(),
            ..claims
        };
        let (assertion, asserted) = self.sign(asserted, now_secs())?;
        Ok(VerifiedIdentity {
            subject: asserted.sub.clone(),
            role: asserted.role.clone(),
            client: asserted.client.clone(),
            scopes,
            assertion,
            asserted,
            token_expires,
        })
    }

    /// Signs `claims` as an assertion issued at `now`, valid for a minute.
    fn sign(&self, claims: Claims, now: u64) -> Result<(HeaderValue, Claims), InvalidToken> {
        let claims = Claims {
            iat: now,
            exp: now + ASSERTION_TTL_SECONDS,
            ..claims
        };
        let signed = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.assertion_key)
            .map_err(|err| InvalidToken(format!("signing the identity assertion: {err}")))?;
        let value = HeaderValue::from_str(&signed)
            .map_err(|err| InvalidToken(format!("the identity assertion is not a header value: {err}")))?;
        Ok((value, claims))
    }

    /// The assertion to send a subgraph now: the request's own while it is young, a
    /// fresh one for a subscription that outlives it, none once the client's token has
    /// expired.
    fn assertion_now(&self, identity: &VerifiedIdentity, now: u64) -> Option<HeaderValue> {
        if now < identity.asserted.iat + ASSERTION_TTL_SECONDS / 2 {
            return Some(identity.assertion.clone());
        }
        if now >= identity.token_expires {
            return None;
        }
        self.sign(identity.asserted.clone(), now).ok().map(|(value, _)| value)
    }
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
    /// with the caller's assertion as `x-identity` (any other `x-identity` dropped), or,
    /// for a request without a valid token, the headers without one.
    pub async fn coprocessor_reply(&self, request: &serde_json::Value) -> serde_json::Value {
        let Some(headers) = request["headers"].as_object() else {
            return serde_json::json!({ "version": 1, "control": "continue" });
        };
        let mut answer: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case(IDENTITY_HEADER))
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
                    if let Ok(assertion) = identity.assertion.to_str() {
                        answer.insert(IDENTITY_HEADER.to_owned(), serde_json::json!([assertion]));
                    }
                }
                Err(InvalidToken(reason)) => tracing::info!(reason, "coprocessor: token refused"),
            }
        }
        serde_json::json!({ "version": 1, "control": "continue", "headers": answer })
    }
}

/// Serves the identity coprocessor on the Unix socket at `path`, on a thread of its
/// own, until the process ends. A socket file left by a process that is gone is
/// replaced; one that a live process answers on is left to it.
///
/// # Errors
/// When the socket cannot be bound.
pub fn serve_coprocessor(path: &Path, plugin: IdentityPlugin) -> anyhow::Result<()> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("{} is served by another process", path.display());
        }
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
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
        let plugin = Self::from_config(&config).map_err(|err| err.to_string())?;
        if let Some(socket) = &config.coprocessor_socket {
            let serving = Self::from_config(&config).and_then(|coprocessor| serve_coprocessor(socket, coprocessor));
            if let Err(err) = serving {
                tracing::error!(error = %err, "the identity coprocessor is not served: WebSocket subscriptions reach subgraphs anonymously");
            }
        }
        payload.initialize_plugin(plugin)
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let mut payload = payload;
            // Only this plugin speaks for the caller: an assertion a client sent itself
            // is dropped before anything can forward it.
            payload.router_http_request.headers_mut().remove(IDENTITY_HEADER);
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
                    // Subscriptions reach subgraphs without the subgraph-execute hook,
                    // through the header propagation rules (router.config.yaml), so
                    // the assertion rides on the request too.
                    if let Ok(value) =
                        hive_router::ntex::http::header::HeaderValue::from_bytes(identity.assertion.as_bytes())
                    {
                        payload.router_http_request.headers_mut().insert(
                            hive_router::ntex::http::header::HeaderName::from_static(IDENTITY_HEADER),
                            value,
                        );
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

    /// A WebSocket operation: its headers (from `connection_init`) reached no HTTP hook,
    /// so its token is verified here, and the identity kept for the other plugins.
    async fn on_graphql_params<'exec>(
        &'exec self,
        payload: OnGraphQLParamsStartHookPayload<'exec>,
    ) -> OnGraphQLParamsStartHookResult<'exec> {
        // Over HTTP the assertion on the request is the one this plugin put there. Any
        // other came from the client (a WebSocket's connection_init): refused, so that
        // the propagation rules never forward one.
        if let Some(sent) = payload.router_http_request.headers.get(IDENTITY_HEADER) {
            let ours = payload
                .context
                .get_ref::<VerifiedIdentity>()
                .is_some_and(|identity| identity.assertion.as_bytes() == sent.as_bytes());
            if !ours {
                return payload.end_with_graphql_error(
                    unauthenticated(format!("`{IDENTITY_HEADER}` is set by the gateway, not by clients")),
                    StatusCode::UNAUTHORIZED,
                );
            }
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
        let headers = &mut payload.execution_request.headers;
        headers.remove("authorization");
        headers.remove(IDENTITY_HEADER);
        if let Some(identity) = payload.context.get_ref::<VerifiedIdentity>() {
            let assertion = self.assertion_now(&identity, now_secs());
            drop(identity);
            if let Some(assertion) = assertion {
                payload.execution_request.headers.insert(IDENTITY_HEADER, assertion);
            }
        }
        payload.proceed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(secret: &str) -> IdentityPlugin {
        IdentityPlugin {
            issuer: "ecommerce-accounts".into(),
            audiences: vec!["ecommerce".into()],
            keys: Keys::Static(vec![(
                None,
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )]),
            assertion_key: EncodingKey::from_secret(b"identity"),
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

    #[tokio::test]
    async fn a_valid_token_becomes_a_signed_assertion_with_its_client() {
        let identity = plugin("s")
            .verify(&token("s", "ecommerce", 60, Some("acme")))
            .await
            .unwrap();
        assert_eq!(
            (identity.role.as_str(), identity.client.as_deref()),
            ("PARTNER", Some("acme"))
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[ASSERTION_AUDIENCE]);
        validation.set_issuer(&[ASSERTION_ISSUER]);
        let decoded = jsonwebtoken::decode::<Claims>(
            identity.assertion.to_str().unwrap(),
            &DecodingKey::from_secret(b"identity"),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims.sub, identity.subject);
    }

    #[tokio::test]
    async fn the_coprocessor_adds_the_assertion_to_a_valid_callers_headers_only() {
        let plugin = plugin("s");
        let request = |authorization: Option<String>| {
            let mut headers = serde_json::json!({ "x-identity": ["forged"], "accept": ["application/json"] });
            if let Some(value) = authorization {
                headers["authorization"] = serde_json::json!([value]);
            }
            serde_json::json!({ "version": 1, "stage": "graphql.analysis", "id": "1", "headers": headers })
        };
        let valid = plugin
            .coprocessor_reply(&request(Some(format!("Bearer {}", token("s", "ecommerce", 60, None)))))
            .await;
        assert_eq!(valid["control"], "continue");
        let assertion = valid["headers"]["x-identity"][0].as_str().unwrap();
        assert_ne!(assertion, "forged");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[ASSERTION_AUDIENCE]);
        validation.set_issuer(&[ASSERTION_ISSUER]);
        jsonwebtoken::decode::<Claims>(assertion, &DecodingKey::from_secret(b"identity"), &validation).unwrap();
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
            assert!(reply["headers"].get("x-identity").is_none(), "{bad:?}: {reply}");
        }
    }

    #[tokio::test]
    async fn a_long_subscription_gets_fresh_assertions_until_the_token_expires() {
        let plugin = plugin("s");
        let identity = plugin.verify(&token("s", "ecommerce", 600, None)).await.unwrap();
        let start = identity.asserted.iat;
        assert_eq!(
            plugin.assertion_now(&identity, start + 10),
            Some(identity.assertion.clone())
        );
        let later = plugin.assertion_now(&identity, start + 120).unwrap();
        assert_ne!(later, identity.assertion);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[ASSERTION_AUDIENCE]);
        validation.set_issuer(&[ASSERTION_ISSUER]);
        validation.validate_exp = false;
        let fresh = jsonwebtoken::decode::<Claims>(
            later.to_str().unwrap(),
            &DecodingKey::from_secret(b"identity"),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(
            (fresh.iat, fresh.exp),
            (start + 120, start + 120 + ASSERTION_TTL_SECONDS)
        );
        assert_eq!(fresh.sub, identity.subject);
        assert_eq!(
            plugin.assertion_now(&identity, identity.token_expires),
            None,
            "not past the token"
        );
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
