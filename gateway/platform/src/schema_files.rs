//! The schema files under schema/: each subgraph's SDL, written from its code, and
//! the composed supergraph. `platform schema` writes them; `platform schema --check`
//! (and a test) fails when a committed file differs from what the code produces.

use std::path::Path;

use gateway::compose::SubgraphSdl;

use crate::PerContext;

/// Every subgraph's SDL from code, by context name.
pub fn sdls() -> Vec<(&'static str, String)> {
    vec![
        ("accounts", accounts_service::sdl()),
        ("cart", cart_service::sdl()),
        ("checkout", checkout_service::sdl()),
        ("coupons", coupons_service::sdl()),
        ("inventory", inventory_service::sdl()),
        ("orders", orders_service::sdl()),
        ("payments", payments_service::sdl()),
        ("products", products_service::sdl()),
        ("shipping", shipping_service::sdl()),
    ]
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
        .map(|s| {
            (
                schema_dir.join("subgraphs").join(format!("{}.graphql", s.name)),
                s.sdl.clone(),
            )
        })
        .collect();
    files.push((
        schema_dir.join("supergraph.graphql"),
        gateway::compose::compose(&subgraphs)?,
    ));
    Ok(files)
}

/// Writes the expected files; returns their paths.
///
/// # Errors
/// As [`expected_files`], or when a file cannot be written.
pub fn write(schema_dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let files = expected_files(schema_dir)?;
    std::fs::create_dir_all(schema_dir.join("subgraphs"))?;
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
