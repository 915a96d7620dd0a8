//! Every context its own process, beside the one-process platform (docs/benchmarks.md,
//! "Every context its own process").
//!
//! `cargo bench -p platform --bench processes` needs PostgreSQL (`TEST_POSTGRES_URL`,
//! default the local server), Redis (`TEST_REDIS_URL`, default the local one) and
//! HAProxy. It runs two phases (`BENCH_PHASES=checkout,kill`, the default):
//!
//! 1. **Checkout per CPU-second.** `BENCH_ROUNDS` (2) rounds, each starting the
//!    one-process platform (the `platform` binary: every context in one process, the
//!    in-process bus, its gateway) and then the platform of processes (every context a
//!    `platform <context>` process, events through Redis Streams, one gateway), both on
//!    new PostgreSQL databases, one per context, with pools of `BENCH_POOL_SIZE` (8).
//!    In each: one product with ample stock, a cart per customer, and once every
//!    outbox is empty, `BENCH_CONCURRENCY` (16) customers checking out in a closed loop
//!    for `BENCH_SECONDS` (20). Throughput per CPU-second counts the whole machine's
//!    busy time (/proc/stat), so the load generator, PostgreSQL and Redis are in both.
//! 2. **A killed context.** The platform of processes with one Inventory replica, then
//!    with two behind HAProxy; a steady load through the gateway (`BENCH_LISTINGS`, 40
//!    listings with live inventory per second, and `BENCH_CHECKOUTS`, 10 checkouts per
//!    second, open loop); `BENCH_KILLS` (3) times an Inventory replica is SIGKILLed and
//!    at once started again, as an orchestrator would. Reported: the time from the kill
//!    to the new process's `/readiness` answering 200, and the client requests that
//!    failed (an error in the answer, or a checkout not COMPLETED).
//!
//! It prints Markdown tables for docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly
#![recursion_limit = "256"]

#[path = "../tests/support/platform_of_processes.rs"]
mod platform_of_processes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kernel_infra::testing::TestDatabase;
use platform_of_processes::{
    Layout, Processes, cart_with, free_port, post, quantile, stocked_product, ticks_per_second, token, wait_until_ready,
};
use serde_json::{Value, json};

const CHECKOUT: &str = "mutation($input: CheckoutInput!) { checkout(input: $input) { id status } }";
const LISTING: &str = "{ products(first: 20) { edges { node { id inventory { available } } } } }";
const SKU: &str = "BENCH-1";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let redis = kernel_infra::testing::redis_url()
        .await
        .expect("Redis must be reachable");
    let phases = std::env::var("BENCH_PHASES").unwrap_or_else(|_| "checkout,kill".into());
    if phases.contains("checkout") {
        checkout_per_cpu_second(&redis).await;
    }
    if phases.contains("kill") {
        killed_context(&redis).await;
    }
}

/// A platform under measurement: where its gateway listens and its databases.
struct Running {
    gateway: String,
    database_urls: Vec<String>,
    platform: Platform,
}

enum Platform {
    OneProcess {
        launcher: tokio::process::Child,
        databases: Vec<TestDatabase>,
        dir: std::path::PathBuf,
    },
    Processes(Processes),
}

impl Running {
    /// The `platform` binary as `cargo run --release` starts it, on new PostgreSQL
    /// databases.
    async fn one_process(client: &reqwest::Client, pool_size: u64) -> Self {
        let dir = std::env::temp_dir().join(format!("processes-bench-{}", uuid::Uuid::now_v7().simple()));
        let port = free_port();
        let mut env = vec![
            ("GATEWAY_PORT".to_owned(), port.to_string()),
            ("DATA_DIR".to_owned(), dir.display().to_string()),
            ("RUST_LOG".to_owned(), "error".to_owned()),
            ("LOG_LEVEL".to_owned(), "error".to_owned()),
        ];
        let (mut databases, mut database_urls) = (Vec::new(), Vec::new());
        for spec in &platform::CONTEXTS {
            let database = TestDatabase::postgres().await.expect("PostgreSQL must be reachable");
            let url = format!("{}?max_connections={pool_size}", database.url);
            let upper = spec.name.to_ascii_uppercase();
            env.push((format!("{upper}_DATABASE_URL"), url.clone()));
            env.push((format!("{upper}_LISTEN"), format!("127.0.0.1:{}", free_port())));
            database_urls.push(url);
            databases.push(database);
        }
        let launcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
            .envs(env)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let gateway = format!("http://127.0.0.1:{port}");
        wait_until_ready(client, &gateway).await;
        Self {
            gateway,
            database_urls,
            platform: Platform::OneProcess {
                launcher,
                databases,
                dir,
            },
        }
    }

    /// Every context its own process (Inventory with `inventory_replicas` behind
    /// HAProxy), one gateway.
    async fn processes(redis: &str, pool_size: u64, inventory_replicas: usize) -> Self {
        let replicated: &[&str] = if inventory_replicas > 1 { &["inventory"] } else { &[] };
        let layout = Layout {
            replicated,
            gateways: 1,
            pool_size: u32::try_from(pool_size).unwrap(),
            env: &[],
            gateway_env: &[],
        };
        let processes = Processes::start(redis.to_owned(), &layout).await;
        Self {
            gateway: processes.gateways[0].clone(),
            database_urls: processes.database_urls.values().cloned().collect(),
            platform: Platform::Processes(processes),
        }
    }

    async fn stop(self) {
        match self.platform {
            Platform::OneProcess {
                mut launcher,
                databases,
                dir,
            } => {
                // SIGTERM, so the launcher stops its gateway too.
                if let Some(pid) = launcher.id() {
                    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
                }
                let _ = tokio::time::timeout(Duration::from_secs(20), launcher.wait()).await;
                let _ = launcher.kill().await;
                for database in databases {
                    database.remove().await;
                }
                let _ = std::fs::remove_dir_all(dir);
            }
            Platform::Processes(processes) => processes.stop().await,
        }
    }

    /// Waits until every outbox is published, twice in a row a second apart (the
    /// one-process platform seeds its demo catalog in the background at start).
    async fn wait_until_quiet(&self) {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let mut connections = Vec::new();
        for url in &self.database_urls {
            connections.push(sea_orm::Database::connect(url.as_str()).await.unwrap());
        }
        let mut quiet_checks = 0;
        while quiet_checks < 2 {
            let mut pending = 0;
            for db in &connections {
                pending += kernel_infra::outbox::entity::Entity::find()
                    .filter(kernel_infra::outbox::entity::Column::PublishedAt.is_null())
                    .count(db)
                    .await
                    .unwrap();
            }
            quiet_checks = if pending == 0 { quiet_checks + 1 } else { 0 };
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for db in connections {
            let _ = db.close().await;
        }
    }
}

/// A customer's token and a cart of theirs holding one unit of [`SKU`].
struct Shopper {
    token: String,
    cart: String,
}

/// One product with ample stock and `count` shoppers, through the gateway.
async fn prepare(client: &reqwest::Client, gateway: &str, count: usize) -> Vec<Shopper> {
    stocked_product(client, gateway, SKU, 1_000_000).await;
    futures::stream::iter(0..count)
        .map(|_| async {
            let (token, _) = token(kernel::Role::Customer);
            let cart = cart_with(client, gateway, &token, SKU).await;
            Shopper { token, cart }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// One checkout: its latency and whether it completed.
async fn checkout(client: &reqwest::Client, gateway: &str, shopper: &Shopper, key: &str) -> (Duration, bool) {
    let started = Instant::now();
    let input = json!({ "input": { "cartId": shopper.cart, "paymentMethod": "card", "idempotencyKey": key } });
    let body = post(client, gateway, &shopper.token, CHECKOUT, input).await;
    let completed = body["errors"].is_null() && body["data"]["checkout"]["status"] == "COMPLETED";
    if !completed {
        report_once(&body);
    }
    (started.elapsed(), completed)
}

/// Prints the first request that failed, so a run says why.
fn report_once(body: &Value) {
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| eprintln!("first failed request: {body}"));
}

/// The machine's busy time so far, in clock ticks (user, nice, system, irq, softirq).
fn busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu = stat.lines().next().unwrap();
    let fields: Vec<u64> = cpu.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
}

async fn checkout_per_cpu_second(redis: &str) {
    let rounds = env_number("BENCH_ROUNDS", 2);
    let seconds = env_number("BENCH_SECONDS", 20);
    let concurrency = env_number("BENCH_CONCURRENCY", 16) as usize;
    let pool_size = env_number("BENCH_POOL_SIZE", 8);
    // More carts than this machine can check out in the time (about 100/s at most).
    let carts = env_number("BENCH_CARTS", 150 * seconds) as usize;
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let hz = ticks_per_second();
    let mut rows = Vec::new();
    for round in 1..=rounds {
        for processes in [false, true] {
            let mode = if processes { "processes" } else { "one process" };
            eprintln!("round {round}: {mode}");
            let running = if processes {
                Running::processes(redis, pool_size, 1).await
            } else {
                Running::one_process(&client, pool_size).await
            };
            let shoppers = Arc::new(prepare(&client, &running.gateway, carts).await);
            running.wait_until_quiet().await;

            let busy_before = busy_ticks();
            let started = Instant::now();
            let deadline = started + Duration::from_secs(seconds);
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut workers = Vec::new();
            for _ in 0..concurrency {
                let (client, gateway, shoppers, next) =
                    (client.clone(), running.gateway.clone(), shoppers.clone(), next.clone());
                workers.push(tokio::spawn(async move {
                    let mut results = Vec::new();
                    while Instant::now() < deadline {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(shopper) = shoppers.get(i) else { break };
                        results.push(checkout(&client, &gateway, shopper, &format!("bench-{i}")).await);
                    }
                    results
                }));
            }
            let mut results = Vec::new();
            for worker in workers {
                results.extend(worker.await.unwrap());
            }
            let elapsed = started.elapsed().as_secs_f64();
            let cpu_seconds = (busy_ticks() - busy_before) as f64 / hz;
            if results.len() >= shoppers.len() {
                eprintln!("every prepared cart was used: raise BENCH_CARTS");
            }
            let completed = results.iter().filter(|(_, ok)| *ok).count();
            let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
            latencies.sort();
            rows.push(format!(
                "| {round} | {mode} | {completed} | {:.1} | {cpu_seconds:.1} | {:.2} | {:.1} ms | {:.1} ms | {} |",
                completed as f64 / elapsed,
                completed as f64 / cpu_seconds,
                quantile(&latencies, 0.5),
                quantile(&latencies, 0.95),
                results.len() - completed,
            ));
            running.stop().await;
        }
    }
    println!();
    println!("Checkout, {concurrency} customers in a closed loop for {seconds} s:");
    println!();
    println!("| round | platform | completed | per second | CPU-s | per CPU-second | p50 | p95 | not COMPLETED |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!("{row}");
    }
}

/// What one request of the steady load saw.
struct Sent {
    checkout: bool,
    failed: bool,
}

async fn killed_context(redis: &str) {
    let kills = env_number("BENCH_KILLS", 3);
    let listings_per_second = env_number("BENCH_LISTINGS", 40);
    let checkouts_per_second = env_number("BENCH_CHECKOUTS", 10);
    let (before, after) = (Duration::from_secs(2), Duration::from_secs(3));
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let mut rows = Vec::new();
    for replicas in [1, 2] {
        eprintln!("killed Inventory, {replicas} replica(s)");
        // Twelve processes on PostgreSQL's 100 connections.
        let running = Running::processes(redis, 4, replicas).await;
        let Platform::Processes(processes) = &running.platform else {
            unreachable!()
        };
        // Enough carts for the whole run, with a second to spare per kill.
        let window = (before + after + Duration::from_secs(2)).as_secs() * kills;
        let shoppers = Arc::new(prepare(&client, &running.gateway, (checkouts_per_second * window) as usize).await);
        running.wait_until_quiet().await;

        let stop = kernel_infra::CancellationToken::new();
        let load = {
            let (client, gateway, shoppers, stop) =
                (client.clone(), running.gateway.clone(), shoppers.clone(), stop.clone());
            tokio::spawn(async move {
                let rate = listings_per_second + checkouts_per_second;
                let mut ticker = tokio::time::interval(Duration::from_secs(1) / u32::try_from(rate).unwrap());
                let (mut sent, mut carts) = (Vec::new(), 0usize);
                for tick in 0u64.. {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = ticker.tick() => {}
                    }
                    let is_checkout = tick % rate < checkouts_per_second;
                    let shopper = if is_checkout {
                        carts += 1;
                        match shoppers.get(carts - 1) {
                            Some(_) => Some(carts - 1),
                            None => continue,
                        }
                    } else {
                        None
                    };
                    let (client, gateway, shoppers) = (client.clone(), gateway.clone(), shoppers.clone());
                    sent.push(tokio::spawn(async move {
                        match shopper {
                            Some(i) => {
                                let (_, ok) = checkout(&client, &gateway, &shoppers[i], &format!("kill-{i}")).await;
                                Sent {
                                    checkout: true,
                                    failed: !ok,
                                }
                            }
                            None => {
                                let body = post(&client, &gateway, "", LISTING, json!({})).await;
                                if !body["errors"].is_null() {
                                    report_once(&body);
                                }
                                Sent {
                                    checkout: false,
                                    failed: !body["errors"].is_null(),
                                }
                            }
                        }
                    }));
                }
                let mut results = Vec::new();
                for task in sent {
                    results.push(task.await.unwrap());
                }
                results
            })
        };

        let replica = processes.replica("inventory");
        let url = format!("http://{}/readiness", replica.listen);
        let mut back = Vec::new();
        for _ in 0..kills {
            tokio::time::sleep(before).await;
            let killed = Instant::now();
            replica.signal("KILL").await;
            replica.respawn().await;
            loop {
                if let Ok(response) = client.get(&url).send().await
                    && response.status().is_success()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            back.push(killed.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(after).await;
        }
        stop.cancel();
        let results = load.await.unwrap();
        let count = |checkout: bool| results.iter().filter(|s| s.checkout == checkout).count();
        let failed = |checkout: bool| results.iter().filter(|s| s.checkout == checkout && s.failed).count();
        let back: Vec<String> = back.iter().map(|ms| format!("{ms:.0}")).collect();
        rows.push(format!(
            "| {replicas} | {} ms | {} of {} | {} of {} |",
            back.join(", "),
            failed(false),
            count(false),
            failed(true),
            count(true),
        ));
        running.stop().await;
    }
    println!();
    println!(
        "Inventory SIGKILLed and started again {kills} times under {listings_per_second} listings/s and \
         {checkouts_per_second} checkouts/s:"
    );
    println!();
    println!("| Inventory replicas | kill to ready, each | failed listings | failed checkouts |");
    println!("| ---: | --- | ---: | ---: |");
    for row in rows {
        println!("{row}");
    }
}
