//! The gateway's response cache (gateway/src/plugins/response_cache.rs): answers are
//! shared only when public, and a change reaches every reader at once through this
//! gateway (its mutation drops what it changed) or within the events' lag through any
//! other (the subgraphs' invalidation streams).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::TestPlatform;
use crate::platform_of_processes::post;
use crate::shop::{Customer, add_to_cart, new_product, ok, stocked_product};

const PRODUCT_PAGE: &str = "query($id: ID!) { product(id: $id) { id name price { amount } inventory { available } } }";

/// One read of the product page: when it started, and the version of the price and of
/// the stock it showed.
struct Read {
    started: Instant,
    price: i64,
    available: i64,
}

/// The gateway's count of lookups with `outcome` (hit, miss, bypass).
async fn lookups(platform: &TestPlatform, outcome: &str) -> u64 {
    let text = platform
        .client()
        .get(format!("{}/metrics", platform.metrics_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("gateway_cache_lookups") && line.contains(&format!("outcome=\"{outcome}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// Readers loop over a product page while an admin changes its price and stock, in
/// turns through this gateway and through another. Every value read was once true;
/// a read that starts after a change through this gateway returned shows it; a change
/// through the other gateway reaches this one's readers by its event, within a bound
/// that is measured and printed (and checked to be far below the safety-net TTL).
#[tokio::test]
async fn readers_never_see_a_change_late_or_a_value_that_was_never_true() {
    let platform = TestPlatform::start().await;
    let id = stocked_product(&platform, "CACHE-STALE-1", 1000, 100).await;
    let other = platform.another_gateway(str::to_owned, &[]).await;
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
        if *through_this {
            assert_eq!(last_stale, None, "change {k} through this gateway was read late");
        } else {
            lags.push(last_stale.unwrap_or(Duration::ZERO));
        }
    }
    lags.sort();
    let (p50, p99) = (percentile(&lags, 0.5), percentile(&lags, 0.99));
    eprintln!(
        "staleness through another gateway's changes (events): p50 {p50:?}, p99 {p99:?} over {} changes, {} reads",
        lags.len(),
        reads.len()
    );
    assert!(
        p99 < Duration::from_secs(3),
        "a change took {p99:?} to reach the cache's readers"
    );
    platform.stop().await;
}

/// What depends on the caller is never shared: one customer's cart is not served to
/// another while both share a product's public answer, and staff's view of a draft product
/// reaches no customer, nor a customer's cached "none" staff.
#[tokio::test]
async fn answers_that_depend_on_the_caller_are_never_shared() {
    let platform = TestPlatform::start().await;
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
