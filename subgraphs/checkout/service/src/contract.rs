//! The operations the saga sends other subgraphs: a contract between teams, kept as a
//! `.graphql` file beside the clients' operations
//! (`frontend-contracts/services/checkout/saga.graphql`), where `gateway contracts
//! --check` validates them and `platform schema check` sees a change that breaks one.
//! The file is compiled in; each call sends one operation of it.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The contract as committed.
pub const DOCUMENT: &str = include_str!("../../../../frontend-contracts/services/checkout/saga.graphql");

static OPERATIONS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| split(DOCUMENT));

/// The operation named `name`, alone.
///
/// # Panics
/// When the contract has no such operation: a mistake the unit test below catches for
/// every name the saga uses.
pub fn operation(name: &str) -> &'static str {
    OPERATIONS
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("the checkout contract has no operation `{name}`"))
}

/// Each operation of the document by name: from its `query Name` or `mutation Name`
/// line to the first line that is a lone `}` (the file's layout, checked by the test).
fn split(document: &'static str) -> HashMap<&'static str, &'static str> {
    let mut operations = HashMap::new();
    let mut start: Option<(usize, &str)> = None;
    let mut offset = 0;
    for line in document.split_inclusive('\n') {
        let header = line.strip_prefix("query ").or_else(|| line.strip_prefix("mutation "));
        if let Some(rest) = header {
            let name_end = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            start = Some((offset, &rest[..name_end]));
        }
        if line.trim_end() == "}"
            && let Some((begin, name)) = start.take()
        {
            operations.insert(name, document[begin..offset + line.len()].trim_end());
        }
        offset += line.len();
    }
    operations
}

/// Every operation name the saga sends.
pub const USED: [&str; 25] = [
    "CheckoutCart",
    "PriceCartItems",
    "CustomerAddressBook",
    "QuoteShipping",
    "ReserveStock",
    "CommitReservation",
    "ReleaseReservation",
    "ReturnReservation",
    "ReserveRedemption",
    "CommitRedemption",
    "ReleaseRedemption",
    "ReturnRedemption",
    "PlaceOrder",
    "MarkOrderPaid",
    "CancelOrder",
    "AuthorizePayment",
    "CapturePayment",
    "VoidPayment",
    "RefundPayment",
    "StopShipment",
    "MarkReturnReceived",
    "RefundReturn",
    "RestockReturn",
    "MarkReturnRefunded",
    "ReopenReturn",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_the_saga_sends_is_in_the_contract_alone_and_whole() {
        for name in USED {
            let text = operation(name);
            let document = async_graphql::parser::parse_query(text).unwrap_or_else(|err| panic!("{name}: {err}"));
            let operations: Vec<_> = document.operations.iter().collect();
            assert_eq!(operations.len(), 1, "{name}: {text}");
            assert_eq!(operations[0].0.map(|n| n.as_str()), Some(name), "{text}");
        }
        let whole = async_graphql::parser::parse_query(DOCUMENT).unwrap();
        assert_eq!(
            whole.operations.iter().count(),
            OPERATIONS.len(),
            "every operation is found"
        );
    }
}
