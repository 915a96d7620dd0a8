//! Checkout through the gateway on PostgreSQL.
//!
//! `cargo bench -p platform --bench checkout` starts the whole platform on fresh
//! PostgreSQL databases (`TEST_POSTGRES_URL`, default the local server), the gateway as
//! its own process, and `BENCH_SKUS` catalog items (default 1) with ample stock; every
//! checkout is a different customer's one-item cart, the SKUs taken in turn. With one
//! SKU every checkout locks the same stock row, as in a flash sale. Then:
//!
//! 1. a steady 25 and then 100 checkouts/s (open loop: requests start on schedule
//!    whether or not earlier ones finished) for `BENCH_SECONDS` (default 30) each:
//!    latency p50/p95/p99;
//! 2. closed loops of 8, 16 and 32 concurrent customers for `BENCH_LOOP_SECONDS`
//!    (default 15) each: the sustained checkouts/s and their latency.
//!
//! 3. with `BENCH_DELIVERY_ROUNDS=N` (default 0: left out), N rounds of two runs at a
//!    steady `BENCH_DELIVERY_RATE` (default 25/s) for `BENCH_DELIVERY_SECONDS` (default
//!    20) each, alternated (the first of a round swaps each round): checkouts without a
//!    delivery, and checkouts shipped to an address in Texas with a shipping method and
//!    the state's tax. Each run counts the machine's busy CPU time (`/proc/stat`, every
//!    process: the bench's subgraphs, the gateway, PostgreSQL) from its first request
//!    until its events are relayed, per completed checkout; run nothing else meanwhile.
//!
//! `BENCH_RATES=25,100` and `BENCH_LOOPS=8,16,32` choose the phases (the defaults),
//! `BENCH_POOL_SIZE` each context's PostgreSQL pool (8), and `BENCH_PG_SSLMODE` how
//! the contexts connect to PostgreSQL: `disable` (the default) as to a server on the
//! same host, where TLS over loopback protects nothing; `prefer` or `require` to
//! measure with TLS.
//!
//! `TEST_POSTGRES_URL` names the server (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! over TCP); `postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres` reaches the same
//! server through its Unix socket.
//!
//! It prints a Markdown table for docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly
#![recursion_limit = "256"]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kernel::{EventMeta, Identity, Role};
use kernel_infra::CancellationToken;
use kernel_infra::identity::TokenIssuer;
use kernel_infra::testing::TestDatabase;
use serde_json::json;

#[path = "../tests/support/platform_of_processes.rs"]
mod platform_of_processes;

use platform_of_processes::{spawn_gateway, wait_until_ready};

const CHECKOUT: &str = r#"mutation($input: CheckoutInput!) { checkout(input: $input) { id status } }"#;

/// One mode's runs of the alternated comparison: every checkout's latency and whether it
/// completed, the time they took, and the machine's busy CPU seconds.
type Compared = (Vec<(Duration, bool)>, Duration, f64);

struct Shopper {
    token: String,
    cart_id: String,
}

// The allocator of the platform binary (mimalloc), so the subgraphs run here as they
// do in production.
#[global_allocator]
static GLOBAL: gateway::GlobalAllocator = gateway::GlobalAllocator;

#[tokio::main]
async fn main() {
    let env_number =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let seconds = env_number("BENCH_SECONDS", 30);
    let loop_seconds = env_number("BENCH_LOOP_SECONDS", 15);
    let env_list = |name: &str, default: &[usize]| -> Vec<usize> {
        std::env::var(name).map_or_else(
            |_| default.to_vec(),
            |s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        )
    };
    let rates = env_list("BENCH_RATES", &[25, 100]);
    let loops = env_list("BENCH_LOOPS", &[8, 16, 32]);
    let delivery_rounds = env_number("BENCH_DELIVERY_ROUNDS", 0) as usize;
    let delivery_rate = env_number("BENCH_DELIVERY_RATE", 25) as usize;
    let delivery_seconds = env_number("BENCH_DELIVERY_SECONDS", 20) as usize;
    // Eleven pools of 8 fit PostgreSQL's 100 connections with room for the bench.
    let pool_size = env_number("BENCH_POOL_SIZE", 8);
    let sku_count = env_number("BENCH_SKUS", 1).max(1);
    let ssl_mode = std::env::var("BENCH_PG_SSLMODE").unwrap_or_else(|_| "disable".into());
    let mut databases = Vec::new();
    let mut config = platform::default_config();
    // Files kept outside the databases (customers' e-mails) stay out of the clone.
    config.set_data_dir(&std::env::temp_dir().join("ecommerce-bench-data"));
    for name in platform::CONTEXTS.map(|spec| spec.name) {
        let database = TestDatabase::postgres().await.expect("PostgreSQL must be reachable");
        config.place(
            name,
            &format!("{}?max_connections={pool_size}&sslmode={ssl_mode}", database.url),
        );
        databases.push(database);
    }
    let shutdown = CancellationToken::new();
    let running = platform::start(&config, &shutdown, &|_, router| router).await.unwrap();
    let dir = std::env::temp_dir().join(format!("checkout-bench-{}", uuid::Uuid::now_v7().simple()));
    let (mut gateway, base, _) = spawn_gateway(&dir, &running.endpoints, &str::to_owned, &[("LOG_LEVEL", "error")]);
    let endpoint = format!("{base}/graphql");
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    wait_until_ready(&client, &base).await;

    let contexts = &running.contexts;
    let skus: Vec<String> = (1..=sku_count).map(|n| format!("BENCH-{n}")).collect();
    prepare_stock(contexts, &skus).await;
    // Enough carts for every phase, the closed loops at up to 400 checkouts/s.
    let needed = rates.iter().sum::<usize>() * seconds as usize
        + loops.len() * 400 * loop_seconds as usize
        + delivery_rounds * 2 * delivery_rate * delivery_seconds;
    eprintln!("preparing {needed} carts");
    let shoppers = Arc::new(prepare_shoppers(contexts, &skus, needed).await);
    // The carts' events are relayed in the background: measure only once they are out.
    wait_for_empty_outboxes(contexts).await;

    let delivery = if delivery_rounds > 0 {
        Some(delivery_to_texas(&client, &endpoint).await)
    } else {
        None
    };

    let mut next = 0;
    let mut rows = Vec::new();
    // 1. Steady rates: 25/s (below saturation) and 100/s (the issue's bar).
    for &rate in &rates {
        wait_for_empty_outboxes(contexts).await;
        eprintln!("steady {rate}/s");
        let count = rate * seconds as usize;
        let batch = &shoppers[next..next + count];
        next += count;
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(count);
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate as u32);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for (i, shopper) in batch.iter().enumerate() {
            ticker.tick().await;
            let (client, endpoint) = (client.clone(), endpoint.clone());
            let (token, cart) = (shopper.token.clone(), shopper.cart_id.clone());
            tasks.push(tokio::spawn(async move {
                checkout(&client, &endpoint, &token, &cart, &format!("steady-{rate}-{i}"), None).await
            }));
        }
        let mut results = Vec::with_capacity(count);
        for task in tasks {
            results.push(task.await.unwrap());
        }
        rows.push(row(
            &format!("steady {rate}/s (open loop)"),
            &results,
            started.elapsed(),
        ));
    }

    // 2. Closed loops.
    for &concurrency in &loops {
        wait_for_empty_outboxes(contexts).await;
        eprintln!("closed loop, {concurrency} concurrent");
        let started = Instant::now();
        let deadline = started + Duration::from_secs(loop_seconds);
        let pool = Arc::new(std::sync::Mutex::new(next..shoppers.len()));
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (client, endpoint, shoppers, pool) = (client.clone(), endpoint.clone(), shoppers.clone(), pool.clone());
            workers.push(tokio::spawn(async move {
                let mut results = Vec::new();
                while Instant::now() < deadline {
                    let Some(i) = pool.lock().unwrap().next() else { break };
                    let shopper = &shoppers[i];
                    results.push(
                        checkout(
                            &client,
                            &endpoint,
                            &shopper.token,
                            &shopper.cart_id,
                            &format!("loop-{i}"),
                            None,
                        )
                        .await,
                    );
                }
                results
            }));
        }
        let mut results = Vec::new();
        for worker in workers {
            results.extend(worker.await.unwrap());
        }
        next = pool.lock().unwrap().next().unwrap_or(shoppers.len());
        rows.push(row(
            &format!("closed loop, {concurrency} concurrent"),
            &results,
            started.elapsed(),
        ));
    }

    // 3. Without and with a delivery and tax, alternated.
    let mut compared: [Compared; 2] = Default::default();
    for round in 0..delivery_rounds {
        for turn in 0..2 {
            // Round 0: plain first; round 1: with delivery first; and so on.
            let with_delivery = (turn + round) % 2 == 1;
            wait_for_empty_outboxes(contexts).await;
            eprintln!("round {round}: steady {delivery_rate}/s, delivery {with_delivery}");
            let count = delivery_rate * delivery_seconds;
            let batch = &shoppers[next..next + count];
            next += count;
            let busy_before = busy_cpu_seconds();
            let started = Instant::now();
            let mut tasks = Vec::with_capacity(count);
            let mut ticker = tokio::time::interval(Duration::from_secs(1) / delivery_rate as u32);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for (i, shopper) in batch.iter().enumerate() {
                ticker.tick().await;
                let (client, endpoint) = (client.clone(), endpoint.clone());
                let (token, cart) = (shopper.token.clone(), shopper.cart_id.clone());
                let delivery = delivery.clone().filter(|_| with_delivery);
                tasks.push(tokio::spawn(async move {
                    let key = format!("compare-{round}-{turn}-{i}");
                    checkout(&client, &endpoint, &token, &cart, &key, delivery.as_ref()).await
                }));
            }
            let mut results = Vec::with_capacity(count);
            for task in tasks {
                results.push(task.await.unwrap());
            }
            let elapsed = started.elapsed();
            // The work the checkouts caused, relayed and consumed, counts too.
            wait_for_empty_outboxes(contexts).await;
            let busy = busy_cpu_seconds() - busy_before;
            let slot = &mut compared[usize::from(with_delivery)];
            slot.0.extend(results);
            slot.1 += elapsed;
            slot.2 += busy;
        }
    }

    println!("| run | checkouts | completed/s | p50 | p95 | p99 | not COMPLETED |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for line in rows {
        println!("{line}");
    }
    if delivery_rounds > 0 {
        println!();
        println!(
            "| checkout at {delivery_rate}/s, {delivery_rounds} rounds alternated | checkouts | p50 | p95 | CPU per checkout | not COMPLETED |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        let mut per_checkout = [0.0; 2];
        for (i, name) in ["without delivery", "with address, delivery and tax"]
            .iter()
            .enumerate()
        {
            let (results, _, busy) = &compared[i];
            let completed = results.iter().filter(|(_, ok)| *ok).count().max(1);
            per_checkout[i] = busy / completed as f64;
            let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
            latencies.sort();
            let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
            let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
            println!(
                "| {name} | {} | {} | {} | {:.1} ms | {} |",
                results.len(),
                ms(pick(0.50)),
                ms(pick(0.95)),
                per_checkout[i] * 1000.0,
                results.len() - results.iter().filter(|(_, ok)| *ok).count()
            );
        }
        println!();
        println!(
            "CPU per checkout with delivery and tax / without: {:.3}",
            per_checkout[1] / per_checkout[0]
        );
    }
    shutdown.cancel();
    let _ = gateway.kill().await;
    for database in databases {
        database.remove().await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The machine's busy CPU time so far, in seconds: every core's time that was not idle
/// or waiting for I/O (`/proc/stat`).
fn busy_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let total: f64 = fields.iter().take(8).sum();
    // user nice system idle iowait irq softirq steal, in USER_HZ (100 a second here).
    (total - fields[3] - fields[4]) / 100.0
}

/// Staff set up a shipping method to the US and Texas' tax rate; the `delivery` input
/// of a checkout shipped to Austin with that method.
async fn delivery_to_texas(client: &reqwest::Client, endpoint: &str) -> serde_json::Value {
    let admin = Identity {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Admin,
    };
    let token = TokenIssuer::access_tokens().unwrap().issue(&admin).unwrap().0;
    let post = |query: &'static str, variables: serde_json::Value| {
        let token = token.clone();
        async move {
            let body: serde_json::Value = client
                .post(endpoint)
                .header("authorization", format!("Bearer {token}"))
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let method = post(
        "mutation($input: ShippingMethodInput!) { createShippingMethod(input: $input) { id } }",
        json!({ "input": {
            "name": "Standard", "carrier": "UPS", "currency": "USD", "minDeliveryDays": 2, "maxDeliveryDays": 4,
            "zones": [{ "name": "Domestic", "countries": ["US"], "rates": [{ "price": 599 }] }]
        } }),
    )
    .await["createShippingMethod"]["id"]
        .clone();
    post(
        "mutation($input: SetTaxRateInput!) { setTaxRate(input: $input) { percent } }",
        json!({ "input": { "country": "US", "region": "TX", "category": "STANDARD", "percent": "8.25" } }),
    )
    .await;
    json!({
        "shippingAddress": { "address": {
            "name": "Bench Shopper", "line1": "1 Congress Ave", "city": "Austin", "region": "TX",
            "postalCode": "73301", "country": "US",
        } },
        "shippingMethodId": method,
    })
}

/// One checkout, shipped as `delivery` says when there is one: its latency and whether
/// it completed.
async fn checkout(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    cart: &str,
    key: &str,
    delivery: Option<&serde_json::Value>,
) -> (Duration, bool) {
    let started = Instant::now();
    let mut input = json!({ "input": { "cartId": cart, "paymentMethod": "card", "idempotencyKey": key } });
    if let Some(delivery) = delivery {
        input["input"]["delivery"] = delivery.clone();
    }
    let response = client
        .post(endpoint)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": CHECKOUT, "variables": input }))
        .send()
        .await;
    let completed = match response {
        Ok(response) => match response.json::<serde_json::Value>().await {
            Ok(body) if body["data"]["checkout"]["status"] == "COMPLETED" => true,
            Ok(body) => {
                report_once(&body.to_string());
                false
            }
            Err(err) => {
                report_once(&err.to_string());
                false
            }
        },
        Err(err) => {
            report_once(&err.to_string());
            false
        }
    };
    (started.elapsed(), completed)
}

/// Prints the first checkout that did not complete, so a broken run says why.
fn report_once(answer: &str) {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| eprintln!("a checkout did not complete: {answer}"));
}

fn row(name: &str, results: &[(Duration, bool)], elapsed: Duration) -> String {
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    let completed = results.iter().filter(|(_, ok)| *ok).count();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    format!(
        "| {name} | {} | {:.0} | {} | {} | {} | {} |",
        results.len(),
        completed as f64 / elapsed.as_secs_f64(),
        ms(pick(0.50)),
        ms(pick(0.95)),
        ms(pick(0.99)),
        results.len() - completed
    )
}

/// Waits until every context's outbox is published.
async fn wait_for_empty_outboxes(contexts: &platform::Contexts) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let databases = [
        contexts.products.catalog.db(),
        contexts.inventory.stock.db(),
        contexts.accounts.accounts.db(),
        contexts.coupons.coupons.db(),
        contexts.orders.orders.db(),
        contexts.payments.payments.db(),
        contexts.shipping.shipping.db(),
        contexts.cart.carts.db(),
        contexts.checkout.saga.db(),
        &contexts.search.db,
        contexts.notifications.webhooks.db(),
    ];
    for db in databases {
        loop {
            let pending = kernel_infra::outbox::entity::Entity::find()
                .filter(kernel_infra::outbox::entity::Column::PublishedAt.is_null())
                .count(db)
                .await
                .unwrap();
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One product per SKU, `BENCH-1` … `BENCH-<skus>`, each with ample stock.
async fn prepare_stock(contexts: &platform::Contexts, skus: &[String]) {
    use products_domain::{Category, Description, NewProduct, NewVariant, ProductName, Sku};
    let meta = EventMeta::internal();
    let usd = kernel::Currency::parse("USD").unwrap();
    for sku in skus {
        let product = contexts
            .products
            .catalog
            .create_product(
                NewProduct {
                    name: ProductName::parse(&format!("Bench product {sku}")).unwrap(),
                    description: Description::parse("For the checkout benchmark.").unwrap(),
                    category: Category::parse("books").unwrap(),
                    attributes: vec![],
                    variants: vec![NewVariant {
                        sku: Sku::parse(sku).unwrap(),
                        name: ProductName::parse("Standard").unwrap(),
                        attributes: vec![],
                    }],
                    price: kernel::Money::new(1_999, usd),
                    tax_category: kernel::TaxCategory::Standard,
                },
                &meta,
            )
            .await
            .unwrap();
        contexts.products.catalog.publish(product.id(), &meta).await.unwrap();
    }
    let parsed: Vec<kernel::Sku> = skus.iter().map(|sku| kernel::Sku::parse(sku).unwrap()).collect();
    loop {
        let known = inventory_service::repository::items(contexts.inventory.stock.db(), skus)
            .await
            .unwrap();
        let priced = contexts.cart.carts.prices(&parsed).await.unwrap();
        if known.len() == skus.len() && priced.len() == skus.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for sku in skus {
        let sku = inventory_domain::Sku::parse(sku).unwrap();
        let reason = inventory_domain::MovementReason::adjustment("benchmark stock").unwrap();
        contexts
            .inventory
            .stock
            .adjust(&sku, 1_000_000, reason, &meta)
            .await
            .unwrap();
    }
}

/// Shopper `i` buys one unit of `skus[i % skus.len()]`.
async fn prepare_shoppers(contexts: &platform::Contexts, skus: &[String], count: usize) -> Vec<Shopper> {
    // Each shopper signs in as a client would: with an access token for the gateway.
    let issuer = Arc::new(TokenIssuer::access_tokens().unwrap());
    futures::stream::iter(0..count)
        .map(|i| {
            let issuer = issuer.clone();
            let sku = kernel::Sku::parse(&skus[i % skus.len()]).unwrap();
            async move {
                let identity = Identity {
                    user_id: uuid::Uuid::now_v7(),
                    role: Role::Customer,
                };
                let owner = cart_domain::CartOwner::User(identity.user_id);
                let cart = contexts
                    .cart
                    .carts
                    .add(
                        &owner,
                        &sku,
                        cart_domain::LineQuantity::new(1).unwrap(),
                        &EventMeta::internal(),
                    )
                    .await
                    .unwrap();
                Shopper {
                    token: issuer.issue(&identity).unwrap().0,
                    cart_id: cart.id().to_string(),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}
