//! The checkout process is killed at every saga step in turn — once right after the
//! step was saved, once after the other context acted but before the saga saved it —
//! and restarted. Every saga ends COMPLETED or fully compensated, and nothing acted
//! twice.

use std::process::Stdio;
use std::time::{Duration, Instant};

use checkout_domain::{SessionStatus, Step};
use kernel_infra::testing::TestDatabase;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::shop::{Customer, add_to_cart, coupon, ledger_imbalance, stock, stocked_product};
use crate::{Backend, TestPlatform, fast_jobs};

/// A Checkout process of its own, pointed at the platform's other subgraphs.
struct CheckoutProcess {
    child: tokio::process::Child,
    url: String,
}

impl CheckoutProcess {
    async fn start(platform: &TestPlatform, database_url: &str, crash: Option<(&str, Step)>) -> Self {
        let port = crate::free_port();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_platform"));
        command
            .arg("checkout")
            .env("CHECKOUT_DATABASE_URL", database_url)
            .env("CHECKOUT_LISTEN", format!("127.0.0.1:{port}"))
            .env("CHECKOUT_LEASE_SECONDS", "1")
            .env("CHECKOUT_RESUME_AFTER_SECONDS", "0.3")
            .env("RUST_LOG", "error")
            .env_remove("CHECKOUT_CRASH_AFTER")
            .env_remove("CHECKOUT_CRASH_BEFORE_SAVE")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        for name in ["products", "inventory", "coupons", "orders", "payments", "cart"] {
            command.env(
                format!("CHECKOUT_{}_URL", name.to_ascii_uppercase()),
                &platform.endpoints[name],
            );
        }
        if let Some((variable, step)) = crash {
            command.env(variable, step.as_str());
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
    let database = match backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres().await.unwrap(),
    };
    let url = match backend {
        Backend::Sqlite => database.url.clone(),
        Backend::Postgres => format!("{}?max_connections=4", database.url),
    };
    // Migrate once, so the killed processes share one database.
    let migrated = CheckoutProcess::start(platform, &url, None).await;
    drop(migrated);
    let db = kernel_infra::db::connect(&url).await.unwrap();

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
                .header(kernel_infra::identity::IDENTITY_HEADER, customer.assertion())
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
            let code = coupons_domain::CouponCode::parse("CRASH").unwrap();
            let coupons = &platform.contexts.coupons.coupons;
            assert_eq!(
                coupons
                    .count_redemptions(&code, coupons_domain::RedemptionStatus::Committed)
                    .await
                    .unwrap(),
                u64::try_from(sold / 2).unwrap(),
                "{case}"
            );
            assert_eq!(
                coupons
                    .count_redemptions(&code, coupons_domain::RedemptionStatus::Reserved)
                    .await
                    .unwrap(),
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
