//! Admission of this operator's custom resources as an API server does it: prune unknown fields,
//! apply defaults, check the OpenAPI schema (jsonschema) and the CEL `x-kubernetes-validations`
//! rules (kube-cel). Used by `plan` (read-only, no cluster) and by the Kubernetes API stand-in.

use std::collections::BTreeMap;

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value, json};

/// One `details.causes[]` entry of a Status: what is wrong with which field.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// Machine reason, e.g. `FieldValueInvalid`.
    pub reason: String,
    /// Human message.
    pub message: String,
    /// Field path, e.g. `spec.auth.allowedInboundIps`.
    pub field: String,
}

/// Why an object is refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// Strict field validation found fields the schema does not declare (their paths).
    UnknownFields(Vec<String>),
    /// The schema or a CEL rule refused these fields.
    Invalid(Vec<Cause>),
}

impl Refusal {
    /// The API server's `strict decoding error` message for unknown fields.
    pub fn strict_message(unknown: &[String]) -> String {
        let list: Vec<String> = unknown.iter().map(|u| format!("unknown field \"{u}\"")).collect();
        format!("strict decoding error: {}", list.join(", "))
    }

    /// One line per problem, `field: message` where the field is known.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Refusal::UnknownFields(u) => vec![Refusal::strict_message(u)],
            Refusal::Invalid(causes) => causes
                .iter()
                .map(|c| if c.field.is_empty() { c.message.clone() } else { format!("{}: {}", c.field, c.message) })
                .collect(),
        }
    }
}

/// Prunes, defaults and validates `obj` in place against `schema` (a CRD version's
/// openAPIV3Schema). `old` enables CEL transition rules; `strict` refuses unknown fields.
pub fn admit(schema: &Value, obj: &mut Value, old: Option<&Value>, strict: bool) -> Result<(), Refusal> {
    let mut unknown = Vec::new();
    prune(schema, obj, "", true, &mut unknown);
    if strict && !unknown.is_empty() {
        return Err(Refusal::UnknownFields(unknown));
    }
    *obj = kube_cel::apply_defaults(schema, obj);
    let mut causes = schema_causes(schema, obj);
    if let Err(errs) = kube_cel::validate(schema, obj, old) {
        for e in errs {
            let field = e.field_path.trim_start_matches('.').to_string();
            let parent = field.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
            let kind = type_name(lookup(obj, &field).or_else(|| lookup(obj, parent)));
            let reason = match e.reason.as_deref() {
                Some("FieldValueRequired") => "FieldValueRequired",
                Some("FieldValueForbidden") => "FieldValueForbidden",
                Some("FieldValueDuplicate") => "FieldValueDuplicate",
                _ => "FieldValueInvalid",
            };
            causes.push(Cause {
                reason: reason.into(),
                message: format!("Invalid value: \"{kind}\": {}", e.message),
                field,
            });
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(Refusal::Invalid(causes)) }
}

/// The openAPIV3Schema of each served version of this operator's kinds, by (apiVersion, kind).
pub struct Schemas(BTreeMap<(String, String), Value>);

impl Schemas {
    /// The schemas of `crate::crd::all()`.
    pub fn operator() -> Self {
        let mut map = BTreeMap::new();
        for crd in super::all() {
            let kind = crd.spec.names.kind.clone();
            for v in &crd.spec.versions {
                let schema = v.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
                if let Some(schema) = schema.and_then(|s| serde_json::to_value(s).ok()) {
                    map.insert((format!("{}/{}", crd.spec.group, v.name), kind.clone()), schema);
                }
            }
        }
        Schemas(map)
    }

    /// The schema of `kind` in `api_version` (`group/version`), if this operator serves it.
    pub fn get(&self, api_version: &str, kind: &str) -> Option<&Value> {
        self.0.get(&(api_version.to_string(), kind.to_string()))
    }
}

/// Value at a dotted path with `[i]` indexes (best effort; used only for messages).
fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (key, idx) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        cur = cur.get(key)?;
        if let Some(i) = idx {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        Some(Value::Object(_)) => "object",
        Some(Value::Array(_)) => "array",
        Some(Value::String(_)) => "string",
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => "integer",
        Some(Value::Number(_)) => "number",
        Some(Value::Bool(_)) => "boolean",
        _ => "null",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Drops fields the schema does not declare (unless preserve-unknown-fields) and nulls that are not nullable.
fn prune(schema: &Value, v: &mut Value, path: &str, root: bool, unknown: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
                && schema.get("properties").is_none()
            {
                return;
            }
            let preserve = schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true);
            let props = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if root && (k == "apiVersion" || k == "kind" || k == "metadata") {
                    continue;
                }
                let child_schema = props.and_then(|p| p.get(&k)).or(additional);
                match child_schema {
                    Some(cs) => {
                        if m.get(&k).is_some_and(Value::is_null) && cs["nullable"].as_bool() != Some(true) {
                            m.remove(&k);
                            continue;
                        }
                        if let Some(child) = m.get_mut(&k) {
                            prune(cs, child, &join(path, &k), false, unknown);
                        }
                    }
                    None if preserve || (props.is_none() && additional.is_none() && schema.get("type").is_none()) => {}
                    None => {
                        m.remove(&k);
                        unknown.push(join(path, &k));
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
                for (i, item) in a.iter_mut().enumerate() {
                    prune(items, item, &format!("{path}[{i}]"), false, unknown);
                }
            }
        }
        _ => {}
    }
}

/// The structural schema rewritten for a JSON-Schema validator: `nullable` as a null type,
/// int-or-string as anyOf, list-type set as uniqueItems, other `x-kubernetes-*` dropped.
pub fn to_json_schema(s: &Value) -> Value {
    match s {
        Value::Object(m) => {
            let mut out = Map::new();
            let nullable = m.get("nullable").and_then(Value::as_bool) == Some(true);
            for (k, v) in m {
                if k.starts_with("x-kubernetes-") || k == "nullable" || k == "default" || k == "example" {
                    continue;
                }
                let v = match k.as_str() {
                    "properties" | "patternProperties" | "definitions" => Value::Object(
                        v.as_object()
                            .map(|p| p.iter().map(|(pk, pv)| (pk.clone(), to_json_schema(pv))).collect())
                            .unwrap_or_default(),
                    ),
                    "items" | "additionalProperties" | "not" => to_json_schema(v),
                    "allOf" | "anyOf" | "oneOf" => {
                        Value::Array(v.as_array().map(|a| a.iter().map(to_json_schema).collect()).unwrap_or_default())
                    }
                    "type" if nullable => json!([v.clone(), "null"]),
                    _ => v.clone(),
                };
                out.insert(k.clone(), v);
            }
            // A real API server refuses duplicates in a set-typed list (422 Duplicate value).
            if m.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                out.insert("uniqueItems".into(), Value::Bool(true));
            }
            if m.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
                out.remove("type");
                out.insert("anyOf".into(), json!([{"type": "integer"}, {"type": "string"}]));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn field_of(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn schema_causes(schema: &Value, obj: &Value) -> Vec<Cause> {
    let js = to_json_schema(schema);
    let validator = match jsonschema::validator_for(&js) {
        Ok(v) => v,
        Err(e) => {
            return vec![Cause {
                reason: "InternalError".into(),
                message: format!("the CRD schema does not compile: {e}"),
                field: String::new(),
            }];
        }
    };
    let mut out = Vec::new();
    for err in validator.iter_errors(obj) {
        let field = field_of(err.instance_path().as_str());
        let inst: &Value = err.instance();
        let shown = match inst {
            Value::Object(_) => "\"object\"".to_string(),
            Value::Array(_) => "\"array\"".to_string(),
            other => other.to_string(),
        };
        let (reason, field, message) = match err.kind() {
            ValidationErrorKind::Required { property } => {
                let p = property.as_str().unwrap_or_default();
                ("FieldValueRequired", join(&field, p), "Required value".to_string())
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> =
                    options.as_array().map(|a| a.iter().map(Value::to_string).collect()).unwrap_or_default();
                (
                    "FieldValueNotSupported",
                    field,
                    format!("Unsupported value: {shown}: supported values: {}", opts.join(", ")),
                )
            }
            ValidationErrorKind::Type { .. } => {
                let want = err.to_string();
                (
                    "FieldValueTypeInvalid",
                    field.clone(),
                    format!(
                        "Invalid value: {shown}: {field} in body {}",
                        want.split(" is not of type ")
                            .nth(1)
                            .map(|t| format!("must be of type {}", t.trim_matches('"')))
                            .unwrap_or(want)
                    ),
                )
            }
            ValidationErrorKind::MaxLength { limit } => {
                ("FieldValueTooLong", field, format!("Too long: may not be more than {limit} bytes"))
            }
            ValidationErrorKind::UniqueItems => ("FieldValueDuplicate", field, format!("Duplicate value: {shown}")),
            ValidationErrorKind::MaxItems { limit } => {
                ("FieldValueTooMany", field, format!("Too many: must have at most {limit} items"))
            }
            ValidationErrorKind::MinLength { limit } => (
                "FieldValueInvalid",
                field.clone(),
                format!("Invalid value: {shown}: {field} in body should be at least {limit} chars long"),
            ),
            ValidationErrorKind::MinItems { limit } => (
                "FieldValueInvalid",
                field.clone(),
                format!("Invalid value: {shown}: {field} in body should have at least {limit} items"),
            ),
            ValidationErrorKind::Pattern { pattern } => (
                "FieldValueInvalid",
                field.clone(),
                format!("Invalid value: {shown}: {field} in body should match '{pattern}'"),
            ),
            ValidationErrorKind::Minimum { limit } => (
                "FieldValueInvalid",
                field.clone(),
                format!("Invalid value: {shown}: {field} in body should be greater than or equal to {limit}"),
            ),
            ValidationErrorKind::Maximum { limit } => (
                "FieldValueInvalid",
                field.clone(),
                format!("Invalid value: {shown}: {field} in body should be less than or equal to {limit}"),
            ),
            _ => ("FieldValueInvalid", field, format!("Invalid value: {shown}: {err}")),
        };
        out.push(Cause { reason: reason.into(), message, field });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_field_paths() {
        let s = json!({"type": "object", "nullable": true, "x-kubernetes-validations": []});
        assert_eq!(to_json_schema(&s), json!({"type": ["object", "null"]}));
        assert_eq!(field_of("/spec/bolna/gateways/0/address"), "spec.bolna.gateways[0].address");
    }
}
