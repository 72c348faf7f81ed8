//! Prometheus metrics: reconcile totals and durations, errors by bounded reason, provider calls.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of provider API calls. Every value comes from a fixed set (never an id or a message).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// autocalls, famulor or bolna.
    pub provider: &'static str,
    /// list, get, create, update, delete, set_nickname, list_numbers, add_number, remove_number.
    pub endpoint: &'static str,
    /// HTTP status code, or "error" when no response arrived.
    pub status: String,
}

/// Labels with a single bounded reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A condition reason such as InvalidSpec or ProviderError.
    pub reason: &'static str,
}

/// Labels with the provider type only.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    /// autocalls, famulor or bolna.
    pub provider: &'static str,
}

/// Labels of provider actions taken by the controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// created, updated, adopted, deleted, orphaned.
    pub action: &'static str,
}

/// All metrics of one controller process.
pub struct Metrics {
    registry: Registry,
    /// Reconciles run.
    pub reconciles: Counter,
    /// Reconciles that ended in an error, by reason.
    pub reconcile_errors: Family<ReasonLabels, Counter>,
    /// Reconcile duration in seconds.
    pub reconcile_duration: Histogram,
    /// Provider API calls by provider, endpoint and status.
    pub provider_calls: Family<CallLabels, Counter>,
    /// Times a request waited for the client-side rate limiter or a provider Retry-After.
    pub ratelimit_waits: Family<ProviderLabels, Counter>,
    /// Provider list items skipped because they do not parse, by provider.
    pub list_items_skipped: Family<ProviderLabels, Counter>,
    /// Provider writes performed, by action.
    pub actions: Family<ActionLabels, Counter>,
    /// Reconciles currently running.
    pub reconciles_in_flight: Gauge,
    /// SipTrunks known to the controller's cache.
    pub trunks_watched: Gauge,
    /// Provider accounts (client, rate limiter, snapshot) held.
    pub provider_accounts: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("siptrunk");
        let reconciles = Counter::default();
        let reconcile_errors = Family::<ReasonLabels, Counter>::default();
        let reconcile_duration = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        let provider_calls = Family::<CallLabels, Counter>::default();
        let ratelimit_waits = Family::<ProviderLabels, Counter>::default();
        let actions = Family::<ActionLabels, Counter>::default();
        let list_items_skipped = Family::<ProviderLabels, Counter>::default();
        let reconciles_in_flight = Gauge::default();
        let trunks_watched = Gauge::default();
        let provider_accounts = Gauge::default();
        registry.register("reconciles", "SipTrunk reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "SipTrunk reconciles that failed, by condition reason",
            reconcile_errors.clone(),
        );
        registry.register("reconcile_duration_seconds", "Duration of SipTrunk reconciles", reconcile_duration.clone());
        registry.register(
            "provider_calls",
            "Provider API calls by provider, endpoint and HTTP status",
            provider_calls.clone(),
        );
        registry.register(
            "ratelimit_waits",
            "Provider requests that waited for the rate limiter or a Retry-After",
            ratelimit_waits.clone(),
        );
        registry.register(
            "provider_list_items_skipped",
            "Provider list items skipped because they do not parse, by provider",
            list_items_skipped.clone(),
        );
        registry.register("provider_writes", "Provider writes by action", actions.clone());
        registry.register("reconciles_in_flight", "SipTrunk reconciles running now", reconciles_in_flight.clone());
        registry.register("trunks_watched", "SipTrunks in the controller cache", trunks_watched.clone());
        registry.register(
            "provider_accounts",
            "Provider accounts held (evicted when unused)",
            provider_accounts.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            provider_calls,
            ratelimit_waits,
            list_items_skipped,
            actions,
            reconciles_in_flight,
            trunks_watched,
            provider_accounts,
        }
    }
}

impl Metrics {
    /// The registry in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Starts timing one reconcile; the guard records duration and in-flight count when dropped.
    pub fn reconcile_timer(self: &Arc<Self>) -> ReconcileTimer {
        self.reconciles.inc();
        self.reconciles_in_flight.inc();
        ReconcileTimer { metrics: self.clone(), start: Instant::now() }
    }

    /// Counts one provider call.
    pub fn provider_call(&self, provider: &'static str, endpoint: &'static str, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.provider_calls.get_or_create(&CallLabels { provider, endpoint, status }).inc();
    }
}

/// Records a reconcile's duration on drop.
pub struct ReconcileTimer {
    metrics: Arc<Metrics>,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics.reconcile_duration.observe(self.start.elapsed().as_secs_f64());
        self.metrics.reconciles_in_flight.dec();
    }
}
