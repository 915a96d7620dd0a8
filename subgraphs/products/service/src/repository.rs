//! Loading and saving Product aggregates (product row, variants, price periods).
//!
//! Every function takes `&impl ConnectionTrait`, so a use case runs them in one
//! transaction with its outbox rows.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use kernel::{Currency, Money, TaxCategory};
use products_domain::{
    Attribute, Category, Description, PricePeriod, Product, ProductId, ProductName, ProductState, ProductStatus, Sku,
    Variant,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{price, product, variant};

/// The filters of the `products` query, already validated.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub category: Option<String>,
    pub text: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub currency: Option<Currency>,
    pub status: Option<ProductStatus>,
}

/// Loads one product with its variants.
pub async fn find(conn: &impl ConnectionTrait, id: ProductId) -> anyhow::Result<Option<Product>> {
    Ok(find_many(conn, &[id]).await?.into_iter().next())
}

/// Loads products by id with their variants, in two queries whatever the count.
pub async fn find_many(conn: &impl ConnectionTrait, ids: &[ProductId]) -> anyhow::Result<Vec<Product>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = product::Entity::find()
        .filter(product::Column::Id.is_in(ids.iter().map(ProductId::as_uuid)))
        .all(conn)
        .await?;
    hydrate(conn, rows).await
}

/// The product owning `sku`, if any.
pub async fn find_by_sku(conn: &impl ConnectionTrait, sku: &Sku) -> anyhow::Result<Option<Product>> {
    let Some(row) = variant::Entity::find_by_id(sku.as_str().to_owned()).one(conn).await? else {
        return Ok(None);
    };
    find(conn, ProductId::from_uuid(row.product_id)).await
}

/// Which of `skus` already belong to some product.
pub async fn taken_skus(conn: &impl ConnectionTrait, skus: &[&Sku]) -> anyhow::Result<Vec<String>> {
    let taken: Vec<String> = variant::Entity::find()
        .select_only()
        .column(variant::Column::Sku)
        .filter(variant::Column::Sku.is_in(skus.iter().map(|s| s.as_str())))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(taken)
}

/// One page of products after `after` (a product id), ordered by id (creation time).
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &ProductFilter,
    after: Option<ProductId>,
    limit: u64,
) -> anyhow::Result<Vec<Product>> {
    let mut query = product::Entity::find().order_by_asc(product::Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(product::Column::Id.gt(after.as_uuid()));
    }
    if let Some(category) = &filter.category {
        // A category matches itself and its sub-categories.
        query = query.filter(
            product::Column::Category
                .eq(category.as_str())
                .or(product::Column::Category.starts_with(format!("{category}/"))),
        );
    }
    if let Some(text) = &filter.text {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        query = query.filter(
            Expr::expr(Func::lower(Expr::col(product::Column::Name))).like(LikeExpr::new(pattern).escape('\\')),
        );
    }
    if let Some(min) = filter.min_price {
        query = query.filter(product::Column::PriceAmount.gte(min));
    }
    if let Some(max) = filter.max_price {
        query = query.filter(product::Column::PriceAmount.lte(max));
    }
    if let Some(currency) = filter.currency {
        query = query.filter(product::Column::PriceCurrency.eq(currency.code()));
    }
    if let Some(status) = filter.status {
        query = query.filter(product::Column::Status.eq(status.as_str()));
    }
    let rows = query.all(conn).await?;
    hydrate(conn, rows).await
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Inserts a new product, its variants and its first price period.
pub async fn insert(conn: &impl ConnectionTrait, product: &Product) -> Result<(), sea_orm::DbErr> {
    let state = product.state();
    product::Entity::insert(product_row(state))
        .exec_without_returning(conn)
        .await?;
    let variants = state
        .variants
        .iter()
        .enumerate()
        .map(|(position, v)| variant::ActiveModel {
            sku: Set(v.sku.as_str().to_owned()),
            product_id: Set(state.id.as_uuid()),
            position: Set(i32::try_from(position).expect("variants are bounded")),
            name: Set(v.name.as_str().to_owned()),
            attributes: Set(serde_json::to_string(&v.attributes).expect("attributes serialize")),
        });
    variant::Entity::insert_many(variants)
        .exec_without_returning(conn)
        .await?;
    open_price_period(conn, state.id, state.price, state.created_at).await
}

/// Saves a changed product if nobody else changed it since it was loaded at
/// `loaded_version`. Returns `false` on such a concurrent change.
pub async fn update(
    conn: &impl ConnectionTrait,
    product: &Product,
    loaded_version: i64,
) -> Result<bool, sea_orm::DbErr> {
    let result = product::Entity::update_many()
        .set(product_row(product.state()))
        .filter(product::Column::Id.eq(product.id().as_uuid()))
        .filter(product::Column::Version.eq(loaded_version))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Closes the open price period at `at` and opens one for `price` from `at`.
pub async fn replace_price(
    conn: &impl ConnectionTrait,
    id: ProductId,
    price: Money,
    at: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    price::Entity::update_many()
        .col_expr(price::Column::ValidTo, Expr::value(at))
        .filter(price::Column::ProductId.eq(id.as_uuid()))
        .filter(price::Column::ValidTo.is_null())
        .exec(conn)
        .await?;
    open_price_period(conn, id, price, at).await
}

async fn open_price_period(
    conn: &impl ConnectionTrait,
    id: ProductId,
    price: Money,
    from: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    price::Entity::insert(price::ActiveModel {
        product_id: Set(id.as_uuid()),
        amount: Set(price.amount()),
        currency: Set(price.currency().code().to_owned()),
        valid_from: Set(from),
        valid_to: Set(None),
        ..Default::default()
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Every price period of a product, oldest first.
pub async fn price_history(conn: &impl ConnectionTrait, id: ProductId) -> anyhow::Result<Vec<PricePeriod>> {
    let rows = price::Entity::find()
        .filter(price::Column::ProductId.eq(id.as_uuid()))
        .order_by_asc(price::Column::ValidFrom)
        .order_by_asc(price::Column::Id)
        .all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(PricePeriod {
                price: Money::new(row.amount, Currency::parse(&row.currency)?),
                valid_from: row.valid_from,
                valid_to: row.valid_to,
            })
        })
        .collect()
}

fn product_row(state: &ProductState) -> product::ActiveModel {
    product::ActiveModel {
        id: Set(state.id.as_uuid()),
        name: Set(state.name.as_str().to_owned()),
        description: Set(state.description.as_str().to_owned()),
        category: Set(state.category.as_str().to_owned()),
        attributes: Set(serde_json::to_string(&state.attributes).expect("attributes serialize")),
        status: Set(state.status.as_str().to_owned()),
        price_amount: Set(state.price.amount()),
        price_currency: Set(state.price.currency().code().to_owned()),
        tax_category: Set(state.tax_category.as_str().to_owned()),
        version: Set(state.version),
        created_at: Set(state.created_at),
        updated_at: Set(state.updated_at),
    }
}

/// Attaches variants to product rows (one query) and maps both to the domain,
/// keeping the rows' order.
async fn hydrate(conn: &impl ConnectionTrait, rows: Vec<product::Model>) -> anyhow::Result<Vec<Product>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let variant_rows = variant::Entity::find()
        .filter(variant::Column::ProductId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(variant::Column::ProductId)
        .order_by_asc(variant::Column::Position)
        .all(conn)
        .await?;
    let mut variants: HashMap<uuid::Uuid, Vec<Variant>> = HashMap::new();
    for row in variant_rows {
        variants.entry(row.product_id).or_default().push(Variant {
            sku: Sku::parse(&row.sku)?,
            name: ProductName::parse(&row.name)?,
            attributes: serde_json::from_str(&row.attributes).context("variant attributes")?,
        });
    }
    rows.into_iter()
        .map(|row| {
            let attributes: Vec<Attribute> = serde_json::from_str(&row.attributes).context("product attributes")?;
            Ok(Product::restore(ProductState {
                id: ProductId::from_uuid(row.id),
                name: ProductName::parse(&row.name)?,
                description: Description::parse(&row.description)?,
                category: Category::parse(&row.category)?,
                attributes,
                variants: variants.remove(&row.id).unwrap_or_default(),
                status: ProductStatus::parse(&row.status).with_context(|| format!("unknown status {}", row.status))?,
                price: Money::new(row.price_amount, Currency::parse(&row.price_currency)?),
                tax_category: TaxCategory::parse(&row.tax_category)?,
                version: row.version,
                created_at: row.created_at,
                updated_at: row.updated_at,
            }))
        })
        .collect()
}
