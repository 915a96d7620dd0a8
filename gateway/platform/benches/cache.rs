//! The gateway's response cache, on and off (docs/benchmarks.md, "The response cache").
//!
//! `cargo bench -p platform --bench cache` starts the one-process platform (the
//! `platform` binary as `cargo run --release` runs it: SQLite, the seeded demo catalog
//! of 1,000 products) and two more gateways over its subgraphs, both with request
//! deduplication off: one with the response cache as shipped (in memory), one without.
//! Its phases (`BENCH_PHASES`, default `reads,spike,invalidation`):
//!
//! 1. **reads**: the listing (20 published products with live inventory and their
//!    variants' inventory, a window starting at each product in turn: about 1,000
//!    distinct variable sets) and the web client's ProductPage (each of the 1,000
//!    products in turn). For each, `BENCH_ROUNDS` (2) rounds alternate cache off and
//!    on: `BENCH_CONNECTIONS` (32) clients in a closed loop for `BENCH_SECONDS` (15).
//!    Throughput per CPU-second counts the CPU of the platform's processes and of the
//!    measured gateway (/proc/<pid>/stat), not the load generator's; the hit ratio is
//!    the cached gateway's, over the run.
//! 2. **spike**: one product's page read through the cache by `BENCH_READERS` (50)
//!    clients while `BENCH_CHECKOUTS` (100) checkouts per second (open loop) buy it,
//!    for `BENCH_SECONDS`. A poller reads the stock straight from Inventory every 5 ms;
//!    a read is stale when, before it started, the stock had already fallen below what
//!    it showed, and it is stale by that long.
//! 3. **invalidation**: `BENCH_CONNECTIONS` clients read product pages through the cached gateway while
//!    an admin changes prices through the platform's own gateway at each rate of
//!    `BENCH_CHANGE_RATES` (50,200,800 per second), each change an event the cached
//!    gateway follows: the events it absorbed per second, the reads per second, and the
//!    hit ratio.
//!
//! It prints Markdown tables for docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly

#[path = "../tests/support/platform_of_processes.rs"]
mod platform_of_processes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use platform_of_processes::{
    admin_token, cart_with, free_port, metric, metric_in, metrics_text, post, quantile, spawn_gateway,
    ticks_per_second, token, wait_until_ready,
};
use serde_json::{Value, json};

const LISTING: &str = "query Listing($first: Int!, $after: String) { products(first: $first, after: $after, filter: { status: PUBLISHED }) { edges { node { id name price { amount currency } inventory { available inStock } variants { sku inventory { available } } } } } }";
/// The web client's product page file, which also holds its live price subscription.
const PRODUCT_PAGE_FILE: &str = include_str!("../../../frontend-contracts/web/product_page.graphql");
const CHECKOUT: &str = "mutation($input: CheckoutInput!) { checkout(input: $input) { id status } }";

/// The web client's ProductPage query, alone (the server needs no operation name then).
fn product_page() -> &'static str {
    let start = PRODUCT_PAGE_FILE.find("query ProductPage").unwrap();
    let end = start + PRODUCT_PAGE_FILE[start..].find("\n}\n").unwrap() + 2;
    &PRODUCT_PAGE_FILE[start..end]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The one-process platform and the two gateways under measurement.
struct Bench {
    client: reqwest::Client,
    /// The platform's own gateway (mutations go through it).
    platform_gateway: String,
    platform_pid: u32,
    cached: Gateway,
    uncached: Gateway,
    _launcher: tokio::process::Child,
    dir: std::path::PathBuf,
}

struct Gateway {
    url: String,
    metrics: String,
    process: tokio::process::Child,
}

impl Gateway {
    fn pid(&self) -> u32 {
        self.process.id().unwrap()
    }
}

#[tokio::main]
async fn main() {
    let bench = Bench::start().await;
    let phases = std::env::var("BENCH_PHASES").unwrap_or_else(|_| "reads,spike,invalidation".into());
    println!(
        "machine: {} cores; commit {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        commit()
    );
    if phases.contains("reads") {
        bench.reads().await;
    }
    if phases.contains("spike") {
        bench.spike().await;
    }
    if phases.contains("invalidation") {
        bench.invalidation().await;
    }
    std::fs::remove_dir_all(&bench.dir).ok();
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Bench {
    async fn start() -> Self {
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
        let dir = std::env::temp_dir().join(format!("cache-bench-{}", uuid::Uuid::now_v7().simple()));
        let port = free_port();
        let mut env = vec![
            ("GATEWAY_PORT".to_owned(), port.to_string()),
            ("GATEWAY_METRICS_PORT".to_owned(), free_port().to_string()),
            ("DATA_DIR".to_owned(), dir.join("data").display().to_string()),
            ("RUST_LOG".to_owned(), "error".to_owned()),
            ("LOG_LEVEL".to_owned(), "error".to_owned()),
        ];
        let mut endpoints = platform::PerContext::new();
        for spec in &platform::CONTEXTS {
            let listen = format!("127.0.0.1:{}", free_port());
            env.push((format!("{}_LISTEN", spec.name.to_ascii_uppercase()), listen.clone()));
            endpoints.insert(spec.name.to_owned(), format!("http://{listen}/graphql"));
        }
        let launcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
            .envs(env)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let platform_gateway = format!("http://127.0.0.1:{port}");
        wait_until_ready(&client, &platform_gateway).await;
        let no_dedupe = |config: &str| {
            let edited = config.replacen(
                "    dedupe:\n      enabled: true\n",
                "    dedupe:\n      enabled: false\n",
                1,
            );
            assert_ne!(edited, config, "router.config.yaml: request deduplication moved");
            edited
        };
        let spawn = |name: &str, edit: &dyn Fn(&str) -> String| {
            let (process, url, metrics) = spawn_gateway(&dir.join(name), &endpoints, edit, &[("LOG_LEVEL", "error")]);
            Gateway { url, metrics, process }
        };
        let cached = spawn("cached", &no_dedupe);
        let uncached = spawn("uncached", &|config: &str| {
            let edited = no_dedupe(config).replacen(
                "  response_cache:\n    enabled: true\n",
                "  response_cache:\n    enabled: false\n",
                1,
            );
            assert!(
                edited.contains("response_cache:\n    enabled: false"),
                "router.config.yaml: the cache moved"
            );
            edited
        });
        wait_until_ready(&client, &cached.url).await;
        wait_until_ready(&client, &uncached.url).await;
        let platform_pid = launcher.id().unwrap();
        let bench = Self {
            client,
            platform_gateway,
            platform_pid,
            cached,
            uncached,
            _launcher: launcher,
            dir,
        };
        bench.wait_for_the_catalog().await;
        bench
    }

    /// Every product's id and cursor, once the seeded catalog is complete (its stock
    /// too).
    async fn catalog(&self) -> Vec<(String, String)> {
        let mut products = Vec::new();
        let mut after = Value::Null;
        loop {
            let body = post(
                &self.client,
                &self.platform_gateway,
                "",
                "query($after: String) { products(first: 100, after: $after, filter: { status: PUBLISHED }) { edges { cursor node { id inventory { available } } } pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await;
            let page = &body["data"]["products"];
            for edge in page["edges"].as_array().cloned().unwrap_or_default() {
                if edge["node"]["inventory"]["available"].as_i64().unwrap_or(0) > 0 {
                    products.push((
                        edge["node"]["id"].as_str().unwrap().to_owned(),
                        edge["cursor"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            if page["pageInfo"]["hasNextPage"] != true {
                return products;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
    }

    /// Waits until the seeded catalog (1,000 products, about 900 of them published and
    /// in stock) stops growing.
    async fn wait_for_the_catalog(&self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        let (mut seen, mut steady) = (0, 0);
        while steady < 3 {
            assert!(Instant::now() < deadline, "the demo catalog was not seeded");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.catalog().await.len();
            steady = if now == seen && now > 500 { steady + 1 } else { 0 };
            seen = now;
        }
        // Let the seed's events reach every consumer.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }

    /// CPU ticks so far of the platform's processes and of `gateway`.
    fn cpu_ticks(&self, gateway: &Gateway) -> u64 {
        let mut pids = vec![self.platform_pid, gateway.pid()];
        pids.extend(children_of(self.platform_pid));
        pids.iter().map(|pid| process_ticks(*pid)).sum()
    }

    /// Hits and lookups of the cached gateway so far.
    async fn lookups(&self) -> (u64, u64) {
        let text = metrics_text(&self.client, &self.cached.metrics).await;
        (
            metric_in(&text, "gateway_cache_lookups", "outcome=\"hit\""),
            metric_in(&text, "gateway_cache_lookups", ""),
        )
    }

    /// The cached gateway's invalidation-lag histogram so far: (upper bound in seconds,
    /// cumulative count), every subgraph's together.
    async fn lag_buckets(&self) -> Vec<(f64, u64)> {
        let text = metrics_text(&self.client, &self.cached.metrics).await;
        let mut buckets: std::collections::BTreeMap<u64, (f64, u64)> = std::collections::BTreeMap::new();
        for line in text
            .lines()
            .filter(|line| line.starts_with("gateway_cache_invalidation_lag_seconds_bucket"))
        {
            let Some(le) = line.split("le=\"").nth(1).and_then(|rest| rest.split('"').next()) else {
                continue;
            };
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            let count = line
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0) as u64;
            let entry = buckets.entry(bound.to_bits()).or_insert((bound, 0));
            entry.1 += count;
        }
        let mut sorted: Vec<(f64, u64)> = buckets.into_values().collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        sorted
    }

    async fn invalidations(&self) -> u64 {
        metric(
            &self.client,
            &self.cached.metrics,
            "gateway_cache_invalidations",
            "source=\"event\"",
        )
        .await
    }

    async fn reads(&self) {
        let rounds = env_number("BENCH_ROUNDS", 2);
        let seconds = env_number("BENCH_SECONDS", 15);
        let connections = env_number("BENCH_CONNECTIONS", 32) as usize;
        let catalog = self.catalog().await;
        // A window of 20 starting after each product, and each product's page.
        let listings: Vec<(&str, Value)> = std::iter::once(json!({ "first": 20, "after": null }))
            .chain(
                catalog
                    .iter()
                    .map(|(_, cursor)| json!({ "first": 20, "after": cursor })),
            )
            .map(|variables| (LISTING, variables))
            .collect();
        let pages: Vec<(&str, Value)> = catalog
            .iter()
            .map(|(id, _)| (product_page(), json!({ "id": id })))
            .collect();
        println!(
            "\n### Reads, cache off and on ({connections} connections, {seconds} s each, {} listings and {} pages of distinct variables)\n",
            listings.len(),
            pages.len()
        );
        println!(
            "| workload | round | cache | requests/s | p50 ms | p99 ms | errors | CPU-s | requests per CPU-second | hit ratio |"
        );
        println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (name, requests) in [("listing", &listings), ("ProductPage", &pages)] {
            let mut per_cpu = [0.0f64; 2];
            for round in 1..=rounds {
                for (index, gateway) in [&self.uncached, &self.cached].into_iter().enumerate() {
                    let (hits_before, lookups_before) = self.lookups().await;
                    let ticks = self.cpu_ticks(gateway);
                    let run = closed_loop(&self.client, &gateway.url, requests, connections, seconds).await;
                    let cpu = (self.cpu_ticks(gateway) - ticks) as f64 / ticks_per_second();
                    let (hits, lookups) = self.lookups().await;
                    let ratio = if index == 1 {
                        format!(
                            "{:.3}",
                            (hits - hits_before) as f64 / ((lookups - lookups_before).max(1)) as f64
                        )
                    } else {
                        "–".into()
                    };
                    per_cpu[index] += run.count as f64 / cpu;
                    println!(
                        "| {name} | {round} | {} | {:.0} | {:.1} | {:.1} | {} | {cpu:.1} | {:.1} | {ratio} |",
                        if index == 1 { "on" } else { "off" },
                        run.count as f64 / seconds as f64,
                        quantile(&run.latencies, 0.5),
                        quantile(&run.latencies, 0.99),
                        run.errors,
                        run.count as f64 / cpu,
                    );
                }
            }
            println!(
                "| {name} | all | on ÷ off | | | | | | **{:.2} ×** | |",
                per_cpu[1] / per_cpu[0]
            );
        }
    }

    async fn spike(&self) {
        let seconds = env_number("BENCH_SECONDS", 15);
        let readers = env_number("BENCH_READERS", 50) as usize;
        let rate = env_number("BENCH_CHECKOUTS", 100);
        let sku = "CACHE-SPIKE-1";
        let product =
            platform_of_processes::stocked_product(&self.client, &self.platform_gateway, sku, 1_000_000).await;
        let carts = (rate * seconds + rate) as usize;
        let shoppers: Vec<(String, String)> = futures::stream::iter(0..carts)
            .map(|_| async {
                let (token, _) = token(kernel::Role::Customer);
                let cart = cart_with(&self.client, &self.platform_gateway, &token, sku).await;
                (token, cart)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        tokio::time::sleep(Duration::from_secs(3)).await;

        let stop = kernel_infra::CancellationToken::new();
        let lag_before = self.lag_buckets().await;
        // The truth: the stock as Inventory has it, every 5 ms (through the gateway
        // without a cache).
        let truth = {
            let (client, stop, product) = (self.client.clone(), stop.clone(), product.clone());
            let url = self.uncached.url.clone();
            tokio::spawn(async move {
                let mut seen: Vec<(Instant, i64)> = Vec::new();
                while !stop.is_cancelled() {
                    let at = Instant::now();
                    let body = post(
                        &client,
                        &url,
                        "",
                        "query($id: ID!) { product(id: $id) { inventory { available } } }",
                        json!({ "id": product }),
                    )
                    .await;
                    if let Some(available) = body["data"]["product"]["inventory"]["available"].as_i64() {
                        seen.push((at, available));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen
            })
        };
        let reads = Arc::new(std::sync::Mutex::new(Vec::<(Instant, i64)>::new()));
        let mut tasks = Vec::new();
        for _ in 0..readers {
            let (client, url, stop, product, reads) = (
                self.client.clone(),
                self.cached.url.clone(),
                stop.clone(),
                product.clone(),
                reads.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let at = Instant::now();
                    let body = post(&client, &url, "", product_page(), json!({ "id": product })).await;
                    if let Some(available) = body["data"]["product"]["inventory"]["available"].as_i64() {
                        reads.lock().unwrap().push((at, available));
                    }
                }
            }));
        }
        let completed = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        let mut checkouts = Vec::new();
        for (n, (token, cart)) in shoppers.into_iter().enumerate() {
            if started.elapsed() > Duration::from_secs(seconds) {
                break;
            }
            interval.tick().await;
            let (client, url, completed) = (self.client.clone(), self.platform_gateway.clone(), completed.clone());
            checkouts.push(tokio::spawn(async move {
                let input = json!({ "input": { "cartId": cart, "paymentMethod": "card", "idempotencyKey": format!("spike-{n}") } });
                let body = post(&client, &url, &token, CHECKOUT, input).await;
                if body["data"]["checkout"]["status"] == "COMPLETED" {
                    completed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let elapsed = started.elapsed();
        stop.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        for task in checkouts {
            task.await.unwrap();
        }
        let truth = truth.await.unwrap();
        let lag = lag_quantiles(&lag_before, &self.lag_buckets().await);
        let reads = reads.lock().unwrap();
        // A read is stale by how long before it started the truth had fallen below it.
        let mut stale: Vec<Duration> = Vec::new();
        for (at, available) in reads.iter() {
            let fell = truth
                .iter()
                .find(|(seen, truly)| truly < available && seen < at)
                .map(|(seen, _)| *at - *seen);
            if let Some(by) = fell {
                stale.push(by);
            }
        }
        stale.sort();
        println!(
            "\n### Flash-sale read spike ({readers} readers of one product's page through the cache, {rate} checkouts/s of it, {seconds} s)\n"
        );
        println!(
            "| reads/s | checkouts completed/s | reads stale | stale by p50 ms | p99 ms | max ms | event to drop p50 | p99 |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        println!(
            "| {:.0} | {:.1} | {} of {} ({:.2} %) | {:.1} | {:.1} | {:.1} | {} | {} |",
            reads.len() as f64 / elapsed.as_secs_f64(),
            completed.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
            stale.len(),
            reads.len(),
            100.0 * stale.len() as f64 / reads.len().max(1) as f64,
            quantile(&stale, 0.5),
            quantile(&stale, 0.99),
            stale.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            lag.0,
            lag.1,
        );
    }

    async fn invalidation(&self) {
        let seconds = env_number("BENCH_SECONDS", 15);
        let connections = env_number("BENCH_CONNECTIONS", 32) as usize;
        let rates: Vec<u64> = std::env::var("BENCH_CHANGE_RATES")
            .unwrap_or_else(|_| "50,200,800".into())
            .split(',')
            .filter_map(|rate| rate.trim().parse().ok())
            .collect();
        let catalog = self.catalog().await;
        let pages: Vec<(&str, Value)> = catalog
            .iter()
            .map(|(id, _)| (product_page(), json!({ "id": id })))
            .collect();
        let admin = admin_token();
        println!(
            "\n### The cost of invalidation ({connections} readers of product pages through the cache, {seconds} s per rate)\n"
        );
        println!(
            "| price changes asked/s | made/s | tags dropped by events/s | reads/s | p99 ms | errors | hit ratio |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for rate in rates {
            let stop = kernel_infra::CancellationToken::new();
            let changed = Arc::new(AtomicU64::new(0));
            let writer = {
                let changed = changed.clone();
                let (client, url, stop, admin, catalog) = (
                    self.client.clone(),
                    self.platform_gateway.clone(),
                    stop.clone(),
                    admin.clone(),
                    catalog.clone(),
                );
                tokio::spawn(async move {
                    let in_flight = Arc::new(AtomicUsize::new(0));
                    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
                    let mut n = 0usize;
                    while !stop.is_cancelled() {
                        interval.tick().await;
                        if in_flight.load(Ordering::Relaxed) > 256 {
                            continue; // the platform does not keep up: not more load
                        }
                        let (id, _) = &catalog[n % catalog.len()];
                        n += 1;
                        let (client, url, admin, id, in_flight, changed) = (
                            client.clone(),
                            url.clone(),
                            admin.clone(),
                            id.clone(),
                            in_flight.clone(),
                            changed.clone(),
                        );
                        in_flight.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(async move {
                            let body = post(
                                &client,
                                &url,
                                &admin,
                                "mutation($id: ID!, $amount: Long!) { changePrice(id: $id, price: { amount: $amount, currency: \"USD\" }) { id } }",
                                json!({ "id": id, "amount": 1000 + (n % 5000) }),
                            )
                            .await;
                            if body["errors"].is_null() {
                                changed.fetch_add(1, Ordering::Relaxed);
                            }
                            in_flight.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                })
            };
            let (hits_before, lookups_before) = self.lookups().await;
            let events_before = self.invalidations().await;
            let run = closed_loop(&self.client, &self.cached.url, &pages, connections, seconds).await;
            let events = self.invalidations().await - events_before;
            let (hits, lookups) = self.lookups().await;
            stop.cancel();
            writer.await.unwrap();
            println!(
                "| {rate} | {:.0} | {:.0} | {:.0} | {:.1} | {} | {:.3} |",
                changed.load(Ordering::Relaxed) as f64 / seconds as f64,
                events as f64 / seconds as f64,
                run.count as f64 / seconds as f64,
                quantile(&run.latencies, 0.99),
                run.errors,
                (hits - hits_before) as f64 / (lookups - lookups_before).max(1) as f64,
            );
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }
}

/// The p50 and p99 of the lag histogram's growth from `before` to `after`, as "≤ <bound>"
/// (a histogram knows its buckets, not the values).
fn lag_quantiles(before: &[(f64, u64)], after: &[(f64, u64)]) -> (String, String) {
    let grown: Vec<(f64, u64)> = after
        .iter()
        .map(|(bound, count)| {
            let earlier = before.iter().find(|(b, _)| b == bound).map_or(0, |(_, c)| *c);
            (*bound, count - earlier)
        })
        .collect();
    let total = grown.last().map_or(0, |(_, count)| *count);
    let at = |q: f64| -> String {
        if total == 0 {
            return "–".into();
        }
        let wanted = (q * total as f64).ceil() as u64;
        grown
            .iter()
            .find(|(_, count)| *count >= wanted)
            .map_or("–".into(), |(bound, _)| format!("≤ {:.1} ms", bound * 1000.0))
    };
    (at(0.5), at(0.99))
}

/// What a closed loop did: requests answered, with their latencies, and errors.
struct Run {
    count: u64,
    errors: u64,
    latencies: Vec<Duration>,
}

/// `connections` clients sending `requests` in turn (each client the next one not yet
/// sent) for `seconds`.
async fn closed_loop(
    client: &reqwest::Client,
    gateway: &str,
    requests: &[(&str, Value)],
    connections: usize,
    seconds: u64,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let runs = futures::future::join_all((0..connections).map(|_| {
        let next = next.clone();
        async move {
            let mut run = Run {
                count: 0,
                errors: 0,
                latencies: Vec::new(),
            };
            while Instant::now() < deadline {
                let (query, variables) = &requests[next.fetch_add(1, Ordering::Relaxed) % requests.len()];
                let started = Instant::now();
                let body = post(client, gateway, "", query, variables.clone()).await;
                run.latencies.push(started.elapsed());
                run.count += 1;
                if !body["errors"].is_null() {
                    run.errors += 1;
                }
            }
            run
        }
    }))
    .await;
    let mut all = Run {
        count: 0,
        errors: 0,
        latencies: Vec::new(),
    };
    for run in runs {
        all.count += run.count;
        all.errors += run.errors;
        all.latencies.extend(run.latencies);
    }
    all.latencies.sort();
    all
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
            && let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest)
            && rest.split_whitespace().nth(1).and_then(|ppid| ppid.parse::<u32>().ok()) == Some(pid)
        {
            children.push(child);
        }
    }
    children
}

/// A process's user and system CPU so far, in clock ticks.
fn process_ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}
