//! One request to one subgraph, as whoever reaches it sends it: the first byte picks
//! the subgraph (in the order of `platform::CONTEXTS`), the second the caller
//! (anonymous, customer, admin, service, or an assertion made out to another
//! subgraph), the rest is the POST body. The body goes through the subgraph's own
//! router, as in production: the body limit, the JSON request, the GraphQL parse and
//! validation with its limits, the coercion of variables and arguments into each
//! input type and scalar (money, SKUs, ids, dates, e-mails, URLs, `_Any`
//! representations) and the resolvers, on SQLite databases in a folder of their own.
//! Calls to other subgraphs (Checkout's) go to a closed port. Any panic, or an
//! answer of 500, is a finding.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kernel::{Identity, Role};
use kernel_infra::context::Context;
use kernel_infra::identity::AssertionSigner;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// Who sends the request.
#[derive(Clone, Copy)]
enum Caller {
    Anonymous,
    As(Role),
    /// An admin's assertion made out to another subgraph (it must be refused).
    Misaddressed,
}

const CALLERS: [Caller; 5] = [
    Caller::Anonymous,
    Caller::As(Role::Customer),
    Caller::As(Role::Admin),
    Caller::As(Role::Service),
    Caller::Misaddressed,
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    subgraphs: Vec<(&'static str, axum::Router)>,
    signer: AssertionSigner,
    /// One customer throughout, so what one input creates the next can find.
    customer: uuid::Uuid,
    _data: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        let env = [("DATA_DIR".to_owned(), data.path().display().to_string())];
        let config = kernel_infra::config::Config::load_from(&platform::CONTEXTS, None, env).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let uses: Vec<_> = platform::CONTEXTS.iter().flat_map(|spec| spec.key_uses()).collect();
        kernel_infra::identity::install(&config.common, &uses).unwrap();
        kernel_infra::throttle::install(&config.common);
        // Port 9 (discard) is closed here: a call to another subgraph fails at once.
        let peers: BTreeMap<String, String> = platform::CONTEXTS
            .iter()
            .map(|spec| (spec.name.to_owned(), "http://127.0.0.1:9/graphql".to_owned()))
            .collect();
        let subgraphs = runtime.block_on(async {
            let mut subgraphs = Vec::new();
            for spec in &platform::CONTEXTS {
                let context = kernel_infra::service::open(spec, config.context(spec.name).unwrap(), peers.clone())
                    .await
                    .unwrap();
                subgraphs.push((spec.name, Context::router(context.as_ref())));
            }
            subgraphs
        });
        Harness {
            runtime,
            subgraphs,
            signer: AssertionSigner::configured_gateway().unwrap(),
            customer: uuid::Uuid::now_v7(),
            _data: data,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [subgraph, caller, body @ ..] = data else {
        return;
    };
    let harness = harness();
    let index = usize::from(*subgraph) % harness.subgraphs.len();
    let (name, router) = &harness.subgraphs[index];
    let mut request = Request::post("/graphql").header("content-type", "application/json");
    let assertion = |role: Role, audience: &str| {
        let user_id = if role == Role::Customer { harness.customer } else { uuid::Uuid::nil() };
        harness.signer.sign(&Identity { user_id, role }, None, audience).unwrap()
    };
    match CALLERS[usize::from(*caller) % CALLERS.len()] {
        Caller::Anonymous => {}
        Caller::As(role) => request = request.header("x-identity", assertion(role, name)),
        Caller::Misaddressed => {
            let other = harness.subgraphs[(index + 1) % harness.subgraphs.len()].0;
            request = request.header("x-identity", assertion(Role::Admin, other));
        }
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let (status, answer) = harness.runtime.block_on(async {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (status, axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap())
    });
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{name} answered 500: {}",
        String::from_utf8_lossy(&answer)
    );
});
