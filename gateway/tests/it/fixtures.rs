//! The schema-review fixtures under tests/fixtures/schema-check/: a base pair of
//! subgraphs (products, reviews), client operations that use them, and cases, each a
//! YAML file of text edits to the base. A case's subgraphs are the base with its edits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gateway::compose::SubgraphSdl;
use gateway::schema_check::Acknowledgement;
use serde::Deserialize;

pub fn dir() -> PathBuf {
    crate::repo().join("gateway/tests/fixtures/schema-check")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub about: String,
    pub edits: Vec<Edit>,
    #[serde(default)]
    pub acknowledgements: Vec<AcknowledgementEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub subgraph: String,
    pub replace: String,
    pub with: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementEntry {
    pub kind: String,
    pub coordinate: String,
    pub reason: String,
}

impl Case {
    pub fn acknowledgements(&self) -> Vec<Acknowledgement> {
        self.acknowledgements
            .iter()
            .map(|a| Acknowledgement {
                kind: a.kind.clone(),
                coordinate: a.coordinate.clone(),
                reason: a.reason.clone(),
            })
            .collect()
    }
}

/// The cases of a folder (`changes`, `composition-errors`), by file stem.
pub fn cases(folder: &str) -> BTreeMap<String, Case> {
    let mut cases = BTreeMap::new();
    for entry in std::fs::read_dir(dir().join(folder)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let case: Case = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            cases.insert(path.file_stem().unwrap().to_string_lossy().into_owned(), case);
        }
    }
    cases
}

/// The base subgraphs.
pub fn base() -> Vec<SubgraphSdl> {
    let urls: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("base/subgraphs.json")).unwrap()).unwrap();
    urls.into_iter()
        .map(|(name, url)| SubgraphSdl {
            sdl: std::fs::read_to_string(dir().join(format!("base/{name}.graphql"))).unwrap(),
            name,
            url,
        })
        .collect()
}

/// The base subgraphs with a case's edits; each edit's text must occur exactly once.
pub fn edited(case_name: &str, case: &Case) -> Vec<SubgraphSdl> {
    let mut subgraphs = base();
    for edit in &case.edits {
        let subgraph = subgraphs
            .iter_mut()
            .find(|s| s.name == edit.subgraph)
            .unwrap_or_else(|| panic!("{case_name}: no subgraph {}", edit.subgraph));
        assert_eq!(
            subgraph.sdl.matches(&edit.replace).count(),
            1,
            "{case_name}: {:?} must occur once in {}",
            edit.replace,
            edit.subgraph
        );
        subgraph.sdl = subgraph.sdl.replacen(&edit.replace, &edit.with, 1);
    }
    subgraphs
}
