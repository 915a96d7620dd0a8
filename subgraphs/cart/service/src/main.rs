//! `cart`: the Cart context as its own process, whole (migrations, subgraph, relay,
//! consumers, jobs, health, readiness, metrics, graceful shutdown); see
//! `kernel_infra::service`. `cart --help` lists its commands.

fn main() -> anyhow::Result<()> {
    kernel_infra::service::main(&cart_service::CONTEXT, std::env::args())
}
