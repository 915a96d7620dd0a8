//! The Coupons context: discount coupons with their rules, and redemptions.
//!
//! A redemption is a recorded row with the discount it granted, reserved during a
//! checkout and then committed or released; the discount is never recalculated
//! afterwards. A coupon counts its live redemptions (reserved or committed) so its
//! limits hold however many checkouts race for the last use.
//!
//! - [`coupon`]: a coupon and its rules; [`discount`]: what it takes off;
//! - [`redemption`]: one use and how it closes; [`code`]: a coupon's code;
//! - [`event`]: the events Coupons publishes; [`error`]: what the rules refuse.

pub mod code;
pub mod coupon;
pub mod discount;
pub mod error;
pub mod event;
pub mod redemption;

pub use code::CouponCode;
pub use coupon::{Coupon, CouponRules, StoredCoupon};
pub use discount::Discount;
pub use error::CouponError;
pub use event::CouponEvent;
pub use redemption::{Closed, Redemption, RedemptionStatus, StoredRedemption};

kernel::typed_id!(CouponId, "coupon");
kernel::typed_id!(RedemptionId, "redemption");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use kernel::{Classify, Currency, ErrorKind, EventType, Money};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").unwrap())
    }

    fn coupon(discount: Discount, rules: CouponRules) -> Coupon {
        Coupon::create(CouponCode::parse("save10").unwrap(), discount, rules, Utc::now()).unwrap()
    }

    fn open_rules() -> CouponRules {
        CouponRules {
            minimum_order: None,
            valid_from: Utc::now() - Duration::hours(1),
            valid_until: None,
            max_uses: None,
            max_uses_per_user: None,
        }
    }

    #[test]
    fn percentages_round_down_and_fixed_amounts_never_exceed_the_order() {
        assert_eq!(Discount::percentage(1000).unwrap().on(usd(1999)), usd(199));
        assert_eq!(Discount::percentage(10_000).unwrap().on(usd(1999)), usd(1999));
        assert_eq!(Discount::fixed(usd(500)).unwrap().on(usd(300)), usd(300));
        for refused in [
            Discount::percentage(0),
            Discount::percentage(10_001),
            Discount::fixed(usd(0)),
            Discount::fixed(usd(-1)),
        ] {
            assert_eq!(refused.unwrap_err().kind(), ErrorKind::BadUserInput);
        }
    }

    #[test]
    fn every_rule_is_checked_before_a_use_is_taken() {
        let now = Utc::now();
        let user = uuid::Uuid::now_v7();
        let mut limited = coupon(
            Discount::percentage(1000).unwrap(),
            CouponRules {
                minimum_order: Some(usd(1000)),
                max_uses: Some(1),
                max_uses_per_user: Some(1),
                ..open_rules()
            },
        );
        assert!(matches!(
            limited.redeem(RedemptionId::new(), user, usd(999), 0, now),
            Err(CouponError::MinimumNotMet { .. })
        ));
        assert!(matches!(
            limited.redeem(RedemptionId::new(), user, usd(5000), 1, now),
            Err(CouponError::UserLimitReached { limit: 1, .. })
        ));
        let redemption = limited.redeem(RedemptionId::new(), user, usd(5000), 0, now).unwrap();
        assert_eq!(redemption.discount(), usd(500));
        assert_eq!(limited.uses(), 1);
        let err = limited
            .redeem(RedemptionId::new(), user, usd(5000), 0, now)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        limited.give_back();
        assert!(limited.redeem(RedemptionId::new(), user, usd(5000), 0, now).is_ok());

        let eur = Money::new(5000, Currency::parse("EUR").unwrap());
        assert!(matches!(
            limited.quote(eur, 0, now),
            Err(CouponError::Exhausted(_)) | Err(CouponError::CurrencyMismatch { .. })
        ));
        let fixed = coupon(Discount::fixed(usd(100)).unwrap(), open_rules());
        assert!(matches!(
            fixed.quote(eur, 0, now),
            Err(CouponError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn the_validity_window_is_enforced() {
        let now = Utc::now();
        let later = coupon(
            Discount::fixed(usd(100)).unwrap(),
            CouponRules {
                valid_from: now + Duration::hours(1),
                ..open_rules()
            },
        );
        assert!(matches!(
            later.quote(usd(1000), 0, now),
            Err(CouponError::NotYetValid(_))
        ));
        let over = coupon(
            Discount::fixed(usd(100)).unwrap(),
            CouponRules {
                valid_until: Some(now - Duration::minutes(1)),
                valid_from: now - Duration::hours(2),
                ..open_rules()
            },
        );
        assert!(matches!(over.quote(usd(1000), 0, now), Err(CouponError::Expired(_))));
    }

    #[test]
    fn redemptions_close_once_and_repeat_harmlessly() {
        let mut coupon = coupon(Discount::fixed(usd(100)).unwrap(), open_rules());
        let mut redemption = coupon
            .redeem(RedemptionId::new(), uuid::Uuid::now_v7(), usd(1000), 0, Utc::now())
            .unwrap();
        assert_eq!(redemption.commit(), Ok(Closed::Now));
        assert_eq!(redemption.commit(), Ok(Closed::Already));
        assert!(redemption.release().is_err());
        // A canceled paid order gives the use back, once; then it is closed for good.
        assert_eq!(redemption.give_back_after_cancellation(), Ok(Closed::Now));
        assert_eq!(redemption.status(), RedemptionStatus::Returned);
        assert!(!redemption.status().is_live());
        assert_eq!(redemption.give_back_after_cancellation(), Ok(Closed::Already));
        assert!(redemption.commit().is_err());
        assert!(redemption.release().is_err());
        // Only a committed redemption is returned: a reserved one is released.
        let mut reserved = coupon
            .redeem(RedemptionId::new(), uuid::Uuid::now_v7(), usd(1000), 0, Utc::now())
            .unwrap();
        let err = reserved.give_back_after_cancellation().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(reserved.status(), RedemptionStatus::Reserved);
    }

    #[test]
    fn codes_are_normalised_and_event_names_follow_the_contract() {
        assert_eq!(CouponCode::parse(" welcome-10 ").unwrap().as_str(), "WELCOME-10");
        assert!(CouponCode::parse("no").is_err());
        assert!(CouponCode::parse("has space").is_err());
        for name in [
            CouponEvent::CREATED,
            CouponEvent::RESERVED,
            CouponEvent::COMMITTED,
            CouponEvent::RELEASED,
            CouponEvent::RETURNED,
        ] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
