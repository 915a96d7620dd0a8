//! Tax: the rate of a tax, the categories of goods rates apply to, and the arithmetic
//! of an order's tax lines, in integer minor units.
//!
//! The rules, written once here:
//! - A rate is an exact decimal percentage with at most four decimals (`19`, `8.875`),
//!   kept as millionths of the taxed amount.
//! - Tax is computed per line, on what the line costs after its share of the discount,
//!   and rounded to the minor unit half to even (banker's rounding): `0.5` cent goes to
//!   the even neighbour, so over many lines the rounding neither gains nor loses.
//! - Where prices include tax, a line's tax is the part of its amount that is tax:
//!   `amount × rate / (1 + rate)`, rounded the same way; the customer pays the amount.
//! - A discount is split over the lines in proportion to their amounts; the minor units
//!   the division leaves go one each to the lines with the largest remainders (the
//!   earliest line first on a tie), so the shares add up to the discount exactly.

use serde::{Deserialize, Serialize};

use crate::{Money, Sku, ValueError};

/// A tax rate between 0 % and 100 %, exact to four decimals of a percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaxRate(u32);

impl TaxRate {
    /// Millionths in one whole (100 %).
    const WHOLE: u32 = 1_000_000;
    /// Millionths in one percent.
    const PER_PERCENT: u32 = 10_000;

    pub const ZERO: TaxRate = TaxRate(0);

    /// Parses a percentage such as `19`, `7.0` or `8.875`.
    ///
    /// # Errors
    /// Not a plain decimal number, more than four decimals, or outside 0 to 100.
    pub fn parse_percent(value: &str) -> Result<Self, ValueError> {
        let invalid = || ValueError {
            field: "rate",
            reason: format!(
                "`{}` is not a percentage from 0 to 100 with at most four decimals",
                value.trim().chars().take(20).collect::<String>()
            ),
        };
        let value = value.trim();
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 3 || fraction.len() > 4 || !digits(whole) || !digits(fraction) {
            return Err(invalid());
        }
        if value.ends_with('.') {
            return Err(invalid());
        }
        let whole: u32 = whole.parse().map_err(|_| invalid())?;
        let mut fraction_millionths = 0;
        for (i, digit) in fraction.bytes().enumerate() {
            fraction_millionths += u32::from(digit - b'0') * 10u32.pow(3 - i as u32);
        }
        let millionths = whole * Self::PER_PERCENT + fraction_millionths;
        if millionths > Self::WHOLE {
            return Err(invalid());
        }
        Ok(Self(millionths))
    }

    /// A rate kept as millionths (see [`TaxRate::millionths`]).
    ///
    /// # Errors
    /// Above 1 000 000 (100 %).
    pub fn from_millionths(millionths: u32) -> Result<Self, ValueError> {
        if millionths > Self::WHOLE {
            return Err(ValueError {
                field: "rate",
                reason: format!("{millionths} millionths is above 100 %"),
            });
        }
        Ok(Self(millionths))
    }

    /// The rate as millionths of the taxed amount (19 % is 190 000).
    pub fn millionths(self) -> u32 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The percentage with no trailing zeros: `19`, `8.875`.
    pub fn percent(self) -> String {
        let whole = self.0 / Self::PER_PERCENT;
        let fraction = self.0 % Self::PER_PERCENT;
        if fraction == 0 {
            return whole.to_string();
        }
        let decimals = format!("{fraction:04}");
        format!("{whole}.{}", decimals.trim_end_matches('0'))
    }
}

impl std::fmt::Display for TaxRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} %", self.percent())
    }
}

impl TryFrom<String> for TaxRate {
    type Error = ValueError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_percent(&value)
    }
}

impl From<TaxRate> for String {
    fn from(rate: TaxRate) -> Self {
        rate.percent()
    }
}

/// Which rate of a place a product is taxed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaxCategory {
    /// Most goods.
    #[default]
    Standard,
    /// Goods a place taxes less (food, books, medicine in many countries).
    Reduced,
    /// Goods a place does not tax.
    Zero,
}

impl TaxCategory {
    pub const ALL: [TaxCategory; 3] = [TaxCategory::Standard, TaxCategory::Reduced, TaxCategory::Zero];

    pub fn as_str(self) -> &'static str {
        match self {
            TaxCategory::Standard => "STANDARD",
            TaxCategory::Reduced => "REDUCED",
            TaxCategory::Zero => "ZERO",
        }
    }

    /// # Errors
    /// A name other than STANDARD, REDUCED or ZERO.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|category| category.as_str() == value)
            .ok_or_else(|| ValueError {
                field: "taxCategory",
                reason: "one of STANDARD, REDUCED, ZERO".into(),
            })
    }
}

/// The tax on one line of an order, or on its shipping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxLine {
    /// The order line taxed; none for the shipping.
    pub sku: Option<Sku>,
    /// Serialised as `percent`, the name clients read it by.
    #[serde(rename = "percent")]
    pub rate: TaxRate,
    /// What was taxed: the line's amount after its share of the discount (tax
    /// included where prices include tax).
    pub taxable: Money,
    pub amount: Money,
}

/// The tax on `amount` at `rate`, rounded half to even; where prices include tax, the
/// part of `amount` that is tax. Zero for an amount of zero or less.
pub fn tax_on(amount: Money, rate: TaxRate, prices_include_tax: bool) -> Money {
    if amount.amount() <= 0 {
        return Money::zero(amount.currency());
    }
    let numerator = i128::from(amount.amount()) * i128::from(rate.millionths());
    let denominator = i128::from(TaxRate::WHOLE)
        + if prices_include_tax {
            i128::from(rate.millionths())
        } else {
            0
        };
    let tax = divide_half_to_even(numerator, denominator);
    // At most `amount` itself (a rate of at most 100 %), so it fits.
    Money::new(i64::try_from(tax).unwrap_or(amount.amount()), amount.currency())
}

/// `part` of `whole` units of `amount`: amount × part / whole, rounded half to even (a
/// returned share of an order line). Zero when `whole` is not above zero or `amount`
/// or `part` is not; all of `amount` when `part` is `whole` or more.
pub fn pro_rata(amount: Money, part: i64, whole: i64) -> Money {
    if whole <= 0 || part <= 0 || amount.amount() <= 0 {
        return Money::zero(amount.currency());
    }
    if part >= whole {
        return amount;
    }
    let share = divide_half_to_even(i128::from(amount.amount()) * i128::from(part), i128::from(whole));
    // Below `amount`, so it fits.
    Money::new(i64::try_from(share).unwrap_or(amount.amount()), amount.currency())
}

/// `numerator / denominator` for non-negative operands, rounded half to even.
fn divide_half_to_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let twice_remainder = 2 * (numerator % denominator);
    if twice_remainder > denominator || (twice_remainder == denominator && quotient % 2 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

/// `total` split over `weights` in proportion (largest remainder): the shares add up to
/// `total` exactly. All zero when the weights are; `total` and weights are not negative.
pub fn shares(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum <= 0 || total <= 0 {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, weight) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from(*weight);
        shares.push(exact / sum);
        remainders.push((exact % sum, i));
    }
    let mut left = i128::from(total) - shares.iter().sum::<i128>();
    // Largest remainder first; on a tie, the earliest line.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
        .into_iter()
        .map(|share| i64::try_from(share).unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::parse("EUR").unwrap())
    }

    fn rate(percent: &str) -> TaxRate {
        TaxRate::parse_percent(percent).unwrap()
    }

    #[test]
    fn a_rate_is_an_exact_percentage_of_at_most_four_decimals() {
        assert_eq!(rate("19").millionths(), 190_000);
        assert_eq!(rate("8.875").millionths(), 88_750);
        assert_eq!(rate("0.0001").millionths(), 1);
        assert_eq!(rate("100").millionths(), 1_000_000);
        assert_eq!(rate(" 7.50 ").percent(), "7.5");
        assert_eq!(rate("8.875").percent(), "8.875");
        assert_eq!(rate("0").percent(), "0");
        assert_eq!(TaxRate::from_millionths(88_750).unwrap(), rate("8.875"));
        assert!(TaxRate::from_millionths(1_000_001).is_err());
        for bad in [
            "", "-1", "100.0001", "101", "7.", ".5", "7.12345", "1e2", "7,5", "abc", "1000",
        ] {
            assert!(TaxRate::parse_percent(bad).is_err(), "{bad:?} was accepted");
        }
        let json = serde_json::to_string(&rate("8.875")).unwrap();
        assert_eq!(json, "\"8.875\"");
        assert!(serde_json::from_str::<TaxRate>("\"150\"").is_err());
    }

    #[test]
    fn tax_rounds_half_to_even() {
        // 19 % of 0.50 is 0.095: 9.5 cents rounds to the even 10; of 1.50, 28.5 to 28.
        assert_eq!(tax_on(eur(50), rate("19"), false), eur(10));
        assert_eq!(tax_on(eur(150), rate("19"), false), eur(28));
        // 10 % of 0.05 is 0.5 cent: to 0; of 0.15, 1.5 cents: to 2.
        assert_eq!(tax_on(eur(5), rate("10"), false), eur(0));
        assert_eq!(tax_on(eur(15), rate("10"), false), eur(2));
        // Above and below the half go to the nearest.
        assert_eq!(tax_on(eur(999), rate("8.875"), false), eur(89)); // 88.66125
        assert_eq!(tax_on(eur(1_001), rate("7"), false), eur(70)); // 70.07
        assert_eq!(tax_on(eur(0), rate("19"), false), eur(0));
        assert_eq!(tax_on(eur(-100), rate("19"), false), eur(0));
        assert_eq!(tax_on(eur(1_234), TaxRate::ZERO, false), eur(0));
        // No overflow at the largest amounts.
        assert_eq!(tax_on(eur(i64::MAX), rate("100"), false), eur(i64::MAX));
    }

    #[test]
    fn tax_included_in_a_price_is_its_share_of_the_price() {
        // 119.00 with 19 % in it holds 19.00 of tax.
        assert_eq!(tax_on(eur(11_900), rate("19"), true), eur(1_900));
        // 9.99 with 19 % in it: 159.5042… cents, 160.
        assert_eq!(tax_on(eur(999), rate("19"), true), eur(160));
        // 1.05 with 5 % in it: exactly 5 cents; 0.21 with 5 %: exactly 1 cent.
        assert_eq!(tax_on(eur(105), rate("5"), true), eur(5));
        assert_eq!(tax_on(eur(21), rate("5"), true), eur(1));
        // 0.63 with 5 % in it: exactly 3 cents.
        assert_eq!(tax_on(eur(63), rate("5"), true), eur(3));
        // 100 % included: half of the price, 0.5 → even.
        assert_eq!(tax_on(eur(1), rate("100"), true), eur(0));
        assert_eq!(tax_on(eur(3), rate("100"), true), eur(2));
    }

    #[test]
    fn a_part_of_an_amount_rounds_half_to_even() {
        // 1000 × 1/3 = 333.3 → 333; 1000 × 2/3 = 666.7 → 667; 5 × 1/2 = 2.5 → 2; 7 × 1/2 = 3.5 → 4.
        assert_eq!(pro_rata(eur(1_000), 1, 3), eur(333));
        assert_eq!(pro_rata(eur(1_000), 2, 3), eur(667));
        assert_eq!(pro_rata(eur(5), 1, 2), eur(2));
        assert_eq!(pro_rata(eur(7), 1, 2), eur(4));
        assert_eq!(pro_rata(eur(1_000), 3, 3), eur(1_000));
        assert_eq!(pro_rata(eur(1_000), 0, 3), eur(0));
        assert_eq!(pro_rata(eur(i64::MAX), i64::MAX - 1, i64::MAX), eur(i64::MAX - 1));
    }

    #[test]
    fn shares_add_up_to_the_total_in_proportion() {
        assert_eq!(shares(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(shares(10, &[3_000, 1_000]), vec![8, 2]); // 7.5 and 2.5: 0.5 each, earliest first
        assert_eq!(shares(1, &[1, 1]), vec![1, 0]);
        assert_eq!(shares(0, &[5, 5]), vec![0, 0]);
        assert_eq!(shares(7, &[0, 0]), vec![0, 0]);
        assert_eq!(shares(500, &[1_999, 1, 0]), vec![500, 0, 0]);
        let split = shares(1_001, &[333, 333, 334, 7]);
        assert_eq!(split.iter().sum::<i64>(), 1_001);
        assert_eq!(split, vec![331, 331, 332, 7]);
        // Large amounts do not overflow.
        let split = shares(i64::MAX, &[i64::MAX, i64::MAX]);
        assert_eq!(split.iter().map(|s| i128::from(*s)).sum::<i128>(), i128::from(i64::MAX));
    }

    #[test]
    fn categories_read_their_names() {
        for category in TaxCategory::ALL {
            assert_eq!(TaxCategory::parse(category.as_str()).unwrap(), category);
        }
        assert!(TaxCategory::parse("standard").is_err());
        assert_eq!(TaxCategory::default(), TaxCategory::Standard);
    }
}
