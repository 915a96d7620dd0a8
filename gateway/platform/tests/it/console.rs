//! The operations console in a real browser: Debian's Chromium, driven by playwright-core
//! (gateway/console/e2e/console.mjs), against the gateway of a real platform. A checkout
//! waits at MARK_ORDER_PAID (Orders was down for it), another is STUCK (Payments refused
//! its capture), and Search parked a product's events (its read model's table was
//! gone); with the causes fixed, staff sign in, see the platform's health, resume the
//! first checkout and see its order become PAID live, compensate the stuck one, and
//! redrive the dead letters. This test then checks what the clicks did.
//!
//! It needs Node (the README's tools) and Chromium (`apt-get install chromium`; .ci/run
//! installs it). Without Chromium it is skipped, unless `REQUIRE_BROWSER=1` (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use accounts_domain::{DisplayName, Email, Password, Role};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::shop::{CHECKOUT, Customer, add_to_cart, eventually, new_product, stocked_product};
use crate::{Backend, TestPlatform};

const STAFF_EMAIL: &str = "ops@shop.example";
const STAFF_PASSWORD: &str = "correct horse battery staple";

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../console")
}

/// The system's Chromium, or None (then the test is skipped, unless required).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
            "REQUIRE_BROWSER=1 but there is no Chromium: apt-get install chromium"
        );
        eprintln!("skipped: no Chromium here (apt-get install chromium)");
    }
    found
}

/// playwright-core, installed from the console's lock file when it is missing.
fn install_playwright() {
    if console_dir().join("node_modules/playwright-core").is_dir() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(console_dir())
        .status()
        .expect("npm runs (Node comes with the README's tools)");
    assert!(status.success(), "npm ci in gateway/console failed");
}

#[tokio::test]
async fn staff_fix_a_waiting_checkout_and_dead_letters_in_the_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    install_playwright();
    // Nothing resumes a checkout but staff: the reconciler waits an hour.
    let mut config = crate::fast_jobs();
    config.set("checkout", "resume_after_seconds", json!(3600.0));
    // The carrier waits too, so the stuck checkout's parcel can still be stopped.
    config.set("shipping", "carrier_step_seconds", json!(3600.0));
    let platform = TestPlatform::start_with(Backend::Sqlite, config).await;
    staff(&platform).await;

    // A checkout reaches MARK_ORDER_PAID while Orders is down for it, and waits there.
    stocked_product(&platform, "CONSOLE-1", 1_500, 5).await;
    let customer = Customer::new();
    let cart = add_to_cart(&platform, &customer, "CONSOLE-1", 2).await;
    platform.outages.start("MarkOrderPaid");
    let input = json!({ "input": {
        "cartId": cart, "couponCode": null, "paymentMethod": "card", "idempotencyKey": "console-1",
    }});
    let (_, body) = platform.post_as(Some(&customer.token), CHECKOUT, input).await;
    let session = &body["data"]["checkout"];
    assert_eq!(session["status"], "RUNNING", "{body}");
    let checkout_id = session["id"].as_str().unwrap().to_owned();
    let order_id = session["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(session["order"]["status"], "AWAITING_PAYMENT", "{body}");
    platform.outages.end("MarkOrderPaid");

    // Another is STUCK: Payments refuses its capture, past the point of no return.
    let other = Customer::new();
    let other_cart = add_to_cart(&platform, &other, "CONSOLE-1", 1).await;
    platform.outages.refuse("CapturePayment");
    let input = json!({ "input": {
        "cartId": other_cart, "couponCode": null, "paymentMethod": "card", "idempotencyKey": "console-2",
    }});
    let (_, body) = platform.post_as(Some(&other.token), CHECKOUT, input).await;
    platform.outages.end("CapturePayment");
    let stuck = &body["data"]["checkout"];
    assert_eq!(stuck["status"], "STUCK", "{body}");
    let stuck_id = stuck["id"].as_str().unwrap().to_owned();

    // Search parks a new product's events while its read model's table is gone.
    let search = platform.contexts.search.db.clone();
    search
        .execute_unprepared("ALTER TABLE product_search_view RENAME TO product_search_view_away")
        .await
        .unwrap();
    new_product(&platform, "Console Lamp", "home/lighting", 2500, "CONSOLE-LAMP", false).await;
    let dead = parked(&platform).await;
    search
        .execute_unprepared("ALTER TABLE product_search_view_away RENAME TO product_search_view")
        .await
        .unwrap();

    // Staff do the rest in the browser.
    let screenshots = std::env::var_os("CONSOLE_SCREENSHOTS_DIR").map_or_else(
        || std::env::temp_dir().join(format!("console-{checkout_id}")),
        PathBuf::from,
    );
    let output = tokio::process::Command::new("node")
        .arg("e2e/console.mjs")
        .current_dir(console_dir())
        .env("CONSOLE_URL", format!("{}/console/", platform.url))
        .env("STAFF_EMAIL", STAFF_EMAIL)
        .env("STAFF_PASSWORD", STAFF_PASSWORD)
        .env("CHECKOUT_ID", &checkout_id)
        .env("STUCK_CHECKOUT_ID", &stuck_id)
        .env("ORDER_ID", &order_id)
        .env("DEAD_EVENT_IDS", dead.join(","))
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS_DIR", &screenshots)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let log = format!(
        "{}{}\n(screenshots in {})",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        screenshots.display()
    );
    assert!(output.status.success(), "{log}");
    for shown in [
        "health: 11 contexts ready",
        "the waiting checkout is listed, its order AWAITING_PAYMENT",
        "resumed: COMPLETED, and the order became PAID live",
        "compensated: FAILED, its payment voided and its order canceled",
        "a discard without a reason is refused: BAD_USER_INPUT",
        "dead letters redriven",
        "the order timeline shows PAID",
    ] {
        assert!(log.contains(shown), "missing `{shown}`:\n{log}");
    }

    // What the clicks did: the checkout completed and its order is paid, staff's resume
    // is on the saga's record, and the parked product is found.
    let (_, body) = platform
        .post_admin(
            "query($id: ID!) { checkoutSession(id: $id) { status order { statusHistory { to } } } }",
            json!({ "id": checkout_id }),
        )
        .await;
    assert_eq!(body["data"]["checkoutSession"]["status"], "COMPLETED", "{body}");
    // Paid once, and then on its way (the test's carrier moves at once).
    let history = body["data"]["checkoutSession"]["order"]["statusHistory"]
        .as_array()
        .unwrap();
    assert_eq!(
        history.iter().filter(|change| change["to"] == "PAID").count(),
        1,
        "{body}"
    );
    let (_, body) = platform
        .post_admin(
            "query($id: ID!) { checkoutSession(id: $id) { status failureReason order { status payment { status } } } }",
            json!({ "id": stuck_id }),
        )
        .await;
    let compensated = &body["data"]["checkoutSession"];
    assert_eq!(compensated["status"], "FAILED", "{body}");
    assert_eq!(compensated["order"]["status"], "CANCELED", "{body}");
    assert_eq!(compensated["order"]["payment"]["status"], "VOIDED", "{body}");
    assert!(
        compensated["failureReason"]
            .as_str()
            .unwrap()
            .contains("capture refused for good"),
        "{body}"
    );
    let checkout_db = platform.contexts.checkout.saga.db().clone();
    let resumed = checkout_db
        .query_all_raw(sea_orm::Statement::from_string(
            checkout_db.get_database_backend(),
            "SELECT envelope FROM outbox_events WHERE event_type = 'ecommerce.checkout.session.resumed.v1'",
        ))
        .await
        .unwrap();
    assert_eq!(resumed.len(), 1);
    let compensations = checkout_db
        .query_all_raw(sea_orm::Statement::from_string(
            checkout_db.get_database_backend(),
            "SELECT envelope FROM outbox_events WHERE event_type = 'ecommerce.checkout.session.compensated.v1'",
        ))
        .await
        .unwrap();
    assert_eq!(compensations.len(), 1);
    eventually("the redriven product is found", || async {
        let (_, body) = platform
            .post(
                "query { searchProducts(text: \"Console Lamp\") { edges { node { id } } } }",
                json!({}),
            )
            .await;
        body["data"]["searchProducts"]["edges"]
            .as_array()
            .is_some_and(|edges| edges.len() == 1)
    })
    .await;
    platform.stop().await;
}

/// A staff account that signs in with a password, as an operator makes one
/// (`platform accounts create-user --role ADMIN`).
async fn staff(platform: &TestPlatform) {
    platform
        .contexts
        .accounts
        .accounts
        .register(
            accounts_service::accounts::Registration {
                email: Email::parse(STAFF_EMAIL).unwrap(),
                display_name: DisplayName::parse("Olga Ops").unwrap(),
                password: Password::new(STAFF_PASSWORD).unwrap(),
                role: Role::Admin,
            },
            &kernel::EventMeta::internal(),
            None,
        )
        .await
        .unwrap();
}

/// Waits until Search parked the product's events; their ids, oldest first.
async fn parked(platform: &TestPlatform) -> Vec<String> {
    const LIST: &str = "query($status: DeadLetterStatus) { searchDeadLetters(status: $status) {
        eventId firstFailedAt status } }";
    let list = |status: Option<&'static str>| async move {
        let (_, body) = platform.post_admin(LIST, json!({ "status": status })).await;
        body["data"]["searchDeadLetters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    eventually("Search parks the product's events", || async {
        let listed = list(None).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        !listed.is_empty()
            && listed.iter().all(|letter| letter["status"] == "DEAD")
            && list(Some("DEAD")).await.len() == listed.len()
    })
    .await;
    let mut dead: Vec<Value> = list(Some("DEAD")).await;
    dead.sort_by_key(|letter| letter["firstFailedAt"].as_str().unwrap().to_owned());
    dead.iter()
        .map(|letter| letter["eventId"].as_str().unwrap().to_owned())
        .collect()
}
