//! Reads the plan's input: YAML files and directories (recursive, multi-document, `kind: List`
//! expanded), admitted through the CRD schema and CEL rules as the API server would, and
//! sorted into the kinds the plan understands.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::crd::admission::{self, Schemas};
use crate::crd::{ClusterSipProvider, SipProvider, SipTrunk};

/// An object the API server would refuse, or that could not be read.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// `SipTrunk`, `SipProvider`, ... (empty when the document itself could not be parsed).
    pub kind: String,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// File the document came from.
    pub source: String,
    /// One entry per problem, `path: message` where the path is known.
    pub errors: Vec<String>,
}

/// Everything the plan read, by kind. Objects of other kinds (Namespace, ConfigMap, ...) are
/// counted in `skipped`.
#[derive(Default)]
pub struct Input {
    /// SipTrunks with the file each came from.
    pub trunks: Vec<(SipTrunk, String)>,
    /// Namespaced provider accounts.
    pub providers: Vec<SipProvider>,
    /// Cluster-wide provider accounts.
    pub cluster_providers: Vec<ClusterSipProvider>,
    /// SipDispatchRules with their file.
    pub dispatch_rules: Vec<(crate::crd::dispatch::SipDispatchRule, String)>,
    /// Secrets (token and password values; never printed).
    pub secrets: Vec<Secret>,
    /// Documents that could not be read or would be refused.
    pub rejected: Vec<Rejected>,
    /// Documents of kinds the plan does not use.
    pub skipped: usize,
}

/// Reads every path (`-` is standard input). `namespace` is given to namespaced objects that
/// name none, as `kubectl apply -n` would.
pub fn load(paths: &[PathBuf], namespace: &str) -> Result<Input, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| format!("stdin: {e}"))?;
            files.push(("<stdin>".to_string(), text));
        } else {
            collect(p, &mut files, true)?;
        }
    }
    let mut input = Input::default();
    let schemas = Schemas::operator();
    for (source, text) in files {
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            match <Value as serde::Deserialize>::deserialize(doc) {
                Ok(Value::Null) => {}
                Ok(v) => add(&mut input, &schemas, v, &source, namespace),
                Err(e) => input.rejected.push(Rejected {
                    kind: String::new(),
                    namespace: String::new(),
                    name: String::new(),
                    source: source.clone(),
                    errors: vec![format!("not valid YAML: {e}")],
                }),
            }
        }
    }
    Ok(input)
}

/// Files under `path`, sorted; `top` means the user named it (any extension is read then).
fn collect(path: &Path, out: &mut Vec<(String, String)>, top: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            collect(&p, out, false)?;
        }
    } else if top || p_is_manifest(path) {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((path.display().to_string(), text));
    }
    Ok(())
}

fn p_is_manifest(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
}

fn add(input: &mut Input, schemas: &Schemas, mut v: Value, source: &str, namespace: &str) {
    if v["kind"] == "List" {
        for item in v["items"].as_array().cloned().unwrap_or_default() {
            add(input, schemas, item, source, namespace);
        }
        return;
    }
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    let name = v["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let api_version = v["apiVersion"].as_str().unwrap_or_default().to_string();
    let namespaced = matches!(kind.as_str(), "SipTrunk" | "SipProvider" | "SipDispatchRule" | "Secret");
    if namespaced && v["metadata"]["namespace"].as_str().is_none_or(str::is_empty) {
        v["metadata"]["namespace"] = Value::String(namespace.to_string());
    }
    let ns =
        if namespaced { v["metadata"]["namespace"].as_str().unwrap_or_default().to_string() } else { String::new() };
    let reject = |errors: Vec<String>| Rejected {
        kind: kind.clone(),
        namespace: ns.clone(),
        name: name.clone(),
        source: source.to_string(),
        errors,
    };

    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    if group == crate::crd::GROUP {
        let Some(schema) = schemas.get(&api_version, &kind) else {
            input.rejected.push(reject(vec![format!("{api_version} {kind} is not a kind this operator serves")]));
            return;
        };
        if name.is_empty() {
            input.rejected.push(reject(vec!["metadata.name: Required value".into()]));
            return;
        }
        if let Err(refusal) = admission::admit(schema, &mut v, None, true) {
            input.rejected.push(reject(refusal.lines()));
            return;
        }
        let parsed = match kind.as_str() {
            "SipTrunk" => serde_json::from_value(v).map(|t| input.trunks.push((t, source.to_string()))),
            "SipProvider" => serde_json::from_value(v).map(|p| input.providers.push(p)),
            "SipDispatchRule" => serde_json::from_value(v).map(|r| input.dispatch_rules.push((r, source.to_string()))),
            _ => serde_json::from_value(v).map(|p| input.cluster_providers.push(p)),
        };
        if let Err(e) = parsed {
            input.rejected.push(reject(vec![format!("cannot be read: {e}")]));
        }
    } else if kind == "Secret" && api_version == "v1" {
        match serde_json::from_value::<Secret>(v) {
            Ok(s) => input.secrets.push(s),
            // The parser's message could quote a value: say only what is expected.
            Err(_) => input.rejected.push(reject(vec![
                "cannot be read: data values must be base64, stringData values plain strings".into(),
            ])),
        }
    } else {
        input.skipped += 1;
    }
}
