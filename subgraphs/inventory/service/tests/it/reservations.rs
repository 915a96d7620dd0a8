use inventory_domain::{ReservationId, ReservationStatus, Sku};
use kernel::EventMeta;
use kernel_infra::testing::TestDatabase;

use crate::{error_code, execute, product_created, stocked};

async fn available(inventory: &inventory_service::Inventory, sku: &str) -> i64 {
    inventory_service::repository::items(inventory.stock.db(), &[sku.into()])
        .await
        .unwrap()[sku]
        .available()
}

#[tokio::test]
async fn reserve_commit_and_release_move_stock_and_write_the_ledger() {
    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[("A-1", 10), ("B-1", 5)]).await;
        let reserved = execute(
            &inventory,
            r#"mutation { reserveStock(input: { lines: [{ sku: "A-1", quantity: 3 }, { sku: "B-1", quantity: 5 }], reference: "checkout-1" }) { id status lines { sku quantity } } }"#,
        )
        .await;
        assert_eq!(
            reserved["data"]["reserveStock"]["status"], "ACTIVE",
            "{}: {reserved}",
            database.label
        );
        let id = reserved["data"]["reserveStock"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (available(&inventory, "A-1").await, available(&inventory, "B-1").await),
            (7, 0)
        );

        let committed = execute(
            &inventory,
            &format!(r#"mutation {{ commitReservation(id: "{id}") {{ status }} }}"#),
        )
        .await;
        assert_eq!(
            committed["data"]["commitReservation"]["status"], "COMMITTED",
            "{committed}"
        );
        let item = &inventory_service::repository::items(inventory.stock.db(), &["A-1".into()])
            .await
            .unwrap()["A-1"];
        assert_eq!((item.on_hand(), item.reserved()), (7, 0), "{}", database.label);

        let again = execute(
            &inventory,
            &format!(r#"mutation {{ releaseReservation(id: "{id}") {{ status }} }}"#),
        )
        .await;
        assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");

        let ledger = execute(&inventory, r#"{ stockItem(sku: "A-1") { movements(first: 10) { edges { node { reason onHandDelta reservedDelta } } } } }"#).await;
        let reasons: Vec<&str> = ledger["data"]["stockItem"]["movements"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["reason"].as_str().unwrap())
            .collect();
        assert_eq!(
            reasons,
            ["COMMITTED", "RESERVED", "ADJUSTMENT"],
            "{}: newest first",
            database.label
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn a_reservation_is_all_or_nothing() {
    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[("A-1", 10), ("B-1", 1)]).await;
        let response = execute(
            &inventory,
            r#"mutation { reserveStock(input: { lines: [{ sku: "A-1", quantity: 3 }, { sku: "B-1", quantity: 2 }] }) { id } }"#,
        )
        .await;
        assert_eq!(error_code(&response), Some("CONFLICT"), "{response}");
        assert_eq!(
            available(&inventory, "A-1").await,
            10,
            "{}: nothing of A-1 stays held",
            database.label
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn expired_holds_are_released_by_the_sweeper() {
    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[("A-1", 4)]).await;
        let response = execute(
            &inventory,
            r#"mutation { reserveStock(input: { lines: [{ sku: "A-1", quantity: 4 }], ttlSeconds: 1 }) { id } }"#,
        )
        .await;
        let id = ReservationId::parse(response["data"]["reserveStock"]["id"].as_str().unwrap()).unwrap();
        assert_eq!(inventory.stock.expire_due().await.unwrap(), 0, "not yet due");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(inventory.stock.expire_due().await.unwrap(), 1, "{}", database.label);
        assert_eq!(available(&inventory, "A-1").await, 4);
        let reservation = inventory_service::repository::reservation(inventory.stock.db(), id, false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reservation.status, ReservationStatus::Expired);
        let commit = inventory.stock.commit(id, &EventMeta::internal()).await;
        assert!(commit.is_err(), "an expired hold cannot be sold");
        database.remove().await;
    }
}

#[tokio::test]
async fn product_created_is_applied_once_however_often_it_is_delivered() {
    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[]).await;
        let event = product_created(uuid::Uuid::now_v7(), &["NEW-1", "NEW-2"]);
        let handler = inventory_service::consumer::TrackNewProducts::subscription(inventory.stock.db().clone()).handler;
        for _ in 0..3 {
            handler.handle(&event).await.unwrap();
        }
        let items = inventory_service::repository::items(inventory.stock.db(), &["NEW-1".into(), "NEW-2".into()])
            .await
            .unwrap();
        assert_eq!(items.len(), 2, "{}", database.label);
        let created: Vec<_> = kernel_infra::outbox::all(inventory.stock.db())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type.as_str() == "ecommerce.inventory.stock_item.created.v1")
            .collect();
        assert_eq!(
            created.len(),
            2,
            "{}: one stock_item.created per SKU, not per delivery",
            database.label
        );
        assert!(
            created.iter().all(|e| e.correlation_id == "corr"),
            "the cause's correlation id carries over"
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_code_and_changes_nothing() {
    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[("A-1", 5)]).await;
        let cases = [
            (
                r#"mutation { adjustStock(sku: "NOPE-1", delta: 5, reason: "count") { sku } }"#,
                "NOT_FOUND",
            ),
            (
                r#"mutation { adjustStock(sku: "a b", delta: 5, reason: "count") { sku } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"mutation { adjustStock(sku: "A-1", delta: 0, reason: "count") { sku } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"mutation { adjustStock(sku: "A-1", delta: -6, reason: "count") { sku } }"#,
                "CONFLICT",
            ),
            (
                r#"mutation { adjustStock(sku: "A-1", delta: 1, reason: "") { sku } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"mutation { reserveStock(input: { lines: [{ sku: "A-1", quantity: 0 }] }) { id } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"mutation { reserveStock(input: { lines: [{ sku: "A-1", quantity: -3 }] }) { id } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"mutation { reserveStock(input: { lines: [{ sku: "UNKNOWN", quantity: 1 }] }) { id } }"#,
                "NOT_FOUND",
            ),
            (
                r#"mutation { commitReservation(id: "not-an-id") { id } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"{ stockItem(sku: "A-1") { movements(first: 5, after: "garbage") { edges { cursor } } } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"{ stockItem(sku: "A-1") { movements(first: 0) { edges { cursor } } } }"#,
                "BAD_USER_INPUT",
            ),
        ];
        for (query, code) in cases {
            let response = execute(&inventory, query).await;
            assert_eq!(
                error_code(&response),
                Some(code),
                "{}: {query} -> {response}",
                database.label
            );
        }
        assert_eq!(available(&inventory, "A-1").await, 5, "{}", database.label);
        let sku = Sku::parse("A-1").unwrap();
        let movements = inventory_service::repository::movements(inventory.stock.db(), &sku, None, 100)
            .await
            .unwrap();
        assert_eq!(movements.len(), 1, "{}: only the initial adjustment", database.label);
        database.remove().await;
    }
}

#[tokio::test]
async fn only_admins_move_stock() {
    let database = TestDatabase::sqlite();
    let inventory = stocked(&database, &[("A-1", 5)]).await;
    let customer = kernel_infra::identity::Caller::User(kernel::Identity {
        user_id: uuid::Uuid::now_v7(),
        role: kernel::Role::Customer,
    });
    for query in [
        r#"mutation { adjustStock(sku: "A-1", delta: 5, reason: "count") { sku } }"#,
        r#"mutation { reserveStock(input: { lines: [{ sku: "A-1", quantity: 5 }] }) { id } }"#,
    ] {
        let anonymous = crate::execute_as(&inventory, kernel_infra::identity::Caller::Anonymous, query).await;
        assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
        let refused = crate::execute_as(&inventory, customer.clone(), query).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    }
    assert_eq!(available(&inventory, "A-1").await, 5, "nothing changed");
    database.remove().await;
}
