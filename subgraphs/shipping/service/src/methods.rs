//! Shipping methods: staff define them, customers and Checkout get quotes. The zones
//! and rates of a method are stored with it as JSON.

use chrono::Utc;
use kernel::{Classify, CountryCode, Currency, ErrorKind, Money};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use shipping_domain::{
    DeliveryWindow, MethodError, MethodName, Quote, RateBand, ShippingMethod, ShippingMethodId, ShippingMethodState,
    Zone,
};

use crate::entity::method;
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

/// A zone as stored.
#[derive(Serialize, Deserialize)]
struct StoredZone {
    name: String,
    countries: Vec<String>,
    rates: Vec<StoredRate>,
}

#[derive(Serialize, Deserialize)]
struct StoredRate {
    below: Option<i64>,
    price: i64,
}

fn to_domain(row: method::Model) -> anyhow::Result<ShippingMethod> {
    let stored: Vec<StoredZone> = serde_json::from_str(&row.zones)?;
    let zones = stored
        .into_iter()
        .map(|zone| {
            let bands: Vec<RateBand> = zone
                .rates
                .iter()
                .map(|rate| RateBand {
                    below: rate.below,
                    price: rate.price,
                })
                .collect();
            Ok(Zone::from_codes(&zone.name, &zone.countries, &bands)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ShippingMethod::new(ShippingMethodState {
        id: ShippingMethodId::from_uuid(row.id),
        name: MethodName::parse("name", &row.name)?,
        carrier: MethodName::parse("carrier", &row.carrier)?,
        currency: Currency::parse(&row.currency)?,
        zones,
        free_from: row.free_from,
        delivery: DeliveryWindow::new(row.min_days.into(), row.max_days.into())?,
        active: row.active,
    })?)
}

fn to_row(method: &ShippingMethod) -> anyhow::Result<method::ActiveModel> {
    let state = method.state();
    let zones: Vec<StoredZone> = state
        .zones
        .iter()
        .map(|zone| StoredZone {
            name: zone.name().to_owned(),
            countries: zone.countries().map(|code| code.as_str().to_owned()).collect(),
            rates: zone
                .bands()
                .iter()
                .map(|band| StoredRate {
                    below: band.below,
                    price: band.price,
                })
                .collect(),
        })
        .collect();
    let now = Utc::now();
    Ok(method::ActiveModel {
        id: Set(state.id.as_uuid()),
        name: Set(state.name.as_str().to_owned()),
        carrier: Set(state.carrier.as_str().to_owned()),
        currency: Set(state.currency.code().to_owned()),
        zones: Set(serde_json::to_string(&zones)?),
        free_from: Set(state.free_from),
        min_days: Set(state.delivery.min_days().into()),
        max_days: Set(state.delivery.max_days().into()),
        active: Set(state.active),
        created_at: Set(now),
        updated_at: Set(now),
    })
}

impl Shipping {
    /// The shop's shipping methods, by name; the inactive ones too with `all`.
    ///
    /// # Errors
    /// When the database fails or holds a method that no longer checks.
    pub async fn methods(&self, all: bool) -> anyhow::Result<Vec<ShippingMethod>> {
        let mut query = method::Entity::find().order_by_asc(method::Column::Name);
        if !all {
            query = query.filter(method::Column::Active.eq(true));
        }
        query.all(self.db()).await?.into_iter().map(to_domain).collect()
    }

    /// One method, active or not.
    ///
    /// # Errors
    /// As [`Self::methods`].
    pub async fn method(&self, id: ShippingMethodId) -> anyhow::Result<Option<ShippingMethod>> {
        method::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Saves a new method.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn create_method(&self, method: ShippingMethod) -> Result<ShippingMethod, MethodsError> {
        method::Entity::insert(to_row(&method)?)
            .exec_without_returning(self.db())
            .await?;
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
        let mut row = to_row(&method)?;
        row.created_at = sea_orm::ActiveValue::NotSet;
        row.active = sea_orm::ActiveValue::NotSet;
        let updated = method::Entity::update_many()
            .set(row)
            .filter(method::Column::Id.eq(id.as_uuid()))
            .exec(self.db())
            .await?;
        if updated.rows_affected == 0 {
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
        let updated = method::Entity::update_many()
            .col_expr(method::Column::Active, sea_orm::sea_query::Expr::value(active))
            .col_expr(
                method::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(chrono::Utc::now()),
            )
            .filter(method::Column::Id.eq(id.as_uuid()))
            .exec(self.db())
            .await?;
        if updated.rows_affected == 0 {
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
