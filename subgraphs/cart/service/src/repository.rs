//! Cart's SQL: carts with their lines, and the price table Products' events keep.

use cart_domain::{Cart, CartId, CartLine, CartOwner, CartStatus, KnownPrice, LineQuantity, SessionToken, StoredCart};
use chrono::{DateTime, Utc};
use kernel::{Currency, Money, Sku};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::carts::CartsError;
use crate::entity::{cart, line, price};

/// The cart `id`, locked for the transaction on PostgreSQL when `lock`.
pub(crate) async fn find(conn: &impl ConnectionTrait, id: CartId, lock: bool) -> Result<Option<Cart>, CartsError> {
    let mut query = cart::Entity::find_by_id(id.as_uuid());
    if lock && kernel_infra::db::is_postgres(conn) {
        query = query.lock_exclusive();
    }
    match query.one(conn).await? {
        Some(row) => Ok(Some(load(conn, row).await?)),
        None => Ok(None),
    }
}

/// The owner's active cart, locked for the transaction on PostgreSQL when `lock`.
pub(crate) async fn active(
    conn: &impl ConnectionTrait,
    owner: &CartOwner,
    lock: bool,
) -> Result<Option<Cart>, CartsError> {
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

/// Inserts a new cart with its lines.
pub(crate) async fn insert(conn: &impl ConnectionTrait, cart: &Cart) -> Result<(), DbErr> {
    cart::Entity::insert(to_row(cart)).exec_without_returning(conn).await?;
    save_lines(conn, cart).await
}

/// Saves a cart's status, its time and its lines.
pub(crate) async fn save(conn: &impl ConnectionTrait, cart: &Cart) -> Result<(), DbErr> {
    save_status(conn, cart).await?;
    save_lines(conn, cart).await
}

/// Active carts untouched since `before`, at most `limit`.
pub(crate) async fn idle_since(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<CartId>, DbErr> {
    let ids: Vec<uuid::Uuid> = cart::Entity::find()
        .select_only()
        .column(cart::Column::Id)
        .filter(cart::Column::Status.eq(CartStatus::Active.as_str()))
        .filter(cart::Column::UpdatedAt.lt(before))
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().map(CartId::from_uuid).collect())
}

/// The known prices of `skus`.
pub(crate) async fn prices(conn: &impl ConnectionTrait, skus: &[Sku]) -> Result<Vec<KnownPrice>, CartsError> {
    let rows = price::Entity::find()
        .filter(price::Column::Sku.is_in(skus.iter().map(Sku::as_str)))
        .all(conn)
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

/// Sets the price of a SKU of `product_id` (a new product's variant), named `name`.
pub(crate) async fn set_price(
    conn: &impl ConnectionTrait,
    sku: &str,
    product_id: uuid::Uuid,
    name: String,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = price::ActiveModel {
        sku: Set(sku.to_owned()),
        product_id: Set(product_id),
        name: Set(name.chars().take(200).collect()),
        amount: Set(amount.amount()),
        currency: Set(amount.currency().code().to_owned()),
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
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Every SKU of `product_id` now costs `amount`.
pub(crate) async fn reprice(
    conn: &impl ConnectionTrait,
    product_id: uuid::Uuid,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    price::Entity::update_many()
        .col_expr(price::Column::Amount, Expr::value(amount.amount()))
        .col_expr(
            price::Column::Currency,
            Expr::value(amount.currency().code().to_owned()),
        )
        .col_expr(price::Column::UpdatedAt, Expr::value(now))
        .filter(price::Column::ProductId.eq(product_id))
        .exec(conn)
        .await?;
    Ok(())
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

/// Saves a cart's status and its time, not its lines (a cart that closes).
pub(crate) async fn save_status(conn: &impl ConnectionTrait, cart: &Cart) -> Result<(), DbErr> {
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
