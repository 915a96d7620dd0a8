//! Identity on every request: the one place a caller is checked.
//!
//! Two kinds of token:
//! - **Access tokens** are what Accounts issues to users ([`TokenIssuer::from_env`]:
//!   issuer `ecommerce-accounts`, audience `ecommerce`). Clients send them to the
//!   gateway, which verifies them (gateway/src/plugins/identity.rs).
//! - **Identity assertions** are what subgraphs receive, in the `x-identity` header:
//!   short-lived tokens for the audience `ecommerce-subgraphs`, signed with
//!   `IDENTITY_SECRET`, which only the gateway and the services hold. The gateway signs
//!   one for each verified caller; a service signs its own for calls to another context
//!   ([`ServiceToken`]). Every subgraph verifies them ([`TokenVerifier`]) and puts the
//!   [`Caller`] into the GraphQL context, where resolvers ask [`require_user`] or
//!   [`require_role`]. A client's own token sent straight to a subgraph is not enough.
//!
//! Keys come from the environment: `JWT_SECRET` (HS256, the default; a fixed
//! development secret is used, with a warning, when it is unset), or
//! `JWT_PRIVATE_KEY_FILE` / `JWT_PUBLIC_KEY_FILE` (RS256 PEM files, for production),
//! for access tokens; `IDENTITY_SECRET` for assertions.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql::Error;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kernel::{ErrorKind, Identity, Role};

use crate::graphql::coded;

pub use kernel::identity::tokens::{
    ACCESS_AUDIENCE as AUDIENCE, ACCESS_ISSUER as ISSUER, ASSERTION_AUDIENCE, GATEWAY_ISSUER, IDENTITY_HEADER,
    SERVICES_ISSUER,
};
use kernel::identity::tokens::{Claims, DEVELOPMENT_IDENTITY_SECRET, DEVELOPMENT_JWT_SECRET as DEVELOPMENT_SECRET};
const SERVICE_ASSERTION_TTL: Duration = Duration::from_secs(300);

static SHARED: OnceLock<TokenVerifier> = OnceLock::new();

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User(Identity),
    /// A token was sent but is not valid (expired, wrong signature, …).
    Rejected(String),
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs tokens: access tokens (Accounts) or identity assertions (services, tests).
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    ttl: Duration,
    issuer: &'static str,
    audience: &'static str,
}

impl TokenIssuer {
    /// Access tokens signed with an HS256 secret.
    pub fn hs256(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
            ttl,
            issuer: ISSUER,
            audience: AUDIENCE,
        }
    }

    /// Access tokens signed with an RSA key (RS256).
    ///
    /// # Errors
    /// When the PEM is not an RSA private key.
    pub fn rs256(private_key_pem: &[u8], ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            key: EncodingKey::from_rsa_pem(private_key_pem)?,
            header: Header::new(Algorithm::RS256),
            ttl,
            issuer: ISSUER,
            audience: AUDIENCE,
        })
    }

    /// Identity assertions for subgraphs, signed by a service with `secret`.
    pub fn assertions(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
            ttl,
            issuer: SERVICES_ISSUER,
            audience: ASSERTION_AUDIENCE,
        }
    }

    /// Identity assertions signed with `IDENTITY_SECRET`.
    pub fn assertions_from_env() -> Self {
        Self::assertions(identity_secret().as_bytes(), SERVICE_ASSERTION_TTL)
    }

    /// From `JWT_PRIVATE_KEY_FILE` (RS256) or `JWT_SECRET` (HS256); tokens live
    /// `JWT_TTL_SECONDS` (default one hour).
    ///
    /// # Errors
    /// When a key file cannot be read or parsed.
    pub fn from_env() -> anyhow::Result<Self> {
        let ttl = Duration::from_secs(
            std::env::var("JWT_TTL_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3600),
        );
        match std::env::var("JWT_PRIVATE_KEY_FILE") {
            Ok(path) => Self::rs256(&std::fs::read(&path).with_context(|| format!("reading {path}"))?, ttl),
            Err(_) => Ok(Self::hs256(shared_secret().as_bytes(), ttl)),
        }
    }

    /// A signed token for `identity`, and how many seconds it is valid.
    ///
    /// # Errors
    /// When signing fails.
    pub fn issue(&self, identity: &Identity) -> anyhow::Result<(String, u64)> {
        self.issue_for_client(identity, None)
    }

    /// A signed token for `identity` acting through the client application `client`
    /// (a partner), and how many seconds it is valid.
    ///
    /// # Errors
    /// When signing fails.
    pub fn issue_for_client(&self, identity: &Identity, client: Option<&str>) -> anyhow::Result<(String, u64)> {
        let iat = now_secs();
        let claims = Claims {
            sub: identity.user_id.to_string(),
            role: identity.role.as_str().to_owned(),
            client: client.map(str::to_owned),
            scope: if self.audience == AUDIENCE {
                identity.role.scopes().join(" ")
            } else {
                String::new()
            },
            iss: self.issuer.to_owned(),
            aud: self.audience.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        Ok((
            jsonwebtoken::encode(&self.header, &claims, &self.key)?,
            self.ttl.as_secs(),
        ))
    }
}

/// Checks tokens: identity assertions (every subgraph), or access tokens.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn hs256(secret: &[u8]) -> Self {
        Self::with(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// # Errors
    /// When the PEM is not an RSA public key.
    pub fn rs256(public_key_pem: &[u8]) -> anyhow::Result<Self> {
        Ok(Self::with(DecodingKey::from_rsa_pem(public_key_pem)?, Algorithm::RS256))
    }

    fn with(key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        Self { key, validation }
    }

    /// Checks access tokens as Accounts signs them: `JWT_PUBLIC_KEY_FILE` (RS256) or
    /// `JWT_SECRET` (HS256). The gateway does this for every request; tests of Accounts
    /// use it to check the tokens it issues.
    ///
    /// # Errors
    /// When a key file cannot be read or parsed.
    pub fn access_tokens_from_env() -> anyhow::Result<Self> {
        match std::env::var("JWT_PUBLIC_KEY_FILE") {
            Ok(path) => Self::rs256(&std::fs::read(&path).with_context(|| format!("reading {path}"))?),
            Err(_) => Ok(Self::hs256(shared_secret().as_bytes())),
        }
    }

    /// Checks identity assertions signed with `secret` by the gateway or a service.
    pub fn assertions(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[GATEWAY_ISSUER, SERVICES_ISSUER]);
        validation.set_audience(&[ASSERTION_AUDIENCE]);
        validation.leeway = 5;
        Self {
            key: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks identity assertions signed with `IDENTITY_SECRET`: what subgraphs accept.
    ///
    /// # Errors
    /// Never today; kept fallible for key sources that can fail to load.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::assertions(identity_secret().as_bytes()))
    }

    /// Loads the verifier configured by the environment, once per process. Services
    /// call it at start-up, so a missing or broken key stops them there.
    ///
    /// # Errors
    /// When the configured key cannot be loaded.
    pub fn load_shared() -> anyhow::Result<&'static TokenVerifier> {
        if let Some(verifier) = SHARED.get() {
            return Ok(verifier);
        }
        let verifier = TokenVerifier::from_env()?;
        Ok(SHARED.get_or_init(|| verifier))
    }

    /// The verifier loaded by [`TokenVerifier::load_shared`]; until it is loaded, a
    /// verifier that rejects every token (so nobody is let in by mistake).
    pub fn shared() -> &'static TokenVerifier {
        static REJECT_ALL: OnceLock<TokenVerifier> = OnceLock::new();
        SHARED
            .get()
            .unwrap_or_else(|| REJECT_ALL.get_or_init(|| TokenVerifier::hs256(uuid::Uuid::now_v7().as_bytes())))
    }

    /// Who sent these headers: the identity assertion in `x-identity`, or anonymous.
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        let Some(value) = headers.get(IDENTITY_HEADER) else {
            return Caller::Anonymous;
        };
        match value.to_str() {
            Ok(token) => self.verify(token.trim()),
            Err(_) => Caller::Rejected("the identity assertion is not readable".into()),
        }
    }

    /// Checks one token.
    pub fn verify(&self, token: &str) -> Caller {
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => match (uuid::Uuid::try_parse(&data.claims.sub), Role::parse(&data.claims.role)) {
                (Ok(user_id), Some(role)) => Caller::User(Identity { user_id, role }),
                _ => Caller::Rejected("the token's subject or role is malformed".into()),
            },
            Err(err) => Caller::Rejected(format!("the token is not valid: {err}")),
        }
    }
}

fn shared_secret() -> String {
    std::env::var("JWT_SECRET").unwrap_or_else(|_| {
        static WARNED: OnceLock<()> = OnceLock::new();
        WARNED.get_or_init(|| tracing::warn!("JWT_SECRET is not set: using the development secret"));
        DEVELOPMENT_SECRET.to_owned()
    })
}

fn identity_secret() -> String {
    std::env::var("IDENTITY_SECRET").unwrap_or_else(|_| {
        static WARNED: OnceLock<()> = OnceLock::new();
        WARNED.get_or_init(|| tracing::warn!("IDENTITY_SECRET is not set: using the development secret"));
        DEVELOPMENT_IDENTITY_SECRET.to_owned()
    })
}

/// The authenticated user, or UNAUTHENTICATED.
///
/// # Errors
/// UNAUTHENTICATED when no valid token came with the request.
pub fn require_user<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Identity, Error> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::User(identity)) => Ok(identity),
        Some(Caller::Rejected(reason)) => Err(coded(ErrorKind::Unauthenticated, reason)),
        _ => Err(coded(ErrorKind::Unauthenticated, &"sign in first")),
    }
}

/// The authenticated user if they have `role`; FORBIDDEN otherwise.
///
/// # Errors
/// UNAUTHENTICATED without a valid token, FORBIDDEN with another role.
pub fn require_role<'a>(ctx: &async_graphql::Context<'a>, role: Role) -> Result<&'a Identity, Error> {
    let identity = require_user(ctx)?;
    if identity.role == role {
        Ok(identity)
    } else {
        Err(coded(ErrorKind::Forbidden, &format!("only {role} may do this")))
    }
}

/// The authenticated user if they have one of `roles`; FORBIDDEN otherwise.
///
/// # Errors
/// UNAUTHENTICATED without a valid token, FORBIDDEN with another role.
pub fn require_any_role<'a>(ctx: &async_graphql::Context<'a>, roles: &[Role]) -> Result<&'a Identity, Error> {
    let identity = require_user(ctx)?;
    if roles.contains(&identity.role) {
        Ok(identity)
    } else {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(coded(
            ErrorKind::Forbidden,
            &format!("only {} may do this", names.join(" or ")),
        ))
    }
}

/// The identity a context acts under when it calls another one (a saga step, a job):
/// role SERVICE, with a fixed id per service name so its actions are traceable.
pub fn service_identity(service: &str) -> Identity {
    // FNV-1a over the name: stable across processes and releases.
    let hash = service.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    Identity {
        user_id: uuid::Uuid::from_u64_pair(
            0x5e4f_1ce0_0000_7000,
            hash & 0x3fff_ffff_ffff_ffff | 0x8000_0000_0000_0000,
        ),
        role: Role::Service,
    }
}

/// A service token for calls to other contexts, re-issued before it expires.
pub struct ServiceToken {
    issuer: TokenIssuer,
    identity: Identity,
    current: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl ServiceToken {
    pub fn new(issuer: TokenIssuer, service: &str) -> Self {
        Self {
            issuer,
            identity: service_identity(service),
            current: std::sync::Mutex::new(None),
        }
    }

    /// Signs identity assertions with `IDENTITY_SECRET`.
    ///
    /// # Errors
    /// When the key cannot be loaded.
    pub fn from_env(service: &str) -> anyhow::Result<Self> {
        Ok(Self::new(TokenIssuer::assertions_from_env(), service))
    }

    /// A valid token: the cached one, or a fresh one when less than a quarter of its
    /// life is left.
    ///
    /// # Errors
    /// When signing fails.
    pub fn token(&self) -> anyhow::Result<String> {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, renew_at)) = current.as_ref()
            && std::time::Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, ttl) = self.issuer.issue(&self.identity)?;
        let renew_at = std::time::Instant::now() + Duration::from_secs(ttl * 3 / 4);
        *current = Some((token.clone(), renew_at));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_tokens_carry_the_service_role_and_a_stable_id() {
        let tokens = ServiceToken::new(TokenIssuer::assertions(b"secret", Duration::from_secs(60)), "checkout");
        let token = tokens.token().unwrap();
        assert_eq!(tokens.token().unwrap(), token, "cached until renewal is due");
        match TokenVerifier::assertions(b"secret").verify(&token) {
            Caller::User(identity) => {
                assert_eq!(identity.role, Role::Service);
                assert_eq!(identity, service_identity("checkout"));
                assert_ne!(identity.user_id, service_identity("orders").user_id);
            }
            other => panic!("{other:?}"),
        }
    }

    fn identity() -> Identity {
        Identity {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Admin,
        }
    }

    #[test]
    fn an_issued_token_verifies_to_its_identity() {
        let issuer = TokenIssuer::hs256(b"secret", Duration::from_secs(60));
        let (token, ttl) = issuer.issue(&identity()).unwrap();
        assert_eq!(ttl, 60);
        assert!(matches!(
            TokenVerifier::hs256(b"secret").verify(&token),
            Caller::User(Identity { role: Role::Admin, .. })
        ));
    }

    #[test]
    fn a_wrong_signature_or_expired_token_is_rejected() {
        let (token, _) = TokenIssuer::hs256(b"secret", Duration::from_secs(60))
            .issue(&identity())
            .unwrap();
        assert!(matches!(
            TokenVerifier::hs256(b"other").verify(&token),
            Caller::Rejected(_)
        ));
        let expired = Claims {
            sub: uuid::Uuid::now_v7().to_string(),
            role: "ADMIN".into(),
            client: None,
            scope: String::new(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now_secs() - 7200,
            exp: now_secs() - 3600,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        match TokenVerifier::hs256(b"secret").verify(&token) {
            Caller::Rejected(reason) => assert!(reason.contains("xpired"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subgraphs_accept_assertions_not_access_tokens() {
        let verifier = TokenVerifier::assertions(b"identity");
        assert_eq!(verifier.caller(&HeaderMap::new()), Caller::Anonymous);
        // A user's access token, even one signed with the same key, is no assertion.
        let (access, _) = TokenIssuer::hs256(b"identity", Duration::from_secs(60))
            .issue(&identity())
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(IDENTITY_HEADER, access.parse().unwrap());
        assert!(matches!(verifier.caller(&headers), Caller::Rejected(_)));
        // Sent as a bearer token, it is not even looked at.
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", format!("Bearer {access}").parse().unwrap());
        assert_eq!(verifier.caller(&bearer), Caller::Anonymous);
        let (assertion, _) = TokenIssuer::assertions(b"identity", Duration::from_secs(60))
            .issue(&identity())
            .unwrap();
        headers.insert(IDENTITY_HEADER, assertion.parse().unwrap());
        assert!(matches!(verifier.caller(&headers), Caller::User(_)));
    }
}
