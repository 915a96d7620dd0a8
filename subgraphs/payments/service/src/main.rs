//! `payments`: the Payments context as its own process, whole (migrations, subgraph, relay,
//! consumers, jobs, health, readiness, metrics, graceful shutdown); see
//! `kernel_infra::service`. `payments --help` lists its commands.

fn main() -> anyhow::Result<()> {
    kernel_infra::service::main(&payments_service::CONTEXT, std::env::args())
}
