//! Accounts' use cases: registration and sign-in.

use std::sync::Arc;

use accounts_domain::{AccountError, DisplayName, Email, PartnerName, Password, Role, User};
use chrono::Utc;
use kernel::{Classify, ErrorKind, EventMeta, Identity};
use kernel_infra::identity::TokenIssuer;
use sea_orm::{DatabaseConnection, DbErr, SqlErr, TransactionTrait};

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
}

impl Accounts {
    pub fn new(db: DatabaseConnection, issuer: Arc<TokenIssuer>) -> Self {
        Self { db, issuer }
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
    ) -> Result<(User, AccessToken), AccountsError> {
        let hash = password::hash(registration.password).await?;
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
                Some(SqlErr::UniqueConstraintViolation(_)) => AccountsError::EmailTaken,
                _ => err.into(),
            });
        }
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        let token = self.token_for(&user)?;
        Ok((user, token))
    }

    /// Signs a user in.
    ///
    /// # Errors
    /// INVALID_CREDENTIALS for an unknown e-mail or a wrong password alike.
    pub async fn login(&self, email: &str, password: &str) -> Result<(User, AccessToken), AccountsError> {
        let user = match Email::parse(email) {
            Ok(email) => repository::find_by_email(&self.db, &email).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().map(|u| u.state().password_hash.clone());
        if !password::verify(password.to_owned(), hash).await? {
            return Err(AccountsError::InvalidCredentials);
        }
        let user = user.ok_or(AccountsError::InvalidCredentials)?;
        let token = self.token_for(&user)?;
        Ok((user, token))
    }

    /// A token for a partner application: role PARTNER, the `client` claim naming the
    /// partner (the gateway runs only that partner's manifest for it), and a stable
    /// subject per partner. The caller must be an ADMIN (checked by the resolver).
    ///
    /// # Errors
    /// BAD_USER_INPUT for a name that is not a [`PartnerName`].
    pub fn partner_token(&self, partner: &str) -> Result<AccessToken, AccountsError> {
        let partner = PartnerName::parse(partner)?;
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
