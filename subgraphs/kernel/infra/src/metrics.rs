//! The process's metrics, in Prometheus' text format at every subgraph's `/metrics`.
//!
//! One registry per process: the platform launcher runs every context in one process,
//! so each subgraph's `/metrics` shows all of them; a context run alone shows its own.
//!
//! | metric | kind | what |
//! | --- | --- | --- |
//! | `orders_created_total` | counter | orders placed (not replays of an idempotency key) |
//! | `order_creation_latency_ms` | histogram | how long placing an order took |
//! | `inventory_reservation_failures_total` | counter | reservations that failed (unknown SKU, not enough stock, …) |
//! | `webhook_retry_attempts_total` | counter | webhook attempts after the first of a delivery |
//! | `relay_lag_ms{producer}` | histogram | from an event's commit to its publish on the bus |
//! | `relay_published_total{producer}` | counter | events the relays published |
//! | `consumer_lag_ms{consumer}` | histogram | from an event's commit to a consumer's handling of it: how far a consumer (a read model) is behind |
//! | `dead_letters_total{consumer}` | counter | events parked as dead letters after failing again and again |

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

const LATENCY_BUCKETS_MS: [f64; 14] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
];

fn registered<M: prometheus::core::Collector + Clone + 'static>(metric: M) -> M {
    REGISTRY
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once, under its own name");
    metric
}

fn counter(name: &str, help: &str) -> IntCounter {
    registered(IntCounter::new(name, help).expect("a valid metric name"))
}

fn histogram_ms(name: &str, help: &str) -> Histogram {
    registered(
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS_MS.to_vec()))
            .expect("a valid metric name"),
    )
}

pub static ORDERS_CREATED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "orders_created_total",
        "Orders placed (a replayed idempotency key is not counted).",
    )
});

pub static ORDER_CREATION_LATENCY_MS: LazyLock<Histogram> = LazyLock::new(|| {
    histogram_ms(
        "order_creation_latency_ms",
        "How long placing an order took, in milliseconds.",
    )
});

pub static INVENTORY_RESERVATION_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "inventory_reservation_failures_total",
        "Stock reservations that failed: an unknown SKU, not enough stock, ...",
    )
});

pub static WEBHOOK_RETRY_ATTEMPTS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "webhook_retry_attempts_total",
        "Webhook delivery attempts after the first attempt of a delivery.",
    )
});

pub static RELAY_LAG_MS: LazyLock<HistogramVec> = LazyLock::new(|| {
    registered(
        HistogramVec::new(
            HistogramOpts::new(
                "relay_lag_ms",
                "From an event's commit in the outbox to its publish on the bus, in milliseconds.",
            )
            .buckets(LATENCY_BUCKETS_MS.to_vec()),
            &["producer"],
        )
        .expect("a valid metric name"),
    )
});

pub static RELAY_PUBLISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new("relay_published_total", "Events the outbox relays published."),
            &["producer"],
        )
        .expect("a valid metric name"),
    )
});

pub static CONSUMER_LAG_MS: LazyLock<HistogramVec> = LazyLock::new(|| {
    registered(
        HistogramVec::new(
            HistogramOpts::new(
                "consumer_lag_ms",
                "From an event's commit in its producer's outbox to a consumer's handling of it, in milliseconds.",
            )
            .buckets(LATENCY_BUCKETS_MS.to_vec()),
            &["consumer"],
        )
        .expect("a valid metric name"),
    )
});

pub static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    registered(
        IntCounterVec::new(
            Opts::new(
                "dead_letters_total",
                "Events a consumer failed on again and again, parked as dead letters for staff.",
            ),
            &["consumer"],
        )
        .expect("a valid metric name"),
    )
});

/// Every metric in the text exposition format (version 0.0.4), including those that
/// have not moved yet.
pub fn render() -> String {
    LazyLock::force(&ORDERS_CREATED);
    LazyLock::force(&ORDER_CREATION_LATENCY_MS);
    LazyLock::force(&INVENTORY_RESERVATION_FAILURES);
    LazyLock::force(&WEBHOOK_RETRY_ATTEMPTS);
    LazyLock::force(&RELAY_LAG_MS);
    LazyLock::force(&RELAY_PUBLISHED);
    LazyLock::force(&CONSUMER_LAG_MS);
    LazyLock::force(&DEAD_LETTERS);
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&REGISTRY.gather(), &mut text)
        .expect("the text encoder writes to memory");
    String::from_utf8(text).unwrap_or_default()
}

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, name: &str) -> f64 {
        text.lines()
            .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in\n{text}"))
    }

    #[test]
    fn metrics_are_exported_before_they_move_and_count_after() {
        // A labelled metric has no series until a label value is used.
        let before = render();
        for name in [
            "orders_created_total",
            "order_creation_latency_ms",
            "inventory_reservation_failures_total",
            "webhook_retry_attempts_total",
        ] {
            assert!(before.contains(&format!("# TYPE {name} ")), "{name} missing:\n{before}");
        }
        let retries = sample(&before, "webhook_retry_attempts_total");
        WEBHOOK_RETRY_ATTEMPTS.inc();
        RELAY_LAG_MS.with_label_values(&["metrics-test"]).observe(12.0);
        RELAY_PUBLISHED.with_label_values(&["metrics-test"]).inc();
        let after = render();
        assert!(after.contains("# TYPE relay_lag_ms histogram"), "{after}");
        assert_eq!(sample(&after, "relay_published_total{producer=\"metrics-test\"}"), 1.0);
        assert_eq!(sample(&after, "webhook_retry_attempts_total"), retries + 1.0);
        assert_eq!(sample(&after, "relay_lag_ms_count{producer=\"metrics-test\"}"), 1.0);
        assert_eq!(
            sample(&after, "relay_lag_ms_bucket{producer=\"metrics-test\",le=\"25\"}"),
            1.0
        );
        assert_eq!(
            sample(&after, "relay_lag_ms_bucket{producer=\"metrics-test\",le=\"10\"}"),
            0.0
        );
    }
}
