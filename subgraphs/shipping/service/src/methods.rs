//! Shipping methods: staff define them, customers and Checkout get quotes. Their SQL
//! is in [`crate::repository::methods`].

use kernel::{Classify, CountryCode, ErrorKind, Money};
use sea_orm::DbErr;
use shipping_domain::{MethodError, Quote, ShippingMethod, ShippingMethodId};

use crate::repository::methods as repository;
use crate::shipping::Shipping;

#[derive(Debug, thiserror::Error)]
pub enum MethodsError {
    #[error(transparent)]
    Method(#[from] MethodError),
    #[error("no such shipping method")]
    NotFound,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for MethodsError {
    fn from(err: DbErr) -> Self {
        Self::Unknown(err.into())
    }
}

impl Classify for MethodsError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Method(err) => err.kind(),
            Self::NotFound => ErrorKind::NotFound,
            Self::Unknown(_) => ErrorKind::Internal,
        }
    }
}

impl Shipping {
    /// The shop's shipping methods, by name; the inactive ones too with `all`.
    ///
    /// # Errors
    /// When the database fails or holds a method that no longer checks.
    pub async fn methods(&self, all: bool) -> anyhow::Result<Vec<ShippingMethod>> {
        repository::all(self.db(), all).await
    }

    /// One method, active or not.
    ///
    /// # Errors
    /// As [`Self::methods`].
    pub async fn method(&self, id: ShippingMethodId) -> anyhow::Result<Option<ShippingMethod>> {
        repository::find(self.db(), id).await
    }

    /// Saves a new method.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn create_method(&self, method: ShippingMethod) -> Result<ShippingMethod, MethodsError> {
        repository::insert(self.db(), &method).await?;
        Ok(method)
    }

    /// Replaces what a method is (name, carrier, zones, rates, window) with `method`'s
    /// (same id); it keeps its creation time and whether it is offered, which only
    /// [`Self::set_method_active`] moves, so an edit racing a pause cannot undo it.
    /// Answers the method as stored.
    ///
    /// # Errors
    /// `NotFound` when there is no method with its id.
    pub async fn replace_method(&self, method: ShippingMethod) -> Result<ShippingMethod, MethodsError> {
        let id = method.state().id;
        if !repository::replace(self.db(), &method).await? {
            return Err(MethodsError::NotFound);
        }
        self.method(id).await?.ok_or(MethodsError::NotFound)
    }

    /// Offers a method to customers, or stops offering it: that column alone, so a pause
    /// racing an edit cannot undo the edit. Answers the method as stored.
    ///
    /// # Errors
    /// `NotFound` when there is no method with that id.
    pub async fn set_method_active(&self, id: ShippingMethodId, active: bool) -> Result<ShippingMethod, MethodsError> {
        if !repository::set_active(self.db(), id, active).await? {
            return Err(MethodsError::NotFound);
        }
        self.method(id).await?.ok_or(MethodsError::NotFound)
    }

    /// Each active method that ships an order worth `order_value` to `country`, with
    /// its price, cheapest first.
    ///
    /// # Errors
    /// As [`Self::methods`].
    pub async fn quotes(
        &self,
        country: CountryCode,
        order_value: Money,
    ) -> anyhow::Result<Vec<(ShippingMethod, Quote)>> {
        let mut quotes: Vec<(ShippingMethod, Quote)> = self
            .methods(false)
            .await?
            .into_iter()
            .filter_map(|method| method.quote(country, order_value).map(|quote| (method, quote)))
            .collect();
        quotes.sort_by_key(|(method, quote)| (quote.price.amount(), method.state().delivery.max_days()));
        Ok(quotes)
    }
}
