//! The SipDispatchRule controller: a LiveKit dispatch rule per object, naming the inbound trunks
//! of the SipTrunks it references (by name, in its own namespace).
//!
//! A SipTrunk's `status.trunkId` is only a hint: before an id is sent, the trunk LiveKit holds
//! under it must carry that SipTrunk's marker as an inbound part. A rule is found again by its
//! own marker (`part=dispatch`), looked for before every create, so a create whose answer was
//! lost is adopted instead of duplicated. A rule whose referenced trunks are all gone is deleted
//! at LiveKit: an empty trunk list would make it serve every trunk of the project. A Ready rule is
//! compared with LiveKit at its provider's drift interval.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, debug, info_span, warn};

use super::Context;
use super::deref::{self, ResolvedProvider};
use super::error::{Error, redact};
use super::status::{self, FIELD_MANAGER, Health};
use crate::crd::dispatch::{SipDispatchRule, SipDispatchRuleStatus};
use crate::crd::{ClusterSipProvider, DeletionPolicy, ProviderKind, ProviderType, SipProvider, SipTrunk};
use crate::provider::ProviderError;
use crate::provider::livekit::LivekitFamily;
use crate::provider::livekit::client::{Client, TrunkScope};
use crate::provider::livekit::dispatch::{self as rules, RuleChange};
use crate::provider::livekit::wire::SipDispatchRuleInfo;

/// Finalizer that guards the rule at LiveKit.
pub const FINALIZER: &str = "siptrunk.dev/cleanup";
/// How often a rule waiting for its trunks looks again (a SipTrunk change wakes it sooner).
pub const WAIT_INTERVAL: Duration = Duration::from_secs(60);

/// What a rule reconcile reads: the trunk controller's context (accounts, caches, recorder,
/// marker key) and its SipTrunk cache.
pub struct DispatchContext {
    /// Shared with the trunk controller: the same account objects, so the same rate limiter
    /// and turns.
    pub base: Arc<Context>,
    /// The SipTrunk cache.
    pub trunks: Store<SipTrunk>,
    backoff: Mutex<HashMap<String, u32>>,
}

impl DispatchContext {
    /// A context over the trunk controller's.
    pub fn new(base: Arc<Context>, trunks: Store<SipTrunk>) -> Self {
        DispatchContext { base, trunks, backoff: Mutex::default() }
    }

    /// The trunks' backoff ([`super::backoff_after_failure`]), counted per rule.
    fn next_backoff(&self, rule: &SipDispatchRule) -> Duration {
        super::backoff_after_failure(&self.backoff, key(rule), self.base.max_backoff)
    }

    fn reset_backoff(&self, rule: &SipDispatchRule) {
        if let Ok(mut m) = self.backoff.lock() {
            m.remove(&key(rule));
        }
    }
}

fn key(rule: &SipDispatchRule) -> String {
    format!("{}/{}", rule.namespace().unwrap_or_default(), rule.name_any())
}

/// Changes that deserve a reconcile: spec (generation), deletion and finalizers; status writes
/// (the operator's own) do not.
pub fn predicate(r: &SipDispatchRule) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    r.metadata.generation.hash(&mut h);
    r.metadata.deletion_timestamp.is_some().hash(&mut h);
    r.finalizers().hash(&mut h);
    Some(h.finish())
}

/// SipTrunk → the rules that name it, kept current from the rule watch stream, so a trunk event
/// wakes its rules in O(rules naming it) instead of a scan of every rule. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct RuleIndex(Arc<RwLock<RuleIndexInner>>);

#[derive(Default)]
struct RuleIndexInner {
    /// Rule `ns/name` → the SipTrunk names it references (in its own namespace).
    by_rule: HashMap<String, Vec<String>>,
    /// SipTrunk `ns/name` → the names of the rules (same namespace) that reference it.
    by_trunk: HashMap<String, HashSet<String>>,
    /// Rules seen since a re-list began (`Init`); replaces the index at `InitDone`.
    relist: Option<HashMap<String, Vec<String>>>,
}

fn rule_entry(rule: &SipDispatchRule) -> (String, Vec<String>) {
    let mut names: Vec<String> = rule.spec.trunk_refs.iter().map(|t| t.name.clone()).collect();
    names.sort();
    names.dedup();
    (key(rule), names)
}

impl RuleIndexInner {
    fn remove(&mut self, rule: &str) {
        let Some(names) = self.by_rule.remove(rule) else { return };
        let (ns, name) = rule.split_once('/').unwrap_or(("", rule));
        for t in names {
            let k = format!("{ns}/{t}");
            if let Some(set) = self.by_trunk.get_mut(&k) {
                set.remove(name);
                if set.is_empty() {
                    self.by_trunk.remove(&k);
                }
            }
        }
    }

    fn upsert(&mut self, rule: String, names: Vec<String>) {
        if self.by_rule.get(&rule) == Some(&names) {
            return;
        }
        self.remove(&rule);
        let (ns, name) = rule.split_once('/').unwrap_or(("", &rule));
        for t in &names {
            self.by_trunk.entry(format!("{ns}/{t}")).or_default().insert(name.to_string());
        }
        self.by_rule.insert(rule, names);
    }
}

impl RuleIndex {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RuleIndexInner> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one event of the rule watch.
    pub fn apply_event(&self, event: &watcher::Event<SipDispatchRule>) {
        let mut inner = self.write();
        match event {
            watcher::Event::Apply(r) => {
                let (k, names) = rule_entry(r);
                inner.upsert(k, names);
            }
            watcher::Event::Delete(r) => inner.remove(&key(r)),
            watcher::Event::Init => inner.relist = Some(HashMap::new()),
            watcher::Event::InitApply(r) => {
                let (k, names) = rule_entry(r);
                match inner.relist.as_mut() {
                    Some(m) => {
                        m.insert(k, names);
                    }
                    None => inner.upsert(k, names),
                }
            }
            watcher::Event::InitDone => {
                if let Some(all) = inner.relist.take() {
                    inner.by_rule.clear();
                    inner.by_trunk.clear();
                    for (k, names) in all {
                        inner.upsert(k, names);
                    }
                }
            }
        }
    }

    /// The rules that name SipTrunk `ns/name`.
    pub fn rules_naming(&self, ns: &str, name: &str) -> Vec<ObjectRef<SipDispatchRule>> {
        let inner = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner
            .by_trunk
            .get(&format!("{ns}/{name}"))
            .map(|rules| rules.iter().map(|r| ObjectRef::new(r).within(ns)).collect())
            .unwrap_or_default()
    }
}

/// A hook on the SipTrunk watch (below its cache, above its predicate, so status changes count):
/// every event of a trunk wakes the rules that name it.
pub fn wake_rules(
    index: RuleIndex,
    tx: UnboundedSender<ObjectRef<SipDispatchRule>>,
) -> impl FnMut(&Result<watcher::Event<SipTrunk>, watcher::Error>) {
    move |ev| {
        let t = match ev {
            Ok(watcher::Event::Apply(t) | watcher::Event::Delete(t) | watcher::Event::InitApply(t)) => t,
            _ => return,
        };
        let ns = t.namespace().unwrap_or_default();
        for r in index.rules_naming(&ns, &t.name_any()) {
            let _ = tx.unbounded_send(r);
        }
    }
}

/// A hook on a provider watch: every event of provider `kind` `ns/name` (ns empty for a
/// ClusterSipProvider) wakes the rules that reference it.
pub fn wake_rules_of_provider<K: Resource>(
    rules: Store<SipDispatchRule>,
    tx: UnboundedSender<ObjectRef<SipDispatchRule>>,
    kind: ProviderKind,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) {
    move |ev| {
        let p = match ev {
            Ok(watcher::Event::Apply(p) | watcher::Event::Delete(p) | watcher::Event::InitApply(p)) => p,
            _ => return,
        };
        let (ns, name) = (p.meta().namespace.clone(), p.meta().name.clone().unwrap_or_default());
        for r in rules.state().iter().filter(|r| {
            r.spec.provider_ref.kind == kind
                && r.spec.provider_ref.name == name
                && (kind == ProviderKind::ClusterSipProvider || r.namespace() == ns)
        }) {
            let _ = tx.unbounded_send(ObjectRef::from_obj(r.as_ref()));
        }
    }
}

/// One reconcile of a rule, in its span.
pub async fn reconcile(rule: Arc<SipDispatchRule>, ctx: Arc<DispatchContext>) -> Result<Action, Error> {
    let span =
        info_span!("reconcile_dispatch_rule", namespace = rule.namespace().unwrap_or_default(), name = rule.name_any());
    let metrics = ctx.base.metrics.clone();
    let outcome = reconcile_inner(rule, ctx).instrument(span.clone()).await;
    let result = super::traced::result_label(&outcome);
    metrics.rule_reconcile(result, outcome.as_ref().err().filter(|_| result == "error").map(Error::reason));
    if let Err(e) = &outcome {
        span.in_scope(|| warn!(reason = e.reason(), error = %e, "dispatch rule reconcile failed"));
    }
    outcome
}

async fn reconcile_inner(rule: Arc<SipDispatchRule>, ctx: Arc<DispatchContext>) -> Result<Action, Error> {
    let ns = rule.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<SipDispatchRule> = Api::namespaced(ctx.base.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, rule.clone(), |event| async {
        match event {
            Finalizer::Apply(r) => apply(&r, &ctx, &api).await,
            Finalizer::Cleanup(r) => cleanup(&r, &ctx).await,
        }
    })
    .await;
    use kube::runtime::finalizer::Error as F;
    match result {
        Ok(action) => {
            ctx.reset_backoff(&rule);
            Ok(action)
        }
        Err(F::ApplyFailed(e) | F::CleanupFailed(e)) => Err(e),
        Err(F::AddFinalizer(e) | F::RemoveFinalizer(e)) => Err(Error::Kube(e)),
        Err(F::UnnamedObject) => Err(Error::MissingMetadata("name")),
        Err(F::InvalidFinalizer) => Err(Error::MissingMetadata("valid finalizer")),
    }
}

/// Transient errors back off per rule; permanent ones are looked at again after `WAIT_INTERVAL`
/// (rules are few, and a token Secret that appears does not wake them).
pub fn error_policy(rule: Arc<SipDispatchRule>, err: &Error, ctx: Arc<DispatchContext>) -> Action {
    match err {
        Error::Provider(ProviderError::Deferred { retry_after }) => Action::requeue(*retry_after),
        Error::Provider(ProviderError::RateLimited { retry_after: Some(d) }) => {
            Action::requeue((*d).max(ctx.next_backoff(&rule)))
        }
        e if e.is_transient() => Action::requeue(ctx.next_backoff(&rule)),
        _ => Action::requeue(WAIT_INTERVAL),
    }
}

/// Where a reconcile ended, besides its health.
struct Outcome {
    health: Health,
    requeue: Duration,
}

async fn apply(rule: &SipDispatchRule, ctx: &DispatchContext, api: &Api<SipDispatchRule>) -> Result<Action, Error> {
    let prev = rule.status.clone().unwrap_or_default();
    let mut work = prev.clone();
    let outcome = run(rule, ctx, api, &mut work).await;
    if let Err(Error::Provider(ProviderError::Deferred { retry_after })) = outcome {
        return Ok(Action::requeue(retry_after));
    }
    let generation = rule.metadata.generation;
    let (outcome, err) = match outcome {
        Ok(o) => (o, None),
        Err(e) => {
            let message = redact(&e.to_string(), &[]);
            let health = if e.is_transient() {
                Health::Progressing { reason: e.reason(), message }
            } else {
                Health::Stalled { reason: e.reason(), message }
            };
            (Outcome { health, requeue: WAIT_INTERVAL }, Some(e))
        }
    };
    work.observed_generation = generation;
    work.conditions = status::conditions(&prev.conditions, &outcome.health, generation);
    if outcome.health == Health::InSync {
        // The shared wording speaks of a trunk.
        for c in &mut work.conditions {
            c.message =
                if c.type_ == "Ready" { "LiveKit holds exactly this rule" } else { "no drift at the last check" }
                    .to_string();
        }
    }
    publish_transition(ctx, rule, &prev, &outcome.health).await;
    write_status(api, rule, &work).await?;
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Action::requeue(outcome.requeue + super::reconcile::jitter(outcome.requeue / 10)))
}

fn provider_of(rule: &SipDispatchRule, ns: &str, ctx: &Context) -> Result<ResolvedProvider, Error> {
    rule_provider(rule, ns, &ctx.providers, &ctx.cluster_providers)
}

/// The provider of a rule in namespace `ns`: a SipProvider of its namespace or a
/// ClusterSipProvider, of type livekit (the controller's caches, or `plan`'s input).
pub fn rule_provider(
    rule: &SipDispatchRule,
    ns: &str,
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
) -> Result<ResolvedProvider, Error> {
    let r = &rule.spec.provider_ref;
    let p = match r.kind {
        ProviderKind::SipProvider => providers
            .get(&ObjectRef::new(&r.name).within(ns))
            .map(|p| deref::resolve_namespaced(&p, ns))
            .ok_or_else(|| Error::blocked("ProviderNotFound", format!("SipProvider {ns}/{} does not exist", r.name)))?,
        ProviderKind::ClusterSipProvider => {
            cluster_providers.get(&ObjectRef::new(&r.name)).map(|p| deref::resolve_cluster(&p)).ok_or_else(|| {
                Error::blocked("ProviderNotFound", format!("ClusterSipProvider {} does not exist", r.name))
            })?
        }
    };
    if p.type_ != ProviderType::Livekit {
        return Err(Error::blocked(
            "ProviderNotLiveKit",
            format!("{} is not a livekit provider: dispatch rules exist only on LiveKit SIP", p.key),
        ));
    }
    Ok(p)
}

/// The refusal of `allTrunks` on a ClusterSipProvider, if the rule asks for it.
pub fn all_trunks_refused(rule: &SipDispatchRule) -> Option<Error> {
    (rule.spec.all_trunks && rule.spec.provider_ref.kind == ProviderKind::ClusterSipProvider).then(|| {
        Error::blocked(
            "AllTrunksRefused",
            "allTrunks is refused on a ClusterSipProvider: its LiveKit project is shared by namespaces, \
             so the rule would take calls of other tenants' trunks; name this namespace's SipTrunks in trunkRefs",
        )
    })
}

/// What the trunk references resolved to.
#[derive(Debug, PartialEq)]
pub enum Trunks {
    /// Every referenced SipTrunk that exists is Ready with an inbound LiveKit trunk: (SipTrunk
    /// name, id); and what is said of those that do not exist (their ids are dropped).
    Ready(Vec<(String, String)>, Vec<String>),
    /// Some are not (yet): why, naming them.
    Waiting(String),
    /// None of the referenced SipTrunks exists (any more): which.
    AllGone(String),
}

/// Resolves `trunkRefs` against the SipTrunk cache (names in the rule's own namespace only).
pub fn resolve_trunks(rule: &SipDispatchRule, ns: &str, trunks: &Store<SipTrunk>) -> Trunks {
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    let mut gone = Vec::new();
    for r in &rule.spec.trunk_refs {
        let Some(t) =
            trunks.get(&ObjectRef::new(&r.name).within(ns)).filter(|t| t.metadata.deletion_timestamp.is_none())
        else {
            gone.push(format!("SipTrunk {ns}/{} does not exist", r.name));
            continue;
        };
        let id = t.status.as_ref().and_then(|s| s.trunk_id.clone()).filter(|i| !i.is_empty());
        let inbound = t.spec.livekit.as_ref().is_some_and(|l| l.inbound.is_some());
        if t.spec.provider_ref != rule.spec.provider_ref {
            waiting.push(format!("SipTrunk {} is on another provider", r.name));
        } else if !inbound {
            waiting.push(format!("SipTrunk {} has no livekit.inbound part (only inbound trunks take calls)", r.name));
        } else if !status::is_ready(&t) {
            waiting.push(format!("SipTrunk {} is not Ready", r.name));
        } else if let Some(id) = id {
            ready.push((r.name.clone(), id));
        } else {
            waiting.push(format!("SipTrunk {} has no status.trunkId yet", r.name));
        }
    }
    if !rule.spec.trunk_refs.is_empty() && gone.len() == rule.spec.trunk_refs.len() {
        Trunks::AllGone(gone.join("; "))
    } else if waiting.is_empty() {
        Trunks::Ready(ready, gone)
    } else {
        waiting.extend(gone);
        Trunks::Waiting(waiting.join("; "))
    }
}

async fn run(
    rule: &SipDispatchRule,
    ctx: &DispatchContext,
    api: &Api<SipDispatchRule>,
    status: &mut SipDispatchRuleStatus,
) -> Result<Outcome, Error> {
    let ns = rule.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let base = &ctx.base;
    let provider = provider_of(rule, &ns, base)?;
    // Keep what deletion needs (token Secret, SipProvider) until this rule is gone.
    let secrets = base.secrets.meta();
    super::in_use::protect_rule(&base.client, &base.in_use_finalizer, rule, &provider, secrets, &base.providers)
        .await?;
    if let Some(e) = all_trunks_refused(rule) {
        return Err(e);
    }
    let resolved = if rule.spec.all_trunks {
        Trunks::Ready(Vec::new(), Vec::new())
    } else {
        resolve_trunks(rule, &ns, &ctx.trunks)
    };
    let (pairs, gone) = match resolved {
        Trunks::Ready(p, gone) => (p, gone),
        Trunks::Waiting(why) => {
            return Ok(Outcome {
                health: Health::Progressing { reason: "TrunkNotReady", message: why },
                requeue: WAIT_INTERVAL,
            });
        }
        Trunks::AllGone(why) => {
            // Every referenced trunk is gone: a rule already at LiveKit is deleted rather than
            // left with an empty trunk list (which LiveKit reads as every trunk).
            let mut message = format!("{why} (names resolve in this namespace)");
            if status.rule_id.is_some() || status.create_intent.is_some() {
                let (account, _turn) = account(&provider, ctx).await?;
                let marker = base.marker_key.marker(&ns, &rule.name_any());
                delete_owned(&account.client, status.rule_id.as_deref(), &marker).await?;
                publish(ctx, rule, EventType::Normal, "Deleted", "every referenced SipTrunk is gone; rule deleted")
                    .await;
                message.push_str("; the rule was removed from LiveKit until one exists again");
            }
            status.rule_id = None;
            status.trunk_ids.clear();
            status.create_intent = None;
            return Ok(Outcome {
                health: Health::Progressing { reason: "TrunkNotReady", message },
                requeue: WAIT_INTERVAL,
            });
        }
    };
    let scope = if rule.spec.all_trunks { TrunkScope::AllTrunks } else { TrunkScope::Listed };
    let (account, _turn) = account(&provider, ctx).await?;
    let client = &account.client;

    // Ownership: the status ids are hints; LiveKit's trunk must carry the SipTrunk's marker.
    let ids: Vec<String> = pairs.iter().map(|(_, id)| id.clone()).collect();
    if !ids.is_empty() {
        let found = client.list_inbound_by_ids(&ids).await?;
        for ((name, id), info) in pairs.iter().zip(found) {
            let trunk_marker = base.marker_key.marker(&ns, name);
            if !info.is_some_and(|i| rules::trunk_is_ours(&i.metadata, &trunk_marker)) {
                return Err(Error::blocked(
                    "TrunkNotOwned",
                    format!(
                        "SipTrunk {name} names LiveKit trunk {id}, which does not carry that SipTrunk's marker as an \
                         inbound trunk; refusing to name it in a dispatch rule"
                    ),
                ));
            }
        }
    }

    let marker = base.marker_key.marker(&ns, &rule.name_any());
    let display = rule.spec.display_name.clone().unwrap_or_else(|| rule.name_any());
    let want = rules::desired(&display, &marker, &rule.spec, ids);
    status.trunk_ids = want.trunk_ids.clone();
    let have = find_owned(client, status.rule_id.as_deref(), &marker).await?;
    match have {
        None => {
            // Write-ahead: the intent is recorded before the create; the marker lookup above
            // runs before every create, so a create whose answer was lost is found, not repeated.
            status.create_intent = Some(chrono::Utc::now().to_rfc3339());
            status.rule_id = None;
            write_status(api, rule, status).await?;
            let created = client.create_dispatch_rule(want, scope).await?;
            status.rule_id = Some(created.sip_dispatch_rule_id.clone());
            status.create_intent = None;
            publish(
                ctx,
                rule,
                EventType::Normal,
                "Created",
                &format!("dispatch rule {}", created.sip_dispatch_rule_id),
            )
            .await;
        }
        Some(have) => {
            let id = have.sip_dispatch_rule_id.clone();
            status.rule_id = Some(id.clone());
            status.create_intent = None;
            match rules::diff(&want, &have) {
                RuleChange::None => {}
                RuleChange::Update(u) => {
                    client.update_dispatch_rule(&id, u, scope).await?;
                    publish(ctx, rule, EventType::Normal, "Updated", &format!("dispatch rule {id} corrected")).await;
                }
                RuleChange::Replace(r) => {
                    client.replace_dispatch_rule(&id, r, scope).await?;
                    publish(ctx, rule, EventType::Normal, "Replaced", &format!("dispatch rule {id} re-sent whole"))
                        .await;
                }
            }
        }
    }
    if !gone.is_empty() {
        // Deleted SipTrunks are dropped from the rule (it serves the others) and reported.
        let message = format!("{}; the rule serves the other referenced trunks", gone.join("; "));
        return Ok(Outcome {
            health: Health::Progressing { reason: "TrunkNotReady", message },
            requeue: WAIT_INTERVAL,
        });
    }
    Ok(Outcome { health: Health::InSync, requeue: account.drift_interval })
}

type LkAccount = (Arc<super::accounts::Account<LivekitFamily>>, super::accounts::Turn);

/// The provider's account (the same object as its trunks') and one of its turns.
async fn account(provider: &ResolvedProvider, ctx: &DispatchContext) -> Result<LkAccount, Error> {
    let base = &ctx.base;
    let token = deref::read_token(provider, &base.secrets).await?;
    let account = base.accounts.get::<LivekitFamily>(provider, token, &base.metrics)?;
    let turn = account.admit().await?;
    Ok((account, turn))
}

/// The rule this object owns: under the id its status records if that rule carries the marker,
/// else the first rule of the project carrying it.
async fn find_owned(
    client: &Client,
    hint: Option<&str>,
    marker: &str,
) -> Result<Option<SipDispatchRuleInfo>, ProviderError> {
    if let Some(id) = hint {
        let got = client.list_dispatch_rules_by_ids(&[id.to_string()]).await?;
        if let Some(Some(r)) = got.into_iter().next()
            && rules::owned(&r.metadata, marker)
        {
            return Ok(Some(r));
        }
    }
    let all = client.list_dispatch_rules(&[]).await?;
    Ok(all.into_iter().find(|r| rules::owned(&r.metadata, marker)))
}

/// Deletes every rule carrying `marker` (found by the hint or a full list); a rule without it is
/// never touched.
async fn delete_owned(client: &Client, hint: Option<&str>, marker: &str) -> Result<(), ProviderError> {
    while let Some(r) = find_owned(client, hint, marker).await? {
        match client.delete_dispatch_rule(&r.sip_dispatch_rule_id).await {
            Ok(_) | Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        debug!(rule = %r.sip_dispatch_rule_id, "dispatch rule deleted");
    }
    Ok(())
}

async fn cleanup(rule: &SipDispatchRule, ctx: &DispatchContext) -> Result<Action, Error> {
    if rule.spec.deletion_policy == DeletionPolicy::Orphan {
        return Ok(Action::await_change());
    }
    // Nothing was ever sent (no id, no create intent): nothing to delete, and no provider to ask
    // (it may be of another type, or gone).
    let status = rule.status.as_ref();
    if status.is_none_or(|s| s.rule_id.is_none() && s.create_intent.is_none()) {
        return Ok(Action::await_change());
    }
    let ns = rule.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let provider = provider_of(rule, &ns, &ctx.base)?;
    let (account, _turn) = account(&provider, ctx).await?;
    let marker = ctx.base.marker_key.marker(&ns, &rule.name_any());
    let hint = status.and_then(|s| s.rule_id.as_deref());
    delete_owned(&account.client, hint, &marker).await?;
    publish(ctx, rule, EventType::Normal, "Deleted", "dispatch rule deleted at LiveKit").await;
    Ok(Action::await_change())
}

/// Applies `status` unless the object already has it.
async fn write_status(
    api: &Api<SipDispatchRule>,
    rule: &SipDispatchRule,
    status: &SipDispatchRuleStatus,
) -> Result<(), kube::Error> {
    if rule.status.as_ref() == Some(status) {
        return Ok(());
    }
    let patch = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipDispatchRule", "status": status});
    api.patch_status(&rule.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

async fn publish(ctx: &DispatchContext, rule: &SipDispatchRule, type_: EventType, reason: &str, note: &str) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.to_string()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.base.recorder.publish(&ev, &rule.object_ref(&())).await {
        debug!(error = %e, "event not published");
    }
}

/// An Event when Ready changes reason (not on every reconcile).
async fn publish_transition(ctx: &DispatchContext, rule: &SipDispatchRule, prev: &SipDispatchRuleStatus, h: &Health) {
    let before = prev.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.reason.clone());
    let (reason, message, warning) = match h {
        Health::InSync => ("Synced", "LiveKit holds exactly this rule".to_string(), false),
        Health::Suspended { reason, .. } => (*reason, String::new(), false),
        Health::Stalled { reason, message } | Health::Progressing { reason, message } => {
            (*reason, message.clone(), true)
        }
    };
    if before.as_deref() == Some(reason) || (reason == "Synced" && before.is_none()) {
        return;
    }
    let type_ = if warning { EventType::Warning } else { EventType::Normal };
    publish(ctx, rule, type_, reason, &message).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event as W;
    use serde_json::json;

    fn trunk(name: &str, provider: &str, inbound: bool, ready: bool, id: Option<&str>) -> SipTrunk {
        let block = if inbound {
            json!({"inbound": {"numbers": ["+14155550100"]}})
        } else {
            json!({"outbound": {"address": "sip.carrier.example", "numbers": ["+14155550100"]}})
        };
        let mut status = json!({"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
            "reason": "x", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]});
        if let Some(id) = id {
            status["trunkId"] = json!(id);
        }
        serde_json::from_value(json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "metadata": {"name": name, "namespace": "team", "generation": 1},
            "spec": {"providerRef": {"kind": "SipProvider", "name": provider},
                     "auth": {"type": "credentials", "username": "u"}, "livekit": block},
            "status": status
        }))
        .expect("trunk")
    }

    fn rule(ns: &str, names: &[&str]) -> SipDispatchRule {
        let refs: Vec<_> = names.iter().map(|n| json!({"name": n})).collect();
        serde_json::from_value(json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipDispatchRule",
            "metadata": {"name": "r", "namespace": ns},
            "spec": {"providerRef": {"name": "lk"}, "trunkRefs": refs, "rule": {"direct": {"roomName": "x"}}}
        }))
        .expect("rule")
    }

    #[test]
    fn trunk_refs_resolve_in_the_own_namespace_to_ready_inbound_trunks_of_the_same_provider() {
        let (store, mut w) = reflector::store::<SipTrunk>();
        for t in [
            trunk("a", "lk", true, true, Some("ST_a")),
            trunk("b", "lk", true, true, Some("ST_b")),
            trunk("out", "lk", false, true, Some("ST_o")),
            trunk("slow", "lk", true, false, None),
            trunk("noid", "lk", true, true, None),
            trunk("other", "lk2", true, true, Some("ST_x")),
        ] {
            w.apply_watcher_event(&W::Apply(t));
        }
        let ready = |names: &[&str]| resolve_trunks(&rule("team", names), "team", &store);
        assert_eq!(
            ready(&["a", "b"]),
            Trunks::Ready(vec![("a".into(), "ST_a".into()), ("b".into(), "ST_b".into())], vec![])
        );
        assert!(matches!(ready(&["a", "gone"]), Trunks::Ready(p, g) if p.len() == 1 && g[0].contains("team/gone")));
        assert!(matches!(ready(&["gone"]), Trunks::AllGone(m) if m.contains("team/gone does not exist")));
        for (bad, says) in [
            ("out", "no livekit.inbound"),
            ("slow", "not Ready"),
            ("noid", "no status.trunkId"),
            ("other", "another provider"),
        ] {
            match ready(&["a", bad]) {
                Trunks::Waiting(m) => assert!(m.contains(says) && m.contains(bad), "{bad}: {m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // The same names from another namespace resolve to nothing.
        assert!(matches!(resolve_trunks(&rule("elsewhere", &["a"]), "elsewhere", &store), Trunks::AllGone(_)));
    }

    fn named(name: &str, ns: &str, trunks: &[&str]) -> SipDispatchRule {
        let mut r = rule(ns, trunks);
        r.metadata.name = Some(name.into());
        r
    }

    #[test]
    fn a_trunk_event_wakes_only_the_rules_naming_it_in_its_namespace() {
        let index = RuleIndex::default();
        index.apply_event(&W::Apply(rule("team", &["a"])));
        assert_eq!(index.rules_naming("team", "a"), vec![ObjectRef::new("r").within("team")]);
        assert!(index.rules_naming("team", "b").is_empty());
        assert!(index.rules_naming("other", "a").is_empty());
    }

    #[test]
    fn the_rule_index_follows_edits_deletes_and_relists() {
        let index = RuleIndex::default();
        let names = |ns: &str, t: &str| {
            let mut v: Vec<String> = index.rules_naming(ns, t).into_iter().map(|r| r.name).collect();
            v.sort();
            v
        };
        index.apply_event(&W::Apply(named("r1", "team", &["a", "b"])));
        index.apply_event(&W::Apply(named("r2", "team", &["a"])));
        assert_eq!(names("team", "a"), vec!["r1", "r2"]);
        // r1 stops naming a.
        index.apply_event(&W::Apply(named("r1", "team", &["b"])));
        assert_eq!(names("team", "a"), vec!["r2"]);
        assert_eq!(names("team", "b"), vec!["r1"]);
        index.apply_event(&W::Delete(named("r2", "team", &["a"])));
        assert!(names("team", "a").is_empty());
        // A re-list replaces everything at InitDone; until then the old index answers.
        index.apply_event(&W::Init);
        index.apply_event(&W::InitApply(named("r3", "team", &["c"])));
        assert_eq!(names("team", "b"), vec!["r1"]);
        index.apply_event(&W::InitDone);
        assert!(names("team", "b").is_empty(), "r1 was not in the re-list");
        assert_eq!(names("team", "c"), vec!["r3"]);
    }
}
