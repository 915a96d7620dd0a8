//! The Cart context: one active cart per customer (or per anonymous session), its
//! lines, and a price estimate from a local price table that Products' events keep
//! current. The estimate is a hint; checkout prices the order from the catalog.
//!
//! - [`cart`]: the cart, its status and its moves;
//! - [`line`]: a line, its capped quantity, and a SKU's price as the cart knows it;
//! - [`owner`]: whose cart it is (a customer, or an anonymous session's token);
//! - [`event`]: the events Cart publishes;
//! - [`error`]: what the rules refuse.

pub mod cart;
pub mod error;
pub mod event;
pub mod line;
pub mod owner;

pub use cart::{Cart, CartStatus, MAX_LINES, StoredCart};
pub use error::CartError;
pub use event::{CartEvent, CartEventKind};
pub use line::{CartLine, KnownPrice, LineQuantity};
pub use owner::{CartOwner, SessionToken};

kernel::typed_id!(CartId, "cart");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use kernel::{Classify, Currency, ErrorKind, EventType, Money, Sku};

    fn sku(value: &str) -> Sku {
        Sku::parse(value).unwrap()
    }

    fn units(n: i64) -> LineQuantity {
        LineQuantity::new(n).unwrap()
    }

    fn price(code: &str, amount: i64) -> KnownPrice {
        KnownPrice {
            sku: sku(code),
            product_id: uuid::Uuid::now_v7(),
            name: code.into(),
            price: Money::new(amount, Currency::parse("USD").unwrap()),
        }
    }

    fn guest() -> CartOwner {
        CartOwner::Session(SessionToken::parse("0123456789abcdef").unwrap())
    }

    #[test]
    fn lines_add_up_change_and_go() {
        let now = Utc::now();
        let mut cart = Cart::new(CartOwner::User(uuid::Uuid::now_v7()), now);
        let (a, b) = (price("A-1", 250), price("B-1", 1000));
        cart.add(&a, units(2), now).unwrap();
        cart.add(&a, units(1), now).unwrap();
        cart.add(&b, units(1), now).unwrap();
        assert_eq!(cart.lines()[0].quantity(), units(3));
        let (total, unknown) = cart.estimate(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(total.unwrap().amount(), 1750);
        assert!(unknown.is_empty());
        let (_, unknown) = cart.estimate(std::slice::from_ref(&a)).unwrap();
        assert_eq!(unknown, [sku("B-1")]);
        cart.remove(&sku("A-1"), now).unwrap();
        assert_eq!(cart.lines().len(), 1);
        assert_eq!(
            cart.set_quantity(&sku("A-1"), units(1), now),
            Err(CartError::NotInCart("A-1".into()))
        );
        cart.set_quantity(&sku("B-1"), units(4), now).unwrap();
        assert_eq!(cart.lines()[0].quantity(), units(4));
        assert!(
            cart.add(&b, units(LineQuantity::MAX - 1), now).is_err(),
            "the total of a line is capped too"
        );
        assert_eq!(
            cart.lines()[0].quantity(),
            units(4),
            "and a refused add changes nothing"
        );
    }

    #[test]
    fn a_line_holds_1_to_999_units() {
        for bad in [0, -1, LineQuantity::MAX + 1] {
            assert_eq!(LineQuantity::new(bad).unwrap_err().kind(), ErrorKind::BadUserInput);
        }
        assert_eq!(units(LineQuantity::MAX).get(), 999);
    }

    #[test]
    fn a_cart_holds_at_most_its_lines() {
        let now = Utc::now();
        let mut cart = Cart::new(CartOwner::User(uuid::Uuid::now_v7()), now);
        for n in 0..MAX_LINES {
            cart.add(&price(&format!("L-{n}"), 1), units(1), now).unwrap();
        }
        let err = cart.add(&price("ONE-MORE", 1), units(1), now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadUserInput);
        cart.add(&price("L-0", 1), units(1), now).unwrap();
    }

    #[test]
    fn a_cart_absorbs_another_up_to_each_lines_cap() {
        let now = Utc::now();
        let (a, b) = (price("A-1", 100), price("B-1", 200));
        let mut mine = Cart::new(CartOwner::User(uuid::Uuid::now_v7()), now);
        mine.add(&a, units(LineQuantity::MAX - 1), now).unwrap();
        let mut theirs = Cart::new(guest(), now);
        theirs.add(&a, units(5), now).unwrap();
        theirs.add(&b, units(2), now).unwrap();
        theirs.add(&price("C-1", 1), units(1), now).unwrap();
        mine.absorb(&theirs, &[a, b], now).unwrap();
        let quantities: Vec<(&str, i64)> = mine
            .lines()
            .iter()
            .map(|l| (l.sku().as_str(), l.quantity().get()))
            .collect();
        assert_eq!(quantities, [("A-1", LineQuantity::MAX), ("B-1", 2)]);
    }

    #[test]
    fn a_closed_cart_does_not_change() {
        let now = Utc::now();
        let mut cart = Cart::new(guest(), now);
        cart.add(&price("A-1", 100), units(1), now).unwrap();
        cart.check_out(now).unwrap();
        let err = cart.add(&price("A-1", 100), units(1), now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(cart.remove(&sku("A-1"), now).is_err());
        assert!(cart.expire(now).is_err());
        assert_eq!(cart.status(), CartStatus::CheckedOut);
    }

    #[test]
    fn a_session_token_is_long_and_plain() {
        for bad in ["short", &"x".repeat(129), "0123456789abcdef!", "0123456789 abcdef"] {
            assert_eq!(
                SessionToken::parse(bad).unwrap_err().kind(),
                ErrorKind::BadUserInput,
                "{bad}"
            );
        }
        assert_eq!(
            SessionToken::parse("0123456789abcdef-_").unwrap().as_str(),
            "0123456789abcdef-_"
        );
    }

    #[test]
    fn event_names_follow_the_contract() {
        for name in [CartEvent::UPDATED, CartEvent::CHECKED_OUT, CartEvent::EXPIRED] {
            assert_eq!(EventType::parse(name).unwrap().version(), 1);
        }
    }
}
