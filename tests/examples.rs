//! The YAML in `examples/` is ready to apply: every siptrunk.dev object passes the committed
//! CRD schema and CEL rules, every Secret is a placeholder, every reference resolves inside the
//! example directory (or a file it declares with `# Requires: <dir>/<file>`), namespaces exist
//! before kubectl's lexical apply order needs them, the controller accepts every trunk for its
//! provider type, the demo embeds exactly these files, and `plan` over them plans a create for
//! every trunk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use siptrunk_operator::controller::validate::validate;
use siptrunk_operator::crd::{ProviderType, SipTrunkSpec};
use siptrunk_operator::demo::EMBEDDED_EXAMPLES;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor, ProviderEmulator};
use siptrunk_operator::kubeemu::registry::Registry;
use siptrunk_operator::kubeemu::store::FieldValidation;
use siptrunk_operator::kubeemu::validate::admit;
use siptrunk_operator::plan::{self, Action};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Example files relative to `examples/`, in kubectl's (lexical) order.
fn files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let base = root().join("examples");
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    out
}

fn text(file: &str) -> String {
    std::fs::read_to_string(root().join("examples").join(file)).unwrap()
}

/// One YAML document of one example file.
#[derive(Clone)]
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"].as_str().unwrap_or_default()
    }
    fn id(&self) -> String {
        format!("{} {}/{} ({})", self.kind(), self.namespace(), self.name(), self.file)
    }
}

fn docs_of(file: &str) -> Vec<Doc> {
    serde_yaml_ng::Deserializer::from_str(&text(file))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|v| !v.is_null())
        .map(|value| Doc { file: file.to_string(), value })
        .collect()
}

fn all_docs() -> Vec<Doc> {
    files().iter().flat_map(|f| docs_of(f)).collect()
}

/// Files named by `# Requires: <dir>/<file>` lines, transitively.
fn requires(file: &str, out: &mut BTreeSet<String>) {
    for line in text(file).lines() {
        if let Some(rest) = line.strip_prefix("# Requires:") {
            let req = rest.split_whitespace().next().unwrap_or_default().to_string();
            assert!(files().contains(&req), "{file} requires {req:?}, which is not an example file");
            if out.insert(req.clone()) {
                requires(&req, out);
            }
        }
    }
}

fn dir_of(file: &str) -> &str {
    file.rsplit_once('/').map(|(d, _)| d).unwrap_or_default()
}

/// What `kubectl apply -f examples/<dir>/` sees for `file`: the required files, then the
/// directory's files in lexical order. The second value is how many of them are applied no
/// later than `file` itself.
fn visible(file: &str) -> (Vec<Doc>, usize) {
    let mut req = BTreeSet::new();
    requires(file, &mut req);
    let mut docs: Vec<Doc> = req.iter().flat_map(|f| docs_of(f)).collect();
    let mut upto = docs.len();
    for f in files().iter().filter(|f| dir_of(f) == dir_of(file)) {
        let d = docs_of(f);
        let here = f == file;
        docs.extend(d);
        if f.as_str() <= file || here {
            upto = docs.len();
        }
    }
    (docs, upto)
}

fn find<'a>(docs: &'a [Doc], kind: &str, ns: &str, name: &str) -> Option<&'a Doc> {
    docs.iter().find(|d| d.kind() == kind && d.name() == name && (ns.is_empty() || d.namespace() == ns))
}

fn string_data_has(secret: &Doc, key: &str) -> bool {
    secret.value["stringData"].get(key).and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

/// The provider type of a trunk, through its providerRef, among `docs`.
fn provider_type_of(trunk: &Doc, docs: &[Doc]) -> Result<ProviderType, String> {
    let r = &trunk.value["spec"]["providerRef"];
    let kind = r["kind"].as_str().unwrap_or("SipProvider");
    let ns = if kind == "SipProvider" { trunk.namespace() } else { "" };
    let name = r["name"].as_str().unwrap_or_default();
    let p = find(docs, kind, ns, name)
        .ok_or_else(|| format!("{}: {kind} {ns}/{name} is not in the example", trunk.id()))?;
    serde_json::from_value(p.value["spec"]["type"].clone()).map_err(|e| format!("{}: {e}", p.id()))
}

#[test]
fn the_demo_embeds_exactly_the_files_in_examples() {
    let embedded: BTreeMap<String, &str> = EMBEDDED_EXAMPLES.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    let on_disk: BTreeSet<String> = files().into_iter().collect();
    assert_eq!(embedded.keys().cloned().collect::<BTreeSet<_>>(), on_disk, "update demo::EMBEDDED_EXAMPLES");
    for (name, content) in embedded {
        assert_eq!(content, text(&name), "{name}: embedded copy differs");
    }
}

#[test]
fn every_siptrunk_dev_object_passes_the_committed_crd_schema_and_cel_rules() {
    let crds = std::fs::read_to_string(root().join("crds/siptrunk.dev.yaml")).unwrap();
    let mut registry = Registry::default();
    for doc in serde_yaml_ng::Deserializer::from_str(&crds) {
        let crd = Value::deserialize(doc).unwrap();
        if !crd.is_null() {
            registry.register_crd(&crd);
        }
    }
    let mut checked = BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for d in all_docs()
        .into_iter()
        .filter(|d| d.value["apiVersion"].as_str().is_some_and(|a| a.starts_with("siptrunk.dev/")))
    {
        let version = d.value["apiVersion"].as_str().unwrap().split_once('/').unwrap().1.to_string();
        let plural = format!("{}s", d.kind().to_lowercase());
        let rt =
            registry.get("siptrunk.dev", &version, &plural).unwrap_or_else(|| panic!("{}: no CRD serves it", d.id()));
        let mut obj = d.value.clone();
        // Strict: an unknown (misspelt) field is an error, as with kubectl's default --validate=strict.
        if let Err(e) = admit(&rt, &mut obj, None, FieldValidation::Strict) {
            failures.push(format!("{}: {}", d.id(), e.message));
        }
        *checked.entry(d.kind().to_string()).or_default() += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for kind in ["SipTrunk", "SipProvider", "ClusterSipProvider"] {
        assert!(checked.get(kind).is_some_and(|n| *n > 0), "no {kind} in examples: {checked:?}");
    }
}

#[test]
fn every_secret_is_an_obvious_placeholder() {
    let secrets: Vec<Doc> = all_docs().into_iter().filter(|d| d.kind() == "Secret").collect();
    assert!(secrets.len() >= 8, "{}", secrets.len());
    for s in secrets {
        assert!(s.value.get("data").is_none(), "{}: use stringData, so a reader sees the placeholder", s.id());
        let values = s.value["stringData"].as_object().unwrap_or_else(|| panic!("{}: no stringData", s.id()));
        assert!(!values.is_empty(), "{}", s.id());
        for (k, v) in values {
            let v = v.as_str().unwrap_or_default();
            let rest = v
                .strip_prefix("replace-with-")
                .unwrap_or_else(|| panic!("{} {k}: not a replace-with-... placeholder", s.id()));
            assert!(
                rest.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} {k}: {v:?} looks like a value",
                s.id()
            );
        }
    }
}

#[test]
fn every_reference_resolves_within_the_example_or_a_declared_requirement() {
    let mut failures = Vec::new();
    for file in files() {
        let (docs, applied_upto) = visible(&file);
        for d in docs_of(&file) {
            let ns = d.namespace().to_string();
            if !ns.is_empty() && find(&docs[..applied_upto], "Namespace", "", &ns).is_none() {
                failures.push(format!(
                    "{}: Namespace {ns} is not created before it (kubectl applies files in lexical order)",
                    d.id()
                ));
            }
            let spec = &d.value["spec"];
            let secret_ref = |ns: &str, r: &Value, default_key: &str| -> Option<String> {
                let name = r["name"].as_str().unwrap_or_default();
                let key = r["key"].as_str().unwrap_or(default_key);
                match find(&docs, "Secret", ns, name) {
                    Some(s) if string_data_has(s, key) => None,
                    Some(_) => Some(format!("{}: Secret {ns}/{name} has no key {key}", d.id())),
                    None => Some(format!("{}: Secret {ns}/{name} is not in the example", d.id())),
                }
            };
            let problem = match d.kind() {
                "SipTrunk" => match spec["auth"].get("passwordSecretRef") {
                    Some(r) => secret_ref(&ns, r, "password"),
                    None => None,
                }
                .or_else(|| provider_type_of(&d, &docs).err()),
                "SipProvider" => secret_ref(&ns, &spec["apiTokenSecretRef"], "token"),
                "ClusterSipProvider" => {
                    let r = &spec["apiTokenSecretRef"];
                    secret_ref(r["namespace"].as_str().unwrap_or_default(), r, "token")
                }
                _ => None,
            };
            failures.extend(problem);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_controller_accepts_every_trunk_for_its_provider_type() {
    let mut seen = BTreeSet::new();
    for file in files() {
        let (docs, _) = visible(&file);
        for d in docs_of(&file).into_iter().filter(|d| d.kind() == "SipTrunk") {
            let ty = provider_type_of(&d, &docs).unwrap();
            let spec: SipTrunkSpec = serde_json::from_value(d.value["spec"].clone()).unwrap();
            let errors = validate(&spec, ty);
            assert!(errors.is_empty(), "{}: {errors:?}", d.id());
            seen.insert(ty.as_str());
        }
    }
    assert_eq!(seen, BTreeSet::from(["autocalls", "famulor", "bolna", "livekit"]));
}

#[test]
fn the_examples_cover_the_documented_scenarios() {
    let docs = all_docs();
    let trunks: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "SipTrunk").collect();
    let spec = |d: &&Doc| d.value["spec"].clone();
    assert!(trunks.iter().any(|d| spec(d)["numberType"] == "extension"), "an extension");
    assert!(
        trunks.iter().any(|d| spec(d)["auth"]["type"] == "ip" && spec(d)["sipAddress"].is_string()),
        "an autocalls/famulor IP allow-list"
    );
    assert!(
        trunks.iter().any(|d| spec(d)["bolna"]["phoneNumbers"].as_array().is_some_and(|a| a.len() >= 2)),
        "a bolna trunk with several DIDs"
    );
    assert!(trunks.iter().any(|d| spec(d)["providerRef"]["kind"] == "ClusterSipProvider"), "a cluster-wide provider");
    assert!(
        trunks.iter().any(|d| spec(d)["auth"]["type"] == "credentials" && spec(d)["numberType"] == "number"),
        "a DID with credentials"
    );
}

/// Scalars that YAML 1.1 parsers (kubectl, Helm) read as booleans (API.md trap 15).
const YAML11_BOOLS: &[&str] =
    &["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];

#[test]
fn no_example_has_a_scalar_that_kubectl_would_read_as_a_boolean() {
    for file in files() {
        for (i, line) in text(&file).lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with('#') {
                continue;
            }
            let scalar = t.strip_prefix("- ").or_else(|| t.split_once(": ").map(|(_, v)| v));
            assert!(!scalar.is_some_and(|s| YAML11_BOOLS.contains(&s.trim())), "{file}:{}: {line}", i + 1);
        }
    }
}

#[tokio::test]
async fn plan_over_all_examples_creates_every_trunk_and_writes_nothing() {
    siptrunk_operator::kubeemu::install_crypto_provider();
    let docs = all_docs();
    let mut overrides = BTreeMap::new();
    let mut emulators = Vec::new();
    for flavor in [Flavor::Autocalls, Flavor::Famulor, Flavor::Bolna] {
        let emu = ProviderEmulator::start(EmulatorConfig::new(flavor).with_rate_limit(None)).await.unwrap();
        // Accept the placeholder tokens of the example Secrets, as the demo does.
        for s in docs.iter().filter(|d| d.kind() == "Secret") {
            if let Some(t) = s.value["stringData"]["token"].as_str() {
                emu.add_token(t, None);
            }
        }
        overrides.insert(flavor.as_str().to_string(), emu.base_url());
        emulators.push(emu);
    }
    // The LiveKit project of the examples: the provider's apiKey with its Secret's placeholder.
    let livekit = siptrunk_operator::emulator::livekit::LiveKitEmulator::start(Default::default()).await.unwrap();
    for p in docs.iter().filter(|d| d.kind() == "SipProvider" && d.value["spec"]["type"] == "livekit") {
        let secret = docs
            .iter()
            .find(|s| {
                s.kind() == "Secret" && s.value["metadata"]["name"] == p.value["spec"]["apiTokenSecretRef"]["name"]
            })
            .and_then(|s| s.value["stringData"]["token"].as_str())
            .expect("the livekit example's Secret");
        livekit.add_key(p.value["spec"]["apiKey"].as_str().expect("apiKey"), secret);
    }
    overrides.insert("livekit".to_string(), livekit.base_url());
    let opts = plan::Options {
        paths: vec![root().join("examples")],
        namespace: "default".into(),
        base_url_overrides: overrides,
        // The operator's marker key (base64, as in its Secret): plan needs it to judge ownership.
        env: BTreeMap::from([(
            "SIPTRUNK_MARKER_KEY".to_string(),
            "ZXhhbXBsZXMgcGxhbiBtYXJrZXIga2V5LCAzMiBieXRlcw==".to_string(),
        )]),
    };
    let p = plan::plan(opts).await.unwrap();
    let trunks = docs.iter().filter(|d| d.kind() == "SipTrunk").count();
    assert_eq!(p.trunks.len(), trunks);
    for t in &p.trunks {
        assert_eq!(t.action, Action::Create, "{t:#?}");
    }
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(p.exit_code(), 2);
    for emu in &emulators {
        let calls = emu.calls();
        assert_eq!(calls.total(), calls.method("GET"), "{} received a write: {calls:?}", emu.flavor());
    }
    let lk_calls = livekit.calls();
    assert!(lk_calls.keys().any(|k| k.contains("/ListSIPInboundTrunk 200")), "livekit was listed: {lk_calls:?}");
    assert!(
        lk_calls.keys().all(|k| k.contains("/ListSIP")),
        "livekit received something other than a list: {lk_calls:?}"
    );
}
