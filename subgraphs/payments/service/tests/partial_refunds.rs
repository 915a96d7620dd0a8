//! Refunds of part of a payment, on SQLite and PostgreSQL: they follow one another
//! until all is given back, a refund asked again with its reference (even by several
//! callers at once) is booked once, a refund larger than what is left is refused with
//! nothing written, and the ledger balances throughout.

#![allow(clippy::unwrap_used)]

use futures::future::join_all;
use kernel::{Classify, Currency, ErrorKind, EventMeta, Money};
use kernel_infra::testing::TestDatabase;
use payments_domain::{PaymentEvent, PaymentStatus, RefundCompleted, TransactionKind};
use payments_service::Payments;
use payments_service::payments::AuthorizationRequest;

#[tokio::test]
async fn partial_refunds_add_up_to_the_payment_and_each_is_booked_once() {
    for database in TestDatabase::all().await {
        let label = database.label;
        let payments = Payments::open(&database.url).await.unwrap().payments;
        let meta = EventMeta::internal();
        let eur = |amount| Money::new(amount, Currency::parse("EUR").unwrap());
        let request = AuthorizationRequest {
            idempotency_key: "checkout:refunds",
            order_id: uuid::Uuid::now_v7(),
            user_id: uuid::Uuid::now_v7(),
            amount: eur(4_200),
            method: "card",
        };
        let id = payments.authorize(request, &meta).await.unwrap().id();
        payments.capture(id, &meta).await.unwrap();

        // Six callers ask for the same refund at once: one refund is booked.
        let first = join_all((0..6).map(|_| payments.refund(id, Some(eur(1_000)), Some("return-1"), &meta))).await;
        for answer in first {
            let payment = answer.unwrap();
            assert_eq!(payment.refunded(), eur(1_000), "{label}");
            assert_eq!(payment.status(), PaymentStatus::PartiallyRefunded, "{label}");
        }
        let second = payments
            .refund(id, Some(eur(700)), Some("return-2"), &meta)
            .await
            .unwrap();
        assert_eq!(second.refunded(), eur(1_700), "{label}");
        assert_eq!(second.refundable(), eur(2_500), "{label}");

        // More than is left: refused, nothing written.
        let refused = payments
            .refund(id, Some(eur(2_501)), Some("return-3"), &meta)
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::BadUserInput, "{label}: {refused}");
        let refused = payments.refund(id, Some(eur(0)), None, &meta).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::BadUserInput, "{label}: {refused}");
        assert_eq!(
            payments.get(id).await.unwrap().unwrap().refunded(),
            eur(1_700),
            "{label}"
        );

        // The rest, as a cancellation asks for it; asking again changes nothing.
        let rest = payments.refund(id, None, None, &meta).await.unwrap();
        assert_eq!(
            (rest.status(), rest.refunded()),
            (PaymentStatus::Refunded, eur(4_200)),
            "{label}"
        );
        let again = payments.refund(id, None, None, &meta).await.unwrap();
        assert_eq!(again.status(), PaymentStatus::Refunded, "{label}");
        let late = payments
            .refund(id, Some(eur(1_000)), Some("return-1"), &meta)
            .await
            .unwrap();
        assert_eq!(
            late.refunded(),
            eur(4_200),
            "a repeated refund is recognised after the last: {label}"
        );

        let refunds: Vec<(i64, Option<String>)> = payments
            .transactions(id)
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.kind == TransactionKind::Refund)
            .map(|t| (t.amount.amount(), t.reference))
            .collect();
        assert_eq!(
            refunds,
            [
                (1_000, Some("return-1".to_owned())),
                (700, Some("return-2".to_owned())),
                (2_500, None)
            ],
            "{label}"
        );
        assert_eq!(
            payments.ledger_imbalance().await.unwrap(),
            [("EUR".to_owned(), 0)],
            "{label}"
        );
        let balances = payments.account_balances("EUR").await.unwrap();
        assert!(
            balances.iter().all(|(_, sum)| *sum == 0),
            "all given back: {label}: {balances:?}"
        );
        let events = kernel_infra::testing::pending_event_types(payments.db()).await;
        assert_eq!(
            events,
            [
                PaymentEvent::AUTHORIZED,
                PaymentEvent::CAPTURED,
                RefundCompleted::TYPE,
                RefundCompleted::TYPE,
                RefundCompleted::TYPE,
                PaymentEvent::REFUNDED,
            ],
            "{label}"
        );
        database.remove().await;
    }
}
