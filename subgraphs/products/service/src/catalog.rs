//! The catalog's use cases. Each loads the aggregate, lets the domain decide, and
//! saves the new state with its events in one transaction (the outbox).
//!
//! They live here rather than in the domain crate because the transaction that binds
//! the aggregate row to its outbox row is the adapter's business; a unit-of-work port
//! in the domain would be a trait with a single implementation.

use chrono::Utc;
use kernel::{Classify, ErrorKind, EventMeta, Money};
use products_domain::{FlashSaleId, NewProduct, Product, ProductError, ProductEvent, ProductId, ProductUpdate};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, TransactionTrait};

use crate::repository;

/// The name this context signs its events with.
pub const PRODUCER: &str = "products";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Product(#[from] ProductError),
    #[error("product {0} does not exist")]
    NotFound(ProductId),
    #[error("SKU {0} already belongs to another product")]
    SkuTaken(String),
    #[error("the product was changed by another request; reload and retry")]
    ConcurrentChange,
    #[error("flash sale {0} does not exist")]
    SaleNotFound(FlashSaleId),
    #[error("the product is on a flash sale; end the sale before changing its price")]
    FlashSaleRunning,
    #[error("the product already has a flash sale scheduled or running")]
    FlashSaleOpen,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for CatalogError {
    fn from(err: DbErr) -> Self {
        CatalogError::Unknown(err.into())
    }
}

impl Classify for CatalogError {
    fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::Product(err) => err.kind(),
            CatalogError::NotFound(_) | CatalogError::SaleNotFound(_) => ErrorKind::NotFound,
            CatalogError::SkuTaken(_)
            | CatalogError::ConcurrentChange
            | CatalogError::FlashSaleRunning
            | CatalogError::FlashSaleOpen => ErrorKind::Conflict,
            CatalogError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

/// The catalog's commands over one database.
#[derive(Clone)]
pub struct Catalog {
    db: DatabaseConnection,
}

impl Catalog {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Adds a product in DRAFT and announces it.
    ///
    /// # Errors
    /// Domain refusals, a SKU another product has, or a database failure.
    #[tracing::instrument(skip_all, fields(product.name = command.name.as_str()))]
    pub async fn create_product(&self, command: NewProduct, meta: &EventMeta) -> Result<Product, CatalogError> {
        let (product, event) = Product::create(command, Utc::now())?;
        let txn = self.db.begin().await?;
        let skus: Vec<_> = product.state().variants.iter().map(|v| &v.sku).collect();
        if let Some(taken) = repository::taken_skus(&txn, &skus).await?.into_iter().next() {
            return Err(CatalogError::SkuTaken(taken));
        }
        if let Err(err) = repository::insert(&txn, &product).await {
            // Another request took a SKU between the check and the insert.
            return Err(match err.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => CatalogError::SkuTaken(skus[0].as_str().to_owned()),
                _ => err.into(),
            });
        }
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        Ok(product)
    }

    /// # Errors
    /// NOT_FOUND, an empty update, a concurrent change.
    pub async fn update_product(
        &self,
        id: ProductId,
        update: ProductUpdate,
        meta: &EventMeta,
    ) -> Result<Product, CatalogError> {
        self.change(id, meta, |product| product.update(update, Utc::now()).map(Some))
            .await
    }

    /// # Errors
    /// NOT_FOUND, already published, a concurrent change.
    pub async fn publish(&self, id: ProductId, meta: &EventMeta) -> Result<Product, CatalogError> {
        self.change(id, meta, |product| product.publish(Utc::now()).map(Some))
            .await
    }

    /// # Errors
    /// NOT_FOUND, not published, a concurrent change.
    pub async fn unpublish(&self, id: ProductId, meta: &EventMeta) -> Result<Product, CatalogError> {
        self.change(id, meta, |product| product.unpublish(Utc::now()).map(Some))
            .await
    }

    /// Sets a new current price and records the old one's period as closed.
    ///
    /// # Errors
    /// NOT_FOUND, another currency, a negative price, a flash sale running, a
    /// concurrent change.
    pub async fn change_price(&self, id: ProductId, price: Money, meta: &EventMeta) -> Result<Product, CatalogError> {
        if crate::flash_sales::running_sale_of(&self.db, id).await?.is_some() {
            return Err(CatalogError::FlashSaleRunning);
        }
        // A sale that starts after this check bumps the product's version, so this
        // change then fails as a concurrent one.
        self.change(id, meta, |product| product.change_price(price, Utc::now()))
            .await
    }

    /// Loads, applies `decide`, and saves state, price period and event together.
    async fn change(
        &self,
        id: ProductId,
        meta: &EventMeta,
        decide: impl FnOnce(&mut Product) -> Result<Option<ProductEvent>, ProductError>,
    ) -> Result<Product, CatalogError> {
        let txn = self.db.begin().await?;
        let mut product = repository::find(&txn, id).await?.ok_or(CatalogError::NotFound(id))?;
        let loaded_version = product.state().version;
        let Some(event) = decide(&mut product)? else {
            return Ok(product);
        };
        save(&txn, &product, loaded_version, std::slice::from_ref(&event)).await?;
        kernel_infra::outbox::record(&txn, PRODUCER, meta, &[event]).await?;
        txn.commit().await?;
        Ok(product)
    }
}

/// Saves a changed product (if nobody changed it since `loaded_version`) and the
/// price period its events open.
pub(crate) async fn save(
    txn: &DatabaseTransaction,
    product: &Product,
    loaded_version: i64,
    events: &[ProductEvent],
) -> Result<(), CatalogError> {
    if !repository::update(txn, product, loaded_version).await? {
        return Err(CatalogError::ConcurrentChange);
    }
    for event in events {
        if let ProductEvent::PriceChanged {
            new_price, valid_from, ..
        } = event
        {
            repository::replace_price(txn, product.id(), *new_price, *valid_from).await?;
        }
    }
    Ok(())
}
