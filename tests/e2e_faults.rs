//! End-to-end under faults: N SipTrunks converge through provider 5xx, timeouts, lost
//! responses of committed writes, 429s, latency, cut and expired Kubernetes watches, write
//! conflicts and controller crashes, with no duplicate and no lost trunk, and a bounded number
//! of provider calls. Every scenario prints one `FAULTS ...` figures line (also appended to
//! `target/reliability-figures.txt`) for the README.
//!
//! The call bound is derived, not fitted: a fault-free convergence costs `c` calls per trunk
//! (autocalls 1 create, famulor 1 create + 1 nickname write, bolna 1 create) plus one list
//! per controller start; every failed call (as the operator's own `provider_calls` metric counts
//! it: non-2xx or no response) may cost at most 3 more calls — the retry, a re-list because a
//! failed write leaves the provider state unknown, and one GET to read the internal ids of an
//! adopted trunk; every controller start adds a list and at most one GET per trunk (ids not yet
//! recorded). A hot loop breaks the bound at once.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use siptrunk_operator::crd::SipTrunk;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor};

/// How long a whole scenario may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);
/// Retry cap of the controllers here: 15 failed reconciles in a row fit into CONVERGE.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// Calls per trunk of a fault-free convergence (see the module doc).
fn clean_calls_per_trunk(f: Flavor) -> u64 {
    match f {
        Flavor::Autocalls | Flavor::Bolna => 1,
        Flavor::Famulor => 2,
    }
}

/// The figures of one scenario.
#[derive(Debug, Default)]
struct Figures {
    n: usize,
    converged: usize,
    duplicates: usize,
    lost: usize,
    provider_calls: u64,
    failed_calls: u64,
    bound: u64,
    seconds: f64,
}

struct Run {
    env: Env,
    name: &'static str,
    n: u32,
    start: Instant,
    /// Failed and all provider calls of controller instances already killed, as they counted them.
    failed_before: u64,
    calls_before: u64,
    starts: u64,
}

fn password(i: u32) -> String {
    format!("pw-{i:02}-fault-run")
}

fn username_key(f: Flavor) -> &'static str {
    if f == Flavor::Bolna { "auth_username" } else { "sip_username" }
}

/// Provider calls in a metrics text, all of them or only the failed ones (status not 2xx, or
/// no response: "error").
fn operator_calls(metrics: &str, failed_only: bool) -> u64 {
    metrics
        .lines()
        .filter(|l| l.contains("provider_calls_total{") && !(failed_only && l.contains("status=\"2")))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .map(|v| v as u64)
        .sum()
}

fn failed_calls(metrics: &str) -> u64 {
    operator_calls(metrics, true)
}

impl Run {
    /// A world with `n` trunks (and their Secrets) applied, the provider emulator seeded, and
    /// no controller yet.
    async fn new(name: &'static str, flavor: Flavor, n: u32, seed: u64, provider_extra: Value) -> Run {
        let cfg = EmulatorConfig { seed, ..EmulatorConfig::new(flavor).with_rate_limit(None) };
        let env = Env::start_with(flavor, cfg, false).await;
        env.apply_provider(provider_extra).await;
        for i in 0..n {
            let t = format!("t{i:02}");
            env.put_secret(&format!("{t}-sip"), "password", &password(i)).await;
            env.apply(&trunk(flavor, &t, i)).await.expect("apply trunk");
        }
        env.provider.reset_calls();
        Run { env, name, n, start: Instant::now(), failed_before: 0, calls_before: 0, starts: 0 }
    }

    fn start_controller(&mut self) {
        // With 30 % of calls failing, a trunk can lose six reconciles in a row (1+2+...+32 s of
        // backoff at the default cap would outlast CONVERGE); the cap keeps convergence a
        // question of correctness, not of luck.
        self.env.start_controller_with(|c| c.max_backoff = MAX_BACKOFF);
        self.starts += 1;
    }

    /// Starts the clock and the controller.
    fn go(&mut self) {
        self.start = Instant::now();
        self.start_controller();
    }

    /// Kills the controller like a crash, keeping its failed-call count.
    fn kill(&mut self) {
        let m = self.env.metrics();
        self.failed_before += failed_calls(&m);
        self.calls_before += operator_calls(&m, false);
        self.env.kill_controller();
    }

    async fn trunks(&self) -> Vec<SipTrunk> {
        self.env.trunks().list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default()
    }

    /// Waits until every trunk is Ready at its generation and `extra` holds.
    async fn wait_converged(&self, extra: impl Fn(&[SipTrunk]) -> bool) -> Vec<SipTrunk> {
        let n = self.n as usize;
        let got = wait_until(
            CONVERGE,
            || self.trunks(),
            |ts: &Vec<SipTrunk>| ts.len() == n && ts.iter().all(is_ready) && extra(ts),
        )
        .await;
        match got {
            Some(ts) => ts,
            None => {
                let ts = self.trunks().await;
                let stuck: Vec<String> = ts
                    .iter()
                    .filter(|t| !is_ready(t))
                    .map(|t| format!("{}: {:?} {}", name_of(t), ready_reason(t), ready_message(t)))
                    .collect();
                panic!("{}: not converged within {CONVERGE:?}; {} stuck: {stuck:#?}", self.name, stuck.len());
            }
        }
    }

    /// Stops the controller gracefully (running reconciles finish, so a late write would show
    /// up), counts, prints and checks the figures.
    async fn finish(mut self, bound_extra: u64) -> Figures {
        let ts = self.wait_converged(|_| true).await;
        let seconds = self.start.elapsed().as_secs_f64();
        self.env.provider.faults().clear();
        if let Some(k) = &self.env.kube {
            k.faults().reset();
        }
        let m = self.env.metrics();
        let failed = self.failed_before + failed_calls(&m);
        // The emulator does not count a call whose client hung up before the answer (timeouts),
        // the operator does not count a call cut by a crash: take the larger.
        let calls = (self.calls_before + operator_calls(&m, false)).max(self.env.provider.total_calls());
        // A graceful stop lets running reconciles finish, so a late duplicate would show below.
        let stopped = tokio::time::timeout(Duration::from_secs(20), self.env.stop_controller()).await;
        assert!(stopped.is_ok(), "{}: the controller did not stop gracefully within 20 s", self.name);
        let flavor = self.env.flavor;
        let remote = self.env.remote();
        let key = username_key(flavor);
        let mut f = Figures { n: self.n as usize, seconds, failed_calls: failed, ..Default::default() };
        f.provider_calls = calls;
        f.converged = ts.iter().filter(|t| is_ready(t)).count();
        let mut by_user = std::collections::BTreeMap::<String, usize>::new();
        for r in &remote {
            *by_user.entry(r[key].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
        f.duplicates = by_user.values().map(|c| c - 1).sum::<usize>();
        let mut why_lost = Vec::new();
        for t in &ts {
            let i: u32 = name_of(t)[1..].parse().expect("trunk index");
            let user = format!("user{i:04}");
            let id = t.status.as_ref().and_then(|s| s.trunk_id.clone()).unwrap_or_default();
            let r = remote.iter().find(|r| id_of(r) == id);
            let ok = r.is_some_and(|r| {
                r[key] == user.as_str()
                    && by_user.get(&user) == Some(&1)
                    && self.env.provider.password_matches(&self.env.token, &id, &password(i))
                    && (flavor == Flavor::Bolna || r["phone_number"] == format!("+1415555{i:04}").as_str())
            });
            if !ok {
                why_lost.push(format!("{}: status id {id:?}, remote {r:?}", name_of(t)));
            }
        }
        f.lost = why_lost.len();
        let stray =
            remote.len().saturating_sub(by_user.len()) + by_user.keys().filter(|u| !u.starts_with("user")).count();
        f.bound = clean_calls_per_trunk(flavor) * u64::from(self.n)
            + 3 * failed
            + self.starts * (1 + u64::from(self.n))
            + bound_extra;
        let line = format!(
            "FAULTS scenario={} flavor={} n={} converged={} duplicates={} lost={} provider_calls={} failed_calls={} bound={} seconds={:.1}",
            self.name,
            flavor,
            f.n,
            f.converged,
            f.duplicates,
            f.lost,
            f.provider_calls,
            f.failed_calls,
            f.bound,
            f.seconds
        );
        println!("{line}");
        append_figures(&line);
        assert_eq!(f.converged, f.n, "{line}");
        assert_eq!(f.duplicates, 0, "{line}; remote: {remote:#?}");
        assert_eq!(stray, 0, "{line}: trunks at the provider that no SipTrunk owns");
        assert_eq!(f.lost, 0, "{line}: {why_lost:#?}");
        assert_eq!(remote.len(), f.n, "{line}: exactly one remote trunk per SipTrunk");
        assert!(f.provider_calls <= f.bound, "{line}: more provider calls than the derived bound");
        self.env.stop().await;
        f
    }
}

fn id_of(r: &Value) -> String {
    r["id"].as_str().map(str::to_string).unwrap_or_else(|| r["id"].to_string())
}

fn append_figures(line: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/reliability-figures.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

// ---- provider faults ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_without_faults_converges_with_one_write_per_trunk() {
    let mut run = Run::new("none", Flavor::Autocalls, 20, 11, json!({})).await;
    run.go();
    let f = run.finish(0).await;
    assert_eq!(f.failed_calls, 0);
    assert!(f.provider_calls <= 20 + 2, "a clean run is one create per trunk plus a list: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_5xx_on_30_percent_of_calls_autocalls() {
    let mut run = Run::new("5xx-30%", Flavor::Autocalls, 20, 12, json!({})).await;
    run.env.provider.faults().fail_share("*", 0.3, 500);
    run.go();
    let f = run.finish(0).await;
    assert!(f.failed_calls > 0, "the fault fired: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_5xx_on_30_percent_of_calls_bolna() {
    let mut run = Run::new("5xx-30%", Flavor::Bolna, 20, 13, json!({})).await;
    run.env.provider.faults().fail_share("*", 0.3, 503);
    run.go();
    let f = run.finish(0).await;
    assert!(f.failed_calls > 0, "the fault fired: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_later_than_the_request_timeout_on_25_percent_of_calls() {
    // The write is committed, the answer comes after the client gave up: outcome unknown.
    let mut run = Run::new("timeout-25%", Flavor::Autocalls, 20, 14, json!({"requestTimeout": "500ms"})).await;
    run.env.provider.faults().delay_share("*", 0.25, Duration::from_millis(900));
    run.go();
    let f = run.finish(0).await;
    assert!(f.failed_calls > 0, "some calls timed out: {f:?}");
}

/// Commit-then-drop on creates, then on the updates of a second wave (every displayName changes).
async fn commit_then_drop(flavor: Flavor, seed: u64) {
    let mut run = Run::new("commit-then-drop-30%", flavor, 20, seed, json!({})).await;
    let faults = run.env.provider.faults();
    faults.drop_share_after_commit("POST *", 0.3);
    faults.drop_share_after_commit("PUT *", 0.3);
    faults.drop_share_after_commit("PATCH *", 0.3);
    run.go();
    run.wait_converged(|_| true).await;
    for i in 0..run.n {
        let t = format!("t{i:02}");
        let patch = json!({"spec": {"displayName": format!("Line {i} v2")}});
        run.env.trunks().patch(&t, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update");
    }
    let key = if flavor == Flavor::Bolna { "description" } else { "nickname" };
    run.wait_converged(|_| true).await;
    let remote = run.env.remote();
    let renamed = remote.iter().filter(|r| r[key].as_str().is_some_and(|s| s.contains(" v2"))).count();
    assert_eq!(renamed, remote.len(), "every remote trunk carries the new display name: {remote:#?}");
    let f = run.finish(0).await;
    assert!(f.failed_calls > 0, "the fault fired: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_writes_whose_response_is_lost_famulor() {
    commit_then_drop(Flavor::Famulor, 15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_writes_whose_response_is_lost_bolna() {
    commit_then_drop(Flavor::Bolna, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_with_retry_after_header() {
    // Each 429 asks for 1 s and the account waits that long: six in a row cost about 6 s.
    let mut run = Run::new("429-retry-after", Flavor::Autocalls, 20, 17, json!({})).await;
    run.env.provider.faults().throttle_next("*", 6, 1, true);
    run.go();
    let f = run.finish(0).await;
    assert!(f.seconds >= 5.0, "every Retry-After was honoured: {f:?}");
    assert_eq!(f.failed_calls, 6, "every injected 429 was seen once: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_without_retry_after() {
    // bolna's 429 carries neither a header nor a body hint: the operator backs off on its own.
    let mut run = Run::new("429-no-retry-after", Flavor::Bolna, 20, 18, json!({})).await;
    run.env.provider.faults().throttle_next("*", 6, 1, false);
    run.go();
    let f = run.finish(0).await;
    assert_eq!(f.failed_calls, 6, "every injected 429 was seen once: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_latency_of_300ms_per_call() {
    let mut run = Run::new("latency-300ms", Flavor::Famulor, 20, 19, json!({})).await;
    run.env.provider.faults().set_latency(Duration::from_millis(300));
    run.go();
    let f = run.finish(0).await;
    assert_eq!(f.failed_calls, 0, "latency below the timeout fails nothing: {f:?}");
}

// ---- Kubernetes faults -------------------------------------------------------------------

/// Runs a scenario with Kubernetes API faults; skipped against a real cluster.
async fn kube_scenario(name: &'static str, seed: u64, arm: impl FnOnce(&siptrunk_operator::kubeemu::Faults)) {
    let mut run = Run::new(name, Flavor::Autocalls, 20, seed, json!({})).await;
    let Some(kube) = run.env.kube.clone() else {
        eprintln!("{name}: needs the emulated API server; skipped against a real cluster");
        return;
    };
    kube.faults().set_seed(seed);
    arm(kube.faults());
    run.go();
    let f = run.finish(0).await;
    assert_eq!(f.failed_calls, 0, "no provider call failed: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_cut_every_3_events() {
    kube_scenario("watch-cut", 21, |k| k.set_watch_cut_after_events(Some(3))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_expire_with_410_gone() {
    kube_scenario("watch-410", 22, |k| {
        k.set_watch_cut_after_events(Some(5));
        k.expire_next_watches(4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_on_30_percent_of_writes() {
    kube_scenario("409-30%", 23, |k| k.set_conflict_ratio(0.3)).await;
}

// ---- crashes -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_killed_at_random_points_and_restarted() {
    killed_and_restarted(Flavor::Autocalls).await;
}

/// bolna's creates carry the marker and write no intent ahead: a kill between a committed create
/// and its status write leaves nothing recorded, and the marker alone must prevent a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_killed_at_random_points_and_restarted_bolna() {
    killed_and_restarted(Flavor::Bolna).await;
}

async fn killed_and_restarted(flavor: Flavor) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(24);
    let mut run = Run::new("restart-x4", flavor, 20, 24, json!({})).await;
    // Creates take 50 ms, so kills land while writes are in flight.
    run.env.provider.faults().set_latency(Duration::from_millis(50));
    run.go();
    let mut threshold = 0u64;
    for _ in 0..4 {
        threshold += rng.random_range(2..6);
        let posts = wait_until(CONVERGE, || async { run.env.calls("POST", "sip-trunks") }, |n| *n >= threshold).await;
        assert!(posts.is_some(), "creates reached {threshold}");
        run.kill();
        run.start_controller();
    }
    run.finish(0).await;
}
