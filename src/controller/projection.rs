//! What the watch caches keep of each object: only what the controller reads. At 10,000 trunks
//! every byte per object is 10 kB of resident memory, and a tenant's labels or annotations must
//! not cost the operator memory (P4, issue 12).

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;

use crate::crd::SipTrunk;

/// Annotations the controller reads on a SipTrunk start with this.
pub const OWN_ANNOTATIONS: &str = "siptrunk.dev/";

/// Strips a cached SipTrunk: managedFields, labels (selection happens in the API server),
/// ownerReferences, and every annotation outside `siptrunk.dev/` (kubectl's last-applied copy
/// of the whole object, GitOps tracking ids). Spec, status, finalizers, generation,
/// resourceVersion, uid and deletionTimestamp stay.
pub fn strip_trunk(t: &mut SipTrunk) {
    let m = &mut t.metadata;
    m.managed_fields = None;
    m.labels = None;
    m.owner_references = None;
    if let Some(a) = m.annotations.as_mut() {
        a.retain(|k, _| k.starts_with(OWN_ANNOTATIONS));
        if a.is_empty() {
            m.annotations = None;
        }
    }
}

/// Strips a cached Secret's metadata (the watch carries no data at all): only name, namespace,
/// resourceVersion, finalizers and deletionTimestamp stay (not the uid, which nothing reads and
/// which the cache would otherwise hold twice, in the object and in its key; not even the
/// per-object copy of apiVersion/kind).
pub fn strip_secret(meta: &mut PartialObjectMeta<Secret>) {
    meta.types = None;
    let m = &mut meta.metadata;
    m.managed_fields = None;
    m.annotations = None;
    m.labels = None;
    m.owner_references = None;
    m.generate_name = None;
    m.uid = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_trunk_keeps_what_the_controller_reads_and_nothing_else() {
        let mut t: SipTrunk = serde_json::from_value(serde_json::json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "metadata": {
                "name": "a", "namespace": "n", "generation": 3, "resourceVersion": "9", "uid": "u",
                "finalizers": ["siptrunk.dev/cleanup"],
                "labels": {"team": "x".repeat(1000)},
                "annotations": {
                    "siptrunk.dev/paused": "true",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}".repeat(1000),
                    "argocd.argoproj.io/tracking-id": "app:siptrunk.dev/SipTrunk:n/a"
                },
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "o"}]
            },
            "spec": {"providerRef": {"kind": "SipProvider", "name": "p"}, "displayName": "x", "auth": {"type": "credentials", "username": "u"}},
            "status": {"trunkId": "7"}
        }))
        .expect("trunk");
        let before = t.clone();
        strip_trunk(&mut t);
        assert_eq!(t.spec, before.spec);
        assert_eq!(t.status, before.status);
        let (m, b) = (&t.metadata, &before.metadata);
        assert_eq!(
            (&m.name, &m.namespace, m.generation, &m.resource_version, &m.uid),
            (&b.name, &b.namespace, b.generation, &b.resource_version, &b.uid)
        );
        assert_eq!(m.finalizers, b.finalizers);
        let kept: Vec<&String> = m.annotations.iter().flat_map(|a| a.keys()).collect();
        assert_eq!(kept, ["siptrunk.dev/paused"]);
        assert!(m.labels.is_none() && m.managed_fields.is_none() && m.owner_references.is_none());
        assert!(serde_json::to_vec(&t).expect("json").len() < 600, "the big fields are gone");
    }

    #[test]
    fn a_cached_secret_keeps_names_versions_and_finalizers_only_not_its_uid() {
        let mut m: PartialObjectMeta<Secret> = serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {
                "name": "s", "namespace": "n", "resourceVersion": "4", "uid": "u",
                "finalizers": ["siptrunk.dev/in-use"],
                "labels": {"a": "b"}, "annotations": {"c": "d"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]
            }
        }))
        .expect("secret metadata");
        strip_secret(&mut m);
        assert!(m.types.is_none());
        let x = &m.metadata;
        assert_eq!(
            (x.name.as_deref(), x.namespace.as_deref(), x.resource_version.as_deref()),
            (Some("s"), Some("n"), Some("4"))
        );
        assert_eq!(x.finalizers.as_deref(), Some(&["siptrunk.dev/in-use".to_string()][..]));
        assert!(x.labels.is_none() && x.annotations.is_none() && x.managed_fields.is_none() && x.uid.is_none());
    }
}
