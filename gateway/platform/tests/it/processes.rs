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
use crate::platform_of_processes::{Layout, Processes, Replica, cart_with, stocked_product};
use crate::shop::{CHECKOUT, Customer, eventually};

/// How the tests run the contexts: fast background jobs, short leases.
const FAST: &[(&str, &str)] = &[
    ("SHIPPING_CARRIER_STEP_SECONDS", "0.2"),
    ("CHECKOUT_LEASE_SECONDS", "5"),
    ("CHECKOUT_RESUME_AFTER_SECONDS", "0.5"),
    ("SHUTDOWN_GRACE_SECONDS", "10"),
];

async fn start(redis: String, replicated: &[&str]) -> Processes {
    let layout = Layout {
        replicated,
        gateways: 2,
        pool_size: 3,
        env: FAST,
        gateway_env: &[],
    };
    Processes::start(redis, &layout).await
}

/// A customer fills a cart (once Cart has heard the price, through Redis) and checks out.
async fn buy(processes: &Processes, customer: &Customer, sku: &str, coupon: Option<&str>, key: &str) -> Value {
    let cart = cart_with(&processes.client, &processes.gateways[0], &customer.token, sku).await;
    let input = json!({ "input": {
        "cartId": cart, "couponCode": coupon, "paymentMethod": "card", "idempotencyKey": key,
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
    let processes = start(redis, &["products", "inventory"]).await;
    stocked_product(&processes.client, &processes.gateways[0], "PROC-1", 5).await;
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
async fn cart_through(processes: &Processes, i: usize, customer: &Customer, sku: &str) -> String {
    let gateway = &processes.gateways[i % processes.gateways.len()];
    cart_with(&processes.client, gateway, &customer.token, sku).await
}

/// Products, Inventory and Orders with two replicas each behind HAProxy, two gateways:
/// a flash sale of 200 buyers for 50 units while Inventory's replicas are killed (one,
/// then both) and started again sells exactly the stock, leaves nothing reserved and
/// every checkout finished with everything undone; then Orders is rolled (SIGTERM a
/// replica, start it again, then the other) under a steady stream of checkouts, and no
/// client request fails.
#[tokio::test]
async fn replicas_behind_load_balancers_survive_kills_and_a_rolling_restart() {
    let _turn = crate::HEAVY.lock().await;
    let Some(redis) = kernel_infra::testing::redis_url().await else {
        return;
    };
    if TestDatabase::postgres().await.is_none() {
        return;
    }
    let processes = start(redis, &["products", "inventory", "orders"]).await;
    stocked_product(&processes.client, &processes.gateways[0], "SALE-1", UNITS).await;
    let customers: Vec<Customer> = (0..BUYERS).map(|_| Customer::new()).collect();
    let carts: Vec<String> = futures::stream::iter(customers.iter().enumerate())
        .map(|(i, customer)| cart_through(&processes, i, customer, "SALE-1"))
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
                .all(|s| s.status().is_finished())
        })
        .await;
        sessions = checkout.saga.all().await.unwrap();
        let sold: std::collections::HashSet<uuid::Uuid> = sessions
            .iter()
            .filter(|s| s.status() == checkout_domain::SessionStatus::Completed)
            .map(|s| s.request().user_id)
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
        .filter(|s| s.status() == checkout_domain::SessionStatus::Completed)
        .count();
    assert_eq!(completed as i64, UNITS, "exactly the stock is sold");
    for session in &sessions {
        assert!(
            matches!(
                session.status(),
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
    stocked_product(&processes.client, &processes.gateways[0], "ROLL-1", 40).await;
    let steady: Vec<Customer> = (0..30).map(|_| Customer::new()).collect();
    let steady_carts: Vec<String> = futures::stream::iter(steady.iter().enumerate())
        .map(|(i, customer)| cart_through(&processes, i, customer, "ROLL-1"))
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
