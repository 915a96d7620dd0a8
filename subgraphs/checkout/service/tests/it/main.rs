//! The saga against stub subgraphs on port 0: one HTTP server that answers every
//! operation of Checkout's contract (`frontend-contracts/services/checkout`), refuses
//! or fails the ones a test names, and records what it was sent. Every compensation
//! path, an outage the reconciler resumes, and a driver that dies holding the lease.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use checkout_domain::{AddressChoice, CheckoutRequest, DeliveryRequest, SessionStatus};
use checkout_service::Checkout;
use kernel::{EventMeta, Identity, Role};
use kernel_infra::config::ContextConfig;
use kernel_infra::testing::TestDatabase;
use serde_json::{Value, json};

/// What the stub subgraphs were sent, and how they answer.
#[derive(Default)]
struct Script {
    calls: Vec<String>,
    /// Operations refused with this `extensions.code`.
    refuse: HashMap<&'static str, &'static str>,
    /// Operations that answer 503 (the context is down).
    down: HashSet<&'static str>,
    /// Operations that never answer.
    hang: HashSet<&'static str>,
    cart_owner: String,
    /// The variables of each operation, as last sent.
    sent: HashMap<String, Value>,
}

/// The saved address and the shipping method the stubs know.
const SAVED_ADDRESS: &str = "0190f5a4-0000-7000-8000-00000000000a";
const EXPRESS: &str = "0190f5a4-0000-7000-8000-0000000000e1";

type Shared = Arc<Mutex<Script>>;

fn operation_name(query: &str) -> String {
    let rest = query
        .trim_start()
        .trim_start_matches("query ")
        .trim_start_matches("mutation ");
    rest.chars().take_while(|c| c.is_alphanumeric()).collect()
}

async fn answer(State(script): State<Shared>, Json(request): Json<Value>) -> (StatusCode, Json<Value>) {
    let name = operation_name(request["query"].as_str().unwrap_or_default());
    let variables = request["variables"].clone();
    let (refused, down, hang, owner) = {
        let mut script = script.lock().unwrap();
        script.calls.push(name.clone());
        script.sent.insert(name.clone(), variables.clone());
        (
            script.refuse.get(name.as_str()).copied(),
            script.down.contains(name.as_str()),
            script.hang.contains(name.as_str()),
            script.cart_owner.clone(),
        )
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if down {
        let body = json!({ "errors": [{ "message": "down", "extensions": { "code": "INTERNAL" } }] });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    if let Some(code) = refused {
        let body = json!({ "errors": [{ "message": format!("{name} refused"), "extensions": { "code": code } }] });
        return (StatusCode::OK, Json(body));
    }
    let usd = |amount: i64| json!({ "amount": amount, "currency": "USD" });
    let data = match name.as_str() {
        "CheckoutCart" => json!({ "cart": {
            "status": "ACTIVE", "userId": owner, "items": [{ "sku": "SKU-1", "quantity": 2 }],
        }}),
        "PriceCartItems" => json!({ "variantsBySku": [{
            "sku": "SKU-1", "name": "Standard", "price": usd(1000),
            "product": { "id": uuid::Uuid::now_v7(), "name": "Thing", "status": "PUBLISHED", "taxCategory": "STANDARD" },
        }]}),
        // Illinois: 6.25 % on most goods, prices without tax.
        "TaxRatesAt" => json!({ "taxRatesAt": { "pricesIncludeTax": false, "rates": [
            { "category": "STANDARD", "percent": "6.25" },
            { "category": "REDUCED", "percent": "1" },
            { "category": "ZERO", "percent": "0" },
        ]}}),
        "CustomerAddressBook" => json!({ "user": { "addressBook": { "addresses": [{
            "id": SAVED_ADDRESS,
            "address": {
                "name": "Ada Lovelace", "company": null, "line1": "1 Main St", "line2": null,
                "city": "Springfield", "region": "IL", "postalCode": "62701", "country": "US",
                "phone": null,
            },
        }]}}}),
        // Express ships to the US only, for 15.00.
        "QuoteShipping" if variables["address"]["country"] == "US" => json!({ "shippingOptions": [{
            "method": { "id": EXPRESS, "name": "Express", "carrier": "SimCarrier" }, "price": usd(1500),
        }]}),
        "QuoteShipping" => json!({ "shippingOptions": [] }),
        "ReserveStock" => json!({ "reserveStock": { "id": variables["input"]["id"] } }),
        "ReserveRedemption" => json!({ "reserveRedemption": { "discount": usd(200) } }),
        "PlaceOrder" => json!({ "placeOrder": { "order": { "id": uuid::Uuid::now_v7(), "total": usd(1800) } } }),
        "AuthorizePayment" => json!({ "authorizePayment": {
            "id": uuid::Uuid::now_v7(), "status": "AUTHORIZED", "failureReason": null,
        }}),
        command => {
            let mut field = command.to_owned();
            field[..1].make_ascii_lowercase();
            json!({ field: { "id": variables["id"] } })
        }
    };
    (StatusCode::OK, Json(json!({ "data": data })))
}

/// The stub subgraphs, serving on a free port.
async fn stubs() -> (Shared, String) {
    let script = Shared::default();
    let router = axum::Router::new()
        .route("/graphql", axum::routing::post(answer))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (script, url)
}

/// A Checkout context on `database` whose remotes are all the stubs at `url`, with a
/// short lease so a lost driver is noticed quickly.
async fn checkout(database: &TestDatabase, url: &str) -> Checkout {
    checkout_with_lease(database, url, 0.6).await
}

/// [`checkout`] with a lease of `lease_seconds`.
async fn checkout_with_lease(database: &TestDatabase, url: &str, lease_seconds: f64) -> Checkout {
    let mut settings = (checkout_service::CONTEXT.settings.defaults)();
    settings["lease_seconds"] = json!(lease_seconds);
    settings["resume_after_seconds"] = json!(0.2);
    let config = ContextConfig {
        database_url: database.url.clone(),
        listen: "127.0.0.1:0".into(),
        data_dir: std::env::temp_dir(),
        settings,
    };
    let peers = [
        "accounts",
        "shipping",
        "products",
        "inventory",
        "coupons",
        "orders",
        "payments",
        "cart",
    ]
    .map(|name| (name.to_owned(), url.to_owned()))
    .into_iter()
    .collect();
    let context = kernel_infra::service::open(&checkout_service::CONTEXT, &config, peers)
        .await
        .unwrap();
    kernel_infra::context::downcast::<Checkout>(context.as_ref()).unwrap()
}

async fn databases() -> Vec<TestDatabase> {
    let mut databases = vec![TestDatabase::sqlite()];
    databases.extend(TestDatabase::postgres().await);
    databases
}

fn customer(script: &Shared) -> (Identity, CheckoutRequest) {
    let identity = Identity {
        user_id: uuid::Uuid::now_v7(),
        role: Role::Customer,
    };
    script.lock().unwrap().cart_owner = identity.user_id.to_string();
    let request = CheckoutRequest {
        user_id: identity.user_id,
        cart_id: uuid::Uuid::now_v7(),
        coupon_code: Some(checkout_domain::AskedCoupon::parse("SAVE").unwrap()),
        payment_method: checkout_domain::PaymentMethod::parse("card").unwrap(),
        idempotency_key: checkout_domain::IdempotencyKey::parse(&format!("key-{}", uuid::Uuid::now_v7().simple()))
            .unwrap(),
        delivery: None,
    };
    (identity, request)
}

/// A request to ship to `address` with Express.
fn shipped_to(mut request: CheckoutRequest, address: AddressChoice) -> CheckoutRequest {
    request.delivery = Some(DeliveryRequest {
        shipping_address: address,
        billing_address: None,
        method_id: uuid::Uuid::try_parse(EXPRESS).unwrap(),
    });
    request
}

/// The calls after the two reads of the cart.
fn commands(script: &Shared) -> Vec<String> {
    let calls = script.lock().unwrap().calls.clone();
    calls
        .into_iter()
        .filter(|call| {
            ![
                "CheckoutCart",
                "PriceCartItems",
                "CustomerAddressBook",
                "QuoteShipping",
                "TaxRatesAt",
            ]
            .contains(&call.as_str())
        })
        .collect()
}

const FORWARD: [&str; 8] = [
    "ReserveStock",
    "ReserveRedemption",
    "PlaceOrder",
    "AuthorizePayment",
    "CommitReservation",
    "MarkOrderPaid",
    "CommitRedemption",
    "CapturePayment",
];

#[tokio::test]
async fn every_step_answered_completes_the_checkout_with_each_command_sent_once() {
    for database in databases().await {
        let (script, url) = stubs().await;
        let saga = checkout(&database, &url).await.saga;
        let (caller, request) = customer(&script);
        let session = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
        assert_eq!(session.status(), SessionStatus::Completed, "{session:?}");
        assert_eq!(commands(&script), FORWARD, "in order, once each");
        database.remove().await;
    }
}

/// A delivery to a saved address: the address is copied from the book, the method
/// quoted by Shipping for the cart's value, and the order placed with both.
#[tokio::test]
async fn a_delivery_is_settled_before_the_first_step_and_placed_with_the_order() {
    for database in databases().await {
        let (script, url) = stubs().await;
        let saga = checkout(&database, &url).await.saga;
        let (caller, request) = customer(&script);
        let saved = AddressChoice::Saved(uuid::Uuid::try_parse(SAVED_ADDRESS).unwrap());
        let session = saga
            .checkout(&caller, shipped_to(request, saved), &EventMeta::internal())
            .await
            .unwrap();
        assert_eq!(session.status(), SessionStatus::Completed, "{session:?}");
        assert_eq!(session.shipping_cost().map(|c| c.amount()), Some(1500));
        let sent = script.lock().unwrap().sent.clone();
        assert_eq!(sent["CustomerAddressBook"]["id"], caller.user_id.to_string());
        assert_eq!(sent["QuoteShipping"]["orderValue"]["amount"], 2000, "two at 10.00");
        let delivery = &sent["PlaceOrder"]["input"]["delivery"];
        assert_eq!(delivery["shippingAddress"]["line1"], "1 Main St", "{delivery}");
        assert_eq!(delivery["billingAddress"], delivery["shippingAddress"]);
        assert_eq!(delivery["method"]["name"], "Express");
        assert_eq!(delivery["cost"]["amount"], 1500);
        // Taxed at the shipping address's rates: the line after the 2.00 coupon, 18.00 at
        // 6.25 % = 1.125, half to even 1.12; shipping 15.00 at 6.25 % = 0.9375, 0.94.
        assert_eq!(sent["TaxRatesAt"], json!({ "country": "US", "region": "IL" }));
        assert_eq!(
            sent["PlaceOrder"]["input"]["tax"],
            json!({ "pricesIncludeTax": false, "lines": [
                { "sku": "SKU-1", "percent": "6.25",
                  "taxable": { "amount": 1_800, "currency": "USD" }, "amount": { "amount": 112, "currency": "USD" } },
                { "sku": null, "percent": "6.25",
                  "taxable": { "amount": 1_500, "currency": "USD" }, "amount": { "amount": 94, "currency": "USD" } },
            ]})
        );
        // Stored with the session: read back, it is the same delivery and the same rates.
        let stored = saga.get(session.id()).await.unwrap().unwrap();
        assert_eq!(stored.delivery(), session.delivery());
        assert_eq!(stored.tax_rates(), session.tax_rates());
        assert!(stored.tax_rates().is_some());
        assert_eq!(stored.request().fingerprint(), session.request().fingerprint());
        database.remove().await;
    }
}

/// A saved address the book does not hold, or a method that does not ship to the
/// address, is refused before any step runs.
#[tokio::test]
async fn an_unknown_address_or_a_method_that_does_not_ship_there_is_refused_up_front() {
    for database in databases().await {
        let (script, url) = stubs().await;
        let saga = checkout(&database, &url).await.saga;
        let (caller, request) = customer(&script);
        let unknown = AddressChoice::Saved(uuid::Uuid::now_v7());
        let err = saga
            .checkout(&caller, shipped_to(request.clone(), unknown), &EventMeta::internal())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no saved address"), "{err}");
        let japan = kernel::Address::parse(&kernel::AddressInput {
            name: "Sei".into(),
            line1: "1-1 Chiyoda".into(),
            city: "Tokyo".into(),
            postal_code: Some("100-0001".into()),
            country: "JP".into(),
            ..Default::default()
        })
        .unwrap();
        let mut elsewhere = shipped_to(request, AddressChoice::Written(japan));
        elsewhere.idempotency_key =
            checkout_domain::IdempotencyKey::parse(&format!("{}-jp", elsewhere.idempotency_key.as_str())).unwrap();
        let err = saga
            .checkout(&caller, elsewhere, &EventMeta::internal())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not ship to Japan"), "{err}");
        assert_eq!(kernel::Classify::kind(&err), kernel::ErrorKind::BadUserInput);
        assert!(commands(&script).is_empty(), "no step ran: {:?}", commands(&script));
        database.remove().await;
    }
}

/// A refusal before the order is paid undoes, in reverse, exactly what was done.
#[tokio::test]
async fn a_refused_step_compensates_what_was_done_in_reverse() {
    let cases: [(&str, &[&str]); 5] = [
        ("ReserveStock", &[]),
        ("ReserveRedemption", &["ReleaseReservation"]),
        ("PlaceOrder", &["ReleaseRedemption", "ReleaseReservation"]),
        (
            "AuthorizePayment",
            &["CancelOrder", "ReleaseRedemption", "ReleaseReservation"],
        ),
        (
            "CommitReservation",
            &["VoidPayment", "CancelOrder", "ReleaseRedemption", "ReleaseReservation"],
        ),
    ];
    for database in databases().await {
        for (refused, undone) in cases {
            let (script, url) = stubs().await;
            script.lock().unwrap().refuse.insert(refused, "BAD_USER_INPUT");
            let saga = checkout(&database, &url).await.saga;
            let (caller, request) = customer(&script);
            let session = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
            assert_eq!(session.status(), SessionStatus::Failed, "{refused}: {session:?}");
            let done = FORWARD.iter().position(|step| *step == refused).unwrap();
            let mut expected: Vec<&str> = FORWARD[..=done].to_vec();
            expected.extend(undone);
            assert_eq!(commands(&script), expected, "refused at {refused}");
        }
        database.remove().await;
    }
}

/// After the point of no return (the order is paid) nothing is undone: a refusal
/// leaves the session STUCK for an operator.
#[tokio::test]
async fn a_refusal_after_the_order_is_paid_is_stuck_not_undone() {
    for database in databases().await {
        let (script, url) = stubs().await;
        script.lock().unwrap().refuse.insert("CapturePayment", "BAD_USER_INPUT");
        let saga = checkout(&database, &url).await.saga;
        let (caller, request) = customer(&script);
        let session = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
        assert_eq!(session.status(), SessionStatus::Stuck, "{session:?}");
        assert_eq!(commands(&script), FORWARD, "nothing undone");
        database.remove().await;
    }
}

/// A context that is down holds the saga at its step (RUNNING); the reconciler
/// finishes it once the context answers again.
#[tokio::test]
async fn an_outage_holds_the_saga_until_the_reconciler_finishes_it() {
    for database in databases().await {
        let (script, url) = stubs().await;
        script.lock().unwrap().down.insert("AuthorizePayment");
        let saga = checkout(&database, &url).await.saga;
        let (caller, request) = customer(&script);
        let session = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
        assert_eq!(session.status(), SessionStatus::Running, "{session:?}");
        script.lock().unwrap().down.clear();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(saga.resume_unfinished().await.unwrap(), 1);
        let finished = saga.get(session.id()).await.unwrap().unwrap();
        assert_eq!(finished.status(), SessionStatus::Completed, "{finished:?}");
        let calls = commands(&script);
        let sent = |command: &str| calls.iter().filter(|call| *call == command).count();
        assert!(FORWARD.iter().all(|command| sent(command) >= 1), "{calls:?}");
        assert!(sent("AuthorizePayment") >= 2, "tried while down, then again: {calls:?}");
        assert_eq!(
            sent("PlaceOrder"),
            1,
            "saved before the outage, not repeated: {calls:?}"
        );
        assert_eq!(calls.iter().filter(|call| *call == "CapturePayment").count(), 1);
        database.remove().await;
    }
}

const LEASE_SECONDS: f64 = 5.0;

/// A driver that dies in the middle of a step (its call never returns) holds the lease
/// until it runs out; then another driver takes the session over and finishes it.
#[tokio::test]
async fn another_driver_takes_over_a_session_whose_lease_ran_out() {
    for database in databases().await {
        let (script, url) = stubs().await;
        script.lock().unwrap().hang.insert("AuthorizePayment");
        // A lease long enough that the check of it below comes before it runs out, even
        // on a loaded machine.
        let dying = checkout_with_lease(&database, &url, LEASE_SECONDS).await.saga;
        let (caller, request) = customer(&script);
        let stalled = tokio::spawn(async move { dying.checkout(&caller, request, &EventMeta::internal()).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The driver dies: its task is gone, its lease stays until it runs out.
        stalled.abort();
        script.lock().unwrap().hang.clear();
        let other = checkout_with_lease(&database, &url, LEASE_SECONDS).await.saga;
        assert_eq!(other.resume_unfinished().await.unwrap(), 0, "the lease still holds");
        tokio::time::sleep(Duration::from_secs_f64(LEASE_SECONDS + 0.5)).await;
        assert_eq!(
            other.resume_unfinished().await.unwrap(),
            1,
            "taken over once the lease ran out"
        );
        let sessions = other.all().await.unwrap();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].status(), SessionStatus::Completed, "{:?}", sessions[0]);
        let calls = commands(&script);
        assert_eq!(
            calls.iter().filter(|call| *call == "PlaceOrder").count(),
            1,
            "{calls:?}"
        );
        assert_eq!(
            calls.iter().filter(|call| *call == "CapturePayment").count(),
            1,
            "{calls:?}"
        );
        database.remove().await;
    }
}

/// The kinds of events the session wrote to its outbox, in order, each checked
/// against its JSON Schema under schema/events/.
async fn outbox_types(saga: &checkout_service::saga::Saga) -> Vec<String> {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../schema/events");
    let mut types = Vec::new();
    for envelope in kernel_infra::outbox::pending(saga.db()).await.unwrap() {
        let name = envelope.event_type.to_string();
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(schemas.join(format!("{name}.json"))).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let problems: Vec<String> = validator
            .iter_errors(&envelope.payload)
            .map(|e| e.to_string())
            .collect();
        assert!(problems.is_empty(), "{name}: {problems:?} in {}", envelope.payload);
        types.push(name);
    }
    types
}

/// A capture the provider refuses for good leaves the checkout STUCK: staff compensate
/// it, and everything done is undone in order (the shipment stopped, the payment voided
/// as it was never captured, the order canceled, the committed coupon and stock given
/// back); it ends FAILED. Compensating again changes nothing; a reason is needed; a
/// completed checkout is not compensated. Audited once.
#[tokio::test]
async fn staff_compensate_a_checkout_stuck_past_the_point_of_no_return() {
    for database in databases().await {
        let label = database.label;
        let (script, url) = stubs().await;
        let saga = checkout(&database, &url).await.saga;
        let staff = Identity {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Admin,
        };
        script.lock().unwrap().refuse.insert("CapturePayment", "CONFLICT");
        let (caller, request) = customer(&script);
        let stuck = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
        assert_eq!(stuck.status(), SessionStatus::Stuck, "{label}: {stuck:?}");

        let no_reason = saga
            .compensate_by_staff(&staff, stuck.id(), " ", &EventMeta::internal())
            .await
            .unwrap_err();
        assert_eq!(kernel::Classify::kind(&no_reason), kernel::ErrorKind::BadUserInput);
        script.lock().unwrap().calls.clear();
        let compensated = saga
            .compensate_by_staff(&staff, stuck.id(), "card declined for good", &EventMeta::internal())
            .await
            .unwrap();
        assert_eq!(compensated.status(), SessionStatus::Failed, "{label}: {compensated:?}");
        assert_eq!(
            commands(&script),
            [
                "StopShipment",
                "VoidPayment",
                "CancelOrder",
                "ReturnRedemption",
                "ReturnReservation"
            ],
            "{label}"
        );
        assert!(compensated.failure().unwrap().contains("card declined for good"));
        let steps: Vec<_> = saga
            .steps(stuck.id())
            .await
            .unwrap()
            .iter()
            .map(|record| record.step.as_str())
            .collect();
        assert!(
            steps.ends_with(&[
                "STOP_SHIPMENT",
                "VOID_PAYMENT",
                "CANCEL_ORDER",
                "GIVE_BACK_COUPON",
                "RETURN_STOCK"
            ]),
            "{label}: {steps:?}"
        );

        // Again: nothing more is sent or recorded.
        script.lock().unwrap().calls.clear();
        let again = saga
            .compensate_by_staff(&staff, stuck.id(), "card declined for good", &EventMeta::internal())
            .await
            .unwrap();
        assert_eq!(again.status(), SessionStatus::Failed);
        assert!(commands(&script).is_empty(), "{label}");

        // A completed checkout is not compensated (a cancellation undoes it).
        script.lock().unwrap().refuse.clear();
        let (caller, request) = customer(&script);
        let completed = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
        let refused = saga
            .compensate_by_staff(&staff, completed.id(), "changed my mind", &EventMeta::internal())
            .await
            .unwrap_err();
        assert_eq!(kernel::Classify::kind(&refused), kernel::ErrorKind::Conflict);

        let written = outbox_types(&saga).await;
        assert_eq!(
            written
                .iter()
                .filter(|t| *t == checkout_domain::StaffAction::COMPENSATED)
                .count(),
            1,
            "{label}: {written:?}"
        );
        assert_eq!(
            written
                .iter()
                .filter(|t| *t == checkout_domain::CheckoutEvent::FAILED)
                .count(),
            1,
            "{label}: {written:?}"
        );
        database.remove().await;
    }
}

/// A capture refused after the order was paid leaves the checkout STUCK; staff see
/// it, resume it once the cause is gone (only the refused step runs again), or resolve
/// another by hand with a reason. Both are audited.
#[tokio::test]
async fn staff_resume_a_stuck_checkout_or_resolve_it_and_both_are_audited() {
    for database in databases().await {
        let (script, url) = stubs().await;
        let saga = checkout(&database, &url).await.saga;
        let staff = Identity {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Admin,
        };
        script.lock().unwrap().refuse.insert("CapturePayment", "CONFLICT");
        let (caller, request) = customer(&script);
        let stuck = saga.checkout(&caller, request, &EventMeta::internal()).await.unwrap();
        assert_eq!(stuck.status(), SessionStatus::Stuck, "{stuck:?}");
        assert_eq!(stuck.stuck_step(), Some(checkout_domain::Step::CapturePayment));
        let (other_caller, other_request) = customer(&script);
        let other = saga
            .checkout(&other_caller, other_request, &EventMeta::internal())
            .await
            .unwrap();
        assert_eq!(other.status(), SessionStatus::Stuck);

        let listed: Vec<_> = saga
            .needing_attention(Duration::from_secs(300))
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id())
            .collect();
        assert_eq!(listed, [stuck.id(), other.id()], "{}", database.label);

        // The provider is fine again: resuming captures, and nothing else is repeated.
        script.lock().unwrap().refuse.clear();
        script.lock().unwrap().calls.clear();
        let resumed = saga
            .resume_by_staff(&staff, stuck.id(), &EventMeta::internal())
            .await
            .unwrap();
        assert_eq!(resumed.status(), SessionStatus::Completed, "{}", database.label);
        assert_eq!(commands(&script), ["CapturePayment"], "{}", database.label);
        // A completed checkout is not resumed again.
        let err = saga
            .resume_by_staff(&staff, stuck.id(), &EventMeta::internal())
            .await
            .unwrap_err();
        assert_eq!(kernel::Classify::kind(&err), kernel::ErrorKind::Conflict);

        // The other was captured by hand at the provider: resolved, with the reason.
        let resolved = saga
            .resolve(
                &staff,
                other.id(),
                "captured by hand in the provider's dashboard",
                &EventMeta::internal(),
            )
            .await
            .unwrap();
        assert_eq!(resolved.status(), SessionStatus::Resolved);
        let stored = saga.get(other.id()).await.unwrap().unwrap();
        assert_eq!(
            stored.resolution(),
            Some("captured by hand in the provider's dashboard")
        );
        let err = saga
            .resolve(&staff, other.id(), "again", &EventMeta::internal())
            .await
            .unwrap_err();
        assert_eq!(kernel::Classify::kind(&err), kernel::ErrorKind::Conflict);
        assert!(
            saga.needing_attention(Duration::from_secs(300))
                .await
                .unwrap()
                .is_empty()
        );

        let written = outbox_types(&saga).await;
        for audited in [
            checkout_domain::StaffAction::RESUMED,
            checkout_domain::StaffAction::RESOLVED,
        ] {
            assert_eq!(
                written.iter().filter(|t| *t == audited).count(),
                1,
                "{}: {written:?}",
                database.label
            );
        }
        database.remove().await;
    }
}
