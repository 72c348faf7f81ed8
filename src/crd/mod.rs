//! Custom resource types of the `siptrunk.dev/v1alpha1` API and their CRD YAML.

pub mod admission;
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
    vec![SipProvider::crd(), ClusterSipProvider::crd(), SipTrunk::crd()]
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
