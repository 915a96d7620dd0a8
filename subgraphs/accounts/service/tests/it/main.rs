//! Accounts' integration tests through its GraphQL schema, on SQLite and (when
//! reachable) PostgreSQL.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use accounts_service::Accounts;
use async_graphql::{Request, Variables};
use kernel_infra::identity::{Caller, TokenVerifier};
use kernel_infra::testing::TestDatabase;
use serde_json::{Value, json};

/// Runs an operation as the holder of the access token `token` (if any), checked as
/// the gateway checks it.
async fn execute(accounts: &Accounts, token: Option<&str>, query: &str, variables: Value) -> Value {
    let caller = token.map_or(Caller::Anonymous, |t| TokenVerifier::access_tokens().unwrap().verify(t));
    let request = Request::new(query)
        .variables(Variables::from_json(variables))
        .data(caller);
    serde_json::to_value(accounts.schema.execute(request).await).unwrap()
}

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

const REGISTER: &str =
    r#"mutation($input: RegisterInput!) { register(input: $input) { token expiresIn user { id displayName role } } }"#;
const LOGIN: &str = r#"mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token user { id } } }"#;

async fn register(accounts: &Accounts, email: &str) -> (String, String) {
    let input = json!({ "input": { "email": email, "password": "correct horse battery", "displayName": "Ann" } });
    let response = execute(accounts, None, REGISTER, input).await;
    let payload = &response["data"]["register"];
    (
        payload["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{response}"))
            .to_owned(),
        payload["user"]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_customer_registers_signs_in_and_reads_their_own_profile() {
    for database in TestDatabase::all().await {
        let accounts = Accounts::open(&database.url).await.unwrap();
        let (token, id) = register(&accounts, "Ann@Example.com").await;

        let me = execute(
            &accounts,
            Some(&token),
            "{ me { id email displayName role } }",
            json!({}),
        )
        .await;
        assert_eq!(
            me["data"]["me"],
            json!({ "id": id, "email": "ann@example.com", "displayName": "Ann", "role": "CUSTOMER" }),
            "{}: {me}",
            database.label
        );

        let login = execute(
            &accounts,
            None,
            LOGIN,
            json!({ "email": "ann@example.com", "password": "correct horse battery" }),
        )
        .await;
        assert_eq!(login["data"]["login"]["user"]["id"], id.as_str(), "{login}");
        let fresh = login["data"]["login"]["token"].as_str().unwrap();
        assert!(matches!(
            TokenVerifier::access_tokens().unwrap().verify(fresh),
            Caller::User(_)
        ));

        let events = kernel_infra::outbox::all(accounts.accounts.db()).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type.as_str(), "ecommerce.accounts.user.registered.v1");
        assert!(
            !events[0].payload.to_string().contains("argon2"),
            "no credentials in events"
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn wrong_credentials_and_bad_input_are_refused_alike() {
    for database in TestDatabase::all().await {
        let accounts = Accounts::open(&database.url).await.unwrap();
        register(&accounts, "ann@example.com").await;

        let wrong_password = execute(
            &accounts,
            None,
            LOGIN,
            json!({ "email": "ann@example.com", "password": "not the password" }),
        )
        .await;
        let unknown_email = execute(
            &accounts,
            None,
            LOGIN,
            json!({ "email": "bob@example.com", "password": "not the password" }),
        )
        .await;
        assert_eq!(code(&wrong_password), Some("UNAUTHENTICATED"), "{}", database.label);
        assert_eq!(
            wrong_password["errors"][0]["message"], unknown_email["errors"][0]["message"],
            "no hint whether the e-mail exists"
        );

        let again = execute(
            &accounts,
            None,
            REGISTER,
            json!({ "input": { "email": "ANN@example.com", "password": "another long one", "displayName": "A" } }),
        )
        .await;
        assert_eq!(code(&again), Some("CONFLICT"), "{again}");
        for input in [
            json!({ "email": "not-an-email", "password": "correct horse battery", "displayName": "A" }),
            json!({ "email": "c@example.com", "password": "short", "displayName": "A" }),
            json!({ "email": "c@example.com", "password": "correct horse battery", "displayName": "" }),
        ] {
            let response = execute(&accounts, None, REGISTER, json!({ "input": input })).await;
            assert_eq!(code(&response), Some("BAD_USER_INPUT"), "{input} -> {response}");
        }
        assert_eq!(
            kernel_infra::outbox::all(accounts.accounts.db()).await.unwrap().len(),
            1,
            "nothing else was written"
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn profiles_need_a_valid_token_and_e_mails_stay_private() {
    let database = TestDatabase::sqlite();
    let accounts = Accounts::open(&database.url).await.unwrap();
    let (ann_token, ann_id) = register(&accounts, "ann@example.com").await;
    let (_, bob_id) = register(&accounts, "bob@example.com").await;

    assert_eq!(
        code(&execute(&accounts, None, "{ me { id } }", json!({})).await),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        code(&execute(&accounts, Some("garbage"), "{ me { id } }", json!({})).await),
        Some("UNAUTHENTICATED")
    );

    let entities = r#"query($r: [_Any!]!) { _entities(representations: $r) { ... on User { displayName email } } }"#;
    let own = execute(
        &accounts,
        Some(&ann_token),
        entities,
        json!({ "r": [{ "__typename": "User", "id": ann_id }] }),
    )
    .await;
    assert_eq!(own["data"]["_entities"][0]["email"], "ann@example.com", "{own}");
    let other = execute(
        &accounts,
        Some(&ann_token),
        entities,
        json!({ "r": [{ "__typename": "User", "id": bob_id }] }),
    )
    .await;
    assert_eq!(code(&other), Some("FORBIDDEN"), "{other}");
    database.remove().await;
}

#[tokio::test]
async fn only_an_admin_issues_partner_tokens() {
    let database = TestDatabase::sqlite();
    let accounts = Accounts::open(&database.url).await.unwrap();
    let issue = r#"mutation($p: String!) { issuePartnerToken(partner: $p) { partner token expiresIn } }"#;
    let as_role = |role: kernel::Role, partner: &str| {
        Request::new(issue)
            .variables(Variables::from_json(json!({ "p": partner })))
            .data(Caller::User(kernel::Identity {
                user_id: uuid::Uuid::now_v7(),
                role,
            }))
    };
    let run = |request: Request| async { serde_json::to_value(accounts.schema.execute(request).await).unwrap() };

    let refused = run(as_role(kernel::Role::Customer, "acme")).await;
    assert_eq!(code(&refused), Some("FORBIDDEN"), "{refused}");
    let bad_name = run(as_role(kernel::Role::Admin, "Not A Name!")).await;
    assert_eq!(code(&bad_name), Some("BAD_USER_INPUT"), "{bad_name}");
    // Only the configured partners: never our own clients, nor a name made up.
    for not_a_partner in ["web", "mobile", "schema-review", "initech"] {
        let refused = run(as_role(kernel::Role::Admin, not_a_partner)).await;
        assert_eq!(code(&refused), Some("BAD_USER_INPUT"), "{not_a_partner}: {refused}");
        assert!(refused["data"].is_null(), "{refused}");
    }

    let issued = run(as_role(kernel::Role::Admin, "acme")).await;
    let token = issued["data"]["issuePartnerToken"]["token"].as_str().unwrap();
    match TokenVerifier::access_tokens().unwrap().verify(token) {
        Caller::User(identity) => assert_eq!(identity.role, kernel::Role::Partner),
        other => panic!("{other:?}"),
    }
    // The client claim names the partner: the gateway runs its manifest only.
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["client"], "acme", "{claims}");
    database.remove().await;
}

/// Runs an operation from the client address `address`, as the gateway says it.
async fn execute_from(accounts: &Accounts, address: &str, query: &str, variables: Value) -> Value {
    let request = Request::new(query)
        .variables(Variables::from_json(variables))
        .data(Caller::Anonymous)
        .data(kernel_infra::graphql::ClientAddress(Some(address.to_owned())));
    serde_json::to_value(accounts.schema.execute(request).await).unwrap()
}

fn login_with(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}

#[tokio::test]
async fn failed_sign_ins_lock_the_e_mail_whatever_password_comes_next() {
    for database in TestDatabase::all().await {
        let accounts = Accounts::open(&database.url).await.unwrap();
        register(&accounts, "ann@example.com").await;
        register(&accounts, "bob@example.com").await;
        let limit = accounts_service::AccountsSettings::default().failed_logins_per_account;
        for email in ["ann@example.com", "nobody@example.com"] {
            for attempt in 0..limit {
                let wrong = execute(&accounts, None, LOGIN, login_with(email, "not the password")).await;
                assert_eq!(code(&wrong), Some("UNAUTHENTICATED"), "{email} {attempt}: {wrong}");
            }
            // Locked: the right password is not even checked, and a known e-mail and an
            // unknown one answer alike.
            let right = execute(&accounts, None, LOGIN, login_with(email, "correct horse battery")).await;
            assert_eq!(
                code(&right),
                Some("RATE_LIMITED"),
                "{}: {email}: {right}",
                database.label
            );
            assert!(
                right["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap() > 0,
                "{right}"
            );
            assert!(right["data"].is_null(), "{right}");
        }
        let shouted = execute(
            &accounts,
            None,
            LOGIN,
            login_with(" ANN@example.com", "correct horse battery"),
        )
        .await;
        assert_eq!(
            code(&shouted),
            Some("RATE_LIMITED"),
            "the same e-mail however written: {shouted}"
        );
        let bob = execute(
            &accounts,
            None,
            LOGIN,
            login_with("bob@example.com", "correct horse battery"),
        )
        .await;
        assert!(bob["errors"].is_null(), "another account is not locked: {bob}");
        database.remove().await;
    }
}

#[tokio::test]
async fn one_sign_in_per_request() {
    let database = TestDatabase::sqlite();
    let accounts = Accounts::open(&database.url).await.unwrap();
    register(&accounts, "ann@example.com").await;
    let aliased = r#"mutation($e: String!) {
        a: login(email: $e, password: "correct horse battery") { token }
        b: login(email: $e, password: "guess one") { token }
    }"#;
    let response = execute(&accounts, None, aliased, json!({ "e": "ann@example.com" })).await;
    let errors = response["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{response}");
    assert!(
        errors
            .iter()
            .any(|error| error["extensions"]["code"] == "BAD_USER_INPUT"
                && error["path"][0] == "b"
                && error["message"].as_str().unwrap().contains("one `login`")),
        "{response}"
    );
    assert!(
        response["data"].is_null() || response["data"]["b"].is_null(),
        "the second never ran: {response}"
    );
    database.remove().await;
}

#[tokio::test]
async fn one_address_cannot_try_e_mail_after_e_mail() {
    let database = TestDatabase::sqlite();
    let accounts = Accounts::open(&database.url).await.unwrap();
    register(&accounts, "ann@example.com").await;
    let limit = accounts_service::AccountsSettings::default().failed_logins_per_address;
    for attempt in 0..limit {
        let email = format!("guess{attempt}@example.com");
        let wrong = execute_from(&accounts, "203.0.113.7", LOGIN, login_with(&email, "password1234")).await;
        assert_eq!(code(&wrong), Some("UNAUTHENTICATED"), "{attempt}: {wrong}");
    }
    let locked = execute_from(
        &accounts,
        "203.0.113.7",
        LOGIN,
        login_with("ann@example.com", "correct horse battery"),
    )
    .await;
    assert_eq!(code(&locked), Some("RATE_LIMITED"), "{locked}");
    // Registration cannot be used instead to learn which e-mails exist.
    let input = json!({ "input": { "email": "ann@example.com", "password": "another long one", "displayName": "A" } });
    let probe = execute_from(&accounts, "203.0.113.7", REGISTER, input.clone()).await;
    assert_eq!(code(&probe), Some("RATE_LIMITED"), "{probe}");
    let elsewhere = execute_from(
        &accounts,
        "198.51.100.2",
        LOGIN,
        login_with("ann@example.com", "correct horse battery"),
    )
    .await;
    assert!(elsewhere["errors"].is_null(), "another address signs in: {elsewhere}");
    database.remove().await;
}

mod address_book {
    use super::*;

    const BOOK: &str = "{ me { addressBook {
        addresses { id isDefaultShipping isDefaultBilling address { name line1 city postalCode country countryName phone } }
        defaultShipping { id } defaultBilling { id } } } }";
    const ADD: &str = "mutation($address: PostalAddressInput!, $defaultFor: [AddressPurpose!]) {
        addAddress(address: $address, defaultFor: $defaultFor) { id isDefaultShipping isDefaultBilling address { postalCode country } } }";

    fn address(city: &str, postal_code: &str, country: &str) -> Value {
        json!({ "name": "Ann Example", "line1": "1 Main St", "city": city, "postalCode": postal_code,
                "country": country, "phone": "+1 (415) 555-0100" })
    }

    async fn book(accounts: &Accounts, token: &str) -> Value {
        let response = execute(accounts, Some(token), BOOK, json!({})).await;
        assert!(response["errors"].is_null(), "{response}");
        response["data"]["me"]["addressBook"].clone()
    }

    #[tokio::test]
    async fn a_customer_keeps_addresses_with_a_default_for_shipping_and_billing() {
        for database in TestDatabase::all().await {
            let accounts = Accounts::open(&database.url).await.unwrap();
            let (token, _) = register(&accounts, "ann@example.com").await;
            let (other, _) = register(&accounts, "bob@example.com").await;

            let home = execute(
                &accounts,
                Some(&token),
                ADD,
                json!({ "address": address("San Francisco", "941051234", "us") }),
            )
            .await;
            let home = &home["data"]["addAddress"];
            assert_eq!(
                home["address"]["postalCode"], "94105-1234",
                "{}: {home}",
                database.label
            );
            assert_eq!(home["address"]["country"], "US");
            assert_eq!(
                (home["isDefaultShipping"].as_bool(), home["isDefaultBilling"].as_bool()),
                (Some(true), Some(true)),
                "the first address is both defaults"
            );
            let office = execute(
                &accounts,
                Some(&token),
                ADD,
                json!({ "address": address("Berlin", "10115", "DE"), "defaultFor": ["BILLING"] }),
            )
            .await;
            let office_id = office["data"]["addAddress"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{office}"))
                .to_owned();
            let home_id = home["id"].as_str().unwrap().to_owned();

            let saved = book(&accounts, &token).await;
            assert_eq!(saved["addresses"].as_array().unwrap().len(), 2);
            assert_eq!(saved["defaultShipping"]["id"], home_id.as_str());
            assert_eq!(saved["defaultBilling"]["id"], office_id.as_str());
            assert_eq!(saved["addresses"][1]["address"]["countryName"], "Germany");
            assert_eq!(saved["addresses"][0]["address"]["phone"], "+14155550100");
            assert_eq!(
                book(&accounts, &other).await["addresses"],
                json!([]),
                "another customer's book is their own"
            );

            // Another customer can neither change nor remove Ann's addresses.
            let stranger = execute(
                &accounts,
                Some(&other),
                "mutation($id: ID!) { removeAddress(id: $id) { addresses { id } } }",
                json!({ "id": home_id }),
            )
            .await;
            assert_eq!(code(&stranger), Some("NOT_FOUND"), "{stranger}");

            let updated = execute(
                &accounts,
                Some(&token),
                "mutation($id: ID!, $address: PostalAddressInput!) { updateAddress(id: $id, address: $address) { id isDefaultShipping address { city } } }",
                json!({ "id": home_id, "address": address("Oakland", "94607", "US") }),
            )
            .await;
            assert_eq!(
                updated["data"]["updateAddress"],
                json!({ "id": home_id, "isDefaultShipping": true, "address": { "city": "Oakland" } }),
                "{updated}"
            );

            let defaults = execute(
                &accounts,
                Some(&token),
                "mutation($id: ID!) { setDefaultAddress(id: $id, purpose: SHIPPING) { defaultShipping { id } } }",
                json!({ "id": office_id }),
            )
            .await;
            assert_eq!(
                defaults["data"]["setDefaultAddress"]["defaultShipping"]["id"],
                office_id.as_str(),
                "{defaults}"
            );

            let removed = execute(
                &accounts,
                Some(&token),
                "mutation($id: ID!) { removeAddress(id: $id) { addresses { id } defaultShipping { id } defaultBilling { id } } }",
                json!({ "id": office_id }),
            )
            .await;
            assert_eq!(
                removed["data"]["removeAddress"],
                json!({ "addresses": [{ "id": home_id }], "defaultShipping": { "id": home_id }, "defaultBilling": { "id": home_id } }),
                "the defaults pass to the address left: {removed}"
            );
            database.remove().await;
        }
    }

    #[tokio::test]
    async fn a_wrong_address_is_refused_with_its_field_and_nothing_is_written() {
        for database in TestDatabase::all().await {
            let accounts = Accounts::open(&database.url).await.unwrap();
            let (token, _) = register(&accounts, "ann@example.com").await;
            let refused = [
                (address("Nowhere", "12345", "XX"), "country"),
                (address("Toronto", "12345", "CA"), "postalCode"),
                (address("London", "", "GB"), "postalCode"),
                (
                    json!({ "name": "Ann", "line1": " ", "city": "Dublin", "country": "IE" }),
                    "line1",
                ),
                (
                    json!({ "name": "Ann", "line1": "1 Main St", "city": "Dublin", "country": "IE", "phone": "0871234567" }),
                    "phone",
                ),
            ];
            for (input, field) in refused {
                let response = execute(&accounts, Some(&token), ADD, json!({ "address": input })).await;
                assert_eq!(
                    code(&response),
                    Some("BAD_USER_INPUT"),
                    "{}: {response}",
                    database.label
                );
                let message = response["errors"][0]["message"].as_str().unwrap();
                assert!(message.starts_with(&format!("{field}:")), "{message}");
            }
            let bad_id = execute(
                &accounts,
                Some(&token),
                "mutation { setDefaultAddress(id: \"not-an-id\", purpose: BILLING) { addresses { id } } }",
                json!({}),
            )
            .await;
            assert_eq!(code(&bad_id), Some("BAD_USER_INPUT"), "{bad_id}");
            assert_eq!(
                book(&accounts, &token).await["addresses"],
                json!([]),
                "nothing was written"
            );

            for _ in 0..accounts_domain::AddressBook::CAPACITY {
                let added = execute(
                    &accounts,
                    Some(&token),
                    ADD,
                    json!({ "address": address("Berlin", "10115", "DE") }),
                )
                .await;
                assert!(added["errors"].is_null(), "{added}");
            }
            let full = execute(
                &accounts,
                Some(&token),
                ADD,
                json!({ "address": address("Berlin", "10115", "DE") }),
            )
            .await;
            assert_eq!(code(&full), Some("CONFLICT"), "{full}");
            assert_eq!(
                book(&accounts, &token).await["addresses"].as_array().unwrap().len(),
                accounts_domain::AddressBook::CAPACITY
            );

            let anonymous = execute(
                &accounts,
                None,
                ADD,
                json!({ "address": address("Berlin", "10115", "DE") }),
            )
            .await;
            assert_eq!(code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
            database.remove().await;
        }
    }
}
