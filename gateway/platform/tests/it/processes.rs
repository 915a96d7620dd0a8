//! The platform as separate processes: every context its own `platform <context>` on a
//! PostgreSQL database of its own, events through Redis Streams, a gateway in front.
//! A customer's whole journey crosses process boundaries (events between contexts go
//! only through Redis), and a context killed with SIGKILL and started again loses
//! nothing.

use std::time::Duration;

use futures::StreamExt;
use kernel_infra::testing::TestDatabase;
use serde_json::{Value, json};

use crate::admin_token;
use crate::shop::{CHECKOUT, Customer, eventually};

/// Every context as child processes (some with several replicas behind HAProxy), and
/// gateways over them.
struct Processes {
    client: reqwest::Client,
    /// Each gateway's base URL.
    gateways: Vec<String>,
    /// Every context process, by replica name (`inventory` or `inventory#1`), with the
    /// environment it is started again with.
    replicas: Vec<Replica>,
    /// Each context's database URL.
    database_urls: platform::PerContext,
    databases: Vec<TestDatabase>,
    _gateways: Vec<tokio::process::Child>,
    _balancer: Option<tokio::process::Child>,
    redis: String,
    prefix: String,
    /// PostgreSQL allows 100 connections: one platform on it at a time (each test
    /// runs on a thread of its own, so waiting here blocks no other test).
    _postgres_turn: Option<std::sync::MutexGuard<'static, ()>>,
}

struct Replica {
    name: String,
    context: &'static str,
    listen: String,
    env: Vec<(String, String)>,
    /// Its current process (replaced when it is started again).
    child: tokio::sync::Mutex<tokio::process::Child>,
}

impl Replica {
    /// Sends its process a signal (`KILL`, `TERM`).
    async fn signal(&self, signal: &str) {
        let pid = self.child.lock().await.id().expect("the replica runs").to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {}", self.name);
    }

    /// Waits for its process to exit; true when it exited by itself with success.
    async fn exited_cleanly(&self) -> bool {
        let mut child = self.child.lock().await;
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
        matches!(status, Ok(Ok(status)) if status.success())
    }

    /// Starts its process again (same database and port) and waits until it is ready.
    async fn start_again(&self, client: &reqwest::Client) {
        *self.child.lock().await = spawn(self.context, &self.env);
        crate::wait_until_ready(client, &format!("http://{}", self.listen)).await;
    }
}

impl Processes {
    /// Every context with one replica but those in `replicated` (two each, behind one
    /// HAProxy frontend each), and `gateways` gateways.
    async fn start(redis: String, replicated: &[&str], gateways: usize) -> Self {
        let postgres_turn = Some(
            crate::POSTGRES_PLATFORMS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let prefix = format!("processes-{}", uuid::Uuid::now_v7().simple());
        let client = reqwest::Client::new();
        // Where each replica listens, and where each context is reached (its balancer's
        // frontend when it has several replicas).
        let mut listens: Vec<(&'static str, Vec<u16>)> = Vec::new();
        let mut endpoints = platform::PerContext::new();
        let mut balancer = String::from(BALANCER_DEFAULTS);
        for spec in &platform::CONTEXTS {
            let count = if replicated.contains(&spec.name) { 2 } else { 1 };
            let ports: Vec<u16> = (0..count).map(|_| crate::free_port()).collect();
            let reached = if count > 1 {
                let frontend = crate::free_port();
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
            let url = format!("{}?max_connections=3", database.url);
            let upper = context.to_ascii_uppercase();
            for (i, port) in ports.iter().enumerate() {
                let listen = format!("127.0.0.1:{port}");
                let mut env = vec![
                    (format!("{upper}_DATABASE_URL"), url.clone()),
                    (format!("{upper}_LISTEN"), listen.clone()),
                    ("EVENT_BUS_REDIS_URL".into(), redis.clone()),
                    ("EVENT_BUS_PREFIX".into(), prefix.clone()),
                    ("SHIPPING_CARRIER_STEP_SECONDS".into(), "0.2".into()),
                    ("CHECKOUT_LEASE_SECONDS".into(), "5".into()),
                    ("CHECKOUT_RESUME_AFTER_SECONDS".into(), "0.5".into()),
                    ("SHUTDOWN_GRACE_SECONDS".into(), "10".into()),
                    ("RUST_LOG".into(), "error".into()),
                ];
                if context == "checkout" {
                    for peer in ["products", "inventory", "coupons", "orders", "payments", "cart"] {
                        env.push((
                            format!("CHECKOUT_{}_URL", peer.to_ascii_uppercase()),
                            endpoints[peer].clone(),
                        ));
                    }
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
            crate::wait_until_ready(&client, &format!("http://{}", replica.listen)).await;
        }
        let balancer = (!replicated.is_empty()).then(|| {
            let path = std::env::temp_dir().join(format!("{prefix}-haproxy.cfg"));
            std::fs::write(&path, &balancer).unwrap();
            tokio::process::Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&path)
                .kill_on_drop(true)
                .spawn()
                .expect("HAProxy is installed (.ci/run installs it)")
        });
        let (mut gateway_processes, mut gateway_urls) = (Vec::new(), Vec::new());
        for i in 0..gateways {
            let dir = std::env::temp_dir().join(format!("{prefix}-gw{i}"));
            let (process, url) = crate::spawn_gateway(&dir, &endpoints, &str::to_owned, &[]);
            crate::wait_until_ready(&client, &url).await;
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

    fn replica(&self, name: &str) -> &Replica {
        self.replicas
            .iter()
            .find(|replica| replica.name == name)
            .unwrap_or_else(|| panic!("no replica {name}"))
    }

    /// SIGKILLs a replica and starts it again (same database and port).
    async fn kill_and_restart(&self, name: &str) {
        let replica = self.replica(name);
        replica.signal("KILL").await;
        replica.start_again(&self.client).await;
    }

    async fn post(&self, token: &str, query: &str, variables: Value) -> Value {
        self.post_to(0, token, query, variables).await
    }

    /// POSTs to gateway `gateway` (anonymously when `token` is empty).
    async fn post_to(&self, gateway: usize, token: &str, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.gateways[gateway % self.gateways.len()]))
            .json(&json!({ "query": query, "variables": variables }));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.post(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    async fn stop(self) {
        drop(self.replicas);
        for database in self.databases {
            database.remove().await;
        }
        kernel_infra::testing::remove_redis_keys(&self.redis, &self.prefix).await;
    }
}

/// What every load balancer of the test shares: a request that could not reach a
/// replica (refused, or cut off before an answer) goes to the other one. Every command
/// the saga sends carries its id, so a repeat acts once.
const BALANCER_DEFAULTS: &str = "global\n    maxconn 4096\n\n\
defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    timeout server 60s\n\
    retries 3\n    option redispatch\n    retry-on conn-failure empty-response\n";

fn spawn(name: &str, env: &[(String, String)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg(name)
        .envs(env.iter().cloned())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// An admin creates and publishes a product with one SKU; once Inventory has heard of it
/// (through Redis), `units` go in stock.
async fn stocked_product(processes: &Processes, sku: &str, units: i64) {
    let admin = admin_token();
    let input = json!({ "input": {
        "name": format!("Product {sku}"), "category": "electronics",
        "variants": [{ "sku": sku, "name": "Standard" }],
        "price": { "amount": 2500, "currency": "USD" },
    }});
    let data = processes
        .ok(
            &admin,
            "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }",
            input,
        )
        .await;
    let id = data["createProduct"]["id"].clone();
    processes
        .ok(
            &admin,
            "mutation($id: ID!) { publishProduct(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    eventually("Inventory hears of the SKU", || async {
        let body = processes
            .post(
                &admin,
                "query($sku: String!) { stockItem(sku: $sku) { sku } }",
                json!({ "sku": sku }),
            )
            .await;
        !body["data"]["stockItem"].is_null()
    })
    .await;
    processes
        .ok(
            &admin,
            r#"mutation($sku: String!, $delta: Int!) { adjustStock(sku: $sku, delta: $delta, reason: "delivery") { sku } }"#,
            json!({ "sku": sku, "delta": units }),
        )
        .await;
}

/// A customer fills a cart (once Cart has heard the price, through Redis) and checks out.
async fn buy(processes: &Processes, customer: &Customer, sku: &str, coupon: Option<&str>, key: &str) -> Value {
    eventually("Cart knows the SKU's price", || async {
        let body = processes
            .post(
                &customer.token,
                "mutation($sku: String!) { addToCart(sku: $sku, quantity: 1) { id } }",
                json!({ "sku": sku }),
            )
            .await;
        body["errors"].is_null()
    })
    .await;
    let data = processes.ok(&customer.token, "{ myCart { id } }", json!({})).await;
    let input = json!({ "input": {
        "cartId": data["myCart"]["id"], "couponCode": coupon, "paymentMethod": "card", "idempotencyKey": key,
    }});
    processes.ok(&customer.token, CHECKOUT, input).await["checkout"].clone()
}

/// The whole journey across processes and both gateways: a new customer signs up on
/// one gateway and follows their orders live over graphql-ws on the other, browses
/// with live inventory, checks out with a coupon, and the order goes to DELIVERED
/// (Payments, Shipping and Orders follow each other only through Redis Streams). Then
/// an Inventory replica is killed outright and started again, losing nothing.
#[tokio::test]
async fn every_context_as_its_own_process_serves_the_journey_and_survives_a_kill() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    if TestDatabase::postgres().await.is_none() {
        return;
    }
    let processes = Processes::start(redis, &["products", "inventory"], 2).await;
    stocked_product(&processes, "PROC-1", 5).await;
    let admin = admin_token();
    processes
        .ok(
            &admin,
            "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { code } }",
            json!({ "input": { "code": "PROC10", "kind": "PERCENTAGE", "basisPoints": 1000 } }),
        )
        .await;

    let email = format!("ann-{}@example.com", uuid::Uuid::now_v7().simple());
    let signed_up = processes
        .ok(
            "",
            "mutation($input: RegisterInput!) { register(input: $input) { token user { id } } }",
            json!({ "input": { "email": email, "password": "correct horse battery", "displayName": "Ann" } }),
        )
        .await;
    let customer = Customer {
        token: signed_up["register"]["token"].as_str().unwrap().to_owned(),
        user_id: signed_up["register"]["user"]["id"].as_str().unwrap().parse().unwrap(),
    };
    let mut live = crate::websocket::WsClient::connect_at(&processes.gateways[1], Some(&customer.token)).await;
    live.subscribe("mine", "subscription { myOrderUpdates { orderId to } }", json!({}))
        .await;

    let listing = processes
        .post_to(
            1,
            &customer.token,
            "{ products(first: 50) { edges { node { name inventory { available } } } } }",
            json!({}),
        )
        .await;
    let edges = listing["data"]["products"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let browsed = edges.iter().find(|edge| edge["node"]["name"] == "Product PROC-1");
    assert_eq!(
        browsed.map(|edge| edge["node"]["inventory"]["available"].clone()),
        Some(json!(5)),
        "{listing}"
    );

    let checkout = buy(&processes, &customer, "PROC-1", Some("PROC10"), "processes-1").await;
    assert_eq!(checkout["status"], "COMPLETED", "{checkout}");
    assert_eq!(checkout["discount"]["amount"], 250, "{checkout}");
    let order = checkout["order"]["id"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    while let Some(message) = live.next(Duration::from_secs(30)).await {
        let update = &message["payload"]["data"]["myOrderUpdates"];
        assert_eq!(update["orderId"], order.as_str(), "{message}");
        statuses.push(update["to"].as_str().unwrap_or_default().to_owned());
        if statuses.last().map(String::as_str) == Some("DELIVERED") {
            break;
        }
    }
    assert_eq!(
        statuses,
        crate::subscriptions::JOURNEY,
        "followed live on the other gateway"
    );

    // One Inventory replica killed outright and started again: stock and reservations
    // are as they were, and the next checkout goes through.
    processes.kill_and_restart("inventory").await;
    let stock = processes
        .ok(
            &admin,
            "query($sku: String!) { stockItem(sku: $sku) { inventory { onHand reserved } } }",
            json!({ "sku": "PROC-1" }),
        )
        .await;
    assert_eq!(
        stock["stockItem"]["inventory"],
        json!({ "onHand": 4, "reserved": 0 }),
        "{stock}"
    );
    let again = buy(&processes, &Customer::new(), "PROC-1", None, "processes-2").await;
    assert_eq!(again["status"], "COMPLETED", "{again}");
    processes.stop().await;
}

const UNITS: i64 = 50;
const BUYERS: usize = 200;

/// One checkout through gateway `i` (customers alternate between the gateways).
async fn checkout_through(processes: &Processes, i: usize, customer: &Customer, cart: &str, key: &str) -> Value {
    let input = json!({ "input": { "cartId": cart, "paymentMethod": "card", "idempotencyKey": key } });
    processes.post_to(i, &customer.token, CHECKOUT, input).await
}

/// A cart with one unit of `sku`, filled through gateway `i`.
async fn cart_with(processes: &Processes, i: usize, customer: &Customer, sku: &str) -> String {
    let mut id = String::new();
    for _ in 0..100 {
        let body = processes
            .post_to(
                i,
                &customer.token,
                "mutation($sku: String!) { addToCart(sku: $sku, quantity: 1) { id } }",
                json!({ "sku": sku }),
            )
            .await;
        if let Some(cart) = body["data"]["addToCart"]["id"].as_str() {
            id = cart.to_owned();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!id.is_empty(), "Cart never learned of {sku}");
    id
}

/// Products, Inventory and Orders with two replicas each behind HAProxy, two gateways:
/// a flash sale of 200 buyers for 50 units while Inventory's replicas are killed (one,
/// then both) and started again sells exactly the stock, leaves nothing reserved and
/// every checkout finished with everything undone; then Orders is rolled (SIGTERM a
/// replica, start it again, then the other) under a steady stream of checkouts, and no
/// client request fails.
#[tokio::test]
async fn replicas_behind_load_balancers_survive_kills_and_a_rolling_restart() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    if TestDatabase::postgres().await.is_none() {
        return;
    }
    let processes = Processes::start(redis, &["products", "inventory", "orders"], 2).await;
    stocked_product(&processes, "SALE-1", UNITS).await;
    let customers: Vec<Customer> = (0..BUYERS).map(|_| Customer::new()).collect();
    let carts: Vec<String> = futures::stream::iter(customers.iter().enumerate())
        .map(|(i, customer)| cart_with(&processes, i, customer, "SALE-1"))
        .buffered(16)
        .collect()
        .await;

    // The sale, while Inventory's replicas die: one, then both, then both come back.
    let inventory: Vec<&Replica> = ["inventory", "inventory#1"]
        .map(|name| processes.replica(name))
        .to_vec();
    let chaos = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        inventory[0].signal("KILL").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        inventory[1].signal("KILL").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        inventory[0].start_again(&processes.client).await;
        inventory[1].start_again(&processes.client).await;
    };
    let sale = futures::stream::iter(customers.iter().zip(&carts).enumerate())
        .map(|(i, (customer, cart))| checkout_through(&processes, i, customer, cart, "sale-1"))
        .buffer_unordered(16)
        .collect::<Vec<Value>>();
    let ((), _answers) = tokio::join!(chaos, sale);

    // Whoever's checkout failed tries again until the stock is sold: a checkout that
    // met a dead Inventory is compensated, handing its units back.
    let checkout = kernel_infra::service::open_as::<checkout_service::Checkout>(
        &checkout_service::CONTEXT,
        &processes.database_urls["checkout"],
    )
    .await
    .unwrap();
    let mut sessions = Vec::new();
    for wave in 2..=6 {
        eventually("every checkout has finished", || async {
            checkout
                .saga
                .all()
                .await
                .unwrap()
                .iter()
                .all(|s| s.status.is_finished())
        })
        .await;
        sessions = checkout.saga.all().await.unwrap();
        let sold: std::collections::HashSet<uuid::Uuid> = sessions
            .iter()
            .filter(|s| s.status == checkout_domain::SessionStatus::Completed)
            .map(|s| s.request.user_id)
            .collect();
        if sold.len() as i64 >= UNITS {
            break;
        }
        let retry: Vec<(usize, (&Customer, &String))> = customers
            .iter()
            .zip(&carts)
            .enumerate()
            .filter(|(_, (customer, _))| !sold.contains(&customer.user_id))
            .collect();
        let key = format!("sale-{wave}");
        futures::stream::iter(retry)
            .map(|(i, (customer, cart))| checkout_through(&processes, i, customer, cart, &key))
            .buffer_unordered(16)
            .collect::<Vec<Value>>()
            .await;
    }
    let completed = sessions
        .iter()
        .filter(|s| s.status == checkout_domain::SessionStatus::Completed)
        .count();
    assert_eq!(completed as i64, UNITS, "exactly the stock is sold");
    for session in &sessions {
        assert!(
            matches!(
                session.status,
                checkout_domain::SessionStatus::Completed | checkout_domain::SessionStatus::Failed
            ),
            "{session:?}"
        );
    }
    let admin = admin_token();
    eventually("nothing stays reserved", || async {
        let stock = processes
            .ok(
                &admin,
                "query($sku: String!) { stockItem(sku: $sku) { inventory { onHand reserved } } }",
                json!({ "sku": "SALE-1" }),
            )
            .await;
        stock["stockItem"]["inventory"] == json!({ "onHand": 0, "reserved": 0 })
    })
    .await;
    let payments = payments_service::Payments::open(&processes.database_urls["payments"])
        .await
        .unwrap();
    let imbalance: Vec<(String, i64)> = payments
        .payments
        .ledger_imbalance()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, sum)| *sum != 0)
        .collect();
    assert!(imbalance.is_empty(), "the ledger balances: {imbalance:?}");

    // Orders rolled under a steady stream of checkouts: no request fails.
    stocked_product(&processes, "ROLL-1", 40).await;
    let steady: Vec<Customer> = (0..30).map(|_| Customer::new()).collect();
    let steady_carts: Vec<String> = futures::stream::iter(steady.iter().enumerate())
        .map(|(i, customer)| cart_with(&processes, i, customer, "ROLL-1"))
        .buffered(8)
        .collect()
        .await;
    let orders: Vec<&Replica> = ["orders", "orders#1"].map(|name| processes.replica(name)).to_vec();
    let roll = async {
        for replica in &orders {
            replica.signal("TERM").await;
            assert!(
                replica.exited_cleanly().await,
                "{} drains and exits by itself",
                replica.name
            );
            replica.start_again(&processes.client).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let stream = async {
        let mut answers = Vec::new();
        for (i, (customer, cart)) in steady.iter().zip(&steady_carts).enumerate() {
            answers.push(checkout_through(&processes, i, customer, cart, "roll").await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        answers
    };
    let ((), answers) = tokio::join!(roll, stream);
    for answer in &answers {
        assert!(answer["errors"].is_null(), "a request failed during the roll: {answer}");
        assert_eq!(answer["data"]["checkout"]["status"], "COMPLETED", "{answer}");
    }
    drop(inventory);
    drop(orders);
    processes.stop().await;
}
