//! Prometheus metrics. Labels are route templates and status codes, never paths or queries,
//! so no identifier or search term reaches the metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabels {
    pub lane: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LevelLabels {
    pub level: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub shed: Family<LaneLabels, Counter>,
    pub login_failures: Counter,
    pub rate_limited: Counter,
    pub duration: Histogram,
    pub alerts: Family<LevelLabels, Counter>,
    pub alert_latency: Histogram,
    pub budget_refusals: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rollguard");
        let requests = Family::<RequestLabels, Counter>::default();
        let shed = Family::<LaneLabels, Counter>::default();
        let login_failures = Counter::default();
        let rate_limited = Counter::default();
        let duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_shed", "Requests refused with 503 because their lane was full", shed.clone());
        registry.register("login_failures", "Failed login, MFA and enrolment steps", login_failures.clone());
        registry.register("rate_limited", "Requests refused with 429", rate_limited.clone());
        registry.register("http_request_duration_seconds", "Time to answer a request", duration.clone());
        let alerts = Family::<LevelLabels, Counter>::default();
        let alert_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let budget_refusals = Counter::default();
        registry.register("alerts", "Alerts raised, by level", alerts.clone());
        registry.register(
            "alert_latency_seconds",
            "From the event that fired a rule to the alert being raised",
            alert_latency.clone(),
        );
        registry.register(
            "read_budget_refusals",
            "Requests refused because a read budget ran out",
            budget_refusals.clone(),
        );
        Self {
            registry,
            requests,
            shed,
            login_failures,
            rate_limited,
            duration,
            alerts,
            alert_latency,
            budget_refusals,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
