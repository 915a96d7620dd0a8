//! Our plugins for Hive Router: what the engine lacks.
//!
//! They run in registration order: [`identity`] first (it verifies the token that the
//! others read), then [`trusted_documents`] (which operations a client may send).

pub mod apq_store;
pub mod identity;
pub mod trusted_documents;
