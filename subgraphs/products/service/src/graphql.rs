//! The Products subgraph: the catalog as Federation v2 entities `Product @key(id)` and
//! `Variant @key(sku)`, its queries and its commands.
//!
//! Inputs are turned into domain commands here (`TryFrom`), so every rule is checked
//! once, by the domain's own types, and every refusal carries `extensions.code`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, Error, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use kernel::{CountryCode, Currency, ErrorKind, Role, TaxCategory, TaxRate};
use kernel_infra::graphql::money::{Long, MoneyInput, MoneyObject};
use kernel_infra::graphql::{PageInfo, bad_input, coded, cursor, error, internal, page_size, request_meta};
use kernel_infra::identity::{is_privileged, require_role};
use products_domain::{
    Attribute, Category, Description, FlashSale, FlashSaleId, FlashSaleStatus, NewProduct, NewVariant, Product,
    ProductId, ProductName, ProductStatus, ProductUpdate, RatesAtPlace, Region, Sku, TaxRateEntry,
};
use sea_orm::DatabaseConnection;

use kernel_infra::live::LiveFeed;

use crate::catalog::Catalog;
use crate::flash_sales::FlashSales;
use crate::live::Subscription;
use crate::repository::{self, ProductFilter};
use crate::tax::TaxRates;

pub type ProductsSchema = Schema<Query, Mutation, Subscription>;

/// The executable schema over `catalog`.
pub fn schema(catalog: Catalog, flash_sales: FlashSales, tax_rates: TaxRates, live: LiveFeed) -> ProductsSchema {
    kernel_infra::graphql::with_limits(Schema::build(Query::default(), Mutation, Subscription))
        .enable_federation()
        .data(kernel_infra::status::ContextStatus::new(
            "products",
            catalog.db().clone(),
        ))
        .enable_subscription_in_federation()
        .extension(kernel_infra::cache::CacheHints)
        .data(live)
        .data(flash_sales)
        .data(tax_rates)
        .data(DataLoader::new(ProductLoader(catalog.db().clone()), tokio::spawn))
        .data(DataLoader::new(OpenSaleLoader(catalog.db().clone()), tokio::spawn))
        .data(catalog)
        .finish()
}

/// Batches product loads of one request (entity resolution, `product(id)`) into one
/// query.
pub struct ProductLoader(DatabaseConnection);

impl Loader<ProductId> for ProductLoader {
    type Value = Arc<Product>;
    type Error = Error;

    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, Arc<Product>>, Error> {
        let products = repository::find_many(&self.0, keys).await.map_err(internal)?;
        Ok(products.into_iter().map(|p| (p.id(), Arc::new(p))).collect())
    }
}

pub(crate) fn parse_id(id: &ID) -> Result<ProductId> {
    ProductId::parse(id).map_err(bad_input)
}

fn domain<T, E: kernel::Classify + std::fmt::Display>(result: Result<T, E>) -> Result<T> {
    result.map_err(error)
}

/// Batches the lookups of products' open flash sales (`Product.flashSale` in a list).
pub struct OpenSaleLoader(DatabaseConnection);

impl Loader<ProductId> for OpenSaleLoader {
    type Value = FlashSale;
    type Error = Error;

    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, FlashSale>, Error> {
        let sales = crate::flash_sales::open_sales_of(&self.0, keys)
            .await
            .map_err(internal)?;
        Ok(sales.into_iter().map(|sale| (sale.product_id, sale)).collect())
    }
}

pub(crate) async fn load(ctx: &Context<'_>, id: ProductId) -> Result<Option<ProductObject>> {
    let product = ctx.data_unchecked::<DataLoader<ProductLoader>>().load_one(id).await?;
    Ok(product.map(ProductObject))
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ProductStatus")]
pub enum ProductStatusValue {
    Draft,
    Published,
    Unpublished,
}

impl From<ProductStatus> for ProductStatusValue {
    fn from(status: ProductStatus) -> Self {
        match status {
            ProductStatus::Draft => Self::Draft,
            ProductStatus::Published => Self::Published,
            ProductStatus::Unpublished => Self::Unpublished,
        }
    }
}

impl From<ProductStatusValue> for ProductStatus {
    fn from(status: ProductStatusValue) -> Self {
        match status {
            ProductStatusValue::Draft => Self::Draft,
            ProductStatusValue::Published => Self::Published,
            ProductStatusValue::Unpublished => Self::Unpublished,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Attribute")]
pub struct AttributeObject {
    name: String,
    value: String,
}

fn attributes(list: &[Attribute]) -> Vec<AttributeObject> {
    list.iter()
        .map(|a| AttributeObject {
            name: a.name().to_owned(),
            value: a.value().to_owned(),
        })
        .collect()
}

/// One price and the interval it was valid in.
#[derive(SimpleObject)]
pub struct PricePeriod {
    price: MoneyObject,
    valid_from: DateTime<Utc>,
    /// Null while the price is current.
    valid_to: Option<DateTime<Utc>>,
}

pub struct ProductObject(Arc<Product>);

/// A product of the catalog.
// The same for every caller who is not staff, so the gateway may share it (for at most
// ten minutes; the catalog's events drop it sooner): kernel_infra::cache.
#[Object(name = "Product", cache_control(max_age = 600))]
impl ProductObject {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }
    async fn name(&self) -> &str {
        self.0.state().name.as_str()
    }
    async fn description(&self) -> &str {
        self.0.state().description.as_str()
    }
    /// A path such as `electronics/phones`.
    async fn category(&self) -> &str {
        self.0.state().category.as_str()
    }
    async fn attributes(&self) -> Vec<AttributeObject> {
        attributes(&self.0.state().attributes)
    }
    async fn status(&self) -> ProductStatusValue {
        self.0.state().status.into()
    }
    /// The current price.
    async fn price(&self) -> MoneyObject {
        self.0.state().price.into()
    }
    /// Which of a place's tax rates the product is taxed at.
    async fn tax_category(&self) -> TaxCategoryValue {
        self.0.state().tax_category.into()
    }
    /// The price in force at an instant; null before the product existed.
    async fn price_at(&self, ctx: &Context<'_>, at: DateTime<Utc>) -> Result<Option<MoneyObject>> {
        let history = repository::price_history(ctx.data_unchecked::<Catalog>().db(), self.0.id())
            .await
            .map_err(internal)?;
        Ok(products_domain::price::price_at(&history, at).map(Into::into))
    }
    /// The flash sale scheduled or running for the product, if any.
    async fn flash_sale(&self, ctx: &Context<'_>) -> Result<Option<FlashSaleObject>> {
        let sale = ctx
            .data_unchecked::<DataLoader<OpenSaleLoader>>()
            .load_one(self.0.id())
            .await?;
        Ok(sale.map(FlashSaleObject))
    }
    /// Every price the product has had, oldest first.
    async fn price_history(&self, ctx: &Context<'_>) -> Result<Vec<PricePeriod>> {
        let history = repository::price_history(ctx.data_unchecked::<Catalog>().db(), self.0.id())
            .await
            .map_err(internal)?;
        Ok(history
            .into_iter()
            .map(|p| PricePeriod {
                price: p.price.into(),
                valid_from: p.valid_from,
                valid_to: p.valid_to,
            })
            .collect())
    }
    async fn variants(&self) -> Vec<VariantObject> {
        (0..self.0.state().variants.len())
            .map(|index| VariantObject {
                product: self.0.clone(),
                index,
            })
            .collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.state().created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.state().updated_at
    }
}

pub struct VariantObject {
    product: Arc<Product>,
    index: usize,
}

/// A purchasable variant of a product, identified by its SKU.
// Shared by the gateway as its product is.
#[Object(name = "Variant", cache_control(max_age = 600))]
impl VariantObject {
    async fn sku(&self) -> &str {
        self.product.state().variants[self.index].sku.as_str()
    }
    async fn name(&self) -> &str {
        self.product.state().variants[self.index].name.as_str()
    }
    async fn attributes(&self) -> Vec<AttributeObject> {
        attributes(&self.product.state().variants[self.index].attributes)
    }
    /// The product's current price.
    async fn price(&self) -> MoneyObject {
        self.product.state().price.into()
    }
    async fn product(&self) -> ProductObject {
        ProductObject(self.product.clone())
    }
}

#[derive(SimpleObject)]
pub struct ProductEdge {
    cursor: String,
    node: ProductObject,
}

#[derive(SimpleObject)]
pub struct ProductConnection {
    edges: Vec<ProductEdge>,
    page_info: PageInfo,
}

/// Filters of `products`; all given filters must hold.
#[derive(InputObject, Default)]
#[graphql(name = "ProductFilter")]
pub struct ProductFilterInput {
    /// A category and its sub-categories.
    category: Option<String>,
    /// Words in the product name (case-insensitive).
    text: Option<String>,
    /// Lowest current price, minor units.
    min_price: Option<Long>,
    /// Highest current price, minor units.
    max_price: Option<Long>,
    /// Only prices in this ISO 4217 currency.
    currency: Option<String>,
    status: Option<ProductStatusValue>,
}

impl TryFrom<ProductFilterInput> for ProductFilter {
    type Error = Error;
    fn try_from(input: ProductFilterInput) -> Result<Self> {
        let category = input
            .category
            .as_deref()
            .map(Category::parse)
            .transpose()
            .map_err(error)?;
        let text = match input.text {
            Some(text) if text.chars().count() > 200 => {
                return Err(bad_input("filter.text: at most 200 characters"));
            }
            Some(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            _ => None,
        };
        let (min_price, max_price) = (input.min_price.map(|p| p.0), input.max_price.map(|p| p.0));
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            return Err(bad_input("filter.minPrice must not exceed filter.maxPrice"));
        }
        Ok(ProductFilter {
            category: category.map(|c| c.as_str().to_owned()),
            text,
            min_price,
            max_price,
            currency: input
                .currency
                .as_deref()
                .map(Currency::parse)
                .transpose()
                .map_err(bad_input)?,
            status: input.status.map(Into::into),
        })
    }
}

#[derive(InputObject)]
pub struct AttributeInput {
    name: String,
    value: String,
}

fn parse_attributes(input: Option<Vec<AttributeInput>>) -> Result<Vec<Attribute>> {
    input
        .unwrap_or_default()
        .iter()
        .map(|a| domain(Attribute::new(&a.name, &a.value)))
        .collect()
}

#[derive(InputObject)]
pub struct VariantInput {
    /// 1 to 64 of A-Z, 0-9, `-`, `_`; unique across the catalog.
    sku: String,
    name: String,
    attributes: Option<Vec<AttributeInput>>,
}

#[derive(InputObject)]
pub struct CreateProductInput {
    name: String,
    description: Option<String>,
    category: String,
    attributes: Option<Vec<AttributeInput>>,
    /// At least one variant.
    variants: Vec<VariantInput>,
    price: MoneyInput,
    /// STANDARD when omitted.
    tax_category: Option<TaxCategoryValue>,
}

impl TryFrom<CreateProductInput> for NewProduct {
    type Error = Error;
    fn try_from(input: CreateProductInput) -> Result<Self> {
        let variants = input
            .variants
            .into_iter()
            .map(|v| {
                Ok(NewVariant {
                    sku: domain(Sku::parse(&v.sku))?,
                    name: domain(ProductName::parse(&v.name))?,
                    attributes: parse_attributes(v.attributes)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(NewProduct {
            name: domain(ProductName::parse(&input.name))?,
            description: domain(Description::parse(input.description.as_deref().unwrap_or_default()))?,
            category: domain(Category::parse(&input.category))?,
            attributes: parse_attributes(input.attributes)?,
            variants,
            price: (&input.price).try_into()?,
            tax_category: input.tax_category.map_or(TaxCategory::Standard, Into::into),
        })
    }
}

/// Fields to change; omitted fields keep their value.
#[derive(InputObject)]
pub struct UpdateProductInput {
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    /// Replaces all attributes.
    attributes: Option<Vec<AttributeInput>>,
    tax_category: Option<TaxCategoryValue>,
}

impl TryFrom<UpdateProductInput> for ProductUpdate {
    type Error = Error;
    fn try_from(input: UpdateProductInput) -> Result<Self> {
        Ok(ProductUpdate {
            name: input
                .name
                .as_deref()
                .map(ProductName::parse)
                .transpose()
                .map_err(error)?,
            description: input
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(error)?,
            category: input
                .category
                .as_deref()
                .map(Category::parse)
                .transpose()
                .map_err(error)?,
            attributes: input.attributes.map(|list| parse_attributes(Some(list))).transpose()?,
            tax_category: input.tax_category.map(Into::into),
        })
    }
}

kernel_infra::status_field!("productsStatus");

/// The subgraph's queries: the context's own and its status (staff).
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(CatalogQuery, StatusQuery);

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// One product by id; null when there is none. Only staff see a product that is
    /// not PUBLISHED.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProductObject>> {
        let id = parse_id(&id)?;
        // Tagged even when there is none (yet): its creation drops the answer.
        kernel_infra::cache::tag(ctx, crate::cache::product_tag(id));
        let product = load(ctx, id).await?;
        Ok(product.filter(|product| is_privileged(ctx) || product.0.state().status == ProductStatus::Published))
    }

    /// Products in creation order, as a Relay connection: the PUBLISHED ones, unless
    /// staff ask for another status.
    #[graphql(directive = kernel_infra::graphql::directives::list_size::apply(Some(kernel_infra::graphql::DEFAULT_PAGE_SIZE as i32), Some(vec!["first".into()]), Some(vec!["edges".into()]), None))]
    async fn products(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProductFilterInput>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<ProductConnection> {
        let limit = page_size(Some(first))?;
        let after = after
            .as_deref()
            .map(|c| cursor::decode(c).and_then(|key| parse_id(&ID(key))))
            .transpose()?;
        let mut filter = ProductFilter::try_from(filter.unwrap_or_default())?;
        if !is_privileged(ctx) {
            match filter.status {
                None | Some(ProductStatus::Published) => filter.status = Some(ProductStatus::Published),
                Some(_) => {
                    return Err(coded(
                        ErrorKind::Forbidden,
                        &"only staff may list products that are not PUBLISHED",
                    ));
                }
            }
        }
        let db = ctx.data_unchecked::<Catalog>().db();
        let mut products = repository::list(db, &filter, after, limit + 1)
            .await
            .map_err(internal)?;
        let has_next_page = products.len() as u64 > limit;
        products.truncate(limit as usize);
        kernel_infra::cache::tag(ctx, crate::cache::PRODUCT_LISTS);
        for product in &products {
            kernel_infra::cache::tag(ctx, crate::cache::product_tag(product.id()));
        }
        let edges: Vec<ProductEdge> = products
            .into_iter()
            .map(|p| ProductEdge {
                cursor: cursor::encode(&p.id().to_string()),
                node: ProductObject(Arc::new(p)),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: after.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(ProductConnection { edges, page_info })
    }

    /// The variant with this SKU; null when there is none. Only staff see a variant of a
    /// product that is not PUBLISHED.
    async fn variant(&self, ctx: &Context<'_>, sku: String) -> Result<Option<VariantObject>> {
        let variant = find_variant(ctx, &sku).await?;
        Ok(variant.filter(|variant| is_privileged(ctx) || variant.product.state().status == ProductStatus::Published))
    }

    /// The variants with these SKUs (at most 100), in the order asked; null for a SKU
    /// there is none of. Checkout prices a cart with it in one call.
    async fn variants_by_sku(&self, ctx: &Context<'_>, skus: Vec<String>) -> Result<Vec<Option<VariantObject>>> {
        if skus.len() > 100 {
            return Err(kernel_infra::graphql::bad_input("at most 100 SKUs at once"));
        }
        let mut variants = Vec::with_capacity(skus.len());
        for sku in &skus {
            variants.push(find_variant(ctx, sku).await?);
        }
        Ok(variants)
    }

    /// The tax rates staff set: every country's, or one country's.
    async fn tax_rates(&self, ctx: &Context<'_>, country: Option<String>) -> Result<Vec<TaxRateObject>> {
        let country = country.as_deref().map(CountryCode::parse).transpose().map_err(error)?;
        let rates = ctx.data_unchecked::<TaxRates>().list(country).await.map_err(error)?;
        Ok(rates.into_iter().map(TaxRateObject).collect())
    }

    /// The tax rates that apply at a place (a region of a country, e.g. a US state, or
    /// the whole country), one per tax category, and whether prices there include tax.
    /// Checkout taxes an order with the rates of its shipping address.
    async fn tax_rates_at(&self, ctx: &Context<'_>, country: String, region: Option<String>) -> Result<TaxRatesAt> {
        let country = CountryCode::parse(&country).map_err(error)?;
        let region = optional_region(region.as_deref())?;
        let at = ctx
            .data_unchecked::<TaxRates>()
            .at_place(country, region.as_ref())
            .await
            .map_err(error)?;
        Ok(TaxRatesAt::from(at))
    }

    #[graphql(entity)]
    async fn find_product_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProductObject>> {
        load(ctx, parse_id(&id)?).await
    }

    #[graphql(entity)]
    async fn find_variant_by_sku(&self, ctx: &Context<'_>, sku: String) -> Result<Option<VariantObject>> {
        find_variant(ctx, &sku).await
    }
}

async fn find_variant(ctx: &Context<'_>, sku: &str) -> Result<Option<VariantObject>> {
    let sku = domain(Sku::parse(sku))?;
    kernel_infra::cache::tag(ctx, crate::cache::variant_tag(&sku));
    let product = repository::find_by_sku(ctx.data_unchecked::<Catalog>().db(), &sku)
        .await
        .map_err(internal)?;
    Ok(product.and_then(|product| {
        kernel_infra::cache::tag(ctx, crate::cache::product_tag(product.id()));
        let index = product.state().variants.iter().position(|v| v.sku == sku)?;
        Some(VariantObject {
            product: Arc::new(product),
            index,
        })
    }))
}

pub struct Mutation;

/// A product a mutation changed, its tags named for the gateway's cache
/// (`kernel_infra::cache`): the caller reads the change at once.
fn changed(ctx: &Context<'_>, product: products_domain::Product) -> ProductObject {
    for tag in crate::cache::tags_of_product(&product) {
        kernel_infra::cache::tag(ctx, tag);
    }
    ProductObject(Arc::new(product))
}

/// A flash sale a mutation changed: its product's price may have changed with it.
async fn changed_sale(ctx: &Context<'_>, sale: FlashSale) -> FlashSaleObject {
    let tags = match load(ctx, sale.product_id).await {
        Ok(Some(product)) => crate::cache::tags_of_product(&product.0),
        _ => vec![
            crate::cache::product_tag(sale.product_id),
            crate::cache::PRODUCT_LISTS.to_owned(),
        ],
    };
    for tag in tags {
        kernel_infra::cache::tag(ctx, tag);
    }
    FlashSaleObject(sale)
}

#[Object]
impl Mutation {
    /// Adds a product in DRAFT.
    #[graphql(requires_scopes = "catalog:write")]
    async fn create_product(&self, ctx: &Context<'_>, input: CreateProductInput) -> Result<ProductObject> {
        require_role(ctx, Role::Admin)?;
        let command = NewProduct::try_from(input)?;
        let product = ctx
            .data_unchecked::<Catalog>()
            .create_product(command, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(changed(ctx, product))
    }

    #[graphql(requires_scopes = "catalog:write")]
    async fn update_product(&self, ctx: &Context<'_>, id: ID, input: UpdateProductInput) -> Result<ProductObject> {
        require_role(ctx, Role::Admin)?;
        let id = parse_id(&id)?;
        let update = ProductUpdate::try_from(input)?;
        let product = ctx
            .data_unchecked::<Catalog>()
            .update_product(id, update, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(changed(ctx, product))
    }

    /// Sets a new current price (same currency as the product); the old price stays in
    /// the history.
    #[graphql(requires_scopes = "catalog:write")]
    async fn change_price(&self, ctx: &Context<'_>, id: ID, price: MoneyInput) -> Result<ProductObject> {
        require_role(ctx, Role::Admin)?;
        let id = parse_id(&id)?;
        let price = (&price).try_into()?;
        let product = ctx
            .data_unchecked::<Catalog>()
            .change_price(id, price, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(changed(ctx, product))
    }

    /// Puts a published product on sale at a lower price from `startsAt` (now when
    /// omitted or past) until `endsAt`, at most 7 days later. While the sale runs the
    /// product's price is the sale price; afterwards its price comes back.
    #[graphql(requires_scopes = "catalog:write")]
    async fn schedule_flash_sale(&self, ctx: &Context<'_>, input: ScheduleFlashSaleInput) -> Result<FlashSaleObject> {
        require_role(ctx, Role::Admin)?;
        let product_id = parse_id(&input.product_id)?;
        let price = (&input.price).try_into()?;
        let sale = ctx
            .data_unchecked::<FlashSales>()
            .schedule(
                product_id,
                price,
                input.starts_at.unwrap_or_else(Utc::now),
                input.ends_at,
                &request_meta(ctx),
            )
            .await
            .map_err(error)?;
        Ok(changed_sale(ctx, sale).await)
    }

    /// Ends a flash sale now: a running one gives the product its price back, a
    /// scheduled one is canceled.
    #[graphql(requires_scopes = "catalog:write")]
    async fn end_flash_sale(&self, ctx: &Context<'_>, id: ID) -> Result<FlashSaleObject> {
        require_role(ctx, Role::Admin)?;
        let id = FlashSaleId::parse(&id).map_err(bad_input)?;
        let sale = ctx
            .data_unchecked::<FlashSales>()
            .end(id, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(changed_sale(ctx, sale).await)
    }

    /// Sets the rate of a tax category in a country, or in one region of it (a region's
    /// rate wins over its country's); replaces the rate there was.
    #[graphql(requires_scopes = "catalog:write")]
    async fn set_tax_rate(&self, ctx: &Context<'_>, input: SetTaxRateInput) -> Result<TaxRateObject> {
        require_role(ctx, Role::Admin)?;
        let entry = TaxRateEntry::new(
            CountryCode::parse(&input.country).map_err(error)?,
            optional_region(input.region.as_deref())?,
            input.category.into(),
            TaxRate::parse_percent(&input.percent).map_err(error)?,
        )
        .map_err(error)?;
        ctx.data_unchecked::<TaxRates>().set(&entry).await.map_err(error)?;
        Ok(TaxRateObject(entry))
    }

    /// Removes a rate; false when there was none. The place then takes its country's
    /// rate (for a region), or charges no tax in that category.
    #[graphql(requires_scopes = "catalog:write")]
    async fn remove_tax_rate(
        &self,
        ctx: &Context<'_>,
        country: String,
        region: Option<String>,
        category: TaxCategoryValue,
    ) -> Result<bool> {
        require_role(ctx, Role::Admin)?;
        let country = CountryCode::parse(&country).map_err(error)?;
        let region = optional_region(region.as_deref())?;
        ctx.data_unchecked::<TaxRates>()
            .remove(country, region.as_ref(), category.into())
            .await
            .map_err(error)
    }

    /// Says whether the shop's prices in a country include tax (they do not until
    /// staff say so). Answers the rates that now apply across the country.
    #[graphql(requires_scopes = "catalog:write")]
    async fn set_prices_include_tax(&self, ctx: &Context<'_>, country: String, included: bool) -> Result<TaxRatesAt> {
        require_role(ctx, Role::Admin)?;
        let country = CountryCode::parse(&country).map_err(error)?;
        let rates = ctx.data_unchecked::<TaxRates>();
        rates.set_prices_include_tax(country, included).await.map_err(error)?;
        Ok(TaxRatesAt::from(rates.at_place(country, None).await.map_err(error)?))
    }

    #[graphql(requires_scopes = "catalog:write")]
    async fn publish_product(&self, ctx: &Context<'_>, id: ID) -> Result<ProductObject> {
        require_role(ctx, Role::Admin)?;
        let product = ctx
            .data_unchecked::<Catalog>()
            .publish(parse_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(changed(ctx, product))
    }

    #[graphql(requires_scopes = "catalog:write")]
    async fn unpublish_product(&self, ctx: &Context<'_>, id: ID) -> Result<ProductObject> {
        require_role(ctx, Role::Admin)?;
        let product = ctx
            .data_unchecked::<Catalog>()
            .unpublish(parse_id(&id)?, &request_meta(ctx))
            .await
            .map_err(error)?;
        Ok(changed(ctx, product))
    }
}

#[derive(InputObject)]
pub struct ScheduleFlashSaleInput {
    product_id: ID,
    /// The sale price: below the product's price, in its currency.
    price: MoneyInput,
    /// Now when omitted.
    starts_at: Option<DateTime<Utc>>,
    ends_at: DateTime<Utc>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "FlashSaleStatus")]
pub enum FlashSaleStatusValue {
    Scheduled,
    Active,
    Ended,
    /// Ended before it started.
    Canceled,
}

impl From<FlashSaleStatus> for FlashSaleStatusValue {
    fn from(status: FlashSaleStatus) -> Self {
        match status {
            FlashSaleStatus::Scheduled => Self::Scheduled,
            FlashSaleStatus::Active => Self::Active,
            FlashSaleStatus::Ended => Self::Ended,
            FlashSaleStatus::Canceled => Self::Canceled,
        }
    }
}

pub struct FlashSaleObject(pub FlashSale);

/// A timed sale price of one product.
#[Object(name = "FlashSale")]
impl FlashSaleObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn product(&self, ctx: &Context<'_>) -> Result<Option<ProductObject>> {
        load(ctx, self.0.product_id).await
    }
    /// The sale price.
    async fn price(&self) -> MoneyObject {
        self.0.price.into()
    }
    /// The price the product had when the sale started, and gets back when it ends.
    async fn regular_price(&self) -> Option<MoneyObject> {
        self.0.regular_price.map(Into::into)
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
    async fn status(&self) -> FlashSaleStatusValue {
        self.0.status.into()
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "TaxCategory")]
pub enum TaxCategoryValue {
    /// Most goods.
    Standard,
    /// Goods a place taxes less (food, books, medicine in many countries).
    Reduced,
    /// Goods a place does not tax.
    Zero,
}

impl From<TaxCategory> for TaxCategoryValue {
    fn from(category: TaxCategory) -> Self {
        match category {
            TaxCategory::Standard => Self::Standard,
            TaxCategory::Reduced => Self::Reduced,
            TaxCategory::Zero => Self::Zero,
        }
    }
}

impl From<TaxCategoryValue> for TaxCategory {
    fn from(category: TaxCategoryValue) -> Self {
        match category {
            TaxCategoryValue::Standard => Self::Standard,
            TaxCategoryValue::Reduced => Self::Reduced,
            TaxCategoryValue::Zero => Self::Zero,
        }
    }
}

fn optional_region(region: Option<&str>) -> Result<Option<Region>> {
    match region.map(str::trim) {
        None | Some("") => Ok(None),
        Some(region) => Region::parse(region).map(Some).map_err(error),
    }
}

#[derive(InputObject)]
pub struct SetTaxRateInput {
    /// ISO 3166-1 alpha-2.
    country: String,
    /// A region as addresses name it (`CA`, `ON`); the whole country when omitted.
    region: Option<String>,
    category: TaxCategoryValue,
    /// A percentage from 0 to 100 with at most four decimals, e.g. `19` or `8.875`.
    percent: String,
}

pub struct TaxRateObject(TaxRateEntry);

/// The rate of a tax category in a country, or in one region of it.
#[Object(name = "TaxRate")]
impl TaxRateObject {
    async fn country(&self) -> &str {
        self.0.country.as_str()
    }
    /// Null for the whole country.
    async fn region(&self) -> Option<&str> {
        self.0.region.as_ref().map(Region::as_str)
    }
    async fn category(&self) -> TaxCategoryValue {
        self.0.category.into()
    }
    /// A percentage, exact: `19`, `8.875`.
    async fn percent(&self) -> String {
        self.0.rate.percent()
    }
}

/// One category's rate at a place.
#[derive(SimpleObject)]
pub struct CategoryRate {
    category: TaxCategoryValue,
    /// A percentage, exact: `19`, `8.875`.
    percent: String,
}

/// The rates that apply at a place, one per category.
#[derive(SimpleObject)]
pub struct TaxRatesAt {
    /// Whether the shop's prices there include tax.
    prices_include_tax: bool,
    rates: Vec<CategoryRate>,
}

impl From<RatesAtPlace> for TaxRatesAt {
    fn from(at: RatesAtPlace) -> Self {
        Self {
            prices_include_tax: at.prices_include_tax,
            rates: at
                .rates
                .into_iter()
                .map(|(category, rate)| CategoryRate {
                    category: category.into(),
                    percent: rate.percent(),
                })
                .collect(),
        }
    }
}
