//! Where an order goes, through the gateway: a customer's address book (saved, read
//! back with its defaults, private to its owner, bad addresses refused with the field
//! they got wrong) and the shipping methods staff define and shoppers are quoted.

use serde_json::{Value, json};

use crate::TestPlatform;

const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { token user { id } } }";
const ADD: &str = "mutation($address: PostalAddressInput!, $defaultFor: [AddressPurpose!]) {
    addAddress(address: $address, defaultFor: $defaultFor) { id isDefaultShipping isDefaultBilling address { postalCode country countryName } } }";

async fn register(platform: &TestPlatform, email: &str) -> (String, String) {
    let input = json!({ "input": { "email": email, "password": "correct horse battery", "displayName": "Ann" } });
    let (status, body) = platform.post(REGISTER, input).await;
    assert_eq!(status, 200, "{body}");
    let payload = &body["data"]["register"];
    (
        payload["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned(),
        payload["user"]["id"].as_str().unwrap().to_owned(),
    )
}

fn address(city: &str, postal_code: &str, country: &str) -> Value {
    json!({ "name": "Ann Example", "line1": "1 Main St", "city": city, "postalCode": postal_code, "country": country })
}

#[tokio::test]
async fn a_customer_saves_addresses_and_only_they_see_them() {
    let platform = TestPlatform::start().await;
    let (ann, ann_id) = register(&platform, "ann@example.com").await;
    let (bob, _) = register(&platform, "bob@example.com").await;

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

    // Bob reaches Ann's user through the entity key, not her addresses.
    let (_, peek) = platform
        .post_as(
            Some(&bob),
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { addressBook { addresses { id } } } } }",
            json!({ "r": [{ "__typename": "User", "id": ann_id }] }),
        )
        .await;
    assert!(
        peek["data"]["_entities"].is_null() || peek["errors"].is_array(),
        "{peek}"
    );
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
