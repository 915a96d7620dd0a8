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

    /// The OAuth scopes a token of this role carries. The gateway checks them against
    /// `@requiresScopes` in the subgraph schemas before any subgraph runs; the subgraphs
    /// still check the role themselves.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Role::Customer | Role::Partner => &[],
            Role::Admin => &[
                scope::CATALOG_WRITE,
                scope::INVENTORY_WRITE,
                scope::INVENTORY_READ,
                scope::COUPONS_WRITE,
                scope::ORDERS_WRITE,
                scope::PAYMENTS_WRITE,
                scope::PARTNERS_WRITE,
                scope::LEDGER_READ,
                scope::SHIPPING_WRITE,
                scope::RETURNS_WRITE,
            ],
            Role::Service => &[
                scope::INVENTORY_WRITE,
                scope::INVENTORY_READ,
                scope::COUPONS_WRITE,
                scope::ORDERS_WRITE,
                scope::PAYMENTS_WRITE,
                scope::SHIPPING_WRITE,
                scope::RETURNS_WRITE,
            ],
        }
    }
}

/// The token contract between Accounts (which issues access tokens), the gateway (which
/// verifies them and signs identity assertions) and every subgraph (which verifies the
/// assertions).
pub mod tokens {
    /// Access tokens: who issues them, and for whom.
    pub const ACCESS_ISSUER: &str = "ecommerce-accounts";
    pub const ACCESS_AUDIENCE: &str = "ecommerce";
    /// The header subgraphs read the caller's identity assertion from.
    pub const IDENTITY_HEADER: &str = "x-identity";
    /// The address the client called the gateway from, which the gateway puts on every
    /// subgraph request (a client's own is dropped, as every `x-identity…` header is):
    /// what sign-in throttles count per address.
    pub const CLIENT_ADDRESS_HEADER: &str = "x-identity-client-address";
    /// Who may sign identity assertions: the gateway (for any verified caller) and the
    /// services (for themselves only, role SERVICE). Each signs with a key of its own
    /// (Ed25519), named by the token's `kid`; subgraphs hold only the public keys.
    pub const GATEWAY_ISSUER: &str = "ecommerce-gateway";
    pub const SERVICES_ISSUER: &str = "ecommerce-services";
    /// The longest an identity assertion may live, in seconds.
    pub const ASSERTION_TTL_SECONDS: u64 = 60;

    /// The audience of an identity assertion for the subgraph `subgraph`: an assertion
    /// is good for that one subgraph only.
    pub fn assertion_audience(subgraph: &str) -> String {
        format!("subgraph:{subgraph}")
    }

    /// The header of a gateway's incoming request that carries the assertion for
    /// `subgraph`, for the calls that no gateway hook sees (a subscription's first
    /// call); the router's header rules forward it to that subgraph as
    /// [`IDENTITY_HEADER`].
    pub fn propagated_header(subgraph: &str) -> String {
        format!("{IDENTITY_HEADER}-{subgraph}")
    }

    /// The keys used when none are configured: for a development machine only (a
    /// warning is logged; with `GATEWAY_ENV=production` nothing starts without real
    /// keys). Everyone can read these, so anything signed with them proves nothing.
    pub const DEVELOPMENT_JWT_SECRET: &str = "development-only-secret-set-JWT_SECRET-in-production";
    pub const DEVELOPMENT_GATEWAY_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEILuC6jGgq+linrAXFjBf3omomUldFSMiO2aa1mDuvA5S\n-----END PRIVATE KEY-----\n";
    pub const DEVELOPMENT_GATEWAY_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEASJgAXJZgzjY/qWMK1+4mY1cJghCxnunWe/jzRyyDQ5Q=\n-----END PUBLIC KEY-----\n";
    pub const DEVELOPMENT_SERVICE_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHgJSgTkSmUp9FR1EJelmn0qecZ8iY2kpSOEcWthNNZ1\n-----END PRIVATE KEY-----\n";
    pub const DEVELOPMENT_SERVICE_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGqVf3g8YJgB8JHFdiJGivrXV8IvU/pj/AzXw9Cle1R0=\n-----END PUBLIC KEY-----\n";

    /// The claims of our tokens, access tokens and identity assertions alike.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct Claims {
        /// The user's id (a plain value outside Accounts).
        pub sub: String,
        /// A [`super::Role`], as its `as_str`.
        pub role: String,
        /// The client application (a partner's name) the token was issued to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub client: Option<String>,
        /// OAuth scopes, space-separated (RFC 8693 §4.2): the role's, in access tokens,
        /// for the gateway's `@requiresScopes` checks. Absent in identity assertions.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub scope: String,
        pub iss: String,
        pub aud: String,
        pub iat: u64,
        pub exp: u64,
        /// A unique id, in identity assertions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub jti: Option<String>,
    }
}

/// The scopes that `@requiresScopes` in the subgraph schemas names.
pub mod scope {
    /// Create, edit, publish and reprice products.
    pub const CATALOG_WRITE: &str = "catalog:write";
    /// Adjust stock and move reservations.
    pub const INVENTORY_WRITE: &str = "inventory:write";
    /// Read the stock ledger and reservations (notes, the sales timeline, the checkout
    /// behind each hold): the shop's business, not the public's.
    pub const INVENTORY_READ: &str = "inventory:read";
    /// Create coupons and move redemptions.
    pub const COUPONS_WRITE: &str = "coupons:write";
    /// Place orders and move them through payment on behalf of the shop.
    pub const ORDERS_WRITE: &str = "orders:write";
    /// Authorize, capture, void and refund payments.
    pub const PAYMENTS_WRITE: &str = "payments:write";
    /// Issue partner tokens.
    pub const PARTNERS_WRITE: &str = "partners:write";
    /// Read the payments ledger.
    pub const LEDGER_READ: &str = "ledger:read";
    /// Manage shipping methods, their zones and rates.
    pub const SHIPPING_WRITE: &str = "shipping:write";
    /// Decide on customers' returns and move them on.
    pub const RETURNS_WRITE: &str = "returns:write";
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
