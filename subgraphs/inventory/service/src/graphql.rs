//! The Inventory subgraph: stock levels contributed to `Product` and `Variant` through
//! federation, reservations and stock adjustments.
//!
//! Entity resolution never queries per representation: the `inventory` fields go
//! through DataLoaders, so an `_entities` call with any number of representations is
//! one SQL query.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptySubscription, Enum, Error, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use inventory_domain::{
    MovementReason, Quantity, Reservation, ReservationId, ReservationLine, ReservationStatus, Sku, StockItem,
};
use kernel::Role;
use kernel_infra::dead_letters::DeadLetters;
use kernel_infra::graphql::{PageInfo, bad_input, cursor, error, internal, page_size, request_meta};
use kernel_infra::identity::{require_any_role, require_role};
use sea_orm::DatabaseConnection;

use crate::prefetch::Prefetched;
use crate::repository::{self, Totals};
use crate::stock::Stock;

pub type InventorySchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(stock: Stock, dead_letters: DeadLetters) -> InventorySchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation::default(), EmptySubscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new(
            "inventory",
            stock.db().clone(),
        ))
        .data(dead_letters)
        .data(DataLoader::new(ProductTotalsLoader(stock.db().clone()), tokio::spawn))
        .data(DataLoader::new(SkuLoader(stock.db().clone()), tokio::spawn))
        .extension(crate::prefetch::PrefetchStock(stock.db().clone()))
        .extension(kernel_infra::cache::CacheHints)
        .data(stock)
        .finish()
}

kernel_infra::status_field!("inventoryStatus");

kernel_infra::dead_letter_fields!(
    list: "inventoryDeadLetters",
    redrive: "redriveInventoryDeadLetter",
    redrive_all: "redriveAllInventoryDeadLetters",
    discard: "discardInventoryDeadLetter",
);

/// The subgraph's queries: the context's own, its dead letters and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(InventoryQuery, DeadLetterQuery, StatusQuery);

/// The subgraph's mutations: the context's own and its staff's on dead letters.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(InventoryMutation, DeadLetterMutation);

pub struct ProductTotalsLoader(DatabaseConnection);

impl Loader<uuid::Uuid> for ProductTotalsLoader {
    type Value = Totals;
    type Error = Error;

    async fn load(&self, keys: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Totals>, Error> {
        repository::product_totals(&self.0, keys).await.map_err(internal)
    }
}

pub struct SkuLoader(DatabaseConnection);

impl Loader<String> for SkuLoader {
    type Value = StockItem;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, StockItem>, Error> {
        repository::items(&self.0, keys).await.map_err(internal)
    }
}

fn int(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

/// Stock levels. Unknown products and SKUs have none.
#[derive(SimpleObject)]
pub struct Inventory {
    /// Units in the warehouse, reserved or not.
    on_hand: i32,
    /// Units held for checkouts.
    reserved: i32,
    /// Units that can still be sold.
    available: i32,
    in_stock: bool,
}

impl Inventory {
    fn new(on_hand: i64, reserved: i64) -> Self {
        let available = on_hand - reserved;
        Self {
            on_hand: int(on_hand),
            reserved: int(reserved),
            available: int(available),
            in_stock: available > 0,
        }
    }
}

/// A product, as Inventory extends it. Its stock is the same for every caller, so the
/// gateway may share it (for at most ten minutes; events drop it sooner).
pub struct ProductStock {
    id: uuid::Uuid,
}

#[Object(name = "Product", cache_control(max_age = 600))]
impl ProductStock {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Stock summed over the product's variants.
    async fn inventory(&self, ctx: &Context<'_>) -> Result<Inventory> {
        let prefetched = ctx.data_opt::<Prefetched>().and_then(|p| p.totals(&self.id));
        let totals = match prefetched {
            Some(totals) => totals,
            None => ctx
                .data_unchecked::<DataLoader<ProductTotalsLoader>>()
                .load_one(self.id)
                .await?
                .unwrap_or_default(),
        };
        Ok(Inventory::new(totals.on_hand, totals.reserved))
    }
}

/// A variant, as Inventory extends it; shared by the gateway as a product is.
pub struct VariantStock {
    sku: String,
}

#[Object(name = "Variant", cache_control(max_age = 600))]
impl VariantStock {
    async fn sku(&self) -> &str {
        &self.sku
    }
    async fn inventory(&self, ctx: &Context<'_>) -> Result<Inventory> {
        let stock = |item: Option<&StockItem>| {
            item.map_or_else(|| Inventory::new(0, 0), |i| Inventory::new(i.on_hand(), i.reserved()))
        };
        if let Some(item) = ctx.data_opt::<Prefetched>().and_then(|p| p.item(&self.sku)) {
            return Ok(stock(item));
        }
        let item = ctx
            .data_unchecked::<DataLoader<SkuLoader>>()
            .load_one(self.sku.clone())
            .await?;
        Ok(stock(item.as_ref()))
    }
}

/// One entry of a SKU's append-only stock ledger.
#[derive(SimpleObject)]
pub struct StockMovement {
    on_hand_delta: i32,
    reserved_delta: i32,
    /// ADJUSTMENT, RESERVED, COMMITTED, RELEASED or EXPIRED.
    reason: String,
    note: Option<String>,
    reservation_id: Option<ID>,
    created_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct StockMovementEdge {
    cursor: String,
    node: StockMovement,
}

#[derive(SimpleObject)]
pub struct StockMovementConnection {
    edges: Vec<StockMovementEdge>,
    page_info: PageInfo,
}

pub struct StockItemObject(StockItem);

/// The stock of one SKU.
#[Object(name = "StockItem")]
impl StockItemObject {
    async fn sku(&self) -> &str {
        self.0.sku().as_str()
    }
    async fn product_id(&self) -> Option<ID> {
        self.0.product_id().map(|id| ID(id.to_string()))
    }
    async fn inventory(&self) -> Inventory {
        Inventory::new(self.0.on_hand(), self.0.reserved())
    }
    /// The ledger, newest first (staff and services only).
    #[graphql(requires_scopes = "inventory:read", directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), Some(vec!["edges".into()]), None))]
    async fn movements(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<StockMovementConnection> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let limit = page_size(Some(first))?;
        let before = after
            .as_deref()
            .map(|c| cursor::decode(c).and_then(|key| key.parse::<i64>().map_err(|_| bad_input("malformed cursor"))))
            .transpose()?;
        let db = ctx.data_unchecked::<Stock>().db();
        let mut rows = repository::movements(db, self.0.sku(), before, limit + 1)
            .await
            .map_err(internal)?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let edges: Vec<StockMovementEdge> = rows
            .into_iter()
            .map(|row| StockMovementEdge {
                cursor: cursor::encode(&row.id.to_string()),
                node: StockMovement {
                    on_hand_delta: int(row.on_hand_delta),
                    reserved_delta: int(row.reserved_delta),
                    reason: row.reason,
                    note: row.note,
                    reservation_id: row.reservation_id.map(|id| ID(id.to_string())),
                    created_at: row.created_at,
                },
            })
            .collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: before.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(StockMovementConnection { edges, page_info })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ReservationStatus")]
pub enum ReservationStatusValue {
    Active,
    Committed,
    Released,
    Expired,
    Returned,
}

impl From<ReservationStatus> for ReservationStatusValue {
    fn from(status: ReservationStatus) -> Self {
        match status {
            ReservationStatus::Active => Self::Active,
            ReservationStatus::Committed => Self::Committed,
            ReservationStatus::Released => Self::Released,
            ReservationStatus::Expired => Self::Expired,
            ReservationStatus::Returned => Self::Returned,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "ReservationLine")]
pub struct ReservationLineObject {
    sku: String,
    quantity: i32,
}

pub struct ReservationObject(Reservation);

/// Units held for a checkout until `expiresAt`.
#[Object(name = "Reservation")]
impl ReservationObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn status(&self) -> ReservationStatusValue {
        self.0.status.into()
    }
    async fn lines(&self) -> Vec<ReservationLineObject> {
        self.0
            .lines
            .iter()
            .map(|l| ReservationLineObject {
                sku: l.sku.as_str().to_owned(),
                quantity: int(l.quantity.get()),
            })
            .collect()
    }
    /// Who asked for the hold, e.g. a checkout id.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject)]
pub struct ReservationLineInput {
    sku: String,
    /// 1 to 1,000,000.
    quantity: i32,
}

#[derive(InputObject)]
pub struct ReserveStockInput {
    /// The caller's id for this hold, so a retry cannot hold twice: the same id with
    /// the same lines returns the first reservation. A new id when omitted.
    id: Option<ID>,
    lines: Vec<ReservationLineInput>,
    /// How long the hold lasts: 1 second to 24 hours; 15 minutes by default.
    #[graphql(default = 900)]
    ttl_seconds: i32,
    reference: Option<String>,
}

/// Units customers sent back, to put on hand once per reference.
#[derive(InputObject)]
pub struct RestockReturnInput {
    /// The return they came back with (1 to 100 characters): restocking the same
    /// reference again puts nothing back twice.
    reference: String,
    lines: Vec<ReservationLineInput>,
}

impl TryFrom<&RestockReturnInput> for Vec<(Sku, Quantity)> {
    type Error = Error;
    fn try_from(input: &RestockReturnInput) -> Result<Self> {
        input
            .lines
            .iter()
            .map(|line| {
                Ok((
                    Sku::parse(&line.sku).map_err(error)?,
                    Quantity::new(i64::from(line.quantity)).map_err(error)?,
                ))
            })
            .collect()
    }
}

impl TryFrom<ReserveStockInput> for Reservation {
    type Error = Error;
    fn try_from(input: ReserveStockInput) -> Result<Self> {
        let lines = input
            .lines
            .iter()
            .map(|line| {
                Ok(ReservationLine {
                    sku: Sku::parse(&line.sku).map_err(error)?,
                    quantity: Quantity::new(i64::from(line.quantity)).map_err(error)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut reservation = Reservation::open(
            lines,
            Duration::seconds(i64::from(input.ttl_seconds)),
            input.reference,
            Utc::now(),
        )
        .map_err(error)?;
        if let Some(id) = &input.id {
            reservation.id = parse_reservation_id(id)?;
        }
        Ok(reservation)
    }
}

fn parse_reservation_id(id: &ID) -> Result<ReservationId> {
    ReservationId::parse(id).map_err(bad_input)
}

fn parse_sku(sku: &str) -> Result<Sku> {
    Sku::parse(sku).map_err(error)
}

#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// The stock of a SKU; null when it is not stocked.
    async fn stock_item(&self, ctx: &Context<'_>, sku: String) -> Result<Option<StockItemObject>> {
        let sku = parse_sku(&sku)?;
        let item = ctx
            .data_unchecked::<DataLoader<SkuLoader>>()
            .load_one(sku.as_str().to_owned())
            .await?;
        Ok(item.map(StockItemObject))
    }

    /// A reservation by id (staff and services only); null when there is none.
    #[graphql(requires_scopes = "inventory:read")]
    async fn reservation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ReservationObject>> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let id = parse_reservation_id(&id)?;
        let reservation = repository::reservation(ctx.data_unchecked::<Stock>().db(), id, false)
            .await
            .map_err(internal)?;
        Ok(reservation.map(ReservationObject))
    }

    #[graphql(entity)]
    async fn find_product_by_id(&self, id: ID) -> Result<ProductStock> {
        let id = uuid::Uuid::try_parse(&id)
            .map_err(|_| bad_input(format!("`{}` is not a valid product id", id.as_str())))?;
        Ok(ProductStock { id })
    }

    #[graphql(entity)]
    async fn find_variant_by_sku(&self, sku: String) -> VariantStock {
        VariantStock { sku }
    }
}

#[derive(Default)]
pub struct InventoryMutation;

#[Object]
impl InventoryMutation {
    /// Corrects the units on hand (a delivery, a count, damage) with a reason.
    #[graphql(requires_scopes = "inventory:write")]
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        sku: String,
        delta: i32,
        reason: String,
    ) -> Result<StockItemObject> {
        require_role(ctx, Role::Admin)?;
        let sku = parse_sku(&sku)?;
        let reason = MovementReason::adjustment(&reason).map_err(error)?;
        let item = ctx
            .data_unchecked::<Stock>()
            .adjust(&sku, i64::from(delta), reason, &request_meta(ctx))
            .await
            .map_err(error)?;
        kernel_infra::cache::tag(ctx, crate::cache::variant_tag(item.sku().as_str()));
        if let Some(product) = item.product_id() {
            kernel_infra::cache::tag(ctx, crate::cache::product_tag(product));
        }
        Ok(StockItemObject(item))
    }

    /// Holds units of every line, or of none when any line lacks stock.
    #[graphql(requires_scopes = "inventory:write")]
    async fn reserve_stock(&self, ctx: &Context<'_>, input: ReserveStockInput) -> Result<ReservationObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let reservation = Reservation::try_from(input)?;
        let reservation = ctx
            .data_unchecked::<Stock>()
            .reserve(reservation, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReservationObject(reservation))
    }

    /// Units customers sent back come back on hand (the return saga), once per
    /// reference: true when they were put back now, false when that reference was
    /// restocked before.
    #[graphql(requires_scopes = "inventory:write")]
    async fn restock_return(&self, ctx: &Context<'_>, input: RestockReturnInput) -> Result<bool> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let lines = Vec::<(Sku, Quantity)>::try_from(&input)?;
        ctx.data_unchecked::<Stock>()
            .restock_returned(&input.reference, &lines, &request_meta(ctx))
            .await
            .map_err(error)
    }

    /// The held units are sold.
    #[graphql(requires_scopes = "inventory:write")]
    async fn commit_reservation(&self, ctx: &Context<'_>, id: ID) -> Result<ReservationObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let id = parse_reservation_id(&id)?;
        let reservation = ctx
            .data_unchecked::<Stock>()
            .commit(id, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReservationObject(reservation))
    }

    /// The units of a committed reservation come back on hand (a sale undone).
    #[graphql(requires_scopes = "inventory:write")]
    async fn return_reservation(&self, ctx: &Context<'_>, id: ID) -> Result<ReservationObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let id = parse_reservation_id(&id)?;
        let reservation = ctx
            .data_unchecked::<Stock>()
            .return_sold(id, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReservationObject(reservation))
    }

    /// The held units go back to sale.
    #[graphql(requires_scopes = "inventory:write")]
    async fn release_reservation(&self, ctx: &Context<'_>, id: ID) -> Result<ReservationObject> {
        require_any_role(ctx, &[Role::Admin, Role::Service])?;
        let id = parse_reservation_id(&id)?;
        let reservation = ctx
            .data_unchecked::<Stock>()
            .release(id, false, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(ReservationObject(reservation))
    }
}
