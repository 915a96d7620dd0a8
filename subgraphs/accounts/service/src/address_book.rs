//! Accounts' use cases for address books: read one, change one.

use accounts_domain::{AccountError, AddressBook, UserId};
use sea_orm::TransactionTrait;

use crate::accounts::{Accounts, AccountsError};
use crate::repository;

impl Accounts {
    /// The address book of `owner`.
    ///
    /// # Errors
    /// `UnknownUser` when there is no such user; a database failure.
    pub async fn address_book(&self, owner: UserId) -> Result<AddressBook, AccountsError> {
        repository::address_book(self.db(), owner, false)
            .await?
            .ok_or(AccountsError::UnknownUser)
    }

    /// Applies `change` to the address book of `owner` and stores the result, in one
    /// transaction with the user's row locked: nothing is written when `change` refuses.
    ///
    /// # Errors
    /// What `change` refuses; `UnknownUser`; a database failure.
    pub async fn change_address_book<T>(
        &self,
        owner: UserId,
        change: impl FnOnce(&mut AddressBook) -> Result<T, AccountError>,
    ) -> Result<(AddressBook, T), AccountsError> {
        let txn = self.db().begin().await?;
        let mut book = repository::address_book(&txn, owner, true)
            .await?
            .ok_or(AccountsError::UnknownUser)?;
        let outcome = change(&mut book)?;
        repository::save_address_book(&txn, &book).await?;
        txn.commit().await?;
        Ok((book, outcome))
    }
}
