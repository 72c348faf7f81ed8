//! The bad-input corpus of tests/fixtures/invalid/ through the real paths: every object the
//! schema or a CEL rule must refuse is refused by the (emulated) API server when applied with
//! `kube::Api`; every object only the controller can refuse is stored, and the controller sets
//! `Ready=False` reason `InvalidSpec` naming the field, with zero provider calls.
//! (tests/cel_corpus.rs checks the same corpus against the CRD offline.)

mod builders;
mod common;

use builders::fixture;
use common::*;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{Value, json};
use siptrunk_operator::crd::ProviderType;
use siptrunk_operator::emulator::Flavor;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidObject {
    name: String,
    object: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    name: String,
    base: String,
    #[serde(default)]
    patch: Value,
    old: Option<Value>,
    refused_by: String,
    field: String,
    provider_type: Option<ProviderType>,
}

fn corpus() -> (Vec<ValidObject>, Vec<Case>) {
    let valid: Vec<ValidObject> = serde_yaml_ng::from_str(&fixture("valid/objects.yaml")).expect("valid objects");
    let mut cases = Vec::new();
    for f in ["trunk_schema.yaml", "trunk_cel.yaml", "providers.yaml", "transitions.yaml", "controller.yaml"] {
        let mut c: Vec<Case> = serde_yaml_ng::from_str(&fixture(&format!("invalid/{f}"))).expect(f);
        cases.append(&mut c);
    }
    (valid, cases)
}

fn built(valid: &[ValidObject], base: &str, patch: &Value) -> Value {
    let mut o = valid.iter().find(|v| v.name == base).unwrap_or_else(|| panic!("base {base}")).object.clone();
    json_patch::merge(&mut o, patch);
    o
}

fn api_for(client: &Client, ns: &str, obj: &Value) -> Api<DynamicObject> {
    let kind = obj["kind"].as_str().expect("kind");
    let gvk = GroupVersionKind::gvk("siptrunk.dev", "v1alpha1", kind);
    let ar = ApiResource::from_gvk(&gvk);
    if kind == "ClusterSipProvider" {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), ns, &ar)
    }
}

/// Server-side apply with strict field validation (what kubectl does by default).
async fn apply(client: &Client, ns: &str, name: &str, mut obj: Value) -> Result<(), kube::Error> {
    obj["metadata"] = json!({"name": name});
    let api = api_for(client, ns, &obj);
    api.patch(name, &PatchParams::apply("corpus").force().validation_strict(), &Patch::Apply(&obj)).await.map(|_| ())
}

fn norm(path: &str) -> String {
    path.trim_start_matches('.').replace(['/', '['], ".").replace(']', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_cel_cases_are_refused_by_the_api_server_with_422() {
    let env =
        Env::start_with(Flavor::Autocalls, siptrunk_operator::emulator::EmulatorConfig::new(Flavor::Autocalls), false)
            .await;
    let (valid, cases) = corpus();
    let mut failures = Vec::new();
    let (mut n422, mut n400, mut total) = (0, 0, 0);
    for (i, c) in cases.iter().enumerate().filter(|(_, c)| c.refused_by != "controller") {
        total += 1;
        let name = format!("c{i}-{}", env.ns);
        if let Some(old) = &c.old
            && let Err(e) = apply(&env.client, &env.ns, &name, built(&valid, &c.base, old)).await
        {
            failures.push(format!("{}: the stored object was refused: {e}", c.name));
            continue;
        }
        match apply(&env.client, &env.ns, &name, built(&valid, &c.base, &c.patch)).await {
            Ok(()) => failures.push(format!("{}: accepted, expected a refusal at {}", c.name, c.field)),
            Err(kube::Error::Api(s)) if s.code == 422 => {
                n422 += 1;
                let want = norm(&c.field);
                let fields: Vec<String> =
                    s.details.iter().flat_map(|d| d.causes.iter()).map(|c| norm(&c.field)).collect();
                let named = fields
                    .iter()
                    .any(|f| f == &want || want.starts_with(&format!("{f}.")) || f.starts_with(&format!("{want}.")))
                    || s.message.contains(&c.field);
                if !named {
                    failures.push(format!("{}: 422 but not at {want}: {fields:?} {}", c.name, s.message));
                }
            }
            // Strict field validation refuses unknown fields with 400, as a real API server does.
            Err(kube::Error::Api(s)) if s.code == 400 && s.message.contains("unknown field") => n400 += 1,
            Err(e) => failures.push(format!("{}: unexpected error {e}", c.name)),
        }
    }
    println!("CORPUS api-server: {total} schema/CEL cases; refused with 422: {n422}, with 400 (unknown field): {n400}");
    assert!(total >= 100, "the corpus is all there: {total}");
    assert!(failures.is_empty(), "{} of {total} cases:\n{}", failures.len(), failures.join("\n"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_cases_are_invalid_spec_naming_the_field_without_provider_calls() {
    let env = Env::start(Flavor::Autocalls).await;
    for t in [ProviderType::Autocalls, ProviderType::Famulor, ProviderType::Bolna, ProviderType::Livekit] {
        let api: Api<siptrunk_operator::crd::SipProvider> = Api::namespaced(env.client.clone(), &env.ns);
        let mut obj = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider", "metadata": {"name": format!("p-{}", t.as_str())},
            "spec": {"type": t.as_str(), "apiTokenSecretRef": {"name": "provider-token", "key": "token"},
                     "baseUrl": env.provider.base_url(), "allowInsecureHttp": true}});
        if t == ProviderType::Livekit {
            obj["spec"]["apiKey"] = json!("APIcorpus");
        }
        api.patch(&format!("p-{}", t.as_str()), &PatchParams::apply("e2e").force(), &Patch::Apply(&obj))
            .await
            .expect("provider");
    }
    env.put_secret("corpus-sip", "password", "pw-corpus").await;
    env.provider.reset_calls();
    let (valid, cases) = corpus();
    let cases: Vec<(usize, &Case)> = cases.iter().enumerate().filter(|(_, c)| c.refused_by == "controller").collect();
    for (i, c) in &cases {
        let mut o = built(&valid, &c.base, &c.patch);
        let t = c.provider_type.expect("controller cases name a provider type");
        o["spec"]["providerRef"] = json!({"kind": "SipProvider", "name": format!("p-{}", t.as_str())});
        if o["spec"]["auth"]["passwordSecretRef"].is_object() {
            o["spec"]["auth"]["passwordSecretRef"] = json!({"name": "corpus-sip", "key": "password"});
        }
        apply(&env.client, &env.ns, &format!("c{i}"), o)
            .await
            .unwrap_or_else(|e| panic!("{}: the API server must accept it: {e}", c.name));
    }
    for (i, c) in &cases {
        let got = env.wait_reason(&format!("c{i}"), "InvalidSpec").await;
        let msg = ready_message(&got);
        let want = c.field.split('[').next().unwrap_or_default();
        assert!(msg.contains(want), "{}: the condition names {}: {msg}", c.name, c.field);
    }
    assert_eq!(env.provider.total_calls(), 0, "no provider call for any invalid spec");
    println!("CORPUS controller: {} cases InvalidSpec with the field named, provider_calls=0", cases.len());
    env.stop().await;
}
