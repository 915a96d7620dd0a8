//! Every context as its own process: each binary reads its own settings, refuses a
//! wrong one before it listens, and a context alone is whole (it publishes and hears
//! events through Redis Streams, answers readiness, and drains on SIGTERM).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kernel_infra::testing::TestDatabase;

fn platform(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_platform"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().cloned())
        .output()
        .unwrap()
}

#[test]
fn every_context_binary_reads_its_own_database_url_and_listen_address() {
    // Every context's variables are set, each to a value of its own, so a binary that
    // read another context's (as cart's once read COUPONS_DATABASE_URL) is caught.
    let env: Vec<(String, String)> = platform::CONTEXTS
        .iter()
        .enumerate()
        .flat_map(|(i, spec)| {
            let upper = spec.name.to_ascii_uppercase();
            [
                (
                    format!("{upper}_DATABASE_URL"),
                    format!("postgres://shop:pw@db/{}", spec.name),
                ),
                (format!("{upper}_LISTEN"), format!("127.0.0.1:{}", 5100 + i)),
            ]
        })
        .collect();
    for (i, spec) in platform::CONTEXTS.iter().enumerate() {
        let output = platform(&[spec.name, "config"], &env);
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}: {}",
            spec.name,
            String::from_utf8_lossy(&output.stderr)
        );
        let section: serde_json::Value =
            serde_yaml_ng::from_str::<serde_json::Value>(&printed).unwrap()[spec.name].clone();
        assert_eq!(
            section["database_url"],
            format!("postgres://shop:***@db/{}", spec.name),
            "{printed}"
        );
        assert_eq!(section["listen"], format!("127.0.0.1:{}", 5100 + i), "{printed}");
    }
}

#[test]
fn a_wrong_setting_stops_a_process_before_it_listens_and_names_the_key() {
    let typo = [("ORDERS_UNPAID_TIMEOUT_SECOND".to_owned(), "60".to_owned())];
    for args in [&["orders"][..], &["config"][..], &[][..]] {
        let output = platform(args, &typo);
        assert!(!output.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("orders.unpaid_timeout_second"), "{args:?}: {stderr}");
    }
    let bad = [("SHIPPING_CARRIER_STEP_SECONDS".to_owned(), "soon".to_owned())];
    let output = platform(&["shipping"], &bad);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SHIPPING_CARRIER_STEP_SECONDS"), "{stderr}");
}

/// `GATEWAY_ENV=production` is one switch for the launcher, the gateway and every
/// context: none starts without the keys it uses, each names every variable it lacks,
/// a short secret and the development keys are refused, and a context given its keys
/// gets past them.
#[test]
fn production_refuses_to_start_without_real_keys_and_names_each_missing_one() {
    let dir = std::env::temp_dir().join(format!("production-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = vec![
        ("GATEWAY_ENV".to_owned(), "production".to_owned()),
        ("DATA_DIR".to_owned(), dir.display().to_string()),
        // Nothing listens there: a process that got past its keys fails on the bus.
        ("EVENT_BUS_REDIS_URL".to_owned(), "redis://127.0.0.1:1".to_owned()),
    ];
    let verifying = ["IDENTITY_GATEWAY_PUBLIC_KEY_FILE", "IDENTITY_SERVICE_PUBLIC_KEY_FILE"];
    let cases: [(&[&str], Vec<&str>, Vec<&str>); 5] = [
        (
            &[],
            vec![
                "IDENTITY_GATEWAY_PUBLIC_KEY_FILE",
                "IDENTITY_SERVICE_PUBLIC_KEY_FILE",
                "JWT_PRIVATE_KEY_FILE (or JWT_SECRET)",
                "IDENTITY_SERVICE_PRIVATE_KEY_FILE",
                "IDENTITY_GATEWAY_PRIVATE_KEY_FILE",
            ],
            vec![],
        ),
        (&["orders"], verifying.to_vec(), vec!["PRIVATE_KEY_FILE", "JWT"]),
        (
            &["checkout"],
            [&verifying[..], &["IDENTITY_SERVICE_PRIVATE_KEY_FILE"]].concat(),
            vec!["IDENTITY_GATEWAY_PRIVATE_KEY_FILE", "JWT"],
        ),
        (
            &["accounts"],
            [&verifying[..], &["JWT_PRIVATE_KEY_FILE (or JWT_SECRET)"]].concat(),
            vec!["IDENTITY_SERVICE_PRIVATE_KEY_FILE"],
        ),
        (
            &["gateway"],
            vec![
                "JWT_PUBLIC_KEY_FILE (or JWT_SECRET, or JWT_JWKS_URL)",
                "IDENTITY_GATEWAY_PRIVATE_KEY_FILE",
            ],
            vec!["IDENTITY_GATEWAY_PUBLIC_KEY_FILE", "IDENTITY_SERVICE"],
        ),
    ];
    for (args, named, not_named) in cases {
        let output = platform(args, &base);
        assert!(!output.status.success(), "{args:?} started without keys");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for variable in named {
            assert!(stderr.contains(variable), "{args:?} does not name {variable}: {stderr}");
        }
        for variable in not_named {
            assert!(
                !stderr.contains(variable),
                "{args:?} names {variable}, which it does not use: {stderr}"
            );
        }
    }

    let short = [base.clone(), vec![("JWT_SECRET".to_owned(), "short".to_owned())]].concat();
    let stderr = String::from_utf8_lossy(&platform(&["accounts"], &short).stderr).into_owned();
    assert!(stderr.contains("at least 32"), "{stderr}");
    let published = [
        base.clone(),
        vec![(
            "JWT_SECRET".to_owned(),
            kernel::identity::tokens::DEVELOPMENT_JWT_SECRET.to_owned(),
        )],
    ]
    .concat();
    let stderr = String::from_utf8_lossy(&platform(&["accounts"], &published).stderr).into_owned();
    assert!(stderr.contains("development keys"), "{stderr}");

    // Given real keys, Orders gets past them (and stops at the unreachable bus).
    let (_, gateway_public) = crate::key_pair(&dir, "gateway");
    let (_, service_public) = crate::key_pair(&dir, "service");
    let keyed = [
        base,
        vec![
            ("IDENTITY_GATEWAY_PUBLIC_KEY_FILE".to_owned(), gateway_public),
            ("IDENTITY_SERVICE_PUBLIC_KEY_FILE".to_owned(), service_public),
        ],
    ]
    .concat();
    let output = platform(&["orders"], &keyed);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stderr.contains("KEY_FILE"), "{stderr}");
    assert!(stderr.to_ascii_lowercase().contains("redis"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_context_alone_refuses_to_start_without_a_shared_event_bus() {
    let dir = std::env::temp_dir().join(format!("alone-{}", uuid::Uuid::now_v7().simple()));
    let env = [("DATA_DIR".to_owned(), dir.display().to_string())];
    let output = platform(&["inventory"], &env);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("EVENT_BUS_REDIS_URL"), "{stderr}");
}

#[tokio::test]
async fn a_context_alone_migrates_serves_publishes_and_drains_on_sigterm() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let prefix = format!("alone-{}", uuid::Uuid::now_v7().simple());
    let port = crate::free_port();
    let start = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
            .arg("inventory")
            .env("INVENTORY_DATABASE_URL", &database.url)
            .env("INVENTORY_LISTEN", format!("127.0.0.1:{port}"))
            .env("EVENT_BUS_REDIS_URL", &redis)
            .env("EVENT_BUS_PREFIX", &prefix)
            .env("SHUTDOWN_GRACE_SECONDS", "5")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    // Two replicas start at once on one empty database: one migrates, the other waits.
    let mut first = start();
    let second_port = crate::free_port();
    let mut second = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg("inventory")
        .env("INVENTORY_DATABASE_URL", &database.url)
        .env("INVENTORY_LISTEN", format!("127.0.0.1:{second_port}"))
        .env("EVENT_BUS_REDIS_URL", &redis)
        .env("EVENT_BUS_PREFIX", &prefix)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for port in [port, second_port] {
        crate::wait_until_ready(&client, &format!("http://127.0.0.1:{port}")).await;
    }
    let metrics = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);

    // SIGTERM: the process drains and exits by itself, with success.
    let pid = first.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exited = tokio::time::timeout(Duration::from_secs(15), first.wait()).await;
    assert!(matches!(exited, Ok(Ok(status)) if status.success()), "{exited:?}");
    // The other replica still serves.
    let response = client
        .get(format!("http://127.0.0.1:{second_port}/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = second.kill().await;
    kernel_infra::testing::remove_redis_keys(&redis, &prefix).await;
}

/// `platform gateway` alone sends a subgraph's requests to the URL the configuration
/// gives it (a load balancer, a cluster Service), whatever the supergraph says.
#[tokio::test]
async fn the_gateway_sends_a_subgraph_to_the_url_its_configuration_gives() {
    let platform = crate::TestPlatform::start().await;
    let mut endpoints = platform.endpoints.clone();
    let real = endpoints["products"].clone();
    endpoints.insert(
        "products".into(),
        format!("http://127.0.0.1:{}/graphql", crate::free_port()),
    );
    let dir = std::env::temp_dir().join(format!("gw-override-{}", uuid::Uuid::now_v7().simple()));
    let (_gateway, url, _) = crate::spawn_gateway(
        &dir,
        &endpoints,
        &str::to_owned,
        &[("GATEWAY_SUBGRAPH_URLS_PRODUCTS", real.as_str())],
    );
    crate::wait_until_ready(platform.client(), &url).await;
    let body: serde_json::Value = platform
        .client()
        .post(format!("{url}/graphql"))
        .json(&serde_json::json!({ "query": "{ products(first: 1) { edges { node { id } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["products"]["edges"].is_array(), "{body}");
    platform.stop().await;
}

/// A TCP proxy to `target` that can be cut (listener and connections closed) and
/// opened again on the same port: an outage of what is behind it.
struct Outage {
    port: u16,
    target: String,
    cut: kernel_infra::CancellationToken,
}

impl Outage {
    async fn open(port: u16, target: &str) -> Self {
        let cut = kernel_infra::CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let (stop, target_owned) = (cut.clone(), target.to_owned());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else { continue };
                let (stop, target) = (stop.clone(), target_owned.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Self {
            port,
            target: target.to_owned(),
            cut,
        }
    }

    fn cut(&self) {
        self.cut.cancel();
    }

    async fn restore(&mut self) {
        *self = Self::open(self.port, &self.target).await;
    }
}

async fn readiness(client: &reqwest::Client, base: &str) -> u16 {
    match client.get(format!("{base}/readiness")).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

async fn until_readiness(client: &reqwest::Client, base: &str, status: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while readiness(client, base).await != status {
        assert!(Instant::now() < deadline, "{what}: /readiness never answered {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A context that loses its database or the bus answers `/readiness` 503 and, when they
/// come back, 200 again by itself, without a restart.
#[tokio::test]
async fn a_context_that_loses_its_database_or_the_bus_is_not_ready_until_they_return() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    let Some(database) = TestDatabase::postgres().await else {
        return;
    };
    let redis_target = redis.trim_start_matches("redis://").trim_end_matches('/').to_owned();
    let (redis_port, postgres_port, port) = (crate::free_port(), crate::free_port(), crate::free_port());
    let mut bus = Outage::open(redis_port, &redis_target).await;
    let mut db = Outage::open(postgres_port, "127.0.0.1:5432").await;
    let url = database
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{postgres_port}"), 1);
    assert_ne!(url, database.url, "the database is reached through the proxy");
    let mut inventory = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg("inventory")
        .env("INVENTORY_DATABASE_URL", &url)
        .env("INVENTORY_LISTEN", format!("127.0.0.1:{port}"))
        .env("EVENT_BUS_REDIS_URL", format!("redis://127.0.0.1:{redis_port}"))
        .env("EVENT_BUS_PREFIX", format!("outage-{}", uuid::Uuid::now_v7().simple()))
        .env("RUST_LOG", "off")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    until_readiness(&client, &base, 200, "started").await;

    bus.cut();
    until_readiness(&client, &base, 503, "the bus is gone").await;
    bus.restore().await;
    until_readiness(&client, &base, 200, "the bus is back").await;

    db.cut();
    until_readiness(&client, &base, 503, "the database is gone").await;
    db.restore().await;
    until_readiness(&client, &base, 200, "the database is back").await;

    assert!(inventory.try_wait().unwrap().is_none(), "it never exited");
    let _ = inventory.kill().await;
}
