//! `notifications`: the Notifications context as its own process, whole (migrations, subgraph, relay,
//! consumers, jobs, health, readiness, metrics, graceful shutdown); see
//! `kernel_infra::service`. `notifications --help` lists its commands.

fn main() -> anyhow::Result<()> {
    kernel_infra::service::main(&notifications_service::CONTEXT, std::env::args())
}
