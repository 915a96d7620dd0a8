//! `gateway`: the supergraph's front door.
//!
//! - `gateway serve` runs Hive Router with our plugins; set `ROUTER_CONFIG_FILE_PATH`
//!   (default: `router.config.yaml` in the working directory).
//! - `gateway compose` composes `schema/subgraphs/*.graphql` into
//!   `schema/supergraph.graphql`.

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
    }
}
