//! `kubectl explain` and `kubectl get` read well: every property of every CRD in
//! `crds/siptrunk.dev.yaml` has a description (enums name their values), the printer columns
//! answer "is it working and what is its id", and the three kinds share a category.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};

fn committed() -> String {
    std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds/siptrunk.dev.yaml")).unwrap()
}

fn crds() -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(&committed())
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn crd(kind: &str) -> Value {
    crds().into_iter().find(|c| c["spec"]["names"]["kind"] == kind).unwrap_or_else(|| panic!("no CRD for {kind}"))
}

/// Every (path, schema) below `node`: properties, list items (`[]`) and map values (`{}`).
fn properties(node: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    if let Some(props) = node["properties"].as_object() {
        for (k, v) in props {
            let p = format!("{path}.{k}");
            out.push((p.clone(), v.clone()));
            properties(v, &p, out);
        }
    }
    if node["items"].is_object() {
        properties(&node["items"], &format!("{path}[]"), out);
    }
    if node["additionalProperties"].is_object() {
        properties(&node["additionalProperties"], &format!("{path}{{}}"), out);
    }
}

/// What is wrong with the descriptions under a schema root.
fn description_problems(root: &Value, name: &str) -> Vec<String> {
    let mut props = Vec::new();
    properties(root, name, &mut props);
    let mut problems = Vec::new();
    for (path, schema) in props {
        let d = schema["description"].as_str().unwrap_or_default().trim();
        if d.is_empty() {
            problems.push(format!("{path}: no description"));
            continue;
        }
        if d.split_whitespace().count() < 3 {
            problems.push(format!("{path}: description {d:?} says too little"));
        }
        // kubectl explain shows the description; an enum's values must be explained there.
        for v in schema["enum"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !d.contains(v) {
                problems.push(format!("{path}: description does not mention the value {v:?}"));
            }
        }
    }
    problems
}

fn version_schemas() -> Vec<(String, Value)> {
    crds()
        .iter()
        .flat_map(|c| {
            let kind = c["spec"]["names"]["kind"].as_str().unwrap().to_string();
            c["spec"]["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (format!("{kind}/{}", v["name"].as_str().unwrap()), v.clone()))
        })
        .collect()
}

#[test]
fn the_committed_crds_equal_the_generated_ones() {
    let generated = siptrunk_operator::crd::to_yaml().unwrap();
    assert!(
        generated == committed(),
        "crds/ is stale: run `cargo run -q -- crd > crds/siptrunk.dev.yaml` and tests/chart/sync_chart_files.py"
    );
}

#[test]
fn every_property_of_every_crd_has_a_description_that_explains_it() {
    let mut problems = Vec::new();
    let mut count = 0;
    for (name, v) in version_schemas() {
        let root = &v["schema"]["openAPIV3Schema"];
        let mut props = Vec::new();
        properties(root, &name, &mut props);
        count += props.len();
        problems.extend(description_problems(root, &name));
    }
    assert!(count >= 80, "walked only {count} properties");
    assert!(problems.is_empty(), "kubectl explain would show:\n{}", problems.join("\n"));
}

#[test]
fn the_description_check_catches_a_missing_description_and_an_unexplained_enum() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "description": "The spec of it.",
    "properties": {
        "a": {"type": "string"},
        "b": {"type": "array", "description": "A list of things.", "items": {"type": "object", "properties": {"c": {"type": "string"}}}},
        "mode": {"type": "string", "enum": ["fast", "slow"], "description": "How fast it goes: fast."}
    }}}});
    assert_eq!(
        description_problems(&schema, "X"),
        [
            "X.spec.a: no description",
            "X.spec.b[].c: no description",
            "X.spec.mode: description does not mention the value \"slow\""
        ]
    );
}

#[test]
fn siptrunk_columns_answer_is_it_working_and_what_is_its_id() {
    let c = crd("SipTrunk");
    let version = &c["spec"]["versions"][0];
    let columns = version["additionalPrinterColumns"].as_array().unwrap();
    let default_view: Vec<&str> = columns
        .iter()
        .filter(|col| col["priority"].as_i64().unwrap_or(0) == 0)
        .map(|col| col["name"].as_str().unwrap())
        .collect();
    assert_eq!(default_view, ["Provider", "Number", "Address", "Trunk ID", "Ready", "Age"]);
    let path =
        |name: &str| columns.iter().find(|col| col["name"] == name).unwrap()["jsonPath"].as_str().unwrap().to_string();
    assert_eq!(path("Trunk ID"), ".status.trunkId");
    assert_eq!(path("Ready"), ".status.conditions[?(@.type==\"Ready\")].status");
    assert_eq!(path("Age"), ".metadata.creationTimestamp");
    let wide: Vec<&str> = columns.iter().map(|col| col["name"].as_str().unwrap()).collect();
    assert!(wide.contains(&"Reason"), "-o wide says why Ready is what it is: {wide:?}");
}

/// Whether a printer column's simple JSONPath (`.a.b`, `.a[?(...)].b`) names a schema property.
fn schema_has_path(root: &Value, json_path: &str) -> bool {
    // Filters such as [?(@.type=="Ready")] contain dots: reduce each to [] first.
    let mut simple = String::new();
    let mut depth = 0;
    for ch in json_path.chars() {
        match ch {
            '[' => {
                if depth == 0 {
                    simple.push('[');
                }
                depth += 1;
            }
            ']' => {
                depth -= 1;
                if depth == 0 {
                    simple.push(']');
                }
            }
            c if depth == 0 => simple.push(c),
            _ => {}
        }
    }
    let mut node = root;
    for seg in simple.trim_start_matches('.').split('.') {
        let (name, filtered) = match seg.split_once('[') {
            Some((n, _)) => (n, true),
            None => (seg, false),
        };
        if name == "metadata" {
            return true;
        }
        node = &node["properties"][name];
        if node.is_null() {
            return false;
        }
        if filtered {
            node = &node["items"];
        }
    }
    true
}

#[test]
fn every_printer_column_reads_a_field_the_schema_has_and_says_what_it_shows() {
    let mut problems = Vec::new();
    for (name, v) in version_schemas() {
        let root = &v["schema"]["openAPIV3Schema"];
        for col in v["additionalPrinterColumns"].as_array().into_iter().flatten() {
            let (cname, p) = (col["name"].as_str().unwrap(), col["jsonPath"].as_str().unwrap());
            if !schema_has_path(root, p) {
                problems.push(format!("{name} column {cname}: {p} is not in the schema (it would always be empty)"));
            }
            if cname != "Age" && col["description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name} column {cname}: no description"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(!schema_has_path(&crd("SipTrunk")["spec"]["versions"][0]["schema"]["openAPIV3Schema"], ".status.nope"));
}

#[test]
fn the_four_kinds_share_a_category_and_have_short_names() {
    let all = crds();
    assert_eq!(all.len(), 4);
    let mut shared: Option<BTreeSet<String>> = None;
    for c in &all {
        let names = &c["spec"]["names"];
        let cats: BTreeSet<String> =
            names["categories"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
        shared = Some(match shared {
            None => cats,
            Some(s) => s.intersection(&cats).cloned().collect(),
        });
        assert!(names["shortNames"].as_array().is_some_and(|a| !a.is_empty()), "{} has a short name", names["kind"]);
    }
    assert!(shared.unwrap().contains("siptrunk-operator"), "`kubectl get siptrunk-operator` lists all four kinds");
}

/// Every description string of a CRD, with its JSON path.
fn all_descriptions(node: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match node {
        Value::Object(m) => {
            if let Some(Value::String(d)) = m.get("description") {
                out.push((path.to_string(), d.clone()));
            }
            for (k, v) in m {
                all_descriptions(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| all_descriptions(v, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

#[test]
fn explain_texts_do_not_break_mid_sentence_and_say_something() {
    let mut problems = Vec::new();
    for (name, v) in version_schemas() {
        let mut descs = Vec::new();
        all_descriptions(&v["schema"], &name, &mut descs);
        for (path, d) in descs {
            // kubectl explain prints line breaks as they are: one inside a paragraph cuts a
            // sentence ("... natural key (autocalls/famulor: number +" / "username + ...").
            if d.split("\n\n").any(|p| p.contains('\n')) {
                problems.push(format!("{path}: line break inside a paragraph: {d:?}"));
            }
            if d.starts_with("Auto-generated") {
                problems.push(format!("{path}: the derive macro's text instead of the kind's: {d:?}"));
            }
            if d.split_whitespace().count() < 4 && !path.ends_with("status.conditions.items") {
                problems.push(format!("{path}: too short to explain anything: {d:?}"));
            }
            if d.contains(" a autocalls") {
                problems.push(format!("{path}: \"a autocalls\": {d:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "kubectl explain would show:\n{}", problems.join("\n"));
    assert_eq!(
        siptrunk_operator::crd::unwrap_paragraphs("natural key (number +\nusername)\n\nSecond."),
        "natural key (number + username)\n\nSecond."
    );
}

#[test]
fn provider_columns_answer_type_ready_trunks_age() {
    for kind in ["SipProvider", "ClusterSipProvider"] {
        let c = crd(kind);
        let columns = c["spec"]["versions"][0]["additionalPrinterColumns"].as_array().unwrap().clone();
        let default_view: Vec<&str> = columns
            .iter()
            .filter(|col| col["priority"].as_i64().unwrap_or(0) == 0)
            .map(|col| col["name"].as_str().unwrap())
            .collect();
        assert_eq!(default_view, ["Type", "Ready", "Trunks", "Age"], "{kind}");
        let path = |name: &str| columns.iter().find(|col| col["name"] == name).unwrap()["jsonPath"].clone();
        assert_eq!(path("Ready"), ".status.conditions[?(@.type==\"Ready\")].status");
        assert_eq!(path("Trunks"), ".status.trunks");
    }
}
