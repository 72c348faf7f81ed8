//! Status of SipProvider and ClusterSipProvider objects: Ready from the outcome of the account's
//! last list call (made by its trunks; the status adds no provider call), the reasons trunks use,
//! observedGeneration, the number of trunks and the last successful sync. A small loop writes it
//! with server-side apply, only when it changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::SecondsFormat;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};
use secrecy::ExposeSecret;
use serde_json::json;
use tracing::debug;

use super::Context;
use super::accounts::ListOutcome;
use super::deref::{self, ResolvedProvider};
use super::error::redact;
use super::status::{FIELD_MANAGER, condition_with};
use crate::crd::{ClusterSipProvider, ProviderKind, SipProvider, SipProviderStatus, SipTrunk};
use crate::provider::{ProviderError, with_family};

/// How often provider statuses are recomputed (besides a change of a list outcome).
pub const TICK: Duration = Duration::from_secs(2);
/// Longest a status write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What is known about a provider account's health, without calling the provider.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// The token Secret or its key is missing (the message names it).
    SecretMissing(String),
    /// No client can be built from the settings (the message says why).
    ConfigInvalid(String),
    /// The outcome of the account's last list call (None: none yet with this token).
    Listed(Option<ListOutcome>),
}

/// Which provider objects this instance writes status for: only those whose every trunk it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    /// SipProviders (of the watched namespace, or all).
    pub namespaced: bool,
    /// ClusterSipProviders (only an instance that watches every namespace).
    pub cluster: bool,
}

impl Scope {
    /// An instance watching `namespace` (None: all) with `label_selector` (sharding: a shard sees
    /// only some trunks, so it cannot count them, and shards would overwrite each other).
    pub fn of(namespace: Option<&str>, label_selector: Option<&str>) -> Scope {
        let unsharded = label_selector.is_none_or(str::is_empty);
        Scope { namespaced: unsharded, cluster: unsharded && namespace.is_none() }
    }
}

/// The status of a provider object (pure).
pub fn provider_status(
    prev: &SipProviderStatus,
    generation: Option<i64>,
    trunks: i64,
    check: &Check,
) -> SipProviderStatus {
    let c = |type_: &str, status: &str, reason: &str, message: &str| {
        condition_with(&prev.conditions, type_, status, reason, message, generation)
    };
    let mut last_sync_time = prev.last_sync_time.clone();
    let conditions: Vec<Condition> = match check {
        Check::SecretMissing(m) => {
            vec![c("Ready", "False", "SecretNotFound", m), c("Stalled", "True", "SecretNotFound", m)]
        }
        Check::ConfigInvalid(m) => {
            vec![c("Ready", "False", "ProviderConfigInvalid", m), c("Stalled", "True", "ProviderConfigInvalid", m)]
        }
        Check::Listed(None) if trunks == 0 => vec![c(
            "Ready",
            "Unknown",
            "NotChecked",
            "no SipTrunk uses this provider yet; the API token is checked by the account's first list call",
        )],
        // No list yet in this process (a restart, or a new client after a token change), but the
        // token was accepted at this generation: keep saying so until the trunks' next list
        // tells otherwise, rather than flapping to Unknown on every restart.
        Check::Listed(None) if accepted_at(prev, generation) => prev.conditions.clone(),
        Check::Listed(None) => {
            let m = "waiting for the account's first list call";
            vec![c("Ready", "Unknown", "Checking", m), c("Reconciling", "True", "Checking", m)]
        }
        Check::Listed(Some(o)) => {
            if let Some(t) = o.last_success {
                last_sync_time = Some(last_sync(prev, o.error.is_none(), t));
            }
            match &o.error {
                None => vec![c(
                    "Ready",
                    "True",
                    "TokenAccepted",
                    "the provider accepted the API token at the account's last list call",
                )],
                Some(e @ ProviderError::Unauthorized { .. }) => {
                    let m = e.to_string();
                    vec![c("Ready", "False", "Unauthorized", &m), c("Stalled", "True", "Unauthorized", &m)]
                }
                Some(e) => {
                    let reason = match e {
                        ProviderError::RateLimited { .. } => "RateLimited",
                        _ => "ProviderUnavailable",
                    };
                    let m = format!("the account's last list call failed: {e}");
                    vec![c("Ready", "False", reason, &m), c("Reconciling", "True", reason, &m)]
                }
            }
        }
    };
    SipProviderStatus { observed_generation: generation, trunks: Some(trunks), last_sync_time, conditions }
}

fn accepted_at(prev: &SipProviderStatus, generation: Option<i64>) -> bool {
    prev.observed_generation == generation
        && prev.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "TokenAccepted")
}

/// How stale `lastSyncTime` may get while the health does not change: every successful list
/// (one per drift interval) would otherwise be a status write, and a steady state writes nothing.
pub const LAST_SYNC_REFRESH: Duration = Duration::from_secs(3600);

/// `lastSyncTime` after a successful list at `t`: moved when the token was not accepted before
/// (a change of health is written anyway) or when the recorded one is `LAST_SYNC_REFRESH` old.
fn last_sync(prev: &SipProviderStatus, accepted_now: bool, t: chrono::DateTime<chrono::Utc>) -> String {
    let fresh = t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let was_accepted =
        prev.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "TokenAccepted");
    let recorded = prev.last_sync_time.as_deref().and_then(|p| chrono::DateTime::parse_from_rfc3339(p).ok());
    match recorded {
        Some(r) if accepted_now && was_accepted => {
            let age = (t - r.with_timezone(&chrono::Utc)).to_std().unwrap_or_default();
            if age < LAST_SYNC_REFRESH { prev.last_sync_time.clone().unwrap_or(fresh) } else { fresh }
        }
        _ => fresh,
    }
}

/// The account key a trunk refers to (as `ResolvedProvider::key`).
fn trunk_account_key(t: &SipTrunk) -> String {
    let r = &t.spec.provider_ref;
    match r.kind {
        ProviderKind::SipProvider => format!("SipProvider/{}/{}", t.namespace().unwrap_or_default(), r.name),
        ProviderKind::ClusterSipProvider => format!("ClusterSipProvider/{}", r.name),
    }
}

/// Trunks per account key.
pub fn count_trunks<'a>(trunks: impl IntoIterator<Item = &'a SipTrunk>) -> HashMap<String, i64> {
    let mut out = HashMap::new();
    for t in trunks {
        *out.entry(trunk_account_key(t)).or_insert(0) += 1;
    }
    out
}

async fn check(ctx: &Context, p: &ResolvedProvider) -> Check {
    let (ns, name, _) = &p.token_ref;
    let terminating = ctx.secrets.meta().read(ns, name, |s| s.deleting()).unwrap_or(false);
    if terminating {
        // In-use protection keeps it for the deletion of the trunks that use it.
        return Check::SecretMissing(format!(
            "API token: Secret {ns}/{name} is being deleted (kept only while SipTrunks use it, so that they can \
             still be deleted at the provider); point the provider at a new Secret"
        ));
    }
    let token = match deref::read_token(p, &ctx.secrets).await {
        Ok(t) => t,
        Err(e) => return Check::SecretMissing(e.to_string()),
    };
    let secret = token.expose_secret().to_string();
    match with_family!(p.type_, F => ctx.accounts.get::<F>(p, token, &ctx.metrics).map(drop)) {
        Err(e) => Check::ConfigInvalid(redact(&e.to_string(), &[&secret])),
        Ok(_) => Check::Listed(ctx.accounts.last_list(&p.key).map(|mut o| {
            o.error = o.error.map(|e| e.redacted(&[&secret]));
            o
        })),
    }
}

/// Writes provider statuses until the task is dropped: every `TICK`, and at once when a list
/// outcome changes.
pub async fn run(ctx: Arc<Context>, trunks: Store<SipTrunk>, scope: Scope) {
    if !scope.namespaced && !scope.cluster {
        return;
    }
    loop {
        let notified = ctx.accounts.list_outcome_changed().notified();
        sync_once(&ctx, &trunks, scope).await;
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = notified => {}
        }
    }
}

async fn sync_once(ctx: &Context, trunks: &Store<SipTrunk>, scope: Scope) {
    let counts = count_trunks(trunks.state().iter().map(|t| t.as_ref()));
    if scope.namespaced {
        for p in ctx.providers.state() {
            let Some(ns) = p.namespace() else { continue };
            let resolved = deref::resolve_namespaced(&p, &ns);
            let n = counts.get(&resolved.key).copied().unwrap_or(0);
            let checked = check(ctx, &resolved).await;
            let want = provider_status(&p.status.clone().unwrap_or_default(), p.metadata.generation, n, &checked);
            if p.status.as_ref() != Some(&want) {
                let api: Api<SipProvider> = Api::namespaced(ctx.client.clone(), &ns);
                write(&api, "SipProvider", &p.name_any(), &want).await;
            }
        }
    }
    if scope.cluster {
        for p in ctx.cluster_providers.state() {
            let resolved = deref::resolve_cluster(&p);
            let n = counts.get(&resolved.key).copied().unwrap_or(0);
            let checked = check(ctx, &resolved).await;
            let want = provider_status(&p.status.clone().unwrap_or_default(), p.metadata.generation, n, &checked);
            if p.status.as_ref() != Some(&want) {
                let api: Api<ClusterSipProvider> = Api::all(ctx.client.clone());
                write(&api, "ClusterSipProvider", &p.name_any(), &want).await;
            }
        }
    }
}

async fn write<K>(api: &Api<K>, kind: &str, name: &str, status: &SipProviderStatus)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": kind, "status": status});
    let (params, patch) = (PatchParams::apply(FIELD_MANAGER).force(), Patch::Apply(&patch));
    let call = api.patch_status(name, &params, &patch);
    match tokio::time::timeout(WRITE_TIMEOUT, call).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => debug!(kind, name, error = %e, "provider status not written"),
        Err(_) => debug!(kind, name, "provider status write timed out"),
    }
}
