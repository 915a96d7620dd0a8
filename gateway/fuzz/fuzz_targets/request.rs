//! A request body as a client of our gateway sends it: the first byte picks the client
//! (none, web, mobile, acme, globex), the rest is the POST body. The body goes through
//! what our plugins do with it: the JSON request is read, a `documentId` or APQ hash
//! is looked up in the client's manifest or the APQ store (with the committed manifests
//! and router.config.yaml), the query is parsed with the engine's token limit, and the
//! operation is measured against the client's limits with the committed supergraph.
//! Any panic, overflow or hang is a finding.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use gateway::plugins::apq_store::ApqStore;
use gateway::plugins::operation_limits::{CostSchema, OperationLimits, OperationLimitsConfig, check, measure};
use gateway::plugins::trusted_documents::{TrustedDocuments, TrustedDocumentsConfig};
use hive_router::graphql_tools::parser::query::parse_query_with_token_limit;
use libfuzzer_sys::fuzz_target;

const CLIENTS: [Option<&str>; 5] = [None, Some("web"), Some("mobile"), Some("acme"), Some("globex")];
/// router.config.yaml `limits.max_tokens`.
const TOKEN_LIMIT: usize = 4000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    documents: TrustedDocuments,
    limits: OperationLimits,
    schema: CostSchema,
    default_list_size: u64,
    mutation_cost: u64,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(repo.join("gateway/router.config.yaml")).unwrap())
                .unwrap();
        let documents_config: TrustedDocumentsConfig =
            serde_yaml_ng::from_value(config["plugins"]["trusted_documents"]["config"].clone()).unwrap();
        let limits_config: OperationLimitsConfig =
            serde_yaml_ng::from_value(config["plugins"]["operation_limits"]["config"].clone()).unwrap();
        let manifests = TrustedDocuments::load_manifests(&repo.join("frontend-contracts/manifests")).unwrap();
        let apq = ApqStore::memory(1_000, std::time::Duration::from_secs(60));
        let supergraph = std::fs::read_to_string(repo.join("schema/supergraph.graphql")).unwrap();
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread().build().unwrap(),
            documents: TrustedDocuments::new(&documents_config, manifests, Some(apq)),
            default_list_size: limits_config.default_list_size,
            mutation_cost: limits_config.mutation_cost,
            limits: OperationLimits::new(limits_config),
            schema: CostSchema::from_sdl(&supergraph).unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let harness = harness();
    let client = CLIENTS[usize::from(*selector) % CLIENTS.len()];
    let Ok((Some(query), operation_name)) = harness.runtime.block_on(harness.documents.decide_body(client, body))
    else {
        return;
    };
    let Ok(document) = parse_query_with_token_limit::<String>(&query, TOKEN_LIMIT) else {
        return;
    };
    let document = document.into_static();
    let variable = |name: &str| Some(name.len() as u64 * 1_000_003);
    if let Ok(shape) = measure(
        &document,
        operation_name.as_deref(),
        &harness.schema,
        harness.default_list_size,
        harness.mutation_cost,
        &variable,
    ) {
        let _ = check(&shape, &harness.limits.limits_for(client), false);
    }
});
