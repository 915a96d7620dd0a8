//! Coupons' SQL: coupons and their redemptions.

use chrono::{DateTime, Utc};
use coupons_domain::{
    Coupon, CouponCode, CouponId, CouponRules, Discount, Redemption, RedemptionId, RedemptionStatus, StoredCoupon,
    StoredRedemption,
};
use kernel::{Currency, Money};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::coupons::CouponsError;
use crate::entity::{coupon, redemption};

/// Inserts a new coupon.
pub(crate) async fn insert(conn: &impl ConnectionTrait, coupon: &Coupon, now: DateTime<Utc>) -> Result<(), DbErr> {
    coupon::Entity::insert(to_row(coupon, now))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The coupon with `code`, locked for the transaction on PostgreSQL when `lock`.
pub(crate) async fn by_code(
    conn: &impl ConnectionTrait,
    code: &CouponCode,
    lock: bool,
) -> Result<Option<Coupon>, CouponsError> {
    let mut query = coupon::Entity::find().filter(coupon::Column::Code.eq(code.as_str()));
    if lock && kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    query.one(conn).await?.map(from_row).transpose()
}

/// Writes how many uses the coupon has given.
pub(crate) async fn save_uses(conn: &impl ConnectionTrait, coupon: &Coupon, now: DateTime<Utc>) -> Result<(), DbErr> {
    coupon::Entity::update_many()
        .col_expr(
            coupon::Column::Uses,
            Expr::value(i32::try_from(coupon.uses()).unwrap_or(i32::MAX)),
        )
        .col_expr(coupon::Column::UpdatedAt, Expr::value(now))
        .filter(coupon::Column::Id.eq(coupon.id().as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// The redemption `id`.
pub(crate) async fn redemption(
    conn: &impl ConnectionTrait,
    id: RedemptionId,
) -> Result<Option<Redemption>, CouponsError> {
    let Some(row) = redemption::Entity::find_by_id(id.as_uuid()).one(conn).await? else {
        return Ok(None);
    };
    let currency = currency(&row.currency)?;
    Ok(Some(
        StoredRedemption {
            id,
            coupon_id: CouponId::from_uuid(row.coupon_id),
            code: CouponCode::parse(&row.code)?,
            user_id: row.user_id,
            order_amount: Money::new(row.order_amount, currency),
            discount: Money::new(row.discount_amount, currency),
            status: RedemptionStatus::parse(&row.status)
                .ok_or_else(|| anyhow::anyhow!("unknown redemption status {}", row.status))?,
            created_at: row.created_at,
        }
        .into(),
    ))
}

/// Inserts a new redemption.
pub(crate) async fn insert_redemption(conn: &impl ConnectionTrait, r: &Redemption) -> Result<(), DbErr> {
    redemption::Entity::insert(redemption::ActiveModel {
        id: Set(r.id().as_uuid()),
        coupon_id: Set(r.coupon_id().as_uuid()),
        code: Set(r.code().as_str().to_owned()),
        user_id: Set(r.user_id()),
        order_amount: Set(r.order_amount().amount()),
        discount_amount: Set(r.discount().amount()),
        currency: Set(r.order_amount().currency().code().to_owned()),
        status: Set(r.status().as_str().to_owned()),
        created_at: Set(r.created_at()),
        updated_at: Set(r.created_at()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Writes a redemption's status.
pub(crate) async fn save_status(conn: &impl ConnectionTrait, r: &Redemption, now: DateTime<Utc>) -> Result<(), DbErr> {
    redemption::Entity::update_many()
        .col_expr(redemption::Column::Status, Expr::value(r.status().as_str()))
        .col_expr(redemption::Column::UpdatedAt, Expr::value(now))
        .filter(redemption::Column::Id.eq(r.id().as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// How many live redemptions (reserved or committed) `user_id` holds of the coupon.
pub(crate) async fn live_uses_of(
    conn: &impl ConnectionTrait,
    coupon: CouponId,
    user_id: uuid::Uuid,
) -> Result<u32, DbErr> {
    let live = [RedemptionStatus::Reserved, RedemptionStatus::Committed].map(RedemptionStatus::as_str);
    let count = redemption::Entity::find()
        .filter(redemption::Column::CouponId.eq(coupon.as_uuid()))
        .filter(redemption::Column::UserId.eq(user_id))
        .filter(redemption::Column::Status.is_in(live))
        .count(conn)
        .await?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// How many redemptions of `code` have `status`.
pub(crate) async fn count_redemptions(
    conn: &impl ConnectionTrait,
    code: &CouponCode,
    status: RedemptionStatus,
) -> Result<u64, DbErr> {
    redemption::Entity::find()
        .filter(redemption::Column::Code.eq(code.as_str()))
        .filter(redemption::Column::Status.eq(status.as_str()))
        .count(conn)
        .await
}

fn currency(code: &str) -> Result<Currency, CouponsError> {
    Currency::parse(code).map_err(|err| CouponsError::Unknown(anyhow::anyhow!("stored currency: {err}")))
}

fn to_row(coupon: &Coupon, now: DateTime<Utc>) -> coupon::ActiveModel {
    let discount = coupon.discount();
    let (kind, fixed) = match discount.fixed_amount() {
        Some(amount) => ("FIXED_AMOUNT", Some(amount)),
        None => ("PERCENTAGE", None),
    };
    let basis_points = discount.basis_points().map(|bp| i32::try_from(bp).unwrap_or(0));
    let currency = coupon.currency();
    let limit = |n: Option<u32>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    coupon::ActiveModel {
        id: Set(coupon.id().as_uuid()),
        code: Set(coupon.code().as_str().to_owned()),
        kind: Set(kind.to_owned()),
        basis_points: Set(basis_points),
        fixed_amount: Set(fixed.map(|m| m.amount())),
        currency: Set(currency.map(|c| c.code().to_owned())),
        minimum_order_amount: Set(coupon.rules().minimum_order.map(|m| m.amount())),
        valid_from: Set(coupon.rules().valid_from),
        valid_until: Set(coupon.rules().valid_until),
        max_uses: Set(limit(coupon.rules().max_uses)),
        max_uses_per_user: Set(limit(coupon.rules().max_uses_per_user)),
        uses: Set(i32::try_from(coupon.uses()).unwrap_or(i32::MAX)),
        active: Set(coupon.active()),
        created_at: Set(coupon.created_at()),
        updated_at: Set(now),
    }
}

fn from_row(row: coupon::Model) -> Result<Coupon, CouponsError> {
    let currency = row.currency.as_deref().map(currency).transpose()?;
    let discount = match (row.kind.as_str(), row.basis_points, row.fixed_amount, currency) {
        ("PERCENTAGE", Some(bp), _, _) => u32::try_from(bp).ok().and_then(|bp| Discount::percentage(bp).ok()),
        ("FIXED_AMOUNT", _, Some(amount), Some(currency)) => Discount::fixed(Money::new(amount, currency)).ok(),
        _ => None,
    }
    .ok_or_else(|| anyhow::anyhow!("coupon {} has an inconsistent discount", row.code))?;
    let minimum_order = match (row.minimum_order_amount, currency) {
        (Some(amount), Some(currency)) => Some(Money::new(amount, currency)),
        _ => None,
    };
    let limit = |n: Option<i32>| n.map(|n| u32::try_from(n).unwrap_or(0));
    Ok(StoredCoupon {
        id: CouponId::from_uuid(row.id),
        code: CouponCode::parse(&row.code)?,
        discount,
        rules: CouponRules {
            minimum_order,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            max_uses: limit(row.max_uses),
            max_uses_per_user: limit(row.max_uses_per_user),
        },
        uses: u32::try_from(row.uses).unwrap_or(0),
        active: row.active,
        created_at: row.created_at,
    }
    .into())
}
