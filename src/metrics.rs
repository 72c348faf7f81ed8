//! Prometheus metrics: reconcile totals and durations, errors by bounded reason, provider calls,
//! and the operating basics (`process_*`, build info, leader, controller-runtime-style reconcile
//! results). Every label value comes from a fixed set.

pub mod process;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Labels of provider API calls. Every value comes from a fixed set (never an id or a message).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// The provider type (`ProviderType::as_str`).
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
    /// The provider type (`ProviderType::as_str`).
    pub provider: &'static str,
}

/// Labels of a provider request's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The provider type (`ProviderType::as_str`).
    pub provider: &'static str,
    /// The call, as in [`CallLabels::endpoint`].
    pub endpoint: &'static str,
}

/// Label of controller-runtime's reconcile counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// success, error or requeue (see [`RESULTS`]).
    pub result: &'static str,
}

/// Label of the build info metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The `result` values of `controller_runtime_reconcile_total`: `success` (the reconcile
/// finished; the next look is the drift check), `error` (it failed: retried with backoff when
/// transient, else when the object changes), `requeue` (the provider asked to wait, 429, or
/// the Kubernetes write lost an optimistic-concurrency race, 409: tried again shortly, not a
/// fault).
pub const RESULTS: [&str; 3] = ["success", "error", "requeue"];

/// The `controller` label of the controller-runtime-style metrics.
pub const CONTROLLER: &str = "siptrunk";

/// Buckets of provider request durations, in seconds (5 ms to 30 s; the client's timeout is 30 s).
const PROVIDER_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets of reconcile durations, in seconds.
const RECONCILE_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

fn provider_histogram() -> Histogram {
    Histogram::new(PROVIDER_BUCKETS)
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
    /// SipTrunks in the cache whose Ready condition is not True.
    pub trunks_not_ready: Gauge,
    /// 1 while this replica acts (holds the Lease, or runs without election); 0 on a standby.
    pub leader: Gauge,
    /// Provider request durations (request sent to response headers, or to the failure).
    pub provider_request_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// controller_runtime_reconcile_total{controller, result}.
    pub cr_reconciles: Family<ResultLabels, Counter>,
    /// controller_runtime_reconcile_errors_total{controller}.
    pub cr_reconcile_errors: Counter,
    /// controller_runtime_reconcile_time_seconds{controller}.
    pub cr_reconcile_time: Histogram,
    /// controller_runtime_active_workers{controller}.
    pub cr_active_workers: Gauge,
    /// SipDispatchRule reconciles by result (as [`RESULTS`]).
    pub rule_reconciles: Family<ResultLabels, Counter>,
    /// SipDispatchRule reconciles that failed, by condition reason.
    pub rule_reconcile_errors: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("siptrunk");
        let reconciles = Counter::default();
        let reconcile_errors = Family::<ReasonLabels, Counter>::default();
        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
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
        let trunks_not_ready = Gauge::default();
        registry.register(
            "trunks_not_ready",
            "SipTrunks in the controller cache whose Ready condition is not True",
            trunks_not_ready.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica acts (holds the Lease or runs without election), 0 on a standby",
            leader.clone(),
        );
        let rule_reconciles = Family::<ResultLabels, Counter>::default();
        for result in RESULTS {
            let _ = rule_reconciles.get_or_create(&ResultLabels { result });
        }
        registry.register("dispatch_rule_reconciles", "SipDispatchRule reconciles by result", rule_reconciles.clone());
        let rule_reconcile_errors = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "dispatch_rule_reconcile_errors",
            "SipDispatchRule reconciles that failed, by condition reason",
            rule_reconcile_errors.clone(),
        );
        let provider_request_duration =
            Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(provider_histogram);
        registry.register(
            "provider_request_duration_seconds",
            "Provider API request duration by provider and endpoint (to the response headers or the failure)",
            provider_request_duration.clone(),
        );
        registry.register(
            "build",
            "Build of the running operator (value 1)",
            Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION") }),
        );

        // controller-runtime's names, so dashboards made for Go operators work unchanged.
        let cr = root
            .sub_registry_with_prefix("controller_runtime")
            .sub_registry_with_label((Cow::Borrowed("controller"), Cow::Borrowed(CONTROLLER)));
        let cr_reconciles = Family::<ResultLabels, Counter>::default();
        for result in RESULTS {
            let _ = cr_reconciles.get_or_create(&ResultLabels { result });
        }
        cr.register("reconcile", "Total number of reconciliations per controller and result", cr_reconciles.clone());
        let cr_reconcile_errors = Counter::default();
        cr.register(
            "reconcile_errors",
            "Total number of reconciliation errors per controller",
            cr_reconcile_errors.clone(),
        );
        let cr_reconcile_time = Histogram::new(RECONCILE_BUCKETS);
        cr.register(
            "reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            cr_reconcile_time.clone(),
        );
        let cr_active_workers = Gauge::default();
        cr.register("active_workers", "Number of currently used workers per controller", cr_active_workers.clone());
        root.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry: root,
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
            trunks_not_ready,
            leader,
            provider_request_duration,
            cr_reconciles,
            cr_reconcile_errors,
            cr_reconcile_time,
            cr_active_workers,
            rule_reconciles,
            rule_reconcile_errors,
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
        self.cr_active_workers.inc();
        ReconcileTimer { metrics: self.clone(), start: Instant::now(), result: None }
    }

    /// Records how long one provider request took.
    pub fn provider_request(&self, provider: &'static str, endpoint: &'static str, took: std::time::Duration) {
        self.provider_request_duration
            .get_or_create(&EndpointLabels { provider, endpoint })
            .observe(took.as_secs_f64());
    }

    /// Counts one SipDispatchRule reconcile: its result (one of [`RESULTS`]) and, for a
    /// failure, its condition reason.
    pub fn rule_reconcile(&self, result: &'static str, error_reason: Option<&'static str>) {
        self.rule_reconciles.get_or_create(&ResultLabels { result }).inc();
        if let Some(reason) = error_reason {
            self.rule_reconcile_errors.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    /// Counts one provider call.
    pub fn provider_call(&self, provider: &'static str, endpoint: &'static str, status: Option<u16>) {
        let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.provider_calls.get_or_create(&CallLabels { provider, endpoint, status }).inc();
    }
}

/// Records a reconcile's duration on drop, and its result when [`ReconcileTimer::result`] was
/// called (a reconcile cancelled by a shutdown has none).
pub struct ReconcileTimer {
    metrics: Arc<Metrics>,
    start: Instant,
    result: Option<&'static str>,
}

impl ReconcileTimer {
    /// The reconcile ended with `result`, one of [`RESULTS`].
    pub fn result(&mut self, result: &'static str) {
        self.result = Some(result);
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        let took = self.start.elapsed().as_secs_f64();
        self.metrics.reconcile_duration.observe(took);
        self.metrics.reconciles_in_flight.dec();
        self.metrics.cr_active_workers.dec();
        if let Some(result) = self.result {
            self.metrics.cr_reconcile_time.observe(took);
            self.metrics.cr_reconciles.get_or_create(&ResultLabels { result }).inc();
            if result == "error" {
                self.metrics.cr_reconcile_errors.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, sample: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
    }

    #[test]
    fn a_reconcile_counts_its_result_the_controller_runtime_way() {
        let m = Arc::new(Metrics::default());
        let text = m.encode();
        for result in RESULTS {
            let zero = format!("controller_runtime_reconcile_total{{controller=\"siptrunk\",result=\"{result}\"}}");
            assert_eq!(value(&text, &zero), Some(0.0), "{result} is exported from the start:\n{text}");
        }
        {
            let mut t = m.reconcile_timer();
            assert_eq!(m.cr_active_workers.get(), 1);
            t.result("error");
        }
        {
            let mut t = m.reconcile_timer();
            t.result("success");
        }
        drop(m.reconcile_timer()); // cancelled: duration and workers, no result
        let text = m.encode();
        let total = |r: &str| {
            value(&text, &format!("controller_runtime_reconcile_total{{controller=\"siptrunk\",result=\"{r}\"}}"))
        };
        assert_eq!((total("success"), total("error"), total("requeue")), (Some(1.0), Some(1.0), Some(0.0)));
        assert_eq!(value(&text, "controller_runtime_reconcile_errors_total{controller=\"siptrunk\"}"), Some(1.0));
        assert_eq!(value(&text, "controller_runtime_reconcile_time_seconds_count{controller=\"siptrunk\"}"), Some(2.0));
        assert_eq!(value(&text, "controller_runtime_active_workers{controller=\"siptrunk\"}"), Some(0.0));
        assert_eq!(value(&text, "siptrunk_reconciles_total"), Some(3.0));
    }

    #[test]
    fn dispatch_rule_reconciles_count_by_result_and_errors_by_reason() {
        let m = Metrics::default();
        let text = m.encode();
        for result in RESULTS {
            let zero = format!("siptrunk_dispatch_rule_reconciles_total{{result=\"{result}\"}}");
            assert_eq!(value(&text, &zero), Some(0.0), "{result} is exported from the start:\n{text}");
        }
        m.rule_reconcile("success", None);
        m.rule_reconcile("error", Some("TrunkNotOwned"));
        m.rule_reconcile("error", Some("TrunkNotOwned"));
        let text = m.encode();
        assert_eq!(value(&text, "siptrunk_dispatch_rule_reconciles_total{result=\"success\"}"), Some(1.0));
        assert_eq!(value(&text, "siptrunk_dispatch_rule_reconciles_total{result=\"error\"}"), Some(2.0));
        assert_eq!(
            value(&text, "siptrunk_dispatch_rule_reconcile_errors_total{reason=\"TrunkNotOwned\"}"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(value(&text, "siptrunk_reconciles_total"), Some(0.0), "trunk reconciles are counted apart");
    }

    #[test]
    fn build_info_leader_process_and_provider_durations_are_exported() {
        let m = Metrics::default();
        m.leader.set(1);
        m.provider_request("bolna", "list", std::time::Duration::from_millis(30));
        let text = m.encode();
        let build = format!("siptrunk_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
        assert_eq!(value(&text, &build), Some(1.0), "{text}");
        assert_eq!(value(&text, "siptrunk_leader"), Some(1.0));
        let le = "siptrunk_provider_request_duration_seconds_bucket{le=\"0.05\",provider=\"bolna\",endpoint=\"list\"}";
        let le_below =
            "siptrunk_provider_request_duration_seconds_bucket{le=\"0.025\",provider=\"bolna\",endpoint=\"list\"}";
        assert_eq!((value(&text, le_below), value(&text, le)), (Some(0.0), Some(1.0)), "{text}");
        assert!(value(&text, "process_cpu_seconds_total").is_some_and(|v| v >= 0.0), "{text}");
        for name in ["process_resident_memory_bytes", "process_start_time_seconds", "process_threads"] {
            assert!(value(&text, name).is_some_and(|v| v > 0.0), "{name} missing or zero:\n{text}");
        }
        assert!(value(&text, "process_open_fds").is_some_and(|v| v >= 1.0));
    }
}
