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

#[test]
fn the_supergraph_joins_every_root_type_to_its_subgraphs() {
    let endpoints = platform::CONTEXTS
        .iter()
        .map(|(name, _)| (name.to_string(), format!("http://{name}/graphql")))
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
