//! Prometheus metrics: requests by route and status, latency, evaluations
//! by flag and reason, config revision per namespace.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvaluationLabels {
    namespace: String,
    flag: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreCallLabels {
    op: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreOpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    evaluations: Family<EvaluationLabels, Counter>,
    revisions: Family<NamespaceLabels, Gauge>,
    results_reads: Counter,
    results_hits: Counter,
    store_calls: Family<StoreCallLabels, Counter>,
    store_latency: Family<StoreOpLabels, Histogram>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to about 26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flagstone");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let evaluations = Family::<EvaluationLabels, Counter>::default();
        let revisions = Family::<NamespaceLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "evaluations",
            "OFREP flag evaluations by namespace, flag and Flagstone reason",
            evaluations.clone(),
        );
        registry.register(
            "config_revision",
            "The config revision served per namespace",
            revisions.clone(),
        );
        let results_reads = Counter::default();
        let results_hits = Counter::default();
        registry.register(
            "results_log_reads",
            "Log-based results computed by reading the exposure and event logs",
            results_reads.clone(),
        );
        registry.register(
            "results_cache_hits",
            "Log-based results answered from the cache without reading the logs",
            results_hits.clone(),
        );
        let store_calls = Family::<StoreCallLabels, Counter>::default();
        let store_latency = Family::<StoreOpLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "assignment_store_calls",
            "Sticky-assignment store calls by operation (read, write) and outcome (ok, error, timeout)",
            store_calls.clone(),
        );
        registry.register(
            "assignment_store_duration_seconds",
            "Sticky-assignment store call latency by operation, timeouts included",
            store_latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            evaluations,
            revisions,
            results_reads,
            results_hits,
            store_calls,
            store_latency,
        }
    }

    /// Counts one request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency.get_or_create(&RouteLabels { route: route.to_owned() }).observe(seconds);
    }

    /// Counts one evaluation.
    pub fn evaluation(&self, namespace: &str, flag: &str, reason: &'static str) {
        self.evaluations
            .get_or_create(&EvaluationLabels {
                namespace: namespace.to_owned(),
                flag: flag.to_owned(),
                reason,
            })
            .inc();
    }

    /// Records a namespace's revision.
    pub fn revision(&self, namespace: &str, revision: u64) {
        self.revisions
            .get_or_create(&NamespaceLabels { namespace: namespace.to_owned() })
            .set(i64::try_from(revision).unwrap_or(i64::MAX));
    }

    /// The counters of log-based results: reads of the logs, cache hits.
    pub(crate) fn results_counters(&self) -> (Counter, Counter) {
        (self.results_reads.clone(), self.results_hits.clone())
    }

    /// Counts one sticky-assignment store call.
    pub fn assignment_store(&self, op: &'static str, outcome: &'static str, seconds: f64) {
        self.store_calls.get_or_create(&StoreCallLabels { op, outcome }).inc();
        self.store_latency.get_or_create(&StoreOpLabels { op }).observe(seconds);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.request("/ofrep/v1/evaluate/flags/{key}", "POST", 200, 0.001);
        m.evaluation("default/production", "flags/a", "MATCH");
        m.revision("default/production", 3);
        m.assignment_store("read", "timeout", 0.25);
        let text = m.render();
        assert!(text.contains("flagstone_http_requests_total{route=\"/ofrep/v1/evaluate/flags/{key}\",method=\"POST\",status=\"200\"} 1"), "{text}");
        assert!(text.contains("flagstone_http_request_duration_seconds_bucket"));
        assert!(text.contains("flagstone_evaluations_total{namespace=\"default/production\",flag=\"flags/a\",reason=\"MATCH\"} 1"));
        assert!(text.contains("flagstone_config_revision{namespace=\"default/production\"} 3"));
        assert!(
            text.contains(
                "flagstone_assignment_store_calls_total{op=\"read\",outcome=\"timeout\"} 1"
            )
        );
    }
}
