//! The gateway's response cache (gateway/src/plugins/response_cache/): answers are
//! shared only when public, and a change reaches every reader at once through this
//! gateway (its mutation drops what it changed) or, kept in memory, within the events'
//! lag through any other (the subgraphs' invalidation streams); kept in Redis, at once
//! through any gateway. Each test runs with the cache in memory and in Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::platform_of_processes::{self, eventually, post};
use crate::shop::{Customer, add_to_cart, change_price, new_product, ok, stocked_product};
use crate::{GatewaySetup, TestPlatform};

const PRODUCT_PAGE: &str = "query($id: ID!) { product(id: $id) { id name price { amount } inventory { available } } }";

/// One read of the product page: when it started, and the version of the price and of
/// the stock it showed.
struct Read {
    started: Instant,
    price: i64,
    available: i64,
}

/// Gateways that keep the cache in Redis, under a prefix of the test's own; `None`
/// when Redis does not answer (and CI does not require it).
async fn in_redis() -> Option<GatewaySetup> {
    in_redis_at(&kernel_infra::testing::redis_url().await?)
}

/// Deletes the keys the test's cache left in Redis.
async fn forget(setup: &GatewaySetup) {
    let url = &setup.env[0].1;
    let prefix = setup.response_cache[0]
        .trim_start_matches("redis_prefix: \"")
        .trim_end_matches('"')
        .trim_end_matches(':');
    kernel_infra::testing::remove_redis_keys(url, prefix).await;
}

fn in_redis_at(url: &str) -> Option<GatewaySetup> {
    Some(GatewaySetup {
        response_cache: vec![format!(
            "redis_prefix: \"cache-test-{}:\"",
            uuid::Uuid::now_v7().simple()
        )],
        env: vec![("RESPONSE_CACHE_REDIS_URL".into(), url.to_owned())],
    })
}

/// The sum of the gateway's metric lines that start with `name` and hold `label`.
async fn metric(platform: &TestPlatform, metrics_url: &str, name: &str, label: &str) -> u64 {
    platform_of_processes::metric(platform.client(), metrics_url, name, label).await
}

/// The gateway's count of lookups with `outcome` (hit, miss, bypass).
async fn lookups(platform: &TestPlatform, outcome: &str) -> u64 {
    metric(
        platform,
        &platform.metrics_url,
        "gateway_cache_lookups",
        &format!("outcome=\"{outcome}\""),
    )
    .await
}

/// What the gateway's readiness probe says of its cache (`x-response-cache`).
async fn cache_readiness(platform: &TestPlatform) -> String {
    let response = platform
        .client()
        .get(format!("{}/readiness", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the gateway stays ready whatever its cache's state"
    );
    response
        .headers()
        .get("x-response-cache")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

#[tokio::test]
async fn readers_never_see_a_change_late_or_a_value_that_was_never_true() {
    readers_never_see_a_change_late(GatewaySetup::default(), false).await;
}

#[tokio::test]
async fn readers_never_see_a_change_late_or_a_value_that_was_never_true_in_redis() {
    if let Some(setup) = in_redis().await {
        readers_never_see_a_change_late(setup.clone(), true).await;
        forget(&setup).await;
    }
}

/// Readers loop over a product page while an admin changes its price and stock, in
/// turns through this gateway and through another. Every value read was once true;
/// a read that starts after a change through this gateway returned shows it, and so
/// does one after a change through the other when the two share the cache (`shared`,
/// in Redis); otherwise the change reaches this one's readers by its event, within a
/// bound that is measured and printed (and checked to be far below the safety-net TTL).
async fn readers_never_see_a_change_late(setup: GatewaySetup, shared: bool) {
    let platform = TestPlatform::start_with_gateway(&setup).await;
    let id = stocked_product(&platform, "CACHE-STALE-1", 1000, 100).await;
    let other = platform
        .another_gateway(|config| setup.edit(config), &setup.env())
        .await;
    if shared {
        assert_eq!(cache_readiness(&platform).await, "in use (redis)");
    }
    let admin = platform.admin_token();

    // Warm: the second read is served from the cache.
    let hits_before = lookups(&platform, "hit").await;
    for _ in 0..3 {
        let (status, body) = platform.post(PRODUCT_PAGE, json!({ "id": id })).await;
        assert!(status == 200 && body["errors"].is_null(), "{body}");
    }
    assert!(
        lookups(&platform, "hit").await > hits_before,
        "the product page is served from the cache"
    );

    let reads = Arc::new(Mutex::new(Vec::<Read>::new()));
    let stop = kernel_infra::CancellationToken::new();
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (client, url, id, reads, stop) = (
            platform.client().clone(),
            platform.url.clone(),
            id.clone(),
            reads.clone(),
            stop.clone(),
        );
        readers.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let started = Instant::now();
                let body = post(&client, &url, "", PRODUCT_PAGE, json!({ "id": id })).await;
                let product = &body["data"]["product"];
                assert!(body["errors"].is_null(), "{body}");
                reads.lock().await.push(Read {
                    started,
                    price: product["price"]["amount"].as_i64().unwrap(),
                    available: product["inventory"]["available"].as_i64().unwrap(),
                });
            }
        }));
    }

    // Change k: the price becomes 1000 + 10k and the stock 100 - k; odd changes through
    // this gateway, even ones through the other.
    const CHANGES: i64 = 16;
    let mut returned: Vec<(i64, Instant, bool)> = Vec::new();
    for k in 1..=CHANGES {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let through_this = k % 2 == 1;
        let gateway = if through_this { &platform.url } else { &other.url };
        let body = post(
            platform.client(),
            gateway,
            &admin,
            "mutation($id: ID!, $amount: Long!) { changePrice(id: $id, price: { amount: $amount, currency: \"USD\" }) { id price { amount } } }",
            json!({ "id": id, "amount": 1000 + 10 * k }),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
        let body = post(
            platform.client(),
            gateway,
            &admin,
            r#"mutation($sku: String!) { adjustStock(sku: $sku, delta: -1, reason: "count") { sku } }"#,
            json!({ "sku": "CACHE-STALE-1" }),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
        returned.push((k, Instant::now(), through_this));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    for reader in readers {
        reader.await.unwrap();
    }
    let reads = reads.lock().await;
    assert!(reads.len() > 100, "the readers read {} times", reads.len());

    // Never a value that was never true, and price and stock of the same change or
    // of neighbouring ones.
    for read in reads.iter() {
        let price_version = (read.price - 1000) / 10;
        let stock_version = 100 - read.available;
        assert!(
            (read.price - 1000) % 10 == 0 && (0..=CHANGES).contains(&price_version),
            "a price never set: {}",
            read.price
        );
        assert!(
            (0..=CHANGES).contains(&stock_version),
            "a stock level never true: {}",
            read.available
        );
    }

    // Through this gateway: every read that began after the change returned shows it.
    // Through the other: the lag until no read shows an older value.
    let mut lags = Vec::new();
    for (k, at, through_this) in &returned {
        let stale = reads
            .iter()
            .filter(|read| read.started > *at && ((read.price - 1000) / 10 < *k || 100 - read.available < *k));
        let last_stale = stale.map(|read| read.started - *at).max();
        if *through_this || shared {
            assert_eq!(
                last_stale, None,
                "change {k} through this gateway or a shared cache was read late"
            );
        } else {
            lags.push(last_stale.unwrap_or(Duration::ZERO));
        }
    }
    lags.sort();
    let (p50, p99) = (percentile(&lags, 0.5), percentile(&lags, 0.99));
    if shared {
        eprintln!(
            "shared cache: all {CHANGES} changes read at once through either gateway, over {} reads",
            reads.len()
        );
    } else {
        eprintln!(
            "staleness through another gateway's changes (events): p50 {p50:?}, p99 {p99:?} over {} changes, {} reads",
            lags.len(),
            reads.len()
        );
    }
    assert!(
        p99 < Duration::from_secs(3),
        "a change took {p99:?} to reach the cache's readers"
    );
    platform.stop().await;
}

#[tokio::test]
async fn answers_that_depend_on_the_caller_are_never_shared() {
    answers_that_depend_on_the_caller_are_not_shared(GatewaySetup::default()).await;
}

#[tokio::test]
async fn answers_that_depend_on_the_caller_are_never_shared_in_redis() {
    if let Some(setup) = in_redis().await {
        answers_that_depend_on_the_caller_are_not_shared(setup.clone()).await;
        forget(&setup).await;
    }
}

/// What depends on the caller is never shared: one customer's cart is not served to
/// another while both share a product's public answer, and staff's view of a draft product
/// reaches no customer, nor a customer's cached "none" staff.
async fn answers_that_depend_on_the_caller_are_not_shared(setup: GatewaySetup) {
    let platform = TestPlatform::start_with_gateway(&setup).await;
    let shared = stocked_product(&platform, "CACHE-PRIV-1", 1500, 10).await;
    stocked_product(&platform, "CACHE-PRIV-2", 2500, 10).await;
    let (ann, bob) = (Customer::new(), Customer::new());
    add_to_cart(&platform, &ann, "CACHE-PRIV-1", 1).await;
    add_to_cart(&platform, &bob, "CACHE-PRIV-2", 2).await;
    let my_cart = "{ myCart { items { sku name quantity } } }";
    for _ in 0..3 {
        for (customer, sku, quantity) in [(&ann, "CACHE-PRIV-1", 1), (&bob, "CACHE-PRIV-2", 2)] {
            let data = ok(&platform, &customer.token, my_cart, json!({})).await;
            let items = data["myCart"]["items"].as_array().unwrap();
            assert_eq!(items.len(), 1, "{data}");
            assert_eq!(items[0]["sku"], sku, "{data}");
            assert_eq!(items[0]["quantity"], quantity, "{data}");
            assert_eq!(items[0]["name"], format!("Product {sku} – Standard"), "{data}");
        }
    }
    // Both customers share the product's public answer meanwhile.
    let hits_before = lookups(&platform, "hit").await;
    for customer in [&ann, &bob, &ann] {
        let data = ok(&platform, &customer.token, PRODUCT_PAGE, json!({ "id": shared })).await;
        assert_eq!(data["product"]["price"]["amount"], 1500, "{data}");
    }
    assert!(
        lookups(&platform, "hit").await > hits_before,
        "customers share the product's answer"
    );

    let draft = new_product(&platform, "Secret", "electronics/phones", 999, "CACHE-DRAFT-1", true).await;
    let read = |token: Option<String>| {
        let platform = &platform;
        let draft = draft.clone();
        async move {
            let (_, body) = platform
                .post_as(
                    token.as_deref(),
                    "query($id: ID!) { product(id: $id) { name } }",
                    json!({ "id": draft }),
                )
                .await;
            body["data"]["product"].clone()
        }
    };
    for _ in 0..2 {
        assert_eq!(read(None).await, Value::Null, "customers do not see a draft");
        assert_eq!(read(Some(platform.admin_token())).await["name"], "Secret", "staff do");
        assert_eq!(
            read(Some(ann.token.clone())).await,
            Value::Null,
            "customers do not see a draft"
        );
    }
    // Published through the gateway: every customer sees it at once.
    ok(
        &platform,
        &platform.admin_token(),
        "mutation($id: ID!) { publishProduct(id: $id) { id } }",
        json!({ "id": draft }),
    )
    .await;
    assert_eq!(read(None).await["name"], "Secret");
    platform.stop().await;
}

/// A Redis of the test's own (Debian's `redis-server`), on a port of its own, that the
/// test stops and starts again.
struct OwnRedis {
    port: u16,
    process: Option<std::process::Child>,
}

impl OwnRedis {
    /// `None` when there is no `redis-server` here (and CI does not require Redis).
    async fn start() -> Option<Self> {
        let mut redis = Self {
            port: crate::free_port(),
            process: None,
        };
        redis.restart().await.then_some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) -> bool {
        let spawned = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(process) => self.process = Some(process),
            Err(err) => {
                assert!(
                    std::env::var("REQUIRE_REDIS").as_deref() != Ok("1"),
                    "Redis is required and redis-server does not start: {err}"
                );
                eprintln!("no redis-server here; skipping");
                return false;
            }
        }
        let address = format!("127.0.0.1:{}", self.port);
        eventually("the test's Redis listens", || async {
            tokio::net::TcpStream::connect(&address).await.is_ok()
        })
        .await;
        true
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// While the cache's Redis is down, the gateway serves every read from the subgraphs,
/// without an error and with every change, and says so in its readiness probe and its
/// metrics; when Redis is back, the cache is used again, and nothing it held before
/// is served.
#[tokio::test]
async fn while_its_redis_is_down_the_cache_is_bypassed_and_nothing_stale_is_served() {
    let Some(mut redis) = OwnRedis::start().await else {
        return;
    };
    let setup = in_redis_at(&redis.url()).unwrap();
    let platform = TestPlatform::start_with_gateway(&setup).await;
    let id = stocked_product(&platform, "CACHE-DOWN-1", 1000, 10).await;
    eventually("the cache is in use", || async {
        cache_readiness(&platform).await == "in use (redis)"
    })
    .await;
    let price = || async {
        let (status, body) = platform.post(PRODUCT_PAGE, json!({ "id": id })).await;
        assert!(status == 200 && body["errors"].is_null(), "{status}: {body}");
        body["data"]["product"]["price"]["amount"].as_i64().unwrap()
    };
    let hits = lookups(&platform, "hit").await;
    for _ in 0..3 {
        assert_eq!(price().await, 1000);
    }
    assert!(lookups(&platform, "hit").await > hits, "the page is served from Redis");

    redis.stop();
    for _ in 0..3 {
        assert_eq!(price().await, 1000, "served from the subgraphs");
    }
    assert_eq!(cache_readiness(&platform).await, "bypassed: its store does not answer");
    let available = metric(
        &platform,
        &platform.metrics_url,
        "gateway_cache_store_available",
        "store=\"redis\"",
    );
    assert_eq!(available.await, 0);
    change_price(&platform, &id, 1100).await;
    assert_eq!(price().await, 1100, "a change while Redis is down is read at once");

    assert!(redis.restart().await);
    eventually("the cache is in use again", || async {
        cache_readiness(&platform).await == "in use (redis)"
    })
    .await;
    let hits = lookups(&platform, "hit").await;
    for _ in 0..3 {
        assert_eq!(price().await, 1100);
    }
    assert!(
        lookups(&platform, "hit").await > hits,
        "the page is served from Redis again"
    );
    platform.stop().await;
}

/// A listing's `Product.inventory` and `Variant.inventory` go to Inventory in one
/// request (the router batches the two entity lists): it is cached per entity all the
/// same, and a stock change of one SKU shows at once while the rest stays cached.
#[tokio::test]
async fn a_listing_whose_entity_lists_are_batched_is_cached_per_entity() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "CACHE-BATCH-1", 1000, 10).await;
    stocked_product(&platform, "CACHE-BATCH-2", 1000, 20).await;
    let customer = Customer::new();
    let listing = "{ products(first: 20) { edges { node { id inventory { available } variants { sku inventory { available } } } } } }";
    let available = |data: &Value| -> Vec<(String, i64)> {
        let mut found: Vec<(String, i64)> = data["products"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|edge| edge["node"]["variants"].as_array().unwrap().clone())
            .map(|variant| {
                (
                    variant["sku"].as_str().unwrap().to_owned(),
                    variant["inventory"]["available"].as_i64().unwrap(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let uncached = metric(
        &platform,
        &platform.metrics_url,
        "gateway_cache_lookups",
        "outcome=\"uncached\"",
    );
    let uncached = uncached.await;
    let variant_hits = || {
        metric(
            &platform,
            &platform.metrics_url,
            "gateway_cache_lookups",
            "type=\"Variant\"",
        )
    };
    let first = ok(&platform, &customer.token, listing, json!({})).await;
    let hits_before = lookups(&platform, "hit").await;
    let variants_before = variant_hits().await;
    for _ in 0..2 {
        assert_eq!(
            available(&ok(&platform, &customer.token, listing, json!({})).await),
            available(&first)
        );
    }
    assert!(
        lookups(&platform, "hit").await > hits_before,
        "the listing is served from the cache"
    );
    assert!(
        variant_hits().await > variants_before,
        "variants are looked up one by one"
    );
    let after = metric(
        &platform,
        &platform.metrics_url,
        "gateway_cache_lookups",
        "outcome=\"uncached\"",
    );
    assert_eq!(after.await, uncached, "no request went uncached");
    assert_eq!(
        available(&first),
        vec![("CACHE-BATCH-1".to_owned(), 10), ("CACHE-BATCH-2".to_owned(), 20)]
    );

    ok(
        &platform,
        &platform.admin_token(),
        r#"mutation { adjustStock(sku: "CACHE-BATCH-2", delta: -5, reason: "count") { sku } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        available(&ok(&platform, &customer.token, listing, json!({})).await),
        vec![("CACHE-BATCH-1".to_owned(), 10), ("CACHE-BATCH-2".to_owned(), 15)]
    );
    platform.stop().await;
}
