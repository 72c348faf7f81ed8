//! Step 1, dereference: the provider object, its API token, and the trunk's password.
//! Every miss is a `Blocked` error naming exactly what is missing.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use secrecy::SecretString;

use super::error::Error;
use super::secrets::SecretReader;
use crate::crd::{ClusterSipProvider, ProviderKind, ProviderSettings, ProviderType, SipProvider, SipTrunk};

/// The provider account a trunk refers to, resolved.
#[derive(Clone, Debug)]
pub struct ResolvedProvider {
    /// Stable key of the account object: `SipProvider/ns/name` or `ClusterSipProvider/name`.
    pub key: String,
    /// API family and host defaults.
    pub type_: ProviderType,
    /// Settings.
    pub settings: ProviderSettings,
    /// Namespace and name of the token Secret, and its key.
    pub token_ref: (String, String, String),
}

/// Finds the provider object. A namespaced SipProvider is only visible from its own namespace.
pub fn provider(
    trunk: &SipTrunk,
    providers: &Store<SipProvider>,
    cluster_providers: &Store<ClusterSipProvider>,
) -> Result<ResolvedProvider, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let r = &trunk.spec.provider_ref;
    match r.kind {
        ProviderKind::SipProvider => {
            let p = providers.get(&ObjectRef::new(&r.name).within(&ns)).ok_or_else(|| {
                Error::blocked(
                    "ProviderNotFound",
                    format!(
                        "SipProvider {ns}/{} does not exist (a SipProvider is only visible to trunks in its own namespace; \
                         use kind ClusterSipProvider for a shared account)",
                        r.name
                    ),
                )
            })?;
            Ok(resolve_namespaced(&p, &ns))
        }
        ProviderKind::ClusterSipProvider => {
            let p = cluster_providers.get(&ObjectRef::new(&r.name)).ok_or_else(|| {
                Error::blocked("ProviderNotFound", format!("ClusterSipProvider {} does not exist", r.name))
            })?;
            Ok(resolve_cluster(&p))
        }
    }
}

/// The account of a SipProvider in namespace `ns`.
pub fn resolve_namespaced(p: &SipProvider, ns: &str) -> ResolvedProvider {
    let s = &p.spec.api_token_secret_ref;
    ResolvedProvider {
        key: format!("SipProvider/{ns}/{}", p.name_any()),
        type_: p.spec.type_,
        settings: p.spec.settings.clone(),
        token_ref: (ns.to_string(), s.name.clone(), s.key.clone()),
    }
}

/// The account of a ClusterSipProvider.
pub fn resolve_cluster(p: &ClusterSipProvider) -> ResolvedProvider {
    let s = &p.spec.api_token_secret_ref;
    ResolvedProvider {
        key: format!("ClusterSipProvider/{}", p.name_any()),
        type_: p.spec.type_,
        settings: p.spec.settings.clone(),
        token_ref: (s.namespace.clone(), s.name.clone(), s.key.clone()),
    }
}

/// Reads one key of a Secret from the cache. Trailing line breaks are dropped (a common
/// artefact of `echo value | base64`).
pub fn secret_value(
    secrets: &Store<Secret>,
    ns: &str,
    name: &str,
    key: &str,
    what: &str,
) -> Result<SecretString, Error> {
    secret_data(secrets.get(&ObjectRef::new(name).within(ns)).as_deref(), ns, name, key, what)
}

/// One key of a Secret already read (None: it does not exist), as a value or a `SecretNotFound`
/// naming what to fix (pure). Trailing line breaks are dropped.
pub fn secret_data(
    secret: Option<&Secret>,
    ns: &str,
    name: &str,
    key: &str,
    what: &str,
) -> Result<SecretString, Error> {
    let secret =
        secret.ok_or_else(|| Error::blocked("SecretNotFound", format!("{what}: Secret {ns}/{name} does not exist")))?;
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(key)).map(|s| s.clone().into_bytes()))
        .ok_or_else(|| Error::blocked("SecretNotFound", format!("{what}: Secret {ns}/{name} has no key {key:?}")))?;
    let text = String::from_utf8(raw).map_err(|_| {
        Error::blocked("SecretNotFound", format!("{what}: key {key:?} of Secret {ns}/{name} is not UTF-8 text"))
    })?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(Error::blocked("SecretNotFound", format!("{what}: key {key:?} of Secret {ns}/{name} is empty")));
    }
    Ok(SecretString::from(text.to_string()))
}

/// The API token of a resolved provider, through the controller's Secret reader.
pub async fn read_token(p: &ResolvedProvider, secrets: &SecretReader) -> Result<SecretString, Error> {
    let (ns, name, key) = &p.token_ref;
    secrets.value(ns, name, key, "API token").await
}

/// The trunk's SIP password, through the controller's Secret reader.
pub async fn read_password(trunk: &SipTrunk, secrets: &SecretReader) -> Result<Option<SecretString>, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    match &trunk.spec.auth.password_secret_ref {
        None => Ok(None),
        Some(r) => secrets.value(&ns, &r.name, &r.key, "SIP password").await.map(Some),
    }
}

/// The API token of a resolved provider.
pub fn token(p: &ResolvedProvider, secrets: &Store<Secret>) -> Result<SecretString, Error> {
    let (ns, name, key) = &p.token_ref;
    secret_value(secrets, ns, name, key, "API token")
}

/// The trunk's SIP password, when the spec references one.
pub fn password(trunk: &SipTrunk, secrets: &Store<Secret>) -> Result<Option<SecretString>, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    match &trunk.spec.auth.password_secret_ref {
        None => Ok(None),
        Some(r) => secret_value(secrets, &ns, &r.name, &r.key, "SIP password").map(Some),
    }
}
