//! The gateway crate's integration tests, one binary.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod composition;
mod contracts;
mod fixtures;
mod schema_check;

use std::path::{Path, PathBuf};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
