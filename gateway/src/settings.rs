//! What the gateway process is configured with beside its router configuration: the
//! keys and the shared stores, from the platform's one typed configuration (its `jwt`,
//! `identity`, `apq`, `rate_limit`, `response_cache` and `trusted_documents`
//! sections). `platform gateway` loads and checks them, then installs them here before
//! the router starts; the plugins read them at their initialisation.

use std::path::PathBuf;
use std::sync::OnceLock;

use kernel::identity::tokens::{DEVELOPMENT_GATEWAY_PRIVATE_KEY, DEVELOPMENT_JWT_SECRET};

#[derive(Clone, Default)]
pub struct Settings {
    /// `GATEWAY_ENV=production`.
    pub production: bool,
    /// Access tokens are verified with one of these: an HS256 secret, an RS256 public
    /// key (PEM), or the keys of a JWKS URL (the plugin's `jwks_file` is a fourth).
    pub jwt_secret: Option<String>,
    pub jwt_public_pem: Option<Vec<u8>>,
    pub jwks_url: Option<String>,
    /// The Ed25519 private key (PEM) identity assertions are signed with.
    pub assertion_private_pem: Option<Vec<u8>>,
    pub apq_redis_url: Option<String>,
    pub rate_limit_redis_url: Option<String>,
    pub response_cache_redis_url: Option<String>,
    pub trusted_documents_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("production", &self.production)
            .field("apq_redis_url", &self.apq_redis_url.is_some())
            .field("rate_limit_redis_url", &self.rate_limit_redis_url.is_some())
            .field("response_cache_redis_url", &self.response_cache_redis_url.is_some())
            .field("trusted_documents_dir", &self.trusted_documents_dir)
            .finish_non_exhaustive()
    }
}

static INSTALLED: OnceLock<Settings> = OnceLock::new();

/// Keeps `settings` for the process's life (the first call wins).
pub fn install(settings: Settings) {
    let _ = INSTALLED.set(settings);
}

/// The installed settings; without any (the gateway library in a test), the
/// development keys, unless `GATEWAY_ENV` says production.
///
/// # Errors
/// In production when nothing was installed.
pub fn current() -> anyhow::Result<Settings> {
    if let Some(settings) = INSTALLED.get() {
        return Ok(settings.clone());
    }
    if std::env::var("GATEWAY_ENV").is_ok_and(|mode| mode.eq_ignore_ascii_case("production")) {
        anyhow::bail!("GATEWAY_ENV=production: the gateway's keys were not loaded (start it with `platform gateway`)");
    }
    Ok(Settings {
        production: false,
        jwt_secret: Some(DEVELOPMENT_JWT_SECRET.to_owned()),
        assertion_private_pem: Some(DEVELOPMENT_GATEWAY_PRIVATE_KEY.as_bytes().to_vec()),
        ..Settings::default()
    })
}
