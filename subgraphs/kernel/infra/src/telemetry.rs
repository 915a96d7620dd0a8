//! A process's logs and traces.
//!
//! - **Logs** go to stdout: readable lines by default, one JSON object per line with
//!   `LOG_FORMAT=json`. `RUST_LOG` filters them. A line written inside a request or an
//!   event's handling carries that span's fields: its trace id, correlation id and,
//!   where known, user and order ids.
//! - **Traces** are exported over OTLP/HTTP (`opentelemetry-otlp`) when the standard
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, and
//!   off otherwise; the exporter reads the other `OTEL_EXPORTER_OTLP_*` variables
//!   (headers, timeout) itself. A span continues the W3C `traceparent` of the request
//!   it serves, or of the event it handles (the envelope's trace and span ids), so one
//!   checkout is one trace across the gateway, every service and the event bus.
//!
//! [`init`] installs both for the process; the rest of the crate opens spans with
//! `tracing` and ties them to their parents with the helpers here.

use std::sync::OnceLock;

use kernel::EventEnvelope;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The filter of the log lines when `RUST_LOG` says nothing.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

/// What spans are exported: ours at info and up; each SQL statement's span from
/// sea-orm's driver (emitted at trace level), so a trace shows where its time went in
/// the database; and, as events on the writer's span, the events written to the outbox.
const EXPORTED_SPANS: &str = "info,sea_orm::driver=trace,kernel_infra::outbox=debug,sqlx=off";

/// The tracer provider while traces are exported; flushed by [`Telemetry::shutdown`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// What [`init`] installed; flush it before the process exits.
pub struct Telemetry;

impl Telemetry {
    /// Sends the spans still buffered, waiting a few seconds at most.
    pub fn shutdown(self) {
        if let Some(provider) = PROVIDER.get()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("traces: the last spans were not all exported: {err}");
        }
    }
}

/// Whether this process exports spans (some spans are made only then).
pub fn exporting() -> bool {
    PROVIDER.get().is_some()
}

/// The OTLP traces endpoint the environment names, if any.
pub fn otlp_traces_endpoint() -> Option<String> {
    let set = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    traces_endpoint(
        set("OTEL_EXPORTER_OTLP_ENDPOINT"),
        set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    )
}

/// The traces endpoint: the signal's own when given, else `/v1/traces` under the base
/// (as the OTLP specification says for OTLP/HTTP).
fn traces_endpoint(base: Option<String>, traces: Option<String>) -> Option<String> {
    traces.or_else(|| base.map(|base| format!("{}/v1/traces", base.trim_end_matches('/'))))
}

/// Whether log lines are JSON (`LOG_FORMAT=json`).
pub fn json_logs() -> bool {
    std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"))
}

/// Installs the process's log subscriber and, when an OTLP endpoint is set, its trace
/// exporter, with `service` as the spans' `service.name` (`OTEL_SERVICE_NAME` wins).
/// Call it once; a second call leaves the first in place.
pub fn init(service: &str) -> Telemetry {
    init_with_filter(service, DEFAULT_LOG_FILTER)
}

/// [`init`] with another default log filter (for `RUST_LOG` unset).
pub fn init_with_filter(service: &str, default_filter: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = log_lines(
        json_logs(),
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        std::io::stdout,
    )
    .with_filter(filter);
    let traces = otlp_traces_endpoint().and_then(|endpoint| match tracer_provider(service, &endpoint) {
        Ok(provider) => {
            let tracer = provider.tracer("ecommerce");
            let _ = PROVIDER.set(provider);
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(EnvFilter::new(EXPORTED_SPANS)),
            )
        }
        Err(err) => {
            eprintln!("traces: not exported: {err}");
            None
        }
    });
    let _ = tracing_subscriber::registry().with(logs).with(traces).try_init();
    Telemetry
}

/// The log lines, written to `writer`: JSON objects (with the fields of every span the
/// line was written in, under `spans`) or readable text (with those spans before the
/// message, coloured when `ansi`).
fn log_lines<S, W>(json: bool, ansi: bool, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_writer(writer)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed()
    }
}

fn tracer_provider(service: &str, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()?;
    let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
        exporter,
        opentelemetry_sdk::runtime::TokioCurrentThread,
    )
    .build();
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_owned());
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(name).build())
        .build())
}

/// Makes `span` continue the trace of the request whose headers these are (their
/// `traceparent`); nothing when traces are off or the header is missing or invalid.
pub fn continue_request(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Makes `span` continue the trace of the span that wrote `event` (its envelope's trace
/// and span ids), and links it to that span, as a consumer of a message does.
pub fn continue_event(span: &tracing::Span, event: &EventEnvelope) {
    if let Some(writer) = follow_writer(span, event) {
        span.add_link(writer);
    }
}

/// Makes `span` continue the trace of the span that wrote `event`, as the relay's
/// publishing does; returns that span.
pub fn follow_writer(span: &tracing::Span, event: &EventEnvelope) -> Option<SpanContext> {
    let writer = writer_of(event)?;
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(writer.clone()));
    Some(writer)
}

/// The span that wrote `event`, when its envelope names one.
pub fn writer_of(event: &EventEnvelope) -> Option<SpanContext> {
    let trace_id = TraceId::from_hex(&event.trace_id).ok()?;
    let span_id = SpanId::from_hex(event.span_id.as_deref()?).ok()?;
    let context = SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, true, TraceState::default());
    context.is_valid().then_some(context)
}

/// The trace and span ids of the current span, when it is exported.
pub fn current_ids() -> Option<(String, String)> {
    if !exporting() {
        return None;
    }
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| (span_context.trace_id().to_string(), span_context.span_id().to_string()))
}

/// The trace id of `span`, when it is exported.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    if !exporting() {
        return None;
    }
    let context = span.context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// Puts the current span's `traceparent` on an outgoing request's headers; false when
/// traces are off (nothing was put).
pub fn inject_current(headers: &mut axum::http::HeaderMap) -> bool {
    if !exporting() {
        return false;
    }
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return false;
    }
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    true
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut axum::http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(key.as_bytes()),
            axum::http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_for_traces_comes_from_the_standard_variables() {
        let cases: [(Option<&str>, Option<&str>, Option<&str>); 4] = [
            (None, None, None),
            (
                Some("http://collector:4318"),
                None,
                Some("http://collector:4318/v1/traces"),
            ),
            (
                Some("http://collector:4318/"),
                None,
                Some("http://collector:4318/v1/traces"),
            ),
            (
                Some("http://collector:4318"),
                Some("http://traces:4318/custom"),
                Some("http://traces:4318/custom"),
            ),
        ];
        for (base, traces, expected) in cases {
            let endpoint = traces_endpoint(base.map(str::to_owned), traces.map(str::to_owned));
            assert_eq!(endpoint.as_deref(), expected, "{base:?} {traces:?}");
        }
    }

    /// What a log layer wrote, for the test to read.
    #[derive(Clone, Default)]
    struct Written(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(json: bool) -> String {
        let written = Written::default();
        let sink = written.clone();
        let subscriber = tracing_subscriber::registry().with(log_lines(json, false, move || sink.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "graphql.request",
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                correlation_id = "checkout-42",
                user_id = "0193b1c2-0000-7000-8000-000000000001",
            );
            let _request = request.enter();
            let saga = tracing::info_span!("saga.checkout", order_id = "0193b1c2-0000-7000-8000-0000000000aa");
            let _saga = saga.enter();
            tracing::warn!(step = "CAPTURE_PAYMENT", "saga step unavailable; will retry");
        });
        String::from_utf8(written.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_json_log_line_carries_the_ids_of_the_spans_it_was_written_in() {
        let written = lines_of(true);
        let line: serde_json::Value = serde_json::from_str(written.trim()).expect("one JSON object per line");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["message"], "saga step unavailable; will retry");
        let spans = line["spans"].as_array().unwrap();
        assert_eq!(spans[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(spans[0]["correlation_id"], "checkout-42");
        assert_eq!(spans[0]["user_id"], "0193b1c2-0000-7000-8000-000000000001");
        assert_eq!(spans[1]["order_id"], "0193b1c2-0000-7000-8000-0000000000aa");
    }

    #[test]
    fn a_readable_log_line_names_the_same_ids() {
        let written = lines_of(false);
        assert_eq!(written.lines().count(), 1, "{written}");
        for id in [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "checkout-42",
            "0000000000aa",
            "saga step unavailable",
        ] {
            assert!(written.contains(id), "{id} missing from {written}");
        }
        assert!(!written.trim_start().starts_with('{'), "{written}");
    }

    #[test]
    fn an_event_names_its_writer_only_with_valid_ids() {
        let mut event = EventEnvelope::wrap(
            &Sample,
            "test",
            &kernel::EventMeta {
                trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
                span_id: Some("00f067aa0ba902b7".into()),
                correlation_id: None,
            },
            chrono::Utc::now(),
        );
        let writer = writer_of(&event).unwrap();
        assert_eq!(writer.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(writer.span_id().to_string(), "00f067aa0ba902b7");
        assert!(writer.is_remote());
        event.span_id = None;
        assert!(writer_of(&event).is_none());
        event.span_id = Some("not hex".into());
        assert!(writer_of(&event).is_none());
        event.span_id = Some("0000000000000000".into());
        assert!(writer_of(&event).is_none());
    }

    struct Sample;
    impl kernel::DomainEvent for Sample {
        fn event_type(&self) -> &'static str {
            "ecommerce.test.sample.happened.v1"
        }
        fn partition_key(&self) -> String {
            "k".into()
        }
        fn payload(&self) -> serde_json::Value {
            serde_json::json!({})
        }
    }
}
