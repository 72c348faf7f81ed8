//! PATCH bodies: JSON merge patch, JSON patch (RFC 6902, incl. `test`), and strategic merge (as merge).

use super::status::ApiError;
use json_patch::PatchOperation;
use serde_json::Value;

/// The patch flavours, by Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json` (applied with merge semantics)
    Strategic,
    /// `application/apply-patch+yaml`
    Apply,
}

impl PatchKind {
    /// From the request's Content-Type.
    pub fn from_content_type(ct: &str) -> Result<Self, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" | "application/apply-patch+cbor" => {
                Ok(PatchKind::Apply)
            }
            other => Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ))),
        }
    }
}

fn invalid(msg: String) -> ApiError {
    let mut e = ApiError::bad_request(msg);
    e.code = 422;
    e.reason = "Invalid";
    e
}

/// Removes strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`).
fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Applies a merge, JSON or strategic patch body to `doc`.
pub fn apply_patch(kind: PatchKind, doc: &mut Value, body: &[u8]) -> Result<(), ApiError> {
    match kind {
        PatchKind::Merge | PatchKind::Strategic => {
            let mut p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            if kind == PatchKind::Strategic {
                strip_directives(&mut p);
            }
            if !p.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(doc, &p);
            Ok(())
        }
        PatchKind::Json => {
            let ops: Vec<PatchOperation> = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            for op in ops {
                // Like the Go library the real server uses, `test` of a missing path against null succeeds.
                if let PatchOperation::Test(t) = &op
                    && t.value.is_null()
                    && doc.pointer(t.path.as_str()).is_none_or(Value::is_null)
                {
                    continue;
                }
                json_patch::patch(doc, std::slice::from_ref(&op)).map_err(|e| match e.kind {
                    json_patch::PatchErrorKind::TestFailed => invalid(format!("the server rejected our request due to an error in our request: testing value {} failed: test failed", e.path)),
                    _ => invalid(format!("the server rejected our request due to an error in our request: {e}")),
                })?;
            }
            Ok(())
        }
        PatchKind::Apply => Err(ApiError::internal("apply patches are handled by the store")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_test_null_on_missing_path_passes() {
        let mut d = json!({"metadata": {"name": "a"}});
        let p = br#"[{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["f"]}]"#;
        assert!(apply_patch(PatchKind::Json, &mut d, p).is_ok());
        assert_eq!(d["metadata"]["finalizers"], json!(["f"]));
        let bad = br#"[{"op":"test","path":"/metadata/finalizers/0","value":"x"},{"op":"remove","path":"/metadata/finalizers/0"}]"#;
        let e = apply_patch(PatchKind::Json, &mut d, bad).err().map(|e| e.code);
        assert_eq!(e, Some(422));
    }

    #[test]
    fn strategic_strips_directives() {
        let mut d = json!({"data": {"a": "1"}});
        apply_patch(PatchKind::Strategic, &mut d, br#"{"$setElementOrder/x":[],"data":{"b":"2"}}"#).ok();
        assert_eq!(d, json!({"data": {"a": "1", "b": "2"}}));
    }
}
