//! Admission of custom resources in the Kubernetes API stand-in: the schema and CEL checks
//! themselves live in `crate::crd::admission` (the product's `plan` uses them too).

use super::registry::ResourceType;
use super::status::{ApiError, Cause};
use super::store::FieldValidation;
use crate::crd::admission::{self, Refusal};
use serde_json::Value;

pub use crate::crd::admission::to_json_schema;

/// Prunes, defaults and validates `obj` in place. `old` enables CEL transition rules.
pub fn admit(rt: &ResourceType, obj: &mut Value, old: Option<&Value>, fv: FieldValidation) -> Result<(), ApiError> {
    let Some(schema) = &rt.schema else { return Ok(()) };
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
    admission::admit(schema, obj, old, fv == FieldValidation::Strict).map_err(|r| match r {
        Refusal::UnknownFields(u) => ApiError::bad_request(Refusal::strict_message(&u)),
        Refusal::Invalid(causes) => ApiError::invalid(&rt.kind, &rt.group, &name, causes),
    })
}

/// The few structural checks a CRD must pass before its resources are served.
pub fn check_crd(crd: &Value) -> Result<(), ApiError> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let mut causes = Vec::new();
    let mut need = |ok: bool, field: &str, msg: &str| {
        if !ok {
            causes.push(Cause { reason: "FieldValueInvalid".into(), message: msg.into(), field: field.into() });
        }
    };
    need(!group.is_empty(), "spec.group", "Required value");
    need(!plural.is_empty(), "spec.names.plural", "Required value");
    need(spec["names"]["kind"].as_str().is_some_and(|k| !k.is_empty()), "spec.names.kind", "Required value");
    need(spec["versions"].as_array().is_some_and(|v| !v.is_empty()), "spec.versions", "Required value");
    need(
        name == format!("{plural}.{group}"),
        "metadata.name",
        "Invalid value: must be spec.names.plural+\".\"+spec.group",
    );
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes))
    }
}
