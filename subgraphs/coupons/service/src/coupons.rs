//! Coupons' use cases (their SQL is in [`crate::repository`]). Each command is one transaction with its
//! outbox rows; a redemption locks its coupon row, so limits hold under concurrency.

use chrono::Utc;
use coupons_domain::{
    Closed, Coupon, CouponCode, CouponError, CouponEvent, CouponRules, Discount, Redemption, RedemptionId,
    RedemptionStatus,
};
use kernel::{Classify, ErrorKind, EventMeta, Money};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};

use crate::repository;

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
        if repository::by_code(&txn, coupon.code(), false).await?.is_some() {
            return Err(CouponsError::CodeTaken(coupon.code().as_str().to_owned()));
        }
        repository::insert(&txn, &coupon, now).await?;
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
        repository::by_code(&self.db, code, false).await
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
        let mut coupon = repository::by_code(&txn, code, true)
            .await?
            .ok_or_else(|| CouponError::NotFound(code.as_str().to_owned()))?;
        if let Some(existing) = repository::redemption(&txn, id).await? {
            return if existing.coupon_id() == coupon.id()
                && existing.user_id() == user_id
                && existing.order_amount() == order
            {
                Ok(existing)
            } else {
                Err(CouponsError::RedemptionIdTaken(id))
            };
        }
        let user_uses = repository::live_uses_of(&txn, coupon.id(), user_id).await?;
        let redemption = coupon.redeem(id, user_id, order, user_uses, now)?;
        repository::save_uses(&txn, &coupon, now).await?;
        repository::insert_redemption(&txn, &redemption).await?;
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
        let found = repository::redemption(&txn, id)
            .await?
            .ok_or(CouponsError::RedemptionNotFound(id))?;
        // Lock the coupon first (the order every command takes), then re-read.
        let mut coupon = repository::by_code(&txn, found.code(), true)
            .await?
            .ok_or_else(|| CouponsError::Unknown(anyhow::anyhow!("redemption {id} without its coupon")))?;
        let mut redemption = repository::redemption(&txn, id)
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
        repository::save_status(&txn, &redemption, now).await?;
        if closing != Closing::Commit {
            coupon.give_back();
            repository::save_uses(&txn, &coupon, now).await?;
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
        repository::redemption(&self.db, id).await
    }

    /// Counts redemptions of a coupon by status (for operators and tests).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn count_redemptions(&self, code: &CouponCode, status: RedemptionStatus) -> Result<u64, CouponsError> {
        Ok(repository::count_redemptions(&self.db, code, status).await?)
    }
}

/// How a redemption closes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    Commit,
    Release,
    GiveBack,
}
