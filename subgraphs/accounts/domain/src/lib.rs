//! The Accounts context's domain: users, their roles, the rules for their
//! credentials, and their address books. Plain Rust; hashing and tokens are the service crate's adapters.

pub mod address_book;
pub mod error;
pub mod event;
pub mod partner;
pub mod user;

pub use address_book::{AddressBook, AddressBookState, AddressId, Purpose, SavedAddress};
pub use error::AccountError;
pub use event::AccountEvent;
pub use partner::PartnerName;
pub use user::{DisplayName, Email, Password, PasswordHash, Role, User, UserState};

kernel::typed_id!(UserId, "user");
