//! The Search subgraph: `searchProducts` (text, category and price, with facets) and
//! `orderSummaries`, answered from the read models only. Products and orders are
//! references that their own subgraphs resolve.

use async_graphql::{Context, ID, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel::Currency;
use kernel_infra::dead_letters::DeadLetters;
use kernel_infra::graphql::money::{Long, MoneyObject};
use kernel_infra::graphql::{PageInfo, bad_input, cursor, error, internal, page_size};
use kernel_infra::identity::require_user;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use search_domain::{OrderSummary, PRICE_RANGES, ProductDocument, SearchQuery};

use crate::entity::{order, product};
use crate::projection;

/// How deep into the results pages may go, like a search engine's result window.
const MAX_DEPTH: u64 = 10_000;

pub type SearchSchema = Schema<Query, Mutation, async_graphql::EmptySubscription>;

/// The executable schema over the read models in `db`.
pub fn schema(db: DatabaseConnection, dead_letters: DeadLetters) -> SearchSchema {
    kernel_infra::graphql::with_limits(Schema::build(
        Query::default(),
        Mutation::default(),
        async_graphql::EmptySubscription,
    ))
    .enable_federation()
    .data(kernel_infra::status::ContextStatus::new("search", db.clone()))
    .data(db)
    .data(dead_letters)
    .finish()
}

kernel_infra::status_field!("searchStatus");

kernel_infra::dead_letter_fields!(
    list: "searchDeadLetters",
    redrive: "redriveSearchDeadLetter",
    redrive_all: "redriveAllSearchDeadLetters",
    discard: "discardSearchDeadLetter",
);

/// The subgraph's queries: the read models', and their consumer's dead letters and the context's status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(ReadModelQuery, DeadLetterQuery, StatusQuery);

/// The subgraph's mutations: its staff's on the dead letters.
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(DeadLetterMutation);

/// A product as Search refers to it; the Products subgraph resolves the rest.
#[derive(SimpleObject)]
#[graphql(name = "Product", unresolvable = "id")]
pub struct ProductReference {
    id: ID,
}

/// An order as Search refers to it; the Orders subgraph resolves the rest.
#[derive(SimpleObject)]
#[graphql(name = "Order", unresolvable = "id")]
pub struct OrderReference {
    id: ID,
}

/// One product found.
#[derive(SimpleObject)]
pub struct ProductSearchHit {
    cursor: String,
    node: ProductReference,
}

/// How many products found fall in a category.
#[derive(SimpleObject)]
pub struct CategoryFacet {
    category: String,
    count: i64,
}

/// How many products found cost from `min` (inclusive) to `max` (exclusive; null:
/// no upper bound), in minor units.
#[derive(SimpleObject)]
pub struct PriceRangeFacet {
    min: Long,
    max: Option<Long>,
    count: i64,
}

#[derive(SimpleObject)]
pub struct SearchFacets {
    /// The 20 categories with the most products found, most first.
    categories: Vec<CategoryFacet>,
    /// Every price range, in order, with how many products found are in it.
    price_ranges: Vec<PriceRangeFacet>,
}

/// A page of products found, the total, and the facets of all found.
#[derive(SimpleObject)]
pub struct ProductSearchResult {
    total_count: i64,
    edges: Vec<ProductSearchHit>,
    page_info: PageInfo,
    facets: SearchFacets,
}

/// A customer's order as listed by Search.
pub struct OrderSummaryObject(OrderSummary);

#[Object(name = "OrderSummary")]
impl OrderSummaryObject {
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.to_string())
    }
    /// The status as of the last event Search applied.
    async fn status(&self) -> &str {
        &self.0.status
    }
    async fn total(&self) -> MoneyObject {
        self.0.total.into()
    }
    async fn item_count(&self) -> i64 {
        self.0.item_count
    }
    async fn placed_at(&self) -> DateTime<Utc> {
        self.0.placed_at
    }
    /// Returns asked for and not refused.
    async fn returns(&self) -> i64 {
        self.0.returns
    }
    /// What its returns refunded so far.
    async fn refunded(&self) -> MoneyObject {
        self.0.refunded.into()
    }
    /// The order itself, from Orders.
    async fn order(&self) -> OrderReference {
        OrderReference {
            id: ID(self.0.order_id.to_string()),
        }
    }
}

/// The rows `query` finds: published, every word as a word prefix, in the category or
/// below it, within the price range.
fn matching(query: &SearchQuery) -> Condition {
    let mut condition = Condition::all().add(product::Column::Status.eq(ProductDocument::SEARCHABLE_STATUS));
    for word in &query.words {
        // search_text is framed by spaces, so " word" matches at a word's start.
        condition = condition.add(product::Column::SearchText.like(format!("% {word}%")));
    }
    if let Some(category) = &query.category {
        condition = condition.add(
            Condition::any()
                .add(product::Column::Category.eq(category.as_str()))
                .add(product::Column::Category.starts_with(format!("{category}/"))),
        );
    }
    if let Some(min) = query.min_price {
        condition = condition.add(product::Column::PriceAmount.gte(min));
    }
    if let Some(max) = query.max_price {
        condition = condition.add(product::Column::PriceAmount.lte(max));
    }
    if let Some(currency) = query.currency {
        condition = condition.add(product::Column::PriceCurrency.eq(currency.code()));
    }
    condition
}

#[derive(Default)]
pub struct ReadModelQuery;

#[Object]
impl ReadModelQuery {
    /// Published products whose name, description, category or SKUs contain every word
    /// of `text` (as the start of a word), optionally in a category (and below it) and
    /// a price range in minor units; by name. Built from events, so a change shows up
    /// once Search has applied it.
    #[allow(clippy::too_many_arguments)]
    #[graphql(directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), Some(vec!["edges".into()]), None))]
    async fn search_products(
        &self,
        ctx: &Context<'_>,
        text: Option<String>,
        category: Option<String>,
        min_price: Option<Long>,
        max_price: Option<Long>,
        currency: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ProductSearchResult> {
        let currency = currency
            .as_deref()
            .map(Currency::parse)
            .transpose()
            .map_err(bad_input)?;
        let query = SearchQuery::parse(
            text.as_deref(),
            category.as_deref(),
            min_price.map(|p| p.0),
            max_price.map(|p| p.0),
            currency,
        )
        .map_err(error)?;
        let limit = page_size(first)?;
        let offset: u64 = match after {
            Some(after) => cursor::decode(&after)?
                .parse()
                .map_err(|_| bad_input("not a search cursor"))?,
            None => 0,
        };
        if offset > MAX_DEPTH {
            return Err(bad_input(format!(
                "search pages reach {MAX_DEPTH} results deep; narrow the search"
            )));
        }
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let found = product::Entity::find().filter(matching(&query));
        let total = found.clone().count(db).await.map_err(internal)?;
        let rows = found
            .clone()
            .order_by_asc(product::Column::Name)
            .order_by_asc(product::Column::ProductId)
            .offset(offset)
            .limit(limit + 1)
            .all(db)
            .await
            .map_err(internal)?;
        let has_next_page = rows.len() as u64 > limit;
        let edges: Vec<ProductSearchHit> = rows
            .into_iter()
            .take(limit as usize)
            .enumerate()
            .map(|(i, row)| ProductSearchHit {
                cursor: cursor::encode(&(offset + i as u64 + 1).to_string()),
                node: ProductReference {
                    id: ID(row.product_id.to_string()),
                },
            })
            .collect();

        let categories: Vec<(String, i64)> = found
            .clone()
            .select_only()
            .column(product::Column::Category)
            .column_as(Expr::col(product::Column::ProductId).count(), "count")
            .group_by(product::Column::Category)
            .order_by_desc(Expr::col(product::Column::ProductId).count())
            .order_by_asc(product::Column::Category)
            .limit(20)
            .into_tuple()
            .all(db)
            .await
            .map_err(internal)?;
        let mut price_ranges = Vec::new();
        for (min, max) in PRICE_RANGES {
            let mut in_range = found.clone().filter(product::Column::PriceAmount.gte(min));
            if let Some(max) = max {
                in_range = in_range.filter(product::Column::PriceAmount.lt(max));
            }
            price_ranges.push(PriceRangeFacet {
                min: Long(min),
                max: max.map(Long),
                count: in_range.count(db).await.map_err(internal)? as i64,
            });
        }
        Ok(ProductSearchResult {
            total_count: total as i64,
            page_info: PageInfo {
                has_next_page,
                has_previous_page: offset > 0,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            facets: SearchFacets {
                categories: categories
                    .into_iter()
                    .map(|(category, count)| CategoryFacet { category, count })
                    .collect(),
                price_ranges,
            },
        })
    }

    /// A customer's orders as Search lists them, newest first: the caller's own, or
    /// anyone's for staff (`customerId`).
    #[graphql(directive = kernel_infra::graphql::directives::authenticated::apply(), directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), None, None))]
    async fn order_summaries(
        &self,
        ctx: &Context<'_>,
        customer_id: Option<ID>,
        first: Option<i32>,
    ) -> Result<Vec<OrderSummaryObject>> {
        let caller = require_user(ctx)?;
        let customer = match customer_id {
            Some(id) => uuid::Uuid::try_parse(&id).map_err(|_| bad_input("not a valid customer id"))?,
            None => caller.user_id,
        };
        if !caller.may_act_for(customer) {
            return Err(kernel_infra::graphql::coded(
                kernel::ErrorKind::Forbidden,
                &"only staff may list another customer's orders",
            ));
        }
        let rows = order::Entity::find()
            .filter(order::Column::CustomerId.eq(customer))
            .order_by_desc(order::Column::PlacedAt)
            .order_by_desc(order::Column::OrderId)
            .limit(page_size(first)?)
            .all(ctx.data_unchecked::<DatabaseConnection>())
            .await
            .map_err(internal)?;
        rows.into_iter()
            .map(|row| projection::summary(row).map(OrderSummaryObject).map_err(internal))
            .collect()
    }
}
