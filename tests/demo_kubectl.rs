//! The newcomer's path: `siptrunk-operator demo --keep-running`, then the real kubectl against
//! the emulated cluster (get with printer columns, apply client- and server-side, edit through a
//! patch, delete) while the real controller converges the changes, and curl-style inspection of
//! the emulated provider.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KUBECTL: &str = "/usr/bin/kubectl";

struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    fn start(kubeconfig: &std::path::Path) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_siptrunk-operator"))
            .args(["demo", "--keep-running", "--timeout", "60", "--kubeconfig"])
            .arg(kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start demo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo { child, lines, seen: Vec::new() }
    }

    /// Waits for a line containing `needle`, within `deadline`.
    fn wait_line(&mut self, needle: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("demo never printed {needle:?}; output so far:\n{}", self.seen.join("\n"));
    }

    fn url_after(&self, prefix: &str) -> String {
        self.seen
            .iter()
            .find_map(|l| {
                l.trim().strip_prefix(prefix).map(|r| r.split_whitespace().next().unwrap_or_default().to_string())
            })
            .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
    }
}

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(KUBECTL).arg("--kubeconfig").arg(kubeconfig).args(args).output().expect("run kubectl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubectl {args:?} failed:\n{text}");
    text
}

/// Polls kubectl until its output satisfies `pred`.
fn kubectl_until(kubeconfig: &std::path::Path, args: &[&str], what: &str, pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < end {
        last = kubectl(kubeconfig, args);
        if pred(&last) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}; last kubectl output:\n{last}");
}

/// A plain HTTP/1.0 GET against the local emulator (what `curl` would show a person).
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    assert!(out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"), "GET {url}: {out}");
    out
}

const EXTRA_TRUNK: &str = r#"apiVersion: v1
kind: Secret
metadata: {name: night-line-sip, namespace: telephony}
stringData: {password: "night-shift-pw"}
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipTrunk
metadata: {name: night-line, namespace: telephony}
spec:
  providerRef: {kind: SipProvider, name: autocalls-prod}
  displayName: Night line
  phoneNumber: "+14155559999"
  sipAddress: sip.carrier.example
  auth: {type: credentials, username: night01, passwordSecretRef: {name: night-line-sip}}
  callingFormat: "+e164"
  countryCode: US
"#;

#[test]
fn demo_keep_running_serves_kubectl_and_converges_its_changes() {
    if !std::path::Path::new(KUBECTL).exists() {
        eprintln!("SKIPPED: {KUBECTL} is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut demo = Demo::start(&kubeconfig);
    demo.wait_line("trunks are Ready", Duration::from_secs(90));
    demo.wait_line("keeps running", Duration::from_secs(10));
    let autocalls = demo.url_after("autocalls provider (emulated):");

    // get: printer columns answer "is it working and what is its id".
    let out = kubectl(&kubeconfig, &["get", "siptrunks", "-A"]);
    let header = out.lines().next().unwrap_or_default();
    for col in ["NAME", "PROVIDER", "NUMBER", "ADDRESS", "TRUNK ID", "READY", "AGE"] {
        assert!(header.contains(col), "column {col} missing: {header}");
    }
    assert!(out.lines().filter(|l| l.contains("True")).count() >= 6, "all example trunks Ready:\n{out}");
    // Provider health: Ready and the trunk count, in the default columns.
    let providers = kubectl_until(&kubeconfig, &["get", "sipproviders", "-A"], "every SipProvider Ready", |o| {
        o.lines().count() > 1 && o.lines().skip(1).all(|l| l.contains("True"))
    });
    let header = providers.lines().next().unwrap_or_default();
    for col in ["NAME", "TYPE", "READY", "TRUNKS", "AGE"] {
        assert!(header.contains(col), "column {col} missing: {header}");
    }
    // Events: the operator writes events.k8s.io/v1; kubectl reads core/v1 (one store on a real
    // API server, and in the stand-in).
    let events = kubectl_until(&kubeconfig, &["-n", "telephony", "get", "events"], "Created Events", |o| {
        o.contains("Created") && o.contains("main-line")
    });
    assert!(!events.contains("No resources found"), "{events}");
    let described = kubectl(&kubeconfig, &["-n", "telephony", "describe", "siptrunk", "main-line"]);
    let tail = described.split("Events:").nth(1).unwrap_or_default();
    assert!(
        tail.contains("Created") && !tail.trim_start().starts_with("<none>"),
        "describe shows Events:\n{described}"
    );
    let all = kubectl(&kubeconfig, &["get", "siptrunk-operator", "-A"]);
    assert!(all.contains("sipprovider") && all.contains("clustersipprovider") && all.contains("siptrunk"), "{all}");

    // client-side apply of a new trunk; the controller creates it.
    let file = dir.path().join("night.yaml");
    std::fs::write(&file, EXTRA_TRUNK).expect("write yaml");
    let file = file.to_string_lossy().to_string();
    kubectl(&kubeconfig, &["apply", "-f", &file]);
    kubectl_until(
        &kubeconfig,
        &[
            "-n",
            "telephony",
            "get",
            "st",
            "night-line",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        "night-line Ready",
        |o| o == "True",
    );

    // server-side apply of a change (as Argo CD / Flux do), then an edit through a patch.
    std::fs::write(
        &file,
        EXTRA_TRUNK.replace("countryCode: US", "countryCode: CA").replace("Night line", "Night shift"),
    )
    .expect("write");
    let out = kubectl(&kubeconfig, &["apply", "--server-side", "--force-conflicts", "-f", &file]);
    assert!(out.contains("serverside-applied"), "{out}");
    kubectl(
        &kubeconfig,
        &[
            "-n",
            "telephony",
            "patch",
            "siptrunk",
            "night-line",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"callingFormat":"national"}}"#,
        ],
    );
    kubectl_until(
        &kubeconfig,
        &[
            "-n",
            "telephony",
            "get",
            "st",
            "night-line",
            "-o",
            "jsonpath={.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        "the edit to be observed and Ready",
        |o| {
            let f: Vec<&str> = o.split_whitespace().collect();
            f.len() == 3 && f[0] == f[1] && f[2] == "True"
        },
    );

    // The emulated provider's read-only inspection shows the change, and no password.
    let id = kubectl(&kubeconfig, &["-n", "telephony", "get", "st", "night-line", "-o", "jsonpath={.status.trunkId}"]);
    let root = autocalls.trim_end_matches("/api");
    let body = http_get(&format!("{root}/_emulator/trunks"));
    assert!(body.contains("\"national\""), "provider holds the edited calling format: {body}");
    assert!(!body.contains("night-shift-pw"), "inspection never shows passwords");
    assert!(body.contains(&format!("\"id\":{id}")) || body.contains(&format!("\"id\": {id}")), "trunk {id} listed");

    // delete: the finalizer removes the provider trunk, then the object goes.
    kubectl(&kubeconfig, &["-n", "telephony", "delete", "siptrunk", "night-line", "--wait=true", "--timeout=30s"]);
    let left = kubectl(&kubeconfig, &["-n", "telephony", "get", "st", "-o", "name"]);
    assert!(!left.contains("night-line"), "{left}");
    let explain = kubectl(&kubeconfig, &["explain", "siptrunk.spec.auth"]);
    assert!(explain.contains("passwordSecretRef"), "{explain}");
}
