//! Composition: subgraph SDLs in, supergraph SDL out.
//!
//! graphql-composition does the composing, and [`compose`] closes the gaps in its
//! supergraph so that it reads as the reference composers' does (checked by
//! gateway/reference-composition, and suite by suite against the federation gateway
//! audit in docs/conformance.md):
//!
//! - `@join__type(graph: …)` on the root types: without them Hive Router's planner
//!   finds no path to any root field. Also on custom scalars and unions.
//! - Explicit `@join__field`s on a field that some subgraph marks `@external`, where
//!   graphql-composition leaves none, which would mean that every subgraph resolves it.
//!
//! Two rules the composer does not check are checked here ([`query_paths`]): fields
//! no query can reach, and `@requires` of fields that are not `@external`. Every
//! error points at the subgraph files it is about ([`diagnostics`]). [`api_schema`]
//! derives the schema clients see.

pub mod diagnostics;
pub mod query_paths;
pub mod subgraph;

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

pub use diagnostics::{Diagnostic, Location};
use subgraph::SubgraphTypes;

/// A subgraph to compose: its name, routing URL and SDL.
#[derive(Debug, Clone)]
pub struct SubgraphSdl {
    pub name: String,
    pub url: String,
    pub sdl: String,
}

/// Composition failed; each diagnostic names what clashed and where.
#[derive(Debug, thiserror::Error)]
#[error("composition failed:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct CompositionError(pub Vec<Diagnostic>);

impl CompositionError {
    fn single(message: String) -> Self {
        CompositionError(vec![Diagnostic {
            message,
            locations: Vec::new(),
        }])
    }

    /// Every diagnostic, each subgraph's file named by `file_of`.
    pub fn render(&self, file_of: &dyn Fn(&str) -> String) -> String {
        self.0.iter().map(|d| d.render(file_of)).collect::<Vec<_>>().join("\n")
    }
}

/// Composes `subgraphs` into a supergraph SDL that Hive Router can plan against.
///
/// # Errors
/// When a subgraph SDL does not parse or the subgraphs do not compose.
pub fn compose(subgraphs: &[SubgraphSdl]) -> Result<String, CompositionError> {
    let mut input = graphql_composition::Subgraphs::default();
    for subgraph in subgraphs {
        input
            .ingest_str(&subgraph.sdl, &subgraph.name, Some(&subgraph.url))
            .map_err(|err| CompositionError::single(format!("subgraph `{}`: {err}", subgraph.name)))?;
    }
    let read: Vec<SubgraphTypes> = subgraphs
        .iter()
        .filter_map(|s| SubgraphTypes::parse(&s.name, &s.sdl))
        .collect();
    let mut errors = query_paths::requires_non_external(&read);
    let result = graphql_composition::compose(&mut input).into_result();
    let graph = match result {
        Ok(graph) => graph,
        Err(diagnostics) => {
            errors.extend(
                diagnostics
                    .iter()
                    .filter(|d| d.severity().is_error())
                    .map(|d| diagnostics::locate(d.message(), &read)),
            );
            return Err(CompositionError(errors));
        }
    };
    // Paths are only worth checking once the subgraphs agree on every type.
    errors.extend(query_paths::unsatisfiable(&read));
    if !errors.is_empty() {
        return Err(CompositionError(errors));
    }
    let sdl = graphql_composition::render_federated_sdl(&graph)
        .map_err(|err| CompositionError::single(format!("rendering the supergraph: {err}")))?;
    Ok(add_external_join_fields(&add_join_types(&sdl, &read), &read))
}

/// The client-facing API schema of a composed supergraph: no federation machinery,
/// nothing `@inaccessible`.
///
/// # Errors
/// When the supergraph does not parse.
pub fn api_schema(supergraph_sdl: &str) -> anyhow::Result<String> {
    let graph = graphql_composition::FederatedGraph::from_sdl(supergraph_sdl)
        .map_err(|err| anyhow::anyhow!("reading the supergraph: {err}"))?;
    sorted_sdl(&graphql_composition::render_api_sdl(&graph))
}

/// An SDL document as the composer prints it (definitions apart by blank lines,
/// fields sorted) with its definitions in a fixed order: the schema definition,
/// directives by name, then types by name. A diff of two versions shows only what
/// changed.
fn sorted_sdl(sdl: &str) -> anyhow::Result<String> {
    let mut definitions: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_block_string = false;
    let mut depth = 0i64;
    for line in sdl.lines() {
        if line.trim().is_empty() && !in_block_string && depth == 0 {
            if !current.is_empty() {
                definitions.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.matches("\"\"\"").count() % 2 == 1 {
            in_block_string = !in_block_string;
        } else if !in_block_string {
            // Braces outside of strings open and close a definition's body.
            let code: String = line.split('"').step_by(2).collect();
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        }
    }
    if !current.is_empty() {
        definitions.push(current);
    }
    if in_block_string || depth != 0 {
        anyhow::bail!("the API schema's strings or braces do not balance");
    }
    definitions.sort_by_cached_key(|definition| definition_key(definition));
    Ok(definitions.join("\n"))
}

/// (rank, name) of a printed definition, past its description.
fn definition_key(definition: &str) -> (u8, String) {
    let mut in_block_string = false;
    for line in definition.lines() {
        if line.matches("\"\"\"").count() % 2 == 1 {
            in_block_string = !in_block_string;
            continue;
        }
        if in_block_string || line.starts_with('"') {
            continue;
        }
        let mut words = line.split(|c: char| c.is_whitespace() || c == '(' || c == '{' || c == '@');
        let keyword = words.next().unwrap_or_default();
        let name = words.find(|w| !w.is_empty()).unwrap_or_default().to_owned();
        return match keyword {
            "schema" => (0, name),
            "directive" => (1, name),
            _ => (2, name),
        };
    }
    (3, String::new())
}

/// Adds the `@join__type(graph: X)` that graphql-composition leaves out, as the
/// reference composers write them: on `Query` for every subgraph, on `Mutation` and
/// `Subscription` for every subgraph that defines the type or resolves one of its
/// fields, and on custom scalars and unions for every subgraph that defines them.
fn add_join_types(sdl: &str, read: &[SubgraphTypes]) -> String {
    let graph_of: std::collections::BTreeMap<String, String> = graph_enum_values(sdl)
        .into_iter()
        .map(|(graph, name)| (name, graph))
        .collect();
    let defining = |type_name: &str| -> BTreeSet<String> {
        read.iter()
            .filter(|s| s.types.contains_key(type_name))
            .filter_map(|s| graph_of.get(&s.name).cloned())
            .collect()
    };
    let lines: Vec<&str> = sdl.lines().collect();
    let mut out = String::with_capacity(sdl.len() + 1024);
    for (index, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        let Some((keyword, name)) = definition_header(line) else {
            continue;
        };
        let root = keyword == "type" && ["Query", "Mutation", "Subscription"].contains(&name);
        if !(root || keyword == "scalar" || keyword == "union") || name.contains("__") {
            continue;
        }
        // The definition's own lines: to its closing `}` (types) or its first blank line.
        let end = (index + 1..lines.len())
            .find(|&i| lines[i].trim().is_empty() || (root && lines[i].trim() == "}"))
            .unwrap_or(lines.len());
        let block = &lines[index + 1..end];
        let present: BTreeSet<&str> = block
            .iter()
            .filter_map(|l| l.trim().strip_prefix("@join__type(graph: "))
            .filter_map(|rest| rest.split([')', ',']).next())
            .collect();
        // Every subgraph has a Query root (`_service`, `_entities`); the reference
        // composers join it to all of them.
        let mut graphs = if name == "Query" {
            graph_of.values().cloned().collect()
        } else {
            defining(name)
        };
        if root {
            graphs.extend(block.iter().flat_map(|l| join_field_graphs(l)).map(str::to_owned));
        }
        for graph in graphs.iter().filter(|g| !present.contains(g.as_str())) {
            out.push_str(&format!("  @join__type(graph: {graph})\n"));
        }
    }
    out
}

/// Spells out who resolves a field that some subgraph of its type marks `@external`:
/// graphql-composition leaves such a field without `@join__field`, which says that
/// every subgraph of the type resolves it. The reference composers write
/// `@join__field(graph: X)` for the subgraphs that resolve it and
/// `@join__field(graph: Y, external: true)` for those that only name it.
fn add_external_join_fields(sdl: &str, read: &[SubgraphTypes]) -> String {
    let name_of: std::collections::BTreeMap<String, String> = graph_enum_values(sdl).into_iter().collect();
    let mut out = String::with_capacity(sdl.len() + 256);
    let mut current: Option<(String, Vec<String>)> = None; // (type, its graphs)
    let mut in_body = false;
    let mut in_block_string = false;
    for line in sdl.lines() {
        let mut line = line.to_owned();
        if let Some(("type", name)) = definition_header(&line).or_else(|| {
            line.strip_prefix("type ")
                .and_then(|rest| rest.split(' ').next())
                .map(|name| ("type", name))
        }) {
            current = Some((name.to_owned(), Vec::new()));
            in_body = false;
        } else if let Some((_, graphs)) = current.as_mut().filter(|_| !in_body) {
            if let Some(graph) = line.trim().strip_prefix("@join__type(graph: ") {
                graphs.push(graph.split([')', ',']).next().unwrap_or_default().to_owned());
            } else if line.trim() == "{" {
                in_body = true;
            }
        } else if in_body {
            if line.trim() == "}" {
                current = None;
                in_body = false;
            } else if line.matches("\"\"\"").count() % 2 == 1 {
                in_block_string = !in_block_string;
            } else if !in_block_string
                && line.starts_with("  ")
                && !line.trim_start().starts_with('"')
                && !line.contains("@join__field")
                && let Some((type_name, graphs)) = current.as_ref().filter(|(_, g)| g.len() > 1)
            {
                let field = line.trim_start().split(['(', ':']).next().unwrap_or_default().trim();
                let mut joins = String::new();
                let mut external = false;
                for graph in graphs {
                    let resolves = name_of
                        .get(graph)
                        .and_then(|name| read.iter().find(|s| &s.name == name))
                        .and_then(|s| s.resolves(type_name, field));
                    match resolves {
                        Some(false) => {
                            external = true;
                            joins.push_str(&format!(" @join__field(graph: {graph}, external: true)"));
                        }
                        Some(true) => joins.push_str(&format!(" @join__field(graph: {graph})")),
                        None => external = true,
                    }
                }
                if external {
                    line.push_str(&joins);
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `("type", "Query")` for a line that starts a definition (`type Query`, `scalar
/// Long`, `union Result`), when it has nothing after the name but directives.
fn definition_header(line: &str) -> Option<(&str, &str)> {
    let (keyword, rest) = line.split_once(' ')?;
    if !["type", "scalar", "union"].contains(&keyword) {
        return None;
    }
    let name = rest.split([' ', '@']).next()?.trim();
    let tail = rest[name.len()..].trim();
    (!name.is_empty() && (tail.is_empty() || tail.starts_with('@'))).then_some((keyword, name))
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
    compose(&subgraphs).map_err(|err| {
        anyhow::anyhow!(
            "composition failed:\n{}",
            err.render(&|name| dir.join(format!("{name}.graphql")).display().to_string())
        )
    })
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
