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
