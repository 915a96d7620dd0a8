//! The gateway's security matrix: each row a request that must be refused, with the
//! code and HTTP status it gets, and a check that nothing ran. Plus the two ways in
//! that must work: a partner's manifest operation by id, and a browser's APQ.

use serde_json::{Value, json};

use crate::TestPlatform;
use crate::shop::{Customer, add_to_cart, checkout, ok, stocked_product};

const PRICE: &str = "query($id: ID!) { product(id: $id) { price { amount } } }";
const CHANGE_PRICE: &str =
    "mutation($id: ID!) { changePrice(id: $id, price: { amount: 1, currency: \"USD\" }) { id } }";

pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// A token signed like Accounts' but with chosen audience, expiry, key and claims.
fn forged(audience: &str, expires_in: i64, secret: &[u8], role: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    signed(
        secret,
        &json!({
            "sub": uuid::Uuid::now_v7().to_string(), "role": role,
            "iss": "ecommerce-accounts", "aud": audience, "iat": now, "exp": now + expires_in,
        }),
    )
}

/// A partner's token for the client `client`, signed with `secret`.
fn partner(secret: &[u8], client: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    signed(
        secret,
        &json!({
            "sub": uuid::Uuid::now_v7().to_string(), "role": "PARTNER", "client": client,
            "iss": "ecommerce-accounts", "aud": "ecommerce", "iat": now, "exp": now + 600,
        }),
    )
}

/// `claims` signed as Accounts signs, with `secret`.
fn signed(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn jwt_secret() -> Vec<u8> {
    std::env::var("JWT_SECRET")
        .unwrap_or_else(|_| kernel::identity::tokens::DEVELOPMENT_JWT_SECRET.into())
        .into_bytes()
}

/// A partner's token, issued by Accounts at an admin's request.
pub async fn partner_token(platform: &TestPlatform, partner: &str) -> String {
    let (status, body) = platform
        .post_admin(
            "mutation($p: String!) { issuePartnerToken(partner: $p) { token partner } }",
            json!({ "p": partner }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["issuePartnerToken"]["token"].as_str().unwrap().to_owned()
}

/// Sends a raw request body with headers; returns status and JSON body.
pub async fn send(platform: &TestPlatform, headers: &[(&str, String)], body: Value) -> (u16, Value) {
    send_to(platform, &platform.url, headers, body).await
}

/// [`send`] to the gateway at `url`.
async fn send_to(platform: &TestPlatform, url: &str, headers: &[(&str, String)], body: Value) -> (u16, Value) {
    let mut request = platform
        .client()
        .post(format!("{url}/graphql"))
        .header("accept", "application/graphql-response+json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GETs `url`: its status and body text.
async fn text_at(platform: &TestPlatform, url: String) -> (u16, String) {
    let response = platform.client().get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub fn manifest_id(client: &str, name: &str) -> String {
    let path = format!(
        "{}/../../frontend-contracts/manifests/{client}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    manifest["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["name"] == name)
        .map(|op| op["id"].as_str().unwrap().to_owned())
        .unwrap()
}

async fn price_of(platform: &TestPlatform, product: &str) -> i64 {
    let (_, body) = platform.post(PRICE, json!({ "id": product })).await;
    body["data"]["product"]["price"]["amount"].as_i64().unwrap()
}

#[tokio::test]
async fn tokens_that_fail_verification_are_refused_before_anything_runs() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "SEC-TOKEN", 1_000, 5).await;
    let secret = jwt_secret();
    let rows = [
        ("no token", None, 200, "UNAUTHENTICATED"),
        (
            "expired",
            Some(forged("ecommerce", -3600, &secret, "ADMIN")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "wrong signature",
            Some(forged("ecommerce", 600, b"not-our-key", "ADMIN")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "wrong audience",
            Some(forged("elsewhere", 600, &secret, "ADMIN")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "not a bearer token",
            Some("Basic abc".to_owned()),
            401,
            "UNAUTHENTICATED",
        ),
    ];
    for (row, token, status, expected) in rows {
        let headers: Vec<(&str, String)> = match token {
            Some(t) if t.starts_with("Basic") => vec![("authorization", t)],
            Some(t) => vec![("authorization", format!("Bearer {t}"))],
            None => vec![],
        };
        let (got, body) = send(
            &platform,
            &headers,
            json!({ "query": CHANGE_PRICE, "variables": { "id": product } }),
        )
        .await;
        assert_eq!((got, code(&body)), (status, expected), "{row}: {body}");
        assert!(body["data"]["changePrice"].is_null(), "{row}: {body}");
    }
    assert_eq!(price_of(&platform, &product).await, 1_000, "no row changed the price");
    platform.stop().await;
}

/// Straight at a subgraph (as from inside the network), an identity assertion counts
/// only for the subgraph it is made out to, and the service key speaks only for a
/// service: an ADMIN signed with it changes nothing.
#[tokio::test]
async fn a_subgraph_accepts_only_assertions_made_out_to_it_and_service_keys_say_only_service() {
    use kernel_infra::identity::{AssertionSigner, keys};
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "SEC-AUDIENCE", 1_000, 5).await;
    let products = platform.endpoints["products"].trim_end_matches("/graphql").to_owned();
    let admin = kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role: kernel::Role::Admin,
    };
    let gateway = AssertionSigner::configured_gateway().unwrap();
    let service = AssertionSigner::service(keys().service_private_pem.as_deref().unwrap()).unwrap();
    let service_identity = kernel_infra::identity::service_identity("checkout");
    let rows = [
        (
            "the gateway's, for Orders",
            gateway.sign(&admin, None, "orders").unwrap(),
            "UNAUTHENTICATED",
        ),
        (
            "the service key's, saying ADMIN",
            service.sign(&admin, None, "products").unwrap(),
            "UNAUTHENTICATED",
        ),
        (
            "the service key's, saying SERVICE",
            service.sign(&service_identity, None, "products").unwrap(),
            "FORBIDDEN",
        ),
    ];
    for (row, assertion, expected) in rows {
        let (status, body) = send_to(
            &platform,
            &products,
            &[("x-identity", assertion)],
            json!({ "query": CHANGE_PRICE, "variables": { "id": product } }),
        )
        .await;
        assert_eq!((status, code(&body)), (200, expected), "{row}: {body}");
    }
    assert_eq!(price_of(&platform, &product).await, 1_000, "no row changed the price");
    // The gateway's own, made out to Products, does.
    let (_, body) = send_to(
        &platform,
        &products,
        &[("x-identity", gateway.sign(&admin, None, "products").unwrap())],
        json!({ "query": CHANGE_PRICE, "variables": { "id": product } }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    // Changed behind the gateway's back: its cache learns of it by the event.
    crate::platform_of_processes::eventually("the assertion for Products counts", || async {
        price_of(&platform, &product).await == 1
    })
    .await;
    platform.stop().await;
}

/// Straight at every subgraph (as from inside the network, no gateway in front): an
/// operation nested too deep, one selecting hundreds of aliases and a body over 1 MB
/// are refused, each with its code; an ordinary one still runs.
#[tokio::test]
async fn every_subgraph_defends_itself_without_the_gateway() {
    let platform = TestPlatform::start().await;
    let mut selection = "name".to_owned();
    for _ in 0..23 {
        selection = format!("ofType {{ {selection} }}");
    }
    let deep = format!("{{ __schema {{ types {{ fields {{ type {{ {selection} }} }} }} }} }}");
    let aliases: String = (0..200).map(|i| format!("a{i}: _service {{ sdl }} ")).collect();
    let many_aliases = format!("{{ {aliases} }}");
    let huge = format!("{{ __typename }} # {}", "x".repeat(20 * 1024 * 1024));
    assert_eq!(platform.endpoints.len(), 11, "every context");
    for (name, endpoint) in &platform.endpoints {
        let url = endpoint.trim_end_matches("/graphql");
        let (status, body) = send_to(&platform, url, &[], json!({ "query": deep })).await;
        assert_eq!(
            (status, code(&body)),
            (200, "GRAPHQL_VALIDATION_FAILED"),
            "{name}, depth 28: {body}"
        );
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains("too deep"),
            "{name}: {body}"
        );
        assert!(body["data"].is_null(), "{name}: {body}");

        let (status, body) = send_to(&platform, url, &[], json!({ "query": many_aliases })).await;
        assert_eq!(
            (status, code(&body)),
            (200, "GRAPHQL_VALIDATION_FAILED"),
            "{name}, 200 aliases: {body}"
        );
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains("too complex"),
            "{name}: {body}"
        );

        let (status, body) = send_to(&platform, url, &[], json!({ "query": huge })).await;
        assert_eq!(
            (status, code(&body)),
            (413, "PAYLOAD_TOO_LARGE"),
            "{name}, 20 MB: {body}"
        );

        let (status, body) = send_to(&platform, url, &[], json!({ "query": "{ _service { sdl } }" })).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(body["data"]["_service"]["sdl"].is_string(), "{name}: {body}");
    }
    platform.stop().await;
}

/// Through the gateway, sign-in cannot be guessed at: an e-mail is locked after a few
/// failures (the right password then changes nothing until the window ends), a request
/// signs in once however many aliases it holds, and the address the gateway saw is
/// what counts per address (a client's own `x-identity-client-address` is dropped).
#[tokio::test]
async fn sign_in_cannot_be_guessed_at_through_the_gateway() {
    let platform = TestPlatform::start().await;
    let register = "mutation($e: String!) { register(input: { email: $e, password: \"correct horse battery\", displayName: \"Ann\" }) { token } }";
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let (_, body) = platform.post(register, json!({ "e": "ann@example.com" })).await;
    assert!(body["errors"].is_null(), "{body}");
    let settings = accounts_service::AccountsSettings::default();
    for attempt in 0..settings.failed_logins_per_account {
        let (_, body) = platform
            .post(
                login,
                json!({ "e": "ann@example.com", "p": format!("guess {attempt}") }),
            )
            .await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    let (_, body) = platform
        .post(login, json!({ "e": "ann@example.com", "p": "correct horse battery" }))
        .await;
    assert_eq!(
        code(&body),
        "RATE_LIMITED",
        "the right password after the guesses: {body}"
    );
    assert!(
        body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0,
        "{body}"
    );

    let aliases: String = (0..10)
        .map(|i| format!("l{i}: login(email: \"bob{i}@example.com\", password: \"guess\") {{ token }} "))
        .collect();
    let (_, body) = platform.post(&format!("mutation {{ {aliases} }}"), json!({})).await;
    let errors = body["errors"].as_array().unwrap();
    let refused = errors
        .iter()
        .filter(|error| error["message"].as_str().unwrap_or_default().contains("one `login`"))
        .count();
    assert_eq!((errors.len(), refused), (10, 9), "only the first login ran: {body}");

    // Distinct e-mails from one address: the address is locked, and saying another
    // address does not unlock it.
    for attempt in 0..settings.failed_logins_per_address {
        let (_, body) = platform
            .post(
                login,
                json!({ "e": format!("guess{attempt}@example.com"), "p": "password1234" }),
            )
            .await;
        if code(&body) == "RATE_LIMITED" {
            break;
        }
        assert_eq!(code(&body), "UNAUTHENTICATED", "{attempt}: {body}");
    }
    let (_, body) = send(
        &platform,
        &[("x-identity-client-address", "198.51.100.7".to_owned())],
        json!({ "query": login, "variables": { "e": "carol@example.com", "p": "password1234" } }),
    )
    .await;
    assert_eq!(
        code(&body),
        "RATE_LIMITED",
        "the gateway says the address, not the client: {body}"
    );
    platform.stop().await;
}

/// One customer cannot stop payments for everyone: payments that keep failing for one
/// payer do not open the provider's circuit breaker, so another customer's good card
/// goes through; and after a few failed checkouts the customer must wait (RATE_LIMITED
/// with `retryAfter`) before trying the cart again.
#[tokio::test]
async fn one_customer_cannot_stop_payments_for_everyone() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "SEC-PAY", 1_000, 50).await;
    let (mallory, alice) = (Customer::new(), Customer::new());
    let cart = add_to_cart(&platform, &mallory, "SEC-PAY", 1).await;
    let limit = checkout_service::CheckoutSettings::default().failed_checkouts_per_customer;
    for attempt in 0..limit {
        let body = checkout(
            &platform,
            &mallory,
            &cart,
            None,
            "card_unavailable",
            &format!("bad-{attempt}"),
        )
        .await;
        assert_eq!(body["data"]["checkout"]["status"], "FAILED", "{attempt}: {body}");
    }
    let body = checkout(&platform, &mallory, &cart, None, "card_unavailable", "bad-again").await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0,
        "{body}"
    );
    // The same key as an earlier attempt still answers what that attempt did.
    let body = checkout(&platform, &mallory, &cart, None, "card_unavailable", "bad-0").await;
    assert_eq!(body["data"]["checkout"]["status"], "FAILED", "{body}");

    let good = add_to_cart(&platform, &alice, "SEC-PAY", 1).await;
    let body = checkout(&platform, &alice, &good, None, "card", "good").await;
    assert_eq!(
        body["data"]["checkout"]["status"], "COMPLETED",
        "the breaker stayed closed: {body}"
    );
    platform.stop().await;
}

/// What only the shop may see stays hidden from anonymous callers and customers: the
/// stock ledger and reservations, products that are not PUBLISHED, coupon codes
/// (signed-in customers only, and a few lookups at a time), and the gateway's metrics
/// (on a port of their own).
#[tokio::test]
async fn anonymous_callers_see_only_what_is_public() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "SEC-LEDGER", 1_000, 5).await;
    let draft = crate::shop::new_product(&platform, "Secret Draft", "home", 700, "SEC-DRAFT", true).await;
    let customer = Customer::new();
    let admin = platform.admin_token();

    // The ledger and reservations: staff only, at the gateway and at the subgraph.
    let ledger = r#"{ stockItem(sku: "SEC-LEDGER") { sku movements(first: 5) { edges { node { reason } } } } }"#;
    let reservation = format!(r#"{{ reservation(id: "{}") {{ id }} }}"#, uuid::Uuid::now_v7());
    for token in [None, Some(customer.token.as_str())] {
        for query in [ledger, reservation.as_str()] {
            let (_, body) = platform.post_as(token, query, json!({})).await;
            assert!(!body["errors"].is_null(), "{query} as {token:?}: {body}");
            assert!(body["data"]["stockItem"]["movements"].is_null(), "{body}");
        }
    }
    let data = ok(&platform, &admin, ledger, json!({})).await;
    assert_eq!(
        data["stockItem"]["movements"]["edges"][0]["node"]["reason"], "ADJUSTMENT",
        "{data}"
    );
    let inventory = platform.endpoints["inventory"].trim_end_matches("/graphql").to_owned();
    let (_, body) = send_to(&platform, &inventory, &[], json!({ "query": ledger })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "straight at the subgraph: {body}");
    let (_, body) = send_to(
        &platform,
        &inventory,
        &[("x-identity", customer.assertion("inventory"))],
        json!({ "query": ledger }),
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "a customer straight at the subgraph: {body}");

    // Products that are not PUBLISHED: staff only.
    let one = "query($id: ID!) { product(id: $id) { id status } }";
    let listed = r#"query($status: ProductStatus) { products(first: 100, filter: { status: $status }) { edges { node { id } } } }"#;
    let (_, body) = platform.post(one, json!({ "id": draft })).await;
    assert!(body["errors"].is_null() && body["data"]["product"].is_null(), "{body}");
    let (_, body) = platform.post(listed, json!({})).await;
    let ids = body["data"]["products"]["edges"].to_string();
    assert!(
        !ids.contains(&draft),
        "an anonymous listing shows only published products: {body}"
    );
    let (_, body) = platform.post(listed, json!({ "status": "DRAFT" })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let (_, body) = platform
        .post(r#"{ variant(sku: "SEC-DRAFT") { sku } }"#, json!({}))
        .await;
    assert!(body["data"]["variant"].is_null(), "{body}");
    let data = ok(&platform, &admin, one, json!({ "id": draft })).await;
    assert_eq!(data["product"]["status"], "DRAFT");
    let data = ok(&platform, &admin, listed, json!({ "status": "DRAFT" })).await;
    assert!(data["products"]["edges"].to_string().contains(&draft), "{data}");

    // Coupon codes: signed in, and a limited number of lookups.
    let lookup = "query($code: String!) { coupon(code: $code) { code } }";
    let (_, body) = platform.post(lookup, json!({ "code": "GUESS0" })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let limit = coupons_service::graphql::LOOKUPS_PER_WINDOW;
    for attempt in 0..limit {
        let (_, body) = platform
            .post_as(
                Some(&customer.token),
                lookup,
                json!({ "code": format!("GUESS{attempt}") }),
            )
            .await;
        assert!(body["errors"].is_null(), "lookup {attempt}: {body}");
    }
    let (_, body) = platform
        .post_as(Some(&customer.token), lookup, json!({ "code": "GUESSMORE" }))
        .await;
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0,
        "{body}"
    );
    let (_, body) = platform
        .post_as(Some(&Customer::new().token), lookup, json!({ "code": "GUESSMORE" }))
        .await;
    assert!(
        body["errors"].is_null(),
        "another customer has a budget of their own: {body}"
    );

    // The gateway's metrics are not on the clients' port.
    let (_, public) = text_at(&platform, format!("{}/metrics", platform.url)).await;
    assert!(
        !public.contains("# TYPE"),
        "no metrics on the clients' port: {public:.200}"
    );
    let (status, internal) = text_at(&platform, format!("{}/metrics", platform.metrics_url)).await;
    assert_eq!(status, 200);
    assert!(internal.contains("# TYPE"), "{internal:.200}");
    platform.stop().await;
}

#[tokio::test]
async fn customers_stay_inside_their_own_data() {
    let platform = TestPlatform::start().await;
    let product = stocked_product(&platform, "SEC-OWN", 2_500, 5).await;
    let (alice, mallory) = (Customer::new(), Customer::new());

    // A customer changing a price.
    let (status, body) = platform
        .post_as(Some(&mallory.token), CHANGE_PRICE, json!({ "id": product }))
        .await;
    assert_eq!((status, code(&body)), (200, "FORBIDDEN"), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("catalog:write"),
        "the gateway's @requiresScopes refused it: {body}"
    );
    assert_eq!(price_of(&platform, &product).await, 2_500);

    // Anonymous callers: `@authenticated` fields are refused at the gateway, and a
    // refused mutation is never sent.
    let (status, body) = platform.post("{ me { id } }", json!({})).await;
    assert_eq!((status, code(&body)), (200, "UNAUTHENTICATED"), "{body}");
    let cart = add_to_cart(&platform, &alice, "SEC-OWN", 1).await;
    let (_, body) = platform
        .post(
            crate::shop::CHECKOUT,
            json!({ "input": { "cartId": cart, "paymentMethod": "card", "idempotencyKey": "sec-anonymous" } }),
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("signed-in"),
        "the gateway's @authenticated refused it: {body}"
    );
    assert!(body["data"].is_null(), "{body}");

    // A customer reading another customer's cart.
    let (_, body) = platform
        .post_as(
            Some(&mallory.token),
            "query($id: ID!) { cart(id: $id) { id items { sku } } }",
            json!({ "id": cart }),
        )
        .await;
    assert!(body["data"]["cart"].is_null(), "{body}");
    let own = ok(
        &platform,
        &alice.token,
        "query($id: ID!) { cart(id: $id) { id } }",
        json!({ "id": cart }),
    )
    .await;
    assert_eq!(own["cart"]["id"], cart.as_str());

    // A customer reading another customer's order.
    let session = checkout(&platform, &alice, &cart, None, "card", "sec-own-order").await;
    let order = session["data"]["checkout"]["order"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("alice checks out: {session}"))
        .to_owned();
    let by_id = "query($id: ID!) { order(id: $id) { id total { amount } } }";
    let (_, body) = platform
        .post_as(Some(&mallory.token), by_id, json!({ "id": order }))
        .await;
    assert!(body["data"]["order"].is_null(), "{body}");
    let own = ok(&platform, &alice.token, by_id, json!({ "id": order })).await;
    assert_eq!(own["order"]["id"], order.as_str());

    // A client's token sent straight to a subgraph is not an identity there: only the
    // gateway's signed assertion is.
    let products = &platform.endpoints["products"];
    let response = platform
        .client()
        .post(products)
        .bearer_auth(platform.admin_token())
        .json(&json!({ "query": CHANGE_PRICE, "variables": { "id": product } }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(price_of(&platform, &product).await, 2_500);
    platform.stop().await;
}

#[tokio::test]
async fn partners_run_only_their_own_manifest() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "SEC-PARTNER", 4_200, 7).await;
    let acme = vec![(
        "authorization",
        format!("Bearer {}", partner_token(&platform, "acme").await),
    )];

    // Its own operation, by id: runs.
    let stock = manifest_id("globex", "GlobexStock");
    let globex = vec![(
        "authorization",
        format!("Bearer {}", partner_token(&platform, "globex").await),
    )];
    let (status, body) = send(
        &platform,
        &globex,
        json!({ "documentId": stock, "variables": { "sku": "SEC-PARTNER" } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["variant"]["inventory"]["available"], 7, "{body}");

    // The same by APQ hash: runs.
    let apq = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": stock } }, "variables": { "sku": "SEC-PARTNER" } });
    let (status, body) = send(&platform, &globex, apq).await;
    assert_eq!(
        (status, body["data"]["variant"]["sku"].as_str()),
        (200, Some("SEC-PARTNER")),
        "{body}"
    );

    // Another partner's id: refused.
    let (status, body) = send(
        &platform,
        &acme,
        json!({ "documentId": stock, "variables": { "sku": "SEC-PARTNER" } }),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "PERSISTED_QUERY_NOT_IN_LIST"), "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");

    // An operation not in its manifest, as text: refused, even when the partner names
    // itself a first-party client in the header (the token's claim wins).
    let mut as_web = acme.clone();
    as_web.push(("graphql-client-name", "web".to_owned()));
    for headers in [&acme, &as_web] {
        let (status, body) = send(&platform, headers, json!({ "query": "{ ledgerBalance { currency } }" })).await;
        assert_eq!((status, code(&body)), (400, "PERSISTED_QUERY_NOT_IN_LIST"), "{body}");
    }
    // First-party web may send text.
    let web = vec![("graphql-client-name", "web".to_owned())];
    let (status, body) = send(
        &platform,
        &web,
        json!({ "query": "{ products(first: 1) { edges { node { id } } } }" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    platform.stop().await;
}

#[tokio::test]
async fn a_browser_uses_automatic_persisted_queries() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "SEC-APQ", 999, 3).await;
    let query = "query Stock($sku: String!) { variant(sku: $sku) { sku inventory { available } } }";
    let hash = gateway::contracts::document_id(query);
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let variables = json!({ "sku": "SEC-APQ" });

    let (status, body) = send(
        &platform,
        &[],
        json!({ "extensions": extensions, "variables": variables }),
    )
    .await;
    assert_eq!((status, code(&body)), (200, "PERSISTED_QUERY_NOT_FOUND"), "{body}");

    let (status, body) = send(
        &platform,
        &[],
        json!({ "query": query, "extensions": extensions, "variables": variables }),
    )
    .await;
    assert_eq!(
        (status, body["data"]["variant"]["inventory"]["available"].as_i64()),
        (200, Some(3)),
        "{body}"
    );

    let (status, body) = send(
        &platform,
        &[],
        json!({ "extensions": extensions, "variables": variables }),
    )
    .await;
    assert_eq!(
        (status, body["data"]["variant"]["sku"].as_str()),
        (200, Some("SEC-APQ")),
        "{body}"
    );

    // GET with only the hash: a short, cacheable URL.
    let response = platform
        .client()
        .get(format!("{}/graphql", platform.url))
        .query(&[
            ("extensions", extensions.to_string()),
            ("variables", variables.to_string()),
        ])
        .header("accept", "application/graphql-response+json")
        .header("x-graphql-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["variant"]["sku"], "SEC-APQ", "{body}");

    let wrong =
        json!({ "persistedQuery": { "version": 1, "sha256Hash": gateway::contracts::document_id("{ other }") } });
    let (status, body) = send(
        &platform,
        &[],
        json!({ "query": query, "extensions": wrong, "variables": variables }),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "PERSISTED_QUERY_HASH_MISMATCH"), "{body}");
    platform.stop().await;
}

#[tokio::test]
async fn abusive_requests_are_refused_by_the_limits() {
    let platform = TestPlatform::start().await;

    // Depth bomb: product → variants → product → … past the maximum depth.
    let mut selection = "id".to_owned();
    for _ in 0..8 {
        selection = format!("product {{ variants {{ {selection} }} }}");
    }
    let depth = format!("{{ products(first: 1) {{ edges {{ node {{ variants {{ {selection} }} }} }} }} }}");
    let (status, body) = send(&platform, &[], json!({ "query": depth })).await;
    assert_eq!((status, code(&body)), (400, "MAX_DEPTH_EXCEEDED"), "depth: {body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");

    // Cost bomb: shallow and alias-free, but 100 products × 10 variants × their
    // product × 10 variants, by the @listSize of `products` and the default list size.
    let bomb = "{ products(first: 100) { edges { node { variants { product { variants { sku } } } } } } }";
    let (status, body) = send(&platform, &[], json!({ "query": bomb })).await;
    assert_eq!(
        (status, code(&body)),
        (400, "COST_ESTIMATED_TOO_EXPENSIVE"),
        "cost: {body}"
    );
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");

    // The operation that will run is the one measured: a second operation appended
    // without `operationName` is a request error, not a way around the limits; named,
    // it is measured; a variable left unsent counts at its declared default.
    let appended = format!("query Cheap {{ __typename }} query Bomb {bomb}");
    let (status, body) = send(&platform, &[], json!({ "query": appended })).await;
    assert_eq!(
        (status, code(&body)),
        (400, "OPERATION_NAME_REQUIRED"),
        "{appended}: {body}"
    );
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    let (status, body) = send(&platform, &[], json!({ "query": appended, "operationName": "Bomb" })).await;
    assert_eq!((status, code(&body)), (400, "COST_ESTIMATED_TOO_EXPENSIVE"), "{body}");
    let (status, body) = send(&platform, &[], json!({ "query": appended, "operationName": "Cheap" })).await;
    assert_eq!(
        (status, body["data"]["__typename"].as_str()),
        (200, Some("Query")),
        "{body}"
    );
    let defaulted = bomb.replace("{ products(first: 100)", "query($n: Int = 100) { products(first: $n)");
    let (status, body) = send(&platform, &[], json!({ "query": defaulted })).await;
    assert_eq!((status, code(&body)), (400, "COST_ESTIMATED_TOO_EXPENSIVE"), "{body}");

    // The budget is per client: 30 products of that shape fit the default (5,000) but
    // not mobile's (3,000).
    let thirty = bomb.replace("first: 100", "first: 30");
    let (status, body) = send(&platform, &[], json!({ "query": thirty })).await;
    assert_eq!(status, 200, "{body}");
    let mobile = vec![("graphql-client-name", "mobile".to_owned())];
    let (status, body) = send(&platform, &mobile, json!({ "query": thirty })).await;
    assert_eq!(
        (status, code(&body)),
        (400, "COST_ESTIMATED_TOO_EXPENSIVE"),
        "mobile: {body}"
    );

    // Alias bomb.
    let aliases: Vec<String> = (0..200)
        .map(|i| format!("a{i}: products(first: 100) {{ edges {{ node {{ id }} }} }}"))
        .collect();
    let (status, body) = send(
        &platform,
        &[],
        json!({ "query": format!("{{ {} }}", aliases.join(" ")) }),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "MAX_ALIASES_EXCEEDED"), "aliases: {body}");

    // A body over the 1 MB limit is refused with 413.
    let padding = "x".repeat(1024 * 1024);
    let (status, _) = send(
        &platform,
        &[],
        json!({ "query": "{ __typename }", "variables": { "pad": padding } }),
    )
    .await;
    assert_eq!(status, 413, "a body just over 1 MB");
    // A 10 MB body too. The gateway answers as soon as it has read past the limit and
    // closes the connection, so a client still uploading may see the connection reset
    // before it reads the 413: either way nothing runs.
    let padding = "x".repeat(10 * 1024 * 1024);
    let upload = platform
        .client()
        .post(format!("{}/graphql", platform.url))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ __typename }", "variables": { "pad": padding } }))
        .send()
        .await;
    match upload {
        Ok(response) => assert_eq!(response.status(), 413, "a 10 MB body"),
        Err(err) => {
            let detail = format!("{err:?}");
            assert!(
                detail.contains("ConnectionReset") || detail.contains("BrokenPipe"),
                "a 10 MB body: {detail}"
            );
        }
    }

    // A CSRF-style simple request: a form-encoded POST, with no preflight-forcing header.
    let response = platform
        .client()
        .post(format!("{}/graphql", platform.url))
        .header("content-type", "text/plain")
        .body(r#"{"query":"mutation { logout }"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 403, "csrf: {body}");
    platform.stop().await;
}

#[tokio::test]
async fn production_mode_closes_introspection_and_partners_are_rate_limited() {
    let platform = TestPlatform::start().await;
    stocked_product(&platform, "SEC-RATE", 1_000, 3).await;
    // A production gateway starts only with real keys: a secret and a key pair of its
    // own (the test's subgraphs, on development keys, do not trust its assertions,
    // which nothing below needs).
    let dir = std::env::temp_dir().join(format!("production-gw-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (private_key, _) = crate::key_pair(&dir, "gateway");
    let secret = format!("{}{}", uuid::Uuid::now_v7().simple(), uuid::Uuid::now_v7().simple());
    let gateway = platform
        .another_gateway(
            |config| {
                let limited = config.replace(
                    "globex: { requests: 600, window_seconds: 60 }",
                    "globex: { requests: 3, window_seconds: 3600 }",
                );
                assert_ne!(limited, config, "router.config.yaml sets globex's rate limit");
                limited
            },
            &[
                ("GATEWAY_ENV", "production"),
                ("JWT_SECRET", &secret),
                ("IDENTITY_GATEWAY_PRIVATE_KEY_FILE", &private_key),
            ],
        )
        .await;

    // Introspection in production mode: refused, also to a caller that only names the
    // schema-review client in a header; staff may.
    let introspection = json!({ "query": "{ __schema { queryType { name } } }" });
    let claims_reviewer = vec![("graphql-client-name", "schema-review".to_owned())];
    for headers in [&vec![], &claims_reviewer] {
        let (status, body) = send_to(&platform, &gateway.url, headers, introspection.clone()).await;
        assert_eq!((status, code(&body)), (400, "INTROSPECTION_DISABLED"), "{body}");
    }
    let staff = vec![(
        "authorization",
        format!("Bearer {}", forged("ecommerce", 600, secret.as_bytes(), "ADMIN")),
    )];
    let (status, body) = send_to(&platform, &gateway.url, &staff, introspection.clone()).await;
    assert_eq!(
        (status, body["data"]["__schema"]["queryType"]["name"].as_str()),
        (200, Some("Query"))
    );
    // The development gateway still answers it.
    let (status, _) = send(&platform, &[], introspection).await;
    assert_eq!(status, 200);

    // A partner over its rate limit (3 an hour here): 429 with Retry-After. Nothing
    // is counted across the windows of the test's other gateway.
    let production_globex = vec![(
        "authorization",
        format!("Bearer {}", partner(secret.as_bytes(), "globex")),
    )];
    let stock = json!({ "documentId": manifest_id("globex", "GlobexStock"), "variables": { "sku": "SEC-RATE" } });
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            send_to(&platform, &gateway.url, &production_globex, stock.clone())
                .await
                .0,
        );
    }
    let response = platform
        .client()
        .post(format!("{}/graphql", gateway.url))
        .header("authorization", production_globex[0].1.as_str())
        .json(&stock)
        .send()
        .await
        .unwrap();
    statuses.push(response.status().as_u16());
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(statuses, [200, 200, 200, 429], "{body}");
    assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    assert!((1..=3600).contains(&retry_after), "Retry-After: {retry_after}");
    // The development gateway counts on its own: the partner still runs there.
    let globex = vec![(
        "authorization",
        format!("Bearer {}", partner_token(&platform, "globex").await),
    )];
    let (status, _) = send(&platform, &globex, stock).await;
    assert_eq!(status, 200);
    drop(gateway);
    let _ = std::fs::remove_dir_all(dir);
    platform.stop().await;
}

/// The partners Accounts issues tokens for by default are exactly the clients the
/// gateway serves in `persisted_only` mode but our own (the operations console): no
/// first-party client gets a partner token.
#[test]
fn accounts_issues_tokens_for_the_gateways_partners_only() {
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(include_str!("../../../router.config.yaml")).unwrap();
    let clients = config["plugins"]["trusted_documents"]["config"]["clients"]
        .as_mapping()
        .unwrap();
    let mut partners: Vec<String> = clients
        .iter()
        .filter(|(_, client)| client["mode"] == "persisted_only")
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .filter(|name| !accounts_service::FIRST_PARTY_CLIENTS.contains(&name.as_str()))
        .collect();
    partners.sort();
    assert_eq!(partners, ["acme", "globex"]);
    let mut issued = accounts_service::AccountsSettings::default().partners;
    issued.sort();
    assert_eq!(issued, partners);
    assert!(
        !issued
            .iter()
            .any(|name| accounts_service::FIRST_PARTY_CLIENTS.contains(&name.as_str())),
        "{issued:?}"
    );
}

/// Found by the fuzz run: JSON parsers recurse per level, and a body of 100,000 nested
/// arrays (200 kB) made the gateway's parse run away. Such a request is refused before
/// anything parses it, whether the depth is in the body or in a GET's parameters, and
/// the gateway answers the next request at once.
#[tokio::test]
async fn json_nested_too_deep_is_refused_before_it_is_parsed() {
    let platform = TestPlatform::start().await;
    let levels = 100_000;
    let deep = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    for field in ["extensions", "variables"] {
        let body = format!(r#"{{"query":"{{ __typename }}","{field}":{{"x":{deep}}}}}"#);
        let response = platform
            .client()
            .post(format!("{}/graphql", platform.url))
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .timeout(std::time::Duration::from_secs(10))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{field}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(code(&answer), "BAD_REQUEST", "{answer}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("nests deeper"),
            "{answer}"
        );
    }
    let get = platform
        .client()
        .get(format!(
            "{}/graphql?query=%7B__typename%7D&variables={}",
            platform.url,
            "%5B".repeat(80)
        ))
        .header("x-graphql-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 400, "a GET's variables are measured too");
    let (status, answer) = send(
        &platform,
        &[],
        json!({ "query": "{ __typename }", "variables": { "x": [[[1]]] } }),
    )
    .await;
    assert_eq!(
        (status, answer["data"]["__typename"].as_str()),
        (200, Some("Query")),
        "{answer}"
    );
    platform.stop().await;
}

/// Over WebSocket the engine parses a message before any plugin sees it, so no depth
/// check can come first: a message as deep as the largest frame (64 KiB) allows must
/// fit the router's stacks. Each connection gets its answer (a validation error, or a
/// close for the unclosed one), and the gateway goes on serving.
#[tokio::test]
async fn a_websocket_message_as_deep_as_a_frame_allows_leaves_the_gateway_serving() {
    use crate::websocket::WsClient;
    let platform = TestPlatform::start().await;
    let prefix = r#"{"id":"1","type":"subscribe","payload":{"query":"subscription { noSuchField }","variables":{"x":"#;
    let room = 65_536 - prefix.len() - 8;
    let closed = format!("{prefix}{}{}}}}}}}", "[".repeat(room / 2), "]".repeat(room / 2));
    let unclosed = format!("{prefix}{}", "[".repeat(room));
    for (what, message) in [("closed", closed), ("unclosed", unclosed)] {
        assert!(message.len() <= 65_536, "{what}: one frame");
        let mut client = WsClient::connect(&platform, None).await;
        client.send_text(message).await;
        let answer = client.next(std::time::Duration::from_secs(20)).await;
        match what {
            // Parsed whole, then refused by validation (the field does not exist).
            "closed" => assert_eq!(
                answer.as_ref().map(|answer| answer["type"].clone()),
                Some(json!("error")),
                "{answer:?}"
            ),
            // Not JSON: the connection is closed (4400).
            _ => assert_eq!(answer, None),
        }
        let (status, body) = send(&platform, &[], json!({ "query": "{ __typename }" })).await;
        assert_eq!(
            (status, body["data"]["__typename"].as_str()),
            (200, Some("Query")),
            "{what}: {body}"
        );
    }
    // And a WebSocket client after them is served as ever.
    let mut client = WsClient::connect(&platform, None).await;
    client
        .subscribe("2", "subscription { flashSaleStarted { eventId } }", json!({}))
        .await;
    assert!(
        client.next(std::time::Duration::from_millis(300)).await.is_none(),
        "subscribed, waiting for events"
    );
    platform.stop().await;
}
