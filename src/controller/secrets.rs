//! Only referenced Secrets: the controller watches Secrets as metadata only (names and
//! resourceVersions, no data) and GETs the one Secret a reconcile needs, keeping just the one key
//! it read, for as long as a trunk or provider still references that Secret and its
//! resourceVersion is unchanged. No Secret data that no object references is ever held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use secrecy::SecretString;

use super::deref;
use super::error::Error;
use super::secret_meta::SecretMetas;

/// Longest a Secret GET may take.
pub const GET_TIMEOUT: Duration = Duration::from_secs(10);

/// "namespace/name" of a Secret (names and namespaces hold no '/'): one allocation, not two.
type Key = Box<str>;

fn key(ns: &str, name: &str) -> Key {
    format!("{ns}/{name}").into_boxed_str()
}

/// The keys read of one Secret at one resourceVersion. A short list, not a map: a Secret is
/// read for one or two keys, and a map per Secret cost ≈ 0.3 KB per trunk at 10,000 trunks;
/// boxed strings, not `String`s, as nothing grows them.
struct Kept {
    resource_version: Box<str>,
    values: Vec<(Box<str>, SecretString)>,
}

/// Reads referenced Secrets; shared by all reconciles.
#[derive(Clone)]
pub struct SecretReader {
    client: Client,
    meta: SecretMetas,
    /// Kept values by Secret.
    cache: Arc<Mutex<HashMap<Key, Kept>>>,
}

impl SecretReader {
    /// A reader over the metadata cache `meta`.
    pub fn new(client: Client, meta: SecretMetas) -> Self {
        SecretReader { client, meta, cache: Arc::default() }
    }

    /// One key of Secret `ns/name`: from the kept value while the Secret's resourceVersion is
    /// unchanged, else with a GET. A Secret the metadata cache does not know is missing (its
    /// creation will wake the trunks that wait for it).
    pub async fn value(&self, ns: &str, name: &str, key: &str, what: &str) -> Result<SecretString, Error> {
        let Some(rv) = self.meta.read(ns, name, |e| e.resource_version().to_string()) else {
            return deref::secret_data(None, ns, name, key, what);
        };
        let k = self::key(ns, name);
        if let Some(v) = self
            .lock()
            .get(&k)
            .filter(|c| *c.resource_version == *rv)
            .and_then(|c| c.values.iter().find(|(name, _)| &**name == key))
        {
            return Ok(v.1.clone());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let got = tokio::time::timeout(GET_TIMEOUT, api.get_opt(name))
            .await
            .map_err(|_| {
                let e =
                    std::io::Error::new(std::io::ErrorKind::TimedOut, format!("reading Secret {ns}/{name} timed out"));
                Error::Kube(kube::Error::Service(Box::new(e)))
            })?
            .map_err(Error::Kube)?;
        let value = deref::secret_data(got.as_ref(), ns, name, key, what)?;
        if let Some(s) = got {
            let resource_version = s.resource_version().unwrap_or_default().into_boxed_str();
            let mut cache = self.lock();
            let kept = cache.entry(k).or_insert_with(|| Kept { resource_version: Box::default(), values: Vec::new() });
            if kept.resource_version != resource_version {
                *kept = Kept { resource_version, values: Vec::with_capacity(1) };
            }
            kept.values.retain(|(name, _)| &**name != key);
            kept.values.push((key.into(), value.clone()));
        }
        Ok(value)
    }

    /// Drops kept values of a Secret that changed or went away.
    pub fn forget(&self, ns: &str, name: &str) {
        self.lock().remove(&*self::key(ns, name));
    }

    /// Drops kept values of Secrets that `referenced` says no object uses any more.
    pub fn retain_referenced(&self, referenced: impl Fn(&str, &str) -> bool) {
        self.lock().retain(|k, _| {
            let (n, m) = k.split_once('/').unwrap_or(("", k));
            referenced(n, m)
        });
    }

    /// Values kept.
    pub fn kept(&self) -> usize {
        self.lock().values().map(|c| c.values.len()).sum()
    }

    /// The metadata cache.
    pub fn meta(&self) -> &SecretMetas {
        &self.meta
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Kept>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
