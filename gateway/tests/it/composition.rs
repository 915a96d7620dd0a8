//! Composition errors over the fixture cases: each names the subgraphs, types and
//! fields involved, with file and line, as its snapshot shows.

use gateway::compose::compose;

use crate::fixtures;

#[test]
fn every_composition_error_case_points_at_the_subgraph_lines_involved() {
    let cases = fixtures::cases("composition-errors");
    assert_eq!(cases.len(), 5, "{:?}", cases.keys());
    for (name, case) in &cases {
        let error = compose(&fixtures::edited(name, case))
            .err()
            .unwrap_or_else(|| panic!("{name}: the edited subgraphs compose"));
        let rendered = error.render(&|subgraph| format!("{subgraph}.graphql"));
        assert!(rendered.contains(".graphql:"), "{name}: no location in {rendered}");
        insta::with_settings!({ description => case.about.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name.as_str(), rendered);
        });
    }
}

#[test]
fn the_base_fixture_and_our_own_subgraphs_compose_without_errors() {
    compose(&fixtures::base()).unwrap();
    let ours = gateway::compose::compose_dir(
        &crate::repo().join("schema/subgraphs"),
        &crate::repo().join("schema/subgraphs.json"),
    );
    assert!(ours.is_ok(), "{:?}", ours.err());
}
