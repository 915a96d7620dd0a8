//! An order's tax lines, checked against the order.

use kernel::{Currency, Money, Sku, TaxLine};
use serde::{Deserialize, Serialize};

use crate::{OrderError, OrderItem};

/// An order's tax: a line for each order line and for the shipping taxed at a rate
/// above zero, computed by Checkout with the rates of the shipping address and
/// `kernel::tax`'s rules (per line, after its share of the discount, half to even).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    /// Whether the prices (and the shipping cost) already include the tax: then the
    /// tax is shown but not added to the total.
    pub prices_include_tax: bool,
    pub lines: Vec<TaxLine>,
}

impl Tax {
    /// The tax, checked against the order it taxes.
    ///
    /// # Errors
    /// A line in another currency or negative, an amount that is not the rule's for its
    /// taxable amount and rate, a SKU the order does not hold or taxed twice, a taxable
    /// amount above what its line or the shipping costs, two shipping lines.
    pub(crate) fn checked(self, items: &[OrderItem], shipping: Money, currency: Currency) -> Result<Self, OrderError> {
        let mut taxed: Vec<&Sku> = Vec::new();
        let mut shipping_taxed = false;
        for line in &self.lines {
            let zero = Money::zero(currency);
            let (taxable, amount) = (zero.checked_add(line.taxable)?, zero.checked_add(line.amount)?);
            if taxable.is_negative() || amount.is_negative() {
                return Err(OrderError::invalid("tax.lines", "amounts cannot be negative"));
            }
            if amount != kernel::tax::tax_on(taxable, line.rate, self.prices_include_tax) {
                return Err(OrderError::invalid(
                    "tax.lines",
                    format!("{amount} is not {} of {taxable}", line.rate),
                ));
            }
            let most = match &line.sku {
                Some(sku) => {
                    if taxed.contains(&sku) {
                        return Err(OrderError::invalid("tax.lines", format!("SKU {sku} is taxed twice")));
                    }
                    taxed.push(sku);
                    items
                        .iter()
                        .find(|item| &item.sku == sku)
                        .ok_or_else(|| OrderError::invalid("tax.lines", format!("the order has no SKU {sku}")))?
                        .line_total()?
                }
                None if shipping_taxed => {
                    return Err(OrderError::invalid("tax.lines", "the shipping is taxed twice"));
                }
                None => {
                    shipping_taxed = true;
                    shipping
                }
            };
            if taxable.amount() > most.amount() {
                return Err(OrderError::invalid(
                    "tax.lines",
                    format!("{taxable} taxed, more than the {most} it is on"),
                ));
            }
        }
        Ok(self)
    }

    /// The sum of the lines.
    ///
    /// # Errors
    /// On overflow.
    pub fn total(&self, currency: Currency) -> Result<Money, OrderError> {
        let mut total = Money::zero(currency);
        for line in &self.lines {
            total = total.checked_add(line.amount)?;
        }
        Ok(total)
    }
}
