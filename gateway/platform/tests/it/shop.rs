//! Helpers that act as the shop's users through the gateway: an admin who stocks the
//! catalog and creates coupons, customers who fill carts and check out.

use serde_json::{Value, json};

use crate::TestPlatform;
pub use crate::platform_of_processes::eventually;

/// A signed-in customer: their token and user id.
pub struct Customer {
    pub token: String,
    pub user_id: uuid::Uuid,
}

impl Customer {
    /// A customer with a token signed by the key the subgraphs verify (no Accounts
    /// row: the contexts know users only by id).
    pub fn new() -> Self {
        let identity = kernel::Identity {
            user_id: uuid::Uuid::now_v7(),
            role: kernel::Role::Customer,
        };
        let token = kernel_infra::identity::TokenIssuer::access_tokens()
            .unwrap()
            .issue(&identity)
            .unwrap()
            .0;
        Self {
            token,
            user_id: identity.user_id,
        }
    }

    /// What the gateway sends the subgraph `subgraph` for this customer: for tests that
    /// call one subgraph directly.
    pub fn assertion(&self, subgraph: &str) -> String {
        let identity = kernel::Identity {
            user_id: self.user_id,
            role: kernel::Role::Customer,
        };
        kernel_infra::identity::AssertionSigner::configured_gateway()
            .unwrap()
            .sign(&identity, None, subgraph)
            .unwrap()
    }
}

/// A customer who signed up through Accounts with `email`, so the contexts that learn
/// of customers from Accounts' events (Notifications) know them.
pub async fn register(platform: &TestPlatform, email: &str) -> Customer {
    let input = json!({ "input": { "email": email, "password": "correct horse battery", "displayName": "Ann" } });
    let (status, body) = platform
        .post(
            "mutation($input: RegisterInput!) { register(input: $input) { token user { id } } }",
            input,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let payload = &body["data"]["register"];
    Customer {
        token: payload["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned(),
        user_id: uuid::Uuid::try_parse(payload["user"]["id"].as_str().unwrap()).unwrap(),
    }
}

/// Runs an operation as `customer`, expecting no errors; returns `data`.
pub async fn ok(platform: &TestPlatform, token: &str, query: &str, variables: Value) -> Value {
    let (status, body) = platform.post_as(Some(token), query, variables).await;
    assert!(status == 200 && body["errors"].is_null(), "{status}: {body}");
    body["data"].clone()
}

/// An admin sets a product's price (USD minor units).
pub async fn change_price(platform: &TestPlatform, product: &str, amount: i64) {
    let mutation = "mutation($id: ID!, $amount: Long!) { changePrice(id: $id, price: { amount: $amount, currency: \"USD\" }) { id } }";
    let (status, body) = platform
        .post_admin(mutation, json!({ "id": product, "amount": amount }))
        .await;
    assert!(status == 200 && body["errors"].is_null(), "{body}");
}

/// A product with one SKU, created by an admin and published unless `draft`.
pub async fn new_product(
    platform: &TestPlatform,
    name: &str,
    category: &str,
    cents: i64,
    sku: &str,
    draft: bool,
) -> String {
    let input = json!({ "input": {
        "name": name, "category": category,
        "variants": [{ "sku": sku, "name": "Standard" }],
        "price": { "amount": cents, "currency": "USD" },
    }});
    let admin = platform.admin_token();
    let data = ok(
        platform,
        &admin,
        "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }",
        input,
    )
    .await;
    let id = data["createProduct"]["id"].as_str().unwrap().to_owned();
    if !draft {
        ok(
            platform,
            &admin,
            "mutation($id: ID!) { publishProduct(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    }
    id
}

/// A published product with one SKU, `units` in stock, known to the cart's price table.
pub async fn stocked_product(platform: &TestPlatform, sku: &str, cents: i64, units: i64) -> String {
    let id = new_product(
        platform,
        &format!("Product {sku}"),
        "electronics/phones",
        cents,
        sku,
        false,
    )
    .await;
    // Inventory and Cart learn of the SKU from product.created.
    eventually("inventory and cart know the SKU", || async {
        let (_, body) = platform
            .post(
                "query($sku: String!) { stockItem(sku: $sku) { sku } }",
                json!({ "sku": sku }),
            )
            .await;
        let known_to_cart = !platform
            .contexts
            .cart
            .carts
            .prices(&[kernel::Sku::parse(sku).unwrap()])
            .await
            .unwrap()
            .is_empty();
        !body["data"]["stockItem"].is_null() && known_to_cart
    })
    .await;
    if units > 0 {
        ok(
            platform,
            &platform.admin_token(),
            r#"mutation($sku: String!, $delta: Int!) { adjustStock(sku: $sku, delta: $delta, reason: "delivery") { sku } }"#,
            json!({ "sku": sku, "delta": units }),
        )
        .await;
    }
    id
}

/// A coupon created by an admin.
pub async fn coupon(platform: &TestPlatform, code: &str, basis_points: i32, max_uses: Option<i32>) {
    let admin = platform.admin_token();
    ok(
        platform,
        &admin,
        "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { code } }",
        json!({ "input": { "code": code, "kind": "PERCENTAGE", "basisPoints": basis_points, "maxUses": max_uses } }),
    )
    .await;
}

/// Adds units of `sku` to the customer's cart; returns the cart id.
pub async fn add_to_cart(platform: &TestPlatform, customer: &Customer, sku: &str, quantity: i64) -> String {
    let data = ok(
        platform,
        &customer.token,
        "mutation($sku: String!, $q: Int!) { addToCart(sku: $sku, quantity: $q) { id } }",
        json!({ "sku": sku, "q": quantity }),
    )
    .await;
    data["addToCart"]["id"].as_str().unwrap().to_owned()
}

pub const CHECKOUT: &str = r#"mutation($input: CheckoutInput!) {
  checkout(input: $input) {
    id status failedStep failureReason
    total { amount currency } discount { amount }
    order { id status total { amount } }
    steps { step outcome detail }
  }
}"#;

/// Checks out through the gateway and answers at once, without waiting for Cart to
/// close the cart (see [`checkout`]); returns the whole response body.
pub async fn checkout_once(
    platform: &TestPlatform,
    customer: &Customer,
    cart_id: &str,
    coupon: Option<&str>,
    method: &str,
    key: &str,
) -> Value {
    try_checkout_once(platform, customer, cart_id, coupon, method, key)
        .await
        .unwrap()
}

/// [`checkout_once`], answering a failed exchange with the gateway (a connection reset
/// under load) instead of panicking: a client retries those with the same key.
pub async fn try_checkout_once(
    platform: &TestPlatform,
    customer: &Customer,
    cart_id: &str,
    coupon: Option<&str>,
    method: &str,
    key: &str,
) -> Result<Value, reqwest::Error> {
    let input = json!({ "input": {
        "cartId": cart_id, "couponCode": coupon, "paymentMethod": method, "idempotencyKey": key,
    }});
    Ok(platform.try_post_as(Some(&customer.token), CHECKOUT, input).await?.1)
}

/// Checks out through the gateway; returns the whole response body. A COMPLETED
/// checkout's answer waits until Cart has closed the cart.
pub async fn checkout(
    platform: &TestPlatform,
    customer: &Customer,
    cart_id: &str,
    coupon: Option<&str>,
    method: &str,
    key: &str,
) -> Value {
    let body = checkout_once(platform, customer, cart_id, coupon, method, key).await;
    if body["data"]["checkout"]["status"] == "COMPLETED" {
        // Cart closes the cart when it hears of the checkout. Until then an item the
        // customer adds goes into the cart being closed (docs/architecture.md), so a
        // test that shops on waits for it.
        eventually("the cart is closed", || async {
            let (_, cart) = platform
                .post_as(
                    Some(&customer.token),
                    "query($id: ID!) { cart(id: $id) { status } }",
                    json!({ "id": cart_id }),
                )
                .await;
            cart["data"]["cart"]["status"] == "CHECKED_OUT"
        })
        .await;
    }
    body
}

/// The steps of a session with `outcome`, in order.
pub fn steps(session: &Value, outcome: &str) -> Vec<String> {
    session["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == outcome)
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .collect()
}

/// The stock of a SKU: (on hand, reserved).
pub async fn stock(platform: &TestPlatform, sku: &str) -> (i64, i64) {
    let (_, body) = platform
        .post(
            "query($sku: String!) { stockItem(sku: $sku) { inventory { onHand reserved } } }",
            json!({ "sku": sku }),
        )
        .await;
    let inventory = &body["data"]["stockItem"]["inventory"];
    (
        inventory["onHand"].as_i64().unwrap(),
        inventory["reserved"].as_i64().unwrap(),
    )
}

/// How many redemptions of the coupon `code` are in `status`.
pub async fn redemptions(platform: &TestPlatform, code: &str, status: coupons_domain::RedemptionStatus) -> u64 {
    let code = coupons_domain::CouponCode::parse(code).unwrap();
    platform
        .contexts
        .coupons
        .coupons
        .count_redemptions(&code, status)
        .await
        .unwrap()
}

/// Waits until `customer`'s order `order_id` is DELIVERED.
pub async fn until_delivered(platform: &TestPlatform, customer: &Customer, order_id: &str) {
    eventually("the order is delivered", || async {
        let data = ok(
            platform,
            &customer.token,
            "query($id: ID!) { order(id: $id) { status } }",
            json!({ "id": order_id }),
        )
        .await;
        data["order"]["status"] == "DELIVERED"
    })
    .await;
}

/// The sum of every ledger entry per currency: empty or all zero when balanced.
pub async fn ledger_imbalance(platform: &TestPlatform) -> Vec<(String, i64)> {
    platform
        .contexts
        .payments
        .payments
        .ledger_imbalance()
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, sum)| *sum != 0)
        .collect()
}

/// A shipping method to the US, created by staff; its id.
pub async fn shipping_method(platform: &TestPlatform) -> String {
    let data = ok(
        platform,
        &platform.admin_token(),
        "mutation($input: ShippingMethodInput!) { createShippingMethod(input: $input) { id } }",
        json!({ "input": {
            "name": "Standard", "carrier": "UPS", "currency": "USD", "minDeliveryDays": 2, "maxDeliveryDays": 4,
            "zones": [{ "name": "Domestic", "countries": ["US"], "rates": [{ "price": 500 }] }]
        } }),
    )
    .await;
    data["createShippingMethod"]["id"].as_str().unwrap().to_owned()
}

/// Checks out `customer`'s cart (with a coupon, if any) to an address in Austin with
/// `method`; the order's id, once COMPLETED.
pub async fn checkout_shipped(
    platform: &TestPlatform,
    customer: &Customer,
    cart: &str,
    coupon: Option<&str>,
    method: &str,
) -> String {
    let austin = json!({
        "name": "Cam Customer", "line1": "1 Main St", "city": "Austin", "postalCode": "73301", "country": "US",
    });
    checkout_shipped_to(platform, customer, cart, coupon, method, austin).await
}

/// As [`checkout_shipped`], to `address` (a `PostalAddressInput`).
pub async fn checkout_shipped_to(
    platform: &TestPlatform,
    customer: &Customer,
    cart: &str,
    coupon: Option<&str>,
    method: &str,
    address: Value,
) -> String {
    let input = json!({ "input": {
        "cartId": cart, "couponCode": coupon, "paymentMethod": "card", "idempotencyKey": format!("paid-{cart}"),
        "delivery": { "shippingAddress": { "address": address }, "shippingMethodId": method },
    }});
    let body = platform.post_as(Some(&customer.token), CHECKOUT, input).await.1;
    assert_eq!(body["data"]["checkout"]["status"], "COMPLETED", "{body}");
    body["data"]["checkout"]["order"]["id"].as_str().unwrap().to_owned()
}

/// The customer asks to return `quantity` units of `sku` of `order`; the return's id.
pub async fn request_return(
    platform: &TestPlatform,
    customer: &Customer,
    order: &str,
    sku: &str,
    quantity: i64,
    reason: &str,
) -> Value {
    ok(
        platform,
        &customer.token,
        "mutation($input: RequestReturnInput!) { requestReturn(input: $input) { id } }",
        json!({ "input": { "orderId": order, "lines": [{ "sku": sku, "quantity": quantity }], "reason": reason } }),
    )
    .await["requestReturn"]["id"]
        .clone()
}

/// Staff approve the return `id`.
pub async fn approve_return(platform: &TestPlatform, id: &Value) {
    let body = platform
        .post_admin(
            "mutation($id: ID!) { approveReturn(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await
        .1;
    assert_eq!(body["data"]["approveReturn"]["status"], "APPROVED", "{body}");
}

/// Staff receive the goods of the return `id` through the gateway; how its saga ended.
pub async fn receive_return(platform: &TestPlatform, id: &Value) -> Value {
    let body = platform
        .post_admin(
            "mutation($id: ID!) { receiveReturn(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await
        .1;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["receiveReturn"]["status"].clone()
}

/// Asserts that `event`'s payload meets its JSON Schema under schema/events/.
pub fn assert_meets_contract(event: &kernel::EventEnvelope) {
    let path = format!(
        "{}/../../schema/events/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        event.event_type
    );
    let contract: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&contract).unwrap();
    let problems: Vec<String> = validator.iter_errors(&event.payload).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{path}: {problems:?} in {}", event.payload);
}
