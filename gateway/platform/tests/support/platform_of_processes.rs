//! The platform as separate processes, for the integration tests (tests/it) and the
//! benchmarks (benches/), which include this file: every context its
//! own `platform <context>` process on a PostgreSQL database of its own, events through
//! Redis Streams, contexts with several replicas behind HAProxy, gateways in front.

// Each includer uses a part of what is here.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use kernel_infra::testing::TestDatabase;
use serde_json::{Value, json};

/// Taken by a platform on PostgreSQL for its lifetime: PostgreSQL allows 100
/// connections, so one platform on it at a time (each test runs on a thread of its own,
/// so waiting here blocks no other test).
pub static POSTGRES_PLATFORMS: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sum of the metric lines at `metrics_url` (a gateway's Prometheus port) that
/// start with `name` and hold `label`.
pub async fn metric(client: &reqwest::Client, metrics_url: &str, name: &str, label: &str) -> u64 {
    metric_in(&metrics_text(client, metrics_url).await, name, label)
}

/// The Prometheus text at `metrics_url`.
pub async fn metrics_text(client: &reqwest::Client, metrics_url: &str) -> String {
    client
        .get(format!("{metrics_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The sum of the lines of `text` that start with `name` and hold `label`.
pub fn metric_in(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of /proc's CPU times.
pub fn ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The `q` quantile of `sorted`, in milliseconds (NaN when empty).
pub fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

/// Waits for `/readiness` at `url` (a gateway's answers only once its supergraph is
/// loaded, a context's once its database and bus answer).
pub async fn wait_until_ready(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{url}/readiness")).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `condition` until it holds (at most 30 s).
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A token of a new user with `role`, signed with the key the gateway verifies, and
/// that user's id.
pub fn token(role: kernel::Role) -> (String, uuid::Uuid) {
    let identity = kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role,
    };
    let token = kernel_infra::identity::TokenIssuer::access_tokens()
        .unwrap()
        .issue(&identity)
        .unwrap()
        .0;
    (token, identity.user_id)
}

/// A token of a new ADMIN, signed with the key the gateway verifies.
pub fn admin_token() -> String {
    token(kernel::Role::Admin).0
}

/// Starts a gateway over the subgraphs at `endpoints`, its files in `dir`, its
/// configuration edited by `edit` and `env` added (it logs warnings unless `env` sets
/// `LOG_LEVEL`); returns the process, its URL and the URL of its metrics port.
pub fn spawn_gateway(
    dir: &std::path::Path,
    endpoints: &platform::PerContext,
    edit: &dyn Fn(&str) -> String,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, String) {
    let supergraph = platform::supergraph(endpoints).unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let vars = platform::gateway_env(dir, &supergraph, port, metrics_port).unwrap();
    let config = &vars
        .iter()
        .find(|(name, _)| name == "ROUTER_CONFIG_FILE_PATH")
        .unwrap()
        .1;
    std::fs::write(config, edit(&std::fs::read_to_string(config).unwrap())).unwrap();
    let gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg("gateway")
        .envs(vars)
        .env("LOG_LEVEL", "warn")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (
        gateway,
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{metrics_port}"),
    )
}

/// POSTs an operation to the gateway at `gateway` (anonymously when `token` is empty).
/// A transport failure or a body that is not JSON comes back as a GraphQL error, so a
/// caller counting failures sees it as one.
pub async fn post(client: &reqwest::Client, gateway: &str, token: &str, query: &str, variables: Value) -> Value {
    let mut request = client
        .post(format!("{gateway}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => match response.json().await {
            Ok(body) => body,
            Err(err) => json!({ "errors": [{ "message": format!("not JSON: {err}") }] }),
        },
        Err(err) => json!({ "errors": [{ "message": format!("no answer: {err}") }] }),
    }
}

/// How to lay the platform out.
pub struct Layout<'a> {
    /// The contexts with two replicas (behind one HAProxy frontend each); the others
    /// have one.
    pub replicated: &'a [&'a str],
    pub gateways: usize,
    /// Each process's PostgreSQL pool.
    pub pool_size: u32,
    /// Settings every context process gets (on top of its database, address and bus).
    pub env: &'a [(&'a str, &'a str)],
    /// Settings every gateway gets.
    pub gateway_env: &'a [(&'a str, &'a str)],
}

/// Every context as child processes (some with several replicas behind HAProxy), and
/// gateways over them.
pub struct Processes {
    pub client: reqwest::Client,
    /// Each gateway's base URL.
    pub gateways: Vec<String>,
    /// Every context process, by replica name (`inventory` or `inventory#1`), with the
    /// environment it is started again with.
    pub replicas: Vec<Replica>,
    /// Each context's database URL.
    pub database_urls: platform::PerContext,
    databases: Vec<TestDatabase>,
    _gateways: Vec<tokio::process::Child>,
    _balancer: Option<tokio::process::Child>,
    redis: String,
    prefix: String,
    _postgres_turn: std::sync::MutexGuard<'static, ()>,
}

pub struct Replica {
    pub name: String,
    context: &'static str,
    pub listen: String,
    env: Vec<(String, String)>,
    /// Its current process (replaced when it is started again).
    child: tokio::sync::Mutex<tokio::process::Child>,
}

impl Replica {
    /// Sends its process a signal (`KILL`, `TERM`).
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.lock().await.id().expect("the replica runs").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {}", self.name);
    }

    /// Waits for its process to exit; true when it exited by itself with success.
    pub async fn exited_cleanly(&self) -> bool {
        let mut child = self.child.lock().await;
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
        matches!(status, Ok(Ok(status)) if status.success())
    }

    /// Starts its process again (same database and port) without waiting for it.
    pub async fn respawn(&self) {
        *self.child.lock().await = spawn(self.context, &self.env);
    }

    /// Starts its process again and waits until it is ready.
    pub async fn start_again(&self, client: &reqwest::Client) {
        self.respawn().await;
        wait_until_ready(client, &format!("http://{}", self.listen)).await;
    }
}

impl Processes {
    /// Starts the platform laid out as `layout`, its events under a prefix of its own
    /// on the Redis at `redis`, every context on a new PostgreSQL database.
    // The turn is held for the platform's whole life on purpose: each test runs on a
    // thread of its own, so only other platforms on PostgreSQL wait for it.
    #[allow(clippy::await_holding_lock)]
    pub async fn start(redis: String, layout: &Layout<'_>) -> Self {
        let postgres_turn = POSTGRES_PLATFORMS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let prefix = format!("processes-{}", uuid::Uuid::now_v7().simple());
        let client = reqwest::Client::new();
        // Where each replica listens, and where each context is reached (its balancer's
        // frontend when it has several replicas).
        let mut listens: Vec<(&'static str, Vec<u16>)> = Vec::new();
        let mut endpoints = platform::PerContext::new();
        let mut balancer = String::from(BALANCER_DEFAULTS);
        for spec in &platform::CONTEXTS {
            let count = if layout.replicated.contains(&spec.name) { 2 } else { 1 };
            let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
            let reached = if count > 1 {
                let frontend = free_port();
                balancer.push_str(&format!(
                    "\nfrontend {name}\n    bind 127.0.0.1:{frontend}\n    default_backend {name}\n\n\
                     backend {name}\n    option httpchk GET /readiness\n",
                    name = spec.name
                ));
                for (i, port) in ports.iter().enumerate() {
                    balancer.push_str(&format!(
                        "    server r{i} 127.0.0.1:{port} check inter 200ms fall 1 rise 1\n"
                    ));
                }
                frontend
            } else {
                ports[0]
            };
            endpoints.insert(spec.name.into(), format!("http://127.0.0.1:{reached}/graphql"));
            listens.push((spec.name, ports));
        }
        let (mut replicas, mut databases, mut database_urls) = (Vec::new(), Vec::new(), platform::PerContext::new());
        for (context, ports) in listens {
            let database = TestDatabase::postgres().await.expect("PostgreSQL is reachable");
            let url = format!("{}?max_connections={}", database.url, layout.pool_size);
            let upper = context.to_ascii_uppercase();
            for (i, port) in ports.iter().enumerate() {
                let listen = format!("127.0.0.1:{port}");
                let mut env = vec![
                    (format!("{upper}_DATABASE_URL"), url.clone()),
                    (format!("{upper}_LISTEN"), listen.clone()),
                    ("EVENT_BUS_REDIS_URL".into(), redis.clone()),
                    ("EVENT_BUS_PREFIX".into(), prefix.clone()),
                    ("RUST_LOG".into(), "error".into()),
                ];
                env.extend(
                    layout
                        .env
                        .iter()
                        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
                );
                let spec = platform::CONTEXTS
                    .iter()
                    .find(|spec| spec.name == context)
                    .expect("a context of the platform");
                for peer in spec.peers() {
                    env.push((
                        format!("{upper}_{}_URL", peer.to_ascii_uppercase()),
                        endpoints[peer].clone(),
                    ));
                }
                let name = if i == 0 {
                    context.to_owned()
                } else {
                    format!("{context}#{i}")
                };
                let child = tokio::sync::Mutex::new(spawn(context, &env));
                replicas.push(Replica {
                    name,
                    context,
                    listen,
                    env,
                    child,
                });
            }
            database_urls.insert(context.into(), url);
            databases.push(database);
        }
        for replica in &replicas {
            wait_until_ready(&client, &format!("http://{}", replica.listen)).await;
        }
        let balancer = (!layout.replicated.is_empty()).then(|| {
            let path = std::env::temp_dir().join(format!("{prefix}-haproxy.cfg"));
            std::fs::write(&path, &balancer).unwrap();
            tokio::process::Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&path)
                .kill_on_drop(true)
                .spawn()
                .expect("HAProxy is installed (.ci/run installs it)")
        });
        // HAProxy binds its frontends after it starts: a gateway that asked before then
        // would find nothing listening.
        for context in layout.replicated {
            let base = endpoints[*context].trim_end_matches("/graphql").to_owned();
            wait_until_ready(&client, &base).await;
        }
        let (mut gateway_processes, mut gateway_urls) = (Vec::new(), Vec::new());
        for i in 0..layout.gateways {
            let dir = std::env::temp_dir().join(format!("{prefix}-gw{i}"));
            let (process, url, _) = spawn_gateway(&dir, &endpoints, &str::to_owned, layout.gateway_env);
            wait_until_ready(&client, &url).await;
            gateway_processes.push(process);
            gateway_urls.push(url);
        }
        Self {
            client,
            gateways: gateway_urls,
            replicas,
            database_urls,
            databases,
            _gateways: gateway_processes,
            _balancer: balancer,
            redis,
            prefix,
            _postgres_turn: postgres_turn,
        }
    }

    pub fn replica(&self, name: &str) -> &Replica {
        self.replicas
            .iter()
            .find(|replica| replica.name == name)
            .unwrap_or_else(|| panic!("no replica {name}"))
    }

    /// SIGKILLs a replica and starts it again (same database and port).
    pub async fn kill_and_restart(&self, name: &str) {
        let replica = self.replica(name);
        replica.signal("KILL").await;
        replica.start_again(&self.client).await;
    }

    pub async fn post(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post_to(0, token, query, variables).await
    }

    /// POSTs to gateway `gateway` (anonymously when `token` is empty).
    pub async fn post_to(&self, gateway: usize, token: &str, query: &str, variables: Value) -> Value {
        let url = &self.gateways[gateway % self.gateways.len()];
        post(&self.client, url, token, query, variables).await
    }

    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.post(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    pub async fn stop(self) {
        drop(self.replicas);
        for database in self.databases {
            database.remove().await;
        }
        kernel_infra::testing::remove_redis_keys(&self.redis, &self.prefix).await;
    }
}

/// What every load balancer shares: a request that could not reach a replica (refused,
/// or cut off before an answer) goes to the other one. Every command the saga sends
/// carries its id, so a repeat acts once.
const BALANCER_DEFAULTS: &str = "global\n    maxconn 4096\n\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    timeout server 60s\n\
    retries 3\n    option redispatch\n    retry-on conn-failure empty-response\n";

fn spawn(name: &str, env: &[(String, String)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg(name)
        // Files kept outside the databases (customers' e-mails) stay out of the clone.
        .env("DATA_DIR", std::env::temp_dir().join("ecommerce-processes"))
        .envs(env.iter().cloned())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Through the gateway at `gateway`, an admin creates and publishes a product with one
/// SKU; once Inventory has heard of it (through the bus), `units` go in stock. Returns
/// the product's id.
pub async fn stocked_product(client: &reqwest::Client, gateway: &str, sku: &str, units: i64) -> String {
    let admin = admin_token();
    let ok = |query: &'static str, variables: Value| {
        let admin = admin.clone();
        async move {
            let body = post(client, gateway, &admin, query, variables).await;
            assert!(body["errors"].is_null(), "{body}");
            body["data"].clone()
        }
    };
    let input = json!({ "input": {
        "name": format!("Product {sku}"), "category": "electronics",
        "variants": [{ "sku": sku, "name": "Standard" }],
        "price": { "amount": 2500, "currency": "USD" },
    }});
    let data = ok(
        "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }",
        input,
    )
    .await;
    let id = data["createProduct"]["id"].clone();
    ok(
        "mutation($id: ID!) { publishProduct(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    eventually("Inventory hears of the SKU", || async {
        let body = post(
            client,
            gateway,
            &admin,
            "query($sku: String!) { stockItem(sku: $sku) { sku } }",
            json!({ "sku": sku }),
        )
        .await;
        !body["data"]["stockItem"].is_null()
    })
    .await;
    ok(
        r#"mutation($sku: String!, $delta: Int!) { adjustStock(sku: $sku, delta: $delta, reason: "delivery") { sku } }"#,
        json!({ "sku": sku, "delta": units }),
    )
    .await;
    id.as_str().unwrap().to_owned()
}

/// The id of a cart holding one unit of `sku`, filled by the customer of `token`
/// through the gateway at `gateway` (retried until Cart has heard the SKU's price).
pub async fn cart_with(client: &reqwest::Client, gateway: &str, token: &str, sku: &str) -> String {
    for _ in 0..100 {
        let body = post(
            client,
            gateway,
            token,
            "mutation($sku: String!) { addToCart(sku: $sku, quantity: 1) { id } }",
            json!({ "sku": sku }),
        )
        .await;
        if let Some(cart) = body["data"]["addToCart"]["id"].as_str() {
            return cart.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Cart never learned of {sku}");
}
