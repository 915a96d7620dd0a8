//! The committed frontend contracts: every operation validates against the committed
//! supergraph, and every committed manifest is what `gateway contracts` generates.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

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
        ["web", "mobile", "acme", "globex"]
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
