//! Our plugins for Hive Router: what the engine lacks.
//!
//! They run in registration order (`crate::serve::plugins`): [`identity`] first (it
//! refuses JSON nested too deep for any parser, [`json_depth`], and verifies the token
//! that the others read), then [`trusted_documents`] (which
//! operations a client may send; it names the client for the rest), [`rate_limits`],
//! [`operation_limits`] (depth, aliases, root fields and cost per client) and
//! [`authorization`] (`@authenticated` and `@requiresScopes`). [`console`] serves the
//! operations console's page at `/console/`.

pub mod apq_store;
pub mod authorization;
pub mod console;
pub mod identity;
pub mod json_depth;
pub mod operation_limits;
pub mod rate_limits;
pub mod redis_link;
pub mod response_cache;
pub mod trusted_documents;

/// The client application a request comes from: the verified token's `client` claim,
/// else the client-name header; `None` when neither says. Set by
/// [`trusted_documents`] for every request, read by the plugins after it.
#[derive(Debug, Clone)]
pub struct RequestClient(pub Option<String>);
