//! Flash sales' use cases and storage: scheduling, ending early, and the job that
//! starts sales when they are due and ends them when they are over. Each start or end
//! changes the product's price and records the sale's events in one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kernel::{Currency, EventMeta, Money};
use kernel_infra::CancellationToken;
use products_domain::{FlashSale, FlashSaleId, FlashSaleStatus, ProductId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
};

use crate::catalog::{CatalogError, PRODUCER, save};
use crate::entity::flash_sale;
use crate::repository;

/// How many due sales one pass of the job handles.
const BATCH: u64 = 100;

/// The flash sales of one catalog database.
#[derive(Clone)]
pub struct FlashSales {
    db: DatabaseConnection,
}

impl FlashSales {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Schedules a sale of `product_id`; one whose start has come starts at once.
    ///
    /// # Errors
    /// NOT_FOUND, the domain's refusals, another sale of the product scheduled or running.
    pub async fn schedule(
        &self,
        product_id: ProductId,
        price: Money,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        meta: &EventMeta,
    ) -> Result<FlashSale, CatalogError> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut product = repository::find(&txn, product_id)
            .await?
            .ok_or(CatalogError::NotFound(product_id))?;
        if open_sale_of(&txn, product_id).await?.is_some() {
            return Err(CatalogError::FlashSaleOpen);
        }
        let mut sale = FlashSale::schedule(&product, price, starts_at, ends_at, now)?;
        if let Err(err) = insert(&txn, &sale).await {
            // Another request opened a sale of the product at the same moment.
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => CatalogError::FlashSaleOpen,
                _ => err.into(),
            });
        }
        if sale.is_due(now) {
            let loaded_version = product.state().version;
            let events = sale.start(&mut product, now)?;
            save(&txn, &product, loaded_version, &events).await?;
            update(&txn, &sale, FlashSaleStatus::Scheduled).await?;
            kernel_infra::outbox::record(&txn, PRODUCER, meta, &events).await?;
        }
        txn.commit().await?;
        Ok(sale)
    }

    /// Ends a sale now: a running one gives the product its price back, a scheduled one
    /// is canceled.
    ///
    /// # Errors
    /// NOT_FOUND, a sale already over, a concurrent change.
    pub async fn end(&self, id: FlashSaleId, meta: &EventMeta) -> Result<FlashSale, CatalogError> {
        self.end_at(id, Utc::now(), meta).await
    }

    async fn end_at(&self, id: FlashSaleId, now: DateTime<Utc>, meta: &EventMeta) -> Result<FlashSale, CatalogError> {
        let txn = self.db.begin().await?;
        let mut sale = find(&txn, id).await?.ok_or(CatalogError::SaleNotFound(id))?;
        let mut product = repository::find(&txn, sale.product_id)
            .await?
            .ok_or(CatalogError::NotFound(sale.product_id))?;
        let (was, loaded_version) = (sale.status, product.state().version);
        let events = sale.end(&mut product, now)?;
        if was == FlashSaleStatus::Active {
            save(&txn, &product, loaded_version, &events).await?;
        }
        update(&txn, &sale, was).await?;
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &events).await?;
        txn.commit().await?;
        Ok(sale)
    }

    async fn start_due(&self, id: FlashSaleId, now: DateTime<Utc>) -> Result<(), CatalogError> {
        let txn = self.db.begin().await?;
        let Some(mut sale) = find(&txn, id).await?.filter(|sale| sale.is_due(now)) else {
            return Ok(()); // another replica was first
        };
        let mut product = repository::find(&txn, sale.product_id)
            .await?
            .ok_or(CatalogError::NotFound(sale.product_id))?;
        let loaded_version = product.state().version;
        let events = match sale.start(&mut product, now) {
            Ok(events) => events,
            Err(refused) => {
                // The product was unpublished or repriced below the sale since it was
                // scheduled: the sale is canceled rather than retried forever.
                tracing::warn!(sale = %id, reason = %refused, "a due flash sale cannot start; canceling it");
                let events = sale.end(&mut product, now)?;
                update(&txn, &sale, FlashSaleStatus::Scheduled).await?;
                kernel_infra::outbox::record(&txn, PRODUCER, &EventMeta::internal(), &events).await?;
                txn.commit().await?;
                return Ok(());
            }
        };
        save(&txn, &product, loaded_version, &events).await?;
        update(&txn, &sale, FlashSaleStatus::Scheduled).await?;
        kernel_infra::outbox::record(&txn, PRODUCER, &EventMeta::internal(), &events).await?;
        txn.commit().await?;
        Ok(())
    }

    /// One pass of the job: starts the sales that are due and ends those that are
    /// over. Returns how many it moved.
    ///
    /// # Errors
    /// When the database fails; a sale that another replica moved first is skipped.
    pub async fn advance(&self) -> Result<usize, CatalogError> {
        let now = Utc::now();
        let mut moved = 0;
        for sale in due(&self.db, FlashSaleStatus::Scheduled, flash_sale::Column::StartsAt, now).await? {
            match self.start_due(sale.id, now).await {
                Ok(()) => moved += 1,
                Err(CatalogError::ConcurrentChange) => {}
                Err(err) => return Err(err),
            }
        }
        for sale in due(&self.db, FlashSaleStatus::Active, flash_sale::Column::EndsAt, now).await? {
            match self.end_at(sale.id, sale.ends_at, &EventMeta::internal()).await {
                Ok(_) => moved += 1,
                Err(CatalogError::ConcurrentChange | CatalogError::Product(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(moved)
    }

    /// Runs [`advance`](Self::advance) every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.advance().await {
                tracing::error!(error = %err, "flash sale job failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The sales scheduled or running of `products`, in one query.
///
/// # Errors
/// When the database fails.
pub async fn open_sales_of(conn: &impl ConnectionTrait, products: &[ProductId]) -> anyhow::Result<Vec<FlashSale>> {
    flash_sale::Entity::find()
        .filter(flash_sale::Column::ProductId.is_in(products.iter().map(ProductId::as_uuid)))
        .filter(flash_sale::Column::Status.is_in(FlashSaleStatus::OPEN.map(FlashSaleStatus::as_str)))
        .all(conn)
        .await?
        .into_iter()
        .map(restore)
        .collect()
}

/// The product's running sale, if any.
pub(crate) async fn running_sale_of(
    conn: &impl ConnectionTrait,
    product_id: ProductId,
) -> anyhow::Result<Option<FlashSale>> {
    Ok(open_sale_of(conn, product_id)
        .await?
        .filter(|sale| sale.status == FlashSaleStatus::Active))
}

async fn open_sale_of(conn: &impl ConnectionTrait, product_id: ProductId) -> anyhow::Result<Option<FlashSale>> {
    Ok(open_sales_of(conn, &[product_id]).await?.into_iter().next())
}

async fn find(conn: &impl ConnectionTrait, id: FlashSaleId) -> anyhow::Result<Option<FlashSale>> {
    let row = flash_sale::Entity::find_by_id(id.as_uuid()).one(conn).await?;
    row.map(restore).transpose()
}

/// Sales in `status` whose `at` column has passed, oldest first.
async fn due(
    conn: &impl ConnectionTrait,
    status: FlashSaleStatus,
    at: flash_sale::Column,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<FlashSale>> {
    flash_sale::Entity::find()
        .filter(flash_sale::Column::Status.eq(status.as_str()))
        .filter(at.lte(now))
        .order_by_asc(at)
        .limit(BATCH)
        .all(conn)
        .await?
        .into_iter()
        .map(restore)
        .collect()
}

async fn insert(conn: &impl ConnectionTrait, sale: &FlashSale) -> Result<(), DbErr> {
    flash_sale::Entity::insert(flash_sale::ActiveModel {
        id: Set(sale.id.as_uuid()),
        product_id: Set(sale.product_id.as_uuid()),
        price_amount: Set(sale.price.amount()),
        price_currency: Set(sale.price.currency().code().to_owned()),
        regular_price_amount: Set(sale.regular_price.as_ref().map(Money::amount)),
        starts_at: Set(sale.starts_at),
        ends_at: Set(sale.ends_at),
        status: Set(sale.status.as_str().to_owned()),
        ended_at: Set(sale.ended_at),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Saves a sale's new state if it still has the status `was` it was loaded with.
async fn update(conn: &impl ConnectionTrait, sale: &FlashSale, was: FlashSaleStatus) -> Result<(), CatalogError> {
    let result = flash_sale::Entity::update_many()
        .col_expr(flash_sale::Column::Status, Expr::value(sale.status.as_str()))
        .col_expr(
            flash_sale::Column::RegularPriceAmount,
            Expr::value(sale.regular_price.as_ref().map(Money::amount)),
        )
        .col_expr(flash_sale::Column::EndedAt, Expr::value(sale.ended_at))
        .filter(flash_sale::Column::Id.eq(sale.id.as_uuid()))
        .filter(flash_sale::Column::Status.eq(was.as_str()))
        .exec(conn)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(CatalogError::ConcurrentChange)
    }
}

fn restore(row: flash_sale::Model) -> anyhow::Result<FlashSale> {
    let currency = Currency::parse(&row.price_currency)?;
    Ok(FlashSale {
        id: FlashSaleId::from_uuid(row.id),
        product_id: ProductId::from_uuid(row.product_id),
        price: Money::new(row.price_amount, currency),
        regular_price: row.regular_price_amount.map(|amount| Money::new(amount, currency)),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        status: FlashSaleStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("unknown flash sale status {}", row.status))?,
        ended_at: row.ended_at,
    })
}
