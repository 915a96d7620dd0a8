//! Cart's use cases and its consumers.
//!
//! - `product.created` and `product.price_changed` keep the local price table current
//!   (no synchronous call to Products);
//! - `checkout.session.completed` closes the cart that was checked out;
//! - a job expires carts left idle.

use std::time::Duration;

use async_trait::async_trait;
use cart_domain::{Cart, CartError, CartEvent, CartEventKind, CartId, CartOwner, CartStatus, KnownPrice, LineQuantity};
use chrono::Utc;
use kernel::{Classify, ErrorKind, EventEnvelope, EventMeta, Money, Sku};
use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde::Deserialize;

use crate::repository;

pub const PRODUCER: &str = "cart";
pub const PRODUCT_CREATED: &str = "ecommerce.product.product.created.v1";
pub const PRICE_CHANGED: &str = "ecommerce.product.product.price_changed.v1";
pub const CHECKOUT_COMPLETED: &str = "ecommerce.checkout.session.completed.v1";

#[derive(Debug, thiserror::Error)]
pub enum CartsError {
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error("SKU {0} is not for sale")]
    UnknownSku(String),
    #[error("there is no active cart")]
    NoActiveCart,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<DbErr> for CartsError {
    fn from(err: DbErr) -> Self {
        CartsError::Unknown(err.into())
    }
}

impl Classify for CartsError {
    fn kind(&self) -> ErrorKind {
        match self {
            CartsError::Cart(err) => err.kind(),
            CartsError::UnknownSku(_) | CartsError::NoActiveCart => ErrorKind::NotFound,
            CartsError::Unknown(_) => ErrorKind::Internal,
        }
    }
}

#[derive(Clone)]
pub struct Carts {
    db: DatabaseConnection,
}

impl Carts {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The owner's active cart, if any.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn active(&self, owner: &CartOwner) -> Result<Option<Cart>, CartsError> {
        repository::active(&self.db, owner, false).await
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: CartId) -> Result<Option<Cart>, CartsError> {
        repository::find(&self.db, id, false).await
    }

    /// Adds units of `sku` to the owner's active cart, creating it when needed.
    ///
    /// # Errors
    /// A SKU the price table does not know, a broken cart rule.
    pub async fn add(
        &self,
        owner: &CartOwner,
        sku: &Sku,
        quantity: LineQuantity,
        meta: &EventMeta,
    ) -> Result<Cart, CartsError> {
        let known = self
            .prices(std::slice::from_ref(sku))
            .await?
            .pop()
            .ok_or_else(|| CartsError::UnknownSku(sku.as_str().to_owned()))?;
        self.change(owner, true, None, meta, |cart, now| cart.add(&known, quantity, now))
            .await
    }

    /// Sets the quantity of a line; none removes it.
    ///
    /// # Errors
    /// No active cart or no such line (NOT_FOUND), a broken cart rule.
    pub async fn set_quantity(
        &self,
        owner: &CartOwner,
        sku: &Sku,
        quantity: Option<LineQuantity>,
        meta: &EventMeta,
    ) -> Result<Cart, CartsError> {
        self.change(owner, false, None, meta, |cart, now| match quantity {
            Some(quantity) => cart.set_quantity(sku, quantity, now),
            None => cart.remove(sku, now),
        })
        .await
    }

    /// Applies `apply` to the owner's active cart (created when `create`), and closes
    /// the cart `absorbed` as checked out in the same transaction.
    async fn change(
        &self,
        owner: &CartOwner,
        create: bool,
        absorbed: Option<CartId>,
        meta: &EventMeta,
        apply: impl Fn(&mut Cart, chrono::DateTime<Utc>) -> Result<(), CartError>,
    ) -> Result<Cart, CartsError> {
        // Two first adds of one owner race to create the cart: the unique index lets one
        // win, and the other tries again and finds it.
        for attempt in 0..2 {
            let now = Utc::now();
            let txn = self.db.begin().await?;
            let (mut cart, is_new) = match repository::active(&txn, owner, true).await? {
                Some(cart) => (cart, false),
                None if create => (Cart::new(owner.clone(), now), true),
                None => return Err(CartsError::NoActiveCart),
            };
            apply(&mut cart, now)?;
            if is_new {
                let inserted = repository::insert(&txn, &cart).await;
                if inserted.is_err() && attempt == 0 {
                    continue;
                }
                inserted?;
            } else {
                repository::save(&txn, &cart).await?;
            }
            kernel_infra::outbox::record(&txn, PRODUCER, meta, &[CartEvent::of(CartEventKind::Updated, &cart)]).await?;
            if let Some(absorbed) = absorbed {
                close(&txn, absorbed, CartStatus::CheckedOut, meta).await?;
            }
            txn.commit().await?;
            return Ok(cart);
        }
        Err(CartsError::Unknown(anyhow::anyhow!(
            "the cart kept changing; try again"
        )))
    }

    /// A signed-in customer takes over the cart of their anonymous session: its lines
    /// join their own cart and the session's cart closes, in one transaction.
    ///
    /// # Errors
    /// A broken cart rule.
    pub async fn merge(&self, user_id: uuid::Uuid, session: &CartOwner, meta: &EventMeta) -> Result<Cart, CartsError> {
        let Some(guest) = self.active(session).await? else {
            return self
                .active(&CartOwner::User(user_id))
                .await?
                .map_or_else(|| Ok(Cart::new(CartOwner::User(user_id), Utc::now())), Ok);
        };
        let prices = self.prices(&guest.skus()).await?;
        let owner = CartOwner::User(user_id);
        self.change(&owner, true, Some(guest.id()), meta, |cart, now| {
            cart.absorb(&guest, &prices, now)
        })
        .await
    }

    /// The known prices of `skus`.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn prices(&self, skus: &[Sku]) -> Result<Vec<KnownPrice>, CartsError> {
        repository::prices(&self.db, skus).await
    }

    /// Expires active carts idle for longer than `idle`. Returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn expire_idle(&self, idle: chrono::Duration) -> Result<usize, CartsError> {
        let due = repository::idle_since(&self.db, Utc::now() - idle, 500).await?;
        let mut expired = 0;
        for id in due {
            let txn = self.db.begin().await?;
            if close(&txn, id, CartStatus::Expired, &EventMeta::internal()).await? {
                expired += 1;
            }
            txn.commit().await?;
        }
        Ok(expired)
    }

    /// Expires idle carts every `interval` until `shutdown`.
    pub async fn run_expiry(self, idle: chrono::Duration, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.expire_idle(idle).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "expired idle carts"),
                Err(err) => tracing::error!(error = %err, "expiring idle carts failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Closes an active cart (checked out or expired) with its event. False when it was
/// not active.
async fn close(txn: &DatabaseTransaction, id: CartId, to: CartStatus, meta: &EventMeta) -> Result<bool, CartsError> {
    let Some(mut cart) = repository::find(txn, id, true).await? else {
        return Ok(false);
    };
    let now = Utc::now();
    let (closed, kind) = match to {
        CartStatus::Expired => (cart.expire(now), CartEventKind::Expired),
        _ => (cart.check_out(now), CartEventKind::CheckedOut),
    };
    if closed.is_err() {
        return Ok(false);
    }
    repository::save_status(txn, &cart).await?;
    kernel_infra::outbox::record(txn, PRODUCER, meta, &[CartEvent::of(kind, &cart)]).await?;
    Ok(true)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductCreated {
    product_id: uuid::Uuid,
    name: String,
    price: Money,
    variants: Vec<CreatedVariant>,
}

#[derive(Deserialize)]
struct CreatedVariant {
    sku: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceChanged {
    product_id: uuid::Uuid,
    new_price: Money,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutCompleted {
    cart_id: uuid::Uuid,
}

/// Keeps the price table current and closes checked-out carts.
pub struct CartConsumer;

impl CartConsumer {
    pub const CONSUMER: &'static str = "cart.prices-and-checkouts";

    pub fn subscription(db: DatabaseConnection) -> Subscription {
        let event_types = [PRODUCT_CREATED, PRICE_CHANGED, CHECKOUT_COMPLETED]
            .map(str::to_owned)
            .to_vec();
        InboxConsumer::subscription(Self::CONSUMER, event_types, db, Self)
    }
}

#[async_trait]
impl ApplyEvent for CartConsumer {
    async fn apply(&self, txn: &DatabaseTransaction, event: &EventEnvelope) -> anyhow::Result<()> {
        let now = Utc::now();
        match event.event_type.as_str() {
            PRODUCT_CREATED => {
                let created: ProductCreated = event.payload_as()?;
                for variant in created.variants {
                    let name = format!("{} – {}", created.name, variant.name);
                    repository::set_price(txn, &variant.sku, created.product_id, name, created.price, now).await?;
                }
            }
            PRICE_CHANGED => {
                let changed: PriceChanged = event.payload_as()?;
                repository::reprice(txn, changed.product_id, changed.new_price, now).await?;
            }
            CHECKOUT_COMPLETED => {
                let completed: CheckoutCompleted = event.payload_as()?;
                close(
                    txn,
                    CartId::from_uuid(completed.cart_id),
                    CartStatus::CheckedOut,
                    &EventMeta::caused_by(event),
                )
                .await?;
            }
            other => anyhow::bail!("unexpected event type {other}"),
        }
        Ok(())
    }
}
