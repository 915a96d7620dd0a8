//! Price versioning: every price a product has had, as periods with validity intervals
//! (slowly changing dimension, type 2). The current price is the open period; the price
//! at any instant is the period that contains it.

use chrono::{DateTime, Utc};
use kernel::Money;
use serde::{Deserialize, Serialize};

/// One price over `[valid_from, valid_to)`; `valid_to` is `None` while current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricePeriod {
    pub price: Money,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl PricePeriod {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at && self.valid_to.is_none_or(|end| at < end)
    }
}

/// The price in force at `at`, if the product existed then.
pub fn price_at(history: &[PricePeriod], at: DateTime<Utc>) -> Option<Money> {
    history
        .iter()
        .find(|period| period.contains(at))
        .map(|period| period.price)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use kernel::Currency;

    #[test]
    fn finds_the_period_containing_an_instant() {
        let usd = Currency::parse("USD").unwrap();
        let t0 = Utc::now();
        let t1 = t0 + Duration::hours(1);
        let history = vec![
            PricePeriod {
                price: Money::new(100, usd),
                valid_from: t0,
                valid_to: Some(t1),
            },
            PricePeriod {
                price: Money::new(80, usd),
                valid_from: t1,
                valid_to: None,
            },
        ];
        assert_eq!(price_at(&history, t0 - Duration::seconds(1)), None);
        assert_eq!(price_at(&history, t0), Some(Money::new(100, usd)));
        assert_eq!(price_at(&history, t1), Some(Money::new(80, usd)));
        assert_eq!(price_at(&history, t1 + Duration::days(300)), Some(Money::new(80, usd)));
    }
}
