//! What the controller knows of every Secret it can see: not a reflector store of metadata
//! objects (≈ 0.6 kB per Secret at 10,000 trunks, P4 of issue 12) but a map of only what is
//! read — resourceVersion (kept Secret values are valid while it is unchanged; the guard of a
//! finalizer patch), finalizers (the in-use finalizer; a patch rewrites the whole list) and
//! whether the Secret is being deleted — fed by the metadata-only watch.
//!
//! Per Secret: the key `namespace/name` (`Box<str>`, 16 bytes) and an [`Entry`] (40 bytes) in
//! the table, plus the two strings on the heap (the key, ≈ 32 bytes; the resourceVersion, 8 to
//! 16). A Secret without finalizers allocates nothing more (an empty boxed slice).
//!
//! Re-lists follow the reflector: `Init` starts a new map, `InitApply` fills it, `InitDone`
//! swaps it in (so a Secret deleted during a watch gap goes), and until then reads see the
//! previous, complete map.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;

/// What the controller reads of one Secret's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    resource_version: Box<str>,
    /// Usually empty (no allocation).
    finalizers: Box<[Box<str>]>,
    deleting: bool,
}

impl Entry {
    fn of(m: &ObjectMeta) -> Self {
        Entry {
            resource_version: m.resource_version.as_deref().unwrap_or_default().into(),
            finalizers: m.finalizers.iter().flatten().map(|f| f.as_str().into()).collect(),
            deleting: m.deletion_timestamp.is_some(),
        }
    }

    /// The Secret's resourceVersion ("" if the server sent none).
    pub fn resource_version(&self) -> &str {
        &self.resource_version
    }

    /// Whether finalizer `f` is on the Secret.
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| &**x == f)
    }

    /// Whether the Secret is being deleted (it has a deletionTimestamp).
    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// The metadata a finalizer patch is computed from: name, namespace, resourceVersion and
    /// finalizers.
    pub fn object_meta(&self, ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            resource_version: (!self.resource_version.is_empty()).then(|| self.resource_version.to_string()),
            finalizers: (!self.finalizers.is_empty()).then(|| self.finalizers.iter().map(|f| f.to_string()).collect()),
            ..ObjectMeta::default()
        }
    }
}

/// Entries by `namespace/name` (neither may contain a '/').
type Map = HashMap<Box<str>, Entry>;

#[derive(Default)]
struct Inner {
    live: Map,
    /// The re-list in progress (between `Init` and `InitDone`).
    relist: Option<Map>,
}

/// The Secret metadata map; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct SecretMetas(Arc<RwLock<Inner>>);

fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

fn key_of(s: &PartialObjectMeta<Secret>) -> Option<Box<str>> {
    let name = s.metadata.name.as_deref()?;
    Some(key(s.metadata.namespace.as_deref().unwrap_or_default(), name).into_boxed_str())
}

impl SecretMetas {
    /// Applies one watcher event, as a reflector would.
    pub fn apply(&self, event: &Event<PartialObjectMeta<Secret>>) {
        let mut g = self.write();
        match event {
            Event::Apply(s) => {
                if let Some(k) = key_of(s) {
                    g.live.insert(k, Entry::of(&s.metadata));
                }
            }
            Event::Delete(s) => {
                if let Some(k) = key_of(s) {
                    g.live.remove(&k);
                }
            }
            Event::Init => {
                // Sized like the current map: no doubling (and two tables at once) while it fills.
                let n = g.live.len();
                g.relist = Some(Map::with_capacity(n));
            }
            Event::InitApply(s) => {
                if let Some(k) = key_of(s) {
                    g.relist.get_or_insert_with(Map::new).insert(k, Entry::of(&s.metadata));
                }
            }
            Event::InitDone => {
                let mut new = g.relist.take().unwrap_or_default();
                new.shrink_to_fit();
                g.live = new;
            }
        }
    }

    /// `f` of the entry of Secret `ns/name`, if it is known.
    pub fn read<R>(&self, ns: &str, name: &str, f: impl FnOnce(&Entry) -> R) -> Option<R> {
        self.read_lock().live.get(key(ns, name).as_str()).map(f)
    }

    /// The entry of Secret `ns/name`, if it is known.
    pub fn get(&self, ns: &str, name: &str) -> Option<Entry> {
        self.read(ns, name, Entry::clone)
    }

    /// (namespace, name, entry) of every Secret carrying finalizer `f`.
    pub fn carrying(&self, f: &str) -> Vec<(String, String, Entry)> {
        self.read_lock()
            .live
            .iter()
            .filter(|(_, e)| e.has_finalizer(f))
            .filter_map(|(k, e)| k.split_once('/').map(|(ns, name)| (ns.to_string(), name.to_string(), e.clone())))
            .collect()
    }

    /// Secrets known.
    pub fn len(&self) -> usize {
        self.read_lock().live.len()
    }

    /// True when no Secret is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read_lock(&self) -> RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(ns: &str, name: &str, rv: &str, finalizers: &[&str]) -> PartialObjectMeta<Secret> {
        serde_json::from_value(json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "finalizers": finalizers}
        }))
        .expect("secret metadata")
    }

    fn rv(m: &SecretMetas, ns: &str, name: &str) -> Option<String> {
        m.read(ns, name, |e| e.resource_version().to_string())
    }

    #[test]
    fn an_entry_is_small() {
        // Key and entry in the table; the strings are on the heap.
        assert_eq!(std::mem::size_of::<Box<str>>(), 16);
        assert_eq!(std::mem::size_of::<Entry>(), 40);
    }

    #[test]
    fn watch_events_update_the_entries() {
        let m = SecretMetas::default();
        m.apply(&Event::Init);
        m.apply(&Event::InitApply(secret("n", "a", "1", &[])));
        m.apply(&Event::InitDone);
        assert_eq!(rv(&m, "n", "a").as_deref(), Some("1"));
        assert!(m.read("n", "a", |e| !e.has_finalizer("x") && !e.deleting()).expect("a"));

        m.apply(&Event::Apply(secret("n", "a", "2", &["siptrunk.dev/in-use", "other"])));
        let e = m.get("n", "a").expect("a");
        assert_eq!(e.resource_version(), "2");
        assert!(e.has_finalizer("siptrunk.dev/in-use"));
        let meta = e.object_meta("n", "a");
        assert_eq!(meta.finalizers, Some(vec!["siptrunk.dev/in-use".to_string(), "other".to_string()]));
        assert_eq!((meta.name.as_deref(), meta.resource_version.as_deref()), (Some("a"), Some("2")));
        assert_eq!(m.carrying("siptrunk.dev/in-use"), vec![("n".to_string(), "a".to_string(), e)]);
        assert!(m.carrying("siptrunk.dev/in-use-1234abcd").is_empty());

        let mut deleting = secret("n", "a", "3", &["siptrunk.dev/in-use"]);
        deleting.metadata.deletion_timestamp =
            serde_json::from_value(json!("2026-01-01T00:00:00Z")).expect("timestamp");
        m.apply(&Event::Apply(deleting.clone()));
        assert!(m.read("n", "a", Entry::deleting).expect("a"));
        m.apply(&Event::Delete(deleting));
        assert!(m.get("n", "a").is_none() && m.is_empty());
    }

    #[test]
    fn a_relist_keeps_entries_readable_and_drops_what_it_did_not_see_at_init_done() {
        let m = SecretMetas::default();
        m.apply(&Event::Init);
        for name in ["a", "b", "c"] {
            m.apply(&Event::InitApply(secret("n", name, "1", &[])));
        }
        // Not applied before InitDone: the first list is not yet complete.
        assert!(m.is_empty());
        m.apply(&Event::InitDone);
        assert_eq!(m.len(), 3);

        // A watch gap: b is deleted meanwhile, a changed; the re-list sees a and c only.
        m.apply(&Event::Init);
        m.apply(&Event::InitApply(secret("n", "a", "5", &[])));
        // While the re-list runs, every entry of the previous map is still readable, unchanged.
        assert_eq!(m.len(), 3);
        assert_eq!(rv(&m, "n", "a").as_deref(), Some("1"));
        assert_eq!(rv(&m, "n", "b").as_deref(), Some("1"));
        m.apply(&Event::InitApply(secret("n", "c", "1", &[])));
        m.apply(&Event::InitDone);
        assert_eq!(m.len(), 2);
        assert_eq!(rv(&m, "n", "a").as_deref(), Some("5"));
        assert!(rv(&m, "n", "b").is_none(), "deleted during the gap: gone at InitDone");
        assert_eq!(rv(&m, "n", "c").as_deref(), Some("1"));

        // An empty re-list empties the map, at InitDone only.
        m.apply(&Event::Init);
        assert_eq!(m.len(), 2);
        m.apply(&Event::InitDone);
        assert!(m.is_empty());
    }
}
