//! Custom resource types of the `siptrunk.dev/v1alpha1` API and their CRD YAML.

pub mod admission;
pub mod dispatch;
pub mod livekit;
pub mod provider;
pub mod trunk;

pub use provider::*;
pub use trunk::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every kind.
pub const GROUP: &str = "siptrunk.dev";
/// API version of every kind.
pub const VERSION: &str = "v1alpha1";

/// The CRDs this operator owns, in install order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![SipProvider::crd(), ClusterSipProvider::crd(), SipTrunk::crd(), dispatch::SipDispatchRule::crd()]
        .into_iter()
        .map(explainable)
        .collect()
}

/// Descriptions as `kubectl explain` should show them: doc-comment line breaks joined (explain
/// prints them as they are, breaking sentences mid-way), paragraphs kept; and the kind's own
/// description instead of the derive macro's "Auto-generated derived type ...".
fn explainable(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let Ok(mut v) = serde_json::to_value(&crd) else { return crd };
    if let Some(versions) = v.pointer_mut("/spec/versions").and_then(serde_json::Value::as_array_mut) {
        for version in versions {
            if let Some(root) = version.pointer_mut("/schema/openAPIV3Schema") {
                if let Some(spec_doc) = root.pointer("/properties/spec/description").cloned() {
                    root["description"] = spec_doc;
                }
                join_description_lines(root);
            }
        }
    }
    serde_json::from_value(v).unwrap_or(crd)
}

fn join_description_lines(node: &mut serde_json::Value) {
    match node {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(d)) = map.get_mut("description") {
                *d = unwrap_paragraphs(d);
            }
            map.values_mut().for_each(join_description_lines);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(join_description_lines),
        _ => {}
    }
}

/// Joins the lines of each paragraph with a space; paragraphs stay separated by a blank line.
pub fn unwrap_paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// All CRDs as one multi-document YAML stream (what `siptrunk-operator crd` prints and `crds/` holds).
pub fn to_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}
