//! Password hashing with argon2id (PHC strings). Hashing is deliberately slow, so it
//! runs on the blocking pool, never on the async workers.

use accounts_domain::{Password, PasswordHash};
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash as PhcHash};

/// Hashes a new password.
///
/// # Errors
/// When hashing fails (it does not with valid parameters) or the task is cancelled.
pub async fn hash(password: Password) -> anyhow::Result<PasswordHash> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|err| anyhow::anyhow!("hashing a password: {err}"))?;
        Ok(PasswordHash::new(phc.to_string()))
    })
    .await?
}

/// Whether `candidate` matches `hash`. With no hash (an unknown e-mail), a dummy hash
/// is checked instead, so the answer takes as long either way.
///
/// # Errors
/// When the task is cancelled.
pub async fn verify(candidate: String, hash: Option<PasswordHash>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let phc = hash.map_or_else(|| dummy_hash().to_owned(), |h| h.as_str().to_owned());
        let matches = PhcHash::new(&phc)
            .map(|parsed| Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        Ok(known && matches)
    })
    .await?
}

/// An argon2id hash of a random password, made once, for timing-equal failures.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(uuid::Uuid::now_v7().to_string().as_bytes(), &salt)
            .map(|phc| phc.to_string())
            .unwrap_or_default()
    })
}
