use futures::future::join_all;
use inventory_domain::{Quantity, Reservation, ReservationLine, Sku};
use kernel::EventMeta;
use kernel_infra::testing::TestDatabase;

use crate::stocked;

#[tokio::test]
async fn reservation_never_oversells_under_concurrency() {
    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[("FLASH-1", 50)]).await;
        let attempts = (0..200).map(|_| {
            let stock = inventory.stock.clone();
            tokio::spawn(async move {
                let line = ReservationLine {
                    sku: Sku::parse("FLASH-1").unwrap(),
                    quantity: Quantity::new(1).unwrap(),
                };
                let reservation =
                    Reservation::open(vec![line], chrono::Duration::minutes(5), None, chrono::Utc::now()).unwrap();
                stock.reserve(reservation, &EventMeta::internal()).await
            })
        });
        let results: Vec<_> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
        let successes = results.iter().filter(|r| r.is_ok()).count();
        let insufficient = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(inventory_service::StockError::Inventory(
                        inventory_domain::InventoryError::InsufficientStock { .. }
                    ))
                )
            })
            .count();
        assert_eq!(successes, 50, "{}", database.label);
        assert_eq!(
            insufficient, 150,
            "{}: every other attempt is refused for lack of stock",
            database.label
        );

        let items = inventory_service::repository::items(inventory.stock.db(), &["FLASH-1".into()])
            .await
            .unwrap();
        let item = &items["FLASH-1"];
        assert_eq!(
            (item.on_hand(), item.reserved(), item.available()),
            (50, 50, 0),
            "{}",
            database.label
        );
        database.remove().await;
    }
}

/// Commits and releases of one reservation race: exactly one of the two closings is
/// applied, once, whichever wins; every other call either finds it already closed that
/// way (and changes nothing) or is refused because it was closed the other way.
#[tokio::test]
async fn racing_closes_of_one_reservation_apply_one_of_them_once() {
    use inventory_domain::{InventoryError, InventoryEvent, ReservationStatus};
    use inventory_service::StockError;

    for database in TestDatabase::all().await {
        let inventory = stocked(&database, &[("RACE-1", 10)]).await;
        let line = ReservationLine {
            sku: Sku::parse("RACE-1").unwrap(),
            quantity: Quantity::new(3).unwrap(),
        };
        let reservation =
            Reservation::open(vec![line], chrono::Duration::minutes(5), None, chrono::Utc::now()).unwrap();
        let id = reservation.id;
        inventory
            .stock
            .reserve(reservation, &EventMeta::internal())
            .await
            .unwrap();

        let calls = (0..8).map(|i| {
            let stock = inventory.stock.clone();
            tokio::spawn(async move {
                let meta = EventMeta::internal();
                if i % 2 == 0 {
                    stock.commit(id, &meta).await
                } else {
                    stock.release(id, false, &meta).await
                }
            })
        });
        let results: Vec<_> = join_all(calls).await.into_iter().map(Result::unwrap).collect();
        for result in &results {
            assert!(
                matches!(
                    result,
                    Ok(_) | Err(StockError::Inventory(InventoryError::ReservationClosed { .. }))
                ),
                "{}: {result:?}",
                database.label
            );
        }
        let closed: Vec<ReservationStatus> = results.iter().flatten().map(|r| r.status).collect();
        assert!(!closed.is_empty(), "{}", database.label);
        let status = closed[0];
        assert!(closed.iter().all(|s| *s == status), "{}: {closed:?}", database.label);

        let items = inventory_service::repository::items(inventory.stock.db(), &["RACE-1".into()])
            .await
            .unwrap();
        let item = &items["RACE-1"];
        // Sold units leave stock; released ones go back to sale.
        let (expected, closing) = if status == ReservationStatus::Committed {
            ((7, 0), "COMMITTED")
        } else {
            ((10, 0), "RELEASED")
        };
        assert_eq!((item.on_hand(), item.reserved()), expected, "{}", database.label);

        let movements = inventory_service::repository::movements(inventory.stock.db(), item.sku(), None, 10)
            .await
            .unwrap();
        let reasons: Vec<&str> = movements.iter().map(|m| m.reason.as_str()).collect();
        assert_eq!(reasons, [closing, "RESERVED", "ADJUSTMENT"], "{}", database.label);

        let closings: Vec<String> = kernel_infra::outbox::pending(inventory.stock.db())
            .await
            .unwrap()
            .iter()
            .map(|e| e.event_type.to_string())
            .filter(|t| t == InventoryEvent::COMMITTED || t == InventoryEvent::RELEASED)
            .collect();
        assert_eq!(closings.len(), 1, "{}: {closings:?}", database.label);
        database.remove().await;
    }
}
