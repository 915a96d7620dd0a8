//! A flash sale: 300 customers check out at once for 50 units, two in three with a
//! coupon that has 20 uses. Shoppers whose checkout fails try again without the
//! coupon until the stock is sold. Nothing may be oversold, over-redeemed, lost or left half-done.
//! A checkout the burst keeps from answering (a gateway timeout, a busy SQLite) is asked
//! again with its idempotency key, as a client would, and must then answer.

use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use checkout_domain::{CheckoutSession, SessionStatus};

use crate::shop::{
    Customer, add_to_cart, coupon, eventually, ledger_imbalance, stock, stocked_product, try_checkout_once,
};
use crate::{Backend, TestPlatform, fast_jobs};

const CUSTOMERS: usize = 300;
const UNITS: i64 = 50;
const COUPON_USES: i32 = 20;
/// The first wave and at most this many retries in all.
const WAVES: usize = 5;

#[tokio::test]
async fn a_flash_sale_sells_exactly_the_stock_and_the_coupon_uses() {
    let _turn = crate::HEAVY.lock().await;
    for backend in Backend::all().await {
        let mut jobs = fast_jobs();
        // Keep paid orders from moving past FULFILLING while we count them.
        jobs.set("shipping", "carrier_step_seconds", serde_json::json!(3600.0));
        let platform = TestPlatform::start_with(backend, jobs).await;
        flash_sale(&platform, backend).await;
        platform.stop().await;
    }
}

/// Checks out every `(customer, cart, coupon)` at once with the idempotency key `key`,
/// taking each answer as it comes (no shopper here adds to a cart after paying, so
/// nothing waits for Cart to close the paid carts: 300 waiters polling for that were
/// load of their own). Every answer is the checkout's, without errors; one the burst kept from finishing
/// (the gateway gave up after its 30 s subgraph or 60 s request timeout, or SQLite
/// stayed busy past its timeout: an INTERNAL error) is asked again with the same key,
/// as a client does, and must then be answered by the same checkout. So is one whose
/// connection the loaded gateway reset before it answered.
async fn check_out_all(
    platform: &TestPlatform,
    backend: Backend,
    who: &[(&Customer, &String, Option<&str>)],
    key: &str,
) {
    let answers: Vec<Result<Value, reqwest::Error>> = futures::future::join_all(
        who.iter()
            .map(|(customer, cart, coupon)| try_checkout_once(platform, customer, cart, *coupon, "card", key)),
    )
    .await;
    for ((customer, cart, coupon), mut answer) in who.iter().zip(answers) {
        // A client retries a keyed request the server could not finish, a few times.
        for _ in 0..5 {
            let unfinished = match &answer {
                Err(_) => true,
                Ok(body) => {
                    let code = &body["errors"][0]["extensions"]["code"];
                    [
                        json!("SUBGRAPH_REQUEST_TIMEOUT"),
                        json!("GATEWAY_TIMEOUT"),
                        json!("INTERNAL"),
                    ]
                    .contains(code)
                }
            };
            if !unfinished {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            answer = try_checkout_once(platform, customer, cart, *coupon, "card", key).await;
        }
        let body = answer.unwrap_or_else(|err| panic!("{backend:?}: the gateway never answered: {err}"));
        assert!(body["errors"].is_null(), "{backend:?}: {body}");
    }
}

async fn flash_sale(platform: &TestPlatform, backend: Backend) {
    let sku = "FLASH-1";
    stocked_product(platform, sku, 9_900, UNITS).await;
    coupon(platform, "FLASH20", 2_000, Some(COUPON_USES)).await;
    let customers: Vec<Customer> = (0..CUSTOMERS).map(|_| Customer::new()).collect();
    let carts: Vec<String> = futures::stream::iter(&customers)
        .map(|customer| add_to_cart(platform, customer, sku, 1))
        .buffered(32)
        .collect()
        .await;

    // Wave 1: everyone at once. An answer may come back RUNNING when a context was
    // too slow to answer under the load; the reconciler finishes those, so outcomes are
    // read from the sessions once every saga has finished.
    let everyone: Vec<(&Customer, &String, Option<&str>)> = customers
        .iter()
        .zip(&carts)
        .enumerate()
        .map(|(i, (customer, cart))| (customer, cart, (i % 3 != 0).then_some("FLASH20")))
        .collect();
    check_out_all(platform, backend, &everyone, "wave-1").await;
    // Then whoever failed tries again without the coupon, until the stock is sold: under
    // load a context may answer too late, and that checkout is compensated, handing its
    // units (and its coupon use) back.
    for wave in 2..=WAVES {
        let sessions = finished_sessions(platform).await;
        let served: Vec<uuid::Uuid> = sessions
            .iter()
            .filter(|s| s.status() == SessionStatus::Completed)
            .map(|s| s.request().user_id)
            .collect();
        if served.len() == UNITS as usize {
            break;
        }
        let failed: Vec<uuid::Uuid> = sessions
            .iter()
            .filter(|s| s.status() == SessionStatus::Failed && !served.contains(&s.request().user_id))
            .map(|s| s.request().user_id)
            .collect();
        let again: Vec<(&Customer, &String, Option<&str>)> = customers
            .iter()
            .zip(&carts)
            .filter(|(customer, _)| failed.contains(&customer.user_id))
            .map(|(customer, cart)| (customer, cart, None))
            .collect();
        check_out_all(platform, backend, &again, &format!("wave-{wave}")).await;
    }
    let sessions = finished_sessions(platform).await;
    let completed: Vec<_> = sessions
        .iter()
        .filter(|s| s.status() == SessionStatus::Completed)
        .collect();
    assert_eq!(completed.len(), UNITS as usize, "{backend:?}");
    assert!(
        sessions
            .iter()
            .all(|s| matches!(s.status(), SessionStatus::Completed | SessionStatus::Failed)),
        "{backend:?}"
    );

    // Stock: sold out, nothing held, and never below zero along the way.
    assert_eq!(stock(platform, sku).await, (0, 0), "{backend:?}");
    let movements = inventory_service::entity::movement::Entity::find()
        .filter(inventory_service::entity::movement::Column::Sku.eq(sku))
        .order_by_asc(inventory_service::entity::movement::Column::Id)
        .all(platform.contexts.inventory.stock.db())
        .await
        .unwrap();
    let (mut on_hand, mut reserved) = (0, 0);
    for movement in &movements {
        on_hand += movement.on_hand_delta;
        reserved += movement.reserved_delta;
        assert!(
            on_hand >= 0 && reserved >= 0 && reserved <= on_hand,
            "{backend:?}: {movement:?}"
        );
    }

    // Orders: exactly the sold units are paid; every other order was canceled.
    let orders = platform.contexts.orders.orders.db();
    let count = |statuses: &'static [&'static str]| {
        orders_service::entity::order::Entity::find()
            .filter(orders_service::entity::order::Column::Status.is_in(statuses.iter().copied()))
            .count(orders)
    };
    // Paid, and since handed to Shipping (a label is printed at once).
    let paid = count(&["PAID", "FULFILLING"]).await.unwrap();
    assert_eq!(paid, UNITS as u64, "{backend:?}");
    let placed = orders_service::entity::order::Entity::find()
        .count(orders)
        .await
        .unwrap();
    assert_eq!(
        count(&["CANCELED"]).await.unwrap(),
        placed - UNITS as u64,
        "{backend:?}"
    );

    // The coupon: never more than its uses, none left dangling, and once a checkout was
    // told it has no uses left, every use had been redeemed: each by a checkout that
    // completed (committed) or failed afterwards (released). When the stock sold out
    // before the uses did, no checkout is told so, and uses are left.
    let code = coupons_domain::CouponCode::parse("FLASH20").unwrap();
    let coupons = &platform.contexts.coupons.coupons;
    let redemptions = |status| coupons.count_redemptions(&code, status);
    let committed = redemptions(coupons_domain::RedemptionStatus::Committed).await.unwrap();
    assert_eq!(
        redemptions(coupons_domain::RedemptionStatus::Reserved).await.unwrap(),
        0,
        "{backend:?}"
    );
    let discounted = completed.iter().filter(|s| s.discount().is_some()).count();
    assert_eq!(discounted as u64, committed, "{backend:?}");
    let released_after_redeeming: Vec<_> = sessions
        .iter()
        .filter(|s| {
            s.status() == SessionStatus::Failed
                && s.failed_step()
                    .is_some_and(|step| step > checkout_domain::Step::RedeemCoupon)
                && s.request().coupon_code.is_some()
        })
        .collect();
    assert!(
        committed <= COUPON_USES as u64,
        "{backend:?}: {committed} uses committed"
    );
    let refused_as_exhausted = sessions.iter().any(|s| {
        s.failed_step() == Some(checkout_domain::Step::RedeemCoupon)
            && s.failure().is_some_and(|f| f.contains("no uses left"))
    });
    let mut failures = std::collections::BTreeMap::<String, usize>::new();
    for s in sessions.iter().filter(|s| s.status() == SessionStatus::Failed) {
        let reason = format!(
            "{:?} coupon={} {}",
            s.failed_step(),
            s.request().coupon_code.is_some(),
            s.failure().unwrap_or_default().chars().take(80).collect::<String>()
        );
        *failures.entry(reason).or_default() += 1;
    }
    assert!(
        !refused_as_exhausted || COUPON_USES as u64 - committed <= released_after_redeeming.len() as u64,
        "{backend:?}: {committed} of {COUPON_USES} uses committed, released by {:?}; failures: {failures:#?}",
        released_after_redeeming
            .iter()
            .map(|s| (s.failed_step(), s.failure()))
            .collect::<Vec<_>>()
    );

    // Payments: one capture per paid order, and the books balance.
    let captured = payments_service::entity::payment::Entity::find()
        .filter(payments_service::entity::payment::Column::Status.eq("CAPTURED"))
        .count(platform.contexts.payments.payments.db())
        .await
        .unwrap();
    assert_eq!(captured, UNITS as u64, "{backend:?}");
    assert!(ledger_imbalance(platform).await.is_empty(), "{backend:?}");

    // Every failed checkout undid all it did.
    for session in sessions {
        if session.status() == SessionStatus::Failed {
            let steps = platform.contexts.checkout.saga.steps(session.id()).await.unwrap();
            let done: Vec<_> = steps.iter().filter(|s| s.outcome == "DONE").map(|s| s.step).collect();
            for compensation in session.compensations() {
                assert!(done.contains(&compensation), "{backend:?}: {session:?} {steps:?}");
            }
        }
    }
}

/// Every checkout session, once none is running or compensating any more.
async fn finished_sessions(platform: &TestPlatform) -> Vec<CheckoutSession> {
    let saga = &platform.contexts.checkout.saga;
    eventually("every checkout has finished", || async {
        saga.all().await.unwrap().iter().all(|s| s.status().is_finished())
    })
    .await;
    saga.all().await.unwrap()
}
