//! Loads the stock of every `_entities` representation before execution, in one SQL
//! query per entity type, so resolving N representations never costs N queries (nor
//! depends on a DataLoader's batching window).
//!
//! The gateway sends representations as a variable; the extension reads each variable
//! that is a list of `{ __typename, … }` objects. Anything it did not prefetch is left
//! to the DataLoaders.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{Request, ServerError, ServerResult, Value};
use inventory_domain::StockItem;
use sea_orm::DatabaseConnection;

use crate::repository::{self, Totals};

/// Stock loaded for this request's representations.
#[derive(Default)]
pub struct Prefetched {
    skus: HashSet<String>,
    items: HashMap<String, StockItem>,
    products: HashSet<uuid::Uuid>,
    totals: HashMap<uuid::Uuid, Totals>,
}

impl Prefetched {
    /// `Some` when the SKU was prefetched (`Some(None)`: it has no stock item).
    pub fn item(&self, sku: &str) -> Option<Option<&StockItem>> {
        self.skus.contains(sku).then(|| self.items.get(sku))
    }

    pub fn totals(&self, product_id: &uuid::Uuid) -> Option<Totals> {
        self.products
            .contains(product_id)
            .then(|| self.totals.get(product_id).copied().unwrap_or_default())
    }
}

pub struct PrefetchStock(pub DatabaseConnection);

impl ExtensionFactory for PrefetchStock {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PrefetchStockExtension(self.0.clone()))
    }
}

struct PrefetchStockExtension(DatabaseConnection);

#[async_trait::async_trait]
impl Extension for PrefetchStockExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = next.run(ctx, request).await?;
        let (mut skus, mut products) = (HashSet::new(), HashSet::new());
        for value in request.variables.values() {
            let Value::List(list) = value else { continue };
            for representation in list {
                let Value::Object(fields) = representation else {
                    continue;
                };
                match (fields.get("__typename"), fields.get("sku"), fields.get("id")) {
                    (Some(Value::String(t)), Some(Value::String(sku)), _) if t == "Variant" => {
                        skus.insert(sku.clone());
                    }
                    (Some(Value::String(t)), _, Some(Value::String(id))) if t == "Product" => {
                        if let Ok(id) = uuid::Uuid::try_parse(id) {
                            products.insert(id);
                        }
                    }
                    _ => {}
                }
            }
        }
        if skus.is_empty() && products.is_empty() {
            return Ok(request);
        }
        let internal = |err: anyhow::Error| {
            tracing::error!(error = %err, "prefetching stock failed");
            ServerError::new("internal error", None)
        };
        let mut prefetched = Prefetched::default();
        if !skus.is_empty() {
            let list: Vec<String> = skus.iter().cloned().collect();
            prefetched.items = repository::items(&self.0, &list).await.map_err(internal)?;
            prefetched.skus = skus;
        }
        if !products.is_empty() {
            let list: Vec<uuid::Uuid> = products.iter().copied().collect();
            prefetched.totals = repository::product_totals(&self.0, &list).await.map_err(internal)?;
            prefetched.products = products;
        }
        Ok(request.data(prefetched))
    }
}
