//! The Orders context, the system of record: an order keeps snapshots of what was
//! bought at which price, moves through a state machine that rejects every transition
//! it does not name, and appends each move to its history.
//!
//! - [`order`]: the order, its lines, its placement and its moves;
//! - [`status`]: the state machine;
//! - [`delivery`] and [`tax`]: the copies of where it ships and what it is taxed;
//! - [`event`]: what its moves announce;
//! - [`returns`]: the goods a customer sends back.

pub mod delivery;
pub mod error;
pub mod event;
pub mod order;
pub mod returns;
pub mod status;
pub mod tax;

pub use delivery::{Delivery, ShippingMethodSnapshot};
pub use error::OrderError;
pub use event::OrderEvent;
pub use order::{MAX_ITEMS, Order, OrderItem, Placement, StatusChange, StoredOrder};
pub use status::OrderStatus;
pub use tax::Tax;

kernel::typed_id!(OrderId, "order");

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Utc;
    use kernel::EventType;
    use kernel::{Address, Classify, Currency, DomainEvent, ErrorKind, Money, Quantity, Sku, TaxLine};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn item(sku: &str, price: i64, quantity: i64) -> OrderItem {
        OrderItem {
            product_id: uuid::Uuid::now_v7(),
            sku: Sku::parse(sku).unwrap(),
            name: format!("Item {sku}"),
            unit_price: usd(price),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    fn placement(items: Vec<OrderItem>, discount: Option<Money>) -> Placement {
        Placement {
            user_id: uuid::Uuid::now_v7(),
            items,
            discount,
            coupon_code: None,
            checkout_id: None,
            delivery: None,
            tax: None,
            awaiting_payment: false,
        }
    }

    fn tax_line(sku: Option<&str>, percent: &str, taxable: i64, included: bool) -> TaxLine {
        let rate = kernel::TaxRate::parse_percent(percent).unwrap();
        TaxLine {
            sku: sku.map(|s| Sku::parse(s).unwrap()),
            rate,
            taxable: usd(taxable),
            amount: kernel::tax::tax_on(usd(taxable), rate, included),
        }
    }

    #[test]
    fn tax_is_added_to_the_total_unless_the_prices_include_it() {
        let items = vec![item("A-1", 1_000, 2), item("B-1", 999, 1)];
        let mut asked = placement(items.clone(), Some(usd(300)));
        asked.delivery = Some(delivery(usd(500)));
        // 2000 − 200 of the discount, 999 − 100, shipping 500.
        let lines = vec![
            tax_line(Some("A-1"), "19", 1_800, false),
            tax_line(Some("B-1"), "7", 899, false),
            tax_line(None, "19", 500, false),
        ];
        asked.tax = Some(Tax {
            prices_include_tax: false,
            lines,
        });
        let (order, _) = Order::place(asked.clone(), Utc::now()).unwrap();
        // 342 + 62.93 → 63 + 95 = 500.
        assert_eq!(order.tax_total(), usd(500));
        assert_eq!(order.total(), usd(2_999 - 300 + 500 + 500));

        let mut included = asked.clone();
        included.tax = Some(Tax {
            prices_include_tax: true,
            lines: vec![tax_line(Some("A-1"), "19", 1_800, true)],
        });
        let (order, _) = Order::place(included, Utc::now()).unwrap();
        assert_eq!(order.tax_total(), usd(287));
        assert_eq!(order.total(), usd(2_999 - 300 + 500), "the prices hold the tax already");
    }

    #[test]
    fn a_tax_that_does_not_match_the_order_is_refused() {
        let items = vec![item("A-1", 1_000, 1)];
        let with = |lines: Vec<TaxLine>| {
            let mut asked = placement(items.clone(), None);
            asked.delivery = Some(delivery(usd(500)));
            asked.tax = Some(Tax {
                prices_include_tax: false,
                lines,
            });
            Order::place(asked, Utc::now())
        };
        assert!(with(vec![tax_line(Some("A-1"), "19", 1_000, false)]).is_ok());
        let mut wrong = tax_line(Some("A-1"), "19", 1_000, false);
        wrong.amount = usd(189);
        assert!(with(vec![wrong]).is_err(), "not the rule's amount");
        assert!(
            with(vec![tax_line(Some("Z-9"), "19", 100, false)]).is_err(),
            "a SKU it does not hold"
        );
        assert!(
            with(vec![tax_line(Some("A-1"), "19", 1_001, false)]).is_err(),
            "more than the line"
        );
        assert!(
            with(vec![tax_line(None, "19", 501, false)]).is_err(),
            "more than the shipping"
        );
        assert!(
            with(vec![
                tax_line(Some("A-1"), "19", 500, false),
                tax_line(Some("A-1"), "19", 500, false)
            ])
            .is_err(),
            "a line taxed twice"
        );
        assert!(
            with(vec![tax_line(None, "19", 100, false), tax_line(None, "19", 100, false)]).is_err(),
            "the shipping taxed twice"
        );
        let mut euro = tax_line(Some("A-1"), "19", 1_000, false);
        euro.taxable = Money::new(1_000, Currency::parse("EUR").unwrap());
        assert!(with(vec![euro]).is_err(), "another currency");
    }

    pub(crate) fn delivery(cost: Money) -> Delivery {
        let address = Address::parse(&kernel::AddressInput {
            name: "Ada Lovelace".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            postal_code: Some("12345".into()),
            country: "US".into(),
            ..Default::default()
        })
        .unwrap();
        Delivery {
            shipping_address: address.clone(),
            billing_address: address,
            method: ShippingMethodSnapshot {
                id: uuid::Uuid::now_v7(),
                name: "Standard".into(),
                carrier: "SimCarrier".into(),
            },
            cost,
        }
    }

    #[test]
    fn only_the_statuses_announced_with_items_put_them_in_their_event() {
        let (order, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        for to in OrderStatus::ALL {
            let change = StatusChange {
                from: Some(order.status()),
                to,
                reason: String::new(),
                at: Utc::now(),
            };
            let events = order.events_for(&change);
            let carries = events.iter().any(|event| match event {
                OrderEvent::Created { items, .. }
                | OrderEvent::Paid { items, .. }
                | OrderEvent::PaidWithDelivery { items, .. } => !items.is_empty(),
                _ => false,
            });
            assert_eq!(carries, Order::announced_with_items(to), "{to:?}");
        }
    }

    #[test]
    fn totals_come_from_the_snapshots_minus_the_discount() {
        let (order, changes) = Order::place(
            placement(vec![item("A-1", 1999, 2), item("B-1", 500, 1)], Some(usd(450))),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(order.subtotal(), usd(4498));
        assert_eq!(order.total(), usd(4048));
        let moves: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(moves, [(None, OrderStatus::Pending)]);
        assert_eq!(order.status(), OrderStatus::Pending);
    }

    #[test]
    fn the_delivery_is_kept_and_its_cost_added_after_the_discount() {
        let mut shipped = placement(vec![item("A-1", 1999, 2)], Some(usd(500)));
        shipped.delivery = Some(delivery(usd(695)));
        let (mut order, _) = Order::place(shipped, Utc::now()).unwrap();
        assert_eq!(order.subtotal(), usd(3998));
        assert_eq!(order.shipping(), usd(695));
        assert_eq!(order.total(), usd(3998 - 500 + 695));
        assert_eq!(order.delivery().as_ref().unwrap().method.name, "Standard");
        let paid = order.move_to(OrderStatus::Paid, "paid", Utc::now()).unwrap();
        let names: Vec<_> = order.events_for(&paid).iter().map(DomainEvent::event_type).collect();
        assert_eq!(names, [OrderEvent::PAID, OrderEvent::PAID_WITH_DELIVERY]);
        let v2 = order.events_for(&paid)[1].payload();
        assert_eq!(v2["shipping"]["amount"], 695);
        assert_eq!(v2["delivery"]["shippingAddress"]["postalCode"], "12345");
        assert_eq!(v2["delivery"]["method"]["carrier"], "SimCarrier");
        // Without a delivery, shipping is zero and v2 says there is none.
        let (mut bare, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        assert_eq!(bare.shipping(), usd(0));
        let paid = bare.move_to(OrderStatus::Paid, "paid", Utc::now()).unwrap();
        assert!(bare.events_for(&paid)[1].payload()["delivery"].is_null());
    }

    #[test]
    fn a_delivery_that_costs_less_than_nothing_or_in_another_currency_is_refused() {
        let now = Utc::now();
        let mut negative = placement(vec![item("A-1", 100, 1)], None);
        negative.delivery = Some(delivery(usd(-1)));
        assert!(matches!(
            Order::place(negative, now),
            Err(OrderError::Invalid { field: "delivery", .. })
        ));
        let mut euro = placement(vec![item("A-1", 100, 1)], None);
        euro.delivery = Some(delivery(Money::new(500, Currency::parse("EUR").unwrap())));
        assert!(matches!(Order::place(euro, now), Err(OrderError::Money(_))));
        let mut unnamed = placement(vec![item("A-1", 100, 1)], None);
        unnamed.delivery = Some(delivery(usd(500)));
        unnamed.delivery.as_mut().unwrap().method.carrier = "  ".into();
        assert!(matches!(
            Order::place(unnamed, now),
            Err(OrderError::Invalid {
                field: "delivery.method.carrier",
                ..
            })
        ));
    }

    #[test]
    fn a_placement_that_awaits_payment_records_both_moves() {
        let mut awaiting = placement(vec![item("A-1", 100, 1)], None);
        awaiting.awaiting_payment = true;
        let (order, changes) = Order::place(awaiting, Utc::now()).unwrap();
        let moves: Vec<_> = changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(
            moves,
            [
                (None, OrderStatus::Pending),
                (Some(OrderStatus::Pending), OrderStatus::AwaitingPayment)
            ]
        );
        assert_eq!(order.status(), OrderStatus::AwaitingPayment);
        // The placement is announced as created, whatever status it reached.
        assert!(matches!(
            order.events_for(&changes[0]).as_slice(),
            [OrderEvent::Created { .. }]
        ));
    }

    #[test]
    fn bad_placements_are_refused() {
        let now = Utc::now();
        assert!(Order::place(placement(vec![], None), now).is_err());
        assert!(Order::place(placement(vec![item("A-1", 100, 1), item("A-1", 100, 1)], None), now).is_err());
        assert!(Order::place(placement(vec![item("A-1", 100, 1)], Some(usd(101))), now).is_err());
        let mut euro = item("B-1", 100, 1);
        euro.unit_price = Money::new(100, Currency::parse("EUR").unwrap());
        assert!(matches!(
            Order::place(placement(vec![item("A-1", 100, 1), euro], None), now),
            Err(OrderError::Money(_))
        ));
    }

    #[test]
    fn a_move_that_v1_cannot_name_is_announced_by_v2_alone() {
        let (order, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        let change = |from, to| StatusChange {
            from,
            to,
            reason: "test".into(),
            at: Utc::now(),
        };
        let paid = OrderEvent::status_changed(&order, &change(Some(OrderStatus::Pending), OrderStatus::Paid));
        assert_eq!(paid.event_type(), OrderEvent::STATUS_CHANGED);
        let partly = change(Some(OrderStatus::Delivered), OrderStatus::PartiallyRefunded);
        assert_eq!(
            OrderEvent::status_changed(&order, &partly).event_type(),
            OrderEvent::STATUS_CHANGED_V2
        );
        let all = change(Some(OrderStatus::PartiallyRefunded), OrderStatus::Refunded);
        let event = OrderEvent::status_changed(&order, &all);
        assert_eq!(event.event_type(), OrderEvent::STATUS_CHANGED_V2);
        assert_eq!(event.payload()["from"], "PARTIALLY_REFUNDED");
    }

    #[test]
    fn the_state_machine_allows_exactly_its_transitions() {
        use OrderStatus::*;
        let allowed = [
            (Pending, AwaitingPayment),
            (Pending, Paid),
            (AwaitingPayment, Paid),
            (Paid, Fulfilling),
            (Fulfilling, Shipped),
            (Shipped, Delivered),
            (Pending, Canceled),
            (AwaitingPayment, Canceled),
            (Paid, Canceled),
            (Fulfilling, Canceled),
            (Canceled, Refunded),
            (Paid, Refunded),
            (Fulfilling, Refunded),
            (Shipped, Refunded),
            (Delivered, Refunded),
            (Delivered, PartiallyRefunded),
            (PartiallyRefunded, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
        let (mut order, _) = Order::place(placement(vec![item("A-1", 100, 1)], None), Utc::now()).unwrap();
        order.move_to(Paid, "paid", Utc::now()).unwrap();
        order.move_to(Fulfilling, "label", Utc::now()).unwrap();
        order.move_to(Shipped, "handed over", Utc::now()).unwrap();
        let err = order.move_to(Canceled, "too late", Utc::now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(order.status(), Shipped);
    }

    #[test]
    fn event_names_follow_the_contract() {
        for name in [
            OrderEvent::CREATED,
            OrderEvent::PAID,
            OrderEvent::CANCELED,
            OrderEvent::FULFILLED,
            OrderEvent::DELIVERED,
            OrderEvent::REFUNDED,
            OrderEvent::STATUS_CHANGED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
        assert_eq!(EventType::parse(OrderEvent::PAID_WITH_DELIVERY).unwrap().version(), 2);
    }
}
