//! What a coupon takes off an order: a percentage or a fixed amount, each only in its
//! valid range (a [`Discount`] cannot hold 0 % or a fixed amount of nothing).

use kernel::Money;

use crate::CouponError;

/// What a coupon takes off an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discount(Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Hundredths of a percent: 1,000 is 10 %.
    Percentage(u32),
    /// A fixed amount, never more than the order.
    Fixed(Money),
}

impl Discount {
    /// A percentage in hundredths of a percent: 1,000 is 10 %.
    ///
    /// # Errors
    /// Outside 0.01 %–100 % (1 to 10,000 basis points).
    pub fn percentage(basis_points: u32) -> Result<Self, CouponError> {
        if (1..=10_000).contains(&basis_points) {
            Ok(Self(Kind::Percentage(basis_points)))
        } else {
            Err(CouponError::invalid(
                "percentage",
                "between 0.01 % and 100 % (1 to 10,000 basis points)",
            ))
        }
    }

    /// A fixed amount off, never more than the order.
    ///
    /// # Errors
    /// An amount that is not positive.
    pub fn fixed(amount: Money) -> Result<Self, CouponError> {
        if amount.amount() > 0 {
            Ok(Self(Kind::Fixed(amount)))
        } else {
            Err(CouponError::invalid("amount", "a fixed discount must be positive"))
        }
    }

    /// The percentage in basis points; None for a fixed amount.
    pub fn basis_points(self) -> Option<u32> {
        match self.0 {
            Kind::Percentage(basis_points) => Some(basis_points),
            Kind::Fixed(_) => None,
        }
    }

    /// The fixed amount; None for a percentage.
    pub fn fixed_amount(self) -> Option<Money> {
        match self.0 {
            Kind::Fixed(amount) => Some(amount),
            Kind::Percentage(_) => None,
        }
    }

    /// The discount on `order`: rounded down, never more than the order.
    pub fn on(self, order: Money) -> Money {
        let amount = match self.0 {
            Kind::Percentage(basis_points) => {
                i64::try_from(i128::from(order.amount()) * i128::from(basis_points) / 10_000).unwrap_or(i64::MAX)
            }
            Kind::Fixed(fixed) => fixed.amount().min(order.amount()),
        };
        Money::new(amount.max(0), order.currency())
    }
}
