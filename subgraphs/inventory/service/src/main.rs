//! `inventory`: the Inventory context as its own process, whole (migrations, subgraph, relay,
//! consumers, jobs, health, readiness, metrics, graceful shutdown); see
//! `kernel_infra::service`. `inventory --help` lists its commands.

fn main() -> anyhow::Result<()> {
    kernel_infra::service::main(&inventory_service::CONTEXT, std::env::args())
}
