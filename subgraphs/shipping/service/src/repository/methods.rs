//! The shipping methods' SQL. The zones and rates of a method are stored with it as
//! JSON.

use chrono::Utc;
use kernel::Currency;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use shipping_domain::{
    DeliveryWindow, MethodName, RateBand, ShippingMethod, ShippingMethodId, ShippingMethodState, Zone,
};

use crate::entity::method;

/// The methods, by name; the inactive ones too with `all`.
pub(crate) async fn all(conn: &impl ConnectionTrait, all: bool) -> anyhow::Result<Vec<ShippingMethod>> {
    let mut query = method::Entity::find().order_by_asc(method::Column::Name);
    if !all {
        query = query.filter(method::Column::Active.eq(true));
    }
    query.all(conn).await?.into_iter().map(to_domain).collect()
}

pub(crate) async fn find(conn: &impl ConnectionTrait, id: ShippingMethodId) -> anyhow::Result<Option<ShippingMethod>> {
    method::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(to_domain)
        .transpose()
}

pub(crate) async fn insert(conn: &impl ConnectionTrait, method: &ShippingMethod) -> anyhow::Result<()> {
    method::Entity::insert(to_row(method)?)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Writes what a method is, keeping its creation time and whether it is offered.
/// False when there is no method with its id.
pub(crate) async fn replace(conn: &impl ConnectionTrait, method: &ShippingMethod) -> anyhow::Result<bool> {
    let mut row = to_row(method)?;
    row.created_at = sea_orm::ActiveValue::NotSet;
    row.active = sea_orm::ActiveValue::NotSet;
    let updated = method::Entity::update_many()
        .set(row)
        .filter(method::Column::Id.eq(method.state().id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Writes whether the method is offered, that column alone. False when there is no
/// method with that id.
pub(crate) async fn set_active(conn: &impl ConnectionTrait, id: ShippingMethodId, active: bool) -> Result<bool, DbErr> {
    let updated = method::Entity::update_many()
        .col_expr(method::Column::Active, Expr::value(active))
        .col_expr(method::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(method::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected > 0)
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
