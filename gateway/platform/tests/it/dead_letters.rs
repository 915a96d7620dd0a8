//! Dead letters through the gateway: Search's consumer cannot apply a new product (its
//! read model's table is gone), parks the events after failing on each again and
//! again, and staff list them, fix the cause, redrive them (the product is then found)
//! and see each action recorded; a customer may do none of it.

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::TestPlatform;
use crate::shop::{Customer, eventually, new_product};

const LIST: &str = "query($status: DeadLetterStatus) { searchDeadLetters(status: $status) {
    consumer eventId eventType failures lastError firstFailedAt status settledBy reason } }";
const REDRIVE: &str = "mutation($consumer: String!, $id: ID!) {
    redriveSearchDeadLetter(consumer: $consumer, eventId: $id) { eventId status settledBy } }";
const STATUS: &str = "{ searchStatus { context ready problem unpublishedEvents relayLagMs
    consumers { consumer lastHandledAt failing dead } } }";
const REDRIVE_ALL: &str = "mutation($consumer: String!) {
    redriveAllSearchDeadLetters(consumer: $consumer) { eventId status lastError } }";
const DISCARD: &str = "mutation($consumer: String!, $id: ID!, $reason: String!) {
    discardSearchDeadLetter(consumer: $consumer, eventId: $id, reason: $reason) { status reason } }";

async fn dead(platform: &TestPlatform) -> Vec<Value> {
    let (_, body) = platform.post_admin(LIST, json!({ "status": "DEAD" })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["searchDeadLetters"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Search's status, as staff see it; its consumer's line.
async fn search_status(platform: &TestPlatform) -> (Value, Value) {
    let (_, body) = platform.post_admin(STATUS, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let status = body["data"]["searchStatus"].clone();
    let consumer = status["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|consumer| consumer["consumer"] == "search.read-models")
        .cloned()
        .unwrap_or_else(|| panic!("no read-models consumer: {status}"));
    (status, consumer)
}

async fn found(platform: &TestPlatform, text: &str) -> usize {
    let (_, body) = platform
        .post(
            "query($text: String) { searchProducts(text: $text) { edges { node { id } } } }",
            json!({ "text": text }),
        )
        .await;
    body["data"]["searchProducts"]["edges"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn staff_find_fix_and_redrive_what_a_consumer_parked_and_customers_cannot() {
    let platform = TestPlatform::start().await;
    let search = platform.contexts.search.db.clone();
    search
        .execute_unprepared("ALTER TABLE product_search_view RENAME TO product_search_view_away")
        .await
        .unwrap();
    new_product(&platform, "Parked Lamp", "home/lighting", 2500, "PARK-1", false).await;
    // Each of the product's events fails, then is parked, one after the other (in its
    // key's order): wait until none is still being retried and the count holds.
    eventually("Search parks the product's events", || async {
        let (_, body) = platform.post_admin(LIST, json!({})).await;
        let listed = body["data"]["searchDeadLetters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        !listed.is_empty()
            && listed.iter().all(|letter| letter["status"] == "DEAD")
            && dead(&platform).await.len() == listed.len()
    })
    .await;
    let letters = dead(&platform).await;
    for letter in &letters {
        assert_eq!(letter["consumer"], "search.read-models", "{letter}");
        assert_eq!(letter["failures"], 5, "{letter}");
        assert!(
            letter["lastError"].as_str().unwrap().contains("product_search_view"),
            "{letter}"
        );
    }

    // Search's status counts them against its consumer; its relay is up.
    let (reported, consumer) = search_status(&platform).await;
    assert_eq!(reported["context"], "search", "{reported}");
    assert_eq!(reported["ready"], true, "{reported}");
    assert!(reported["problem"].is_null(), "{reported}");
    assert!(reported["unpublishedEvents"].as_i64().unwrap() >= 0, "{reported}");
    assert!(reported["relayLagMs"].as_i64().unwrap() >= 0, "{reported}");
    assert_eq!(consumer["dead"], letters.len(), "{consumer}");
    assert_eq!(consumer["failing"], 0, "{consumer}");

    // A customer sees none of it and can do none of it.
    let customer = Customer::new();
    let (_, body) = platform.post_as(Some(&customer.token), STATUS, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert!(body["data"]["searchStatus"].is_null(), "{body}");
    let (status, body) = platform.post_as(Some(&customer.token), LIST, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{status} {body}");
    let first = letters[0]["eventId"].as_str().unwrap();
    let (_, body) = platform
        .post_as(
            Some(&customer.token),
            REDRIVE,
            json!({ "consumer": "search.read-models", "id": first }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Bad input is refused with its code.
    let (status, body) = platform
        .post_admin(
            DISCARD,
            json!({ "consumer": "search.read-models", "id": first, "reason": " " }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{status} {body}"
    );
    let (_, body) = platform
        .post_admin(REDRIVE, json!({ "consumer": "search.read-models", "id": "nonsense" }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");

    // Redriven before the cause is fixed: CONFLICT, still DEAD.
    let (_, body) = platform
        .post_admin(REDRIVE, json!({ "consumer": "search.read-models", "id": first }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    assert_eq!(dead(&platform).await.len(), letters.len());

    // Redriving them all before the cause is fixed stops at the oldest, still DEAD.
    let mut oldest_first = letters.clone();
    oldest_first.sort_by_key(|letter| letter["firstFailedAt"].as_str().unwrap().to_owned());
    let (_, body) = platform
        .post_admin(REDRIVE_ALL, json!({ "consumer": "search.read-models" }))
        .await;
    let tried = body["data"]["redriveAllSearchDeadLetters"].as_array().unwrap();
    assert_eq!(tried.len(), 1, "{body}");
    assert_eq!(tried[0]["eventId"], oldest_first[0]["eventId"], "{body}");
    assert_eq!(tried[0]["status"], "DEAD", "{body}");
    assert_eq!(dead(&platform).await.len(), letters.len());
    let (_, body) = platform.post_admin(REDRIVE_ALL, json!({ "consumer": "nobody" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");

    // The cause fixed, staff redrive the oldest letter, then all the others at once,
    // then each again (to no effect).
    search
        .execute_unprepared("ALTER TABLE product_search_view_away RENAME TO product_search_view")
        .await
        .unwrap();
    let (_, body) = platform
        .post_admin(
            REDRIVE,
            json!({ "consumer": "search.read-models", "id": oldest_first[0]["eventId"] }),
        )
        .await;
    assert_eq!(body["data"]["redriveSearchDeadLetter"]["status"], "REDRIVEN", "{body}");
    let (_, body) = platform
        .post_admin(REDRIVE_ALL, json!({ "consumer": "search.read-models" }))
        .await;
    let redriven = body["data"]["redriveAllSearchDeadLetters"].as_array().unwrap();
    assert_eq!(redriven.len(), letters.len() - 1, "{body}");
    assert!(redriven.iter().all(|letter| letter["status"] == "REDRIVEN"), "{body}");
    let (_, body) = platform
        .post_admin(REDRIVE_ALL, json!({ "consumer": "search.read-models" }))
        .await;
    assert_eq!(body["data"]["redriveAllSearchDeadLetters"], json!([]), "{body}");
    for letter in &oldest_first {
        let (_, body) = platform
            .post_admin(
                REDRIVE,
                json!({ "consumer": "search.read-models", "id": letter["eventId"] }),
            )
            .await;
        assert_eq!(body["data"]["redriveSearchDeadLetter"]["status"], "REDRIVEN", "{body}");
    }
    assert!(dead(&platform).await.is_empty());
    assert_eq!(found(&platform, "Parked Lamp").await, 1);
    let (_, consumer) = search_status(&platform).await;
    assert_eq!(
        (consumer["dead"].as_i64(), consumer["failing"].as_i64()),
        (Some(0), Some(0)),
        "{consumer}"
    );
    assert!(consumer["lastHandledAt"].is_string(), "{consumer}");
    // Every delivery to the consumer was timed from its event's commit, and the parked
    // ones were counted.
    let metrics = platform
        .client()
        .get(platform.endpoints["search"].replace("/graphql", "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parked =
        crate::platform_of_processes::metric_in(&metrics, "dead_letters_total", "consumer=\"search.read-models\"");
    assert!(parked >= u64::try_from(letters.len()).unwrap(), "{parked}");
    let timed =
        crate::platform_of_processes::metric_in(&metrics, "consumer_lag_ms_count", "consumer=\"search.read-models\"");
    assert!(timed >= 5, "{timed}");

    // Each redrive is recorded once, by whom, in Search's own outbox.
    let rows = search
        .query_all_raw(sea_orm::Statement::from_string(
            search.get_database_backend(),
            "SELECT envelope FROM outbox_events WHERE event_type = 'ecommerce.search.dead_letter.redriven.v1'",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), letters.len());
    let (status, body) = platform.post_admin(LIST, json!({ "status": "REDRIVEN" })).await;
    assert_eq!(status, 200);
    let settled = body["data"]["searchDeadLetters"].as_array().unwrap();
    assert_eq!(settled.len(), letters.len());
    assert!(settled.iter().all(|letter| letter["settledBy"].is_string()), "{body}");
    platform.stop().await;
}
