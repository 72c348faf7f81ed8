//! The SipTrunk controller: shared context, watches (trunks, providers, Secrets) and the
//! kube-runtime `Controller` that drives `reconcile`; the SipDispatchRule controller
//! (`dispatch`) runs beside it on the same context and trunk cache.

pub mod accounts;
mod create;
pub mod deref;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod in_use;
pub mod index;
pub mod marker_key;
pub mod projection;
pub mod providers;
pub mod queue;
pub mod reconcile;
pub mod secret_meta;
pub mod secrets;
pub mod startup;
pub mod status;
pub mod traced;
pub mod validate;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Future, FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

use crate::crd::{ClusterSipProvider, ProviderKind, SipProvider, SipTrunk};
use crate::metrics::Metrics;
pub use error::Error;
use index::TrunkIndex;
use secrets::SecretReader;
use startup::{Cache, CacheSync};

/// Longest a graceful stop waits for running reconciles (each provider call has its own
/// timeout, 10 s by default, so a reconcile normally ends well within this).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// What to watch and how hard to work.
#[derive(Clone, Debug)]
pub struct Config {
    /// Only this namespace (None: all).
    pub namespace: Option<String>,
    /// Only SipTrunks with these labels (sharding).
    pub label_selector: Option<String>,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Where the ownership-marker key comes from.
    pub marker_key: marker_key::MarkerKeySource,
    /// Reconciles of one provider account running at once (None: half of `concurrency`), so
    /// one slow or hostile account leaves the other half to the rest.
    pub account_concurrency: Option<u16>,
    /// Hosts a provider's baseUrl may name besides its type's documented one.
    pub egress: crate::provider::egress::EgressPolicy,
    /// Longest wait between retries of a transient failure (exponential from 1 s up to this).
    pub max_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            label_selector: None,
            concurrency: 16,
            marker_key: Default::default(),
            account_concurrency: None,
            egress: Default::default(),
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

/// Default cap of the per-trunk retry backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Config {
    /// The per-account cap on reconciles in flight.
    pub fn account_cap(&self) -> usize {
        usize::from(self.account_concurrency.unwrap_or(self.concurrency / 2)).max(1)
    }
}

/// How often accounts and per-trunk records of deleted objects are dropped.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Cached SipProviders.
    pub providers: Store<SipProvider>,
    /// Cached ClusterSipProviders.
    pub cluster_providers: Store<ClusterSipProvider>,
    /// Referenced Secrets (metadata cache plus reads of the ones referenced).
    pub secrets: SecretReader,
    /// One client and snapshot per provider account.
    pub accounts: accounts::Accounts,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Events publisher.
    pub recorder: events::Publisher,
    /// The key of ownership markers.
    pub marker_key: crate::model::MarkerKey,
    /// This instance's in-use finalizer (token Secrets, SipProviders).
    pub in_use_finalizer: String,
    /// Cap of the per-trunk retry backoff.
    pub max_backoff: Duration,
    /// Which trunks are due when (every requeue goes here, not to kube-runtime).
    pub queue: Arc<queue::WorkQueue>,
    backoff: Mutex<HashMap<String, u32>>,
}

fn key(trunk: &SipTrunk) -> String {
    format!("{}/{}", trunk.namespace().unwrap_or_default(), trunk.name_any())
}

/// Counts one more failure in a row of the object `key` in `failures` and returns the backoff it
/// earns: 1 s, 2 s, 4 s ... capped at `max` (at least 1 s), jittered to between half and one and
/// a half times that. The one backoff of SipTrunks and SipDispatchRules.
pub fn backoff_after_failure(failures: &Mutex<HashMap<String, u32>>, key: String, max: Duration) -> Duration {
    let attempt = match failures.lock() {
        Ok(mut m) => {
            let n = m.entry(key).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 8,
    };
    let base = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(16)).min(max.max(Duration::from_secs(1)));
    base / 2 + reconcile::jitter(base)
}

impl Context {
    /// Exponential backoff per object with jitter ([`backoff_after_failure`]), capped at
    /// `max_backoff` (5 min by default).
    pub fn next_backoff(&self, trunk: &SipTrunk) -> Duration {
        backoff_after_failure(&self.backoff, key(trunk), self.max_backoff)
    }

    /// Drops the per-trunk record (backoff) of one trunk.
    pub fn forget(&self, trunk: &SipTrunk) {
        if let Ok(mut m) = self.backoff.lock() {
            m.remove(&key(trunk));
        }
    }

    /// Drops what deleted objects left behind: accounts no trunk of an existing provider object
    /// uses, and per-trunk records of trunks no longer in the cache. Returns evicted accounts.
    pub fn sweep(&self, trunks: &Store<SipTrunk>) -> usize {
        let state = trunks.state();
        let live: std::collections::HashSet<String> = state.iter().map(|t| key(t)).collect();
        let used: std::collections::HashSet<String> = state
            .iter()
            .filter_map(|t| deref::provider(t, &self.providers, &self.cluster_providers).ok().map(|p| p.key))
            .collect();
        if let Ok(mut m) = self.backoff.lock() {
            m.retain(|k, _| live.contains(k));
        }
        let evicted = self.accounts.retain_used(&used);
        self.metrics.provider_accounts.set(self.accounts.len() as i64);
        evicted
    }

    /// Per-trunk records held (backoff): for tests of pruning.
    pub fn per_trunk_records(&self) -> usize {
        self.backoff.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Forgets an object's backoff after a success.
    pub fn reset_backoff(&self, trunk: &SipTrunk) {
        if let Ok(mut m) = self.backoff.lock() {
            m.remove(&key(trunk));
        }
    }
}

/// Changes that deserve a reconcile: spec (generation), annotations (pause), deletion,
/// finalizers and a new incarnation (uid: deleted and created again while the watch was down).
/// Status-only updates, including the operator's own, are ignored.
fn trunk_predicate(t: &SipTrunk) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.metadata.generation.hash(&mut h);
    t.annotations().get(reconcile::PAUSED_ANNOTATION).hash(&mut h);
    t.metadata.deletion_timestamp.is_some().hash(&mut h);
    t.finalizers().hash(&mut h);
    t.metadata.uid.hash(&mut h);
    Some(h.finish())
}

/// Provider changes that concern its trunks: spec (generation) of this incarnation (uid). Status
/// writes (the operator's own provider status) do not wake every trunk of the account.
fn provider_predicate<K: ResourceExt>(p: &K) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.meta().uid.hash(&mut h);
    p.meta().generation.hash(&mut h);
    Some(h.finish())
}

fn watcher_config(label_selector: Option<&str>) -> watcher::Config {
    let cfg = watcher::Config::default().any_semantic().page_size(LIST_PAGE_SIZE);
    match label_selector {
        Some(s) => cfg.labels(s),
        None => cfg,
    }
}

/// Readiness: becomes true once every cache has synced.
#[derive(Clone, Default)]
pub struct Readiness(Arc<std::sync::atomic::AtomicBool>);

impl Readiness {
    /// True once caches are synced.
    pub fn is_ready(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Marks the instance ready (caches synced, or a standby waiting for the lease).
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    /// Marks the instance not ready (a new leader whose caches are still syncing).
    pub fn unset(&self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A trunk's run handed to kube-runtime and not finished after this long is taken as lost and
/// handed out again (every call of a reconcile has a timeout; a run takes seconds).
pub const RUN_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// Page size of initial lists: a smaller page bounds the transient memory of one list answer.
pub const LIST_PAGE_SIZE: u32 = 100;

/// Aborts a spawned task when dropped (the controller future may be dropped mid-flight by a
/// leader that must stop writing at once).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Marks `cache` synced when the reflector has applied an initial list (place after `reflect`).
fn mark_synced<K>(sync: &CacheSync, cache: Cache) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) + use<K> {
    let sync = sync.clone();
    move |ev| {
        if matches!(ev, Ok(watcher::Event::InitDone)) {
            sync.mark(cache);
        }
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    cfg: Config,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (trunks_api, providers_api, secrets_api): (Api<SipTrunk>, Api<SipProvider>, Api<PartialObjectMeta<Secret>>) =
        match &cfg.namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone()), Api::all(client.clone())),
        };
    let cluster_api: Api<ClusterSipProvider> = Api::all(client.clone());

    let sync = CacheSync::default();
    let index = TrunkIndex::default();
    // Twice the workers: a worker that finishes finds the next request already waiting.
    let queue = Arc::new(queue::WorkQueue::new(2 * usize::from(cfg.concurrency.max(1)), trunk_predicate));
    let (providers, providers_w) = reflector::store();
    let (cluster_providers, cluster_w) = reflector::store();
    let secret_meta = secret_meta::SecretMetas::default();
    let (trunks, trunks_w) = reflector::store();
    let secrets = SecretReader::new(client.clone(), secret_meta.clone());
    let rules_api: Api<crate::crd::dispatch::SipDispatchRule> = match &cfg.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (rules, rules_w) = reflector::store();
    let rule_index = dispatch::RuleIndex::default();
    let (wake_rules, rules_woken) = futures::channel::mpsc::unbounded();

    let provider_stream = watcher(providers_api, watcher_config(None))
        .default_backoff()
        .modify(|p: &mut SipProvider| p.managed_fields_mut().clear())
        .reflect(providers_w)
        .inspect(dispatch::wake_rules_of_provider(rules.clone(), wake_rules.clone(), ProviderKind::SipProvider))
        .inspect(mark_synced(&sync, Cache::Providers))
        .applied_objects()
        .predicate_filter(provider_predicate, kube::runtime::utils::PredicateConfig::default());
    let cluster_stream = watcher(cluster_api, watcher_config(None))
        .default_backoff()
        .modify(|p: &mut ClusterSipProvider| p.managed_fields_mut().clear())
        .reflect(cluster_w)
        .inspect(dispatch::wake_rules_of_provider(rules.clone(), wake_rules.clone(), ProviderKind::ClusterSipProvider))
        .inspect(mark_synced(&sync, Cache::ClusterProviders))
        .applied_objects()
        .predicate_filter(provider_predicate, kube::runtime::utils::PredicateConfig::default());
    // Secrets: metadata only (no data in memory); a reconcile GETs the ones it references.
    let secret_stream = watcher(secrets_api, watcher_config(None))
        .default_backoff()
        .modify(projection::strip_secret)
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                secret_meta.apply(ev);
            }
        })
        .inspect(mark_synced(&sync, Cache::Secrets))
        .touched_objects();
    // The trunk cache reports ready (and so lets kube-runtime start reconciles) only once every
    // cache a reconcile reads has synced: its InitDone waits for them.
    // Which trunks are due is the work queue's: it sees every event (with the predicate's
    // fingerprint), and kube-runtime gets only the requests it hands out, a few at a time.
    let gate = sync.clone();
    let (idx, work) = (index.clone(), queue.clone());
    let trunk_stream = watcher(trunks_api, watcher_config(cfg.label_selector.as_deref()))
        .default_backoff()
        .modify(projection::strip_trunk)
        .then(move |ev| gate.clone().hold_init_done(startup::DEPENDENCIES, ev))
        .reflect(trunks_w)
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                idx.apply_event(ev);
                work.observe(ev);
            }
        })
        .inspect(dispatch::wake_rules(rule_index.clone(), wake_rules))
        .inspect(mark_synced(&sync, Cache::Trunks))
        .try_filter_map(|_| futures::future::ready(Ok(None::<SipTrunk>)));

    // Rules start once every cache a rule reconcile reads (trunks included) has synced: an
    // unsynced trunk cache would make referenced trunks look gone.
    let gate = sync.clone();
    let rule_stream = watcher(rules_api, watcher_config(cfg.label_selector.as_deref()))
        .default_backoff()
        .modify(|r: &mut crate::crd::dispatch::SipDispatchRule| r.managed_fields_mut().clear())
        .then(move |ev| gate.clone().hold_init_done(startup::ALL, ev))
        .reflect(rules_w)
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                rule_index.apply_event(ev);
            }
        })
        .inspect(mark_synced(&sync, Cache::Rules))
        .applied_objects()
        .predicate_filter(dispatch::predicate, kube::runtime::utils::PredicateConfig::default());

    let shutdown = shutdown.shared();
    let key = loop {
        match marker_key::load(&client, &cfg.marker_key, cfg.namespace.as_deref()).await {
            Ok(k) => break k,
            Err(e) => warn!(error = %e, "marker key not available; retrying in 5 s"),
        }
        tokio::select! {
            _ = shutdown.clone() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    };
    let reporter = Reporter { controller: "siptrunk-operator".into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        client: client.clone(),
        providers: providers.clone(),
        cluster_providers: cluster_providers.clone(),
        secrets: secrets.clone(),
        accounts: accounts::Accounts::new(cfg.egress.clone(), cfg.account_cap()),
        metrics: metrics.clone(),
        recorder: events::Publisher::new(client.clone(), reporter),
        marker_key: key,
        in_use_finalizer: in_use::finalizer_name(cfg.label_selector.as_deref()),
        max_backoff: cfg.max_backoff,
        queue: queue.clone(),
        backoff: Mutex::default(),
    });

    let controller = Controller::for_stream(trunk_stream, trunks.clone())
        .with_config(ControllerConfig::default().concurrency(cfg.concurrency).debounce(Duration::from_millis(5)))
        .reconcile_on(queue.clone().stream())
        .watches_stream(secret_stream, {
            let (p, c, idx, reader) = (providers.clone(), cluster_providers.clone(), index.clone(), secrets.clone());
            let work = queue.clone();
            let finalizers = FinalizerChanges::default();
            move |s: PartialObjectMeta<Secret>| {
                let (ns, name) = (s.namespace().unwrap_or_default(), s.name_any());
                // A change of finalizers only (the operator's own in-use finalizer) is not a
                // change of content: waking every trunk of the Secret for it would re-run trunks
                // that wait for a change (a refused create would be tried again).
                if finalizers.changed(&ns, &name, &s.metadata) {
                    return Vec::new();
                }
                reader.forget(&ns, &name);
                work.trigger(trunks_using_secret(&idx, &p, &c, &ns, &name));
                Vec::new()
            }
        })
        .watches_stream(provider_stream, {
            let (idx, work) = (index.clone(), queue.clone());
            move |p: SipProvider| {
                work.trigger(idx.by_provider(&(
                    ProviderKind::SipProvider,
                    p.namespace().unwrap_or_default(),
                    p.name_any(),
                )));
                Vec::<ObjectRef<SipTrunk>>::new()
            }
        })
        .watches_stream(cluster_stream, {
            let (idx, work) = (index.clone(), queue.clone());
            move |p: ClusterSipProvider| {
                work.trigger(idx.by_provider(&(ProviderKind::ClusterSipProvider, String::new(), p.name_any())));
                Vec::<ObjectRef<SipTrunk>>::new()
            }
        })
        .graceful_shutdown_on(shutdown.clone());

    let ready_watch = {
        let (readiness, sync) = (readiness.clone(), sync.clone());
        let (p, c, idx, reader) = (providers.clone(), cluster_providers.clone(), index.clone(), secrets.clone());
        async move {
            sync.wait(startup::ALL).await;
            info!("caches synced; ready");
            readiness.set();
            loop {
                prune_secret_values(&reader, &idx, &p, &c);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let _ready_task = AbortOnDrop(tokio::spawn(ready_watch));
    let _sweep_task = AbortOnDrop(tokio::spawn({
        let (ctx, trunks) = (ctx.clone(), trunks.clone());
        async move {
            loop {
                tokio::time::sleep(SWEEP_INTERVAL).await;
                let evicted = ctx.sweep(&trunks);
                if evicted > 0 {
                    info!(evicted, "dropped provider accounts no longer used");
                }
                let reclaimed = ctx.queue.reclaim(RUN_DEADLINE);
                if reclaimed > 0 {
                    warn!(reclaimed, "reconciles handed out and never finished; running them again");
                }
            }
        }
    }));
    let _provider_status_task = AbortOnDrop(tokio::spawn({
        let (ctx, trunks, sync) = (ctx.clone(), trunks.clone(), sync.clone());
        let scope = providers::Scope::of(cfg.namespace.as_deref(), cfg.label_selector.as_deref());
        async move {
            // Counts and token checks only once every watch has delivered its initial list.
            sync.wait(startup::ALL).await;
            providers::run(ctx, trunks, scope).await;
        }
    }));
    // The trunk gauges, every 5 s from the start (not gated on every cache being ready).
    let (gauged, metrics) = (trunks.clone(), metrics.clone());
    let _gauge_task = AbortOnDrop(tokio::spawn(async move {
        loop {
            let state = gauged.state();
            metrics.trunks_watched.set(state.len() as i64);
            metrics.trunks_not_ready.set(state.iter().filter(|t| !status::is_ready(t)).count() as i64);
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }));
    let _release_task = AbortOnDrop(tokio::spawn({
        let (ctx, trunks, rules, sync) = (ctx.clone(), trunks.clone(), rules.clone(), sync.clone());
        async move {
            // Every cache must be complete (a missing provider or Secret would look unused, and
            // so would one only a rule not yet listed uses).
            sync.wait(startup::ALL | Cache::Rules as u8).await;
            loop {
                tokio::time::sleep(in_use::RELEASE_INTERVAL).await;
                in_use::release_unused(
                    &ctx.client,
                    &ctx.in_use_finalizer,
                    &trunks,
                    &rules,
                    ctx.secrets.meta(),
                    &ctx.providers,
                    &ctx.cluster_providers,
                )
                .await;
            }
        }
    }));
    let rule_controller = Controller::for_stream(rule_stream, rules)
        .with_config(ControllerConfig::default().concurrency(cfg.concurrency).debounce(Duration::from_millis(5)))
        .reconcile_on(rules_woken)
        .graceful_shutdown_on(shutdown.clone());
    let dispatch_ctx = Arc::new(dispatch::DispatchContext::new(ctx.clone(), trunks.clone()));
    let drive_rules =
        rule_controller.run(dispatch::reconcile, dispatch::error_policy, dispatch_ctx).for_each(|res| async move {
            match res {
                Ok(_) | Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
                Err(other) => warn!(error = %other, "dispatch rule controller error"),
            }
        });
    let drive = controller.run(traced::reconcile, reconcile::error_policy, ctx.clone()).for_each(|res| async move {
        match res {
            // Logged inside the reconcile's span, with its namespace, name and id.
            Ok(_) | Err(kube::runtime::controller::Error::ReconcilerFailed(..)) => {}
            Err(other) => warn!(error = %other, "controller error"),
        }
    });
    // kube-runtime holds its runner until the trunk cache is ready, and a graceful shutdown in
    // that phase never completes (the watches stop, the cache never gets ready): a stop before
    // the caches synced ends at once, and any stop gets SHUTDOWN_GRACE for running reconciles.
    let deadline = async {
        shutdown.await;
        if sync.has(startup::ALL) {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    let drive = futures::future::join(drive, drive_rules);
    tokio::select! {
        _ = drive => {}
        _ = deadline => warn!("controller did not stop gracefully in time; dropping running reconciles"),
    }
    info!("controller stopped");
}

/// The finalizers last seen on each Secret that has any (few do), to tell a finalizer-only
/// update from one of content: a metadata-only watch sees both as a new resourceVersion.
#[derive(Clone, Default)]
struct FinalizerChanges(Arc<Mutex<SeenFinalizers>>);

/// Finalizers by Secret (namespace, name).
type SeenFinalizers = HashMap<(String, String), Vec<String>>;

impl FinalizerChanges {
    /// True when this event changed the finalizers (and so is a finalizer update, not a content
    /// change); records what it saw. A Secret being deleted is never filtered.
    fn changed(&self, ns: &str, name: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
        let now = meta.finalizers.clone().unwrap_or_default();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ns.to_string(), name.to_string());
        let before = seen.get(&key).cloned().unwrap_or_default();
        if now.is_empty() {
            seen.remove(&key);
        } else {
            seen.insert(key, now.clone());
        }
        meta.deletion_timestamp.is_none() && before != now
    }
}

/// Token Secrets of the provider objects: (namespace, name).
fn token_secrets(
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
) -> std::collections::HashSet<index::NsName> {
    let mut out: std::collections::HashSet<index::NsName> = providers
        .state()
        .iter()
        .map(|p| (p.namespace().unwrap_or_default(), p.spec.api_token_secret_ref.name.clone()))
        .collect();
    out.extend(cluster_providers.state().iter().map(|p| {
        let r = &p.spec.api_token_secret_ref;
        (r.namespace.clone(), r.name.clone())
    }));
    out
}

/// Drops kept Secret values that no trunk or provider references any more.
fn prune_secret_values(
    reader: &SecretReader,
    index: &TrunkIndex,
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
) {
    let tokens = token_secrets(providers, cluster_providers);
    reader.retain_referenced(|ns, name| {
        index.is_password(ns, name) || tokens.contains(&(ns.to_string(), name.to_string()))
    });
}

/// Trunks that read Secret `ns/name`: as their password (index lookup), or as the API token of
/// their provider (the provider objects are scanned, then the index is asked for their trunks).
fn trunks_using_secret(
    index: &TrunkIndex,
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
    ns: &str,
    name: &str,
) -> Vec<ObjectRef<SipTrunk>> {
    let mut out = index.by_password(ns, name);
    for p in providers.state() {
        if p.namespace().as_deref() == Some(ns) && p.spec.api_token_secret_ref.name == name {
            out.extend(index.by_provider(&(ProviderKind::SipProvider, ns.to_string(), p.name_any())));
        }
    }
    for p in cluster_providers.state() {
        let r = &p.spec.api_token_secret_ref;
        if r.namespace == ns && r.name == name {
            out.extend(index.by_provider(&(ProviderKind::ClusterSipProvider, String::new(), p.name_any())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn trunk(name: &str) -> SipTrunk {
        serde_json::from_value(json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "metadata": {"name": name, "namespace": "team"},
            "spec": {
                "providerRef": {"kind": "SipProvider", "name": "prov"},
                "phoneNumber": "+14155550100", "numberType": "number", "sipAddress": "sip.carrier.example",
                "auth": {"type": "credentials", "username": "user01", "passwordSecretRef": {"name": "s", "key": "password"}}
            }
        }))
        .expect("trunk")
    }

    #[test]
    fn the_fingerprint_ignores_status_and_sees_spec_finalizers_and_a_new_incarnation() {
        let mut t = trunk("a");
        t.metadata.generation = Some(1);
        t.metadata.uid = Some("u1".into());
        let base = trunk_predicate(&t);
        let mut status_only = t.clone();
        status_only.status = Some(crate::crd::SipTrunkStatus { trunk_id: Some("7".into()), ..Default::default() });
        status_only.metadata.resource_version = Some("99".into());
        assert_eq!(trunk_predicate(&status_only), base, "the operator's own status write");
        let changed = |f: &dyn Fn(&mut SipTrunk)| {
            let mut c = t.clone();
            f(&mut c);
            trunk_predicate(&c)
        };
        assert_ne!(changed(&|c| c.metadata.generation = Some(2)), base);
        assert_ne!(changed(&|c| c.metadata.finalizers = Some(vec![reconcile::FINALIZER.into()])), base);
        assert_ne!(changed(&|c| c.metadata.uid = Some("u2".into())), base, "deleted and created again");
        assert_ne!(
            changed(&|c| {
                c.metadata.annotations =
                    Some([(reconcile::PAUSED_ANNOTATION.to_string(), "true".to_string())].into_iter().collect())
            }),
            base
        );
    }

    #[test]
    fn backoff_doubles_per_failure_within_its_jitter_and_stops_at_the_cap() {
        let failures = Mutex::default();
        let max = Duration::from_secs(8);
        for base in [1, 2, 4, 8, 8] {
            let d = backoff_after_failure(&failures, "ns/a".into(), max);
            let base = Duration::from_secs(base);
            assert!(d >= base / 2 && d < base * 3 / 2, "{d:?} for {base:?}");
        }
        // Another object starts at 1 s.
        assert!(backoff_after_failure(&failures, "ns/b".into(), max) < Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn sweep_prunes_records_of_deleted_trunks_and_evicts_unused_accounts() {
        crate::tls::install_crypto_provider();
        let client = Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().expect("url"))).expect("client");
        let (trunks, mut tw) = reflector::store::<SipTrunk>();
        let (providers, mut pw) = reflector::store::<SipProvider>();
        let (cluster_providers, _cw) = reflector::store();
        let ctx = Context {
            client: client.clone(),
            providers,
            cluster_providers,
            secrets: SecretReader::new(client.clone(), secret_meta::SecretMetas::default()),
            accounts: accounts::Accounts::new(crate::provider::egress::EgressPolicy::default(), 4),
            metrics: Arc::default(),
            recorder: events::Publisher::new(client, Reporter { controller: "test".into(), instance: None }),
            backoff: Mutex::default(),
            marker_key: crate::model::MarkerKey::generate(),
            in_use_finalizer: in_use::finalizer_name(None),
            max_backoff: DEFAULT_MAX_BACKOFF,
            queue: Arc::new(queue::WorkQueue::new(4, trunk_predicate)),
        };
        let provider: SipProvider = serde_json::from_value(json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider",
            "metadata": {"name": "prov", "namespace": "team"},
            "spec": {"type": "bolna", "apiTokenSecretRef": {"name": "tok", "key": "token"}}
        }))
        .expect("provider");
        pw.apply_watcher_event(&Event::Apply(provider.clone()));
        let (a, b) = (trunk("a"), trunk("b"));
        for t in [&a, &b] {
            tw.apply_watcher_event(&Event::Apply(t.clone()));
            ctx.next_backoff(t);
        }
        let resolved = deref::provider(&a, &ctx.providers, &ctx.cluster_providers).expect("resolved");
        ctx.accounts
            .get::<crate::provider::BolnaFamily>(&resolved, "token".to_string().into(), &ctx.metrics)
            .expect("account");
        assert_eq!((ctx.per_trunk_records(), ctx.accounts.len()), (2, 1));

        // b is deleted without passing through cleanup: the sweep drops its records.
        tw.apply_watcher_event(&Event::Delete(b.clone()));
        assert_eq!(ctx.sweep(&trunks), 0);
        assert_eq!((ctx.per_trunk_records(), ctx.accounts.len()), (1, 1));
        // a's records go with its cleanup.
        ctx.forget(&a);
        assert_eq!(ctx.per_trunk_records(), 0);
        // The provider object is deleted: its account is evicted although a trunk still names it.
        pw.apply_watcher_event(&Event::Delete(provider));
        assert_eq!(ctx.sweep(&trunks), 1);
        assert!(ctx.accounts.is_empty());
    }
}
