//! The cart: its status and its moves. Its state is private: it changes only by the
//! moves below, and one read back from the store is a [`StoredCart`].

use chrono::{DateTime, Utc};
use kernel::{Money, Sku};

use crate::{CartError, CartId, CartLine, CartOwner, KnownPrice, LineQuantity};

/// The most lines a cart holds.
pub const MAX_LINES: usize = 100;

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
pub struct Cart {
    id: CartId,
    owner: CartOwner,
    status: CartStatus,
    lines: Vec<CartLine>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A cart as it was stored, read back without its rules checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCart {
    pub id: CartId,
    pub owner: CartOwner,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredCart> for Cart {
    fn from(stored: StoredCart) -> Self {
        Self {
            id: stored.id,
            owner: stored.owner,
            status: stored.status,
            lines: stored.lines,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
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

    pub fn id(&self) -> CartId {
        self.id
    }
    pub fn owner(&self) -> &CartOwner {
        &self.owner
    }
    pub fn status(&self) -> CartStatus {
        self.status
    }
    /// Its lines, in the order they were first added.
    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }
    /// The SKUs of its lines.
    pub fn skus(&self) -> Vec<Sku> {
        self.lines.iter().map(|l| l.sku().clone()).collect()
    }
    /// How many units it holds in all.
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity().get()).sum()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    fn ensure_active(&self) -> Result<(), CartError> {
        match self.status {
            CartStatus::Active => Ok(()),
            other => Err(CartError::Closed(other.as_str())),
        }
    }

    fn line_of(&self, sku: &Sku) -> Result<usize, CartError> {
        self.lines
            .iter()
            .position(|l| l.sku() == sku)
            .ok_or_else(|| CartError::NotInCart(sku.as_str().to_owned()))
    }

    /// Adds units of a SKU (to its line if there is one).
    ///
    /// # Errors
    /// A closed cart, a line that would hold more than [`LineQuantity::MAX`], too many
    /// lines.
    pub fn add(&mut self, price: &KnownPrice, quantity: LineQuantity, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        match self.lines.iter_mut().find(|l| l.sku() == &price.sku) {
            Some(line) => {
                let total = line.quantity().plus(quantity)?;
                line.set_quantity(total);
            }
            None => {
                if self.lines.len() >= MAX_LINES {
                    return Err(CartError::Invalid {
                        field: "sku",
                        reason: format!("a cart holds at most {MAX_LINES} lines"),
                    });
                }
                self.lines
                    .push(CartLine::new(price.sku.clone(), price.product_id, quantity));
            }
        }
        self.updated_at = now;
        Ok(())
    }

    /// Sets a line's quantity.
    ///
    /// # Errors
    /// A closed cart, a SKU not in the cart.
    pub fn set_quantity(&mut self, sku: &Sku, quantity: LineQuantity, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        let index = self.line_of(sku)?;
        self.lines[index].set_quantity(quantity);
        self.updated_at = now;
        Ok(())
    }

    /// Removes a line.
    ///
    /// # Errors
    /// A closed cart, a SKU not in the cart.
    pub fn remove(&mut self, sku: &Sku, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_active()?;
        let index = self.line_of(sku)?;
        self.lines.remove(index);
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
            let Some(known) = prices.iter().find(|p| &p.sku == line.sku()) else {
                continue;
            };
            let held = self
                .lines
                .iter()
                .find(|l| l.sku() == line.sku())
                .map_or(0, |l| l.quantity().get());
            let room = LineQuantity::MAX - held;
            if let Ok(taken) = LineQuantity::new(line.quantity().get().min(room)) {
                self.add(known, taken, now)?;
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
    pub fn estimate(&self, prices: &[KnownPrice]) -> Result<(Option<Money>, Vec<Sku>), CartError> {
        let mut total: Option<Money> = None;
        let mut unknown = Vec::new();
        for line in &self.lines {
            match prices.iter().find(|p| &p.sku == line.sku()) {
                Some(price) => {
                    let line_total = price.price.checked_mul(line.quantity().get())?;
                    total = Some(match total {
                        Some(sum) => sum.checked_add(line_total)?,
                        None => line_total,
                    });
                }
                None => unknown.push(line.sku().clone()),
            }
        }
        Ok((total, unknown))
    }
}
