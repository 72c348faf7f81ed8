//! `meta.k8s.io/v1 Table` answers (kubectl get): Name plus printer columns evaluated by a small JSONPath.

use super::registry::{PrinterColumn, ResourceType};
use serde_json::{Value, json};

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { path: Vec<String>, eq: bool, value: Value },
}

/// Parses `.a.b[0].c[?(@.type=="Ready")].status` (optionally wrapped in `{}`).
fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(p);
    let mut steps = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let start = i + 1;
                let mut depth = 0;
                while i < chars.len() {
                    match chars[i] {
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let inner: String = chars[start..i.min(chars.len())].iter().collect();
                i += 1;
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|r| r.strip_suffix(')')) {
                    let (lhs, eq, rhs) = if let Some((l, r)) = f.split_once("!=") {
                        (l, false, r)
                    } else {
                        let (l, r) = f.split_once("==")?;
                        (l, true, r)
                    };
                    let path = lhs.trim().strip_prefix("@.")?.split('.').map(str::to_string).collect();
                    let rhs = rhs.trim();
                    let value = if let Some(s) = rhs.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                        json!(s)
                    } else if let Some(s) = rhs.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                        json!(s)
                    } else {
                        serde_json::from_str(rhs).ok()?
                    };
                    steps.push(Step::Filter { path, eq, value });
                } else if let Some(s) = inner.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                    steps.push(Step::Field(s.to_string()));
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Every value a JSONPath selects.
pub fn eval<'a>(path: &str, obj: &'a Value) -> Vec<&'a Value> {
    let Some(steps) = parse(path) else { return Vec::new() };
    let mut cur = vec![obj];
    for s in &steps {
        let mut next = Vec::new();
        for v in cur {
            match s {
                Step::Field(f) => next.extend(v.get(f)),
                Step::Index(n) => next.extend(v.get(*n)),
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter { path, eq, value } => {
                    for item in v.as_array().into_iter().flatten() {
                        let got = path.iter().try_fold(item, |c, k| c.get(k));
                        if (got == Some(value)) == *eq {
                            next.push(item);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// Go's `duration.HumanDuration`, as the real server prints `date` columns.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

fn age(ts: &str) -> Value {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => json!(human_duration((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())),
        Err(_) => json!("<invalid>"),
    }
}

fn col(name: &str, type_: &str, json_path: &str, priority: i64) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        json_path: json_path.into(),
        description: String::new(),
        priority,
        format: String::new(),
    }
}

/// Columns after Name: the CRD's, or sensible ones for built-ins.
fn columns(rt: &ResourceType) -> Vec<PrinterColumn> {
    if rt.custom {
        return rt.printer_columns.clone();
    }
    let age = col("Age", "date", ".metadata.creationTimestamp", 0);
    match rt.kind.as_str() {
        "Secret" => vec![col("Type", "string", ".type", 0), col("Data", "integer", "#data", 0), age],
        "ConfigMap" => vec![col("Data", "integer", "#data", 0), age],
        "Namespace" => vec![col("Status", "string", ".status.phase", 0), age],
        "Lease" => vec![col("Holder", "string", ".spec.holderIdentity", 0), age],
        // The same Events through both groups, each in its own shape.
        "Event" if rt.group.is_empty() => vec![
            col("Type", "string", ".type", 0),
            col("Reason", "string", ".reason", 0),
            col("Object", "string", ".involvedObject.name", 0),
            col("Message", "string", ".message", 0),
            age,
        ],
        "Event" => vec![
            col("Type", "string", ".type", 0),
            col("Reason", "string", ".reason", 0),
            col("Object", "string", ".regarding.name", 0),
            col("Note", "string", ".note", 0),
            age,
        ],
        "CustomResourceDefinition" => vec![col("Created At", "string", ".metadata.creationTimestamp", 0)],
        _ => vec![age],
    }
}

fn cell(c: &PrinterColumn, obj: &Value) -> Value {
    if let Some(field) = c.json_path.strip_prefix('#') {
        let n = obj[field].as_object().map(|m| m.len()).unwrap_or(0)
            + obj["binaryData"].as_object().filter(|_| field == "data").map(|m| m.len()).unwrap_or(0);
        return json!(n);
    }
    let found = eval(&c.json_path, obj);
    let Some(v) = found.first() else { return Value::Null };
    match (c.type_.as_str(), v) {
        ("date", Value::String(s)) => age(s),
        ("string", Value::String(s)) => json!(s),
        ("string", Value::Null) => Value::Null,
        ("string", other) => json!(other.to_string()),
        (_, other) => (*other).clone(),
    }
}

/// A Table for `objects`; `include` is the includeObject parameter (None, Metadata, Object).
pub fn table(rt: &ResourceType, objects: &[Value], list_meta: Value, include: &str) -> Value {
    let cols = columns(rt);
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    })];
    defs.extend(cols.iter().map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})));
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(cols.iter().map(|c| cell(c, o)));
            let mut row = json!({"cells": cells});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
                }
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_filters_and_indexes() {
        let o = json!({"status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}, "a": [{"b": 1}]});
        assert_eq!(eval(r#".status.conditions[?(@.type=="Ready")].status"#, &o), vec![&json!("True")]);
        assert_eq!(eval(".a[0].b", &o), vec![&json!(1)]);
        assert_eq!(eval("{.status.conditions[*].type}", &o).len(), 2);
        assert!(eval(".missing.x", &o).is_empty());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3 * 3600), "3h");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
