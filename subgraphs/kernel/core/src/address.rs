//! Postal addresses: what a customer keeps in their address book, what a checkout
//! ships to and bills, and what an order and its shipment keep a copy of. One rule for
//! every context, so an address the book accepted is one the order accepts too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why an address (or one of its parts) was refused; `field` names the input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct AddressError {
    pub field: &'static str,
    pub reason: String,
}

impl AddressError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

impl crate::Classify for AddressError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::BadUserInput
    }
}

/// An ISO 3166-1 alpha-2 country code, e.g. `DE`: only assigned codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(isocountry::CountryCode);

impl CountryCode {
    /// Parses a code in any case (`de` is `DE`).
    pub fn parse(value: &str) -> Result<Self, AddressError> {
        let code = value.trim().to_ascii_uppercase();
        isocountry::CountryCode::for_alpha2(&code).map(Self).map_err(|_| {
            AddressError::new(
                "country",
                format!("`{}` is not an ISO 3166-1 alpha-2 country code", value.trim()),
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        self.0.alpha2()
    }

    /// The country's English name (ISO 3166-1).
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = AddressError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl TryFrom<String> for CountryCode {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CountryCode> for String {
    fn from(code: CountryCode) -> Self {
        code.as_str().to_owned()
    }
}

/// The postal code forms of the countries whose form is checked: `9` a digit, `A` a
/// letter, anything else itself. Spaces and hyphens in a form are optional in what a
/// customer types; the stored code is written in the form. Other countries' codes are
/// free text.
const POSTAL_FORMS: &[(&str, &[&str])] = &[
    ("US", &["99999", "99999-9999"]),
    ("CA", &["A9A 9A9"]),
    (
        "GB",
        &["A9 9AA", "A99 9AA", "AA9 9AA", "AA99 9AA", "A9A 9AA", "AA9A 9AA"],
    ),
    ("DE", &["99999"]),
    ("FR", &["99999"]),
    ("NL", &["9999 AA"]),
    ("JP", &["999-9999"]),
    ("AU", &["9999"]),
    ("CN", &["999999"]),
];

fn is_separator(c: char) -> bool {
    c == ' ' || c == '-'
}

/// `value` (upper-case, without separators) written in `form`, if it has the form.
fn in_form(value: &str, form: &str) -> Option<String> {
    let slots: Vec<char> = form.chars().filter(|c| !is_separator(*c)).collect();
    let chars: Vec<char> = value.chars().collect();
    if chars.len() != slots.len() {
        return None;
    }
    let fits = chars.iter().zip(&slots).all(|(c, slot)| match slot {
        '9' => c.is_ascii_digit(),
        'A' => c.is_ascii_uppercase(),
        other => c == other,
    });
    if !fits {
        return None;
    }
    let mut written = String::with_capacity(form.len());
    let mut next = chars.into_iter();
    for slot in form.chars() {
        if is_separator(slot) {
            written.push(slot);
        } else {
            written.extend(next.next());
        }
    }
    Some(written)
}

/// A postal code, checked against its country's form where the form is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostalCode(String);

impl PostalCode {
    pub fn parse(value: &str, country: CountryCode) -> Result<Self, AddressError> {
        let value = value.trim();
        if let Some((_, forms)) = POSTAL_FORMS.iter().find(|(code, _)| *code == country.as_str()) {
            let bare: String = value
                .chars()
                .filter(|c| !is_separator(*c))
                .map(|c| c.to_ascii_uppercase())
                .collect();
            return forms
                .iter()
                .find_map(|form| in_form(&bare, form))
                .map(Self)
                .ok_or_else(|| {
                    AddressError::new(
                        "postalCode",
                        format!(
                            "`{value}` is not a postal code of {} ({})",
                            country.name(),
                            forms.join(" or ")
                        ),
                    )
                });
        }
        let length = value.chars().count();
        if length > 16 || value.chars().any(char::is_control) {
            return Err(AddressError::new(
                "postalCode",
                "must have at most 16 printable characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A telephone number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a number; spaces, hyphens, dots and parentheses between digits are
    /// dropped (`+1 (415) 555-0100` is `+14155550100`).
    pub fn parse(value: &str) -> Result<Self, AddressError> {
        let value = value.trim();
        let refuse = || {
            AddressError::new(
                "phone",
                format!("`{value}` is not an E.164 number (+ and 8 to 15 digits)"),
            )
        };
        let rest = value.strip_prefix('+').ok_or_else(refuse)?;
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(refuse()),
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(refuse());
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A line of free text in an address: trimmed, 1 to `max` printable characters.
fn line(field: &'static str, value: &str, max: usize) -> Result<String, AddressError> {
    crate::text::printable_line(value, max)
        .map(str::to_owned)
        .ok_or_else(|| AddressError::new(field, crate::text::printable_line_rule(max)))
}

/// An optional line: absent or blank is none.
fn optional_line(field: &'static str, value: Option<&str>, max: usize) -> Result<Option<String>, AddressError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => line(field, value, max).map(Some),
    }
}

/// An address as typed, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressInput {
    pub name: String,
    pub company: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
    pub phone: Option<String>,
}

/// A checked postal address. Serialised (camelCase) as orders and events keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AddressInput", into = "AddressInput")]
pub struct Address {
    name: String,
    company: Option<String>,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: Option<PostalCode>,
    country: CountryCode,
    phone: Option<PhoneNumber>,
}

/// The countries where an address needs a postal code: those whose form is checked.
fn needs_postal_code(country: CountryCode) -> bool {
    POSTAL_FORMS.iter().any(|(code, _)| *code == country.as_str())
}

impl Address {
    /// Checks every part; the first refused part is the error.
    pub fn parse(input: &AddressInput) -> Result<Self, AddressError> {
        let country = CountryCode::parse(&input.country)?;
        let postal_code = match input.postal_code.as_deref().map(str::trim) {
            None | Some("") if needs_postal_code(country) => {
                return Err(AddressError::new(
                    "postalCode",
                    format!("is required for {}", country.name()),
                ));
            }
            None | Some("") => None,
            Some(code) => Some(PostalCode::parse(code, country)?),
        };
        Ok(Self {
            name: line("name", &input.name, 100)?,
            company: optional_line("company", input.company.as_deref(), 100)?,
            line1: line("line1", &input.line1, 200)?,
            line2: optional_line("line2", input.line2.as_deref(), 200)?,
            city: line("city", &input.city, 100)?,
            region: optional_line("region", input.region.as_deref(), 100)?,
            postal_code,
            country,
            phone: input
                .phone
                .as_deref()
                .map(str::trim)
                .filter(|phone| !phone.is_empty())
                .map(PhoneNumber::parse)
                .transpose()?,
        })
    }

    /// The recipient's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn company(&self) -> Option<&str> {
        self.company.as_deref()
    }
    pub fn line1(&self) -> &str {
        &self.line1
    }
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    /// The state, province or region, where the country has them.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn postal_code(&self) -> Option<&PostalCode> {
        self.postal_code.as_ref()
    }
    pub fn country(&self) -> CountryCode {
        self.country
    }
    pub fn phone(&self) -> Option<&PhoneNumber> {
        self.phone.as_ref()
    }
}

impl TryFrom<AddressInput> for Address {
    type Error = AddressError;
    fn try_from(input: AddressInput) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<Address> for AddressInput {
    fn from(address: Address) -> Self {
        Self {
            name: address.name,
            company: address.company,
            line1: address.line1,
            line2: address.line2,
            city: address.city,
            region: address.region,
            postal_code: address.postal_code.map(|code| code.0),
            country: address.country.as_str().to_owned(),
            phone: address.phone.map(|phone| phone.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> CountryCode {
        CountryCode::parse(code).unwrap()
    }

    #[test]
    fn country_codes_are_assigned_iso_codes_in_any_case() {
        assert_eq!(country(" de ").as_str(), "DE");
        assert_eq!(country("jp").name(), "Japan");
        for bad in ["", "D", "DEU", "XX", "ZZ", "uk", "1A"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postal_codes_follow_their_country_and_are_written_in_its_form() {
        let cases = [
            ("US", "94105", "94105"),
            ("US", "941051234", "94105-1234"),
            ("CA", "k1a0b1", "K1A 0B1"),
            ("GB", "sw1a1aa", "SW1A 1AA"),
            ("GB", "M1 1AE", "M1 1AE"),
            ("GB", "EC1A 1BB", "EC1A 1BB"),
            ("DE", "10115", "10115"),
            ("FR", "75008", "75008"),
            ("NL", "1012ab", "1012 AB"),
            ("JP", "1000001", "100-0001"),
            ("JP", "100-0001", "100-0001"),
            ("AU", "2000", "2000"),
            ("CN", "100000", "100000"),
            ("BR", "01310-100", "01310-100"),
        ];
        for (code, typed, stored) in cases {
            assert_eq!(
                PostalCode::parse(typed, country(code)).unwrap().as_str(),
                stored,
                "{code} {typed}"
            );
        }
        let refused = [
            ("US", "9410"),
            ("US", "ABCDE"),
            ("CA", "123 456"),
            ("GB", "12345"),
            ("DE", "1011"),
            ("NL", "AB 1012"),
            ("JP", "100-001"),
            ("AU", "20000"),
            ("CN", "10000"),
            ("BR", "0131010001310100X"),
        ];
        for (code, typed) in refused {
            let err = PostalCode::parse(typed, country(code)).unwrap_err();
            assert_eq!(err.field, "postalCode", "{code} {typed}");
        }
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-0100").unwrap().as_str(),
            "+14155550100"
        );
        assert_eq!(PhoneNumber::parse("+49 30 1234567").unwrap().as_str(), "+49301234567");
        for bad in [
            "4155550100",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1 415 CALL NOW",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    fn input() -> AddressInput {
        AddressInput {
            name: " Ann Example ".into(),
            line1: "1 Main St".into(),
            line2: Some("  ".into()),
            city: "San Francisco".into(),
            region: Some("CA".into()),
            postal_code: Some("94105".into()),
            country: "us".into(),
            phone: Some("+1 415 555 0100".into()),
            ..AddressInput::default()
        }
    }

    #[test]
    fn an_address_is_trimmed_checked_and_round_trips_through_json() {
        let address = Address::parse(&input()).unwrap();
        assert_eq!(address.name(), "Ann Example");
        assert_eq!(address.line2(), None, "a blank line is none");
        assert_eq!(address.country().as_str(), "US");
        assert_eq!(address.phone().unwrap().as_str(), "+14155550100");
        let json = serde_json::to_value(&address).unwrap();
        assert_eq!(json["postalCode"], "94105");
        assert_eq!(json["country"], "US");
        assert_eq!(serde_json::from_value::<Address>(json).unwrap(), address);
        let mut stored = serde_json::to_value(&address).unwrap();
        stored["country"] = "XX".into();
        assert!(
            serde_json::from_value::<Address>(stored).is_err(),
            "JSON goes through the same checks"
        );
    }

    #[test]
    fn each_refused_part_is_named() {
        let refused = |change: &dyn Fn(&mut AddressInput)| {
            let mut input = input();
            change(&mut input);
            Address::parse(&input).unwrap_err().field
        };
        assert_eq!(refused(&|i| i.country = "XX".into()), "country");
        assert_eq!(refused(&|i| i.line1 = " ".into()), "line1");
        assert_eq!(refused(&|i| i.city = String::new()), "city");
        assert_eq!(refused(&|i| i.name = "x".repeat(101)), "name");
        assert_eq!(refused(&|i| i.postal_code = None), "postalCode");
        assert_eq!(refused(&|i| i.postal_code = Some("SW1A 1AA".into())), "postalCode");
        assert_eq!(refused(&|i| i.phone = Some("555-0100".into())), "phone");
        assert_eq!(refused(&|i| i.line2 = Some("a\u{0}b".into())), "line2");
        // A country without a known form takes its code as written, or none.
        let mut elsewhere = input();
        elsewhere.country = "IE".into();
        elsewhere.postal_code = None;
        assert!(Address::parse(&elsewhere).is_ok());
    }
}
