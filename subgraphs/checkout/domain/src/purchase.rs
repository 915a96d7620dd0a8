//! What is bought and where it goes: the priced lines, the delivery asked for and
//! settled, and the tax rates that apply there.

use kernel::{Address, Money, Quantity, Sku, TaxCategory, TaxLine, TaxRate};

/// A line to buy, priced from the catalog when the checkout started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub sku: Sku,
    pub product_id: uuid::Uuid,
    pub name: String,
    pub unit_price: Money,
    pub quantity: Quantity,
    /// STANDARD for the lines of sessions stored before products had a tax category.
    #[serde(default)]
    pub tax_category: TaxCategory,
}

/// An address a customer names at checkout: one of their address book, or one written
/// there and then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AddressChoice {
    Saved(uuid::Uuid),
    Written(Address),
}

/// Where and how a customer asked for the order to ship.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRequest {
    pub shipping_address: AddressChoice,
    /// The shipping address when none.
    pub billing_address: Option<AddressChoice>,
    pub method_id: uuid::Uuid,
}

/// The shipping method a checkout settled on, as Shipping named it then.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChosenMethod {
    pub id: uuid::Uuid,
    pub name: String,
    pub carrier: String,
}

/// A delivery settled before the saga's first step: the addresses copied (a later
/// change to the book does not reach the order), the method quoted for the cart's
/// value. Serialised in the shape Orders' `OrderDeliveryInput` takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub shipping_address: Address,
    pub billing_address: Address,
    pub method: ChosenMethod,
    pub cost: Money,
}

/// The tax rates at a checkout's shipping address, as Products answered them when the
/// checkout started: one per category, and whether prices there include tax.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxRates {
    pub prices_include_tax: bool,
    pub rates: Vec<(TaxCategory, TaxRate)>,
}

impl TaxRates {
    /// The rate of `category`; 0 % for one Products did not name.
    pub fn of(&self, category: TaxCategory) -> TaxRate {
        self.rates
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(TaxRate::ZERO, |(_, rate)| *rate)
    }
}

/// An order's tax, serialised in the shape Orders' `OrderTaxInput` takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderTax {
    pub prices_include_tax: bool,
    pub lines: Vec<TaxLine>,
}

/// The sum of the lines' prices; None for no lines, mixed currencies or an overflow.
pub fn subtotal(lines: &[Line]) -> Option<Money> {
    let mut lines = lines.iter();
    let first = lines.next()?;
    let mut sum = first.unit_price.checked_mul(first.quantity.get()).ok()?;
    for line in lines {
        sum = sum
            .checked_add(line.unit_price.checked_mul(line.quantity.get()).ok()?)
            .ok()?;
    }
    Some(sum)
}
