//! Reverse index from the objects a SipTrunk reads (its password Secret, its provider) to the
//! trunks that read them, kept current from the trunk watch stream. A Secret or provider event
//! wakes exactly the trunks that use it in O(users) instead of a scan of every trunk.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;

use crate::crd::{ProviderKind, SipTrunk};

/// A namespaced object: (namespace, name).
pub type NsName = (String, String);

/// The provider object a trunk points at: kind, namespace ("" for ClusterSipProvider), name.
pub type ProviderKey = (ProviderKind, String, String);

/// What one trunk reads besides itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refs {
    /// Its password Secret (same namespace), if any.
    pub password: Option<NsName>,
    /// Its provider object.
    pub provider: ProviderKey,
}

impl Refs {
    /// The references of `trunk` (pure).
    pub fn of(trunk: &SipTrunk) -> Refs {
        let ns = trunk.namespace().unwrap_or_default();
        let r = &trunk.spec.provider_ref;
        let provider_ns = match r.kind {
            ProviderKind::SipProvider => ns.clone(),
            ProviderKind::ClusterSipProvider => String::new(),
        };
        Refs {
            password: trunk.spec.auth.password_secret_ref.as_ref().map(|p| (ns.clone(), p.name.clone())),
            provider: (r.kind, provider_ns, r.name.clone()),
        }
    }
}

type TrunkRef = ObjectRef<SipTrunk>;

/// A trunk or Secret as "namespace/name" (Kubernetes names and namespaces hold no '/'), shared
/// between the maps: at 10,000 trunks each `ObjectRef` (with its resourceVersion and uid copies)
/// held three times cost ≈ 1.4 KB per trunk; this layout holds ≈ 0.3 KB (P4, issue 12). The work
/// queue keys its slots the same way.
pub(super) type Key = Arc<str>;

/// The key of `ns/name`.
pub(super) fn key(ns: &str, name: &str) -> Key {
    Arc::from(format!("{ns}/{name}"))
}

/// The trunk a key names.
pub(super) fn to_ref(k: &str) -> TrunkRef {
    let (ns, name) = k.split_once('/').unwrap_or(("", k));
    ObjectRef::new(name).within(ns)
}

/// What one indexed trunk reads, with keys shared with `by_password` and `by_provider`.
struct Entry {
    password: Option<Key>,
    provider: Arc<ProviderKey>,
}

#[derive(Default)]
struct Inner {
    by_trunk: HashMap<Key, Entry>,
    /// A Secret is mostly one trunk's password: a list, not a set (a `HashSet` holding one entry
    /// allocates ≈ 100 bytes, ≈ 1 MB at 10,000 trunks).
    by_password: HashMap<Key, Vec<Key>>,
    by_provider: HashMap<Arc<ProviderKey>, HashSet<Key>>,
    /// Trunks seen since a re-list began (`Init`); replaces `by_trunk` at `InitDone`.
    relist: Option<HashMap<Key, Refs>>,
}

fn unlink<K: std::hash::Hash + Eq>(map: &mut HashMap<K, HashSet<Key>>, at: &K, trunk: &str) {
    if let Some(set) = map.get_mut(at) {
        set.remove(trunk);
        if set.is_empty() {
            map.remove(at);
        }
    }
}

fn unlink_listed(map: &mut HashMap<Key, Vec<Key>>, at: &Key, trunk: &str) {
    if let Some(list) = map.get_mut(at) {
        if let Some(i) = list.iter().position(|t| &**t == trunk) {
            list.swap_remove(i);
        }
        if list.is_empty() {
            map.remove(at);
        } else if list.capacity() > 2 * list.len() {
            list.shrink_to_fit();
        }
    }
}

impl Inner {
    fn remove(&mut self, trunk: &str) {
        if let Some(old) = self.by_trunk.remove(trunk) {
            if let Some(p) = &old.password {
                unlink_listed(&mut self.by_password, p, trunk);
            }
            unlink(&mut self.by_provider, &old.provider, trunk);
        }
    }

    fn same(&self, trunk: &str, refs: &Refs) -> bool {
        self.by_trunk.get(trunk).is_some_and(|e| {
            *e.provider == refs.provider
                && match (&e.password, &refs.password) {
                    (None, None) => true,
                    (Some(k), Some((ns, name))) => **k == *format!("{ns}/{name}"),
                    _ => false,
                }
        })
    }

    fn upsert(&mut self, trunk: Key, refs: Refs) {
        if self.same(&trunk, &refs) {
            return;
        }
        self.remove(&trunk);
        // Share the key already held for this Secret / provider (one copy per referenced object).
        let password = refs.password.map(|(ns, name)| {
            let k = key(&ns, &name);
            let k = self.by_password.get_key_value(&k).map_or(k, |(shared, _)| shared.clone());
            // `remove` above unlinked this trunk: it is not in the list. A first user gets a
            // list of exactly one; more grow it as usual.
            let users = self.by_password.entry(k.clone()).or_default();
            if users.is_empty() {
                users.reserve_exact(1);
            }
            users.push(trunk.clone());
            k
        });
        let provider =
            self.by_provider.get_key_value(&refs.provider).map_or_else(|| Arc::new(refs.provider), |(p, _)| p.clone());
        self.by_provider.entry(provider.clone()).or_default().insert(trunk.clone());
        self.by_trunk.insert(trunk, Entry { password, provider });
    }

    fn replace_all(&mut self, all: HashMap<Key, Refs>) {
        self.by_trunk.clear();
        self.by_password.clear();
        self.by_provider.clear();
        for (t, r) in all {
            self.upsert(t, r);
        }
    }
}

/// The key of a trunk.
pub(super) fn trunk_key(t: &SipTrunk) -> Key {
    key(t.metadata.namespace.as_deref().unwrap_or_default(), t.metadata.name.as_deref().unwrap_or_default())
}

/// The index; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct TrunkIndex(Arc<RwLock<Inner>>);

impl TrunkIndex {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows one event of the trunk watch (before or after the reflector, same semantics:
    /// a re-list replaces the whole index at `InitDone`, so trunks deleted while the watch was
    /// down leave it too).
    pub fn apply_event(&self, event: &Event<SipTrunk>) {
        let mut inner = self.write();
        match event {
            Event::Apply(t) => inner.upsert(trunk_key(t), Refs::of(t)),
            Event::Delete(t) => inner.remove(&trunk_key(t)),
            Event::Init => inner.relist = Some(HashMap::new()),
            Event::InitApply(t) => {
                let (r, refs) = (trunk_key(t), Refs::of(t));
                match inner.relist.as_mut() {
                    Some(m) => {
                        m.insert(r, refs);
                    }
                    None => inner.upsert(r, refs),
                }
            }
            Event::InitDone => {
                if let Some(all) = inner.relist.take() {
                    inner.replace_all(all);
                }
            }
        }
    }

    /// Trunks whose password is Secret `ns/name`.
    pub fn by_password(&self, ns: &str, name: &str) -> Vec<TrunkRef> {
        let k = format!("{ns}/{name}");
        self.read().by_password.get(k.as_str()).map(|s| s.iter().map(|t| to_ref(t)).collect()).unwrap_or_default()
    }

    /// Trunks that point at this provider object.
    pub fn by_provider(&self, key: &ProviderKey) -> Vec<TrunkRef> {
        self.read().by_provider.get(key).map(|s| s.iter().map(|t| to_ref(t)).collect()).unwrap_or_default()
    }

    /// True when some trunk uses Secret `ns/name` as its password.
    pub fn is_password(&self, ns: &str, name: &str) -> bool {
        self.read().by_password.contains_key(format!("{ns}/{name}").as_str())
    }

    /// Trunks indexed.
    pub fn len(&self) -> usize {
        self.read().by_trunk.len()
    }

    /// True when no trunk is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(ns: &str, name: &str, password: Option<&str>, provider: (ProviderKind, &str)) -> SipTrunk {
        let mut auth = serde_json::json!({"type": "credentials", "username": "u"});
        if let Some(p) = password {
            auth["passwordSecretRef"] = serde_json::json!({"name": p, "key": "password"});
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"providerRef": {"kind": provider.0, "name": provider.1}, "displayName": "x", "auth": auth}
        }))
        .expect("trunk")
    }

    fn names(v: Vec<TrunkRef>) -> Vec<String> {
        let mut out: Vec<String> =
            v.into_iter().map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name)).collect();
        out.sort();
        out
    }

    #[test]
    fn secret_and_provider_lookups_follow_applies_changes_and_deletes() {
        let idx = TrunkIndex::default();
        let sp = ProviderKind::SipProvider;
        let a = trunk("t1", "a", Some("shared"), (sp, "p"));
        let b = trunk("t1", "b", Some("shared"), (sp, "p"));
        let c = trunk("t2", "c", Some("shared"), (ProviderKind::ClusterSipProvider, "p"));
        for t in [&a, &b, &c] {
            idx.apply_event(&Event::Apply(t.clone()));
        }
        // Same Secret name in another namespace is another Secret (tenant boundary).
        assert_eq!(names(idx.by_password("t1", "shared")), ["t1/a", "t1/b"]);
        assert_eq!(names(idx.by_password("t2", "shared")), ["t2/c"]);
        assert_eq!(names(idx.by_provider(&(sp, "t1".into(), "p".into()))), ["t1/a", "t1/b"]);
        assert!(idx.by_provider(&(sp, "t2".into(), "p".into())).is_empty(), "c uses the ClusterSipProvider");
        assert_eq!(names(idx.by_provider(&(ProviderKind::ClusterSipProvider, String::new(), "p".into()))), ["t2/c"]);

        // A changed reference moves; a delete leaves no trace.
        idx.apply_event(&Event::Apply(trunk("t1", "b", Some("other"), (sp, "p"))));
        assert_eq!(names(idx.by_password("t1", "shared")), ["t1/a"]);
        assert_eq!(names(idx.by_password("t1", "other")), ["t1/b"]);
        idx.apply_event(&Event::Delete(a.clone()));
        assert!(idx.by_password("t1", "shared").is_empty());
        assert!(!idx.is_password("t1", "shared"));
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn a_relist_replaces_the_index_so_trunks_deleted_meanwhile_leave_it() {
        let idx = TrunkIndex::default();
        let sp = ProviderKind::SipProvider;
        idx.apply_event(&Event::Apply(trunk("n", "gone", Some("s"), (sp, "p"))));
        idx.apply_event(&Event::Init);
        idx.apply_event(&Event::InitApply(trunk("n", "kept", Some("s"), (sp, "p"))));
        // Until InitDone the old view still answers.
        assert_eq!(names(idx.by_password("n", "s")), ["n/gone"]);
        idx.apply_event(&Event::InitDone);
        assert_eq!(names(idx.by_password("n", "s")), ["n/kept"]);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn trunks_of_one_secret_and_provider_share_one_copy_of_their_keys() {
        let idx = TrunkIndex::default();
        let sp = ProviderKind::SipProvider;
        for name in ["a", "b", "c"] {
            idx.apply_event(&Event::Apply(trunk("n", name, Some("shared"), (sp, "p"))));
        }
        let inner = idx.read();
        let (secret, _) = inner.by_password.get_key_value("n/shared").expect("indexed");
        let (provider, _) = inner.by_provider.get_key_value(&(sp, "n".to_string(), "p".to_string())).expect("indexed");
        // One key in the map plus one per trunk entry: no per-trunk copies of the names.
        assert_eq!((Arc::strong_count(secret), Arc::strong_count(provider)), (4, 4));
        drop(inner);
        let refs = idx.by_password("n", "shared");
        assert!(refs.iter().all(|r| r.extra.resource_version.is_none() && r.extra.uid.is_none()));
        assert_eq!(names(refs), ["n/a", "n/b", "n/c"]);
    }
}
