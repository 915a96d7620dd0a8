//! The checkout process is killed at every saga step in turn — once right after the
//! step (and its save, where it has one of its own), once after the other context acted
//! but before the saga saved it — and restarted. Every saga ends COMPLETED or fully
//! compensated, and nothing acted twice. A context that cannot be reached holds a saga
//! at its step until it answers again. A cancellation of a paid order, run by the same
//! driver, is killed at each of its steps too, and ends CANCELED with everything given
//! back once. A return's saga is killed at each of its steps too, and ends with the
//! payment refunded and the units restocked once, or, when its refund is refused, with
//! the return reopened and nothing restocked.

use std::process::Stdio;
use std::time::{Duration, Instant};

use checkout_domain::{SessionStatus, Step};
use coupons_domain::RedemptionStatus;
use kernel_infra::testing::TestDatabase;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::shop::{Customer, add_to_cart, coupon, ledger_imbalance, redemptions, stock, stocked_product};
use crate::{Backend, TestPlatform, fast_jobs};

/// A Checkout process of its own, pointed at the platform's other subgraphs.
struct CheckoutProcess {
    child: tokio::process::Child,
    url: String,
}

impl CheckoutProcess {
    async fn start(platform: &TestPlatform, database_url: &str, crash: Option<(&str, Step)>) -> Self {
        let crash = crash.map(|(variable, step)| (variable, step.as_str().to_owned()));
        Self::start_with(platform, database_url, crash.as_slice()).await
    }

    /// Started with `overrides` set in its environment last.
    async fn start_with(platform: &TestPlatform, database_url: &str, overrides: &[(&str, String)]) -> Self {
        // A context alone publishes through Redis Streams; nothing here consumes what
        // Checkout publishes, under a prefix of its own.
        let redis = kernel_infra::testing::redis_url()
            .await
            .expect("Redis is reachable (a context alone needs its bus)");
        let port = crate::free_port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"));
        command
            .arg("checkout")
            .env("CHECKOUT_DATABASE_URL", database_url)
            .env("CHECKOUT_LISTEN", format!("127.0.0.1:{port}"))
            .env("CHECKOUT_LEASE_SECONDS", "1")
            .env("CHECKOUT_RESUME_AFTER_SECONDS", "0.3")
            .env("EVENT_BUS_REDIS_URL", redis)
            .env(
                "EVENT_BUS_PREFIX",
                format!("crash-test-{}", uuid::Uuid::now_v7().simple()),
            )
            .env("RUST_LOG", "error")
            .env_remove("CHECKOUT_CRASH_AFTER")
            .env_remove("CHECKOUT_CRASH_BEFORE_SAVE")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        for name in checkout_service::CONTEXT.peers() {
            command.env(
                format!("CHECKOUT_{}_URL", name.to_ascii_uppercase()),
                &platform.endpoints[name],
            );
        }
        for (variable, value) in overrides {
            command.env(variable, value);
        }
        let child = command.spawn().unwrap();
        let process = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while platform
            .client()
            .get(format!("{}/health", process.url))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the checkout process did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }
}

/// A database of its own for the checkout processes of a test, migrated once so that
/// the processes it starts one after another share it: the database, its URL and a
/// connection to it.
async fn checkout_database(
    platform: &TestPlatform,
    backend: Backend,
) -> (TestDatabase, String, sea_orm::DatabaseConnection) {
    let database = match backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres().await.unwrap(),
    };
    let url = match backend {
        Backend::Sqlite => database.url.clone(),
        Backend::Postgres => format!("{}?max_connections=4", database.url),
    };
    let migrated = CheckoutProcess::start(platform, &url, None).await;
    drop(migrated);
    let db = kernel_infra::db::connect(&url).await.unwrap();
    (database, url, db)
}

/// The checkout sessions of `user` in the checkout process's database.
async fn sessions_of(
    db: &sea_orm::DatabaseConnection,
    user: uuid::Uuid,
) -> Vec<checkout_service::entity::session::Model> {
    checkout_service::entity::session::Entity::find()
        .filter(checkout_service::entity::session::Column::UserId.eq(user))
        .all(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_checkout_killed_at_any_step_ends_completed_or_compensated() {
    if kernel_infra::testing::redis_url().await.is_none() {
        return;
    }
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        kill_at_every_step(&platform, backend).await;
        platform.stop().await;
    }
}

async fn kill_at_every_step(platform: &TestPlatform, backend: Backend) {
    let sku = "CRASH-1";
    stocked_product(platform, sku, 1_000, 1_000).await;
    coupon(platform, "CRASH", 1_000, None).await;
    let (database, url, db) = checkout_database(platform, backend).await;

    let paid_flow = Step::FORWARD.map(|step| (step, "card"));
    let declined_flow = [
        Step::AuthorizePayment,
        Step::CancelOrder,
        Step::ReleaseCoupon,
        Step::ReleaseStock,
    ]
    .map(|step| (step, "card_declined"));
    let mut sold = 0;
    for (step, method) in paid_flow.into_iter().chain(declined_flow) {
        for variable in ["CHECKOUT_CRASH_AFTER", "CHECKOUT_CRASH_BEFORE_SAVE"] {
            let case = format!("{backend:?} {variable}={}", step.as_str());
            let customer = Customer::new();
            let cart = add_to_cart(platform, &customer, sku, 2).await;
            let mut doomed = CheckoutProcess::start(platform, &url, Some((variable, step))).await;
            let input = json!({ "input": {
                "cartId": cart, "couponCode": "CRASH", "paymentMethod": method, "idempotencyKey": "crash",
            }});
            let answer = platform
                .client()
                .post(format!("{}/graphql", doomed.url))
                .header(kernel_infra::identity::IDENTITY_HEADER, customer.assertion("checkout"))
                .json(&json!({
                    "query": "mutation($input: CheckoutInput!) { checkout(input: $input) { id status } }",
                    "variables": input,
                }))
                .send()
                .await;
            if let Ok(response) = answer {
                panic!(
                    "{case}: the process answered instead of dying: {}",
                    response.text().await.unwrap()
                );
            }
            let status = doomed.child.wait().await.unwrap();
            assert!(!status.success(), "{case}: {status:?}");

            // Restarted, the reconciler finishes the saga without any client retry.
            let mut restarted = CheckoutProcess::start(platform, &url, None).await;
            let deadline = Instant::now() + Duration::from_secs(30);
            let session = loop {
                let sessions = sessions_of(&db, customer.user_id).await;
                assert_eq!(sessions.len(), 1, "{case}");
                let status = SessionStatus::parse(&sessions[0].status).unwrap();
                if status.is_finished() {
                    break sessions.into_iter().next().unwrap();
                }
                assert!(Instant::now() < deadline, "{case}: stuck at {:?}", sessions[0].step);
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let order_id = session.order_id.unwrap().to_string();
            let order = crate::shop::ok(
                platform,
                &customer.token,
                "query($id: ID!) { order(id: $id) { status payment { status } } }",
                json!({ "id": order_id }),
            )
            .await;
            if method == "card" {
                assert_eq!(session.status, "COMPLETED", "{case}");
                sold += 2;
                assert!(
                    ["PAID", "FULFILLING", "SHIPPED", "DELIVERED"]
                        .contains(&order["order"]["status"].as_str().unwrap()),
                    "{case}: {order}"
                );
                assert_eq!(order["order"]["payment"]["status"], "CAPTURED", "{case}");
            } else {
                assert_eq!(session.status, "FAILED", "{case}");
                assert_eq!(order["order"]["status"], "CANCELED", "{case}: {order}");
                assert_eq!(order["order"]["payment"]["status"], "DECLINED", "{case}");
            }
            // Nothing held, nothing sold twice, the coupon used once per paid order.
            assert_eq!(stock(platform, sku).await, (1_000 - sold, 0), "{case}");
            assert_eq!(
                redemptions(platform, "CRASH", RedemptionStatus::Committed).await,
                u64::try_from(sold / 2).unwrap(),
                "{case}"
            );
            assert_eq!(
                redemptions(platform, "CRASH", RedemptionStatus::Reserved).await,
                0,
                "{case}"
            );
            assert!(ledger_imbalance(platform).await.is_empty(), "{case}");
            let _ = restarted.child.kill().await;
        }
    }
    drop(db);
    database.remove().await;
}

#[tokio::test]
async fn a_checkout_waits_at_an_unreachable_context_and_completes_when_it_answers() {
    if kernel_infra::testing::redis_url().await.is_none() {
        return;
    }
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        wait_out_an_outage(&platform, backend).await;
        platform.stop().await;
    }
}

async fn wait_out_an_outage(platform: &TestPlatform, backend: Backend) {
    let sku = "OUTAGE-1";
    stocked_product(platform, sku, 1_000, 10).await;
    coupon(platform, "OUTAGE", 1_000, None).await;
    let (database, url, db) = checkout_database(platform, backend).await;
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 2).await;

    // Coupons is down (nothing listens at its address): redeeming the coupon, the
    // step after reserving the stock, cannot be done, and is not refused either.
    let dead = format!("http://127.0.0.1:{}/graphql", crate::free_port());
    let mut cut_off = CheckoutProcess::start_with(platform, &url, &[("CHECKOUT_COUPONS_URL", dead)]).await;
    let answer: serde_json::Value = platform
        .client()
        .post(format!("{}/graphql", cut_off.url))
        .header(kernel_infra::identity::IDENTITY_HEADER, customer.assertion("checkout"))
        .json(&json!({
            "query": "mutation($input: CheckoutInput!) { checkout(input: $input) { id status } }",
            "variables": { "input": {
                "cartId": cart, "couponCode": "OUTAGE", "paymentMethod": "card", "idempotencyKey": "outage",
            }},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["checkout"]["status"], "RUNNING", "{backend:?}: {answer}");

    // What was done is saved, with the step it waits at; the stock stays held.
    let sessions = sessions_of(&db, customer.user_id).await;
    assert_eq!(sessions.len(), 1, "{backend:?}");
    assert_eq!(sessions[0].status, "RUNNING", "{backend:?}");
    assert_eq!(sessions[0].step.as_deref(), Some("REDEEM_COUPON"), "{backend:?}");
    let log: Vec<(String, String)> = checkout_service::entity::step_log::Entity::find()
        .filter(checkout_service::entity::step_log::Column::SessionId.eq(sessions[0].id))
        .order_by_asc(checkout_service::entity::step_log::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.step, row.outcome))
        .collect();
    // The reconciler may have retried in the meantime, at the same step.
    assert!(log.len() >= 2, "{backend:?}: {log:?}");
    assert_eq!(log[0], ("RESERVE_STOCK".into(), "DONE".into()), "{backend:?}: {log:?}");
    for entry in &log[1..] {
        assert_eq!(
            entry,
            &("REDEEM_COUPON".into(), "UNAVAILABLE".into()),
            "{backend:?}: {log:?}"
        );
    }
    assert_eq!(stock(platform, sku).await, (10, 2), "{backend:?}");
    let _ = cut_off.child.kill().await;

    // With Coupons reachable again, the reconciler finishes it without a client retry.
    let mut restarted = CheckoutProcess::start(platform, &url, None).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let session = loop {
        let sessions = sessions_of(&db, customer.user_id).await;
        if SessionStatus::parse(&sessions[0].status).unwrap().is_finished() {
            break sessions.into_iter().next().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{backend:?}: stuck at {:?}",
            sessions[0].step
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(session.status, "COMPLETED", "{backend:?}");
    assert_eq!(stock(platform, sku).await, (8, 0), "{backend:?}");
    assert_eq!(
        redemptions(platform, "OUTAGE", RedemptionStatus::Committed).await,
        1,
        "{backend:?}"
    );
    assert!(ledger_imbalance(platform).await.is_empty(), "{backend:?}");
    let _ = restarted.child.kill().await;
    drop(db);
    database.remove().await;
}

#[tokio::test]
async fn a_cancellation_killed_at_any_step_ends_canceled_with_everything_given_back_once() {
    if kernel_infra::testing::redis_url().await.is_none() {
        return;
    }
    for backend in Backend::all().await {
        let mut jobs = fast_jobs();
        // The carrier waits, so every order can still be canceled.
        jobs.set("shipping", "carrier_step_seconds", serde_json::json!(600.0));
        let platform = TestPlatform::start_with(backend, jobs).await;
        kill_a_cancellation_at_every_step(&platform, backend).await;
        platform.stop().await;
    }
}

async fn kill_a_cancellation_at_every_step(platform: &TestPlatform, backend: Backend) {
    let sku = "CRASH-CANCEL-1";
    stocked_product(platform, sku, 1_000, 100).await;
    coupon(platform, "CRASHCANCEL", 1_000, None).await;
    let (database, url, db) = checkout_database(platform, backend).await;
    // Checks out, and finishes what a killed process left (its reconciler).
    let mut steady = CheckoutProcess::start(platform, &url, None).await;
    let graphql = |process: &CheckoutProcess, customer: &Customer, query: &str, variables: serde_json::Value| {
        platform
            .client()
            .post(format!("{}/graphql", process.url))
            .header(kernel_infra::identity::IDENTITY_HEADER, customer.assertion("checkout"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
    };
    let mut returned = 0;
    for step in Step::CANCELLATION {
        for variable in ["CHECKOUT_CRASH_AFTER", "CHECKOUT_CRASH_BEFORE_SAVE"] {
            let case = format!("{backend:?} {variable}={}", step.as_str());
            let customer = Customer::new();
            let cart = add_to_cart(platform, &customer, sku, 2).await;
            let paid: serde_json::Value = graphql(
                &steady,
                &customer,
                "mutation($input: CheckoutInput!) { checkout(input: $input) { status order { id } } }",
                json!({ "input": {
                    "cartId": cart, "couponCode": "CRASHCANCEL", "paymentMethod": "card", "idempotencyKey": "c",
                }}),
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
            assert_eq!(paid["data"]["checkout"]["status"], "COMPLETED", "{case}: {paid}");
            let order_id = paid["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned();

            let mut doomed = CheckoutProcess::start(platform, &url, Some((variable, step))).await;
            let answer = graphql(
                &doomed,
                &customer,
                "mutation($order: ID!) { cancelPaidOrder(orderId: $order) { status } }",
                json!({ "order": order_id }),
            )
            .await;
            if let Ok(response) = answer {
                panic!(
                    "{case}: the process answered instead of dying: {}",
                    response.text().await.unwrap()
                );
            }
            assert!(!doomed.child.wait().await.unwrap().success(), "{case}");

            // The other process's reconciler finishes the cancellation.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let session = sessions_of(&db, customer.user_id).await.remove(0);
                match SessionStatus::parse(&session.status).unwrap() {
                    SessionStatus::Canceled => break,
                    SessionStatus::Canceling => {}
                    other => panic!("{case}: the cancellation ended {other:?} at {:?}", session.step),
                }
                assert!(Instant::now() < deadline, "{case}: stuck at {:?}", session.step);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            returned += 1;
            // Everything given back, once.
            assert_eq!(stock(platform, sku).await, (100, 0), "{case}");
            assert_eq!(
                redemptions(platform, "CRASHCANCEL", RedemptionStatus::Returned).await,
                returned,
                "{case}"
            );
            assert_eq!(
                redemptions(platform, "CRASHCANCEL", RedemptionStatus::Committed).await,
                0,
                "{case}"
            );
            assert!(ledger_imbalance(platform).await.is_empty(), "{case}");
            let order = crate::shop::ok(
                platform,
                &customer.token,
                "query($id: ID!) { order(id: $id) { status payment { status } shipment { status } } }",
                json!({ "id": order_id }),
            )
            .await;
            assert_eq!(order["order"]["payment"]["status"], "REFUNDED", "{case}: {order}");
            assert_eq!(order["order"]["shipment"]["status"], "CANCELED", "{case}: {order}");
            assert!(
                ["CANCELED", "REFUNDED"].contains(&order["order"]["status"].as_str().unwrap()),
                "{case}: {order}"
            );
        }
    }
    let _ = steady.child.kill().await;
    drop(db);
    database.remove().await;
}

#[tokio::test]
async fn a_return_killed_at_any_step_ends_refunded_once_or_reopened() {
    if kernel_infra::testing::redis_url().await.is_none() {
        return;
    }
    for backend in Backend::all().await {
        let platform = TestPlatform::start_with(backend, fast_jobs()).await;
        kill_a_return_at_every_step(&platform, backend).await;
        platform.stop().await;
    }
}

/// What staff send a subgraph directly.
fn staff_assertion(subgraph: &str) -> String {
    let identity = kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role: kernel::Role::Admin,
    };
    kernel_infra::identity::AssertionSigner::configured_gateway()
        .unwrap()
        .sign(&identity, None, subgraph)
        .unwrap()
}

/// A delivered order of one unit of `sku` with an approved return of it: the order,
/// its payment and the return.
async fn delivered_and_approved(
    platform: &TestPlatform,
    sku: &str,
    method: &str,
) -> (Customer, String, String, String) {
    let customer = Customer::new();
    let cart = add_to_cart(platform, &customer, sku, 1).await;
    let order = crate::shop::checkout_shipped(platform, &customer, &cart, None, method).await;
    crate::shop::until_delivered(platform, &customer, &order).await;
    let asked = crate::shop::request_return(platform, &customer, &order, sku, 1, "broken").await;
    crate::shop::approve_return(platform, &asked).await;
    let view = crate::shop::ok(
        platform,
        &customer.token,
        "query($id: ID!) { order(id: $id) { payment { id } } }",
        json!({ "id": order }),
    )
    .await;
    let payment = view["order"]["payment"]["id"].as_str().unwrap().to_owned();
    (customer, order, payment, asked.as_str().unwrap().to_owned())
}

async fn kill_a_return_at_every_step(platform: &TestPlatform, backend: Backend) {
    use checkout_domain::returns::ReturnStep;
    let sku = "CRASH-RETURN-1";
    stocked_product(platform, sku, 1_000, 100).await;
    let method = crate::shop::shipping_method(platform).await;
    let (database, url, db) = checkout_database(platform, backend).await;
    // Finishes what a killed process left (its reconciler).
    let mut steady = CheckoutProcess::start(platform, &url, None).await;
    let refunded_flow = [
        ReturnStep::MarkReceived,
        ReturnStep::RefundReturn,
        ReturnStep::RestockReturn,
        ReturnStep::MarkRefunded,
    ]
    .map(|step| (step, false));
    // The payment refunded by hand first: the refund is refused, the return reopened.
    let reopened_flow = [ReturnStep::RefundReturn, ReturnStep::ReopenReturn].map(|step| (step, true));
    for (step, refunded_by_hand) in refunded_flow.into_iter().chain(reopened_flow) {
        for variable in ["CHECKOUT_CRASH_AFTER", "CHECKOUT_CRASH_BEFORE_SAVE"] {
            let case = format!(
                "{backend:?} {variable}={} (refunded by hand: {refunded_by_hand})",
                step.as_str()
            );
            let (customer, order, payment, asked) = delivered_and_approved(platform, sku, &method).await;
            if refunded_by_hand {
                platform
                    .post_admin(
                        "mutation($id: ID!) { refundPayment(id: $id) { status } }",
                        json!({ "id": payment }),
                    )
                    .await;
            }
            let on_hand = stock(platform, sku).await.0;

            let crash = [(variable, step.as_str().to_owned())];
            let mut doomed = CheckoutProcess::start_with(platform, &url, &crash).await;
            let answer = platform
                .client()
                .post(format!("{}/graphql", doomed.url))
                .header(kernel_infra::identity::IDENTITY_HEADER, staff_assertion("checkout"))
                .json(&json!({
                    "query": "mutation($id: ID!) { receiveReturn(id: $id) { status } }",
                    "variables": { "id": asked },
                }))
                .send()
                .await;
            if let Ok(response) = answer {
                panic!(
                    "{case}: the process answered instead of dying: {}",
                    response.text().await.unwrap()
                );
            }
            assert!(!doomed.child.wait().await.unwrap().success(), "{case}");

            // The other process's reconciler finishes the return.
            let id = uuid::Uuid::parse_str(&asked).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let process = loop {
                let process = checkout_service::entity::return_process::Entity::find_by_id(id)
                    .one(&db)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{case}: no process"));
                let status = SessionStatus::parse(&process.status).unwrap();
                if status.is_finished() {
                    break process;
                }
                assert!(Instant::now() < deadline, "{case}: stuck at {:?}", process.step);
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let view = crate::shop::ok(
                platform,
                &customer.token,
                "query($id: ID!) { order(id: $id) { status payment { status refunded { amount } } returns { status } } }",
                json!({ "id": order }),
            )
            .await["order"]
                .clone();
            if refunded_by_hand {
                assert_eq!(process.status, "FAILED", "{case}");
                assert_eq!(view["returns"][0]["status"], "APPROVED", "{case}: {view}");
                assert_eq!(stock(platform, sku).await.0, on_hand, "{case}: nothing restocked");
            } else {
                assert_eq!(process.status, "COMPLETED", "{case}");
                assert_eq!(view["returns"][0]["status"], "REFUNDED", "{case}: {view}");
                assert_eq!(view["status"], "REFUNDED", "{case}: every unit came back: {view}");
                assert_eq!(stock(platform, sku).await.0, on_hand + 1, "{case}: restocked once");
            }
            // Refunded once: by the return, or by hand before it.
            assert_eq!(view["payment"]["status"], "REFUNDED", "{case}: {view}");
            let paid = 1_000 + 500;
            assert_eq!(view["payment"]["refunded"]["amount"], paid, "{case}: {view}");
            assert!(ledger_imbalance(platform).await.is_empty(), "{case}");
        }
    }
    let _ = steady.child.kill().await;
    drop(db);
    database.remove().await;
}
