//! Shipping methods: how the shop ships (a name, a carrier, a delivery window), where
//! (zones: sets of countries) and at what price (bands of order value per zone, and a
//! threshold above which shipping is free). A quote is the price of one method for one
//! destination and order value, or nothing when the method does not serve it.
//!
//! Prices by weight wait for products to carry a weight; until then every band is a
//! band of order value.

use std::collections::BTreeSet;

use kernel::{CountryCode, Currency, Money};

kernel::typed_id!(ShippingMethodId, "shipping method");

/// Why a shipping method was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MethodError {
    pub field: &'static str,
    pub reason: String,
}

impl MethodError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

impl kernel::Classify for MethodError {
    fn kind(&self) -> kernel::ErrorKind {
        kernel::ErrorKind::BadUserInput
    }
}

/// A name shown to customers (`Standard`, `Express`): 1 to 60 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodName(String);

impl MethodName {
    pub fn parse(field: &'static str, value: &str) -> Result<Self, MethodError> {
        kernel::text::printable_line(value, 60)
            .map(|value| Self(value.to_owned()))
            .ok_or_else(|| MethodError::new(field, kernel::text::printable_line_rule(60)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many business days delivery takes, from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryWindow {
    min_days: u16,
    max_days: u16,
}

impl DeliveryWindow {
    pub fn new(min_days: i64, max_days: i64) -> Result<Self, MethodError> {
        let days = |value: i64| u16::try_from(value).ok().filter(|days| *days <= 365);
        match (days(min_days), days(max_days)) {
            (Some(min_days), Some(max_days)) if min_days <= max_days => Ok(Self { min_days, max_days }),
            _ => Err(MethodError::new(
                "deliveryDays",
                "must be 0 to 365 days, the least first",
            )),
        }
    }

    pub fn min_days(self) -> u16 {
        self.min_days
    }

    pub fn max_days(self) -> u16 {
        self.max_days
    }
}

/// A price that applies to orders worth less than `below` (every order when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBand {
    pub below: Option<i64>,
    pub price: i64,
}

/// Where a method ships and its prices there: bands by order value (minor units of
/// the method's currency), the cheapest band that the order is below applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    name: MethodName,
    countries: BTreeSet<CountryCode>,
    /// Ascending by `below`; the last has no bound.
    bands: Vec<RateBand>,
}

impl Zone {
    /// A zone; the bands may come in any order, and one of them must have no bound,
    /// so every order value has a price.
    pub fn new(name: &str, countries: &[CountryCode], bands: &[RateBand]) -> Result<Self, MethodError> {
        let name = MethodName::parse("zones.name", name)?;
        if countries.is_empty() {
            return Err(MethodError::new("zones.countries", "a zone needs at least one country"));
        }
        if bands
            .iter()
            .any(|band| band.price < 0 || band.below.is_some_and(|below| below <= 0))
        {
            return Err(MethodError::new("zones.rates", "prices are 0 or more, bounds above 0"));
        }
        let mut sorted = bands.to_vec();
        sorted.sort_by_key(|band| band.below.unwrap_or(i64::MAX));
        let unbounded = sorted.iter().filter(|band| band.below.is_none()).count();
        let bounds: BTreeSet<Option<i64>> = sorted.iter().map(|band| band.below).collect();
        if unbounded != 1 || bounds.len() != sorted.len() {
            return Err(MethodError::new(
                "zones.rates",
                "exactly one rate has no bound, and no two share a bound",
            ));
        }
        Ok(Self {
            name,
            countries: countries.iter().copied().collect(),
            bands: sorted,
        })
    }

    /// A zone from its countries as written (ISO 3166-1 alpha-2 codes), as staff send
    /// them and the database keeps them.
    pub fn from_codes(name: &str, countries: &[impl AsRef<str>], bands: &[RateBand]) -> Result<Self, MethodError> {
        let countries = countries
            .iter()
            .map(|code| {
                CountryCode::parse(code.as_ref()).map_err(|err| MethodError::new("zones.countries", err.reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(name, &countries, bands)
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn countries(&self) -> impl Iterator<Item = CountryCode> + '_ {
        self.countries.iter().copied()
    }

    pub fn bands(&self) -> &[RateBand] {
        &self.bands
    }

    fn serves(&self, country: CountryCode) -> bool {
        self.countries.contains(&country)
    }

    fn price_for(&self, order_value: i64) -> i64 {
        self.bands
            .iter()
            .find(|band| band.below.is_none_or(|below| order_value < below))
            .map_or(0, |band| band.price)
    }
}

/// What a shipping method is made of, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingMethodState {
    pub id: ShippingMethodId,
    pub name: MethodName,
    pub carrier: MethodName,
    pub currency: Currency,
    pub zones: Vec<Zone>,
    /// Orders worth this much or more ship free.
    pub free_from: Option<i64>,
    pub delivery: DeliveryWindow,
    pub active: bool,
}

/// A shipping method. A country belongs to at most one of its zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingMethod {
    state: ShippingMethodState,
}

/// The price of a method for one order and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub price: Money,
    pub delivery: DeliveryWindow,
}

impl ShippingMethod {
    /// A method from checked parts.
    ///
    /// # Errors
    /// When a country is in two zones, there is no zone, or the free threshold is not
    /// above 0.
    pub fn new(state: ShippingMethodState) -> Result<Self, MethodError> {
        if state.zones.is_empty() {
            return Err(MethodError::new("zones", "a method needs at least one zone"));
        }
        let mut seen = BTreeSet::new();
        for country in state.zones.iter().flat_map(Zone::countries) {
            if !seen.insert(country) {
                return Err(MethodError::new(
                    "zones.countries",
                    format!("{country} is in two zones of the method"),
                ));
            }
        }
        if state.free_from.is_some_and(|free| free <= 0) {
            return Err(MethodError::new("freeFrom", "must be above 0"));
        }
        Ok(Self { state })
    }

    pub fn state(&self) -> &ShippingMethodState {
        &self.state
    }

    /// The price to ship an order worth `order_value` to `country`: none when the
    /// method is inactive, does not serve the country, or prices in another currency.
    pub fn quote(&self, country: CountryCode, order_value: Money) -> Option<Quote> {
        if !self.state.active || order_value.currency() != self.state.currency {
            return None;
        }
        let zone = self.state.zones.iter().find(|zone| zone.serves(country))?;
        let value = order_value.amount();
        let free = self.state.free_from.is_some_and(|free| value >= free);
        let price = if free { 0 } else { zone.price_for(value) };
        Some(Quote {
            price: Money::new(price, self.state.currency),
            delivery: self.state.delivery,
        })
    }

    /// Stops or resumes offering the method (quotes and checkouts).
    pub fn set_active(&mut self, active: bool) {
        self.state.active = active;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn countries(codes: &[&str]) -> Vec<CountryCode> {
        codes.iter().map(|code| CountryCode::parse(code).unwrap()).collect()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn standard() -> ShippingMethod {
        let domestic = Zone::new(
            "Domestic",
            &countries(&["US"]),
            &[
                RateBand { below: None, price: 0 },
                RateBand {
                    below: Some(2_500),
                    price: 799,
                },
                RateBand {
                    below: Some(5_000),
                    price: 499,
                },
            ],
        )
        .unwrap();
        let north = Zone::new(
            "Canada and Mexico",
            &countries(&["CA", "MX"]),
            &[RateBand {
                below: None,
                price: 1_500,
            }],
        )
        .unwrap();
        ShippingMethod::new(ShippingMethodState {
            id: ShippingMethodId::new(),
            name: MethodName::parse("name", "Standard").unwrap(),
            carrier: MethodName::parse("carrier", "UPS").unwrap(),
            currency: usd(),
            zones: vec![domestic, north],
            free_from: Some(10_000),
            delivery: DeliveryWindow::new(3, 5).unwrap(),
            active: true,
        })
        .unwrap()
    }

    fn quote(method: &ShippingMethod, country: &str, cents: i64) -> Option<i64> {
        method
            .quote(CountryCode::parse(country).unwrap(), Money::new(cents, usd()))
            .map(|quote| quote.price.amount())
    }

    #[test]
    fn a_quote_takes_the_band_the_order_is_below_and_free_shipping_above_the_threshold() {
        let method = standard();
        assert_eq!(quote(&method, "US", 1_000), Some(799));
        assert_eq!(quote(&method, "US", 2_499), Some(799));
        assert_eq!(quote(&method, "US", 2_500), Some(499), "a bound is exclusive");
        assert_eq!(quote(&method, "US", 7_000), Some(0), "the unbounded band");
        assert_eq!(quote(&method, "MX", 9_999), Some(1_500));
        assert_eq!(quote(&method, "CA", 10_000), Some(0), "free from the threshold on");
    }

    #[test]
    fn a_method_does_not_quote_where_it_does_not_ship_in_another_currency_or_inactive() {
        let mut method = standard();
        assert_eq!(quote(&method, "DE", 1_000), None);
        let euros = Money::new(1_000, Currency::parse("EUR").unwrap());
        assert_eq!(method.quote(CountryCode::parse("US").unwrap(), euros), None);
        method.set_active(false);
        assert_eq!(quote(&method, "US", 1_000), None);
    }

    #[test]
    fn zones_and_methods_refuse_what_cannot_be_priced() {
        let us = countries(&["US"]);
        let refused = |bands: &[RateBand]| Zone::new("Z", &us, bands).unwrap_err().field;
        assert_eq!(refused(&[]), "zones.rates", "no band at all");
        assert_eq!(
            refused(&[RateBand {
                below: Some(100),
                price: 1
            }]),
            "zones.rates",
            "no unbounded band"
        );
        assert_eq!(refused(&[RateBand { below: None, price: -1 }]), "zones.rates");
        assert_eq!(
            refused(&[RateBand { below: None, price: 1 }, RateBand { below: None, price: 2 }]),
            "zones.rates"
        );
        assert_eq!(
            Zone::new("Z", &[], &[RateBand { below: None, price: 1 }])
                .unwrap_err()
                .field,
            "zones.countries"
        );
        assert!(DeliveryWindow::new(5, 3).is_err());
        assert!(DeliveryWindow::new(-1, 3).is_err());

        let mut state = standard().state().clone();
        state
            .zones
            .push(Zone::new("Again", &us, &[RateBand { below: None, price: 1 }]).unwrap());
        assert_eq!(
            ShippingMethod::new(state).unwrap_err().field,
            "zones.countries",
            "US in two zones"
        );
        let mut state = standard().state().clone();
        state.zones.clear();
        assert_eq!(ShippingMethod::new(state).unwrap_err().field, "zones");
    }
}
