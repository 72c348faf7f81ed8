//! OpenAPI v3 documents (`/openapi/v3`, `/openapi/v3/apis/{g}/{v}`) built from CRD schemas, for kubectl
//! explain, apply and its field-validation probe.

use super::registry::{Registry, ResourceType};
use serde_json::{Map, Value, json};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Name of a kind's schema, the way the real server names them.
pub fn schema_name(rt: &ResourceType) -> String {
    if rt.custom {
        let rev: Vec<&str> = rt.group.split('.').rev().collect();
        return format!("{}.{}.{}", rev.join("."), rt.version, rt.kind);
    }
    match rt.group.as_str() {
        "" => format!("io.k8s.api.core.{}.{}", rt.version, rt.kind),
        "apiextensions.k8s.io" => {
            format!("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}", rt.version, rt.kind)
        }
        g => format!("io.k8s.api.{}.{}.{}", g.split('.').next().unwrap_or(g), rt.version, rt.kind),
    }
}

fn gvk(rt: &ResourceType) -> Value {
    json!({"group": rt.group, "version": rt.version, "kind": rt.kind})
}

fn kind_schema(rt: &ResourceType) -> Value {
    let mut s = rt.schema.clone().unwrap_or_else(|| {
        json!({
            "type": "object",
            "description": format!("{} (built-in kind; kubeemu serves no detailed schema for it)", rt.kind),
            "x-kubernetes-preserve-unknown-fields": true,
        })
    });
    if !s.is_object() {
        s = json!({"type": "object"});
    }
    if !s["properties"].is_object() {
        s["properties"] = json!({});
    }
    s["properties"]["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."});
    s["properties"]["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase."});
    s["properties"]["metadata"] = json!({
        "allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}],
        "default": {},
        "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
    });
    s["type"] = json!("object");
    s["x-kubernetes-group-version-kind"] = json!([gvk(rt)]);
    s
}

fn object_meta() -> Value {
    let str_prop = |d: &str| json!({"type": "string", "default": "", "description": d});
    let map_prop = |d: &str| json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}, "description": d});
    json!({
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "properties": {
            "name": str_prop("Name must be unique within a namespace."),
            "generateName": str_prop("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
            "namespace": str_prop("Namespace defines the space within which each name must be unique."),
            "uid": str_prop("UID is the unique in time and space value for this object."),
            "resourceVersion": str_prop("An opaque value that represents the internal version of this object."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": {"type": "string", "format": "date-time", "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time", "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."},
            "labels": map_prop("Map of string keys and values that can be used to organize and categorize (scope and select) objects."),
            "annotations": map_prop("Annotations is an unstructured key value map stored with a resource that may be set by external tools."),
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "set", "description": "Must be empty before the object is deleted from the registry."},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "List of objects depended by this object."},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."}
        }
    })
}

fn param(name: &str) -> Value {
    json!({"name": name, "in": "query", "uniqueItems": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn op(rt: &ResourceType, action: &str, params: &[&str]) -> Value {
    let ps: Vec<Value> = params.iter().map(|p| param(p)).collect();
    let r = json!({"$ref": format!("#/components/schemas/{}", schema_name(rt))});
    json!({
        "operationId": format!("{action}{}", rt.kind),
        "parameters": ps,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": r}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(rt),
    })
}

fn gv_doc(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&std::sync::Arc<ResourceType>> =
        reg.all().filter(|t| t.group == group && t.version == version).collect();
    if types.is_empty() {
        return None;
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    schemas.insert(OBJECT_META.into(), object_meta());
    for t in types {
        schemas.insert(schema_name(t), kind_schema(t));
        let base = if group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{group}/{version}") };
        let coll = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{base}/{}", t.plural)
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(coll.clone(), json!({
            "get": op(t, "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"]),
            "post": op(t, "post", &write),
        }));
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({
                "get": op(t, "get", &[]),
                "put": op(t, "put", &write),
                "patch": op(t, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": op(t, "delete", &["dryRun"]),
            }),
        );
        if t.status_subresource {
            paths.insert(
                format!("{coll}/{{name}}/status"),
                json!({
                    "get": op(t, "get", &[]),
                    "put": op(t, "put", &write),
                    "patch": op(t, "patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubeemu)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

/// The document at an `/openapi/...` path, or None.
pub fn serve(reg: &Registry, path: &str) -> Option<Value> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["openapi", "v3"] => {
            let mut paths = Map::new();
            for (g, vs) in reg.groups() {
                for v in vs {
                    let key = if g.is_empty() { format!("api/{v}") } else { format!("apis/{g}/{v}") };
                    let h = gv_doc(reg, &g, &v).map(|d| hash(&d)).unwrap_or_default();
                    paths.insert(key.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={h}")}));
                }
            }
            Some(json!({"paths": paths}))
        }
        ["openapi", "v3", "api", v] => gv_doc(reg, "", v),
        ["openapi", "v3", "apis", g, v] => gv_doc(reg, g, v),
        _ => None,
    }
}
