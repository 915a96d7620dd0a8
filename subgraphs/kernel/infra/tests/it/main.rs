//! kernel-infra's integration tests: the outbox, relay, bus and inbox against real
//! databases (SQLite always, PostgreSQL when reachable).

mod relay;
