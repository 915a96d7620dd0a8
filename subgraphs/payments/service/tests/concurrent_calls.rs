//! Payments under concurrent calls for the same payment, on SQLite and PostgreSQL:
//! whoever answers first books the move; every other call gets that answer, and
//! nothing is booked twice.

#![allow(clippy::unwrap_used)]

use futures::future::join_all;
use kernel::{Currency, EventMeta, Money};
use kernel_infra::testing::TestDatabase;
use payments_domain::{PaymentEvent, PaymentStatus, TransactionKind};
use payments_service::Payments;
use payments_service::payments::AuthorizationRequest;

#[tokio::test]
async fn concurrent_calls_book_each_move_once() {
    for database in TestDatabase::all().await {
        let payments = Payments::open(&database.url).await.unwrap().payments;
        let meta = EventMeta::internal();
        let (order_id, user_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let amount = Money::new(4_200, Currency::parse("EUR").unwrap());
        let authorize = || {
            payments.authorize(
                AuthorizationRequest {
                    idempotency_key: "checkout:1",
                    order_id,
                    user_id,
                    amount,
                    method: "card",
                },
                &meta,
            )
        };
        let mut authorized = Vec::new();
        for answer in join_all((0..8).map(|_| authorize())).await {
            // The first insert of the key wins; a call that lost that race fails and is
            // retried, as the checkout saga does, and then finds the payment.
            authorized.push(match answer {
                Ok(payment) => payment,
                Err(_) => authorize().await.unwrap(),
            });
        }
        let id = authorized[0].id();
        assert!(
            authorized
                .iter()
                .all(|p| p.id() == id && p.status() == PaymentStatus::Authorized),
            "{}",
            database.label
        );

        let captured = join_all((0..8).map(|_| payments.capture(id, &meta))).await;
        for payment in captured {
            assert_eq!(payment.unwrap().status(), PaymentStatus::Captured, "{}", database.label);
        }
        let kinds: Vec<_> = payments
            .transactions(id)
            .await
            .unwrap()
            .iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(
            kinds,
            [TransactionKind::Authorize, TransactionKind::Capture],
            "{}",
            database.label
        );
        // Every currency's entries sum to zero: each booking balances.
        let sums = payments.ledger_imbalance().await.unwrap();
        assert_eq!(sums, [("EUR".to_owned(), 0)], "{}", database.label);
        let events = kernel_infra::testing::pending_event_types(payments.db()).await;
        assert_eq!(
            events,
            [PaymentEvent::AUTHORIZED, PaymentEvent::CAPTURED],
            "{}",
            database.label
        );
        database.remove().await;
    }
}
