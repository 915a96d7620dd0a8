//! Identity on every request: the one place a caller is checked.
//!
//! Two kinds of token:
//! - **Access tokens** are what Accounts issues to users ([`TokenIssuer::access_tokens`]:
//!   issuer `ecommerce-accounts`, audience `ecommerce`), signed with `JWT_SECRET` (HS256)
//!   or `JWT_PRIVATE_KEY_FILE` (RS256). Clients send them to the gateway, which verifies
//!   them (gateway/src/plugins/identity.rs).
//! - **Identity assertions** are what subgraphs receive, in the `x-identity` header:
//!   tokens signed with Ed25519 that live at most a minute, carry a `jti` and name one
//!   subgraph as their audience. The gateway signs one for each verified caller and
//!   subgraph call with its private key (`IDENTITY_GATEWAY_PRIVATE_KEY_FILE`); a service
//!   that calls another context signs its own with the service key
//!   (`IDENTITY_SERVICE_PRIVATE_KEY_FILE`, [`ServiceSigner`]), and an assertion under
//!   that key may only say SERVICE. Every subgraph holds the two public keys only and
//!   verifies ([`AssertionVerifier`]) that an assertion is for itself; the [`Caller`]
//!   goes into the GraphQL context, where resolvers ask [`require_user`] or
//!   [`require_role`]. A client's own token sent straight to a subgraph is not enough.
//!
//! The keys come from the configuration's `jwt` and `identity` sections
//! ([`KeyMaterial::load`]). Outside production a missing key is replaced by a
//! development key that everyone can read, with a warning; with `GATEWAY_ENV=production`
//! a process refuses to start without the keys it uses, naming every missing variable.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql::Error;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kernel::identity::tokens::{
    Claims, DEVELOPMENT_GATEWAY_PRIVATE_KEY, DEVELOPMENT_GATEWAY_PUBLIC_KEY, DEVELOPMENT_JWT_SECRET,
    DEVELOPMENT_SERVICE_PRIVATE_KEY, DEVELOPMENT_SERVICE_PUBLIC_KEY,
};
use kernel::{ErrorKind, Identity, Role};

use crate::config::Common;
use crate::graphql::coded;

pub use kernel::identity::tokens::{
    ACCESS_AUDIENCE as AUDIENCE, ACCESS_ISSUER as ISSUER, ASSERTION_TTL_SECONDS, GATEWAY_ISSUER, IDENTITY_HEADER,
    SERVICES_ISSUER, assertion_audience,
};

/// The shortest secret accepted in production.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a process does with keys beyond verifying assertions (which every subgraph
/// does): what it needs configured in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// A subgraph: verifies the gateway's and the services' assertions.
    VerifiesAssertions,
    /// Accounts: signs access tokens.
    SignsAccessTokens,
    /// A service that calls other contexts (Checkout): signs service assertions.
    SignsServiceCalls,
    /// The gateway: verifies access tokens, signs assertions.
    Gateway,
}

/// The key material of a process, as its configuration gives it (each missing piece a
/// development key outside production, absent in production).
#[derive(Clone, Default)]
pub struct KeyMaterial {
    pub production: bool,
    pub jwt_secret: Option<String>,
    pub jwt_private_pem: Option<Vec<u8>>,
    pub jwt_public_pem: Option<Vec<u8>>,
    pub jwks_url: Option<String>,
    pub jwt_ttl: Duration,
    pub gateway_private_pem: Option<Vec<u8>>,
    pub gateway_public_pem: Option<Vec<u8>>,
    pub service_private_pem: Option<Vec<u8>>,
    pub service_public_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("production", &self.production)
            .finish_non_exhaustive()
    }
}

fn read_file(variable: &str, path: Option<&std::path::PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    path.map(|path| std::fs::read(path).with_context(|| format!("{variable}: reading {}", path.display())))
        .transpose()
}

impl KeyMaterial {
    /// The keys `common` configures for a process that does `uses`.
    ///
    /// # Errors
    /// In production: every variable that such a process needs and that is unset, named
    /// in one message; a `JWT_SECRET` shorter than [`MIN_SECRET_BYTES`]. Anywhere: a key
    /// file that cannot be read or parsed.
    pub fn load(common: &Common, uses: &[KeyUse]) -> anyhow::Result<Self> {
        let (jwt, identity) = (&common.jwt, &common.identity);
        let production = common.is_production();
        let mut material = Self {
            production,
            jwt_secret: jwt.secret.clone(),
            jwt_private_pem: read_file("JWT_PRIVATE_KEY_FILE", jwt.private_key_file.as_ref())?,
            jwt_public_pem: read_file("JWT_PUBLIC_KEY_FILE", jwt.public_key_file.as_ref())?,
            jwks_url: jwt.jwks_url.clone(),
            jwt_ttl: Duration::from_secs(jwt.ttl_seconds),
            gateway_private_pem: read_file(
                "IDENTITY_GATEWAY_PRIVATE_KEY_FILE",
                identity.gateway_private_key_file.as_ref(),
            )?,
            gateway_public_pem: read_file(
                "IDENTITY_GATEWAY_PUBLIC_KEY_FILE",
                identity.gateway_public_key_file.as_ref(),
            )?,
            service_private_pem: read_file(
                "IDENTITY_SERVICE_PRIVATE_KEY_FILE",
                identity.service_private_key_file.as_ref(),
            )?,
            service_public_pem: read_file(
                "IDENTITY_SERVICE_PUBLIC_KEY_FILE",
                identity.service_public_key_file.as_ref(),
            )?,
        };
        material.check_parses()?;
        if production {
            if let Some(secret) = &material.jwt_secret
                && secret.len() < MIN_SECRET_BYTES
            {
                anyhow::bail!(
                    "JWT_SECRET is {} bytes long: production needs at least {MIN_SECRET_BYTES}",
                    secret.len()
                );
            }
            let jwt_secret = material.jwt_secret.as_deref().map(str::as_bytes);
            let mut published: Vec<&str> = Vec::new();
            if jwt_secret.is_some_and(|given| is_development(given, DEVELOPMENT_JWT_SECRET)) {
                published.push("JWT_SECRET");
            }
            for key in material.ed25519_keys() {
                if key
                    .pem
                    .as_deref()
                    .is_some_and(|given| is_development(given, key.development))
                {
                    published.push(key.variable);
                }
            }
            if !published.is_empty() {
                anyhow::bail!(
                    "GATEWAY_ENV=production refuses the development keys, which anyone can read: {}",
                    published.join(", ")
                );
            }
            let missing = material.missing(uses);
            if !missing.is_empty() {
                anyhow::bail!(
                    "GATEWAY_ENV=production needs real keys, and these are not set: {}",
                    missing.join(", ")
                );
            }
        } else {
            material.fill_in_development_keys();
        }
        Ok(material)
    }

    /// The four Ed25519 keys of the assertions, each with its variable and development
    /// value: the one list that parsing, the production check and the development
    /// defaults go through.
    fn ed25519_keys(&mut self) -> [Ed25519Key<'_>; 4] {
        [
            Ed25519Key {
                variable: "IDENTITY_GATEWAY_PRIVATE_KEY_FILE",
                private: true,
                development: DEVELOPMENT_GATEWAY_PRIVATE_KEY,
                pem: &mut self.gateway_private_pem,
            },
            Ed25519Key {
                variable: "IDENTITY_GATEWAY_PUBLIC_KEY_FILE",
                private: false,
                development: DEVELOPMENT_GATEWAY_PUBLIC_KEY,
                pem: &mut self.gateway_public_pem,
            },
            Ed25519Key {
                variable: "IDENTITY_SERVICE_PRIVATE_KEY_FILE",
                private: true,
                development: DEVELOPMENT_SERVICE_PRIVATE_KEY,
                pem: &mut self.service_private_pem,
            },
            Ed25519Key {
                variable: "IDENTITY_SERVICE_PUBLIC_KEY_FILE",
                private: false,
                development: DEVELOPMENT_SERVICE_PUBLIC_KEY,
                pem: &mut self.service_public_pem,
            },
        ]
    }

    /// What a process doing `uses` lacks, by variable.
    fn missing(&self, uses: &[KeyUse]) -> Vec<&'static str> {
        let mut missing = Vec::new();
        let mut need = |present: bool, variable: &'static str| {
            if !present && !missing.contains(&variable) {
                missing.push(variable);
            }
        };
        for use_ in uses {
            match use_ {
                KeyUse::VerifiesAssertions => {
                    need(self.gateway_public_pem.is_some(), "IDENTITY_GATEWAY_PUBLIC_KEY_FILE");
                    need(self.service_public_pem.is_some(), "IDENTITY_SERVICE_PUBLIC_KEY_FILE");
                }
                KeyUse::SignsAccessTokens => need(
                    self.jwt_private_pem.is_some() || self.jwt_secret.is_some(),
                    "JWT_PRIVATE_KEY_FILE (or JWT_SECRET)",
                ),
                KeyUse::SignsServiceCalls => {
                    need(self.service_private_pem.is_some(), "IDENTITY_SERVICE_PRIVATE_KEY_FILE")
                }
                KeyUse::Gateway => {
                    need(
                        self.jwt_public_pem.is_some() || self.jwt_secret.is_some() || self.jwks_url.is_some(),
                        "JWT_PUBLIC_KEY_FILE (or JWT_SECRET, or JWT_JWKS_URL)",
                    );
                    need(self.gateway_private_pem.is_some(), "IDENTITY_GATEWAY_PRIVATE_KEY_FILE");
                }
            }
        }
        missing
    }

    /// Every key file given parses as the key it should be.
    fn check_parses(&mut self) -> anyhow::Result<()> {
        if let Some(pem) = &self.jwt_private_pem {
            EncodingKey::from_rsa_pem(pem).context("JWT_PRIVATE_KEY_FILE: not an RSA private key (PEM)")?;
        }
        if let Some(pem) = &self.jwt_public_pem {
            DecodingKey::from_rsa_pem(pem).context("JWT_PUBLIC_KEY_FILE: not an RSA public key (PEM)")?;
        }
        for key in self.ed25519_keys() {
            let Some(pem) = key.pem.as_deref() else { continue };
            let parsed = if key.private {
                EncodingKey::from_ed_pem(pem).map(drop)
            } else {
                DecodingKey::from_ed_pem(pem).map(drop)
            };
            let kind = if key.private { "private" } else { "public" };
            parsed.with_context(|| format!("{}: not an Ed25519 {kind} key (PEM)", key.variable))?;
        }
        Ok(())
    }

    /// Outside production: the development key for every key not configured (with a
    /// warning, once per process).
    fn fill_in_development_keys(&mut self) {
        let mut defaulted = Vec::new();
        if self.jwt_secret.is_none() && self.jwt_private_pem.is_none() && self.jwt_public_pem.is_none() {
            self.jwt_secret = Some(DEVELOPMENT_JWT_SECRET.to_owned());
            defaulted.push("JWT_SECRET");
        }
        for key in self.ed25519_keys() {
            if key.pem.is_none() {
                *key.pem = Some(key.development.as_bytes().to_vec());
                defaulted.push(key.variable);
            }
        }
        if !defaulted.is_empty() {
            static WARNED: OnceLock<()> = OnceLock::new();
            WARNED.get_or_init(|| {
                tracing::warn!(
                    unset = defaulted.join(", "),
                    "development keys in use: anyone can sign tokens this process accepts (set GATEWAY_ENV=production to refuse them)"
                );
            });
        }
    }
}

/// One of [`KeyMaterial`]'s Ed25519 keys.
struct Ed25519Key<'a> {
    variable: &'static str,
    private: bool,
    development: &'static str,
    pem: &'a mut Option<Vec<u8>>,
}

/// True when `given` is the published development value `known`.
fn is_development(given: &[u8], known: &str) -> bool {
    given.trim_ascii() == known.as_bytes().trim_ascii()
}

static INSTALLED: OnceLock<KeyMaterial> = OnceLock::new();

/// Loads this process's keys from `common` for `uses` and keeps them for the process's
/// life (the first call wins; a launcher running several contexts calls it once with
/// every use).
///
/// # Errors
/// As [`KeyMaterial::load`].
pub fn install(common: &Common, uses: &[KeyUse]) -> anyhow::Result<&'static KeyMaterial> {
    let material = KeyMaterial::load(common, uses)?;
    Ok(INSTALLED.get_or_init(|| material))
}

/// This process's keys: the installed ones, or (in a test or tool that installed none)
/// those the environment configures. In production without keys, none: nothing
/// verifies and nothing can be signed.
pub fn keys() -> &'static KeyMaterial {
    INSTALLED.get_or_init(|| {
        let common = crate::config::Config::load_from(&[], None, std::env::vars()).map(|config| config.common);
        match common
            .map_err(anyhow::Error::from)
            .and_then(|common| KeyMaterial::load(&common, &[]))
        {
            Ok(material) => material,
            Err(err) => {
                tracing::error!(error = %err, "no keys: every token will be refused");
                KeyMaterial {
                    production: true,
                    ..KeyMaterial::default()
                }
            }
        }
    })
}

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

/// Signs access tokens (Accounts).
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    ttl: Duration,
}

impl TokenIssuer {
    /// Access tokens signed with an HS256 secret.
    pub fn hs256(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
            ttl,
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
        })
    }

    /// Access tokens as the configuration says: `JWT_PRIVATE_KEY_FILE` (RS256) or
    /// `JWT_SECRET` (HS256), living `JWT_TTL_SECONDS`.
    ///
    /// # Errors
    /// When neither is configured (production) or the key does not parse.
    pub fn access_tokens() -> anyhow::Result<Self> {
        let keys = keys();
        match (&keys.jwt_private_pem, &keys.jwt_secret) {
            (Some(pem), _) => Self::rs256(pem, keys.jwt_ttl),
            (None, Some(secret)) => Ok(Self::hs256(secret.as_bytes(), keys.jwt_ttl)),
            (None, None) => anyhow::bail!("no key to sign access tokens: set JWT_PRIVATE_KEY_FILE or JWT_SECRET"),
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
            scope: identity.role.scopes().join(" "),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs(),
            jti: None,
        };
        Ok((
            jsonwebtoken::encode(&self.header, &claims, &self.key)?,
            self.ttl.as_secs(),
        ))
    }
}

/// Checks access tokens (Accounts' tests; the gateway has its own, with JWKS).
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

    /// Checks access tokens as the configuration says Accounts signs them:
    /// `JWT_PUBLIC_KEY_FILE` (RS256) or `JWT_SECRET` (HS256).
    ///
    /// # Errors
    /// When neither is configured or the key does not parse.
    pub fn access_tokens() -> anyhow::Result<Self> {
        let keys = keys();
        match (&keys.jwt_public_pem, &keys.jwt_secret) {
            (Some(pem), _) => Self::rs256(pem),
            (None, Some(secret)) => Ok(Self::hs256(secret.as_bytes())),
            (None, None) => anyhow::bail!("no key to verify access tokens: set JWT_PUBLIC_KEY_FILE or JWT_SECRET"),
        }
    }

    /// Checks one token.
    pub fn verify(&self, token: &str) -> Caller {
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => caller_of(&data.claims),
            Err(err) => Caller::Rejected(format!("the token is not valid: {err}")),
        }
    }
}

fn caller_of(claims: &Claims) -> Caller {
    match (uuid::Uuid::try_parse(&claims.sub), Role::parse(&claims.role)) {
        (Ok(user_id), Some(role)) => Caller::User(Identity { user_id, role }),
        _ => Caller::Rejected("the token's subject or role is malformed".into()),
    }
}

/// Signs identity assertions with an Ed25519 key, each for one subgraph, living
/// [`ASSERTION_TTL_SECONDS`], with a `jti` of its own.
pub struct AssertionSigner {
    key: EncodingKey,
    header: Header,
    issuer: &'static str,
}

impl AssertionSigner {
    /// Signs as the gateway (any verified caller).
    ///
    /// # Errors
    /// When the PEM is not an Ed25519 private key.
    pub fn gateway(private_key_pem: &[u8]) -> anyhow::Result<Self> {
        Self::new(private_key_pem, GATEWAY_ISSUER)
    }

    /// Signs as a service (its assertions can only say SERVICE).
    ///
    /// # Errors
    /// When the PEM is not an Ed25519 private key.
    pub fn service(private_key_pem: &[u8]) -> anyhow::Result<Self> {
        Self::new(private_key_pem, SERVICES_ISSUER)
    }

    fn new(private_key_pem: &[u8], issuer: &'static str) -> anyhow::Result<Self> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(issuer.to_owned());
        Ok(Self {
            key: EncodingKey::from_ed_pem(private_key_pem)?,
            header,
            issuer,
        })
    }

    /// What the configured gateway key asserts: for tests that call a subgraph as the
    /// gateway would.
    ///
    /// # Errors
    /// When no gateway key is configured.
    pub fn configured_gateway() -> anyhow::Result<Self> {
        let pem = keys()
            .gateway_private_pem
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("IDENTITY_GATEWAY_PRIVATE_KEY_FILE is not set"))?;
        Self::gateway(pem)
    }

    /// An assertion that `identity` calls the subgraph `subgraph` (acting through the
    /// client application `client`, if any).
    ///
    /// # Errors
    /// When signing fails.
    pub fn sign(&self, identity: &Identity, client: Option<&str>, subgraph: &str) -> anyhow::Result<String> {
        let iat = now_secs();
        let claims = Claims {
            sub: identity.user_id.to_string(),
            role: identity.role.as_str().to_owned(),
            client: client.map(str::to_owned),
            scope: String::new(),
            iss: self.issuer.to_owned(),
            aud: assertion_audience(subgraph),
            iat,
            exp: iat + ASSERTION_TTL_SECONDS,
            jti: Some(uuid::Uuid::now_v7().to_string()),
        };
        Ok(jsonwebtoken::encode(&self.header, &claims, &self.key)?)
    }
}

/// Checks identity assertions: what every subgraph accepts.
pub struct AssertionVerifier {
    gateway: Option<DecodingKey>,
    service: Option<DecodingKey>,
}

impl AssertionVerifier {
    /// Verifies with these public keys (PEM, Ed25519); a missing key verifies nothing.
    ///
    /// # Errors
    /// When a PEM is not an Ed25519 public key.
    pub fn new(gateway_public_pem: Option<&[u8]>, service_public_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        Ok(Self {
            gateway: gateway_public_pem.map(DecodingKey::from_ed_pem).transpose()?,
            service: service_public_pem.map(DecodingKey::from_ed_pem).transpose()?,
        })
    }

    /// The verifier of the configured keys, built once per process.
    pub fn shared() -> &'static AssertionVerifier {
        static SHARED: OnceLock<AssertionVerifier> = OnceLock::new();
        SHARED.get_or_init(|| {
            let keys = keys();
            Self::new(keys.gateway_public_pem.as_deref(), keys.service_public_pem.as_deref()).unwrap_or_else(|err| {
                tracing::error!(error = %err, "identity keys do not parse: every assertion will be refused");
                Self {
                    gateway: None,
                    service: None,
                }
            })
        })
    }

    /// Who sent these headers to the subgraph `subgraph`: the identity assertion in
    /// `x-identity`, or anonymous.
    pub fn caller(&self, headers: &HeaderMap, subgraph: &str) -> Caller {
        let Some(value) = headers.get(IDENTITY_HEADER) else {
            return Caller::Anonymous;
        };
        match value.to_str() {
            Ok(token) => self.verify(token.trim(), subgraph),
            Err(_) => Caller::Rejected("the identity assertion is not readable".into()),
        }
    }

    /// Checks one assertion sent to the subgraph `subgraph`.
    pub fn verify(&self, token: &str, subgraph: &str) -> Caller {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(err) => return Caller::Rejected(format!("the identity assertion is malformed: {err}")),
        };
        let (key, issuer) = match header.kid.as_deref() {
            Some(GATEWAY_ISSUER) => (self.gateway.as_ref(), GATEWAY_ISSUER),
            Some(SERVICES_ISSUER) => (self.service.as_ref(), SERVICES_ISSUER),
            _ => return Caller::Rejected("the identity assertion names no key we hold".into()),
        };
        let Some(key) = key else {
            return Caller::Rejected("no key to verify the identity assertion".into());
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[assertion_audience(subgraph)]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 5;
        let claims = match jsonwebtoken::decode::<Claims>(token, key, &validation) {
            Ok(data) => data.claims,
            Err(err) => return Caller::Rejected(format!("the identity assertion is not valid: {err}")),
        };
        if claims.exp > claims.iat + ASSERTION_TTL_SECONDS || claims.jti.is_none() {
            return Caller::Rejected(format!(
                "an identity assertion lives at most {ASSERTION_TTL_SECONDS} s and carries a jti"
            ));
        }
        let caller = caller_of(&claims);
        match &caller {
            Caller::User(identity) if issuer == SERVICES_ISSUER && identity.role != Role::Service => {
                Caller::Rejected("a service's assertion can only say SERVICE".into())
            }
            _ => caller,
        }
    }
}

/// True when the request comes from the shop's staff (ADMIN) or another context
/// (SERVICE): what only they may see, others do not learn exists. It does not make the
/// answer private (`crate::cache`): the gateway's cache never serves nor keeps a
/// privileged caller's answers, so everyone else's answer is the same.
pub fn is_privileged(ctx: &async_graphql::Context<'_>) -> bool {
    matches!(ctx.data_opt::<Caller>(), Some(Caller::User(identity)) if identity.is_privileged())
}

/// The authenticated user, or UNAUTHENTICATED.
///
/// # Errors
/// UNAUTHENTICATED when no valid token came with the request.
pub fn require_user<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Identity, Error> {
    // What depends on who asks is never shared by the gateway's cache.
    crate::cache::mark_private(ctx);
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

/// A service's assertions for its calls to other contexts: a fresh one per call, for
/// the subgraph called.
pub struct ServiceSigner {
    signer: AssertionSigner,
    identity: Identity,
}

impl ServiceSigner {
    pub fn new(signer: AssertionSigner, service: &str) -> Self {
        Self {
            signer,
            identity: service_identity(service),
        }
    }

    /// Signs with the configured service key (`IDENTITY_SERVICE_PRIVATE_KEY_FILE`).
    ///
    /// # Errors
    /// When no service key is configured.
    pub fn configured(service: &str) -> anyhow::Result<Self> {
        let pem = keys()
            .service_private_pem
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("IDENTITY_SERVICE_PRIVATE_KEY_FILE is not set"))?;
        Ok(Self::new(AssertionSigner::service(pem)?, service))
    }

    /// An assertion for a call to the subgraph `subgraph`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn token_for(&self, subgraph: &str) -> anyhow::Result<String> {
        self.signer.sign(&self.identity, None, subgraph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::identity::tokens::{DEVELOPMENT_GATEWAY_PRIVATE_KEY, DEVELOPMENT_SERVICE_PRIVATE_KEY};

    fn identity(role: Role) -> Identity {
        Identity {
            user_id: uuid::Uuid::now_v7(),
            role,
        }
    }

    fn verifier() -> AssertionVerifier {
        AssertionVerifier::new(
            Some(DEVELOPMENT_GATEWAY_PUBLIC_KEY.as_bytes()),
            Some(DEVELOPMENT_SERVICE_PUBLIC_KEY.as_bytes()),
        )
        .unwrap()
    }

    fn gateway() -> AssertionSigner {
        AssertionSigner::gateway(DEVELOPMENT_GATEWAY_PRIVATE_KEY.as_bytes()).unwrap()
    }

    #[test]
    fn an_assertion_is_good_for_its_subgraph_only() {
        let admin = identity(Role::Admin);
        let token = gateway().sign(&admin, None, "orders").unwrap();
        assert_eq!(verifier().verify(&token, "orders"), Caller::User(admin));
        match verifier().verify(&token, "payments") {
            Caller::Rejected(reason) => assert!(reason.contains("udience"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn assertions_carry_a_jti_and_live_a_minute_at_most() {
        let token = gateway().sign(&identity(Role::Customer), None, "cart").unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[assertion_audience("cart")]);
        let claims = jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_ed_pem(DEVELOPMENT_GATEWAY_PUBLIC_KEY.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims.exp - claims.iat, ASSERTION_TTL_SECONDS);
        let other = jsonwebtoken::decode::<Claims>(
            &gateway().sign(&identity(Role::Customer), None, "cart").unwrap(),
            &DecodingKey::from_ed_pem(DEVELOPMENT_GATEWAY_PUBLIC_KEY.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert!(claims.jti.is_some() && claims.jti != other.jti);

        // One signed with a longer life is refused, even with a valid signature.
        let long = Claims {
            exp: claims.iat + 3600,
            ..claims
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(GATEWAY_ISSUER.into());
        let forged = jsonwebtoken::encode(
            &header,
            &long,
            &EncodingKey::from_ed_pem(DEVELOPMENT_GATEWAY_PRIVATE_KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(matches!(verifier().verify(&forged, "cart"), Caller::Rejected(_)));
    }

    #[test]
    fn a_service_key_can_only_assert_service() {
        let service = ServiceSigner::new(
            AssertionSigner::service(DEVELOPMENT_SERVICE_PRIVATE_KEY.as_bytes()).unwrap(),
            "checkout",
        );
        let token = service.token_for("inventory").unwrap();
        assert_eq!(
            verifier().verify(&token, "inventory"),
            Caller::User(service_identity("checkout"))
        );
        assert_ne!(service_identity("checkout").user_id, service_identity("orders").user_id);
        // The service key signing an ADMIN: refused.
        let admin = AssertionSigner::service(DEVELOPMENT_SERVICE_PRIVATE_KEY.as_bytes())
            .unwrap()
            .sign(&identity(Role::Admin), None, "inventory")
            .unwrap();
        match verifier().verify(&admin, "inventory") {
            Caller::Rejected(reason) => assert!(reason.contains("only say SERVICE"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // The service key passing itself off as the gateway's: the signature fails.
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(GATEWAY_ISSUER.into());
        let now = now_secs();
        let claims = Claims {
            sub: uuid::Uuid::now_v7().to_string(),
            role: "ADMIN".into(),
            client: None,
            scope: String::new(),
            iss: GATEWAY_ISSUER.into(),
            aud: assertion_audience("inventory"),
            iat: now,
            exp: now + 30,
            jti: Some("x".into()),
        };
        let posing = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_pem(DEVELOPMENT_SERVICE_PRIVATE_KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(matches!(verifier().verify(&posing, "inventory"), Caller::Rejected(_)));
    }

    #[test]
    fn subgraphs_accept_assertions_not_access_tokens() {
        let verifier = verifier();
        assert_eq!(verifier.caller(&HeaderMap::new(), "orders"), Caller::Anonymous);
        let (access, _) = TokenIssuer::hs256(b"secret", Duration::from_secs(60))
            .issue(&identity(Role::Admin))
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(IDENTITY_HEADER, access.parse().unwrap());
        assert!(matches!(verifier.caller(&headers, "orders"), Caller::Rejected(_)));
        // Sent as a bearer token, it is not even looked at.
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", format!("Bearer {access}").parse().unwrap());
        assert_eq!(verifier.caller(&bearer, "orders"), Caller::Anonymous);
    }

    #[test]
    fn an_access_token_verifies_to_its_identity_and_a_wrong_or_expired_one_does_not() {
        let issuer = TokenIssuer::hs256(b"secret", Duration::from_secs(60));
        let (token, ttl) = issuer.issue(&identity(Role::Admin)).unwrap();
        assert_eq!(ttl, 60);
        assert!(matches!(
            TokenVerifier::hs256(b"secret").verify(&token),
            Caller::User(Identity { role: Role::Admin, .. })
        ));
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
            jti: None,
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        match TokenVerifier::hs256(b"secret").verify(&expired) {
            Caller::Rejected(reason) => assert!(reason.contains("xpired"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    fn production(env: &[(&str, &str)]) -> Common {
        let mut vars: Vec<(String, String)> = vec![("GATEWAY_ENV".into(), "production".into())];
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        crate::config::Config::load_from(&[], None, vars).unwrap().common
    }

    #[test]
    fn production_names_every_missing_key_and_refuses_a_short_secret() {
        let err = KeyMaterial::load(
            &production(&[]),
            &[KeyUse::VerifiesAssertions, KeyUse::SignsServiceCalls],
        )
        .unwrap_err()
        .to_string();
        for variable in [
            "IDENTITY_GATEWAY_PUBLIC_KEY_FILE",
            "IDENTITY_SERVICE_PUBLIC_KEY_FILE",
            "IDENTITY_SERVICE_PRIVATE_KEY_FILE",
        ] {
            assert!(err.contains(variable), "{err}");
        }
        let err = KeyMaterial::load(&production(&[("JWT_SECRET", "short")]), &[KeyUse::SignsAccessTokens])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 32"), "{err}");

        // The development keys, which anyone can read, are refused by content.
        let dir = std::env::temp_dir().join(format!("keys-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (gateway, service) = (dir.join("gateway.pem"), dir.join("service.pem"));
        std::fs::write(&gateway, DEVELOPMENT_GATEWAY_PUBLIC_KEY).unwrap();
        std::fs::write(&service, DEVELOPMENT_SERVICE_PUBLIC_KEY).unwrap();
        let err = KeyMaterial::load(
            &production(&[
                ("IDENTITY_GATEWAY_PUBLIC_KEY_FILE", gateway.to_str().unwrap()),
                ("IDENTITY_SERVICE_PUBLIC_KEY_FILE", service.to_str().unwrap()),
                ("JWT_SECRET", DEVELOPMENT_JWT_SECRET),
            ]),
            &[KeyUse::VerifiesAssertions],
        )
        .unwrap_err()
        .to_string();
        for variable in [
            "IDENTITY_GATEWAY_PUBLIC_KEY_FILE",
            "IDENTITY_SERVICE_PUBLIC_KEY_FILE",
            "JWT_SECRET",
        ] {
            assert!(err.contains(variable), "{err}");
        }
        // A public key where a private one belongs does not parse, and says so.
        let err = KeyMaterial::load(
            &production(&[("IDENTITY_SERVICE_PRIVATE_KEY_FILE", service.to_str().unwrap())]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("IDENTITY_SERVICE_PRIVATE_KEY_FILE"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn development_falls_back_to_the_development_keys() {
        let common = crate::config::Config::load_from(&[], None, Vec::new()).unwrap().common;
        let material = KeyMaterial::load(&common, &[KeyUse::Gateway, KeyUse::SignsServiceCalls]).unwrap();
        assert!(!material.production);
        assert_eq!(material.jwt_secret.as_deref(), Some(DEVELOPMENT_JWT_SECRET));
        assert!(material.gateway_private_pem.is_some() && material.service_public_pem.is_some());
    }
}
