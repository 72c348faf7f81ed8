//! Bad-input corpus against the committed CRDs (`crds/siptrunk.dev.yaml`).
//!
//! Every invalid object in tests/fixtures/invalid/ must be refused by the layer it names:
//! - `schema`: the structural OpenAPI schema, checked with `jsonschema` after converting the
//!   Kubernetes dialect (nullable, list-type set, strict unknown-field checking as kubectl
//!   applies it by default);
//! - `cel`: an `x-kubernetes-validations` rule, evaluated by kube-cel with the stored object as
//!   `oldSelf` for transition rules; only a rule that evaluated to false counts, a rule that does
//!   not compile or cannot be evaluated fails the test;
//! - `controller`: `controller::validate::validate`, for what the schema cannot know (the
//!   provider type behind providerRef).
//!
//! The valid objects of tests/fixtures/valid/ must pass all three, so the rules do not simply
//! refuse everything.

mod builders;

use std::collections::{BTreeMap, BTreeSet};

use builders::{fixture, fixture_path};
use kube_cel::{CompiledSchema, ErrorKind, Validator, compile_schema};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use siptrunk_operator::controller::validate::validate;
use siptrunk_operator::crd::{ProviderType, SipTrunkSpec};

// ---- loading the CRDs ----------------------------------------------------------------------

/// One served version of one kind: its raw OpenAPI schema, the JSON Schema converted from it,
/// and the compiled CEL rules.
struct VersionSchema {
    openapi: Value,
    structural: jsonschema::Validator,
    cel: CompiledSchema,
}

/// `(kind, version)` → schema, from the committed CRD file.
fn crd_schemas() -> BTreeMap<(String, String), VersionSchema> {
    let text = std::fs::read_to_string(fixture_path("../../crds/siptrunk.dev.yaml")).expect("crds/siptrunk.dev.yaml");
    let mut out = BTreeMap::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let crd = Value::deserialize(doc).expect("CRD YAML");
        if crd.is_null() {
            continue;
        }
        let kind = crd["spec"]["names"]["kind"].as_str().expect("kind").to_string();
        for v in crd["spec"]["versions"].as_array().expect("versions") {
            let openapi = v["schema"]["openAPIV3Schema"].clone();
            assert!(openapi.is_object(), "{kind} {} has an openAPIV3Schema", v["name"]);
            let converted = to_json_schema(&openapi, true);
            let structural = jsonschema::validator_for(&converted)
                .unwrap_or_else(|e| panic!("{kind}: converted schema does not compile: {e}"));
            let cel = compile_schema(&openapi);
            out.insert(
                (kind.clone(), v["name"].as_str().unwrap().to_string()),
                VersionSchema { openapi, structural, cel },
            );
        }
    }
    out
}

/// Converts a Kubernetes structural schema into plain JSON Schema:
/// - `nullable: true` admits null (also in an `enum`);
/// - `x-kubernetes-list-type: set` means unique items;
/// - objects with `properties` and no `additionalProperties` refuse unknown fields (what
///   `kubectl apply` does with its default `--validate=strict`), except at the root, where
///   `apiVersion`, `kind` and `metadata` are not described;
/// - `format` (int32, uint32, date-time) and the `x-kubernetes-*` extensions are dropped.
fn to_json_schema(node: &Value, root: bool) -> Value {
    let Some(obj) = node.as_object() else { return node.clone() };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "properties" => {
                let props = v.as_object().unwrap().iter().map(|(p, s)| (p.clone(), to_json_schema(s, false))).collect();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" => {
                out.insert(k.clone(), to_json_schema(v, false));
            }
            "additionalProperties" if v.is_object() => {
                out.insert(k.clone(), to_json_schema(v, false));
            }
            "format" | "nullable" => {}
            x if x.starts_with("x-kubernetes-") => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(t) = obj.get("type") {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(e)) = out.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    if obj.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
        out.insert("uniqueItems".into(), Value::Bool(true));
    }
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !root && obj.contains_key("properties") && !obj.contains_key("additionalProperties") && !preserve {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

// ---- fixtures ------------------------------------------------------------------------------

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ValidObject {
    name: String,
    provider_type: Option<ProviderType>,
    object: Value,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(rename_all = "lowercase")]
enum Layer {
    Schema,
    Cel,
    Controller,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    base: String,
    #[serde(default)]
    patch: Value,
    /// Merge patch on the base giving the stored object (update cases).
    old: Option<Value>,
    refused_by: Layer,
    field: String,
    provider_type: Option<ProviderType>,
}

/// A case ready to check: the new object, the stored one for updates, and the provider type.
struct Built {
    name: String,
    object: Value,
    old: Option<Value>,
    provider_type: Option<ProviderType>,
    refused_by: Layer,
    field: String,
}

fn valid_objects() -> Vec<ValidObject> {
    let mut all: Vec<ValidObject> =
        serde_yaml_ng::from_str(&fixture("valid/objects.yaml")).expect("valid/objects.yaml");
    let mut rules: Vec<ValidObject> =
        serde_yaml_ng::from_str(&fixture("valid/dispatch.yaml")).expect("valid/dispatch.yaml");
    all.append(&mut rules);
    all
}

fn invalid_cases() -> Vec<Case> {
    let dir = fixture_path("invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/invalid")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut c: Vec<Case> = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        cases.append(&mut c);
    }
    cases
}

fn build(case: &Case, valid: &[ValidObject]) -> Built {
    let base = valid
        .iter()
        .find(|v| v.name == case.base)
        .unwrap_or_else(|| panic!("{}: unknown base {}", case.name, case.base));
    let mut object = base.object.clone();
    json_patch::merge(&mut object, &case.patch);
    let old = case.old.as_ref().map(|p| {
        let mut o = base.object.clone();
        json_patch::merge(&mut o, p);
        o
    });
    Built {
        name: case.name.clone(),
        object,
        old,
        provider_type: case.provider_type.or(base.provider_type),
        refused_by: case.refused_by,
        field: case.field.clone(),
    }
}

/// Oversized and generated inputs that would be unreadable in YAML.
fn generated_cases(valid: &[ValidObject]) -> Vec<Built> {
    let base = |name: &str| valid.iter().find(|v| v.name == name).unwrap().object.clone();
    let with = |name: &str, patch: Value| {
        let mut o = base(name);
        json_patch::merge(&mut o, &patch);
        o
    };
    let ips: Vec<String> = (1..=51).map(|i| format!("203.0.113.{i}")).collect();
    let gateways: Vec<Value> = (1..=11).map(|i| json!({"address": format!("gw{i}.carrier.example")})).collect();
    let dids: Vec<Value> = (0..101).map(|i| json!({"number": format!("+1415555{i:04}")})).collect();
    let schema = |name: &str, object: Value, field: &str| Built {
        name: name.into(),
        object,
        old: None,
        provider_type: None,
        refused_by: Layer::Schema,
        field: field.into(),
    };
    vec![
        schema(
            "51 allowed IPs",
            with("autocalls-ip", json!({"spec": {"auth": {"allowedInboundIps": ips}}})),
            "spec.auth.allowedInboundIps",
        ),
        schema(
            "11 gateways",
            with("bolna-ip", json!({"spec": {"bolna": {"gateways": gateways}}})),
            "spec.bolna.gateways",
        ),
        schema(
            "101 DIDs",
            with("bolna-userpass", json!({"spec": {"bolna": {"phoneNumbers": dids}}})),
            "spec.bolna.phoneNumbers",
        ),
        schema(
            "username of 129 characters",
            with("autocalls-number", json!({"spec": {"auth": {"username": "u".repeat(129)}}})),
            "spec.auth.username",
        ),
        schema(
            "bolna name of 101 characters",
            with("bolna-userpass", json!({"spec": {"bolna": {"name": "n".repeat(101)}}})),
            "spec.bolna.name",
        ),
        schema(
            "DID label of 65 characters",
            with(
                "bolna-userpass",
                json!({"spec": {"bolna": {"phoneNumbers": [{"number": "+14155551234", "name": "l".repeat(65)}]}}}),
            ),
            "spec.bolna.phoneNumbers.0.name",
        ),
        schema(
            "sipAddress of 254 characters",
            with("autocalls-number", json!({"spec": {"sipAddress": format!("{}.example", "a".repeat(246))}})),
            "spec.sipAddress",
        ),
        schema(
            "caBundle over 64 KiB",
            with("provider-autocalls", json!({"spec": {"caBundle": "A".repeat(65537)}})),
            "spec.caBundle",
        ),
        schema(
            "baseUrl over 2048 characters",
            with("provider-autocalls", json!({"spec": {"baseUrl": format!("https://a.example/{}", "p".repeat(2040))}})),
            "spec.baseUrl",
        ),
        schema(
            "Secret name over 253 characters",
            with("autocalls-number", json!({"spec": {"auth": {"passwordSecretRef": {"name": "s".repeat(254)}}}})),
            "spec.auth.passwordSecretRef.name",
        ),
    ]
}

// ---- the three layers ----------------------------------------------------------------------

/// Dotted path with list indexes as segments: `spec.a[0].b` and `/spec/a/0/b` both become `spec.a.0.b`.
fn norm(path: &str) -> String {
    path.trim_start_matches('/').replace(['/', '['], ".").replace(']', "")
}

fn schema_for<'a>(schemas: &'a BTreeMap<(String, String), VersionSchema>, object: &Value) -> &'a VersionSchema {
    let kind = object["kind"].as_str().expect("kind");
    let version = object["apiVersion"].as_str().and_then(|a| a.split('/').nth(1)).expect("apiVersion");
    schemas.get(&(kind.to_string(), version.to_string())).unwrap_or_else(|| panic!("no CRD for {kind} {version}"))
}

/// Paths of structural errors (a missing required property is reported at the property).
fn schema_errors(s: &VersionSchema, object: &Value) -> Vec<String> {
    s.structural
        .iter_errors(object)
        .map(|e| {
            let mut p = norm(&e.instance_path().to_string());
            if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind() {
                p = format!("{p}.{}", property.as_str().unwrap_or_default());
            }
            p
        })
        .collect()
}

/// What the CEL rules say: the refusals (rule evaluated to false) as (path, rule), or the
/// description of a rule that is broken (did not compile, could not be evaluated). A broken rule
/// must never count as a refusal: it would make an invalid object look refused for the wrong reason.
fn cel_verdict(s: &VersionSchema, object: &Value, old: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    match Validator::new().validate_compiled(&s.cel, object, old) {
        Ok(()) => Ok(vec![]),
        Err(errs) => {
            let broken: Vec<String> = errs
                .iter()
                .filter(|e| e.kind != ErrorKind::ValidationFailure)
                .map(|e| format!("{:?}: {e}", e.kind))
                .collect();
            if broken.is_empty() {
                Ok(errs.iter().map(|e| (norm(&e.field_path), e.rule.clone())).collect())
            } else {
                Err(broken.join("; "))
            }
        }
    }
}

fn controller_errors(object: &Value, provider: ProviderType) -> Result<Vec<String>, String> {
    let spec: SipTrunkSpec =
        serde_json::from_value(object["spec"].clone()).map_err(|e| format!("spec does not deserialize: {e}"))?;
    Ok(validate(&spec, provider).iter().map(|e| norm(&e.path)).collect())
}

// ---- tests ---------------------------------------------------------------------------------

#[test]
fn every_invalid_object_is_refused_by_the_layer_it_names() {
    let schemas = crd_schemas();
    let valid = valid_objects();
    let mut cases: Vec<Built> = invalid_cases().iter().map(|c| build(c, &valid)).collect();
    cases.extend(generated_cases(&valid));
    assert!(cases.len() >= 50, "the corpus has at least 50 objects, has {}", cases.len());

    let mut failures = Vec::new();
    let mut counts: BTreeMap<Layer, usize> = BTreeMap::new();
    for c in &cases {
        let s = schema_for(&schemas, &c.object);
        let want = norm(&c.field);
        let structural = schema_errors(s, &c.object);
        if let Some(old) = &c.old {
            let old_errs = schema_errors(s, old);
            if !old_errs.is_empty() || cel_verdict(s, old, None) != Ok(vec![]) {
                failures.push(format!("{}: the stored (old) object is itself invalid: {old_errs:?}", c.name));
                continue;
            }
        }
        let outcome = match c.refused_by {
            Layer::Schema => {
                if structural.contains(&want) {
                    Ok(())
                } else {
                    Err(format!("expected a schema error at {want}, schema said {structural:?}"))
                }
            }
            Layer::Cel | Layer::Controller if !structural.is_empty() => {
                Err(format!("must pass the structural schema to test its layer, schema said {structural:?}"))
            }
            Layer::Cel => match cel_verdict(s, &c.object, c.old.as_ref()) {
                Err(broken) => Err(format!("a CEL rule is broken: {broken}")),
                Ok(refusals) if refusals.iter().any(|(p, _)| *p == want) => Ok(()),
                Ok(refusals) => Err(format!("expected a CEL refusal at {want}, CEL said {refusals:?}")),
            },
            Layer::Controller => match cel_verdict(s, &c.object, c.old.as_ref()) {
                Err(broken) => Err(format!("a CEL rule is broken: {broken}")),
                Ok(refusals) if !refusals.is_empty() => Err(format!(
                    "the schema can know this after all (CEL refused: {refusals:?}); move the case to `cel`"
                )),
                Ok(_) => match c.provider_type.map(|p| controller_errors(&c.object, p)) {
                    None => Err("controller cases need a providerType".into()),
                    Some(Err(e)) => Err(e),
                    Some(Ok(paths)) if paths.contains(&want) => Ok(()),
                    Some(Ok(paths)) => Err(format!("expected a controller error at {want}, got {paths:?}")),
                },
            },
        };
        match outcome {
            Ok(()) => *counts.entry(c.refused_by).or_default() += 1,
            Err(why) => failures.push(format!("{}: {why}", c.name)),
        }
    }
    println!(
        "invalid corpus: {} objects; refused by schema: {}, by CEL: {}, by controller validation: {}",
        cases.len(),
        counts.get(&Layer::Schema).unwrap_or(&0),
        counts.get(&Layer::Cel).unwrap_or(&0),
        counts.get(&Layer::Controller).unwrap_or(&0),
    );
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_valid_object_passes_schema_cel_and_controller_validation() {
    let schemas = crd_schemas();
    let valid = valid_objects();
    assert!(valid.len() >= 5);
    let mut failures = Vec::new();
    for v in &valid {
        let s = schema_for(&schemas, &v.object);
        let structural = schema_errors(s, &v.object);
        if !structural.is_empty() {
            failures.push(format!("{}: schema refused {structural:?}", v.name));
        }
        match cel_verdict(s, &v.object, None) {
            Ok(r) if r.is_empty() => {}
            other => failures.push(format!("{}: CEL refused {other:?}", v.name)),
        }
        // An update that changes nothing must pass the transition rules too.
        match cel_verdict(s, &v.object, Some(&v.object)) {
            Ok(r) if r.is_empty() => {}
            other => failures.push(format!("{}: CEL refused a no-op update {other:?}", v.name)),
        }
        if v.object["kind"] == "SipTrunk" {
            match v.provider_type.map(|p| controller_errors(&v.object, p)) {
                Some(Ok(e)) if e.is_empty() => {}
                other => failures.push(format!("{}: controller refused {other:?}", v.name)),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn updates_of_mutable_fields_pass_the_transition_rules() {
    let schemas = crd_schemas();
    let valid = valid_objects();
    let base = |name: &str| valid.iter().find(|v| v.name == name).unwrap().object.clone();
    let updates = [
        (
            "autocalls-number",
            json!({"spec": {"displayName": "Renamed", "sipAddress": "sip2.carrier.example", "auth": {"username": "other"}}}),
        ),
        ("autocalls-ip", json!({"spec": {"numberType": "number"}})), // unset and explicit number are the same
        ("autocalls-ip", json!({"spec": {"auth": {"type": "credentials", "allowedInboundIps": null}}})), // autocalls can switch auth
        (
            "bolna-userpass",
            json!({"spec": {"bolna": {"name": "renamed", "gateways": [{"address": "sip3.zadarma.com"}]}}}),
        ),
        ("provider-autocalls", json!({"spec": {"baseUrl": "https://app.autocalls.ai/api"}})),
    ];
    for (name, patch) in updates {
        let old = base(name);
        let mut new = old.clone();
        json_patch::merge(&mut new, &patch);
        let s = schema_for(&schemas, &new);
        assert_eq!(schema_errors(s, &new), Vec::<String>::new(), "{name} {patch}");
        assert_eq!(cel_verdict(s, &new, Some(&old)), Ok(vec![]), "{name} {patch}");
    }
}

/// Walks a compiled schema and returns (rule count, compilation errors).
fn compiled_rules(c: &CompiledSchema, path: &str, errors: &mut Vec<String>) -> usize {
    let mut n = c.validations.len();
    for e in c.compilation_errors() {
        errors.push(format!("{path}: {e}"));
    }
    for (k, child) in &c.properties {
        n += compiled_rules(child, &format!("{path}.{k}"), errors);
    }
    if let Some(items) = &c.items {
        n += compiled_rules(items, &format!("{path}[]"), errors);
    }
    if let Some(ap) = &c.additional_properties {
        n += compiled_rules(ap, &format!("{path}{{}}"), errors);
    }
    for b in c.all_of.iter().chain(&c.one_of).chain(&c.any_of) {
        n += compiled_rules(b, path, errors);
    }
    n
}

fn all_rule_texts(node: &Value, out: &mut BTreeSet<String>) {
    match node {
        Value::Object(m) => {
            if let Some(Value::Array(rules)) = m.get("x-kubernetes-validations") {
                for r in rules {
                    out.insert(r["rule"].as_str().unwrap().to_string());
                }
            }
            m.values().for_each(|v| all_rule_texts(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| all_rule_texts(v, out)),
        _ => {}
    }
}

#[test]
fn every_x_kubernetes_validations_rule_in_crds_compiles() {
    let schemas = crd_schemas();
    let text = std::fs::read_to_string(fixture_path("../../crds/siptrunk.dev.yaml")).unwrap();
    // A `rule:` line with a value is a CEL rule; a bare `rule:` is a property of that name
    // (SipDispatchRule's spec.rule).
    let declared = text
        .lines()
        .map(str::trim)
        .filter(|l| (l.starts_with("rule:") || l.starts_with("- rule:")) && !l.ends_with("rule:"))
        .count();
    let mut errors = Vec::new();
    let mut compiled = 0;
    for ((kind, version), s) in &schemas {
        compiled += compiled_rules(&s.cel, &format!("{kind}/{version}"), &mut errors);
    }
    assert!(errors.is_empty(), "rules that do not compile:\n{}", errors.join("\n"));
    assert_eq!(compiled, declared, "every rule in the file was found and compiled");
    assert!(compiled >= 20, "{compiled}");
}

#[test]
fn every_cel_rule_refuses_at_least_one_corpus_object() {
    let schemas = crd_schemas();
    let valid = valid_objects();
    let mut declared = BTreeSet::new();
    for s in schemas.values() {
        all_rule_texts(&s.openapi, &mut declared);
    }
    let mut exercised = BTreeSet::new();
    for c in invalid_cases().iter().filter(|c| c.refused_by == Layer::Cel) {
        let b = build(c, &valid);
        if let Ok(refusals) = cel_verdict(schema_for(&schemas, &b.object), &b.object, b.old.as_ref()) {
            exercised.extend(refusals.into_iter().map(|(_, rule)| rule));
        }
    }
    let unexercised: Vec<_> = declared.difference(&exercised).collect();
    assert!(unexercised.is_empty(), "rules no invalid object trips: {unexercised:#?}");
}

#[test]
fn a_rule_that_does_not_compile_is_reported_as_broken_not_as_a_refusal() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"a": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.a == ", "message": "broken"}]}}});
    let compiled = compile_schema(&schema);
    assert!(compiled.properties["spec"].has_errors(), "kube-cel keeps the parse error on the node");
    let object = json!({"spec": {"a": "x"}});
    let errs = Validator::new().validate(&schema, &object, None).expect_err("a broken rule fails validation");
    assert!(errs.iter().any(|e| e.kind == ErrorKind::CompilationFailure), "{errs}");
    let s = VersionSchema {
        structural: jsonschema::validator_for(&to_json_schema(&schema, true)).unwrap(),
        cel: compiled,
        openapi: schema,
    };
    assert!(cel_verdict(&s, &object, None).is_err(), "the harness treats it as broken");
}

#[test]
fn a_rule_calling_an_unknown_function_is_reported_as_broken_not_as_a_refusal() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "properties": {"a": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "isNotAFunction(self.a)"}]}}});
    let s = VersionSchema {
        structural: jsonschema::validator_for(&to_json_schema(&schema, true)).unwrap(),
        cel: compile_schema(&schema),
        openapi: schema,
    };
    let verdict = cel_verdict(&s, &json!({"spec": {"a": "x"}}), None);
    assert!(verdict.is_err(), "{verdict:?}");
}

#[test]
fn transition_rules_are_skipped_without_an_old_object() {
    // The same change is fine on create: immutability only binds updates.
    let schemas = crd_schemas();
    let valid = valid_objects();
    let mut o = valid.iter().find(|v| v.name == "autocalls-number").unwrap().object.clone();
    json_patch::merge(&mut o, &json!({"spec": {"numberType": "extension", "phoneNumber": "1000"}}));
    assert_eq!(cel_verdict(schema_for(&schemas, &o), &o, None), Ok(vec![]));
}

#[test]
fn converted_schema_admits_null_for_nullable_fields_only() {
    let schemas = crd_schemas();
    let valid = valid_objects();
    let base = valid.iter().find(|v| v.name == "autocalls-number").unwrap().object.clone();
    let s = schema_for(&schemas, &base);
    let mut nullable = base.clone();
    nullable["spec"]["displayName"] = Value::Null;
    assert_eq!(schema_errors(s, &nullable), Vec::<String>::new());
    let mut not_nullable = base;
    not_nullable["spec"]["auth"]["username"] = Value::Null;
    assert_eq!(schema_errors(s, &not_nullable), ["spec.auth.username"]);
}

/// Scalars that YAML 1.1 parsers (go-yaml v2 behind kubectl and Helm) read as booleans.
const YAML11_BOOLS: &[&str] =
    &["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];

#[test]
fn committed_crd_has_no_unquoted_yaml11_booleans_where_strings_are_meant() {
    let text = std::fs::read_to_string(fixture_path("../../crds/siptrunk.dev.yaml")).unwrap();
    let offending: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            let scalar = t.strip_prefix("- ").or_else(|| t.split_once(": ").map(|(_, v)| v));
            scalar.is_some_and(|s| YAML11_BOOLS.contains(&s.trim()))
        })
        .map(|(i, l)| (i + 1, l))
        .collect();
    assert!(offending.is_empty(), "YAML 1.1 reads these as booleans (API.md trap 15): {offending:?}");
}
