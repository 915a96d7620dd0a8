//! The Checkout context: the orchestrated saga that turns a cart into a paid order.
//!
//! Checkout owns process state only — which step a checkout is at, what the other
//! contexts answered, why it failed — never business truth: stock, coupons, orders and
//! payments stay with their contexts, reached by commands.
//!
//! Forward steps, in order:
//! reserve stock → redeem coupon → place order → authorize payment → confirm stock →
//! mark the order paid → commit the coupon → capture the payment.
//!
//! A refusal before the order is marked paid compensates, in reverse, every step that
//! completed: void the payment, cancel the order, release the coupon, release (or,
//! once confirmed, return) the stock. Marking the order paid is the point of no return:
//! the steps after it are only retried, never undone. An outage (a context that cannot
//! be reached) is never a refusal: the step is retried later, by the same process or by
//! the reconciler after a crash, and every command is idempotent so a retry cannot act
//! twice.
//!
//! A completed checkout can be canceled while its goods have not been handed to the
//! carrier: the same session runs the cancellation, with the same driver, lease and
//! reconciler. Its steps, in order: stop the shipment → cancel the order → refund the
//! payment → return the stock → give the coupon use back. Stopping the shipment is the
//! gate: when Shipping refuses (the parcel is on its way) the cancellation is refused
//! and the session stays COMPLETED; once it is stopped, the steps after it are only
//! retried, never undone.
//!
//! Here: [`session`] (the process state and its moves), [`step`] (the steps and
//! statuses), [`purchase`] (lines, delivery, tax rates), [`request`], [`event`],
//! [`error`]; [`returns`]: the return saga, run when staff receive a return's goods.

pub mod error;
pub mod event;
pub mod purchase;
pub mod request;
pub mod returns;
pub mod session;
pub mod step;

pub use error::CheckoutError;
pub use event::{CheckoutEvent, StaffAction};
pub use purchase::{AddressChoice, ChosenMethod, Delivery, DeliveryRequest, Line, OrderTax, TaxRates, subtotal};
pub use request::{AskedCoupon, CheckoutRequest, IdempotencyKey, PaymentMethod};
pub use session::{CANCEL_REASON_MAX, CheckoutSession, Outcome, StoredCheckoutSession};
pub use step::{SessionStatus, Step};

kernel::typed_id!(CheckoutId, "checkout");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use kernel::{Address, Classify, Currency, DomainEvent, ErrorKind, EventType, Money, Sku, TaxCategory, TaxRate};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn session(coupon: bool) -> CheckoutSession {
        let request = CheckoutRequest {
            user_id: uuid::Uuid::now_v7(),
            cart_id: uuid::Uuid::now_v7(),
            coupon_code: coupon.then(|| AskedCoupon::parse("SAVE10").unwrap()),
            payment_method: PaymentMethod::parse("card").unwrap(),
            idempotency_key: IdempotencyKey::parse("k1").unwrap(),
            delivery: None,
        };
        let line = Line {
            sku: Sku::parse("A-1").unwrap(),
            product_id: uuid::Uuid::now_v7(),
            name: "A".into(),
            unit_price: usd(1000),
            quantity: kernel::Quantity::new(2).unwrap(),
            tax_category: TaxCategory::Standard,
        };
        CheckoutSession::start(request, vec![line], None, None, Utc::now()).unwrap()
    }

    fn delivery(cost: Money) -> Delivery {
        let address = Address::parse(&kernel::AddressInput {
            name: "Ada".into(),
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
            method: ChosenMethod {
                id: uuid::Uuid::now_v7(),
                name: "Standard".into(),
                carrier: "SimCarrier".into(),
            },
            cost,
        }
    }

    #[test]
    fn a_delivery_is_part_of_the_request_and_of_what_is_paid() {
        let s = session(false);
        let bare = s.request().fingerprint();
        let mut request = s.request().clone();
        request.delivery = Some(DeliveryRequest {
            shipping_address: AddressChoice::Saved(uuid::Uuid::now_v7()),
            billing_address: None,
            method_id: uuid::Uuid::now_v7(),
        });
        assert_ne!(request.fingerprint(), bare, "another delivery is another request");
        assert!(
            bare.ends_with("|card"),
            "a request without one keeps its old fingerprint"
        );
        // Settled exactly when asked for, and in the cart's currency.
        let lines = s.lines().to_vec();
        assert!(CheckoutSession::start(request.clone(), lines.clone(), None, None, Utc::now()).is_err());
        assert!(
            CheckoutSession::start(
                s.request().clone(),
                lines.clone(),
                Some(delivery(usd(500))),
                None,
                Utc::now()
            )
            .is_err()
        );
        let euro = Money::new(500, kernel::Currency::parse("EUR").unwrap());
        assert!(
            CheckoutSession::start(request.clone(), lines.clone(), Some(delivery(euro)), None, Utc::now()).is_err()
        );
        let shipped = CheckoutSession::start(request, lines, Some(delivery(usd(500))), None, Utc::now()).unwrap();
        assert_eq!(shipped.shipping_cost(), Some(usd(500)));
        // A coupon worth the whole cart still leaves shipping to pay.
        let s = with_discount(s, Some(usd(2000)));
        assert!(!s.has_something_to_pay());
        let free_goods = with_discount(shipped, Some(usd(2000)));
        assert!(free_goods.has_something_to_pay());
    }

    fn rates(included: bool, standard: &str, reduced: &str) -> TaxRates {
        TaxRates {
            prices_include_tax: included,
            rates: vec![
                (TaxCategory::Standard, TaxRate::parse_percent(standard).unwrap()),
                (TaxCategory::Reduced, TaxRate::parse_percent(reduced).unwrap()),
                (TaxCategory::Zero, TaxRate::ZERO),
            ],
        }
    }

    fn line(sku: &str, unit_price: i64, quantity: i64, tax_category: TaxCategory) -> Line {
        Line {
            sku: Sku::parse(sku).unwrap(),
            product_id: uuid::Uuid::now_v7(),
            name: sku.into(),
            unit_price: usd(unit_price),
            quantity: kernel::Quantity::new(quantity).unwrap(),
            tax_category,
        }
    }

    /// A shipped session of `lines` with `discount`, at `rates`.
    fn taxed(lines: Vec<Line>, discount: i64, shipping: i64, rates: TaxRates) -> CheckoutSession {
        let mut request = session(false).request().clone();
        request.delivery = Some(DeliveryRequest {
            shipping_address: AddressChoice::Saved(uuid::Uuid::now_v7()),
            billing_address: None,
            method_id: uuid::Uuid::now_v7(),
        });
        let s = CheckoutSession::start(request, lines, Some(delivery(usd(shipping))), Some(rates), Utc::now()).unwrap();
        with_discount(s, (discount > 0).then(|| usd(discount)))
    }

    fn with_discount(s: CheckoutSession, discount: Option<Money>) -> CheckoutSession {
        let mut stored = StoredCheckoutSession::from(s);
        stored.discount = discount;
        stored.into()
    }

    #[test]
    fn each_line_is_taxed_after_its_share_of_the_discount_and_rounded_half_to_even() {
        // Three lines of 0.50 at 19 %: 9.5 cents each rounds to 10 (half to even).
        // The 0.10 discount splits 4, 3, 3 cents: 46 → 8.74 → 9; 47 → 8.93 → 9.
        let lines = vec![
            line("A-1", 50, 1, TaxCategory::Standard),
            line("B-1", 50, 1, TaxCategory::Standard),
            line("C-1", 50, 1, TaxCategory::Standard),
        ];
        let undiscounted = taxed(lines.clone(), 0, 0, rates(false, "19", "7"))
            .tax()
            .unwrap()
            .unwrap();
        let amounts: Vec<i64> = undiscounted.lines.iter().map(|l| l.amount.amount()).collect();
        assert_eq!(amounts, vec![10, 10, 10]);
        let discounted = taxed(lines, 10, 0, rates(false, "19", "7")).tax().unwrap().unwrap();
        let taxable: Vec<i64> = discounted.lines.iter().map(|l| l.taxable.amount()).collect();
        assert_eq!(taxable, vec![46, 47, 47], "the discount's shares add up to it");
        let amounts: Vec<i64> = discounted.lines.iter().map(|l| l.amount.amount()).collect();
        assert_eq!(amounts, vec![9, 9, 9]);
    }

    #[test]
    fn categories_shipping_and_prices_with_tax_included() {
        let lines = vec![
            line("BOOK-1", 1_999, 3, TaxCategory::Reduced),
            line("LAMP-1", 4_999, 1, TaxCategory::Standard),
            line("GIFT-1", 1_000, 1, TaxCategory::Zero),
        ];
        let tax = taxed(lines.clone(), 0, 495, rates(false, "8.875", "4"))
            .tax()
            .unwrap()
            .unwrap();
        let described: Vec<(Option<&str>, String, i64, i64)> = tax
            .lines
            .iter()
            .map(|l| {
                (
                    l.sku.as_ref().map(Sku::as_str),
                    l.rate.percent(),
                    l.taxable.amount(),
                    l.amount.amount(),
                )
            })
            .collect();
        assert_eq!(
            described,
            vec![
                // 5997 × 4 % = 239.88
                (Some("BOOK-1"), "4".to_owned(), 5_997, 240),
                // 4999 × 8.875 % = 443.66…
                (Some("LAMP-1"), "8.875".to_owned(), 4_999, 444),
                // The zero-rated gift has no line; shipping at the standard rate: 43.93…
                (None, "8.875".to_owned(), 495, 44),
            ]
        );
        assert!(!tax.prices_include_tax);
        // Prices with 20 % in them: the tax is the part of each price that is tax.
        let included = taxed(lines, 0, 600, rates(true, "20", "5")).tax().unwrap().unwrap();
        let amounts: Vec<i64> = included.lines.iter().map(|l| l.amount.amount()).collect();
        // 5997 / 21 = 285.57…; 4999 / 6 = 833.16…; 600 / 6 = 100.
        assert_eq!(amounts, vec![286, 833, 100]);
        assert!(included.prices_include_tax);
        // No rates (no delivery): no tax computed.
        assert_eq!(session(false).tax().unwrap(), None);
        // Orders reads the lines under these names.
        let json = serde_json::to_value(&included).unwrap();
        assert_eq!(json["pricesIncludeTax"], true);
        assert_eq!(json["lines"][0]["sku"], "BOOK-1");
        assert_eq!(json["lines"][0]["percent"], "5");
        assert_eq!(json["lines"][2]["sku"], serde_json::Value::Null);
        assert_eq!(json["lines"][2]["amount"]["amount"], 100);
    }

    #[test]
    fn a_line_stored_before_tax_categories_is_standard_rated() {
        let stored = serde_json::json!({
            "sku": "A-1", "productId": uuid::Uuid::now_v7(), "name": "A",
            "unitPrice": {"amount": 100, "currency": "USD"}, "quantity": 1,
        });
        let line: Line = serde_json::from_value(stored).unwrap();
        assert_eq!(line.tax_category, TaxCategory::Standard);
    }

    fn outcome(step: Step) -> Outcome {
        match step {
            Step::RedeemCoupon => Outcome::CouponRedeemed { discount: usd(200) },
            Step::PlaceOrder => Outcome::OrderPlaced {
                order_id: uuid::Uuid::now_v7(),
                total: usd(1800),
            },
            Step::AuthorizePayment => Outcome::PaymentAuthorized {
                payment_id: uuid::Uuid::now_v7(),
            },
            _ => Outcome::Done,
        }
    }

    /// Completes forward steps until `stop` is next.
    fn run_to(session: &mut CheckoutSession, stop: Step) {
        while let Some(step) = session.step().filter(|s| *s != stop) {
            session.complete(step, outcome(step), Utc::now());
        }
    }

    #[test]
    fn the_happy_path_visits_every_forward_step_once() {
        let mut s = session(true);
        let mut visited = Vec::new();
        while let Some(step) = s.step() {
            visited.push(step);
            s.complete(step, outcome(step), Utc::now());
        }
        assert_eq!(s.status(), SessionStatus::Completed);
        assert_eq!(visited, Step::FORWARD);
        assert_eq!(s.subtotal(), Some(usd(2000)));
    }

    #[test]
    fn without_a_coupon_the_coupon_steps_are_skipped() {
        let mut s = session(false);
        s.complete(Step::ReserveStock, Outcome::Done, Utc::now());
        assert_eq!(s.step(), Some(Step::PlaceOrder));
        run_to(&mut s, Step::ConfirmStock);
        s.refuse(Step::ConfirmStock, "hold expired", Utc::now());
        assert_eq!(
            s.compensations(),
            [Step::VoidPayment, Step::CancelOrder, Step::ReleaseStock]
        );
    }

    #[test]
    fn a_refusal_compensates_exactly_what_was_done_in_reverse() {
        let cases = [
            (Step::ReserveStock, vec![]),
            (Step::RedeemCoupon, vec![Step::ReleaseStock]),
            (Step::PlaceOrder, vec![Step::ReleaseCoupon, Step::ReleaseStock]),
            (
                Step::AuthorizePayment,
                vec![Step::CancelOrder, Step::ReleaseCoupon, Step::ReleaseStock],
            ),
            (
                Step::ConfirmStock,
                vec![
                    Step::VoidPayment,
                    Step::CancelOrder,
                    Step::ReleaseCoupon,
                    Step::ReleaseStock,
                ],
            ),
            (
                Step::MarkOrderPaid,
                vec![
                    Step::VoidPayment,
                    Step::CancelOrder,
                    Step::ReleaseCoupon,
                    Step::ReturnStock,
                ],
            ),
        ];
        for (failing, expected) in cases {
            let mut s = session(true);
            run_to(&mut s, failing);
            s.refuse(failing, "no", Utc::now());
            assert_eq!(s.compensations(), expected, "{failing:?}");
            let mut ran = Vec::new();
            while let Some(step) = s.step() {
                ran.push(step);
                s.complete(step, Outcome::Done, Utc::now());
            }
            assert_eq!(ran, expected, "{failing:?}");
            assert_eq!(s.status(), SessionStatus::Failed);
            assert_eq!(s.failed_step(), Some(failing));
        }
    }

    #[test]
    fn past_the_point_of_no_return_a_refusal_needs_an_operator() {
        let mut s = session(true);
        run_to(&mut s, Step::CapturePayment);
        s.refuse(Step::CapturePayment, "authorization lost", Utc::now());
        assert_eq!(s.status(), SessionStatus::Stuck);
        assert!(s.status().is_finished());
    }

    /// The compensation staff start for a session refused at `stuck_at`, as it runs.
    fn compensated_from(stuck_at: Step, coupon: bool) -> (CheckoutSession, Vec<Step>) {
        let mut s = session(coupon);
        run_to(&mut s, stuck_at);
        s.refuse(stuck_at, "declined for good", Utc::now());
        assert!(s.compensate("the customer's bank said no", Utc::now()).unwrap());
        let mut ran = Vec::new();
        while let Some(step) = s.step() {
            ran.push(step);
            s.complete(step, Outcome::Done, Utc::now());
        }
        (s, ran)
    }

    #[test]
    fn staff_compensate_a_stuck_checkout_and_undo_exactly_what_was_done() {
        // Refused at the capture: the coupon was committed, so it is given back.
        let (s, ran) = compensated_from(Step::CapturePayment, true);
        assert_eq!(
            ran,
            [
                Step::StopShipment,
                Step::VoidPayment,
                Step::CancelOrder,
                Step::GiveBackCoupon,
                Step::ReturnStock
            ]
        );
        assert_eq!(s.status(), SessionStatus::Failed);
        assert!(
            s.failure()
                .unwrap()
                .starts_with("compensated by staff: the customer's bank said no")
        );
        // Refused at committing the coupon: it was only redeemed, so it is released.
        let (_, ran) = compensated_from(Step::CommitCoupon, true);
        assert_eq!(
            ran,
            [
                Step::StopShipment,
                Step::VoidPayment,
                Step::CancelOrder,
                Step::ReleaseCoupon,
                Step::ReturnStock
            ]
        );
        let (_, ran) = compensated_from(Step::CapturePayment, false);
        assert_eq!(
            ran,
            [
                Step::StopShipment,
                Step::VoidPayment,
                Step::CancelOrder,
                Step::ReturnStock
            ]
        );

        // Compensating again changes nothing; a reason is needed; a checkout stuck
        // while undoing, or completed, is not compensated.
        let (mut s, _) = compensated_from(Step::CapturePayment, true);
        assert!(!s.compensate("again", Utc::now()).unwrap());
        let mut fresh = session(true);
        run_to(&mut fresh, Step::CapturePayment);
        fresh.refuse(Step::CapturePayment, "declined", Utc::now());
        assert_eq!(
            fresh.compensate("", Utc::now()).unwrap_err().kind(),
            ErrorKind::BadUserInput
        );
        let mut undoing = session(true);
        run_to(&mut undoing, Step::CapturePayment);
        undoing.refuse(Step::CapturePayment, "declined", Utc::now());
        undoing.compensate("bank said no", Utc::now()).unwrap();
        undoing.refuse(Step::StopShipment, "the carrier has it", Utc::now());
        assert_eq!(undoing.status(), SessionStatus::Stuck);
        assert_eq!(
            undoing.compensate("again", Utc::now()).unwrap_err().kind(),
            ErrorKind::Conflict
        );
        let mut done = completed(true);
        assert_eq!(
            done.compensate("why not", Utc::now()).unwrap_err().kind(),
            ErrorKind::Conflict
        );
    }

    fn completed(coupon: bool) -> CheckoutSession {
        let mut s = session(coupon);
        while let Some(step) = s.step() {
            s.complete(step, outcome(step), Utc::now());
        }
        assert_eq!(s.status(), SessionStatus::Completed);
        s
    }

    #[test]
    fn a_cancellation_undoes_the_purchase_in_its_order_and_is_announced_once() {
        let mut s = completed(true);
        s.request_cancellation("  changed my mind ", Utc::now()).unwrap();
        assert_eq!(s.status(), SessionStatus::Canceling);
        assert_eq!(s.cancel_reason(), Some("changed my mind"));
        // Asking again while it runs changes nothing.
        s.request_cancellation("again", Utc::now()).unwrap();
        assert_eq!(s.cancel_reason(), Some("changed my mind"));
        let mut ran = Vec::new();
        while let Some(step) = s.step() {
            ran.push(step);
            s.complete(step, Outcome::Done, Utc::now());
        }
        assert_eq!(ran, Step::CANCELLATION);
        assert_eq!(s.status(), SessionStatus::Canceled);
        assert!(s.status().is_finished());
        let event = CheckoutEvent::on_finishing(SessionStatus::Canceling, &s).unwrap();
        assert_eq!(event.event_type(), CheckoutEvent::CANCELED);
        assert_eq!(event.payload()["reason"], "changed my mind");
        assert!(CheckoutEvent::on_finishing(SessionStatus::Canceled, &s).is_none());
        s.request_cancellation("once more", Utc::now()).unwrap();
        assert_eq!((s.status(), s.step()), (SessionStatus::Canceled, None));

        // Without a coupon there is no use to give back; a free order has no payment.
        let mut bare = completed(false);
        bare.request_cancellation("no", Utc::now()).unwrap();
        assert_eq!(
            bare.cancellation(),
            [
                Step::StopShipment,
                Step::CancelOrder,
                Step::RefundPayment,
                Step::ReturnStock
            ]
        );
        let mut stored = StoredCheckoutSession::from(bare);
        stored.payment_id = None;
        let bare = CheckoutSession::from(stored);
        assert_eq!(
            bare.cancellation(),
            [Step::StopShipment, Step::CancelOrder, Step::ReturnStock]
        );
    }

    #[test]
    fn a_cancellation_is_refused_once_the_goods_are_on_their_way_and_stuck_after() {
        let mut s = completed(true);
        s.request_cancellation("no", Utc::now()).unwrap();
        s.refuse(Step::StopShipment, "already in transit (CONFLICT)", Utc::now());
        assert_eq!((s.status(), s.step()), (SessionStatus::Completed, None));
        assert!(
            CheckoutEvent::on_finishing(SessionStatus::Canceling, &s).is_none(),
            "the purchase stands, as announced before"
        );
        // Asked again later, it starts again; past the gate a refusal needs an operator.
        s.request_cancellation("no", Utc::now()).unwrap();
        s.complete(Step::StopShipment, Outcome::Done, Utc::now());
        s.refuse(Step::CancelOrder, "order is REFUNDED (CONFLICT)", Utc::now());
        assert_eq!(s.status(), SessionStatus::Stuck);
        assert!(CheckoutEvent::on_finishing(SessionStatus::Canceling, &s).is_none());

        // Only a completed checkout is canceled, and the reason is a short line.
        let mut running = session(false);
        let err = running.request_cancellation("no", Utc::now()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(running.status(), SessionStatus::Running);
        let mut done = completed(false);
        assert!(
            done.request_cancellation(&"x".repeat(CANCEL_REASON_MAX + 1), Utc::now())
                .is_err()
        );
        assert!(done.request_cancellation("a\nb", Utc::now()).is_err());
        assert_eq!(done.status(), SessionStatus::Completed);
    }

    #[test]
    fn staff_resume_a_stuck_checkout_where_it_stopped_or_resolve_it() {
        // Stuck going forward, past the point of no return: resumed forward.
        let mut s = session(true);
        run_to(&mut s, Step::CapturePayment);
        s.refuse(Step::CapturePayment, "authorization lost", Utc::now());
        assert_eq!(s.stuck_step(), Some(Step::CapturePayment));
        assert_eq!(s.resume(Utc::now()).unwrap(), Some(Step::CapturePayment));
        assert_eq!(
            (s.status(), s.step(), s.stuck_step()),
            (SessionStatus::Running, Some(Step::CapturePayment), None)
        );
        s.complete(Step::CapturePayment, Outcome::Done, Utc::now());
        assert_eq!(s.status(), SessionStatus::Completed);
        // A completed one is not staff's business.
        assert_eq!(s.resume(Utc::now()).unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(
            s.clone().resolve("done", Utc::now()).unwrap_err().kind(),
            ErrorKind::Conflict
        );

        // Stuck in its cancellation: resumed canceling.
        s.request_cancellation("no", Utc::now()).unwrap();
        s.complete(Step::StopShipment, Outcome::Done, Utc::now());
        s.refuse(Step::CancelOrder, "order is REFUNDED", Utc::now());
        s.resume(Utc::now()).unwrap();
        assert_eq!(
            (s.status(), s.step()),
            (SessionStatus::Canceling, Some(Step::CancelOrder))
        );

        // Stuck compensating: resumed compensating, then failed as planned.
        let mut c = session(true);
        run_to(&mut c, Step::ConfirmStock);
        c.refuse(Step::ConfirmStock, "hold expired", Utc::now());
        c.complete(Step::VoidPayment, Outcome::Done, Utc::now());
        c.refuse(Step::CancelOrder, "no", Utc::now());
        assert_eq!(c.status(), SessionStatus::Stuck);
        c.resume(Utc::now()).unwrap();
        assert_eq!(
            (c.status(), c.step()),
            (SessionStatus::Compensating, Some(Step::CancelOrder))
        );
        while let Some(step) = c.step() {
            c.complete(step, Outcome::Done, Utc::now());
        }
        assert_eq!(c.status(), SessionStatus::Failed);

        // Resolved by hand, with a reason that is one short line.
        let mut r = session(false);
        run_to(&mut r, Step::CapturePayment);
        r.refuse(Step::CapturePayment, "authorization lost", Utc::now());
        assert!(r.resolve("  ", Utc::now()).is_err());
        r.resolve("captured by hand at the provider", Utc::now()).unwrap();
        assert_eq!(r.status(), SessionStatus::Resolved);
        assert!(r.status().is_finished());
        let event = StaffAction::Resolved {
            session: r.clone(),
            staff: uuid::Uuid::now_v7(),
        };
        assert_eq!(event.payload()["reason"], "captured by hand at the provider");
        assert_eq!(r.resume(Utc::now()).unwrap_err().kind(), ErrorKind::Conflict);
    }

    #[test]
    fn requests_are_validated_and_event_names_follow_the_contract() {
        let s = session(false);
        for refused in [
            IdempotencyKey::parse("").map(|_| ()),
            IdempotencyKey::parse(" ").map(|_| ()),
            IdempotencyKey::parse(&"k".repeat(201)).map(|_| ()),
            PaymentMethod::parse("").map(|_| ()),
            PaymentMethod::parse(&"m".repeat(65)).map(|_| ()),
            AskedCoupon::parse(&"C".repeat(33)).map(|_| ()),
        ] {
            assert_eq!(refused.unwrap_err().kind(), ErrorKind::BadUserInput);
        }
        assert_eq!(IdempotencyKey::parse(&"k".repeat(200)).unwrap().as_str().len(), 200);
        assert!(CheckoutSession::start(s.request().clone(), vec![], None, None, Utc::now()).is_err());
        for name in [
            CheckoutEvent::COMPLETED,
            CheckoutEvent::FAILED,
            CheckoutEvent::CANCELED,
            StaffAction::RESUMED,
            StaffAction::RESOLVED,
            StaffAction::COMPENSATED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
