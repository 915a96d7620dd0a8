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

/// The deployment files are written from the context descriptions: a context, port or
/// setting missing from them (or an edit by hand) fails here.
#[test]
fn committed_deployment_files_match_the_context_descriptions() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let stale = platform::deploy::stale(&deploy);
    assert!(
        stale.is_empty(),
        "stale (run `cargo run -p platform -- deploy`): {stale:?}"
    );

    let compose: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(deploy.join("compose.yaml")).unwrap()).unwrap();
    for spec in &platform::CONTEXTS {
        let service = &compose["services"][spec.name];
        assert_eq!(service["command"], serde_json::json!(["platform", spec.name]));
        let upper = spec.name.to_ascii_uppercase();
        assert!(
            service["environment"][format!("{upper}_DATABASE_URL")].is_string(),
            "{service}"
        );
        assert_eq!(
            service["environment"][format!("{upper}_LISTEN")],
            format!("0.0.0.0:{}", spec.default_port())
        );
        let manifests = std::fs::read_to_string(deploy.join(format!("kubernetes/base/{}.yaml", spec.name))).unwrap();
        assert!(
            manifests.contains(&format!("containerPort: {}", spec.default_port())),
            "{manifests}"
        );
        assert!(manifests.contains("path: /readiness") && manifests.contains("path: /health"));
        // Kubernetes' service-link variables would collide with the configuration's.
        assert!(manifests.contains("enableServiceLinks: false"), "{manifests}");
        assert!(manifests.contains(&format!("key: {upper}_DATABASE_URL")), "{manifests}");
    }
    // The gateways serve the image's supergraph, each subgraph sent to its Service.
    for gateway in ["gateway-1", "gateway-2"] {
        let service = &compose["services"][gateway];
        assert_eq!(service["command"], serde_json::json!(["platform", "gateway"]));
        for spec in &platform::CONTEXTS {
            let variable = format!("GATEWAY_SUBGRAPH_URLS_{}", spec.name.to_ascii_uppercase());
            let url = format!("http://{}:{}/graphql", spec.name, spec.default_port());
            assert_eq!(service["environment"][variable], url);
        }
    }
}
