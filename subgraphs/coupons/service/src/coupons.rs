//! Coupons' use cases and their persistence. Each command is one transaction with its
//! outbox rows; a redemption locks its coupon row, so limits hold under concurrency.

use chrono::{DateTime, Utc};
use coupons_domain::{
    Closed, Coupon, CouponCode, CouponError, CouponEvent, CouponId, CouponRules, Discount, Redemption, RedemptionId,
    RedemptionStatus, StoredCoupon, StoredRedemption,
};
use kernel::{Classify, Currency, ErrorKind, EventMeta, Money};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, TransactionTrait,
};

use crate::entity::{coupon, redemption};

pub const PRODUCER: &str = "coupons";

#[derive(Debug, thiserror::Error)]
pub enum CouponsError {
    #[error(transparent)]
    Coupon(#[from] CouponError),
    #[error("redemption {0} does not exist")]
    RedemptionNotFound(RedemptionId),
    #[error("redemption {0} already exists for another order")]
    RedemptionIdTaken(RedemptionId),
    #[error("coupon code {0} is taken")]
    CodeTaken(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for CouponsError {
    fn from(err: DbErr) -> Self {
        CouponsError::Unknown(err.into())
    }
}

impl Classify for CouponsError {
    fn kind(&self) -> ErrorKind {
        match self {
            CouponsError::Coupon(err) => err.kind(),
            CouponsError::RedemptionNotFound(_) => ErrorKind::NotFound,
            CouponsError::RedemptionIdTaken(_) | CouponsError::CodeTaken(_) => ErrorKind::Conflict,
            CouponsError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// Coupons' commands over one database.
#[derive(Clone)]
pub struct Coupons {
    db: DatabaseConnection,
}

impl Coupons {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// # Errors
    /// Invalid rules, a code already in use.
    pub async fn create(
        &self,
        code: CouponCode,
        discount: Discount,
        rules: CouponRules,
        meta: &EventMeta,
    ) -> Result<Coupon, CouponsError> {
        let now = Utc::now();
        let coupon = Coupon::create(code, discount, rules, now)?;
        let txn = self.db.begin().await?;
        if by_code(&txn, coupon.code(), false).await?.is_some() {
            return Err(CouponsError::CodeTaken(coupon.code().as_str().to_owned()));
        }
        coupon::Entity::insert(to_row(&coupon, now))
            .exec_without_returning(&txn)
            .await?;
        let event = CouponEvent::Created {
            coupon_id: coupon.id(),
            code: coupon.code().as_str().to_owned(),
        };
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        Ok(coupon)
    }

    /// The coupon with `code`, if any.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find(&self, code: &CouponCode) -> Result<Option<Coupon>, CouponsError> {
        by_code(&self.db, code, false).await
    }

    /// Reserves one use of `code` for `user_id`'s order of `order`. Sending the same
    /// id again returns the first redemption, so a retrying saga cannot use twice.
    ///
    /// # Errors
    /// An unknown coupon, a broken rule, the id already used for another coupon.
    pub async fn reserve(
        &self,
        id: RedemptionId,
        code: &CouponCode,
        user_id: uuid::Uuid,
        order: Money,
        meta: &EventMeta,
    ) -> Result<Redemption, CouponsError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut coupon = by_code(&txn, code, true)
            .await?
            .ok_or_else(|| CouponError::NotFound(code.as_str().to_owned()))?;
        if let Some(existing) = find_redemption(&txn, id).await? {
            return if existing.coupon_id() == coupon.id()
                && existing.user_id() == user_id
                && existing.order_amount() == order
            {
                Ok(existing)
            } else {
                Err(CouponsError::RedemptionIdTaken(id))
            };
        }
        let user_uses = redemption::Entity::find()
            .filter(redemption::Column::CouponId.eq(coupon.id().as_uuid()))
            .filter(redemption::Column::UserId.eq(user_id))
            .filter(
                redemption::Column::Status
                    .is_in([RedemptionStatus::Reserved, RedemptionStatus::Committed].map(RedemptionStatus::as_str)),
            )
            .count(&txn)
            .await?;
        let redemption = coupon.redeem(id, user_id, order, u32::try_from(user_uses).unwrap_or(u32::MAX), now)?;
        save_uses(&txn, &coupon, now).await?;
        redemption::Entity::insert(redemption::ActiveModel {
            id: Set(redemption.id().as_uuid()),
            coupon_id: Set(coupon.id().as_uuid()),
            code: Set(coupon.code().as_str().to_owned()),
            user_id: Set(user_id),
            order_amount: Set(order.amount()),
            discount_amount: Set(redemption.discount().amount()),
            currency: Set(order.currency().code().to_owned()),
            status: Set(redemption.status().as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        kernel_infra::outbox::record(
            &txn,
            PRODUCER,
            meta,
            &[CouponEvent::RedemptionReserved(redemption.clone())],
        )
        .await?;
        txn.commit().await?;
        Ok(redemption)
    }

    /// The order was paid: the redemption stays for good. Repeating it changes nothing.
    ///
    /// # Errors
    /// An unknown or released redemption.
    pub async fn commit(&self, id: RedemptionId, meta: &EventMeta) -> Result<Redemption, CouponsError> {
        self.close(id, Closing::Commit, meta).await
    }

    /// The checkout failed: the use goes back to the coupon. Repeating it changes
    /// nothing.
    ///
    /// # Errors
    /// An unknown or committed redemption.
    pub async fn release(&self, id: RedemptionId, meta: &EventMeta) -> Result<Redemption, CouponsError> {
        self.close(id, Closing::Release, meta).await
    }

    /// The paid order was canceled: a committed redemption gives its use back.
    /// Repeating it changes nothing.
    ///
    /// # Errors
    /// An unknown redemption, or one that was never committed.
    pub async fn give_back(&self, id: RedemptionId, meta: &EventMeta) -> Result<Redemption, CouponsError> {
        self.close(id, Closing::GiveBack, meta).await
    }

    async fn close(&self, id: RedemptionId, closing: Closing, meta: &EventMeta) -> Result<Redemption, CouponsError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let found = find_redemption(&txn, id)
            .await?
            .ok_or(CouponsError::RedemptionNotFound(id))?;
        // Lock the coupon first (the order every command takes), then re-read.
        let mut coupon = by_code(&txn, found.code(), true)
            .await?
            .ok_or_else(|| CouponsError::Unknown(anyhow::anyhow!("redemption {id} without its coupon")))?;
        let mut redemption = find_redemption(&txn, id)
            .await?
            .ok_or(CouponsError::RedemptionNotFound(id))?;
        let closed = match closing {
            Closing::Commit => redemption.commit()?,
            Closing::Release => redemption.release()?,
            Closing::GiveBack => redemption.give_back_after_cancellation()?,
        };
        if closed == Closed::Already {
            return Ok(redemption);
        }
        redemption::Entity::update_many()
            .col_expr(redemption::Column::Status, Expr::value(redemption.status().as_str()))
            .col_expr(redemption::Column::UpdatedAt, Expr::value(now))
            .filter(redemption::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await?;
        if closing != Closing::Commit {
            coupon.give_back();
            save_uses(&txn, &coupon, now).await?;
        }
        let event = match closing {
            Closing::Commit => CouponEvent::RedemptionCommitted(redemption.clone()),
            Closing::Release => CouponEvent::RedemptionReleased(redemption.clone()),
            Closing::GiveBack => CouponEvent::RedemptionReturned(redemption.clone()),
        };
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        Ok(redemption)
    }

    /// A redemption by id.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn redemption(&self, id: RedemptionId) -> Result<Option<Redemption>, CouponsError> {
        find_redemption(&self.db, id).await
    }

    /// Counts redemptions of a coupon by status (for operators and tests).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count_redemptions(&self, code: &CouponCode, status: RedemptionStatus) -> Result<u64, CouponsError> {
        Ok(redemption::Entity::find()
            .filter(redemption::Column::Code.eq(code.as_str()))
            .filter(redemption::Column::Status.eq(status.as_str()))
            .count(&self.db)
            .await?)
    }
}

/// How a redemption closes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    Commit,
    Release,
    GiveBack,
}

async fn by_code(conn: &impl ConnectionTrait, code: &CouponCode, lock: bool) -> Result<Option<Coupon>, CouponsError> {
    let mut query = coupon::Entity::find().filter(coupon::Column::Code.eq(code.as_str()));
    if lock && kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    query.one(conn).await?.map(from_row).transpose()
}

async fn save_uses(conn: &impl ConnectionTrait, coupon: &Coupon, now: DateTime<Utc>) -> Result<(), DbErr> {
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

async fn find_redemption(conn: &impl ConnectionTrait, id: RedemptionId) -> Result<Option<Redemption>, CouponsError> {
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
