//! The shared kernel: the few plain-Rust types every bounded context agrees on.
//!
//! Typed ids, money, tax rates and lines, postal addresses, SKUs and quantities, the event envelope that is the platform's contract, and the
//! classification of domain errors. Nothing here knows about GraphQL, databases or
//! async runtimes; the adapters for those live in `kernel-infra`.

pub mod address;
pub mod error;
pub mod event;
pub mod goods;
pub mod id;
pub mod identity;
pub mod money;
pub mod tax;
pub mod text;

pub use address::{Address, AddressError, AddressInput, CountryCode, PhoneNumber, PostalCode};
pub use error::{Classify, ErrorKind};
pub use event::{DomainEvent, EventEnvelope, EventMeta, EventType, EventTypeError};
pub use goods::{Quantity, Sku, ValueError};
pub use id::IdError;
pub use identity::{Identity, Role};
pub use money::{Currency, Money, MoneyError};
pub use tax::{TaxCategory, TaxLine, TaxRate};
