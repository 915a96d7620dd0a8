//! `gateway`: the supergraph's front door.
//!
//! - `gateway serve` runs Hive Router with our plugins; set `ROUTER_CONFIG_FILE_PATH`
//!   (default: `router.config.yaml` in the working directory).
//! - `gateway compose` composes `schema/subgraphs/*.graphql` into
//!   `schema/supergraph.graphql`.
//! - `gateway contracts` writes the persisted-operation manifest of every client of
//!   `frontend-contracts/` (`--check` fails instead when a committed one is stale).

// ntex's middleware types are deep; release builds need more than the default 128.
#![recursion_limit = "256"]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gateway", about = "The federated GraphQL gateway (Hive Router)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the supergraph.
    Serve,
    /// Compose the subgraph SDL files into the supergraph.
    Compose {
        #[arg(long, default_value = "schema/subgraphs")]
        subgraphs: PathBuf,
        #[arg(long, default_value = "schema/subgraphs.json")]
        urls: PathBuf,
        #[arg(long, default_value = "schema/supergraph.graphql")]
        out: PathBuf,
    },
    /// Generate the persisted-operation manifests of frontend-contracts/.
    Contracts {
        #[arg(long, default_value = "frontend-contracts")]
        root: PathBuf,
        #[arg(long, default_value = "schema/supergraph.graphql")]
        supergraph: PathBuf,
        /// Fail when a committed manifest differs from the generated one.
        #[arg(long)]
        check: bool,
    },
}

#[global_allocator]
static GLOBAL: gateway::GlobalAllocator = gateway::GlobalAllocator;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve => gateway::serve::run(),
        Command::Compose { subgraphs, urls, out } => {
            let supergraph = gateway::compose::compose_dir(&subgraphs, &urls)?;
            std::fs::write(&out, supergraph)?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Command::Contracts {
            root,
            supergraph,
            check,
        } => contracts(&root, &supergraph, check),
    }
}

fn contracts(root: &std::path::Path, supergraph: &std::path::Path, check: bool) -> anyhow::Result<()> {
    let problems = gateway::contracts::validate_against(root, &std::fs::read_to_string(supergraph)?)?;
    if !problems.is_empty() {
        anyhow::bail!(
            "operations that do not validate against {}:\n{}",
            supergraph.display(),
            problems.join("\n")
        );
    }
    let mut stale = Vec::new();
    for (client, manifest) in gateway::contracts::generate(root)? {
        let path = gateway::contracts::manifest_path(root, &client);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(manifest.as_str()) {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            std::fs::create_dir_all(path.parent().unwrap_or(root))?;
            std::fs::write(&path, manifest)?;
            eprintln!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        anyhow::bail!(
            "stale manifests (run `cargo run -p gateway -- contracts`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}
