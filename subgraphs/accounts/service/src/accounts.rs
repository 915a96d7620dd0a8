//! Accounts' use cases: registration and sign-in (address books: `address_book`).

use std::sync::Arc;

use accounts_domain::{AccountError, DisplayName, Email, PartnerName, Password, Role, User};
use chrono::Utc;
use kernel::{Classify, ErrorKind, EventMeta, Identity};
use kernel_infra::identity::TokenIssuer;
use sea_orm::{DatabaseConnection, DbErr, SqlErr, TransactionTrait};

use crate::sign_in::SignInGuard;
use crate::{password, repository};

pub const PRODUCER: &str = "accounts";

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    /// Deliberately vague: it does not tell whether the e-mail exists.
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// Too many failed attempts: nothing is checked until the window ends.
    #[error("too many failed attempts")]
    Throttled(kernel_infra::throttle::Throttled),
    #[error("`{0}` is not a partner this shop issues tokens for")]
    UnknownPartner(String),
    /// The caller has no account (a service or partner identity).
    #[error("no account belongs to this caller")]
    UnknownUser,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for AccountsError {
    fn from(err: DbErr) -> Self {
        AccountsError::Unknown(err.into())
    }
}

impl Classify for AccountsError {
    fn kind(&self) -> ErrorKind {
        match self {
            AccountsError::Account(err) => err.kind(),
            AccountsError::EmailTaken => ErrorKind::Conflict,
            AccountsError::InvalidCredentials => ErrorKind::Unauthenticated,
            // The GraphQL edge answers RATE_LIMITED with the time left (`throttled`).
            AccountsError::Throttled(_) => ErrorKind::Forbidden,
            AccountsError::UnknownPartner(_) => ErrorKind::BadUserInput,
            AccountsError::UnknownUser => ErrorKind::NotFound,
            AccountsError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// A signed access token.
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

/// A new account's details, already validated.
pub struct Registration {
    pub email: Email,
    pub display_name: DisplayName,
    pub password: Password,
    pub role: Role,
}

#[derive(Clone)]
pub struct Accounts {
    db: DatabaseConnection,
    issuer: Arc<TokenIssuer>,
    guard: Arc<SignInGuard>,
    /// The partners tokens may be issued for.
    partners: Arc<Vec<PartnerName>>,
}

impl Accounts {
    pub fn new(
        db: DatabaseConnection,
        issuer: Arc<TokenIssuer>,
        guard: SignInGuard,
        partners: Vec<PartnerName>,
    ) -> Self {
        Self {
            db,
            issuer,
            guard: Arc::new(guard),
            partners: Arc::new(partners),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates an account and signs its user in.
    ///
    /// # Errors
    /// An e-mail already registered, or a database failure.
    pub async fn register(
        &self,
        registration: Registration,
        meta: &EventMeta,
        address: Option<&str>,
    ) -> Result<(User, AccessToken), AccountsError> {
        // A taken e-mail says that it exists: asked too often from one address, the
        // address must wait, as after failed sign-ins.
        self.guard.check_address(address).await?;
        let hash = self.guard.hashing(password::hash(registration.password)).await??;
        let (user, event) = User::register(
            registration.email,
            registration.display_name,
            hash,
            registration.role,
            Utc::now(),
        );
        let txn = self.db.begin().await?;
        if let Err(err) = repository::insert(&txn, &user).await {
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => {
                    self.guard.failed(None, address).await;
                    AccountsError::EmailTaken
                }
                _ => err.into(),
            });
        }
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        let token = self.token_for(&user)?;
        Ok((user, token))
    }

    /// Signs a user in from the client `address` (when the gateway says it).
    ///
    /// # Errors
    /// INVALID_CREDENTIALS for an unknown e-mail or a wrong password alike; `Throttled`
    /// after too many failures for the e-mail or from the address, whatever the
    /// password (nothing is checked then).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        address: Option<&str>,
    ) -> Result<(User, AccessToken), AccountsError> {
        let account = SignInGuard::account_key(email);
        self.guard.check(&account, address).await?;
        let user = match Email::parse(email) {
            Ok(email) => repository::find_by_email(&self.db, &email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map(|u| u.state().password_hash.clone());
        if !self
            .guard
            .hashing(password::verify(password.to_owned(), hash))
            .await??
        {
            self.guard.failed(Some(&account), address).await;
            return Err(AccountsError::InvalidCredentials);
        }
        self.guard.succeeded(&account).await;
        let user = user.ok_or(AccountsError::InvalidCredentials)?;
        let token = self.token_for(&user)?;
        Ok((user, token))
    }

    /// A token for a partner application: role PARTNER, the `client` claim naming the
    /// partner (the gateway runs only that partner's manifest for it), and a stable
    /// subject per partner. The caller must be an ADMIN (checked by the resolver).
    ///
    /// # Errors
    /// BAD_USER_INPUT for a name that is not one of the configured partners (never a
    /// first-party client such as `web`).
    pub fn partner_token(&self, partner: &str) -> Result<AccessToken, AccountsError> {
        let partner = PartnerName::parse(partner)?;
        if !self.partners.contains(&partner) {
            return Err(AccountsError::UnknownPartner(partner.as_str().to_owned()));
        }
        let identity = Identity {
            user_id: kernel_infra::identity::service_identity(&format!("partner:{}", partner.as_str())).user_id,
            role: Role::Partner,
        };
        let (token, expires_in) = self.issuer.issue_for_client(&identity, Some(partner.as_str()))?;
        Ok(AccessToken { token, expires_in })
    }

    fn token_for(&self, user: &User) -> Result<AccessToken, AccountsError> {
        let identity = Identity {
            user_id: user.state().id.as_uuid(),
            role: user.state().role,
        };
        let (token, expires_in) = self.issuer.issue(&identity)?;
        Ok(AccessToken { token, expires_in })
    }
}
