//! What keeps sign-in from being guessed at or used to exhaust the service:
//!
//! - failed sign-ins are counted per e-mail and per client address; past the limit
//!   the e-mail (or address) is locked until the window ends, whatever password comes
//!   next, and the answer says when to try again (RATE_LIMITED, `retryAfter`). A
//!   success clears the e-mail's count. Registering an e-mail that is taken counts as
//!   a failure of the address, so registration cannot list the shop's customers
//!   faster than sign-in can;
//! - argon2 runs for at most `concurrent_password_hashes` requests at once (each takes
//!   about 19 MiB and tens of milliseconds); the rest wait, and give up after
//!   [`HASHING_WAIT`] with RATE_LIMITED rather than pile up.
//!
//! Counts are kept in Redis when `RATE_LIMIT_REDIS_URL` is set (every replica shares
//! them), in memory otherwise (`kernel_infra::throttle`).

use std::future::Future;
use std::time::Duration;

use kernel_infra::throttle::{Throttle, Throttled};
use tokio::sync::Semaphore;

use crate::AccountsSettings;
use crate::accounts::AccountsError;

/// How long a request waits for its turn to hash before it is refused.
pub const HASHING_WAIT: Duration = Duration::from_secs(5);

pub struct SignInGuard {
    per_account: Throttle,
    per_address: Throttle,
    hashing: Semaphore,
}

impl SignInGuard {
    pub fn new(settings: &AccountsSettings) -> Self {
        let window = Duration::from_secs(settings.failed_login_window_seconds);
        Self {
            per_account: Throttle::new("login-account", settings.failed_logins_per_account, window),
            per_address: Throttle::new("login-address", settings.failed_logins_per_address, window),
            hashing: Semaphore::new(settings.concurrent_password_hashes.max(1)),
        }
    }

    /// The key an e-mail's failures are counted under: as typed, trimmed and lower
    /// case, whether or not such an account exists (so a lockout says nothing).
    pub fn account_key(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// Refuses a locked e-mail or address.
    ///
    /// # Errors
    /// `Throttled` with the time left.
    pub async fn check(&self, account: &str, address: Option<&str>) -> Result<(), AccountsError> {
        self.per_account
            .check(account)
            .await
            .map_err(AccountsError::Throttled)?;
        self.check_address(address).await
    }

    /// Refuses a locked address.
    ///
    /// # Errors
    /// `Throttled` with the time left.
    pub async fn check_address(&self, address: Option<&str>) -> Result<(), AccountsError> {
        if let Some(address) = address {
            self.per_address
                .check(address)
                .await
                .map_err(AccountsError::Throttled)?;
        }
        Ok(())
    }

    /// Counts a failure against the e-mail (when given) and the address.
    pub async fn failed(&self, account: Option<&str>, address: Option<&str>) {
        if let Some(account) = account {
            let _ = self.per_account.hit(account).await;
        }
        if let Some(address) = address {
            let _ = self.per_address.hit(address).await;
        }
    }

    /// A success clears the e-mail's failures.
    pub async fn succeeded(&self, account: &str) {
        self.per_account.clear(account).await;
    }

    /// Runs `work` (a hash or a verification) when a hashing slot is free.
    ///
    /// # Errors
    /// `Throttled` when no slot freed up within [`HASHING_WAIT`].
    pub async fn hashing<T>(&self, work: impl Future<Output = T>) -> Result<T, AccountsError> {
        let permit = tokio::time::timeout(HASHING_WAIT, self.hashing.acquire())
            .await
            .map_err(|_| {
                tracing::warn!("every password hashing slot stayed busy; a sign-in was turned away");
                AccountsError::Throttled(Throttled {
                    retry_after: Duration::from_secs(1),
                })
            })?
            .map_err(|err| AccountsError::Unknown(err.into()))?;
        let done = work.await;
        drop(permit);
        Ok(done)
    }
}
