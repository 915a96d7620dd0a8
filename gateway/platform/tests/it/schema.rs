use std::path::Path;

#[test]
fn committed_sdl_files_match_what_the_code_produces() {
    let schema_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema");
    let stale = platform::schema_files::stale(&schema_dir).unwrap();
    assert!(
        stale.is_empty(),
        "stale schema files {stale:?}: run `cargo run -p platform -- schema`"
    );
}

/// What CI's schema gate reads: the acknowledgements file parses and the committed
/// supergraph checked against itself has no changes.
#[test]
fn the_committed_acknowledgements_parse_and_the_schema_checks_clean_against_itself() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let acks = gateway::schema_check::load_acknowledgements(&repo.join("schema/acknowledged-changes.yaml")).unwrap();
    assert!(acks.iter().all(|a| !a.reason.trim().is_empty()));
    let supergraph = std::fs::read_to_string(repo.join("schema/supergraph.graphql")).unwrap();
    let report =
        gateway::schema_check::check(&supergraph, &supergraph, &repo.join("frontend-contracts"), &acks).unwrap();
    assert!(report.passed && report.changes.is_empty(), "{}", report.to_markdown());
}

#[test]
fn the_supergraph_joins_every_root_type_to_its_subgraphs() {
    let endpoints = platform::CONTEXTS
        .iter()
        .map(|spec| (spec.name.to_string(), format!("http://{}/graphql", spec.name)))
        .collect();
    let supergraph = platform::supergraph(&endpoints).unwrap();
    for root in ["type Query", "type Mutation"] {
        let head: Vec<&str> = supergraph
            .lines()
            .skip_while(|l| *l != root)
            .take_while(|l| *l != "{")
            .collect();
        assert!(head.contains(&"  @join__type(graph: PRODUCTS)"), "{root}: {head:?}");
        assert!(head.contains(&"  @join__type(graph: INVENTORY)"), "{root}: {head:?}");
    }
}

/// Every scope a subgraph's `@requiresScopes` names is one some role's token carries:
/// a typo in a `requires_scopes` attribute would otherwise lock everyone out.
#[test]
fn every_required_scope_is_granted_to_some_role() {
    let supergraph =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/supergraph.graphql")).unwrap();
    let granted: Vec<&str> = [
        kernel::Role::Customer,
        kernel::Role::Admin,
        kernel::Role::Partner,
        kernel::Role::Service,
    ]
    .iter()
    .flat_map(|role| role.scopes().iter().copied())
    .collect();
    let mut required = Vec::new();
    for usage in supergraph.split("@requiresScopes(scopes: ").skip(1) {
        let list = &usage[..usage.find(")").unwrap()];
        required.extend(list.split('"').skip(1).step_by(2).map(str::to_owned));
    }
    assert!(required.len() >= 20, "{required:?}");
    for scope in &required {
        assert!(
            granted.contains(&scope.as_str()),
            "`{scope}` is required but no role has it"
        );
    }
}
