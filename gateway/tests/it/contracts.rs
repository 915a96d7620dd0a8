//! The committed frontend contracts: every operation validates against the committed
//! supergraph, and every committed manifest is what `gateway contracts` generates.

use crate::repo;

#[test]
fn every_client_operation_validates_against_the_supergraph() {
    let supergraph = std::fs::read_to_string(repo().join("schema/supergraph.graphql")).unwrap();
    let problems = gateway::contracts::validate_against(&repo().join("frontend-contracts"), &supergraph).unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn committed_manifests_equal_what_the_command_generates() {
    let root = repo().join("frontend-contracts");
    let generated = gateway::contracts::generate(&root).unwrap();
    assert!(
        ["web", "mobile", "console", "acme", "globex"]
            .iter()
            .all(|c| generated.contains_key(*c)),
        "{:?}",
        generated.keys()
    );
    for (client, manifest) in generated {
        let path = gateway::contracts::manifest_path(&root, &client);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            manifest,
            "{} is stale: run `cargo run -p gateway -- contracts`",
            path.display()
        );
    }
}

#[test]
fn an_operation_that_asks_for_a_missing_field_is_reported_with_its_client() {
    let dir = std::env::temp_dir().join(format!("contracts-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("partners/initech")).unwrap();
    std::fs::write(
        dir.join("partners/initech/ops.graphql"),
        "query Broken { products(first: 1) { edges { node { id secretMargin } } } }",
    )
    .unwrap();
    let supergraph = std::fs::read_to_string(repo().join("schema/supergraph.graphql")).unwrap();
    let problems = gateway::contracts::validate_against(&dir, &supergraph).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("initech: Broken") && problems[0].contains("secretMargin"),
        "{problems:?}"
    );
}

/// A client's own operations must not be refused by its own limits
/// (router.config.yaml), with their slicing arguments left to the schema's sizes.
#[test]
fn every_client_operation_fits_its_clients_limits() {
    use gateway::plugins::operation_limits::{CostSchema, OperationLimits, OperationLimitsConfig, check, measure};
    let config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo().join("gateway/router.config.yaml")).unwrap()).unwrap();
    let config: OperationLimitsConfig =
        serde_yaml_ng::from_value(config["plugins"]["operation_limits"]["config"].clone()).unwrap();
    let (list_size, mutation_cost) = (config.default_list_size, config.mutation_cost);
    let limits = OperationLimits::new(config);
    let schema =
        CostSchema::from_sdl(&std::fs::read_to_string(repo().join("schema/supergraph.graphql")).unwrap()).unwrap();
    let root = repo().join("frontend-contracts");
    let mut measured = 0;
    for (client, manifest) in gateway::contracts::generate(&root).unwrap() {
        let manifest: gateway::contracts::Manifest = serde_json::from_str(&manifest).unwrap();
        for operation in manifest.operations {
            let document = hive_router::graphql_tools::parser::query::parse_query::<String>(&operation.body)
                .unwrap()
                .into_static();
            let shape = measure(&document, None, &schema, list_size, mutation_cost, &|_| None).unwrap();
            let refused = check(&shape, &limits.limits_for(Some(&client)), true);
            assert!(refused.is_ok(), "{client} {}: {shape:?} {refused:?}", operation.name);
            assert!(shape.cost > 0, "{client} {}", operation.name);
            measured += 1;
        }
    }
    assert!(measured >= 10, "only {measured} operations");
}

/// The operations Checkout sends other subgraphs are contracts too: a change that
/// breaks one is reported against `services/checkout` and fails the check, as for a
/// web or partner operation.
#[test]
fn a_change_that_breaks_a_service_contract_fails_the_schema_check() {
    let committed = std::fs::read_to_string(repo().join("schema/supergraph.graphql")).unwrap();
    assert!(
        committed.contains("commitReservation(id: ID!)"),
        "the field is there to remove"
    );
    let proposed = committed.replace("commitReservation(id: ID!)", "commitReservationById(id: ID!)");
    let report = gateway::schema_check::check(&committed, &proposed, &repo().join("frontend-contracts"), &[]).unwrap();
    assert!(!report.passed, "{}", report.to_markdown());
    let removed = report
        .changes
        .iter()
        .find(|change| !change.used_by.is_empty())
        .expect("the removal is used by someone");
    assert!(
        removed
            .used_by
            .iter()
            .any(|user| user.client == "services/checkout" && user.operation == "CommitReservation"),
        "{}",
        report.to_markdown()
    );
}
