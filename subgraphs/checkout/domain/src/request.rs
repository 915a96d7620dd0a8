//! What a customer asks for.

use crate::{CheckoutError, DeliveryRequest};

/// What a customer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub user_id: uuid::Uuid,
    pub cart_id: uuid::Uuid,
    pub coupon_code: Option<String>,
    pub payment_method: String,
    pub idempotency_key: String,
    /// None for goods that are not shipped.
    pub delivery: Option<DeliveryRequest>,
}

impl CheckoutRequest {
    /// # Errors
    /// An empty or over-long idempotency key or payment method.
    pub fn validate(&self) -> Result<(), CheckoutError> {
        if self.idempotency_key.trim().is_empty() || self.idempotency_key.len() > 200 {
            return Err(CheckoutError::Invalid {
                field: "idempotencyKey",
                reason: "1 to 200 characters".into(),
            });
        }
        if self.payment_method.trim().is_empty() || self.payment_method.len() > 64 {
            return Err(CheckoutError::Invalid {
                field: "paymentMethod",
                reason: "1 to 64 characters".into(),
            });
        }
        if self.coupon_code.as_ref().is_some_and(|c| c.len() > 32) {
            return Err(CheckoutError::Invalid {
                field: "couponCode",
                reason: "at most 32 characters".into(),
            });
        }
        Ok(())
    }

    /// What makes two requests with one key the same request. A request without a
    /// delivery keeps the fingerprint it had before deliveries existed.
    pub fn fingerprint(&self) -> String {
        let mut fingerprint = format!(
            "{}|{}|{}",
            self.cart_id,
            self.coupon_code.as_deref().unwrap_or(""),
            self.payment_method
        );
        if let Some(delivery) = &self.delivery {
            fingerprint.push('|');
            fingerprint.push_str(&serde_json::to_string(delivery).unwrap_or_default());
        }
        fingerprint
    }
}
