//! Who is calling: the identity every context authorizes by. Accounts issues it;
//! kernel-infra verifies it on every request.

use std::fmt;

/// What a user may do across the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Admin,
    Partner,
    /// Another context acting in a saga or job (e.g. Checkout reserving stock). Only
    /// holders of the signing key can mint it; no user ever has it.
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "CUSTOMER",
            Role::Admin => "ADMIN",
            Role::Partner => "PARTNER",
            Role::Service => "SERVICE",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Role::Customer, Role::Admin, Role::Partner, Role::Service]
            .into_iter()
            .find(|r| r.as_str() == value)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated user: their id (the Accounts context's user id, a plain value
/// elsewhere) and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: uuid::Uuid,
    pub role: Role,
}

impl Identity {
    /// True for the shop's staff and for other contexts acting for the shop.
    pub fn is_privileged(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Service)
    }

    /// May this caller act on something that belongs to `owner`?
    pub fn may_act_for(&self, owner: uuid::Uuid) -> bool {
        self.user_id == owner || self.is_privileged()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Customer, Role::Admin, Role::Partner, Role::Service] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("customer"), None);
    }
}
