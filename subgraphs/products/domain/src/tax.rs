//! Tax rates, as the catalog's pricing owns them: a rate per country (and per region
//! where one matters, e.g. a US state or a Canadian province) and per tax category of
//! a product, and for each country whether the shop's prices there include tax.
//!
//! Which rate applies to a product shipped to a place: the rate of the place's region
//! for the product's category when there is one, else the country's; the ZERO category
//! is always 0 %. A place with no rate for a category is charged no tax on it (the shop
//! does not collect tax there). The arithmetic of tax lines is the kernel's
//! ([`kernel::tax`]).

use kernel::{CountryCode, TaxCategory, TaxRate};

use crate::ProductError;

/// A region of a country as addresses name it (`CA`, `ON`, `Bavaria`): 1 to 64
/// printable characters, kept in upper case so that `ca` and `CA` are one region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    pub const MAX_LEN: usize = 64;

    /// # Errors
    /// Empty, longer than [`Region::MAX_LEN`] characters, or a control character.
    pub fn parse(value: &str) -> Result<Self, ProductError> {
        kernel::text::printable_line(value, Self::MAX_LEN)
            .map(str::to_uppercase)
            .filter(|region| region.chars().count() <= Self::MAX_LEN)
            .map(Self)
            .ok_or_else(|| ProductError::invalid("region", kernel::text::printable_line_rule(Self::MAX_LEN)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One rate: what `category` is taxed at in `country` (in `region` of it, when given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRateEntry {
    pub country: CountryCode,
    pub region: Option<Region>,
    pub category: TaxCategory,
    pub rate: TaxRate,
}

impl TaxRateEntry {
    /// # Errors
    /// A rate other than 0 % for the ZERO category.
    pub fn new(
        country: CountryCode,
        region: Option<Region>,
        category: TaxCategory,
        rate: TaxRate,
    ) -> Result<Self, ProductError> {
        if category == TaxCategory::Zero && !rate.is_zero() {
            return Err(ProductError::invalid("rate", "the ZERO category is always 0 %"));
        }
        Ok(Self {
            country,
            region,
            category,
            rate,
        })
    }
}

/// The rates that apply at one place, one per category, and whether prices there
/// include tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatesAtPlace {
    pub prices_include_tax: bool,
    pub rates: Vec<(TaxCategory, TaxRate)>,
}

impl RatesAtPlace {
    /// The rates of `entries` that apply in `region` of `country` (see the module's
    /// rule); `entries` may hold other places' rates too.
    pub fn of(
        entries: &[TaxRateEntry],
        country: CountryCode,
        region: Option<&Region>,
        prices_include_tax: bool,
    ) -> Self {
        let rate_of = |category: TaxCategory| {
            if category == TaxCategory::Zero {
                return TaxRate::ZERO;
            }
            let here = |wanted: Option<&Region>| {
                entries
                    .iter()
                    .find(|e| e.country == country && e.category == category && e.region.as_ref() == wanted)
                    .map(|e| e.rate)
            };
            region
                .and_then(|region| here(Some(region)))
                .or_else(|| here(None))
                .unwrap_or(TaxRate::ZERO)
        };
        Self {
            prices_include_tax,
            rates: TaxCategory::ALL.into_iter().map(|c| (c, rate_of(c))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(country: &str, region: Option<&str>, category: TaxCategory, percent: &str) -> TaxRateEntry {
        TaxRateEntry::new(
            CountryCode::parse(country).unwrap(),
            region.map(|r| Region::parse(r).unwrap()),
            category,
            TaxRate::parse_percent(percent).unwrap(),
        )
        .unwrap()
    }

    fn rate(at: &RatesAtPlace, category: TaxCategory) -> String {
        at.rates.iter().find(|(c, _)| *c == category).unwrap().1.percent()
    }

    #[test]
    fn a_region_rate_wins_over_the_country_rate() {
        let entries = vec![
            entry("US", None, TaxCategory::Standard, "0"),
            entry("US", Some("ca"), TaxCategory::Standard, "7.25"),
            entry("US", Some("NY"), TaxCategory::Standard, "8.875"),
            entry("DE", None, TaxCategory::Standard, "19"),
            entry("DE", None, TaxCategory::Reduced, "7"),
        ];
        let us = CountryCode::parse("US").unwrap();
        let california = RatesAtPlace::of(&entries, us, Some(&Region::parse("CA").unwrap()), false);
        assert_eq!(rate(&california, TaxCategory::Standard), "7.25");
        // No reduced rate in the US: not collected.
        assert_eq!(rate(&california, TaxCategory::Reduced), "0");
        let oregon = RatesAtPlace::of(&entries, us, Some(&Region::parse("OR").unwrap()), false);
        assert_eq!(rate(&oregon, TaxCategory::Standard), "0");
        let germany = RatesAtPlace::of(&entries, CountryCode::parse("de").unwrap(), None, true);
        assert!(germany.prices_include_tax);
        assert_eq!(rate(&germany, TaxCategory::Standard), "19");
        assert_eq!(rate(&germany, TaxCategory::Reduced), "7");
        assert_eq!(rate(&germany, TaxCategory::Zero), "0");
        // A region of a country with only a country rate gets the country's.
        let bavaria = RatesAtPlace::of(
            &entries,
            CountryCode::parse("DE").unwrap(),
            Some(&Region::parse("BY").unwrap()),
            true,
        );
        assert_eq!(rate(&bavaria, TaxCategory::Standard), "19");
        let france = RatesAtPlace::of(&entries, CountryCode::parse("FR").unwrap(), None, false);
        assert!(france.rates.iter().all(|(_, rate)| rate.is_zero()));
    }

    #[test]
    fn the_zero_category_is_always_zero() {
        let refused = TaxRateEntry::new(
            CountryCode::parse("DE").unwrap(),
            None,
            TaxCategory::Zero,
            TaxRate::parse_percent("5").unwrap(),
        );
        assert!(refused.is_err());
        assert!(Region::parse("").is_err());
        assert!(Region::parse(&"x".repeat(65)).is_err());
        assert_eq!(Region::parse(" on ").unwrap().as_str(), "ON");
    }
}
