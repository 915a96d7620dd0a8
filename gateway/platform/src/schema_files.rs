//! The schema files under schema/: each subgraph's SDL, written from its code, the
//! composed supergraph, and the API schema clients see (api.graphql: the supergraph
//! without federation machinery and `@inaccessible` parts). `platform schema` writes
//! them; `platform schema --check` (and a test) fails when a committed file differs
//! from what the code produces; `platform schema check` compares the supergraph the
//! code produces with a committed one (gateway::schema_check). The JSON Schema of the
//! configuration file (config.schema.json) is kept the same way.

use std::path::Path;

use gateway::compose::SubgraphSdl;

use crate::PerContext;

/// Every subgraph's SDL from code, by context name (in name order).
pub fn sdls() -> Vec<(&'static str, String)> {
    let mut sdls: Vec<_> = crate::CONTEXTS.iter().map(|spec| (spec.name, (spec.sdl)())).collect();
    sdls.sort_by_key(|(name, _)| *name);
    sdls
}

/// Every subgraph with its SDL from code, routed to the given URLs.
///
/// # Errors
/// When a subgraph has no URL.
pub fn subgraphs(urls: &PerContext) -> anyhow::Result<Vec<SubgraphSdl>> {
    sdls()
        .into_iter()
        .map(|(name, sdl)| {
            Ok(SubgraphSdl {
                name: name.into(),
                url: urls
                    .get(name)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("{name} has no URL (schema/subgraphs.json)"))?,
                sdl,
            })
        })
        .collect()
}

/// The files that belong under `schema_dir`, with their expected content.
///
/// # Errors
/// When `subgraphs.json` is unreadable or the subgraphs do not compose.
pub fn expected_files(schema_dir: &Path) -> anyhow::Result<Vec<(std::path::PathBuf, String)>> {
    let urls: gateway::compose::SubgraphUrls =
        serde_json::from_str(&std::fs::read_to_string(schema_dir.join("subgraphs.json"))?)?;
    let subgraphs = subgraphs(&urls.0)?;
    let mut files: Vec<_> = subgraphs
        .iter()
        .map(|s| (subgraph_file(schema_dir, &s.name), s.sdl.clone()))
        .collect();
    let supergraph = gateway::compose::compose(&subgraphs).map_err(|err| {
        anyhow::anyhow!(
            "the subgraphs do not compose:\n{}",
            err.render(&|name| subgraph_file(schema_dir, name).display().to_string())
        )
    })?;
    files.push((
        schema_dir.join("api.graphql"),
        gateway::compose::api_schema(&supergraph)?,
    ));
    files.push((schema_dir.join("supergraph.graphql"), supergraph));
    let config_schema = kernel_infra::config::json_schema(&crate::CONTEXTS);
    files.push((
        schema_dir.join("config.schema.json"),
        format!("{}\n", serde_json::to_string_pretty(&config_schema)?),
    ));
    Ok(files)
}

fn subgraph_file(schema_dir: &Path, name: &str) -> std::path::PathBuf {
    schema_dir.join("subgraphs").join(format!("{name}.graphql"))
}

/// Writes each subgraph's SDL from code, then composes them. When they do not
/// compose, the error's locations point into the files just written.
///
/// # Errors
/// As [`expected_files`], or when a file cannot be written.
pub fn write(schema_dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let urls: gateway::compose::SubgraphUrls =
        serde_json::from_str(&std::fs::read_to_string(schema_dir.join("subgraphs.json"))?)?;
    std::fs::create_dir_all(schema_dir.join("subgraphs"))?;
    for subgraph in subgraphs(&urls.0)? {
        std::fs::write(subgraph_file(schema_dir, &subgraph.name), &subgraph.sdl)?;
    }
    let files = expected_files(schema_dir)?;
    for (path, content) in &files {
        std::fs::write(path, content)?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// The committed files that differ from what the code produces.
///
/// # Errors
/// As [`expected_files`].
pub fn stale(schema_dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    Ok(expected_files(schema_dir)?
        .into_iter()
        .filter(|(path, content)| std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()))
        .map(|(path, _)| path)
        .collect())
}

/// The supergraph the code produces.
///
/// # Errors
/// As [`expected_files`].
pub fn proposed_supergraph(schema_dir: &Path) -> anyhow::Result<String> {
    expected_files(schema_dir)?
        .into_iter()
        .find(|(path, _)| path.ends_with("supergraph.graphql"))
        .map(|(_, content)| content)
        .ok_or_else(|| anyhow::anyhow!("no supergraph"))
}

/// `schema/supergraph.graphql` as committed at a git revision.
///
/// # Errors
/// When git fails, e.g. the revision or the file does not exist there.
pub fn committed_supergraph(schema_dir: &Path, revision: &str) -> anyhow::Result<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(schema_dir)
        .args(["show", &format!("{revision}:./supergraph.graphql")])
        .output()?;
    if !output.status.success() {
        anyhow::bail!(
            "git show {revision}:schema/supergraph.graphql: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}
