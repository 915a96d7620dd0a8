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

use std::sync::RwLock;
use std::time::{Duration, Instant};

use hive_router::GraphQLError;
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
        let iat = now_secs();
        let assertion = Claims {
            iss: ASSERTION_ISSUER.to_owned(),
            aud: ASSERTION_AUDIENCE.to_owned(),
            iat,
            exp: iat + ASSERTION_TTL_SECONDS,
            scope: String::new(),
            ..claims
        };
        let signed = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &assertion, &self.assertion_key)
            .map_err(|err| InvalidToken(format!("signing the identity assertion: {err}")))?;
        Ok(VerifiedIdentity {
            subject: assertion.sub,
            role: assertion.role,
            client: assertion.client,
            scopes,
            assertion: HeaderValue::from_str(&signed)
                .map_err(|err| InvalidToken(format!("the identity assertion is not a header value: {err}")))?,
        })
    }
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<Vec<(Option<String>, DecodingKey, Algorithm)>> {
    let set: JwkSet = http.get(url).send().await?.error_for_status()?.json().await?;
    Ok(keys_of(&set))
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
                Some(value) => match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
                    Some(token) => token.trim().to_owned(),
                    None => {
                        return payload.end_with_graphql_error(
                            unauthenticated("the Authorization header must be `Bearer <token>`".into()),
                            StatusCode::UNAUTHORIZED,
                        );
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

    async fn on_subgraph_execute<'exec>(
        &'exec self,
        mut payload: OnSubgraphExecuteStartHookPayload<'exec>,
    ) -> OnSubgraphExecuteStartHookResult<'exec> {
        let headers = &mut payload.execution_request.headers;
        headers.remove("authorization");
        headers.remove(IDENTITY_HEADER);
        if let Some(identity) = payload.context.get_ref::<VerifiedIdentity>() {
            let assertion = identity.assertion.clone();
            drop(identity);
            payload.execution_request.headers.insert(IDENTITY_HEADER, assertion);
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
