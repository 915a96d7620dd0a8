//! Tax rates' use cases and storage: staff set and remove rates and say whether a
//! country's prices include tax; Checkout asks which rates apply at a shipping address.
//! The rule of which rate applies is the domain's ([`products_domain::tax`]).

use chrono::Utc;
use kernel::{CountryCode, TaxCategory, TaxRate};
use products_domain::{RatesAtPlace, Region, TaxRateEntry};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::catalog::CatalogError;
use crate::entity::{tax_market, tax_rate};

/// The tax rates of one catalog database.
#[derive(Clone)]
pub struct TaxRates {
    db: DatabaseConnection,
}

/// The region column of a rate: '' for the whole country.
fn region_key(region: Option<&Region>) -> String {
    region.map(|r| r.as_str().to_owned()).unwrap_or_default()
}

fn entry(row: tax_rate::Model) -> anyhow::Result<TaxRateEntry> {
    let region = (!row.region.is_empty())
        .then(|| Region::parse(&row.region))
        .transpose()?;
    Ok(TaxRateEntry::new(
        CountryCode::parse(&row.country)?,
        region,
        TaxCategory::parse(&row.category)?,
        TaxRate::from_millionths(u32::try_from(row.rate_millionths)?)?,
    )?)
}

impl TaxRates {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Sets (or replaces) the rate of `entry`'s place and category.
    ///
    /// # Errors
    /// A database failure.
    pub async fn set(&self, entry: &TaxRateEntry) -> Result<(), CatalogError> {
        let row = tax_rate::ActiveModel {
            country: Set(entry.country.as_str().to_owned()),
            region: Set(region_key(entry.region.as_ref())),
            category: Set(entry.category.as_str().to_owned()),
            rate_millionths: Set(i32::try_from(entry.rate.millionths()).map_err(anyhow::Error::from)?),
            updated_at: Set(Utc::now()),
        };
        tax_rate::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    tax_rate::Column::Country,
                    tax_rate::Column::Region,
                    tax_rate::Column::Category,
                ])
                .update_columns([tax_rate::Column::RateMillionths, tax_rate::Column::UpdatedAt])
                .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Removes a rate; false when there was none.
    ///
    /// # Errors
    /// A database failure.
    pub async fn remove(
        &self,
        country: CountryCode,
        region: Option<&Region>,
        category: TaxCategory,
    ) -> Result<bool, CatalogError> {
        let deleted = tax_rate::Entity::delete_many()
            .filter(tax_rate::Column::Country.eq(country.as_str()))
            .filter(tax_rate::Column::Region.eq(region_key(region)))
            .filter(tax_rate::Column::Category.eq(category.as_str()))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Says whether prices in `country` include tax.
    ///
    /// # Errors
    /// A database failure.
    pub async fn set_prices_include_tax(&self, country: CountryCode, included: bool) -> Result<(), CatalogError> {
        let row = tax_market::ActiveModel {
            country: Set(country.as_str().to_owned()),
            prices_include_tax: Set(included),
            updated_at: Set(Utc::now()),
        };
        tax_market::Entity::insert(row)
            .on_conflict(
                OnConflict::column(tax_market::Column::Country)
                    .update_columns([tax_market::Column::PricesIncludeTax, tax_market::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Whether prices in `country` include tax: no, unless staff said so.
    ///
    /// # Errors
    /// A database failure.
    pub async fn prices_include_tax(&self, country: CountryCode) -> Result<bool, CatalogError> {
        Ok(tax_market::Entity::find_by_id(country.as_str().to_owned())
            .one(&self.db)
            .await?
            .is_some_and(|market| market.prices_include_tax))
    }

    /// Every rate, or one country's, by country, region and category.
    ///
    /// # Errors
    /// A database failure or a row that no longer parses.
    pub async fn list(&self, country: Option<CountryCode>) -> Result<Vec<TaxRateEntry>, CatalogError> {
        let mut query = tax_rate::Entity::find();
        if let Some(country) = country {
            query = query.filter(tax_rate::Column::Country.eq(country.as_str()));
        }
        let rows = query
            .order_by_asc(tax_rate::Column::Country)
            .order_by_asc(tax_rate::Column::Region)
            .order_by_asc(tax_rate::Column::Category)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(entry).collect::<anyhow::Result<_>>()?)
    }

    /// The rates that apply in `region` of `country`.
    ///
    /// # Errors
    /// A database failure.
    pub async fn at_place(&self, country: CountryCode, region: Option<&Region>) -> Result<RatesAtPlace, CatalogError> {
        let entries = self.list(Some(country)).await?;
        let included = self.prices_include_tax(country).await?;
        Ok(RatesAtPlace::of(&entries, country, region, included))
    }
}
