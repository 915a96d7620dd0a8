//! The platform as separate processes: every context its own `platform <context>` on a
//! PostgreSQL database of its own, events through Redis Streams, a gateway in front.
//! A customer's whole journey crosses process boundaries (events between contexts go
//! only through Redis), and a context killed with SIGKILL and started again loses
//! nothing.

use std::time::Duration;

use kernel_infra::testing::TestDatabase;
use serde_json::{Value, json};

use crate::shop::{CHECKOUT, Customer, eventually};

/// Every context as a child process, and a gateway over them.
struct Processes {
    client: reqwest::Client,
    gateway: String,
    contexts: Vec<(String, tokio::process::Child)>,
    /// How each context is started again: its environment.
    env: Vec<Vec<(String, String)>>,
    databases: Vec<TestDatabase>,
    _gateway: tokio::process::Child,
    redis: String,
    prefix: String,
    /// PostgreSQL allows 100 connections: one platform on it at a time (each test
    /// runs on a thread of its own, so waiting here blocks no other test).
    _postgres_turn: Option<std::sync::MutexGuard<'static, ()>>,
}

impl Processes {
    async fn start(redis: String) -> Self {
        let postgres_turn = Some(
            crate::POSTGRES_PLATFORMS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let prefix = format!("processes-{}", uuid::Uuid::now_v7().simple());
        let client = reqwest::Client::new();
        let mut endpoints = platform::PerContext::new();
        let ports: Vec<u16> = platform::CONTEXTS.iter().map(|_| crate::free_port()).collect();
        for (spec, port) in platform::CONTEXTS.iter().zip(&ports) {
            endpoints.insert(spec.name.into(), format!("http://127.0.0.1:{port}/graphql"));
        }
        let (mut env, mut databases, mut contexts) = (Vec::new(), Vec::new(), Vec::new());
        for (spec, port) in platform::CONTEXTS.iter().zip(&ports) {
            let database = TestDatabase::postgres().await.expect("PostgreSQL is reachable");
            let upper = spec.name.to_ascii_uppercase();
            let mut vars = vec![
                (
                    format!("{upper}_DATABASE_URL"),
                    format!("{}?max_connections=3", database.url),
                ),
                (format!("{upper}_LISTEN"), format!("127.0.0.1:{port}")),
                ("EVENT_BUS_REDIS_URL".into(), redis.clone()),
                ("EVENT_BUS_PREFIX".into(), prefix.clone()),
                ("SHIPPING_CARRIER_STEP_SECONDS".into(), "0.2".into()),
                ("RUST_LOG".into(), "error".into()),
            ];
            if spec.name == "checkout" {
                for peer in ["products", "inventory", "coupons", "orders", "payments", "cart"] {
                    vars.push((
                        format!("CHECKOUT_{}_URL", peer.to_ascii_uppercase()),
                        endpoints[peer].clone(),
                    ));
                }
            }
            contexts.push((spec.name.to_owned(), spawn(spec.name, &vars)));
            databases.push(database);
            env.push(vars);
        }
        for (spec, port) in platform::CONTEXTS.iter().zip(&ports) {
            until_ready(&client, spec.name, &format!("http://127.0.0.1:{port}")).await;
        }
        let dir = std::env::temp_dir().join(format!("processes-gw-{}", uuid::Uuid::now_v7().simple()));
        let (gateway_process, gateway) = crate::spawn_gateway(&dir, &endpoints, &str::to_owned, &[]);
        crate::wait_until_ready(&client, &gateway).await;
        Self {
            client,
            gateway,
            contexts,
            env,
            databases,
            _gateway: gateway_process,
            redis,
            prefix,
            _postgres_turn: postgres_turn,
        }
    }

    /// SIGKILLs a context's process and starts it again on the same database and port.
    async fn kill_and_restart(&mut self, name: &str) {
        let index = platform::CONTEXTS.iter().position(|spec| spec.name == name).unwrap();
        let (_, child) = &mut self.contexts[index];
        child.kill().await.unwrap();
        let restarted = spawn(name, &self.env[index]);
        self.contexts[index].1 = restarted;
        let listen = self.env[index]
            .iter()
            .find(|(key, _)| key.ends_with("_LISTEN"))
            .map(|(_, value)| value.clone())
            .unwrap();
        until_ready(&self.client, name, &format!("http://{listen}")).await;
    }

    async fn post(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.gateway))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.post(token, query, variables).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    async fn stop(self) {
        drop(self.contexts);
        for database in self.databases {
            database.remove().await;
        }
        kernel_infra::testing::remove_redis_keys(&self.redis, &self.prefix).await;
    }
}

fn spawn(name: &str, env: &[(String, String)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"))
        .arg(name)
        .envs(env.iter().cloned())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn until_ready(client: &reqwest::Client, name: &str, base: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base}/readiness")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{name} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn admin_token() -> String {
    let admin = kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role: kernel::Role::Admin,
    };
    kernel_infra::identity::TokenIssuer::from_env()
        .unwrap()
        .issue(&admin)
        .unwrap()
        .0
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
async fn buy(processes: &Processes, customer: &Customer, sku: &str, key: &str) -> Value {
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
    let input = json!({ "input": { "cartId": data["myCart"]["id"], "paymentMethod": "card", "idempotencyKey": key } });
    processes.ok(&customer.token, CHECKOUT, input).await["checkout"].clone()
}

#[tokio::test]
async fn every_context_as_its_own_process_serves_the_journey_and_survives_a_kill() {
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    if TestDatabase::postgres().await.is_none() {
        return;
    }
    let mut processes = Processes::start(redis).await;
    stocked_product(&processes, "PROC-1", 5).await;

    let customer = Customer::new();
    let checkout = buy(&processes, &customer, "PROC-1", "processes-1").await;
    assert_eq!(checkout["status"], "COMPLETED", "{checkout}");
    let order = checkout["order"]["id"].clone();
    // Payments, Shipping and Orders follow each other only through Redis Streams.
    eventually("the order is delivered", || async {
        let data = processes
            .ok(
                &customer.token,
                "query($id: ID!) { order(id: $id) { status } }",
                json!({ "id": order }),
            )
            .await;
        data["order"]["status"] == "DELIVERED"
    })
    .await;

    // Inventory killed outright and started again: its stock and reservations are as
    // they were, and the next checkout goes through.
    processes.kill_and_restart("inventory").await;
    let admin = admin_token();
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
    let again = buy(&processes, &Customer::new(), "PROC-1", "processes-2").await;
    assert_eq!(again["status"], "COMPLETED", "{again}");
    processes.stop().await;
}
