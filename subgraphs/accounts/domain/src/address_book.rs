//! A customer's address book: the addresses they ship to and are billed at, with one
//! default for each purpose.

use chrono::{DateTime, Utc};
use kernel::Address;

use crate::{AccountError, UserId};

kernel::typed_id!(AddressId, "address");

/// What an address is a default for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Shipping,
    Billing,
}

/// One address of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAddress {
    pub id: AddressId,
    pub address: Address,
    pub created_at: DateTime<Utc>,
}

/// Everything a book holds, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBookState {
    pub owner: UserId,
    /// Oldest first.
    pub entries: Vec<SavedAddress>,
    pub default_shipping: Option<AddressId>,
    pub default_billing: Option<AddressId>,
}

/// A user's addresses. A default always names an address of the book: the first
/// address saved becomes the default for both purposes, and removing a default
/// address passes its role to the oldest address left, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBook {
    state: AddressBookState,
}

impl AddressBook {
    /// The most addresses one book keeps.
    pub const CAPACITY: usize = 20;

    pub fn empty(owner: UserId) -> Self {
        Self {
            state: AddressBookState {
                owner,
                entries: Vec::new(),
                default_shipping: None,
                default_billing: None,
            },
        }
    }

    /// A stored book; defaults that name no address of it are dropped.
    pub fn restore(mut state: AddressBookState) -> Self {
        let known = |id: Option<AddressId>| id.filter(|id| state.entries.iter().any(|entry| entry.id == *id));
        state.default_shipping = known(state.default_shipping);
        state.default_billing = known(state.default_billing);
        Self { state }
    }

    pub fn state(&self) -> &AddressBookState {
        &self.state
    }

    pub fn get(&self, id: AddressId) -> Option<&SavedAddress> {
        self.state.entries.iter().find(|entry| entry.id == id)
    }

    pub fn default_for(&self, purpose: Purpose) -> Option<&SavedAddress> {
        let id = match purpose {
            Purpose::Shipping => self.state.default_shipping,
            Purpose::Billing => self.state.default_billing,
        };
        id.and_then(|id| self.get(id))
    }

    pub fn is_default(&self, id: AddressId, purpose: Purpose) -> bool {
        self.default_for(purpose).is_some_and(|entry| entry.id == id)
    }

    /// Saves a new address, the default for each purpose in `defaults` (and for every
    /// purpose that has none yet).
    ///
    /// # Errors
    /// When the book is full.
    pub fn add(
        &mut self,
        address: Address,
        defaults: &[Purpose],
        now: DateTime<Utc>,
    ) -> Result<AddressId, AccountError> {
        if self.state.entries.len() >= Self::CAPACITY {
            return Err(AccountError::AddressBookFull {
                capacity: Self::CAPACITY,
            });
        }
        let id = AddressId::new();
        self.state.entries.push(SavedAddress {
            id,
            address,
            created_at: now,
        });
        for purpose in [Purpose::Shipping, Purpose::Billing] {
            if defaults.contains(&purpose) || self.default_for(purpose).is_none() {
                self.set_default(id, purpose);
            }
        }
        Ok(id)
    }

    /// Replaces an address; it keeps its id and its defaults.
    ///
    /// # Errors
    /// When the book has no address `id`.
    pub fn update(&mut self, id: AddressId, address: Address) -> Result<(), AccountError> {
        let entry = self
            .state
            .entries
            .iter_mut()
            .find(|entry| entry.id == id)
            .ok_or(AccountError::UnknownAddress)?;
        entry.address = address;
        Ok(())
    }

    /// Removes an address; a default it was passes to the oldest address left.
    ///
    /// # Errors
    /// When the book has no address `id`.
    pub fn remove(&mut self, id: AddressId) -> Result<(), AccountError> {
        let before = self.state.entries.len();
        self.state.entries.retain(|entry| entry.id != id);
        if self.state.entries.len() == before {
            return Err(AccountError::UnknownAddress);
        }
        let oldest = self.state.entries.first().map(|entry| entry.id);
        for default in [&mut self.state.default_shipping, &mut self.state.default_billing] {
            if *default == Some(id) {
                *default = oldest;
            }
        }
        Ok(())
    }

    /// Makes an address the default for `purpose`.
    ///
    /// # Errors
    /// When the book has no address `id`.
    pub fn make_default(&mut self, id: AddressId, purpose: Purpose) -> Result<(), AccountError> {
        if self.get(id).is_none() {
            return Err(AccountError::UnknownAddress);
        }
        self.set_default(id, purpose);
        Ok(())
    }

    fn set_default(&mut self, id: AddressId, purpose: Purpose) {
        match purpose {
            Purpose::Shipping => self.state.default_shipping = Some(id),
            Purpose::Billing => self.state.default_billing = Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(city: &str) -> Address {
        Address::parse(&kernel::AddressInput {
            name: "Ann".into(),
            line1: "1 Main St".into(),
            city: city.into(),
            postal_code: Some("10115".into()),
            country: "DE".into(),
            ..kernel::AddressInput::default()
        })
        .unwrap()
    }

    #[test]
    fn the_first_address_is_the_default_for_both_purposes_until_another_is_chosen() {
        let mut book = AddressBook::empty(UserId::new());
        let home = book.add(address("Berlin"), &[], Utc::now()).unwrap();
        assert!(book.is_default(home, Purpose::Shipping) && book.is_default(home, Purpose::Billing));
        let office = book.add(address("Hamburg"), &[Purpose::Billing], Utc::now()).unwrap();
        assert!(book.is_default(home, Purpose::Shipping));
        assert!(book.is_default(office, Purpose::Billing));
        book.make_default(office, Purpose::Shipping).unwrap();
        assert_eq!(book.default_for(Purpose::Shipping).unwrap().address.city(), "Hamburg");
    }

    #[test]
    fn removing_a_default_passes_it_to_the_oldest_address_left() {
        let mut book = AddressBook::empty(UserId::new());
        let first = book.add(address("Berlin"), &[], Utc::now()).unwrap();
        let second = book.add(address("Hamburg"), &[], Utc::now()).unwrap();
        let third = book.add(address("Munich"), &[Purpose::Shipping], Utc::now()).unwrap();
        book.remove(third).unwrap();
        assert!(book.is_default(first, Purpose::Shipping));
        book.remove(first).unwrap();
        assert!(book.is_default(second, Purpose::Shipping) && book.is_default(second, Purpose::Billing));
        book.remove(second).unwrap();
        assert!(book.default_for(Purpose::Shipping).is_none());
        assert_eq!(book.remove(second), Err(AccountError::UnknownAddress));
    }

    #[test]
    fn a_book_holds_at_most_its_capacity_and_knows_only_its_own_addresses() {
        let mut book = AddressBook::empty(UserId::new());
        for _ in 0..AddressBook::CAPACITY {
            book.add(address("Berlin"), &[], Utc::now()).unwrap();
        }
        assert!(matches!(
            book.add(address("Berlin"), &[], Utc::now()),
            Err(AccountError::AddressBookFull { .. })
        ));
        let stranger = AddressId::new();
        assert_eq!(
            book.update(stranger, address("Bonn")),
            Err(AccountError::UnknownAddress)
        );
        assert_eq!(
            book.make_default(stranger, Purpose::Billing),
            Err(AccountError::UnknownAddress)
        );
    }

    #[test]
    fn a_restored_book_drops_defaults_that_name_no_address_of_it() {
        let book = AddressBook::restore(AddressBookState {
            owner: UserId::new(),
            entries: Vec::new(),
            default_shipping: Some(AddressId::new()),
            default_billing: None,
        });
        assert!(book.default_for(Purpose::Shipping).is_none());
        assert_eq!(book.state().default_shipping, None);
    }
}
