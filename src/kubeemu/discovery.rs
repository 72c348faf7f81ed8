//! Discovery documents: /version, /api, /apis, /apis/{g}, and APIResourceLists per group/version.

use super::http::json_response;
use super::registry::{Registry, ResourceType};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-kubeemu", "gitCommit": "kubeemu",
        "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0",
        "compiler": "gc", "platform": "linux/amd64"
    })
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

fn resource_entries(t: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
        "verbs": t.verbs(),
    });
    if !t.short_names.is_empty() {
        main["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        main["categories"] = json!(t.categories);
    }
    let mut out = vec![main];
    if t.status_subresource {
        out.push(json!({
            "name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
            "kind": t.kind, "verbs": ["get", "patch", "update"],
        }));
    }
    out
}

/// Discovery answer for `path`, or None when it is not a discovery path.
pub fn serve(reg: &Registry, path: &str, _headers: &HeaderMap, addr: SocketAddr) -> Option<Response> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let groups = reg.groups();
    let doc = match segs.as_slice() {
        ["api"] => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}]
        }),
        ["apis"] => json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": groups.iter().filter(|(g, _)| !g.is_empty()).map(|(g, vs)| group_doc(g, vs)).collect::<Vec<_>>()
        }),
        ["apis", g] => {
            let vs = groups.get(*g)?;
            let mut d = group_doc(g, vs);
            d["kind"] = json!("APIGroup");
            d["apiVersion"] = json!("v1");
            d
        }
        ["api", "v1"] => resource_list(reg, "", "v1"),
        ["apis", g, v] => {
            if !groups.get(*g).is_some_and(|vs| vs.iter().any(|x| x == v)) {
                return None;
            }
            resource_list(reg, g, v)
        }
        _ => return None,
    };
    Some(json_response(200, &doc))
}

fn resource_list(reg: &Registry, group: &str, version: &str) -> Value {
    let resources: Vec<Value> =
        reg.all().filter(|t| t.group == group && t.version == version).flat_map(|t| resource_entries(t)).collect();
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}
