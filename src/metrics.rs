//! Prometheus metrics: what an operator graphs and alerts on.
//!
//! Why one process-wide registry: the LDAP listener, the sync worker and the Graph client all
//! count things, and threading a handle through every layer would add noise to code whose
//! subject is something else. Recording is a few atomic operations (label lookups are
//! read-locked hash probes), cheap enough for every LDAP operation. The text exposition is
//! served at `GET /metrics` on the admin listener (see docs/api.md).

use crate::model::{SyncOutcome, SyncRun};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

/// `op` and numeric LDAP result `code` of an operation.
type OpLabels = [(&'static str, OpLabel); 2];

/// A label value: an operation name or a result code.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum OpLabel {
    Name(&'static str),
    Code(i64),
}

impl prometheus_client::encoding::EncodeLabelValue for OpLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        match self {
            OpLabel::Name(name) => name.encode(encoder),
            OpLabel::Code(code) => code.encode(encoder),
        }
    }
}

type Labels1 = [(&'static str, &'static str); 1];

/// Latency buckets from 50 µs to ~1.6 s: LDAP searches take tens of microseconds, cold binds
/// tens of milliseconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric we export.
pub struct Metrics {
    registry: Registry,
    ldap_operations: Family<OpLabels, Counter>,
    ldap_latency: Family<Labels1, Histogram, fn() -> Histogram>,
    ldap_connections: Gauge,
    ldap_bind_failures: Counter,
    sync_runs: Family<Labels1, Counter>,
    sync_last_success: Gauge<f64, AtomicU64>,
    sync_last_run_graph_requests: Gauge,
    graph_requests: Counter,
    graph_throttled: Counter,
    directory_entries: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("entra_ldap");
        let m = Metrics {
            ldap_operations: Family::default(),
            ldap_latency: Family::new_with_constructor(latency_histogram),
            ldap_connections: Gauge::default(),
            ldap_bind_failures: Counter::default(),
            sync_runs: Family::default(),
            sync_last_success: Gauge::default(),
            sync_last_run_graph_requests: Gauge::default(),
            graph_requests: Counter::default(),
            graph_throttled: Counter::default(),
            directory_entries: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "ldap_operations",
            "LDAP operations by type and result code",
            m.ldap_operations.clone(),
        );
        registry.register(
            "ldap_operation_duration_seconds",
            "LDAP operation latency by type",
            m.ldap_latency.clone(),
        );
        registry.register(
            "ldap_connections_open",
            "Open LDAP/LDAPS client connections",
            m.ldap_connections.clone(),
        );
        registry.register(
            "ldap_bind_failures",
            "Simple binds answered invalidCredentials (unknown user, wrong password or inactive user)",
            m.ldap_bind_failures.clone(),
        );
        registry.register(
            "sync_runs",
            "Finished sync runs by outcome",
            m.sync_runs.clone(),
        );
        registry.register(
            "sync_last_success_timestamp_seconds",
            "When the last successful sync run finished (Unix time)",
            m.sync_last_success.clone(),
        );
        registry.register(
            "sync_last_run_graph_requests",
            "Graph requests made by the last finished sync run",
            m.sync_last_run_graph_requests.clone(),
        );
        registry.register(
            "graph_requests",
            "HTTP requests sent to Microsoft Graph",
            m.graph_requests.clone(),
        );
        registry.register(
            "graph_throttled",
            "Graph responses that asked us to back off (429, 503, 504)",
            m.graph_throttled.clone(),
        );
        registry.register(
            "directory_entries",
            "Entries in the served directory snapshot",
            m.directory_entries.clone(),
        );
        Metrics { registry, ..m }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Counts one finished LDAP operation with its result code and latency.
pub fn ldap_operation(op: &'static str, code: i64, seconds: f64) {
    let m = &*METRICS;
    m.ldap_operations
        .get_or_create(&[("op", OpLabel::Name(op)), ("code", OpLabel::Code(code))])
        .inc();
    m.ldap_latency.get_or_create(&[("op", op)]).observe(seconds);
    if op == "bind" && code == 49 {
        m.ldap_bind_failures.inc();
    }
}

/// Holds the open-connections gauge up while a connection lives.
pub struct ConnectionGuard(());

impl ConnectionGuard {
    pub fn open() -> ConnectionGuard {
        METRICS.ldap_connections.inc();
        ConnectionGuard(())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        METRICS.ldap_connections.dec();
    }
}

/// Counts a finished sync run (and its Graph requests).
pub fn sync_run(run: &SyncRun) {
    let m = &*METRICS;
    let outcome = match run.outcome {
        SyncOutcome::Running => return,
        SyncOutcome::Succeeded => "succeeded",
        SyncOutcome::Failed => "failed",
        SyncOutcome::Held => "held",
        SyncOutcome::Discarded => "discarded",
    };
    m.sync_runs.get_or_create(&[("outcome", outcome)]).inc();
    m.graph_requests.inc_by(run.graph_requests);
    m.sync_last_run_graph_requests
        .set(i64::try_from(run.graph_requests).unwrap_or(i64::MAX));
    if run.outcome == SyncOutcome::Succeeded {
        m.sync_last_success
            .set(run.finished.unwrap_or(run.started) as f64);
    }
}

/// Counts a Graph answer asking us to back off.
pub fn graph_throttled() {
    METRICS.graph_throttled.inc();
}

/// Records the size of the snapshot now served.
pub fn directory_entries(entries: usize) {
    METRICS
        .directory_entries
        .set(i64::try_from(entries).unwrap_or(i64::MAX));
}

/// The OpenMetrics text exposition of every metric.
pub fn render() -> String {
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &METRICS.registry) {
        tracing::warn!(error = %e, "cannot encode metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line starting with `prefix`, if any.
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn operations_connections_and_runs_are_exported() {
        let before = sample(&render(), "entra_ldap_ldap_bind_failures_total").unwrap_or(0.0);
        ldap_operation("bind", 49, 0.02);
        ldap_operation("search", 0, 0.000_1);
        let guard = ConnectionGuard::open();
        let text = render();
        assert!(
            text.contains("entra_ldap_ldap_operations_total{op=\"bind\",code=\"49\"}"),
            "{text}"
        );
        assert!(
            text.contains(
                "entra_ldap_ldap_operation_duration_seconds_bucket{le=\"0.0001\",op=\"search\"}"
            ) || text.contains(
                "entra_ldap_ldap_operation_duration_seconds_bucket{op=\"search\",le=\"0.0001\"}"
            ),
            "{text}"
        );
        assert!(sample(&text, "entra_ldap_ldap_bind_failures_total").unwrap() >= before + 1.0);
        assert!(sample(&text, "entra_ldap_ldap_connections_open").unwrap() >= 1.0);
        drop(guard);
        assert!(text.ends_with("# EOF\n"));
    }
}
