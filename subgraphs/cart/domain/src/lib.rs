//! The Cart context: one active cart per customer (or per anonymous session), its
//! lines, and a price estimate from a local price table that Products' events keep
//! current. The estimate is a hint; checkout prices the order from the catalog.

use chrono::{DateTime, Utc};
use kernel::{Classify, DomainEvent, ErrorKind, Money, MoneyError, typed_id};

typed_id!(CartId, "cart");

/// The most lines a cart holds, and the most units of one line.
pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("SKU {0} is not in the cart")]
    NotInCart(String),
    #[error("the cart is {0}: it can no longer change")]
    Closed(&'static str),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl Classify for CartError {
    fn kind(&self) -> ErrorKind {
        match self {
            CartError::NotInCart(_) => ErrorKind::NotFound,
            CartError::Closed(_) => ErrorKind::Conflict,
            CartError::Invalid { .. } | CartError::Money(_) => ErrorKind::BadUserInput,
        }
    }
}

/// Whose cart it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartOwner {
    User(uuid::Uuid),
    /// An anonymous visitor's session: an unguessable token the client keeps.
    Session(String),
}

impl CartOwner {
    /// # Errors
    /// A session id shorter than 16 or longer than 128 characters, or with characters
    /// other than letters, digits, `-` and `_`.
    pub fn session(id: &str) -> Result<Self, CartError> {
        let valid =
            (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(CartOwner::Session(id.to_owned()))
        } else {
            Err(CartError::Invalid {
                field: "sessionId",
                reason: "16 to 128 letters, digits, `-` or `_`".into(),
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartStatus {
    Active,
    CheckedOut,
    Expired,
}

impl CartStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CartStatus::Active => "ACTIVE",
            CartStatus::CheckedOut => "CHECKED_OUT",
            CartStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Active, Self::CheckedOut, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub sku: String,
    pub product_id: uuid::Uuid,
    pub quantity: i64,
}

/// A SKU's price as the cart knows it (from Products' events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPrice {
    pub sku: String,
    pub product_id: uuid::Uuid,
    pub name: String,
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub id: CartId,
    pub owner: CartOwner,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn check_quantity(quantity: i64) -> Result<(), CartError> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(CartError::Invalid {
            field: "quantity",
            reason: format!("between 1 and {MAX_QUANTITY}"),
        })
    }
}

impl Cart {
    pub fn new(owner: CartOwner, now: DateTime<Utc>) -> Self {
        Self {
            id: CartId::new(),
            owner,
            status: CartStatus::Active,
            lines: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    fn ensure_active(&self) -> Result<(), CartError> {
        match self.status {
            CartStatus::Active => Ok(()),
            other => Err(CartError::Closed(other.as_str())),
        }
    }

    /// Adds units of a SKU (to its line if there is one).
    ///
    /// # Errors
    /// A closed cart, a quantity outside 1–999 (also in total), too many lines.
    pub fn add(&mut self, price: &KnownPrice, quantity: i64, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        check_quantity(quantity)?;
        match self.lines.iter_mut().find(|l| l.sku == price.sku) {
            Some(line) => {
                check_quantity(line.quantity + quantity)?;
                line.quantity += quantity;
            }
            None => {
                if self.lines.len() >= MAX_LINES {
                    return Err(CartError::Invalid {
                        field: "sku",
                        reason: format!("a cart holds at most {MAX_LINES} lines"),
                    });
                }
                self.lines.push(CartLine {
                    sku: price.sku.clone(),
                    product_id: price.product_id,
                    quantity,
                });
            }
        }
        self.updated_at = now;
        Ok(())
    }

    /// Sets a line's quantity; zero removes it.
    ///
    /// # Errors
    /// A closed cart, a SKU not in the cart, a quantity outside 0–999.
    pub fn set_quantity(&mut self, sku: &str, quantity: i64, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        let index = self
            .lines
            .iter()
            .position(|l| l.sku == sku)
            .ok_or_else(|| CartError::NotInCart(sku.chars().take(64).collect()))?;
        if quantity == 0 {
            self.lines.remove(index);
        } else {
            check_quantity(quantity)?;
            self.lines[index].quantity = quantity;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Takes over the lines of another cart (an anonymous session's, when its visitor
    /// signs in), as far as each line's quantity cap leaves room; lines without a known
    /// price are left behind.
    ///
    /// # Errors
    /// A closed cart, or too many lines.
    pub fn absorb(&mut self, other: &Cart, prices: &[KnownPrice], now: DateTime<Utc>) -> Result<(), CartError> {
        for line in &other.lines {
            let Some(known) = prices.iter().find(|p| p.sku == line.sku) else {
                continue;
            };
            let held = self.lines.iter().find(|l| l.sku == line.sku).map_or(0, |l| l.quantity);
            let room = MAX_QUANTITY - held;
            if room > 0 {
                self.add(known, line.quantity.min(room), now)?;
            }
        }
        Ok(())
    }

    /// The cart was turned into an order.
    ///
    /// # Errors
    /// When it is not active.
    pub fn check_out(&mut self, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        self.status = CartStatus::CheckedOut;
        self.updated_at = now;
        Ok(())
    }

    /// The cart sat idle too long.
    ///
    /// # Errors
    /// When it is not active.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        self.status = CartStatus::Expired;
        self.updated_at = now;
        Ok(())
    }

    /// The estimated total from `prices`, and the SKUs without a known price.
    ///
    /// # Errors
    /// Prices in several currencies, or an overflow.
    pub fn estimate(&self, prices: &[KnownPrice]) -> Result<(Option<Money>, Vec<String>), CartError> {
        let mut total: Option<Money> = None;
        let mut unknown = Vec::new();
        for line in &self.lines {
            match prices.iter().find(|p| p.sku == line.sku) {
                Some(price) => {
                    let line_total = price.price.checked_mul(line.quantity)?;
                    total = Some(match total {
                        Some(sum) => sum.checked_add(line_total)?,
                        None => line_total,
                    });
                }
                None => unknown.push(line.sku.clone()),
            }
        }
        Ok((total, unknown))
    }
}

/// The events Cart publishes (contracts, v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartEvent {
    pub kind: CartEventKind,
    pub cart_id: CartId,
    pub user_id: Option<uuid::Uuid>,
    pub lines: Vec<CartLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartEventKind {
    Updated,
    CheckedOut,
    Expired,
}

impl CartEvent {
    pub const UPDATED: &'static str = "ecommerce.cart.cart.updated.v1";
    pub const CHECKED_OUT: &'static str = "ecommerce.cart.cart.checked_out.v1";
    pub const EXPIRED: &'static str = "ecommerce.cart.cart.expired.v1";

    pub fn of(kind: CartEventKind, cart: &Cart) -> Self {
        Self {
            kind,
            cart_id: cart.id,
            user_id: match cart.owner {
                CartOwner::User(id) => Some(id),
                CartOwner::Session(_) => None,
            },
            lines: cart.lines.clone(),
        }
    }
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> &'static str {
        match self.kind {
            CartEventKind::Updated => Self::UPDATED,
            CartEventKind::CheckedOut => Self::CHECKED_OUT,
            CartEventKind::Expired => Self::EXPIRED,
        }
    }

    fn partition_key(&self) -> String {
        self.cart_id.to_string()
    }

    fn payload(&self) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = self
            .lines
            .iter()
            .map(|l| serde_json::json!({ "sku": l.sku, "productId": l.product_id, "quantity": l.quantity }))
            .collect();
        serde_json::json!({ "cartId": self.cart_id, "userId": self.user_id, "lines": lines })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Currency, EventType};

    fn price(sku: &str, amount: i64) -> KnownPrice {
        KnownPrice {
            sku: sku.into(),
            product_id: uuid::Uuid::now_v7(),
            name: sku.into(),
            price: Money::new(amount, Currency::parse("USD").unwrap()),
        }
    }

    #[test]
    fn lines_add_up_change_and_go() {
        let now = Utc::now();
        let mut cart = Cart::new(CartOwner::User(uuid::Uuid::now_v7()), now);
        let (a, b) = (price("A-1", 250), price("B-1", 1000));
        cart.add(&a, 2, now).unwrap();
        cart.add(&a, 1, now).unwrap();
        cart.add(&b, 1, now).unwrap();
        assert_eq!(cart.lines[0].quantity, 3);
        let (total, unknown) = cart.estimate(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(total.unwrap().amount(), 1750);
        assert!(unknown.is_empty());
        let (_, unknown) = cart.estimate(std::slice::from_ref(&a)).unwrap();
        assert_eq!(unknown, ["B-1"]);
        cart.set_quantity("A-1", 0, now).unwrap();
        assert_eq!(cart.lines.len(), 1);
        assert_eq!(
            cart.set_quantity("A-1", 1, now),
            Err(CartError::NotInCart("A-1".into()))
        );
        assert!(cart.add(&b, 999, now).is_err(), "the total of a line is capped too");
        assert!(cart.add(&b, 0, now).is_err());
    }

    #[test]
    fn a_cart_absorbs_another_up_to_each_lines_cap() {
        let now = Utc::now();
        let (a, b) = (price("A-1", 100), price("B-1", 200));
        let mut mine = Cart::new(CartOwner::User(uuid::Uuid::now_v7()), now);
        mine.add(&a, MAX_QUANTITY - 1, now).unwrap();
        let mut guest = Cart::new(CartOwner::session("0123456789abcdef").unwrap(), now);
        guest.add(&a, 5, now).unwrap();
        guest.add(&b, 2, now).unwrap();
        guest.add(&price("C-1", 1), 1, now).unwrap();
        mine.absorb(&guest, &[a, b], now).unwrap();
        let quantities: Vec<(&str, i64)> = mine.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect();
        assert_eq!(quantities, [("A-1", MAX_QUANTITY), ("B-1", 2)]);
    }

    #[test]
    fn a_closed_cart_does_not_change() {
        let now = Utc::now();
        let mut cart = Cart::new(CartOwner::session("0123456789abcdef").unwrap(), now);
        cart.add(&price("A-1", 100), 1, now).unwrap();
        cart.check_out(now).unwrap();
        let err = cart.add(&price("A-1", 100), 1, now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(cart.expire(now).is_err());
        assert!(CartOwner::session("short").is_err());
    }

    #[test]
    fn event_names_follow_the_contract() {
        for name in [CartEvent::UPDATED, CartEvent::CHECKED_OUT, CartEvent::EXPIRED] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
