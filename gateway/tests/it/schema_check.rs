//! `schema check` over the fixture cases: every change class, classified, with the
//! client operations each breaking change hits, as the Markdown a reviewer reads.

use gateway::compose::compose;
use gateway::schema_check::check;

use crate::fixtures;

#[test]
fn every_change_case_is_reported_as_its_snapshot() {
    let base = compose(&fixtures::base()).unwrap();
    let cases = fixtures::cases("changes");
    assert!(cases.len() >= 12, "{:?}", cases.keys());
    for (name, case) in &cases {
        let proposed = compose(&fixtures::edited(name, case))
            .unwrap_or_else(|err| panic!("{name}: the edited subgraphs do not compose: {err}"));
        let report = check(
            &base,
            &proposed,
            &fixtures::dir().join("contracts"),
            &case.acknowledgements(),
        )
        .unwrap();
        insta::with_settings!({ description => case.about.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name.as_str(), report.to_markdown());
        });
    }
}

#[test]
fn a_breaking_change_a_partner_uses_fails_and_one_nobody_uses_passes() {
    let base = compose(&fixtures::base()).unwrap();
    let contracts = fixtures::dir().join("contracts");
    let cases = fixtures::cases("changes");

    let partner = &cases["field_removed_used_by_a_partner"];
    let proposed = compose(&fixtures::edited("partner", partner)).unwrap();
    let report = check(&base, &proposed, &contracts, &[]).unwrap();
    assert!(!report.passed);
    let removed = &report.changes[0];
    assert_eq!(
        (removed.change.kind, removed.change.coordinate.as_str()),
        ("FIELD_REMOVED", "Product.description")
    );
    assert_eq!(removed.used_by.len(), 1);
    assert_eq!(
        (
            removed.used_by[0].client.as_str(),
            removed.used_by[0].operation.as_str()
        ),
        ("acme", "AcmeFeed")
    );

    let unused = &cases["field_removed_used_by_no_client"];
    let proposed = compose(&fixtures::edited("unused", unused)).unwrap();
    let report = check(&base, &proposed, &contracts, &[]).unwrap();
    assert!(report.passed, "{}", report.to_markdown());
    assert_eq!(report.summary.breaking, 1);

    let acknowledged = &cases["acknowledged"];
    let proposed = compose(&fixtures::edited("acknowledged", acknowledged)).unwrap();
    let report = check(&base, &proposed, &contracts, &acknowledged.acknowledgements()).unwrap();
    assert!(report.passed, "{}", report.to_markdown());
    assert_eq!(report.unused_acknowledgements, ["FIELD_REMOVED Product.name"]);
}

#[test]
fn the_json_report_names_severity_kind_coordinate_and_users() {
    let base = compose(&fixtures::base()).unwrap();
    let case = &fixtures::cases("changes")["enum_values"];
    let proposed = compose(&fixtures::edited("enum_values", case)).unwrap();
    let report = check(&base, &proposed, &fixtures::dir().join("contracts"), &[]).unwrap();
    insta::assert_snapshot!(report.to_json());
}

#[test]
fn the_same_supergraph_has_no_changes() {
    let base = compose(&fixtures::base()).unwrap();
    let report = check(&base, &base, &fixtures::dir().join("contracts"), &[]).unwrap();
    assert!(report.passed && report.changes.is_empty());
}
