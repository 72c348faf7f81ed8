//! In-use protection (Crossplane's ProviderConfigUsage idea): while a SipTrunk may still have to
//! delete its trunk at the provider, or a SipDispatchRule its rule, the API-token Secret and the
//! namespaced SipProvider it needs for that carry the finalizer `siptrunk.dev/in-use`, so a
//! namespace deletion (which deletes everything in the namespace at once) cannot remove them
//! first. The finalizer goes once no SipTrunk and no SipDispatchRule uses them. Writes are one merge patch of `metadata.finalizers`, guarded by the
//! object's resourceVersion.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, warn};

use super::deref::{self, ResolvedProvider};
use super::error::Error;
use super::secret_meta::SecretMetas;
use crate::crd::dispatch::SipDispatchRule;
use crate::crd::{ClusterSipProvider, DeletionPolicy, ProviderKind, ProviderRef, SipProvider, SipTrunk};

/// Finalizer on the token Secret and SipProvider while trunks use them.
pub const IN_USE_FINALIZER: &str = "siptrunk.dev/in-use";

/// The finalizer of one controller instance: shards (`--label-selector`) see only their own
/// SipTrunks, so each protects and releases with its own name. Pure.
pub fn finalizer_name(label_selector: Option<&str>) -> String {
    use sha2::Digest;
    match label_selector {
        None => IN_USE_FINALIZER.to_string(),
        Some(sel) => format!("{IN_USE_FINALIZER}-{}", &hex::encode(sha2::Sha256::digest(sel.as_bytes()))[..8]),
    }
}
/// How often unused objects are released.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_secs(10);

/// (namespace, name) of the objects a trunk needs to delete its remote trunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Token Secrets.
    pub secrets: HashSet<(String, String)>,
    /// Namespaced SipProviders.
    pub providers: HashSet<(String, String)>,
}

/// Whether a trunk may still need its provider to delete a remote trunk. Pure.
pub fn needs_provider(trunk: &SipTrunk) -> bool {
    trunk.spec.deletion_policy == DeletionPolicy::Delete
        && trunk.finalizers().iter().any(|f| f == super::reconcile::FINALIZER)
}

/// Whether a dispatch rule may still need its provider to delete its rule there. Pure.
pub fn rule_needs_provider(rule: &SipDispatchRule) -> bool {
    rule.spec.deletion_policy == DeletionPolicy::Delete
        && rule.finalizers().iter().any(|f| f == super::dispatch::FINALIZER)
}

/// What every SipTrunk and SipDispatchRule in the caches needs. Pure over the caches.
pub fn needed(
    trunks: &[std::sync::Arc<SipTrunk>],
    rules: &[std::sync::Arc<SipDispatchRule>],
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
) -> Needs {
    let mut n = Needs::default();
    let mut add = |ns: String, r: &ProviderRef, p: Option<ResolvedProvider>| {
        if let Some(p) = p {
            n.secrets.insert((p.token_ref.0, p.token_ref.1));
        }
        if r.kind == ProviderKind::SipProvider {
            n.providers.insert((ns, r.name.clone()));
        }
    };
    for t in trunks.iter().filter(|t| needs_provider(t)) {
        let p = deref::provider(t, providers, cluster_providers).ok();
        add(t.namespace().unwrap_or_default(), &t.spec.provider_ref, p);
    }
    for r in rules.iter().filter(|r| rule_needs_provider(r)) {
        let ns = r.namespace().unwrap_or_default();
        let p = super::dispatch::rule_provider(r, &ns, providers, cluster_providers).ok();
        add(ns, &r.spec.provider_ref, p);
    }
    n
}

async fn set_finalizer<K>(api: Api<K>, meta: &ObjectMeta, finalizer: &str, add: bool) -> Result<(), kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers: Vec<String> = meta.finalizers.clone().unwrap_or_default();
    let has = finalizers.iter().any(|f| f == finalizer);
    if has == add {
        return Ok(());
    }
    if add {
        finalizers.push(finalizer.to_string());
    } else {
        finalizers.retain(|f| f != finalizer);
    }
    let name = meta.name.clone().unwrap_or_default();
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}});
    match tokio::time::timeout(TIMEOUT, api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "finalizer patch timed out",
        )))),
    }
}

/// Puts the in-use finalizer on the token Secret and the SipProvider of a trunk that may have
/// to delete its remote trunk. A no-op when they carry it already (read from the caches).
pub async fn protect(
    client: &Client,
    finalizer: &str,
    trunk: &SipTrunk,
    provider: &ResolvedProvider,
    secrets: &SecretMetas,
    providers: &Store<SipProvider>,
) -> Result<(), Error> {
    if !needs_provider(trunk) {
        return Ok(());
    }
    let ns = trunk.namespace().unwrap_or_default();
    protect_for(client, finalizer, &ns, &trunk.spec.provider_ref, provider, secrets, providers).await
}

/// [`protect`] for a dispatch rule that may have to delete its rule at the provider.
pub async fn protect_rule(
    client: &Client,
    finalizer: &str,
    rule: &SipDispatchRule,
    provider: &ResolvedProvider,
    secrets: &SecretMetas,
    providers: &Store<SipProvider>,
) -> Result<(), Error> {
    if !rule_needs_provider(rule) {
        return Ok(());
    }
    let ns = rule.namespace().unwrap_or_default();
    protect_for(client, finalizer, &ns, &rule.spec.provider_ref, provider, secrets, providers).await
}

/// Puts the finalizer on the token Secret of `provider` and on the SipProvider `provider_ref`
/// names from namespace `ns`.
async fn protect_for(
    client: &Client,
    finalizer: &str,
    ns: &str,
    provider_ref: &ProviderRef,
    provider: &ResolvedProvider,
    secrets: &SecretMetas,
    providers: &Store<SipProvider>,
) -> Result<(), Error> {
    // A 409 means the object changed since the cache saw it (often: another reconcile added
    // the finalizer a moment ago); the next reconcile looks again.
    let tolerate = |r: Result<(), kube::Error>| match r {
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        other => other,
    };
    let (sns, name, _) = &provider.token_ref;
    // Some(None): it carries the finalizer already; None: no such Secret.
    if let Some(Some(meta)) =
        secrets.read(sns, name, |e| (!e.has_finalizer(finalizer)).then(|| e.object_meta(sns, name)))
    {
        tolerate(set_finalizer(Api::<Secret>::namespaced(client.clone(), sns), &meta, finalizer, true).await)?;
    }
    if provider_ref.kind == ProviderKind::SipProvider
        && let Some(p) = providers.get(&ObjectRef::new(&provider_ref.name).within(ns))
    {
        tolerate(
            set_finalizer(Api::<SipProvider>::namespaced(client.clone(), ns), &p.metadata, finalizer, true).await,
        )?;
    }
    Ok(())
}

/// Removes the in-use finalizer from every Secret and SipProvider no SipTrunk and no
/// SipDispatchRule needs any more.
pub async fn release_unused(
    client: &Client,
    finalizer: &str,
    trunks: &Store<SipTrunk>,
    rules: &Store<SipDispatchRule>,
    secrets: &SecretMetas,
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
) {
    let carries = |f: &Option<Vec<String>>| f.as_ref().is_some_and(|v| v.iter().any(|x| x == finalizer));
    let protected_secrets = secrets.carrying(finalizer);
    let protected_providers: Vec<_> =
        providers.state().into_iter().filter(|p| carries(&p.metadata.finalizers)).collect();
    if protected_secrets.is_empty() && protected_providers.is_empty() {
        return;
    }
    let needs = needed(&trunks.state(), &rules.state(), providers, cluster_providers);
    for (ns, name, s) in protected_secrets {
        let key = (ns, name);
        if !needs.secrets.contains(&key) {
            debug!(secret = %format!("{}/{}", key.0, key.1), "no SipTrunk uses it any more; releasing");
            let meta = s.object_meta(&key.0, &key.1);
            if let Err(e) =
                set_finalizer(Api::<Secret>::namespaced(client.clone(), &key.0), &meta, finalizer, false).await
            {
                warn!(error = %e, "could not release the in-use finalizer of a Secret");
            }
        }
    }
    for p in protected_providers {
        let key = (p.namespace().unwrap_or_default(), p.name_any());
        if !needs.providers.contains(&key)
            && let Err(e) =
                set_finalizer(Api::<SipProvider>::namespaced(client.clone(), &key.0), &p.metadata, finalizer, false)
                    .await
        {
            warn!(error = %e, "could not release the in-use finalizer of a SipProvider");
        }
    }
}
