//! Events: one store served through core/v1 `events` and `events.k8s.io/v1` `events`, as a real
//! API server serves one Event resource through both groups. Objects are stored in the core
//! shape; events.k8s.io/v1 bodies are converted on the way in and answers on the way out, by
//! the field renames of Kubernetes' own conversion (pkg/apis/events/v1).

use serde_json::{Map, Value};

use super::registry::ResourceType;
use super::status::ApiError;

/// (core/v1 field, events.k8s.io/v1 field).
const RENAMES: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Whether `rt` is events.k8s.io/v1 events (stored in the core shape).
pub fn is_events_v1(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io" && rt.plural == "events"
}

fn rename(v: Value, to_v1: bool) -> Value {
    let Value::Object(m) = v else { return v };
    let mut out = Map::with_capacity(m.len());
    for (k, val) in m {
        let key = RENAMES
            .iter()
            .find_map(|(core, v1)| match to_v1 {
                true if k == *core => Some(*v1),
                false if k == *v1 => Some(*core),
                _ => None,
            })
            .map(str::to_string)
            .unwrap_or(k);
        out.insert(key, val);
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event (or apply configuration, or merge patch) in the core shape.
pub fn to_core(v: Value) -> Value {
    rename(v, false)
}

/// A stored (core) Event as events.k8s.io/v1 shows it.
pub fn to_v1(v: Value) -> Value {
    rename(v, true)
}

/// The stored object as `rt` shows it: converted for events.k8s.io/v1, apiVersion set.
pub fn view(obj: &Value, rt: &ResourceType) -> Value {
    let mut o = if is_events_v1(rt) { to_v1(obj.clone()) } else { obj.clone() };
    o["apiVersion"] = Value::String(rt.api_version());
    o
}

/// An answer of a write through `rt`, in its shape.
pub fn answer(obj: Value, rt: &ResourceType) -> Value {
    if is_events_v1(rt) { view(&obj, rt) } else { obj }
}

/// A merge/strategic patch body sent to events.k8s.io/v1, for the core-shaped store.
pub fn merge_patch_to_core(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))?;
    serde_json::to_vec(&to_core(v)).map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))
}

/// A JSON patch body sent to events.k8s.io/v1: the first segment of each `path`/`from` renamed.
pub fn json_patch_to_core(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut ops: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    for op in ops.as_array_mut().into_iter().flatten() {
        for field in ["path", "from"] {
            if let Some(p) = op[field].as_str().map(str::to_string) {
                let rest = p.strip_prefix('/').unwrap_or(&p);
                let (first, tail) = rest.split_once('/').map(|(a, b)| (a, Some(b))).unwrap_or((rest, None));
                let core = RENAMES.iter().find(|(_, v1)| *v1 == first).map(|(c, _)| *c).unwrap_or(first);
                op[field] = Value::String(match tail {
                    Some(t) => format!("/{core}/{t}"),
                    None => format!("/{core}"),
                });
            }
        }
    }
    serde_json::to_vec(&ops).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_shapes_convert_into_each_other() {
        let v1 = json!({"regarding": {"name": "t"}, "note": "n", "reportingController": "c", "reason": "R",
                        "deprecatedCount": 2, "series": {"count": 3}});
        let core = to_core(v1.clone());
        assert_eq!(
            core,
            json!({"involvedObject": {"name": "t"}, "message": "n", "reportingComponent": "c",
                                "reason": "R", "count": 2, "series": {"count": 3}})
        );
        assert_eq!(to_v1(core), v1);
    }

    #[test]
    fn json_patch_paths_are_renamed() {
        let body = br#"[{"op":"replace","path":"/note","value":"x"},{"op":"add","path":"/regarding/name","value":"y"},{"op":"replace","path":"/series/count","value":2}]"#;
        let out: Value = serde_json::from_slice(&json_patch_to_core(body).unwrap_or_default()).unwrap_or_default();
        assert_eq!(out[0]["path"], "/message");
        assert_eq!(out[1]["path"], "/involvedObject/name");
        assert_eq!(out[2]["path"], "/series/count");
    }
}
