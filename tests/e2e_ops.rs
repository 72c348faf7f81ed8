//! Operating the controller: leader election with two replicas (one leader, no duplicate
//! provider writes, handover on graceful stop and on a crash), the operating endpoints
//! (/metrics with bounded labels, /healthz, /readyz), and the `run` binary itself (JSON log
//! lines, SIGTERM: exit 0 with the Lease released).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::{Value, json};
use siptrunk_operator::emulator::{EmulatorConfig, Flavor};
use siptrunk_operator::leader::LeaseConfig;
use siptrunk_operator::runner::{Instance, RunOptions};

const LEASE: &str = "siptrunk-operator-test";

async fn env() -> Env {
    Env::start_with(Flavor::Autocalls, EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(None), false).await
}

/// A replica taking part in leader election, with its endpoints on a free port.
fn replica(env: &Env, identity: &str, lease_duration: Duration) -> Instance {
    let mut lease = LeaseConfig::new(LEASE, &env.ns, identity);
    lease.lease_duration = lease_duration;
    lease.retry_period = Duration::from_millis(100);
    Instance::start(
        env.client.clone(),
        RunOptions {
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            controller: test_config(&env.ns, 4),
            lease: Some(lease),
        },
    )
}

async fn holder(env: &Env) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(env.client.clone(), &env.ns);
    api.get_opt(LEASE).await.ok().flatten().and_then(|l| l.spec).and_then(|s| s.holder_identity)
}

async fn wait_holder(env: &Env, what: &str, pred: impl Fn(&Option<String>) -> bool) -> String {
    let got = wait_until(DEADLINE, || holder(env), |h| pred(h)).await;
    match got {
        Some(Some(h)) => h,
        _ => panic!("timed out waiting for the lease: {what}; holder now {:?}", holder(env).await),
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.expect("operating endpoint reachable");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn creates(env: &Env) -> u64 {
    env.calls("POST", "sip-trunks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_elect_one_leader_and_hand_over_on_graceful_stop() {
    let env = env().await;
    env.put_secret("one-sip", "password", "pw-one").await;
    env.put_secret("two-sip", "password", "pw-two").await;
    let mut replicas: BTreeMap<String, Instance> =
        ["a", "b"].into_iter().map(|id| (id.to_string(), replica(&env, id, Duration::from_secs(3)))).collect();
    let leader = wait_holder(&env, "someone holds it", Option::is_some).await;
    let standby = if leader == "a" { "b" } else { "a" }.to_string();

    env.apply(&trunk(Flavor::Autocalls, "one", 1)).await.expect("apply");
    env.wait_ready("one").await;
    assert_eq!(env.remote().len(), 1);
    assert_eq!(creates(&env), 1, "exactly one create call for one SipTrunk");
    assert!(replicas[&leader].metrics.reconciles.get() > 0, "the leader reconciles");
    assert_eq!(replicas[&standby].metrics.reconciles.get(), 0, "the standby never reconciles");
    // The leader gauge tells them apart on /metrics.
    for (id, want) in [(&leader, 1.0), (&standby, 0.0)] {
        let addr = replicas[id].http_addr().expect("bound");
        let text = get(addr, "/metrics").await.1;
        assert_eq!(sum(&samples(&text), "siptrunk_leader", &[]), want, "replica {id}: siptrunk_leader");
    }

    // Both are ready: the standby must not hold up a rolling update.
    for (id, r) in &replicas {
        let addr = r.http_addr().expect("bound");
        let ok = wait_until(DEADLINE, || get(addr, "/readyz"), |(s, _)| *s == 200).await;
        assert!(ok.is_some(), "replica {id} never became ready");
        assert_eq!(get(addr, "/healthz").await.0, 200);
    }

    // Graceful stop releases the lease: the standby takes over well before it would expire.
    let stopping = Instant::now();
    replicas.remove(&leader).expect("leader").stop().await;
    let stopped_after = stopping.elapsed();
    let new = wait_holder(&env, "the standby took over", |h| h.as_deref() == Some(standby.as_str())).await;
    let takeover = stopping.elapsed();
    println!("graceful: stop took {stopped_after:?}, standby {new} leader {takeover:?} after the stop began");
    // Without the release the standby would wait for expiry: at least 2.9 s of the 3 s lease.
    assert!(takeover < Duration::from_secs(1), "takeover after a release must not wait for expiry: {takeover:?}");

    env.apply(&trunk(Flavor::Autocalls, "two", 2)).await.expect("apply");
    env.wait_ready("two").await;
    assert_eq!(env.remote().len(), 2);
    assert_eq!(creates(&env), 2, "one create per SipTrunk across the handover");
    let survivor = replicas.remove(&standby).expect("standby");
    assert!(survivor.metrics.reconciles.get() > 0, "the new leader reconciles");
    assert_eq!(survivor.metrics.leader.get(), 1, "the new leader shows it");
    survivor.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_leader_is_replaced_once_its_lease_expires() {
    let env = env().await;
    env.put_secret("one-sip", "password", "pw-one").await;
    let lease_duration = Duration::from_secs(1);
    let first = replica(&env, "first", lease_duration);
    wait_holder(&env, "first leads", |h| h.as_deref() == Some("first")).await;
    let second = replica(&env, "second", lease_duration);
    env.apply(&trunk(Flavor::Autocalls, "one", 1)).await.expect("apply");
    let before = env.wait_ready("one").await;
    assert_eq!(second.metrics.reconciles.get(), 0, "the standby never reconciles while the leader renews");

    let killed = Instant::now();
    first.kill();
    wait_holder(&env, "second took over", |h| h.as_deref() == Some("second")).await;
    let takeover = killed.elapsed();
    println!("kill: standby leader {takeover:?} after the kill (lease {lease_duration:?}, retry 100ms)");
    // No release after a crash: the standby waits for the lease to expire (the last renewal
    // was at most one retry period before the kill), and not much longer.
    assert!(takeover >= lease_duration - Duration::from_millis(150), "took over an unexpired lease: {takeover:?}");
    assert!(takeover < lease_duration + Duration::from_secs(2), "takeover too slow: {takeover:?}");

    // The new leader acts on changes.
    let mut t = trunk(Flavor::Autocalls, "one", 1);
    merge(&mut t, json!({"spec": {"displayName": "Renamed after failover"}}));
    env.apply(&t).await.expect("apply");
    let after = env
        .wait_for("one", "Ready at the new generation", |t| {
            is_ready(t) && t.metadata.generation > before.metadata.generation
        })
        .await;
    assert!(is_ready(&after));
    assert_eq!(env.remote().len(), 1, "no second trunk");
    assert_eq!(creates(&env), 1, "the new leader adopted nothing twice and created nothing");
    second.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_lease_is_taken_stops_and_ends_without_releasing_it() {
    let env = env().await;
    let replica = replica(&env, "victim", Duration::from_secs(1));
    wait_holder(&env, "victim leads", |h| h.as_deref() == Some("victim")).await;
    // Another candidate writes the lease (as after a partition): the renewal sees a live holder.
    let api: Api<Lease> = Api::namespaced(env.client.clone(), &env.ns);
    let stolen = wait_until(
        DEADLINE,
        || async {
            let mut lease = api.get(LEASE).await.expect("lease");
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.holder_identity = Some("thief".into());
            spec.lease_duration_seconds = Some(60);
            spec.renew_time =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(k8s_openapi::jiff::Timestamp::now()));
            api.replace(LEASE, &Default::default(), &lease).await.is_ok()
        },
        |ok| *ok,
    )
    .await;
    assert!(stolen.is_some(), "could not write the lease");
    let ended = wait_until(DEADLINE, || async { replica.is_finished() }, |f| *f).await;
    assert!(ended.is_some(), "the replica kept running after losing its lease");
    assert_eq!(holder(&env).await.as_deref(), Some("thief"), "it must not release a lease it no longer holds");
    replica.ended().await;
    env.stop().await;
}

/// Every label name the operator's metrics may carry, and what its values may look like.
fn label_ok(key: &str, value: &str) -> bool {
    match key {
        "controller" => value == "siptrunk",
        "result" => ["success", "error", "requeue"].contains(&value),
        "version" => value == env!("CARGO_PKG_VERSION"),
        "provider" => ["autocalls", "famulor", "bolna"].contains(&value),
        "endpoint" => {
            ["list", "get", "create", "update", "delete", "set_nickname", "list_numbers", "add_number", "remove_number"]
                .contains(&value)
        }
        "status" => value == "error" || (value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit())),
        "reason" => {
            value.len() <= 40
                && value.starts_with(|c: char| c.is_ascii_uppercase())
                && value.chars().all(|c| c.is_ascii_alphanumeric())
        }
        "action" => ["created", "updated", "adopted", "deleted", "orphaned"].contains(&value),
        "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
        _ => false,
    }
}

/// name{labels} value lines of a Prometheus text exposition, as (name, labels, value).
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (head, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("bad labels in {line:?}"));
                let labels = body
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or_else(|| panic!("bad label {p:?}"));
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (n.to_string(), labels)
            }
            None => (head.to_string(), BTreeMap::new()),
        };
        out.push((name, labels, value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"))));
    }
    out
}

fn sum(samples: &[(String, BTreeMap<String, String>, f64)], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && want.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_reconciles_errors_provider_calls_and_waits_with_bounded_labels() {
    let env = env().await;
    // A slow client-side rate limit (10/s, burst 1): a create needs several calls, so some wait.
    env.apply_provider(json!({"rateLimit": {"requestsPerMinute": 600, "burst": 1}})).await;
    let instance = Instance::start(
        env.client.clone(),
        RunOptions {
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            controller: test_config(&env.ns, 4),
            lease: None,
        },
    );
    let addr = instance.http_addr().expect("bound");
    env.put_secret("metered-sip", "password", "metered-password").await;
    env.apply(&trunk(Flavor::Autocalls, "metered", 1)).await.expect("apply");
    env.wait_ready("metered").await;
    env.apply(&trunk(Flavor::Autocalls, "unmetered", 2)).await.expect("apply");
    env.wait_reason("unmetered", "SecretNotFound").await;

    let scrape = || async { samples(&get(addr, "/metrics").await.1) };
    let all = wait_until(DEADLINE, scrape, |s| {
        sum(s, "siptrunk_reconcile_errors_total", &[("reason", "SecretNotFound")]) >= 1.0
            && sum(s, "siptrunk_ratelimit_waits_total", &[("provider", "autocalls")]) >= 1.0
    })
    .await
    .unwrap_or_else(|| panic!("metrics never showed the error and the waits:\n{}", env.metrics()));

    assert!(sum(&all, "siptrunk_reconciles_total", &[]) >= 2.0);
    assert!(sum(&all, "siptrunk_reconcile_duration_seconds_count", &[]) >= 2.0);
    assert!(sum(&all, "siptrunk_reconcile_duration_seconds_bucket", &[("le", "+Inf")]) >= 2.0, "histogram buckets");
    assert_eq!(sum(&all, "siptrunk_provider_calls_total", &[("provider", "autocalls"), ("endpoint", "create")]), 1.0);
    assert!(sum(&all, "siptrunk_provider_calls_total", &[("endpoint", "list"), ("status", "200")]) >= 1.0);
    assert_eq!(sum(&all, "siptrunk_provider_writes_total", &[("action", "created")]), 1.0);
    for gauge in ["siptrunk_reconciles_in_flight", "siptrunk_trunks_watched"] {
        assert!(all.iter().any(|(n, _, _)| n == gauge), "{gauge} missing");
    }
    // One create request, timed by provider and endpoint.
    let created = [("provider", "autocalls"), ("endpoint", "create")];
    assert_eq!(sum(&all, "siptrunk_provider_request_duration_seconds_count", &created), 1.0);
    let mut bucket = created.to_vec();
    bucket.push(("le", "+Inf"));
    assert_eq!(sum(&all, "siptrunk_provider_request_duration_seconds_bucket", &bucket), 1.0);
    // controller-runtime's names: the Ready trunk's reconciles succeeded, the one without its
    // Secret failed; the two counters agree.
    let cr =
        |result| sum(&all, "controller_runtime_reconcile_total", &[("controller", "siptrunk"), ("result", result)]);
    assert!(cr("success") >= 1.0 && cr("error") >= 1.0, "success {} error {}", cr("success"), cr("error"));
    assert_eq!(sum(&all, "controller_runtime_reconcile_errors_total", &[("controller", "siptrunk")]), cr("error"));
    assert!(sum(&all, "controller_runtime_reconcile_time_seconds_count", &[]) >= 2.0);
    assert_eq!(sum(&all, "siptrunk_leader", &[]), 1.0, "no election: this replica acts");
    let build = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(sum(&all, "siptrunk_build_info", &build), 1.0);
    assert!(sum(&all, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(sum(&all, "process_start_time_seconds", &[]) > 1.0e9);
    assert!(all.iter().any(|(n, _, _)| n == "process_cpu_seconds_total"));
    let not_ready = wait_until(DEADLINE, scrape, |s| sum(s, "siptrunk_trunks_not_ready", &[]) == 1.0).await;
    assert!(
        not_ready.is_some(),
        "the trunk without its Secret is counted as not Ready (the Ready one is not): {:?} ready {}",
        scrape().await.into_iter().filter(|(n, _, _)| n.starts_with("siptrunk_trunks")).collect::<Vec<_>>(),
        instance.readiness.is_ready()
    );

    // No label carries an object name, a namespace, a secret or free text.
    let text = get(addr, "/metrics").await.1;
    for needle in [env.ns.as_str(), "metered", "metered-password", env.token.as_str(), "sip.carrier.example"] {
        assert!(!text.contains(needle), "metrics mention {needle:?}");
    }
    for (name, labels, _) in samples(&text) {
        assert!(
            ["siptrunk_", "controller_runtime_", "process_"].iter().any(|p| name.starts_with(p)),
            "{name} outside the siptrunk_, controller_runtime_ and process_ namespaces"
        );
        for (k, v) in labels {
            assert!(label_ok(&k, &v), "{name}: label {k}={v:?} is not from a bounded set");
        }
    }
    // Every metric the chart's alerts and dashboard use is one this scrape shows.
    let exported = exported_names(&text);
    let missing: Vec<String> = chart_metric_names().into_iter().filter(|n| !exported.contains(n)).collect();
    assert!(missing.is_empty(), "the chart uses metrics the operator does not export: {missing:?}");
    instance.stop().await;
    env.stop().await;
}

/// Sample names a scrape can show: from its `# TYPE` lines (a family without samples yet still
/// declares its names) and its samples.
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = samples(text).into_iter().map(|(n, _, _)| n).collect();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    out
}

/// The operator's metric names the chart's PrometheusRule and Grafana dashboard refer to.
fn chart_metric_names() -> BTreeSet<String> {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/siptrunk-operator");
    let mut names = BTreeSet::new();
    for file in ["templates/prometheusrule.yaml", "files/grafana-dashboard.json"] {
        let text = std::fs::read_to_string(chart.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        let ours = tokens.filter(|t| ["siptrunk_", "controller_runtime_", "process_"].iter().any(|p| t.starts_with(p)));
        let found: Vec<String> = ours.map(str::to_string).collect();
        assert!(!found.is_empty(), "{file} uses none of the operator's metrics");
        names.extend(found);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_answers_503_until_the_caches_have_synced_and_healthz_is_ok_throughout() {
    let env = env().await;
    let kube = env.kube.clone().expect("this test needs the emulated API (it slows it down)");
    kube.faults().set_latency(Duration::from_millis(600));
    let instance = Instance::start(
        env.client.clone(),
        RunOptions {
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            controller: test_config(&env.ns, 4),
            lease: None,
        },
    );
    let addr = instance.http_addr().expect("bound");
    // Every list takes 600 ms, so the caches cannot have synced yet.
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "caches not synced"));
    assert_eq!(get(addr, "/healthz").await, (200, "ok".to_string()));
    let ready = wait_until(DEADLINE, || get(addr, "/readyz"), |(s, _)| *s == 200).await;
    assert!(ready.is_some(), "never ready");
    assert!(instance.readiness.is_ready());
    kube.faults().set_latency(Duration::ZERO);
    instance.stop().await;
    env.stop().await;
}

/// Lines read so far from a child's stderr.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect_lines(stderr: tokio::process::ChildStderr) -> Lines {
    use tokio::io::AsyncBufReadExt;
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
    lines
}

fn json_lines(lines: &Lines) -> Vec<Value> {
    let lines = lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lines
        .iter()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) if v.is_object() => v,
            _ => panic!("a log line is not one JSON object: {l:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_binary_logs_json_and_exits_0_on_sigterm_releasing_its_lease() {
    let env = env().await;
    let kube = env.kube.clone().expect("this test runs the binary against the emulated API");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    kube.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_siptrunk-operator"))
        .args([
            "run",
            "--http-addr",
            "127.0.0.1:0",
            "--allowed-provider-hosts",
            "127.0.0.1",
            "--watch-namespace",
            &env.ns,
            "--leader-elect",
        ])
        .args(["--lease-name", LEASE, "--lease-namespace", &env.ns, "--log-format", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "binary-pod")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the binary");
    let lines = collect_lines(child.stderr.take().expect("stderr"));

    // Identity: POD_NAME plus a random suffix (a restarted container must not reuse its lease).
    wait_holder(&env, "the binary leads", |h| h.as_deref().is_some_and(|h| h.starts_with("binary-pod_"))).await;
    let addr: SocketAddr = wait_until(
        DEADLINE,
        || async { json_lines(&lines) },
        |ls| ls.iter().any(|l| l["message"] == "serving /metrics, /healthz and /readyz"),
    )
    .await
    .and_then(|ls| ls.into_iter().find_map(|l| l["addr"].as_str().and_then(|a| a.parse().ok())))
    .expect("the binary logs where its endpoints listen");
    let ready = wait_until(DEADLINE, || get(addr, "/readyz"), |(s, _)| *s == 200).await;
    assert!(ready.is_some(), "the binary never became ready");
    // A trunk's reconcile logs carry its namespace, name and reconcile id as their own fields.
    env.put_secret("logged-sip", "password", "logged-password-91").await;
    env.apply(&trunk(Flavor::Autocalls, "logged", 1)).await.expect("apply");
    env.wait_ready("logged").await;
    let write =
        wait_until(DEADLINE, || async { json_lines(&lines) }, |ls| ls.iter().any(|l| l["message"] == "provider write"))
            .await
            .and_then(|ls| ls.into_iter().find(|l| l["message"] == "provider write"))
            .expect("the create is logged");
    assert_eq!(
        (write["namespace"].as_str(), write["name"].as_str()),
        (Some(env.ns.as_str()), Some("logged")),
        "{write}"
    );
    let id = write["reconcile_id"].as_str().unwrap_or_default();
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "reconcile_id {id:?} in {write}");

    let pid = child.id().expect("pid").to_string();
    let sent = Instant::now();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill(1)");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .expect("wait");
    println!("SIGTERM: exit {status} after {:?}", sent.elapsed());
    assert!(status.success(), "exit status {status}");
    assert_eq!(holder(&env).await, None, "the lease was released on the way out");

    // Let the reader drain the pipe, then check every line.
    let done =
        wait_until(DEADLINE, || async { json_lines(&lines) }, |ls| ls.iter().any(|l| l["message"] == "stopped")).await;
    let logs = done.expect("the last log line says stopped");
    for l in &logs {
        assert!(l["level"].is_string() && l["timestamp"].is_string() && l["target"].is_string(), "log line shape: {l}");
    }
    for message in ["became leader", "caches synced; ready", "signal received; shutting down", "released the lease"] {
        assert!(logs.iter().any(|l| l["message"] == message), "no log line {message:?}: {logs:?}");
    }
    let raw = lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
    for secret in ["logged-password-91", env.token.as_str()] {
        assert!(!raw.contains(secret), "a secret is in the logs");
    }
    env.stop().await;
}
