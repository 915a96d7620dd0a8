//! Shipping's integration tests through its GraphQL schema, on SQLite and (when
//! reachable) PostgreSQL: staff manage shipping methods, customers get quotes.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use async_graphql::{Request, Variables};
use kernel_infra::identity::Caller;
use kernel_infra::testing::TestDatabase;
use serde_json::{Value, json};
use shipping_service::Shipping;

fn caller(role: Option<kernel::Role>) -> Caller {
    role.map_or(Caller::Anonymous, |role| {
        Caller::User(kernel::Identity {
            user_id: uuid::Uuid::now_v7(),
            role,
        })
    })
}

async fn execute(shipping: &Shipping, role: Option<kernel::Role>, query: &str, variables: Value) -> Value {
    let request = Request::new(query)
        .variables(Variables::from_json(variables))
        .data(caller(role));
    serde_json::to_value(shipping.schema.execute(request).await).unwrap()
}

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

const CREATE: &str =
    "mutation($input: ShippingMethodInput!) { createShippingMethod(input: $input) { id name active } }";
const OPTIONS: &str = "query($address: PostalAddressInput!, $value: MoneyInput!) {
    shippingOptions(address: $address, orderValue: $value) { method { name } price { amount currency } minDeliveryDays maxDeliveryDays } }";

fn standard() -> Value {
    json!({
        "name": "Standard", "carrier": "UPS", "currency": "USD", "freeFrom": 10000,
        "minDeliveryDays": 3, "maxDeliveryDays": 5,
        "zones": [
            { "name": "Domestic", "countries": ["US"], "rates": [{ "below": 2500, "price": 799 }, { "price": 499 }] },
            { "name": "North America", "countries": ["ca", "MX"], "rates": [{ "price": 1500 }] }
        ]
    })
}

fn express() -> Value {
    json!({
        "name": "Express", "carrier": "FedEx", "currency": "USD",
        "minDeliveryDays": 1, "maxDeliveryDays": 2,
        "zones": [{ "name": "Domestic", "countries": ["US"], "rates": [{ "price": 1999 }] }]
    })
}

fn to(country: &str, postal_code: &str) -> Value {
    json!({ "name": "Ann", "line1": "1 Main St", "city": "Somewhere", "postalCode": postal_code, "country": country })
}

fn usd(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

#[tokio::test]
async fn staff_define_methods_and_customers_get_the_ones_that_serve_their_address() {
    for database in TestDatabase::all().await {
        let shipping = Shipping::open(&database.url).await.unwrap();
        let admin = Some(kernel::Role::Admin);
        let created = execute(&shipping, admin, CREATE, json!({ "input": standard() })).await;
        assert!(created["errors"].is_null(), "{}: {created}", database.label);
        let created = execute(&shipping, admin, CREATE, json!({ "input": express() })).await;
        let express_id = created["data"]["createShippingMethod"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        let quotes = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("US", "94105"), "value": usd(1000) }),
        )
        .await;
        assert_eq!(
            quotes["data"]["shippingOptions"],
            json!([
                { "method": { "name": "Standard" }, "price": { "amount": 799, "currency": "USD" }, "minDeliveryDays": 3, "maxDeliveryDays": 5 },
                { "method": { "name": "Express" }, "price": { "amount": 1999, "currency": "USD" }, "minDeliveryDays": 1, "maxDeliveryDays": 2 },
            ]),
            "{}: {quotes}",
            database.label
        );
        let free = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("US", "94105"), "value": usd(12000) }),
        )
        .await;
        assert_eq!(
            free["data"]["shippingOptions"][0]["price"]["amount"], 0,
            "free from 100.00: {free}"
        );
        let canada = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("CA", "K1A 0B1"), "value": usd(1000) }),
        )
        .await;
        assert_eq!(
            canada["data"]["shippingOptions"].as_array().unwrap().len(),
            1,
            "Express is domestic only: {canada}"
        );
        let germany = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("DE", "10115"), "value": usd(1000) }),
        )
        .await;
        assert_eq!(
            germany["data"]["shippingOptions"],
            json!([]),
            "no method ships to Germany"
        );
        let euros = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("US", "94105"), "value": { "amount": 1000, "currency": "EUR" } }),
        )
        .await;
        assert_eq!(
            euros["data"]["shippingOptions"],
            json!([]),
            "the methods price in dollars"
        );

        // An inactive method is quoted to nobody and listed for staff only.
        let paused = execute(
            &shipping,
            admin,
            "mutation($id: ID!) { setShippingMethodActive(id: $id, active: false) { active } }",
            json!({ "id": express_id }),
        )
        .await;
        assert_eq!(paused["data"]["setShippingMethodActive"]["active"], false, "{paused}");
        let quotes = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("US", "94105"), "value": usd(1000) }),
        )
        .await;
        assert_eq!(
            quotes["data"]["shippingOptions"].as_array().unwrap().len(),
            1,
            "{quotes}"
        );
        let listed = "{ shippingMethods(includeInactive: true) { name active } }";
        assert_eq!(
            execute(&shipping, None, listed, json!({})).await["data"]["shippingMethods"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            execute(&shipping, admin, listed, json!({})).await["data"]["shippingMethods"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        // An update replaces the rates and keeps the method paused.
        let mut cheaper = express();
        cheaper["zones"][0]["rates"] = json!([{ "price": 999 }]);
        let updated = execute(
            &shipping,
            admin,
            "mutation($id: ID!, $input: ShippingMethodInput!) { updateShippingMethod(id: $id, input: $input) { active zones { rates { price { amount } } } } }",
            json!({ "id": express_id, "input": cheaper }),
        )
        .await;
        assert_eq!(
            updated["data"]["updateShippingMethod"],
            json!({ "active": false, "zones": [{ "rates": [{ "price": { "amount": 999 } }] }] }),
            "{updated}"
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn wrong_methods_and_addresses_are_refused_and_only_staff_manage_methods() {
    for database in TestDatabase::all().await {
        let shipping = Shipping::open(&database.url).await.unwrap();
        let admin = Some(kernel::Role::Admin);
        let mut twice = standard();
        twice["zones"][1]["countries"] = json!(["US"]);
        let mut unbounded = standard();
        unbounded["zones"][0]["rates"] = json!([{ "below": 2500, "price": 799 }]);
        let mut nowhere = standard();
        nowhere["zones"][0]["countries"] = json!(["XX"]);
        let mut backwards = standard();
        backwards["minDeliveryDays"] = json!(9);
        for (input, field) in [
            (twice, "zones.countries"),
            (unbounded, "zones.rates"),
            (nowhere, "zones.countries"),
            (backwards, "deliveryDays"),
        ] {
            let response = execute(&shipping, admin, CREATE, json!({ "input": input })).await;
            assert_eq!(
                code(&response),
                Some("BAD_USER_INPUT"),
                "{}: {response}",
                database.label
            );
            assert!(
                response["errors"][0]["message"].as_str().unwrap().starts_with(field),
                "{response}"
            );
        }
        let customer = execute(
            &shipping,
            Some(kernel::Role::Customer),
            CREATE,
            json!({ "input": standard() }),
        )
        .await;
        assert_eq!(code(&customer), Some("FORBIDDEN"), "{customer}");
        assert_eq!(
            execute(
                &shipping,
                admin,
                "{ shippingMethods(includeInactive: true) { id } }",
                json!({})
            )
            .await["data"]["shippingMethods"],
            json!([]),
            "nothing was written"
        );
        let bad_address = execute(
            &shipping,
            None,
            OPTIONS,
            json!({ "address": to("US", "ABCDE"), "value": usd(1000) }),
        )
        .await;
        assert_eq!(code(&bad_address), Some("BAD_USER_INPUT"), "{bad_address}");
        let unknown = execute(
            &shipping,
            admin,
            "mutation { setShippingMethodActive(id: \"0190c8a2-0000-7000-8000-000000000000\", active: true) { id } }",
            json!({}),
        )
        .await;
        assert_eq!(code(&unknown), Some("NOT_FOUND"), "{unknown}");
        database.remove().await;
    }
}

/// An edit and a pause of one method touch different columns, so neither undoes the
/// other whichever lands last: an edit made from a read taken before the pause leaves
/// the method paused.
#[tokio::test]
async fn an_edit_from_a_stale_read_does_not_undo_a_pause() {
    for database in TestDatabase::all().await {
        let shipping = Shipping::open(&database.url).await.unwrap();
        let admin = Some(kernel::Role::Admin);
        let created = execute(&shipping, admin, CREATE, json!({ "input": express() })).await;
        let id = created["data"]["createShippingMethod"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = shipping_domain::ShippingMethodId::parse(&id).unwrap();
        let read_before_the_pause = shipping.shipping.method(id).await.unwrap().unwrap();
        assert!(read_before_the_pause.state().active);
        let paused = shipping.shipping.set_method_active(id, false).await.unwrap();
        assert!(!paused.state().active, "{}", database.label);
        let edited = shipping.shipping.replace_method(read_before_the_pause).await.unwrap();
        assert!(!edited.state().active, "{}: the pause stands", database.label);
        let stored = shipping.shipping.method(id).await.unwrap().unwrap();
        assert!(!stored.state().active, "{}", database.label);
        database.remove().await;
    }
}
