//! Subscriptions on one gateway process: what an open subscription costs in memory,
//! and how long an event takes from the bus to the client.
//!
//! `cargo bench -p platform --bench subscriptions` starts the platform (embedded:
//! SQLite files, the in-process bus) and the gateway as its own process, then:
//!
//! 1. opens `BENCH_SUBSCRIPTIONS` (default 10,000) SSE subscriptions to
//!    `priceChanged`, `BENCH_PER_PRODUCT` (10) clients per product, so the gateway holds
//!    one upstream stream per product (identical subscriptions share one);
//! 2. reads the gateway's resident memory (VmRSS) before and after: memory per
//!    subscription;
//! 3. hands price changes to Products' live feed, as the bus does with each event it
//!    delivers, at 100 and then 1,000 events/s for `BENCH_SECONDS` (default 20) each,
//!    round-robin over the products, and measures each delivery from the moment its
//!    event reached the feed to the moment its client read it: p50/p90/p99/max, and
//!    how many of the expected deliveries arrived.
//!
//! The events skip the outbox, the relay and the bus, whose throughput the relay
//! benchmark measures (kernel-infra's `relay_redis`): on the in-process bus a publish
//! waits for every consumer of the event (Cart's price table, Search, Notifications),
//! each a SQLite write, which would bound the rate here, not the subscriptions.
//!
//! The clients run in this process, on the same two cores as the gateway and the
//! subgraphs: the latencies include their share of the machine. It prints a Markdown
//! table for docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use kernel::{Currency, EventEnvelope, EventMeta, Money};
use kernel_infra::CancellationToken;
use kernel_infra::bus::EventHandler;
use kernel_infra::testing::TestDatabase;
use products_domain::{ProductEvent, ProductId};
use serde_json::{Value, json};

#[path = "../tests/support/platform_of_processes.rs"]
mod platform_of_processes;

use platform_of_processes::{spawn_gateway, wait_until_ready};

const QUERY: &str = "subscription($id: ID!) { priceChanged(productId: $id) { eventId newPrice { amount } validFrom } }";

/// Delivery latencies in microseconds, with the phase they belong to.
type Latencies = Arc<Mutex<Vec<(u8, u64)>>>;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A process's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The SSE `data:` payloads in `buffer`, removing the complete messages it holds.
fn take_messages(buffer: &mut String) -> Vec<Value> {
    let mut messages = Vec::new();
    while let Some(at) = buffer.find("\n\n") {
        let message: String = buffer.drain(..at + 2).collect();
        if let Some(data) = message.lines().find_map(|l| l.strip_prefix("data:"))
            && let Ok(value) = serde_json::from_str::<Value>(data.trim())
        {
            messages.push(value);
        }
    }
    messages
}

// The allocator of the platform binary (mimalloc), so the subgraphs run here as they
// do in production.
#[global_allocator]
static GLOBAL: gateway::GlobalAllocator = gateway::GlobalAllocator;

#[tokio::main]
async fn main() {
    let subscriptions = env_number("BENCH_SUBSCRIPTIONS", 10_000);
    let per_product = env_number("BENCH_PER_PRODUCT", 10).max(1);
    let seconds = env_number("BENCH_SECONDS", 20);
    let products: Vec<ProductId> = (0..subscriptions.div_ceil(per_product))
        .map(|_| ProductId::new())
        .collect();

    let mut databases = Vec::new();
    let mut config = platform::default_config();
    // Files kept outside the databases (customers' e-mails) stay out of the clone.
    config.set_data_dir(&std::env::temp_dir().join("ecommerce-bench-data"));
    for name in platform::CONTEXTS.map(|spec| spec.name) {
        let database = TestDatabase::sqlite();
        config.place(name, &database.url);
        databases.push(database);
    }
    let shutdown = CancellationToken::new();
    let running = platform::start(&config, &shutdown, &|_, r| r).await.unwrap();
    let feed = running.contexts.products.live.clone();
    let dir = std::env::temp_dir().join(format!("subscription-bench-{}", uuid::Uuid::now_v7().simple()));
    let (mut gateway, base, _) = spawn_gateway(&dir, &running.endpoints, &str::to_owned, &[("LOG_LEVEL", "error")]);
    let gateway_pid = gateway.id().unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .unwrap();
    wait_until_ready(&client, &base).await;
    // Warm the gateway (plan cache, first upstream connection) before measuring.
    let warm = client
        .post(format!("{base}/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ webhookEventTypes }" }))
        .send()
        .await
        .unwrap();
    assert!(warm.status().is_success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kib(gateway_pid);

    // Open the subscriptions, 200 at a time; each reader records its deliveries.
    let phase = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let latencies: Latencies = Arc::default();
    let opened = Instant::now();
    let open_one = |index: u64| {
        let (client, base, latencies, phase) = (client.clone(), base.clone(), latencies.clone(), phase.clone());
        let product = products[usize::try_from(index / per_product).unwrap()];
        async move {
            let response = client
                .post(format!("{base}/graphql"))
                .header("accept", "text/event-stream")
                .json(&json!({ "query": QUERY, "variables": { "id": product.to_string() } }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            tokio::spawn(async move {
                let mut body = response.bytes_stream();
                let mut buffer = String::new();
                while let Some(Ok(chunk)) = body.next().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    let now = Utc::now();
                    for message in take_messages(&mut buffer) {
                        let Some(sent) = message["data"]["priceChanged"]["validFrom"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        else {
                            continue;
                        };
                        let micros = (now - sent.with_timezone(&Utc)).num_microseconds().unwrap_or(0).max(0);
                        let current = phase.load(std::sync::atomic::Ordering::Relaxed);
                        latencies.lock().unwrap().push((current, micros as u64));
                    }
                }
            });
        }
    };
    futures::stream::iter(0..subscriptions)
        .map(open_one)
        .buffer_unordered(200)
        .collect::<Vec<()>>()
        .await;
    let open_seconds = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_open = rss_kib(gateway_pid);

    // Publish at each rate; a delivery counts for the phase its event was sent in.
    let mut rows = Vec::new();
    let mut sequence = 0_i64;
    for (number, rate) in [(1_u8, 100_u64), (2, 1_000)] {
        phase.store(number, std::sync::atomic::Ordering::Relaxed);
        let tick = Duration::from_millis(10);
        let per_tick = rate / 100;
        let started = Instant::now();
        let mut ticker = tokio::time::interval(tick);
        let mut published = 0_u64;
        while started.elapsed() < Duration::from_secs(seconds) {
            ticker.tick().await;
            for _ in 0..per_tick {
                let product = products[usize::try_from(sequence).unwrap() % products.len()];
                sequence += 1;
                let event = ProductEvent::PriceChanged {
                    product_id: product,
                    old_price: Money::new(1_000, Currency::parse("USD").unwrap()),
                    new_price: Money::new(1_000 + sequence, Currency::parse("USD").unwrap()),
                    valid_from: Utc::now(),
                };
                let envelope = EventEnvelope::wrap(&event, "products", &EventMeta::internal(), Utc::now());
                feed.handle(&envelope).await.unwrap();
                published += 1;
            }
        }
        let achieved = published as f64 / started.elapsed().as_secs_f64();
        // Let the last deliveries arrive.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut micros: Vec<u64> = latencies
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == number)
            .map(|(_, m)| *m)
            .collect();
        micros.sort_unstable();
        let percentile = |q: f64| {
            micros
                .get(((micros.len() as f64 * q) as usize).min(micros.len().saturating_sub(1)))
                .map_or(f64::NAN, |m| *m as f64 / 1000.0)
        };
        rows.push(format!(
            "| {rate} | {achieved:.0} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            published * per_product,
            micros.len(),
            percentile(0.50),
            percentile(0.90),
            percentile(0.99),
            micros.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
        ));
    }
    let rss_end = rss_kib(gateway_pid);

    println!();
    println!(
        "{subscriptions} SSE subscriptions to priceChanged over {} products ({per_product} clients each), opened in {open_seconds:.1} s",
        products.len()
    );
    println!();
    println!("| gateway VmRSS | MiB |");
    println!("| --- | ---: |");
    println!("| before | {:.1} |", rss_before as f64 / 1024.0);
    println!("| {subscriptions} open, idle | {:.1} |", rss_open as f64 / 1024.0);
    println!("| after the load | {:.1} |", rss_end as f64 / 1024.0);
    println!(
        "| per subscription (open − before) | {:.1} KiB |",
        (rss_open.saturating_sub(rss_before)) as f64 / subscriptions as f64
    );
    println!();
    println!("| events/s asked | events/s sent | deliveries expected | received | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!("{row}");
    }
    shutdown.cancel();
    let _ = gateway.kill().await;
    for database in databases {
        database.remove().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(0);
}
