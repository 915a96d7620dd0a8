//! Orders on SQLite and PostgreSQL: placement idempotency, the state machine, the
//! append-only history and returns racing for the last units.

#![allow(clippy::unwrap_used)]

use kernel::{Classify, Currency, ErrorKind, EventMeta, Identity, Money, Role};
use kernel_infra::testing::TestDatabase;
use orders_domain::returns::ReturnRequest;
use orders_domain::{Delivery, OrderItem, OrderStatus, Placement, ShippingMethodSnapshot};
use orders_service::{Orders, OrdersError};
use sea_orm::ConnectionTrait;

fn placement(user_id: uuid::Uuid, quantity: i64) -> Placement {
    Placement {
        user_id,
        items: vec![OrderItem {
            product_id: uuid::Uuid::from_u128(1),
            sku: kernel::Sku::parse("SKU-1").unwrap(),
            name: "Thing".into(),
            unit_price: Money::new(1_250, Currency::parse("EUR").unwrap()),
            quantity: kernel::Quantity::new(quantity).unwrap(),
        }],
        discount: None,
        coupon_code: None,
        checkout_id: None,
        awaiting_payment: false,
        delivery: None,
        tax: None,
    }
}

#[tokio::test]
async fn a_placement_key_returns_the_same_order_and_refuses_another_payload() {
    for database in TestDatabase::all().await {
        let orders = Orders::open(&database.url).await.unwrap().orders;
        let user = uuid::Uuid::now_v7();
        let meta = EventMeta::internal();
        let (first, replayed) = orders.place("key-1", placement(user, 2), &meta).await.unwrap();
        assert!(!replayed);
        assert_eq!(first.total().amount(), 2_500);
        let (again, replayed) = orders.place("key-1", placement(user, 2), &meta).await.unwrap();
        assert!(replayed, "{}", database.label);
        assert_eq!(again.id(), first.id());
        let err = orders.place("key-1", placement(user, 3), &meta).await.unwrap_err();
        assert!(matches!(err, OrdersError::KeyReused(_)), "{}: {err}", database.label);
        // Another customer's key is their own.
        let (other, replayed) = orders
            .place("key-1", placement(uuid::Uuid::now_v7(), 3), &meta)
            .await
            .unwrap();
        assert!(!replayed);
        assert_ne!(other.id(), first.id());
        assert_eq!(kernel_infra::outbox::pending(orders.db()).await.unwrap().len(), 4);
        database.remove().await;
    }
}

#[tokio::test]
async fn a_placement_that_awaits_payment_is_recorded_and_announced_as_two_moves() {
    for database in TestDatabase::all().await {
        let orders = Orders::open(&database.url).await.unwrap().orders;
        let meta = EventMeta::internal();
        let mut awaiting = placement(uuid::Uuid::now_v7(), 1);
        awaiting.awaiting_payment = true;
        let (order, _) = orders.place("key-1", awaiting.clone(), &meta).await.unwrap();
        assert_eq!(order.status(), OrderStatus::AwaitingPayment, "{}", database.label);
        let moves: Vec<_> = orders.history(order.id()).await.unwrap().iter().map(|c| c.to).collect();
        assert_eq!(moves, [OrderStatus::Pending, OrderStatus::AwaitingPayment]);
        let events = kernel_infra::testing::pending_event_types(orders.db()).await;
        assert_eq!(
            events,
            [
                "ecommerce.orders.order.created.v1",
                "ecommerce.orders.order.status_changed.v1",
                "ecommerce.orders.order.status_changed.v1"
            ],
            "{}",
            database.label
        );
        // The flag is part of the payload a key stands for.
        let (again, replayed) = orders.place("key-1", awaiting.clone(), &meta).await.unwrap();
        assert!(replayed && again.id() == order.id(), "{}", database.label);
        awaiting.awaiting_payment = false;
        let err = orders.place("key-1", awaiting, &meta).await.unwrap_err();
        assert!(matches!(err, OrdersError::KeyReused(_)), "{}: {err}", database.label);
        database.remove().await;
    }
}

fn delivery() -> Delivery {
    let address = |line1: &str| {
        kernel::Address::parse(&kernel::AddressInput {
            name: "Grace Hopper".into(),
            line1: line1.into(),
            city: "Berlin".into(),
            postal_code: Some("10115".into()),
            country: "DE".into(),
            phone: Some("+4930123456".into()),
            ..Default::default()
        })
        .unwrap()
    };
    Delivery {
        shipping_address: address("Unter den Linden 1"),
        billing_address: address("Friedrichstraße 2"),
        method: ShippingMethodSnapshot {
            id: uuid::Uuid::from_u128(7),
            name: "Express".into(),
            carrier: "SimCarrier".into(),
        },
        cost: Money::new(990, Currency::parse("EUR").unwrap()),
    }
}

#[tokio::test]
async fn an_order_keeps_its_delivery_and_announces_it_when_paid() {
    for database in TestDatabase::all().await {
        let orders = Orders::open(&database.url).await.unwrap().orders;
        let meta = EventMeta::internal();
        let mut shipped = placement(uuid::Uuid::now_v7(), 2);
        shipped.delivery = Some(delivery());
        let (order, _) = orders.place("key-d", shipped.clone(), &meta).await.unwrap();
        assert_eq!(order.total().amount(), 2 * 1_250 + 990, "{}", database.label);
        let stored = orders.get(order.id()).await.unwrap().unwrap();
        assert_eq!(stored.delivery(), Some(&delivery()), "{}", database.label);
        assert_eq!(stored.shipping().amount(), 990);
        assert_eq!(stored.total(), order.total());
        // Another delivery is another request under the same key.
        let mut elsewhere = shipped.clone();
        elsewhere.delivery.as_mut().unwrap().method.name = "Standard".into();
        let err = orders.place("key-d", elsewhere, &meta).await.unwrap_err();
        assert!(matches!(err, OrdersError::KeyReused(_)), "{}: {err}", database.label);

        orders
            .transition(order.id(), OrderStatus::Paid, "paid", Some(uuid::Uuid::now_v7()), &meta)
            .await
            .unwrap();
        let pending = kernel_infra::outbox::pending(orders.db()).await.unwrap();
        let paid: Vec<_> = pending
            .iter()
            .filter(|e| e.event_type.to_string().starts_with("ecommerce.orders.order.paid."))
            .collect();
        let names: Vec<String> = paid.iter().map(|e| e.event_type.to_string()).collect();
        assert_eq!(
            names,
            ["ecommerce.orders.order.paid.v1", "ecommerce.orders.order.paid.v2"],
            "{}",
            database.label
        );
        let v2 = &paid[1].payload;
        assert_eq!(v2["delivery"]["shippingAddress"]["line1"], "Unter den Linden 1");
        assert_eq!(v2["delivery"]["billingAddress"]["line1"], "Friedrichstraße 2");
        assert_eq!(v2["shipping"]["amount"], 990);
        assert_eq!(v2["subtotal"]["amount"], 2_500);
        assert_eq!(v2["total"]["amount"], 3_490);
        assert!(paid[0].payload.get("delivery").is_none(), "v1 stays as it was");
        database.remove().await;
    }
}

#[tokio::test]
async fn the_state_machine_and_the_history_hold() {
    for database in TestDatabase::all().await {
        let orders = Orders::open(&database.url).await.unwrap().orders;
        let user = uuid::Uuid::now_v7();
        let meta = EventMeta::internal();
        let (order, _) = orders.place("k", placement(user, 1), &meta).await.unwrap();
        let owner = Identity {
            user_id: user,
            role: Role::Customer,
        };
        let stranger = Identity {
            user_id: uuid::Uuid::now_v7(),
            role: Role::Customer,
        };
        assert!(matches!(
            orders.cancel(order.id(), &stranger, "mine now", &meta).await,
            Err(OrdersError::NotFound(_))
        ));
        orders
            .transition(order.id(), OrderStatus::Paid, "paid", None, &meta)
            .await
            .unwrap();
        assert!(matches!(
            orders.cancel(order.id(), &owner, "changed my mind", &meta).await,
            Err(OrdersError::Forbidden(_))
        ));
        orders
            .transition(order.id(), OrderStatus::Fulfilling, "label", None, &meta)
            .await
            .unwrap();
        // Repeating an applied command after the order moved on changes nothing …
        let again = orders
            .transition(order.id(), OrderStatus::Paid, "paid", None, &meta)
            .await
            .unwrap();
        assert_eq!(again.status(), OrderStatus::Fulfilling);
        // … but a move the machine never made is refused.
        assert!(matches!(
            orders
                .transition(order.id(), OrderStatus::Delivered, "skip", None, &meta)
                .await,
            Err(OrdersError::Order(orders_domain::OrderError::Transition { .. }))
        ));
        let history = orders.history(order.id()).await.unwrap();
        let moves: Vec<_> = history.iter().map(|c| c.to).collect();
        assert_eq!(
            moves,
            [OrderStatus::Pending, OrderStatus::Paid, OrderStatus::Fulfilling]
        );
        // The history is append-only in the database itself.
        let refused = orders
            .db()
            .execute_unprepared("UPDATE order_status_history SET reason = 'rewritten'")
            .await;
        assert!(refused.is_err(), "{}", database.label);
        let refused = orders.db().execute_unprepared("DELETE FROM order_status_history").await;
        assert!(refused.is_err(), "{}", database.label);
        database.remove().await;
    }
}

#[tokio::test]
async fn unpaid_orders_are_canceled_after_the_timeout_and_paid_ones_stay() {
    for database in TestDatabase::all().await {
        let orders = Orders::open(&database.url).await.unwrap().orders;
        let meta = EventMeta::internal();
        let (unpaid, _) = orders
            .place("a", placement(uuid::Uuid::now_v7(), 1), &meta)
            .await
            .unwrap();
        let (paid, _) = orders
            .place("b", placement(uuid::Uuid::now_v7(), 1), &meta)
            .await
            .unwrap();
        orders
            .transition(paid.id(), OrderStatus::Paid, "paid", None, &meta)
            .await
            .unwrap();
        assert_eq!(orders.cancel_unpaid(chrono::Duration::hours(1)).await.unwrap(), 0);
        assert_eq!(orders.cancel_unpaid(chrono::Duration::zero()).await.unwrap(), 1);
        assert_eq!(
            orders.get(unpaid.id()).await.unwrap().unwrap().status(),
            OrderStatus::Canceled
        );
        assert_eq!(
            orders.get(paid.id()).await.unwrap().unwrap().status(),
            OrderStatus::Paid
        );
        database.remove().await;
    }
}

#[tokio::test]
async fn racing_moves_of_one_order_apply_one_of_them_once() {
    for database in TestDatabase::all().await {
        let orders = Orders::open(&database.url).await.unwrap().orders;
        let meta = EventMeta::internal();
        let mut unpaid = placement(uuid::Uuid::now_v7(), 1);
        unpaid.awaiting_payment = true;
        let order = orders.place("race", unpaid, &meta).await.unwrap().0.id();
        // Payment and the cancellation of the unpaid order race: each move is tried
        // four times at once. A cancellation that comes after the payment is refused:
        // a paid order is canceled only by the saga that refunds it.
        let moves = (0..8).map(|i| {
            let orders = orders.clone();
            let meta = meta.clone();
            async move {
                if i % 2 == 0 {
                    orders.transition(order, OrderStatus::Paid, "race", None, &meta).await
                } else {
                    orders.cancel_if_unpaid(order, "race", &meta).await
                }
            }
        });
        let answers = futures::future::join_all(moves).await;
        let winner = orders.get(order).await.unwrap().unwrap().status();
        for answer in answers {
            match answer {
                Ok(seen) => assert_eq!(seen.status(), winner, "{}", database.label),
                // The loser's move no longer fits the order.
                Err(OrdersError::Order(orders_domain::OrderError::Transition { .. })) => {}
                Err(err) => panic!("{}: {err}", database.label),
            }
        }
        let moves: Vec<_> = orders.history(order).await.unwrap().iter().map(|c| c.to).collect();
        assert_eq!(
            moves,
            [OrderStatus::Pending, OrderStatus::AwaitingPayment, winner],
            "{}",
            database.label
        );
        // One status_changed event per move, none for a move that lost.
        let changes = kernel_infra::outbox::pending(orders.db())
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type.to_string() == "ecommerce.orders.order.status_changed.v1")
            .count();
        assert_eq!(changes, 3, "{}", database.label);
        database.remove().await;
    }
}

#[tokio::test]
async fn return_requests_racing_for_the_last_units_take_each_unit_once() {
    for database in TestDatabase::all().await {
        let opened = Orders::open(&database.url).await.unwrap();
        let (orders, returns) = (opened.orders, opened.returns);
        let user = uuid::Uuid::now_v7();
        let meta = EventMeta::internal();
        let order = orders.place("race", placement(user, 3), &meta).await.unwrap().0.id();
        for status in [
            OrderStatus::Paid,
            OrderStatus::Fulfilling,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
        ] {
            orders.transition(order, status, "test", None, &meta).await.unwrap();
        }
        let owner = Identity {
            user_id: user,
            role: Role::Customer,
        };
        // Six requests of one unit each at once, for an order of three.
        let asks = (0..6).map(|_| {
            let (returns, owner, meta) = (returns.clone(), owner.clone(), meta.clone());
            async move {
                let request = ReturnRequest {
                    lines: vec![(kernel::Sku::parse("SKU-1").unwrap(), kernel::Quantity::new(1).unwrap())],
                    reason: "too many".into(),
                };
                returns.request(order, &owner, request, &meta).await
            }
        });
        let answers = futures::future::join_all(asks).await;
        let mut taken = 0;
        for answer in answers {
            match answer {
                Ok(_) => taken += 1,
                // More units than are left to return.
                Err(err) => assert_eq!(err.kind(), ErrorKind::BadUserInput, "{}: {err}", database.label),
            }
        }
        assert_eq!(taken, 3, "{}", database.label);
        assert_eq!(returns.of_order(order).await.unwrap().len(), 3, "{}", database.label);
        database.remove().await;
    }
}
