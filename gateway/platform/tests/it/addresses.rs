//! Where an order goes, through the gateway: a customer's address book (saved, read
//! back with its defaults, private to its owner, bad addresses refused with the field
//! they got wrong) and the shipping methods staff define and shoppers are quoted.

use serde_json::{Value, json};

use crate::TestPlatform;

const ADD: &str = "mutation($address: PostalAddressInput!, $defaultFor: [AddressPurpose!]) {
    addAddress(address: $address, defaultFor: $defaultFor) { id isDefaultShipping isDefaultBilling address { postalCode country countryName } } }";

async fn register(platform: &TestPlatform, email: &str) -> (String, String) {
    let customer = crate::shop::register(platform, email).await;
    (customer.token, customer.user_id.to_string())
}

fn address(city: &str, postal_code: &str, country: &str) -> Value {
    json!({ "name": "Ann Example", "line1": "1 Main St", "city": city, "postalCode": postal_code, "country": country })
}

#[tokio::test]
async fn a_customer_saves_addresses_and_only_they_see_them() {
    let platform = TestPlatform::start().await;
    let (ann, ann_id) = register(&platform, "ann@example.com").await;
    let (bob, bob_id) = register(&platform, "bob@example.com").await;

    let (status, home) = platform
        .post_as(
            Some(&ann),
            ADD,
            json!({ "address": address("Toronto", "m5v3l9", "ca") }),
        )
        .await;
    assert_eq!(status, 200, "{home}");
    assert_eq!(
        home["data"]["addAddress"]["address"],
        json!({ "postalCode": "M5V 3L9", "country": "CA", "countryName": "Canada" }),
        "{home}"
    );
    let (_, office) = platform
        .post_as(
            Some(&ann),
            ADD,
            json!({ "address": address("Amsterdam", "1012AB", "NL"), "defaultFor": ["SHIPPING"] }),
        )
        .await;
    let office_id = office["data"]["addAddress"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{office}"));

    let (status, me) = platform
        .post_as(
            Some(&ann),
            "{ me { addressBook { addresses { address { city } } defaultShipping { id } defaultBilling { address { city } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    let book = &me["data"]["me"]["addressBook"];
    assert_eq!(
        book["addresses"],
        json!([{ "address": { "city": "Toronto" } }, { "address": { "city": "Amsterdam" } }])
    );
    assert_eq!(book["defaultShipping"]["id"], office_id);
    assert_eq!(book["defaultBilling"]["address"]["city"], "Toronto");

    // Bob cannot look Ann up through the gateway (staff and services only) ...
    let (_, looked_up) = platform
        .post_as(
            Some(&bob),
            "query($id: ID!) { user(id: $id) { addressBook { addresses { id } } } }",
            json!({ "id": ann_id }),
        )
        .await;
    assert_eq!(looked_up["errors"][0]["extensions"]["code"], "FORBIDDEN", "{looked_up}");
    assert!(!looked_up.to_string().contains("Amsterdam"), "{looked_up}");
    // ... nor, from inside the network with his own identity, reach her book through
    // the entity key straight at Accounts: he gets her user, not her addresses.
    let bob_at_accounts = crate::shop::Customer {
        token: bob.clone(),
        user_id: uuid::Uuid::try_parse(&bob_id).unwrap(),
    }
    .assertion("accounts");
    let peek = platform
        .client()
        .post(&platform.endpoints["accounts"])
        .header(kernel_infra::identity::IDENTITY_HEADER, bob_at_accounts)
        .json(&json!({
            "query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id addressBook { addresses { id } } } } }",
            "variables": { "r": [{ "__typename": "User", "id": ann_id }] },
        }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(peek["errors"][0]["extensions"]["code"], "FORBIDDEN", "{peek}");
    assert!(!peek.to_string().contains("Amsterdam"), "{peek}");

    let (status, wrong) = platform
        .post_as(Some(&ann), ADD, json!({ "address": address("Berlin", "1011", "DE") }))
        .await;
    assert_eq!(status, 200, "an execution error is a 200 with errors: {wrong}");
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{wrong}");
    assert!(
        wrong["errors"][0]["message"].as_str().unwrap().contains("postalCode"),
        "{wrong}"
    );

    let (_, anonymous) = platform
        .post(ADD, json!({ "address": address("Berlin", "10115", "DE") }))
        .await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
    platform.stop().await;
}

#[tokio::test]
async fn staff_add_a_shipping_method_and_a_shopper_is_quoted_for_their_address() {
    let platform = TestPlatform::start().await;
    let create = "mutation($input: ShippingMethodInput!) { createShippingMethod(input: $input) { id } }";
    let method = json!({ "input": {
        "name": "Standard", "carrier": "UPS", "currency": "USD", "freeFrom": 5000,
        "minDeliveryDays": 3, "maxDeliveryDays": 5,
        "zones": [{ "name": "Domestic", "countries": ["US"], "rates": [{ "below": 2500, "price": 799 }, { "price": 499 }] }]
    } });
    let (ann, _) = register(&platform, "ann@example.com").await;
    let (status, refused) = platform.post_as(Some(&ann), create, method.clone()).await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "the gateway checks the scope: {refused}"
    );
    let (_, created) = platform.post_admin(create, method).await;
    assert!(created["errors"].is_null(), "{created}");

    let options = "query($address: PostalAddressInput!, $value: MoneyInput!) {
        shippingOptions(address: $address, orderValue: $value) { method { name carrier } price { amount } maxDeliveryDays } }";
    let value = |amount: i64| json!({ "amount": amount, "currency": "USD" });
    let (_, quoted) = platform
        .post(
            options,
            json!({ "address": address("Austin", "73301", "US"), "value": value(1_999) }),
        )
        .await;
    assert_eq!(
        quoted["data"]["shippingOptions"],
        json!([{ "method": { "name": "Standard", "carrier": "UPS" }, "price": { "amount": 799 }, "maxDeliveryDays": 5 }]),
        "{quoted}"
    );
    let (_, free) = platform
        .post(
            options,
            json!({ "address": address("Austin", "73301", "US"), "value": value(5_000) }),
        )
        .await;
    assert_eq!(free["data"]["shippingOptions"][0]["price"]["amount"], 0, "{free}");
    let (_, abroad) = platform
        .post(
            options,
            json!({ "address": address("Paris", "75008", "FR"), "value": value(1_999) }),
        )
        .await;
    assert_eq!(abroad["data"]["shippingOptions"], json!([]), "{abroad}");
    platform.stop().await;
}

const CHECKOUT_SHIPPED: &str = r#"mutation($input: CheckoutInput!) {
  checkout(input: $input) {
    status failureReason shippingCost { amount }
    order {
      id total { amount } shippingCost { amount }
      delivery {
        shippingAddress { line1 city country } billingAddress { city country }
        method { name carrier } cost { amount }
      }
    }
  }
}"#;

/// A checkout to an address of the customer's book with a method staff defined: the
/// order keeps copies of both addresses and the method with its cost (a later change
/// to the book does not reach it), the shipment goes to that copy, and a method that
/// does not ship to the address, or another customer's saved address, is refused.
#[tokio::test]
async fn an_order_ships_to_a_copy_of_the_address_the_customer_chose() {
    use crate::shop::{Customer, add_to_cart, eventually, stocked_product};
    let platform = TestPlatform::start().await;
    let create = "mutation($input: ShippingMethodInput!) { createShippingMethod(input: $input) { id } }";
    let (_, created) = platform
        .post_admin(
            create,
            json!({ "input": {
                "name": "Standard", "carrier": "UPS", "currency": "USD",
                "minDeliveryDays": 3, "maxDeliveryDays": 5,
                "zones": [{ "name": "Domestic", "countries": ["US"], "rates": [{ "price": 799 }] }]
            } }),
        )
        .await;
    let method = created["data"]["createShippingMethod"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let (token, user_id) = register(&platform, "ann@example.com").await;
    let ann = Customer {
        token,
        user_id: uuid::Uuid::try_parse(&user_id).unwrap(),
    };
    let (_, home) = platform
        .post_as(
            Some(&ann.token),
            ADD,
            json!({ "address": address("Austin", "73301", "US"), "defaultFor": ["SHIPPING"] }),
        )
        .await;
    let home = home["data"]["addAddress"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{home}"))
        .to_owned();

    stocked_product(&platform, "SHIP-1", 2000, 5).await;
    let cart = add_to_cart(&platform, &ann, "SHIP-1", 1).await;
    let input = |key: &str, shipping: Value| {
        json!({ "input": {
            "cartId": cart, "paymentMethod": "card", "idempotencyKey": key,
            "delivery": {
                "shippingAddress": shipping,
                "billingAddress": { "address": address("Paris", "75008", "FR") },
                "shippingMethodId": method,
            },
        } })
    };

    // Standard does not ship to France: refused before anything is reserved.
    let (status, abroad) = platform
        .post_as(
            Some(&ann.token),
            CHECKOUT_SHIPPED,
            input("ship-fr", json!({ "address": address("Paris", "75008", "FR") })),
        )
        .await;
    assert_eq!(status, 200, "{abroad}");
    assert_eq!(abroad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{abroad}");
    assert!(
        abroad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not ship to France"),
        "{abroad}"
    );
    // Another customer cannot ship to Ann's saved address.
    let (bob_token, bob_id) = register(&platform, "bob@example.com").await;
    let bob = Customer {
        token: bob_token,
        user_id: uuid::Uuid::try_parse(&bob_id).unwrap(),
    };
    let bobs_cart = add_to_cart(&platform, &bob, "SHIP-1", 1).await;
    let mut bobs = input("ship-bob", json!({ "savedAddressId": home }));
    bobs["input"]["cartId"] = json!(bobs_cart);
    let (_, refused) = platform.post_as(Some(&bob.token), CHECKOUT_SHIPPED, bobs).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert_eq!(
        crate::shop::stock(&platform, "SHIP-1").await,
        (5, 0),
        "nothing reserved"
    );

    // Both an id and an address, or neither, is a bad request.
    let (_, both) = platform
        .post_as(
            Some(&ann.token),
            CHECKOUT_SHIPPED,
            input(
                "ship-both",
                json!({ "savedAddressId": home, "address": address("Austin", "73301", "US") }),
            ),
        )
        .await;
    assert_eq!(both["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{both}");

    let (_, shipped) = platform
        .post_as(
            Some(&ann.token),
            CHECKOUT_SHIPPED,
            input("ship-home", json!({ "savedAddressId": home })),
        )
        .await;
    let session = &shipped["data"]["checkout"];
    assert_eq!(session["status"], "COMPLETED", "{shipped}");
    assert_eq!(session["shippingCost"]["amount"], 799);
    let order = &session["order"];
    assert_eq!(order["total"]["amount"], 2000 + 799, "{order}");
    assert_eq!(order["shippingCost"]["amount"], 799);
    assert_eq!(
        order["delivery"],
        json!({
            "shippingAddress": { "line1": "1 Main St", "city": "Austin", "country": "US" },
            "billingAddress": { "city": "Paris", "country": "FR" },
            "method": { "name": "Standard", "carrier": "UPS" },
            "cost": { "amount": 799 },
        })
    );
    let order_id = order["id"].as_str().unwrap().to_owned();

    // Ann moves: her book changes, the order does not.
    let mut moved = address("Dallas", "75201", "US");
    moved["line1"] = json!("9 Elm St");
    let (_, updated) = platform
        .post_as(
            Some(&ann.token),
            "mutation($id: ID!, $address: PostalAddressInput!) { updateAddress(id: $id, address: $address) { id } }",
            json!({ "id": home, "address": moved }),
        )
        .await;
    assert!(updated["errors"].is_null(), "{updated}");
    let read = "query($id: ID!) { order(id: $id) {
        delivery { shippingAddress { line1 city } }
        shipment { carrier method shipTo { line1 city postalCode country } } } }";
    let fetch = || async {
        platform
            .post_as(Some(&ann.token), read, json!({ "id": order_id }))
            .await
            .1
    };
    eventually("the order's shipment is created", || async {
        !fetch().await["data"]["order"]["shipment"].is_null()
    })
    .await;
    let shipment = fetch().await;
    let read = &shipment["data"]["order"];
    assert_eq!(
        read["delivery"]["shippingAddress"],
        json!({ "line1": "1 Main St", "city": "Austin" })
    );
    assert_eq!(
        read["shipment"],
        json!({
            "carrier": "UPS", "method": "Standard",
            "shipTo": { "line1": "1 Main St", "city": "Austin", "postalCode": "73301", "country": "US" },
        }),
        "{shipment}"
    );
    platform.stop().await;
}
