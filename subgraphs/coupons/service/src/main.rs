//! `coupons`: the Coupons context as its own process, whole (migrations, subgraph, relay,
//! consumers, jobs, health, readiness, metrics, graceful shutdown); see
//! `kernel_infra::service`. `coupons --help` lists its commands.

fn main() -> anyhow::Result<()> {
    kernel_infra::service::main(&coupons_service::CONTEXT, std::env::args())
}
