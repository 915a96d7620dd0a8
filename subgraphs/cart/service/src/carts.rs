//! Cart's use cases and its consumers.
//!
//! - `product.created` and `product.price_changed` keep the local price table current
//!   (no synchronous call to Products);
//! - `checkout.session.completed` closes the cart that was checked out;
//! - a job expires carts left idle.

use std::time::Duration;

use async_trait::async_trait;
use cart_domain::{
    Cart, CartError, CartEvent, CartEventKind, CartId, CartLine, CartOwner, CartStatus, KnownPrice, LineQuantity,
    SessionToken, StoredCart,
};
use chrono::Utc;
use kernel::{Classify, Currency, ErrorKind, EventEnvelope, EventMeta, Money, Sku};
use kernel_infra::CancellationToken;
use kernel_infra::bus::Subscription;
use kernel_infra::inbox::{ApplyEvent, InboxConsumer};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Deserialize;

use crate::entity::{cart, line, price};

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
        active_in(&self.db, owner, false).await
    }

    /// # Errors
    /// When the database fails.
    pub async fn get(&self, id: CartId) -> Result<Option<Cart>, CartsError> {
        let Some(row) = cart::Entity::find_by_id(id.as_uuid()).one(&self.db).await? else {
            return Ok(None);
        };
        Ok(Some(load(&self.db, row).await?))
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
            let (mut cart, is_new) = match active_in(&txn, owner, true).await? {
                Some(cart) => (cart, false),
                None if create => (Cart::new(owner.clone(), now), true),
                None => return Err(CartsError::NoActiveCart),
            };
            apply(&mut cart, now)?;
            if is_new {
                let inserted = cart::Entity::insert(to_row(&cart)).exec_without_returning(&txn).await;
                if inserted.is_err() && attempt == 0 {
                    continue;
                }
                inserted?;
            } else {
                touch(&txn, &cart).await?;
            }
            save_lines(&txn, &cart).await?;
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
        let rows = price::Entity::find()
            .filter(price::Column::Sku.is_in(skus.iter().map(Sku::as_str)))
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(KnownPrice {
                    price: Money::new(row.amount, currency(&row.currency)?),
                    sku: Sku::parse(&row.sku).map_err(|e| anyhow::anyhow!("stored price of {}: {e}", row.sku))?,
                    product_id: row.product_id,
                    name: row.name,
                })
            })
            .collect()
    }

    /// Expires active carts idle for longer than `idle`. Returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn expire_idle(&self, idle: chrono::Duration) -> Result<usize, CartsError> {
        let due: Vec<uuid::Uuid> = cart::Entity::find()
            .select_only()
            .column(cart::Column::Id)
            .filter(cart::Column::Status.eq(CartStatus::Active.as_str()))
            .filter(cart::Column::UpdatedAt.lt(Utc::now() - idle))
            .limit(500)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut expired = 0;
        for id in due {
            let txn = self.db.begin().await?;
            if close(&txn, CartId::from_uuid(id), CartStatus::Expired, &EventMeta::internal()).await? {
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
    let mut query = cart::Entity::find_by_id(id.as_uuid());
    if kernel_infra::db::is_postgres(txn) {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(txn).await? else {
        return Ok(false);
    };
    let mut cart = load(txn, row).await?;
    let now = Utc::now();
    let (closed, kind) = match to {
        CartStatus::Expired => (cart.expire(now), CartEventKind::Expired),
        _ => (cart.check_out(now), CartEventKind::CheckedOut),
    };
    if closed.is_err() {
        return Ok(false);
    }
    touch(txn, &cart).await?;
    kernel_infra::outbox::record(txn, PRODUCER, meta, &[CartEvent::of(kind, &cart)]).await?;
    Ok(true)
}

async fn active_in(conn: &impl ConnectionTrait, owner: &CartOwner, lock: bool) -> Result<Option<Cart>, CartsError> {
    let mut query = cart::Entity::find().filter(cart::Column::Status.eq(CartStatus::Active.as_str()));
    query = match owner {
        CartOwner::User(id) => query.filter(cart::Column::UserId.eq(*id)),
        CartOwner::Session(token) => query.filter(cart::Column::SessionId.eq(token.as_str())),
    };
    if lock && kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    match query.one(conn).await? {
        Some(row) => Ok(Some(load(conn, row).await?)),
        None => Ok(None),
    }
}

async fn load(conn: &impl ConnectionTrait, row: cart::Model) -> Result<Cart, CartsError> {
    let lines = line::Entity::find()
        .filter(line::Column::CartId.eq(row.id))
        .order_by_asc(line::Column::Position)
        .all(conn)
        .await?;
    let stored = |what: String| CartsError::Unknown(anyhow::anyhow!("cart {}: {what}", row.id));
    let owner = match (row.user_id, row.session_id) {
        (Some(user), _) => CartOwner::User(user),
        (None, Some(session)) => CartOwner::Session(SessionToken::parse(&session).map_err(|e| stored(e.to_string()))?),
        (None, None) => return Err(stored("no owner".into())),
    };
    let lines = lines
        .into_iter()
        .map(|l| {
            let sku = Sku::parse(&l.sku).map_err(|e| stored(e.to_string()))?;
            let quantity = LineQuantity::new(l.quantity).map_err(|e| stored(e.to_string()))?;
            Ok(CartLine::new(sku, l.product_id, quantity))
        })
        .collect::<Result<_, CartsError>>()?;
    Ok(StoredCart {
        id: CartId::from_uuid(row.id),
        owner,
        status: CartStatus::parse(&row.status).ok_or_else(|| stored(format!("unknown status {}", row.status)))?,
        lines,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
    .into())
}

fn to_row(cart: &Cart) -> cart::ActiveModel {
    let (user_id, session_id) = match cart.owner() {
        CartOwner::User(id) => (Some(*id), None),
        CartOwner::Session(token) => (None, Some(token.as_str().to_owned())),
    };
    cart::ActiveModel {
        id: Set(cart.id().as_uuid()),
        user_id: Set(user_id),
        session_id: Set(session_id),
        status: Set(cart.status().as_str().to_owned()),
        created_at: Set(cart.created_at()),
        updated_at: Set(cart.updated_at()),
    }
}

async fn touch(conn: &impl ConnectionTrait, cart: &Cart) -> Result<(), DbErr> {
    cart::Entity::update_many()
        .col_expr(cart::Column::Status, Expr::value(cart.status().as_str()))
        .col_expr(cart::Column::UpdatedAt, Expr::value(cart.updated_at()))
        .filter(cart::Column::Id.eq(cart.id().as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

async fn save_lines(conn: &impl ConnectionTrait, cart: &Cart) -> Result<(), DbErr> {
    line::Entity::delete_many()
        .filter(line::Column::CartId.eq(cart.id().as_uuid()))
        .exec(conn)
        .await?;
    if cart.lines().is_empty() {
        return Ok(());
    }
    let rows = cart.lines().iter().enumerate().map(|(position, l)| line::ActiveModel {
        cart_id: Set(cart.id().as_uuid()),
        sku: Set(l.sku().as_str().to_owned()),
        product_id: Set(l.product_id()),
        quantity: Set(l.quantity().get()),
        position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
    });
    line::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}

fn currency(code: &str) -> Result<Currency, CartsError> {
    Currency::parse(code).map_err(|err| CartsError::Unknown(anyhow::anyhow!("stored currency: {err}")))
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
                    let row = price::ActiveModel {
                        sku: Set(variant.sku),
                        product_id: Set(created.product_id),
                        name: Set(format!("{} – {}", created.name, variant.name)
                            .chars()
                            .take(200)
                            .collect()),
                        amount: Set(created.price.amount()),
                        currency: Set(created.price.currency().code().to_owned()),
                        updated_at: Set(now),
                    };
                    price::Entity::insert(row)
                        .on_conflict(
                            OnConflict::column(price::Column::Sku)
                                .update_columns([
                                    price::Column::ProductId,
                                    price::Column::Name,
                                    price::Column::Amount,
                                    price::Column::Currency,
                                    price::Column::UpdatedAt,
                                ])
                                .to_owned(),
                        )
                        .exec_without_returning(txn)
                        .await?;
                }
            }
            PRICE_CHANGED => {
                let changed: PriceChanged = event.payload_as()?;
                price::Entity::update_many()
                    .col_expr(price::Column::Amount, Expr::value(changed.new_price.amount()))
                    .col_expr(
                        price::Column::Currency,
                        Expr::value(changed.new_price.currency().code().to_owned()),
                    )
                    .col_expr(price::Column::UpdatedAt, Expr::value(now))
                    .filter(price::Column::ProductId.eq(changed.product_id))
                    .exec(txn)
                    .await?;
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
