//! Server-side apply, simplified: merge the applied config, drop fields this manager no longer applies,
//! and report conflicts with other appliers' last-applied values.

use serde_json::Value;

type Path = Vec<String>;

/// The apply configuration without server-owned metadata.
pub fn sanitize(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "name",
            "namespace",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(f);
        }
    }
    c
}

/// Leaf paths of a value: maps recurse (an empty map is a leaf), lists and scalars are leaves.
/// `apiVersion` and `kind` at the top are not fields anyone owns.
fn leaves<'a>(v: &'a Value, prefix: &mut Path, out: &mut Vec<(Path, &'a Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if prefix.is_empty() && (k == "apiVersion" || k == "kind") {
                    continue;
                }
                prefix.push(k.clone());
                leaves(child, prefix, out);
                prefix.pop();
            }
        }
        _ if prefix.is_empty() => {}
        _ => out.push((prefix.clone(), v)),
    }
}

fn all_leaves(v: &Value) -> Vec<(Path, &Value)> {
    let mut out = Vec::new();
    leaves(v, &mut Vec::new(), &mut out);
    out
}

fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.as_object().and_then(|m| m.get(k)))
}

fn remove(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = v;
    for k in parents {
        match cur.as_object_mut().and_then(|m| m.get_mut(k)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, pv) in p {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && pv.is_object() => deep_merge(bv, pv),
                    _ => {
                        b.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn dotted(p: &[String]) -> String {
    p.iter().map(|s| format!(".{s}")).collect()
}

/// `(manager, .field.path)` for every applied leaf whose current value another applier set
/// and this config would change.
pub fn conflicts(current: &Value, config: &Value, others: &[(&str, &Value)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, val) in all_leaves(config) {
        let cur = get(current, &path);
        if cur == Some(val) || cur.is_none() {
            continue;
        }
        for (m, oc) in others {
            if get(oc, &path) == cur {
                out.push((m.to_string(), dotted(&path)));
            }
        }
    }
    out
}

/// The object after applying `config`: fields in `last` (this manager's previous config) that are
/// no longer applied and that no other applier holds are removed, then `config` is merged in
/// (maps merge key by key, lists are replaced whole).
pub fn merge(current: &Value, config: &Value, last: Option<&Value>, others: &[(&str, &Value)]) -> Value {
    let mut merged = current.clone();
    if let Some(last) = last {
        for (path, _) in all_leaves(last) {
            if get(config, &path).is_none() && !others.iter().any(|(_, oc)| get(oc, &path).is_some()) {
                remove(&mut merged, &path);
                // A map this manager no longer applies goes with its last field, as with
                // real managedFields (no empty `{}` left behind).
                for depth in (1..path.len()).rev() {
                    let prefix = &path[..depth];
                    let empty = get(&merged, prefix).and_then(Value::as_object).is_some_and(|m| m.is_empty());
                    if empty && get(config, prefix).is_none() {
                        remove(&mut merged, prefix);
                    } else {
                        break;
                    }
                }
            }
        }
    }
    deep_merge(&mut merged, config);
    merged
}

/// `v` without the leaf paths `config` sets (a forced apply takes those fields over).
pub fn without_paths_of(v: &Value, config: &Value) -> Value {
    let mut out = v.clone();
    for (path, _) in all_leaves(config) {
        remove(&mut out, &path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_removes_a_dropped_map_entirely() {
        let current = json!({"status": {"a": 1, "intent": {"k": "x", "t": "y"}}});
        let last = json!({"status": {"a": 1, "intent": {"k": "x", "t": "y"}}});
        let config = json!({"status": {"a": 2}});
        let merged = merge(&current, &config, Some(&last), &[]);
        assert_eq!(merged, json!({"status": {"a": 2}}));
    }

    #[test]
    fn merge_removes_dropped_fields_and_keeps_others() {
        let cur = json!({"spec": {"a": 1, "b": 2, "c": 3}});
        let last = json!({"spec": {"a": 1, "b": 2}});
        let cfg = json!({"spec": {"a": 5}});
        let m = merge(&cur, &cfg, Some(&last), &[]);
        assert_eq!(m, json!({"spec": {"a": 5, "c": 3}}));
    }

    #[test]
    fn conflict_detected_against_other_manager() {
        let cur = json!({"spec": {"a": 1}});
        let other = json!({"spec": {"a": 1}});
        let c = conflicts(&cur, &json!({"spec": {"a": 2}}), &[("m2", &other)]);
        assert_eq!(c, vec![("m2".to_string(), ".spec.a".to_string())]);
        assert!(conflicts(&cur, &json!({"spec": {"a": 1}}), &[("m2", &other)]).is_empty());
    }
}
