//! The `demo` command: the emulated Kubernetes API, one emulated provider per flavor and the
//! real controller in one process; applies the examples and prints trunks as they converge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::controller;
use crate::crd::SipTrunk;
use crate::crd::dispatch::SipDispatchRule;
use crate::emulator::livekit::{LiveKitConfig, LiveKitEmulator};
use crate::emulator::{EmulatorConfig, Flavor, ProviderEmulator};
use crate::kubeemu::{EmulatorOptions, KubeEmulator};
use crate::runner::{Instance, RunOptions};

/// The examples compiled into the binary, so `demo` works from any directory.
pub const EMBEDDED_EXAMPLES: &[(&str, &str)] = &[
    ("autocalls-credentials/provider.yaml", include_str!("../examples/autocalls-credentials/provider.yaml")),
    ("autocalls-credentials/trunk.yaml", include_str!("../examples/autocalls-credentials/trunk.yaml")),
    ("autocalls-extension/trunk.yaml", include_str!("../examples/autocalls-extension/trunk.yaml")),
    ("famulor-ip-allowlist/trunk.yaml", include_str!("../examples/famulor-ip-allowlist/trunk.yaml")),
    ("bolna-dids/provider.yaml", include_str!("../examples/bolna-dids/provider.yaml")),
    ("bolna-dids/trunk.yaml", include_str!("../examples/bolna-dids/trunk.yaml")),
    ("bolna-dids/trunk-tls-credentials.yaml", include_str!("../examples/bolna-dids/trunk-tls-credentials.yaml")),
    ("cluster-provider/trunk.yaml", include_str!("../examples/cluster-provider/trunk.yaml")),
    ("livekit/provider.yaml", include_str!("../examples/livekit/provider.yaml")),
    ("livekit/trunk-inbound.yaml", include_str!("../examples/livekit/trunk-inbound.yaml")),
    ("livekit/trunk-outbound.yaml", include_str!("../examples/livekit/trunk-outbound.yaml")),
    ("livekit/sip-dispatch-rule.yaml", include_str!("../examples/livekit/sip-dispatch-rule.yaml")),
];

/// Options of the demo.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Read examples from this directory instead of the embedded ones.
    pub examples: Option<PathBuf>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Stay up after convergence for kubectl, until Ctrl-C.
    pub keep_running: bool,
    /// Where to write the kubeconfig in keep-running mode.
    pub kubeconfig: PathBuf,
    /// Address of the emulated API server (keep-running mode; default: a free port).
    pub kube_addr: Option<std::net::SocketAddr>,
}

/// Parses every YAML document of the examples.
pub fn load_examples(dir: Option<&Path>) -> Result<Vec<Value>, String> {
    let mut files: Vec<(String, String)> = Vec::new();
    match dir {
        None => files.extend(EMBEDDED_EXAMPLES.iter().map(|(n, c)| (n.to_string(), c.to_string()))),
        Some(d) => collect_yaml(d, &mut files)?,
    }
    let mut docs = Vec::new();
    for (name, text) in files {
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("{name}: {e}"))?;
            if !v.is_null() {
                docs.push(v);
            }
        }
    }
    Ok(docs)
}

fn collect_yaml(dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_yaml(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push((p.display().to_string(), text));
        }
    }
    Ok(())
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "Secret" => 1,
        "SipProvider" | "ClusterSipProvider" => 2,
        _ => 3,
    }
}

fn api_resource(doc: &Value) -> Option<(ApiResource, bool)> {
    let api_version = doc["apiVersion"].as_str()?;
    let kind = doc["kind"].as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let (plural, namespaced) = match kind {
        "Namespace" => ("namespaces", false),
        "Secret" => ("secrets", true),
        "SipProvider" => ("sipproviders", true),
        "ClusterSipProvider" => ("clustersipproviders", false),
        "SipTrunk" => ("siptrunks", true),
        "SipDispatchRule" => ("sipdispatchrules", true),
        _ => return None,
    };
    Some((ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural), namespaced))
}

/// Points every provider object at the local emulator of its type and registers its token (a
/// LiveKit provider: its API key and secret) there.
fn wire_providers(docs: &mut [Value], emulators: &BTreeMap<&'static str, ProviderEmulator>, livekit: &LiveKitEmulator) {
    let secrets: Vec<Value> = docs.iter().filter(|d| d["kind"] == "Secret").cloned().collect();
    for d in docs.iter_mut().filter(|d| d["kind"] == "SipProvider" || d["kind"] == "ClusterSipProvider") {
        let Some(t) = d["spec"]["type"].as_str().map(str::to_string) else { continue };
        if t == "livekit" {
            if let (Some(key), Some(secret)) = (d["spec"]["apiKey"].as_str(), token_of(d, &secrets)) {
                livekit.add_key(key, &secret);
            }
            d["spec"]["baseUrl"] = json!(livekit.base_url());
            d["spec"]["allowInsecureHttp"] = json!(true);
            continue;
        }
        let Some(emu) = emulators.get(t.as_str()) else { continue };
        if let Some(tok) = token_of(d, &secrets) {
            emu.add_token(&tok, None);
        }
        d["spec"]["baseUrl"] = json!(emu.base_url());
        d["spec"]["allowInsecureHttp"] = json!(true);
    }
}

/// The token (stringData) of the Secret a provider object references, when it is among `secrets`.
fn token_of(provider: &Value, secrets: &[Value]) -> Option<String> {
    let r = &provider["spec"]["apiTokenSecretRef"];
    let ns = r["namespace"].as_str().or_else(|| provider["metadata"]["namespace"].as_str()).unwrap_or("default");
    let name = r["name"].as_str().unwrap_or_default();
    let key = r["key"].as_str().unwrap_or("token");
    secrets
        .iter()
        .find(|s| s["metadata"]["name"] == name && s["metadata"]["namespace"].as_str().unwrap_or("default") == ns)
        .and_then(|s| s["stringData"][key].as_str().map(str::to_string))
}

async fn apply_all(client: &Client, docs: &[Value]) -> Result<(), String> {
    let mut ordered: Vec<&Value> = docs.iter().collect();
    ordered.sort_by_key(|d| kind_rank(d["kind"].as_str().unwrap_or_default()));
    for d in ordered {
        let Some((ar, namespaced)) = api_resource(d) else {
            return Err(format!("unsupported kind in examples: {}", d["kind"]));
        };
        let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), d["metadata"]["namespace"].as_str().unwrap_or("default"), &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api.patch(&name, &PatchParams::apply("siptrunk-demo").force(), &Patch::Apply(d))
            .await
            .map_err(|e| format!("apply {} {name}: {e}", d["kind"]))?;
    }
    Ok(())
}

/// Progress as one short line per change of the Ready count (not a row per trunk per step).
#[derive(Default)]
pub struct Progress {
    last: Option<usize>,
}

impl Progress {
    /// The line to print for this observation, if the count of Ready trunks changed.
    pub fn observe(&mut self, ready: usize, expected: usize, elapsed: Duration) -> Option<String> {
        if self.last == Some(ready) {
            return None;
        }
        self.last = Some(ready);
        Some(format!("{:>7.2}s  {ready}/{expected} Ready", elapsed.as_secs_f64()))
    }
}

/// The final table: a header and one row per trunk, sorted by namespace and name.
pub fn table(trunks: &[SipTrunk]) -> String {
    let mut rows: Vec<String> = trunks.iter().map(row).collect();
    rows.sort();
    let header =
        format!("{:<28} {:<10} {:<26} {:<6} {:<16} INBOUND TRUNK", "TRUNK", "PROVIDER", "TRUNK ID", "READY", "REASON");
    std::iter::once(header).chain(rows).collect::<Vec<_>>().join("\n")
}

fn row(t: &SipTrunk) -> String {
    let s = t.status.clone().unwrap_or_default();
    let ready = s.conditions.iter().find(|c| c.type_ == "Ready");
    format!(
        "{:<28} {:<10} {:<26} {:<6} {:<16} {}",
        format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()),
        s.summary.as_ref().and_then(|x| x.provider_type.clone()).unwrap_or_default(),
        s.trunk_id.clone().unwrap_or_else(|| "-".into()),
        ready.map(|c| c.status.as_str()).unwrap_or("-"),
        ready.map(|c| c.reason.as_str()).unwrap_or("-"),
        s.inbound_trunk_id.clone().unwrap_or_default(),
    )
}

/// Runs the demo; Ok when every trunk became Ready in time.
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    crate::kubeemu::install_crypto_provider();
    let mut docs = load_examples(opts.examples.as_deref())?;
    let kube = KubeEmulator::start(EmulatorOptions {
        addr: opts.kube_addr,
        crds: crate::crd::all(),
        ..EmulatorOptions::default()
    })
    .await
    .map_err(|e| format!("cannot start the Kubernetes API emulation: {e}"))?;
    let mut emulators = BTreeMap::new();
    for (name, flavor) in [("autocalls", Flavor::Autocalls), ("famulor", Flavor::Famulor), ("bolna", Flavor::Bolna)] {
        let emu = ProviderEmulator::start(EmulatorConfig::new(flavor))
            .await
            .map_err(|e| format!("cannot start the {name} emulator: {e}"))?;
        emulators.insert(name, emu);
    }
    let livekit = LiveKitEmulator::start(LiveKitConfig::default())
        .await
        .map_err(|e| format!("cannot start the livekit emulator: {e}"))?;
    wire_providers(&mut docs, &emulators, &livekit);
    let client = kube.client().map_err(|e| format!("client: {e}"))?;
    println!("Kubernetes API (emulated): {}", kube.url());
    for (name, emu) in &emulators {
        println!(
            "{name:<9} provider (emulated): {}   stored trunks: {}/_emulator/trunks",
            emu.base_url(),
            emu_root(emu)
        );
    }
    println!(
        "{:<9} provider (emulated): {}   stored trunks: {}/_emulator/livekit",
        "livekit",
        livekit.base_url(),
        livekit.base_url()
    );
    let instance = Instance::start(
        client.clone(),
        RunOptions {
            http_addr: None,
            // The demo's cluster lives as long as the process: a fresh marker key will do. Its
            // provider emulators listen on 127.0.0.1: allowed explicitly.
            controller: controller::Config {
                marker_key: controller::marker_key::MarkerKeySource::Key(crate::model::MarkerKey::generate()),
                egress: crate::provider::egress::EgressPolicy::loopback(),
                ..Default::default()
            },
            lease: None,
        },
    );
    apply_all(&client, &docs).await?;
    let expected = docs.iter().filter(|d| d["kind"] == "SipTrunk").count();
    println!("\napplied {} objects ({} SipTrunks); waiting for them to converge\n", docs.len(), expected);
    let api: Api<SipTrunk> = Api::all(client.clone());
    let rules_api: Api<SipDispatchRule> = Api::all(client.clone());
    let rules_expected = docs.iter().filter(|d| d["kind"] == "SipDispatchRule").count();
    let start = Instant::now();
    let mut progress = Progress::default();
    let result = loop {
        let list = api.list(&Default::default()).await.map_err(|e| format!("list: {e}"))?;
        let ready = list.items.iter().filter(|t| is_ready(t)).count();
        let rules = rules_api.list(&Default::default()).await.map_err(|e| format!("list: {e}"))?;
        let rules_ready = rules.items.iter().filter(|r| rule_ready(r)).count();
        if let Some(line) = progress.observe(ready, expected, start.elapsed()) {
            println!("{line}");
        }
        if ready == expected && expected > 0 && rules_ready == rules_expected {
            println!("\n{}", table(&list.items));
            println!("{}", rule_table(&rules.items));
            let rules_word = if rules_expected == 1 { "dispatch rule" } else { "dispatch rules" };
            println!(
                "all {expected} trunks are Ready in {:.2}s (and {rules_expected} {rules_word})",
                start.elapsed().as_secs_f64()
            );
            break Ok(());
        }
        if start.elapsed() > opts.timeout {
            println!("\n{}", table(&list.items));
            let stuck: Vec<String> = list
                .items
                .iter()
                .filter(|t| !is_ready(t))
                .map(|t| format!("{}: {}", t.name_any(), ready_message(t)))
                .chain(rules.items.iter().filter(|r| !rule_ready(r)).map(|r| format!("rule {}", r.name_any())))
                .collect();
            break Err(format!("not all trunks became Ready within {:?}: {}", opts.timeout, stuck.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if opts.keep_running && result.is_ok() {
        kube.write_kubeconfig(&opts.kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
        println!("\nThe demo keeps running. Try:");
        println!("  export KUBECONFIG={}", opts.kubeconfig.display());
        println!("  kubectl get siptrunks -A");
        println!("  kubectl get siptrunk-operator -A -o wide");
        println!("  kubectl get sipproviders,clustersipproviders -A");
        println!("  kubectl -n telephony get events");
        println!("  kubectl -n telephony describe siptrunk main-line");
        println!("  kubectl -n telephony edit siptrunk main-line");
        println!("  kubectl explain siptrunk.spec.auth");
        for (name, emu) in &emulators {
            println!(
                "  curl -s {}/_emulator/trunks   # {name}: stored trunks, passwords only as hashes",
                emu_root(emu)
            );
        }
        println!(
            "  curl -s {}/_emulator/livekit   # livekit: trunks and dispatch rules, passwords only as hashes",
            livekit.base_url()
        );
        println!("Ctrl-C stops it.");
        crate::runner::shutdown_signal().await;
    }
    instance.stop().await;
    for (_, emu) in emulators {
        emu.shutdown().await;
    }
    livekit.shutdown().await;
    kube.shutdown().await;
    result
}

fn emu_root(emu: &ProviderEmulator) -> String {
    format!("http://{}", emu.addr())
}

fn rule_ready(r: &SipDispatchRule) -> bool {
    let s = r.status.clone().unwrap_or_default();
    controller::status::ready_for(&s.conditions, r.metadata.generation)
}

/// The dispatch rules: name, LiveKit id, the trunk ids they serve, Ready.
pub fn rule_table(rules: &[SipDispatchRule]) -> String {
    let mut rows: Vec<String> = rules
        .iter()
        .map(|r| {
            let s = r.status.clone().unwrap_or_default();
            let ready = s.conditions.iter().find(|c| c.type_ == "Ready");
            format!(
                "{:<28} {:<26} {:<6} {:<16} {}",
                format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()),
                s.rule_id.unwrap_or_else(|| "-".into()),
                ready.map(|c| c.status.as_str()).unwrap_or("-"),
                ready.map(|c| c.reason.as_str()).unwrap_or("-"),
                s.trunk_ids.join(",")
            )
        })
        .collect();
    rows.sort();
    let header = format!("{:<28} {:<26} {:<6} {:<16} TRUNK IDS", "DISPATCH RULE", "RULE ID", "READY", "REASON");
    std::iter::once(header).chain(rows).collect::<Vec<_>>().join("\n")
}

fn is_ready(t: &SipTrunk) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn ready_message(t: &SipTrunk) -> String {
    t.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| format!("{} ({})", c.reason, c.message))
        .unwrap_or_else(|| "no status yet".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_prints_a_line_only_when_the_ready_count_changes() {
        let mut p = Progress::default();
        let seen: Vec<String> = [0, 0, 1, 1, 1, 4, 4, 6]
            .iter()
            .enumerate()
            .filter_map(|(i, &n)| p.observe(n, 6, Duration::from_millis(100 * i as u64)))
            .collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen[3].ends_with("6/6 Ready"), "{seen:?}");
    }

    #[test]
    fn the_final_table_has_one_row_per_trunk() {
        let trunk = |ns: &str, name: &str| -> SipTrunk {
            serde_json::from_value(json!({
                "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"providerRef": {"name": "p"}, "displayName": "x", "phoneNumber": "+14155550001",
                         "sipAddress": "sip.example", "auth": {"type": "ip", "username": "u", "allowedInboundIps": ["192.0.2.1"]}},
                "status": {"trunkId": "7", "conditions": [{"type": "Ready", "status": "True", "reason": "Synced",
                           "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
            }))
            .expect("trunk")
        };
        let out = table(&[trunk("b", "two"), trunk("a", "one")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("TRUNK"));
        assert!(lines[1].starts_with("a/one") && lines[2].starts_with("b/two"), "{out}");
    }
}
