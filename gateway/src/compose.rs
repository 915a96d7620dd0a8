//! Composition: subgraph SDLs in, supergraph SDL out.
//!
//! graphql-composition does the composing. Its supergraph lacks
//! `@join__type(graph: …)` on the root operation types, without which Hive Router's
//! planner finds no path to any root field; [`compose`] adds one per subgraph that
//! contributes fields to the root type. It also omits them on custom scalars, which
//! [`compose`] adds for every subgraph that defines the scalar, as the reference
//! composers do (checked by gateway/reference-composition).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// A subgraph to compose: its name, routing URL and SDL.
#[derive(Debug, Clone)]
pub struct SubgraphSdl {
    pub name: String,
    pub url: String,
    pub sdl: String,
}

/// Composition failed; each message names what clashed.
#[derive(Debug, thiserror::Error)]
#[error("composition failed:\n{}", .0.join("\n"))]
pub struct CompositionError(pub Vec<String>);

/// Composes `subgraphs` into a supergraph SDL that Hive Router can plan against.
///
/// # Errors
/// When a subgraph SDL does not parse or the subgraphs do not compose.
pub fn compose(subgraphs: &[SubgraphSdl]) -> Result<String, CompositionError> {
    let mut input = graphql_composition::Subgraphs::default();
    for subgraph in subgraphs {
        input
            .ingest_str(&subgraph.sdl, &subgraph.name, Some(&subgraph.url))
            .map_err(|err| CompositionError(vec![format!("subgraph `{}`: {err}", subgraph.name)]))?;
    }
    let graph = graphql_composition::compose(&mut input)
        .into_result()
        .map_err(|diagnostics| CompositionError(diagnostics.iter_messages().map(str::to_owned).collect()))?;
    let sdl = graphql_composition::render_federated_sdl(&graph)
        .map_err(|err| CompositionError(vec![format!("rendering the supergraph: {err}")]))?;
    Ok(add_scalar_join_types(&add_root_join_types(&sdl), subgraphs))
}

/// Adds `@join__type(graph: X)` to each custom scalar for every subgraph `X` whose SDL
/// defines it.
fn add_scalar_join_types(sdl: &str, subgraphs: &[SubgraphSdl]) -> String {
    let graph_of = graph_enum_values(sdl);
    let mut out = String::with_capacity(sdl.len() + 256);
    for line in sdl.lines() {
        out.push_str(line);
        out.push('\n');
        let Some(scalar) = line.strip_prefix("scalar ").filter(|rest| !rest.contains(' ')) else {
            continue;
        };
        if scalar.starts_with("join__") || scalar.starts_with("link__") {
            continue;
        }
        let graphs: BTreeSet<&str> = subgraphs
            .iter()
            .filter(|s| {
                s.sdl.lines().any(|l| {
                    l.trim() == format!("scalar {scalar}") || l.trim().starts_with(&format!("scalar {scalar} "))
                })
            })
            .filter_map(|s| {
                graph_of
                    .iter()
                    .find(|(_, name)| *name == s.name)
                    .map(|(graph, _)| graph.as_str())
            })
            .collect();
        for graph in graphs {
            out.push_str(&format!("  @join__type(graph: {graph})\n"));
        }
    }
    out
}

/// The `join__Graph` enum: (enum value, subgraph name) pairs.
fn graph_enum_values(sdl: &str) -> Vec<(String, String)> {
    sdl.lines()
        .skip_while(|l| !l.starts_with("enum join__Graph"))
        .take_while(|l| l.trim() != "}")
        .filter_map(|l| {
            let (value, rest) = l.trim().split_once(" @join__graph(name: \"")?;
            let name = rest.split('"').next()?;
            Some((value.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Adds `@join__type(graph: X)` to `Query`, `Mutation` and `Subscription` for every
/// graph `X` that resolves one of their fields (read from the fields' `@join__field`).
fn add_root_join_types(sdl: &str) -> String {
    let lines: Vec<&str> = sdl.lines().collect();
    let mut out = String::with_capacity(sdl.len() + 256);
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let root = ["Query", "Mutation", "Subscription"]
            .into_iter()
            .find(|root| line.trim_end() == format!("type {root}") || line.starts_with(&format!("type {root} ")));
        if root.is_some() && !line.contains("@join__type") {
            // The type's block runs to the first line that is just `}`.
            let end = (index..lines.len())
                .find(|&i| lines[i].trim() == "}")
                .unwrap_or(lines.len() - 1);
            let graphs: BTreeSet<&str> = lines[index..=end].iter().flat_map(|l| join_field_graphs(l)).collect();
            out.push_str(line.trim_end());
            out.push('\n');
            for graph in graphs {
                out.push_str(&format!("  @join__type(graph: {graph})\n"));
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
        index += 1;
    }
    out
}

fn join_field_graphs(line: &str) -> Vec<&str> {
    line.match_indices("@join__field(graph: ")
        .filter_map(|(at, marker)| {
            let rest = &line[at + marker.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            Some(&rest[..end])
        })
        .collect()
}

/// The subgraph list of `schema/subgraphs.json`: name → routing URL.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct SubgraphUrls(pub std::collections::BTreeMap<String, String>);

/// Composes the SDL files `<dir>/<name>.graphql` of every subgraph listed in
/// `urls_file`.
///
/// # Errors
/// A missing file, or a composition failure.
pub fn compose_dir(dir: &Path, urls_file: &Path) -> anyhow::Result<String> {
    let urls: SubgraphUrls = serde_json::from_str(
        &std::fs::read_to_string(urls_file).with_context(|| format!("reading {}", urls_file.display()))?,
    )
    .with_context(|| format!("parsing {}", urls_file.display()))?;
    let subgraphs = urls
        .0
        .into_iter()
        .map(|(name, url)| {
            let path = dir.join(format!("{name}.graphql"));
            let sdl = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(SubgraphSdl { name, url, sdl })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(compose(&subgraphs)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { me: User }
type User @key(fields: "id") { id: ID! name: String! }
"#;
    const ORDERS: &str = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { orders: [Order!]! }
type Order @key(fields: "id") { id: ID! buyer: User! }
type User @key(fields: "id") { id: ID! }
"#;

    fn subgraph(name: &str, sdl: &str) -> SubgraphSdl {
        SubgraphSdl {
            name: name.into(),
            url: format!("http://{name}.local/graphql"),
            sdl: sdl.into(),
        }
    }

    #[test]
    fn root_types_get_a_join_type_per_contributing_subgraph() {
        let supergraph = compose(&[subgraph("users", USERS), subgraph("orders", ORDERS)]).unwrap();
        let query_block: String = supergraph
            .lines()
            .skip_while(|l| !l.starts_with("type Query"))
            .take_while(|l| l.trim() != "{")
            .collect::<Vec<_>>()
            .join("\n");
        assert!(query_block.contains("@join__type(graph: USERS)"), "{query_block}");
        assert!(query_block.contains("@join__type(graph: ORDERS)"), "{query_block}");
    }

    #[test]
    fn custom_scalars_are_joined_to_the_subgraphs_that_define_them() {
        let with_scalar = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
scalar Long
type Query { total: Long }
"#;
        let supergraph = compose(&[subgraph("users", USERS), subgraph("sums", with_scalar)]).unwrap();
        let scalar: Vec<&str> = supergraph.lines().skip_while(|l| *l != "scalar Long").take(3).collect();
        assert_eq!(
            scalar,
            ["scalar Long", "  @join__type(graph: SUMS)", ""],
            "{supergraph}"
        );
    }

    #[test]
    fn clashing_subgraphs_fail_with_the_reason() {
        let clash = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { me: Int }
"#;
        let err = compose(&[subgraph("users", USERS), subgraph("other", clash)]).unwrap_err();
        assert!(!err.0.is_empty());
        assert!(err.to_string().contains("me"), "{err}");
    }
}
