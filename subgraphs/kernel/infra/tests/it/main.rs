//! kernel-infra's integration tests: the outbox, relay, bus and inbox against real
//! databases (SQLite always, PostgreSQL when reachable).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod dead_letters;
mod kill;
mod redis_bus;
mod relay;
mod throttle;
