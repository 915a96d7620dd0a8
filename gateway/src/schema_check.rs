//! `schema check`: what a proposed supergraph changes for the clients of the
//! committed one.
//!
//! [`diff`] classifies every change as BREAKING, DANGEROUS or SAFE; [`usage`] reads
//! which schema coordinates each operation of `frontend-contracts/` uses; [`check`]
//! puts the two together into a [`report::Report`]. A breaking change that some
//! client operation uses fails the check unless `schema/acknowledged-changes.yaml`
//! names it with a reason.

pub mod diff;
pub mod model;
pub mod report;
pub mod usage;

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::contracts;
use model::Schema;
use report::{OperationUse, Report, ReportedChange};

/// A breaking change accepted on purpose: its kind and coordinate as the report
/// prints them, and why it may ship.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub kind: String,
    pub coordinate: String,
    pub reason: String,
}

/// The acknowledgements of a YAML file (a list of `kind`, `coordinate`, `reason`);
/// none when the file does not exist.
///
/// # Errors
/// When the file does not parse or an entry gives no reason.
pub fn load_acknowledgements(path: &Path) -> anyhow::Result<Vec<Acknowledgement>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let acknowledgements: Option<Vec<Acknowledgement>> =
        serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let acknowledgements = acknowledgements.unwrap_or_default();
    for ack in &acknowledgements {
        if ack.reason.trim().is_empty() {
            bail!(
                "{}: the acknowledgement of {} {} gives no reason",
                path.display(),
                ack.kind,
                ack.coordinate
            );
        }
    }
    Ok(acknowledgements)
}

/// Compares `proposed_sdl` with `committed_sdl` and finds, for every change, the
/// operations of the clients under `contracts_root` that it hits.
///
/// # Errors
/// When a supergraph or an operation file does not parse.
pub fn check(
    committed_sdl: &str,
    proposed_sdl: &str,
    contracts_root: &Path,
    acknowledgements: &[Acknowledgement],
) -> anyhow::Result<Report> {
    let committed = Schema::parse(committed_sdl).context("the committed supergraph")?;
    let proposed = Schema::parse(proposed_sdl).context("the proposed supergraph")?;
    let changes = diff::diff(&committed, &proposed);

    let mut operations = Vec::new();
    for (client, dir) in contracts::callers(contracts_root)? {
        for op in contracts::client_operations(&dir)? {
            let used = usage::coordinates(&committed, &op.operation.body)
                .with_context(|| format!("{} in {}", op.operation.name, op.file.display()))?;
            let file = op.file.strip_prefix(contracts_root).unwrap_or(&op.file);
            operations.push((
                OperationUse {
                    client: client.clone(),
                    operation: op.operation.name.clone(),
                    file: file.display().to_string(),
                },
                used,
            ));
        }
    }

    let mut matched = vec![false; acknowledgements.len()];
    let reported = changes
        .into_iter()
        .map(|change| {
            let used_by = operations
                .iter()
                .filter(|(_, used)| change.affects.iter().any(|c| used.contains(c)))
                .map(|(op, _)| op.clone())
                .collect();
            let acknowledged = acknowledgements
                .iter()
                .position(|a| a.kind == change.kind && a.coordinate == change.coordinate)
                .map(|index| {
                    matched[index] = true;
                    acknowledgements[index].reason.clone()
                });
            ReportedChange {
                change,
                used_by,
                acknowledged,
            }
        })
        .collect();
    let unused = acknowledgements
        .iter()
        .zip(matched)
        .filter(|(_, matched)| !matched)
        .map(|(a, _)| format!("{} {}", a.kind, a.coordinate))
        .collect();
    Ok(Report::new(reported, unused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("{name}-{}.yaml", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn acknowledgements_need_a_reason_and_a_missing_file_has_none() {
        let path = file(
            "ack-ok",
            "- kind: FIELD_REMOVED\n  coordinate: Product.sku\n  reason: Nobody reads it.\n",
        );
        let acks = load_acknowledgements(&path).unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!(
            (acks[0].kind.as_str(), acks[0].coordinate.as_str()),
            ("FIELD_REMOVED", "Product.sku")
        );

        let path = file(
            "ack-empty",
            "- kind: FIELD_REMOVED\n  coordinate: Product.sku\n  reason: \" \"\n",
        );
        let err = load_acknowledgements(&path).unwrap_err().to_string();
        assert!(err.contains("gives no reason"), "{err}");

        let path = file(
            "ack-typo",
            "- kind: FIELD_REMOVED\n  coordinate: Product.sku\n  reasn: typo\n",
        );
        assert!(load_acknowledgements(&path).is_err());

        assert!(
            load_acknowledgements(Path::new("/nonexistent/acks.yaml"))
                .unwrap()
                .is_empty()
        );
    }
}
