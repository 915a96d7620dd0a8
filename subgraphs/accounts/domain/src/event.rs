//! The events Accounts publishes (contracts, v1). Never carries a password or its hash.

use kernel::DomainEvent;

use crate::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEvent {
    Registered {
        user_id: UserId,
        email: String,
        role: &'static str,
    },
}

impl AccountEvent {
    pub const REGISTERED: &'static str = "ecommerce.accounts.user.registered.v1";
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Registered { .. } => Self::REGISTERED,
        }
    }

    fn partition_key(&self) -> String {
        match self {
            AccountEvent::Registered { user_id, .. } => user_id.to_string(),
        }
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            AccountEvent::Registered { user_id, email, role } => {
                serde_json::json!({ "userId": user_id, "email": email, "role": role })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_type_follows_the_naming_contract() {
        assert!(kernel::EventType::parse(AccountEvent::REGISTERED).is_ok());
    }
}
