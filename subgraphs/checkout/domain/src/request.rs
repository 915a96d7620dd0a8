//! What a customer asks for.

use crate::{CheckoutError, DeliveryRequest};

/// Text of at most `max` characters that is not blank, for the request's plain fields.
fn bounded(value: &str, field: &'static str, max: usize) -> Result<String, CheckoutError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(CheckoutError::Invalid {
            field,
            reason: format!("1 to {max} characters"),
        });
    }
    Ok(value.to_owned())
}

/// The key a client sends with a checkout so that a retried submission is recognised:
/// 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// # Errors
    /// Blank or longer than 200 characters.
    pub fn parse(value: &str) -> Result<Self, CheckoutError> {
        bounded(value, "idempotencyKey", 200).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the customer pays (the provider's method name): 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod(String);

impl PaymentMethod {
    /// # Errors
    /// Blank or longer than 64 characters.
    pub fn parse(value: &str) -> Result<Self, CheckoutError> {
        bounded(value, "paymentMethod", 64).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A coupon code as the customer typed it (Coupons decides whether it is one): 1 to
/// 32 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedCoupon(String);

impl AskedCoupon {
    /// # Errors
    /// Blank or longer than 32 characters.
    pub fn parse(value: &str) -> Result<Self, CheckoutError> {
        bounded(value, "couponCode", 32).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a customer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub user_id: uuid::Uuid,
    pub cart_id: uuid::Uuid,
    pub coupon_code: Option<AskedCoupon>,
    pub payment_method: PaymentMethod,
    pub idempotency_key: IdempotencyKey,
    /// None for goods that are not shipped.
    pub delivery: Option<DeliveryRequest>,
}

impl CheckoutRequest {
    /// The coupon code asked for, if any.
    pub fn coupon(&self) -> Option<&str> {
        self.coupon_code.as_ref().map(AskedCoupon::as_str)
    }

    /// What makes two requests with one key the same request. A request without a
    /// delivery keeps the fingerprint it had before deliveries existed.
    pub fn fingerprint(&self) -> String {
        let mut fingerprint = format!(
            "{}|{}|{}",
            self.cart_id,
            self.coupon().unwrap_or(""),
            self.payment_method.as_str()
        );
        if let Some(delivery) = &self.delivery {
            fingerprint.push('|');
            fingerprint.push_str(&serde_json::to_string(delivery).unwrap_or_default());
        }
        fingerprint
    }
}
