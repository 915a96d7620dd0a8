//! Composition and `schema check` time, for our supergraph and for a generated one
//! about 20 times larger.
//!
//! `cargo bench -p gateway --bench schema_review` composes:
//!
//! 1. our nine subgraphs (schema/subgraphs), then checks a change against the result
//!    with the operations of frontend-contracts/;
//! 2. a generated graph of 200 subgraphs and 5,000 types: each subgraph owns 25
//!    types, one of them an entity that the next subgraph extends, and adds a root
//!    field. Its check uses 200 generated client operations.
//!
//! Each step runs `BENCH_RUNS` times (default 5); the median is printed as a Markdown
//! table for docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark fails loudly

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gateway::compose::{SubgraphSdl, compose, compose_dir};
use gateway::schema_check::check;

const SUBGRAPHS: usize = 200;
const TYPES_PER_SUBGRAPH: usize = 25;
const FIELDS_PER_TYPE: usize = 8;

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // Ours: compose, then check a change (a field removed, another made nullable).
    let ours = compose_dir(&repo.join("schema/subgraphs"), &repo.join("schema/subgraphs.json")).unwrap();
    let changed = ours
        .replacen("  description: String! @join__field(graph: PRODUCTS)\n", "", 1)
        .replacen(
            "  name: String! @join__field(graph: PRODUCTS)",
            "  name: String @join__field(graph: PRODUCTS)",
            1,
        );
    assert_ne!(ours, changed, "the change must apply to the committed supergraph");
    let contracts = repo.join("frontend-contracts");
    let compose_ours = median(runs, || {
        compose_dir(&repo.join("schema/subgraphs"), &repo.join("schema/subgraphs.json")).unwrap();
    });
    let check_ours = median(runs, || {
        let report = check(&ours, &changed, &contracts, &[]).unwrap();
        assert!(!report.passed);
    });

    // Generated: 200 subgraphs, 5,000 types.
    let subgraphs = generated_subgraphs();
    let types: usize = subgraphs.iter().map(|s| s.sdl.matches("\ntype ").count()).sum();
    let big = compose(&subgraphs).unwrap();
    let mut edited = subgraphs.clone();
    edited[7].sdl = edited[7].sdl.replacen("  f3: Int\n", "", 1);
    edited[42].sdl = edited[42].sdl.replacen("  f1: String!\n", "  f1: String\n", 1);
    let big_changed = compose(&edited).unwrap();
    let generated_contracts = generated_contracts();
    let compose_big = median(runs, || {
        compose(&subgraphs).unwrap();
    });
    let check_big = median(runs, || {
        let report = check(&big, &big_changed, &generated_contracts, &[]).unwrap();
        assert!(!report.passed, "the generated operations use the changed fields");
    });
    let _ = std::fs::remove_dir_all(&generated_contracts);

    let mut table = String::new();
    let _ = writeln!(table, "| supergraph | size | compose | schema check |");
    let _ = writeln!(table, "| --- | --- | ---: | ---: |");
    let _ = writeln!(
        table,
        "| ours | 9 subgraphs, {} lines | {} | {} |",
        ours.lines().count(),
        ms(compose_ours),
        ms(check_ours)
    );
    let _ = writeln!(
        table,
        "| generated | {SUBGRAPHS} subgraphs, {types} type definitions, {} lines | {} | {} |",
        big.lines().count(),
        ms(compose_big),
        ms(check_big)
    );
    println!("{table}");
    println!("median of {runs} runs each; the checks include reading every client operation");
}

fn median(runs: usize, mut step: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            step();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Subgraph `s{i}` owns types `T{i}_{j}` and the entity `E{i}`; it extends `E{i-1}`
/// with a field and returns its own types from a root field.
fn generated_subgraphs() -> Vec<SubgraphSdl> {
    (0..SUBGRAPHS)
        .map(|i| {
            let mut sdl = String::from(
                "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\"])\n\n",
            );
            let _ = writeln!(
                sdl,
                "type Query {{\n  root{i}: T{i}_0\n  entity{i}(id: ID!): E{i}\n}}\n"
            );
            let _ = writeln!(
                sdl,
                "type E{i} @key(fields: \"id\") {{\n  id: ID!\n  name: String!\n}}\n"
            );
            if i > 0 {
                let previous = i - 1;
                let _ = writeln!(
                    sdl,
                    "type E{previous} @key(fields: \"id\") {{\n  id: ID!\n  extra{i}: Int\n}}\n"
                );
            }
            for j in 0..TYPES_PER_SUBGRAPH - 1 {
                let _ = writeln!(sdl, "type T{i}_{j} {{");
                for f in 0..FIELDS_PER_TYPE {
                    let ty = match f {
                        0 => format!("T{i}_{}", (j + 1) % (TYPES_PER_SUBGRAPH - 1)),
                        1 => "String!".to_owned(),
                        2 => format!("E{i}"),
                        _ => "Int".to_owned(),
                    };
                    let _ = writeln!(sdl, "  f{f}: {ty}");
                }
                let _ = writeln!(sdl, "}}\n");
            }
            SubgraphSdl {
                name: format!("s{i}"),
                url: format!("http://s{i}.local/graphql"),
                sdl,
            }
        })
        .collect()
}

/// A contracts folder with one client of 200 operations, one per subgraph.
fn generated_contracts() -> PathBuf {
    let root = std::env::temp_dir().join(format!("schema-review-bench-{}", std::process::id()));
    let dir = root.join("web");
    std::fs::create_dir_all(&dir).unwrap();
    let mut operations = String::new();
    for i in 0..SUBGRAPHS {
        let _ = writeln!(
            operations,
            "query Op{i} {{ root{i} {{ f0 {{ f1 f3 f2 {{ id name }} }} f1 f3 }} }}"
        );
    }
    std::fs::write(dir.join("operations.graphql"), operations).unwrap();
    root
}
