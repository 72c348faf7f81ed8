//! The `bench` command: performance at scale, measured against the stand-ins.
//!
//! Every figure runs the real controller against the Kubernetes API emulation and the autocalls
//! provider emulator (both in this process); only P4 runs the controller as a child process
//! (`siptrunk-operator run` with a kubeconfig pointing at the emulated cluster), so that its
//! peak resident memory is the controller's alone.
//!
//! - P1: provider calls per drift window in steady state, N trunks on one account.
//! - P2: cold start of N trunks against a provider limited to R requests/s.
//! - P3: latency from `SipTrunk` created to `Ready`, one trunk at a time.
//! - P4: peak resident memory (VmHWM) of the controller process with N trunks and Secrets.
//! - P5: latency from a password Secret changed to the new password at the provider.
//! - I1, M1 (full mode, or `--only i1,m1`): isolation from hostile accounts, see `isolation`.

mod isolation;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;

use crate::controller;
use crate::crd::SipTrunk;
use crate::emulator::{EmulatorConfig, Flavor, ProviderEmulator, RateLimitCfg};
use crate::kubeemu::{EmulatorOptions, KubeEmulator};
use crate::runner::{Instance, RunOptions};

const NS: &str = "bench";
const PROVIDER: &str = "bench-provider";
const TOKEN_SECRET: &str = "bench-provider-token";
const LIST_ROUTE: &str = "GET /user/phone-numbers/sip-trunks";

/// What to measure and how much.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Mode name printed in the header (quick / full).
    pub mode: &'static str,
    /// P1 account sizes.
    pub p1_sizes: Vec<usize>,
    /// P1 drift windows measured per size.
    pub p1_windows: u32,
    /// P2 trunks and provider limit (requests/s).
    pub p2_n: usize,
    /// P2 emulated provider limit, requests per second.
    pub p2_rate: u32,
    /// P2 burst configured on the SipProvider.
    pub p2_burst: u32,
    /// P3 samples per run.
    pub p3_samples: usize,
    /// P4 sizes: trunks (and Secrets), each measured `runs` times (the table shows medians).
    pub p4_sizes: Vec<usize>,
    /// P4 drift interval; the controller runs one more interval after convergence.
    pub p4_drift: Duration,
    /// P5 samples per run.
    pub p5_samples: usize,
    /// Runs of P2, P3, P4 and P5 (the table shows the median of the runs).
    pub runs: usize,
    /// The operator binary for P4 (None: P4 is skipped).
    pub operator_binary: Option<PathBuf>,
    /// Only these figures (e.g. ["p1", "p4"]); empty: all.
    pub only: Vec<String>,
    /// Progress lines on stderr.
    pub progress: bool,
    /// Reconciles running at once (the `run` default).
    pub concurrency: u16,
}

impl BenchOptions {
    /// Full mode: the sizes of issue 6.
    pub fn full() -> Self {
        BenchOptions {
            mode: "full",
            p1_sizes: vec![100, 1_000, 10_000],
            p1_windows: 3,
            p2_n: 1_000,
            p2_rate: 100,
            p2_burst: 5,
            p3_samples: 200,
            p4_sizes: vec![1_000, 5_000, 10_000],
            p4_drift: Duration::from_secs(10),
            p5_samples: 50,
            runs: 3,
            operator_binary: None,
            only: Vec::new(),
            progress: true,
            concurrency: controller::Config::default().concurrency,
        }
    }

    /// Quick mode: small sizes, one run; checks that everything works, not the targets.
    pub fn quick() -> Self {
        BenchOptions {
            mode: "quick",
            p1_sizes: vec![20, 200],
            p1_windows: 2,
            p2_n: 100,
            p2_rate: 100,
            p3_samples: 20,
            p4_sizes: vec![200],
            p4_drift: Duration::from_secs(2),
            p5_samples: 10,
            runs: 1,
            ..Self::full()
        }
    }

    /// Figures run in full mode or when asked for by name.
    fn wants_extra(&self, id: &str) -> bool {
        self.only.iter().any(|o| o.eq_ignore_ascii_case(id)) || (self.only.is_empty() && self.mode == "full")
    }

    fn wants(&self, id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o.eq_ignore_ascii_case(id))
    }

    fn say(&self, msg: impl AsRef<str>) {
        if self.progress {
            eprintln!("bench: {}", msg.as_ref());
        }
    }
}

/// P1 for one account size.
#[derive(Clone, Debug)]
pub struct P1Result {
    /// Trunks on the account.
    pub n: usize,
    /// The SipProvider's driftCheckInterval.
    pub window: Duration,
    /// Measured time.
    pub measured: Duration,
    /// Drift rounds completed in the measured time (reconciles / N).
    pub rounds: f64,
    /// Provider list calls in the measured time.
    pub list_calls: u64,
    /// Provider writes (POST, PUT, PATCH, DELETE) in the measured time.
    pub writes: u64,
    /// Other provider calls (GET of one trunk) in the measured time.
    pub other_calls: u64,
    /// Kubernetes writes by the controller (status patches, finalizers, Events) in the measured time.
    pub kube_writes: usize,
    /// Time from the first SipTrunk created to all N Ready.
    pub converge: Duration,
}

impl P1Result {
    /// List calls per drift window (per round of N drift checks).
    pub fn lists_per_window(&self) -> f64 {
        if self.rounds <= 0.0 { f64::NAN } else { self.list_calls as f64 / self.rounds }
    }
}

/// One P2 run.
#[derive(Clone, Debug)]
pub struct P2Run {
    /// Wall time from the controller's start to all N Ready.
    pub wall: Duration,
    /// Provider calls made.
    pub calls: u64,
    /// Provider 429 answers.
    pub throttled: u64,
}

/// One P3 or P5 run: latency samples.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// Samples, in order.
    pub samples: Vec<Duration>,
}

impl Latencies {
    /// The q-quantile (nearest rank).
    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.samples.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }
}

/// P4.
#[derive(Clone, Debug)]
pub struct P4Result {
    /// Trunks (and Secrets).
    pub n: usize,
    /// Peak resident memory of the controller process, bytes.
    pub vm_hwm: u64,
    /// Resident memory at the end, bytes.
    pub vm_rss: u64,
    /// Of that, pages of the executable and libraries (`RssFile`): the code the process has
    /// touched, shared with the page cache, not heap.
    pub rss_file: u64,
    /// Time from the controller's start to all N Ready.
    pub converge: Duration,
}

/// One table row.
#[derive(Clone, Debug)]
pub struct Row {
    /// P1 .. P5.
    pub id: &'static str,
    /// What is measured.
    pub measure: String,
    /// The figure.
    pub result: String,
    /// The target.
    pub target: String,
    /// Runs behind the figure.
    pub runs: String,
    /// met / MISSED / n/a.
    pub verdict: &'static str,
}

/// Everything measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Mode and machine line.
    pub header: String,
    /// P1 per size.
    pub p1: Vec<P1Result>,
    /// P2 runs.
    pub p2: Vec<P2Run>,
    /// P3 runs.
    pub p3: Vec<Latencies>,
    /// P4 runs, by size in `p4_sizes` order.
    pub p4: Vec<P4Result>,
    /// P5 runs.
    pub p5: Vec<Latencies>,
    /// I1 runs.
    pub isolation: Vec<isolation::IsolationRun>,
    /// M1 runs.
    pub hostile_list: Vec<isolation::HostileListRun>,
    /// The table rows.
    pub rows: Vec<Row>,
}

impl Report {
    /// The table as printed.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header);
        let w = |f: &dyn Fn(&Row) -> usize, h: &str| self.rows.iter().map(f).max().unwrap_or(0).max(h.len());
        let (wm, wr, wt, wn) = (
            w(&|r| r.measure.chars().count(), "MEASURE"),
            w(&|r| r.result.chars().count(), "RESULT"),
            w(&|r| r.target.chars().count(), "TARGET"),
            w(&|r| r.runs.chars().count(), "RUNS"),
        );
        let _ = writeln!(
            out,
            "{:<3} {:<wm$}  {:<wr$}  {:<wt$}  {:<wn$}  VERDICT",
            "ID", "MEASURE", "RESULT", "TARGET", "RUNS"
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "{:<3} {:<wm$}  {:<wr$}  {:<wt$}  {:<wn$}  {}",
                r.id, r.measure, r.result, r.target, r.runs, r.verdict
            );
        }
        out
    }
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m < 10.0 { format!("{m:.1} ms") } else { format!("{m:.0} ms") }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn median_f(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn median_d(v: Vec<Duration>) -> Duration {
    Duration::from_secs_f64(median_f(v.iter().map(Duration::as_secs_f64).collect()).max(0.0))
}

fn read_proc_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs the selected figures and builds the table.
pub async fn run(opts: BenchOptions) -> Result<Report, String> {
    crate::kubeemu::install_crypto_provider();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut rep = Report {
        header: format!(
            "siptrunk-operator bench ({} mode, {} build, {cores} cores; controller concurrency {}; stand-ins: kubeemu + autocalls emulator)",
            opts.mode,
            if cfg!(debug_assertions) { "debug" } else { "release" },
            opts.concurrency
        ),
        ..Report::default()
    };
    if opts.wants("p1") {
        for &n in &opts.p1_sizes {
            let window = p1_window(n);
            opts.say(format!("P1: N={n}, driftCheckInterval {}s", window.as_secs()));
            let r = p1(&opts, n, window).await?;
            opts.say(format!(
                "P1: N={n}: converged in {:.1}s; {} list, {} writes, {} other calls, {} kube writes over {:.2} rounds ({:.1}s)",
                r.converge.as_secs_f64(),
                r.list_calls,
                r.writes,
                r.other_calls,
                r.kube_writes,
                r.rounds,
                r.measured.as_secs_f64()
            ));
            rep.p1.push(r);
        }
    }
    if opts.wants("p2") {
        for i in 0..opts.runs {
            opts.say(format!("P2: run {}/{}: N={} at {}/s", i + 1, opts.runs, opts.p2_n, opts.p2_rate));
            let r = p2(&opts).await?;
            opts.say(format!("P2: {:.2}s, {} calls, {} x 429", r.wall.as_secs_f64(), r.calls, r.throttled));
            rep.p2.push(r);
        }
    }
    if opts.wants("p3") || opts.wants("p5") {
        for i in 0..opts.runs {
            opts.say(format!("P3/P5: run {}/{}", i + 1, opts.runs));
            let (l3, l5) = p3_p5(&opts).await?;
            opts.say(format!(
                "P3: p50 {} p99 {}; P5: p50 {} p99 {}",
                ms(l3.quantile(0.5)),
                ms(l3.quantile(0.99)),
                ms(l5.quantile(0.5)),
                ms(l5.quantile(0.99))
            ));
            rep.p3.push(l3);
            rep.p5.push(l5);
        }
    }
    if opts.wants("p4") {
        match &opts.operator_binary {
            Some(bin) => {
                for &n in &opts.p4_sizes {
                    for i in 0..opts.runs {
                        opts.say(format!(
                            "P4: run {}/{}: N={n} with the controller as a child process",
                            i + 1,
                            opts.runs
                        ));
                        let r = p4(&opts, bin.clone(), n).await?;
                        opts.say(format!(
                            "P4: VmHWM {:.1} MiB ({:.0} bytes per trunk), VmRSS {:.1} MiB ({:.1} MiB of it file-backed: code), converged in {:.1}s",
                            mib(r.vm_hwm),
                            r.vm_hwm as f64 / n.max(1) as f64,
                            mib(r.vm_rss),
                            mib(r.rss_file),
                            r.converge.as_secs_f64()
                        ));
                        rep.p4.push(r);
                    }
                }
            }
            None => opts.say("P4: skipped (no operator binary)"),
        }
    }
    if opts.wants_extra("i1") {
        for i in 0..opts.runs {
            opts.say(format!("I1: run {}/{}", i + 1, opts.runs));
            let r = isolation::isolation(&opts).await?;
            opts.say(format!("I1: undisturbed {} disturbed {}", ms(r.undisturbed), ms(r.disturbed)));
            rep.isolation.push(r);
        }
    }
    if opts.wants_extra("m1") {
        match &opts.operator_binary {
            Some(bin) => {
                for i in 0..opts.runs {
                    for bytes in [100 << 20, 7_900_000] {
                        opts.say(format!(
                            "M1: run {}/{} ({bytes} byte lists, controller as a child process)",
                            i + 1,
                            opts.runs
                        ));
                        let r = isolation::hostile_list(&opts, bin, bytes).await?;
                        opts.say(format!("M1: VmHWM {:.1} MiB after {} lists", r.vm_hwm as f64 / 1048576.0, r.lists));
                        rep.hostile_list.push(r);
                    }
                }
            }
            None => opts.say("M1: skipped (no operator binary)"),
        }
    }
    rep.rows = rows(&opts, &rep);
    rep.rows.extend(isolation::rows(&rep.isolation, &rep.hostile_list));
    Ok(rep)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// The median of `v` (the lower one of an even count); 0 when empty.
fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// P4 rows: one per size, the median of its runs, with bytes per trunk (peak / N) and, from the
/// second size on, per added trunk (the slope from the previous size's median).
fn p4_rows(opts: &BenchOptions, runs: &[P4Result]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut prev: Option<(usize, u64)> = None;
    for &n in &opts.p4_sizes {
        let of_n: Vec<&P4Result> = runs.iter().filter(|r| r.n == n).collect();
        if of_n.is_empty() {
            continue;
        }
        let hwm = median_u64(of_n.iter().map(|r| r.vm_hwm).collect());
        let rss = median_u64(of_n.iter().map(|r| r.vm_rss).collect());
        let all: Vec<String> = of_n.iter().map(|r| format!("{:.1}", mib(r.vm_hwm))).collect();
        let mut result = format!(
            "{:.1} MiB = {:.0} B/trunk (runs {} MiB; end RSS {:.1} MiB)",
            mib(hwm),
            hwm as f64 / n.max(1) as f64,
            all.join(" / "),
            mib(rss)
        );
        if let Some((pn, ph)) = prev.filter(|(pn, _)| n > *pn) {
            let _ =
                write!(result, ", {:.0} B per trunk added since N={pn}", (hwm as f64 - ph as f64) / (n - pn) as f64);
        }
        rows.push(Row {
            id: "P4",
            measure: format!("controller peak RSS (VmHWM), {n} SipTrunks + Secrets"),
            result,
            target: "< 64 MiB at 10,000".into(),
            runs: of_n.len().to_string(),
            verdict: if n == 10_000 { verdict(hwm < 64 * 1024 * 1024) } else { "n/a" },
        });
        prev = Some((n, hwm));
    }
    if rows.is_empty() && opts.wants("p4") {
        rows.push(Row {
            id: "P4",
            measure: "controller peak RSS (VmHWM)".into(),
            result: "not measured (no operator binary)".into(),
            target: "< 64 MiB".into(),
            runs: "0".into(),
            verdict: "n/a",
        });
    }
    rows
}

fn rows(opts: &BenchOptions, rep: &Report) -> Vec<Row> {
    let mut rows = Vec::new();
    for r in &rep.p1 {
        let lpw = r.lists_per_window();
        rows.push(Row {
            id: "P1",
            measure: format!("provider calls per drift window, N={} (driftCheckInterval {}s)", r.n, r.window.as_secs()),
            result: format!(
                "{lpw:.2} list/window, {} writes, {} other calls, {} kube writes",
                r.writes, r.other_calls, r.kube_writes
            ),
            target: "1 list, 0 writes".into(),
            runs: format!("1 ({:.1} windows)", r.rounds),
            verdict: verdict((lpw - 1.0).abs() <= 0.1 && r.writes == 0 && r.other_calls == 0),
        });
    }
    if !rep.p2.is_empty() {
        let floor = opts.p2_n as f64 / f64::from(opts.p2_rate);
        let wall = median_d(rep.p2.iter().map(|r| r.wall).collect()).as_secs_f64();
        let throttled = rep.p2.iter().map(|r| r.throttled).max().unwrap_or(0);
        rows.push(Row {
            id: "P2",
            measure: format!("cold start, N={} at {}/s (floor N/R = {floor:.1}s)", opts.p2_n, opts.p2_rate),
            result: format!("{wall:.2}s = {:.3} x floor, {throttled} x 429", wall / floor),
            target: "<= 1.1 x floor, 0 x 429".into(),
            runs: rep.p2.len().to_string(),
            verdict: verdict(wall <= 1.1 * floor && throttled == 0),
        });
    }
    if !rep.p3.is_empty() {
        let p50 = median_d(rep.p3.iter().map(|l| l.quantile(0.5)).collect());
        let p99 = median_d(rep.p3.iter().map(|l| l.quantile(0.99)).collect());
        rows.push(Row {
            id: "P3",
            measure: format!("SipTrunk created -> Ready, one at a time ({} samples/run)", opts.p3_samples),
            result: format!("p50 {}, p99 {}", ms(p50), ms(p99)),
            target: "p50 < 50 ms, p99 < 250 ms".into(),
            runs: rep.p3.len().to_string(),
            verdict: verdict(p50 < Duration::from_millis(50) && p99 < Duration::from_millis(250)),
        });
    }
    rows.extend(p4_rows(opts, &rep.p4));
    if !rep.p5.is_empty() {
        let p50 = median_d(rep.p5.iter().map(|l| l.quantile(0.5)).collect());
        let p99 = median_d(rep.p5.iter().map(|l| l.quantile(0.99)).collect());
        rows.push(Row {
            id: "P5",
            measure: format!("Secret changed -> new password at provider ({} samples/run)", opts.p5_samples),
            result: format!("p50 {}, p99 {}", ms(p50), ms(p99)),
            target: "p50 < 1 s".into(),
            runs: rep.p5.len().to_string(),
            verdict: verdict(p50 < Duration::from_secs(1)),
        });
    }
    rows
}

/// The drift window of P1: short, but long enough that N reconciles per window stay a small
/// share of the machine (one steady reconcile costs tens of microseconds).
fn p1_window(n: usize) -> Duration {
    Duration::from_secs(((n / 2_000) as u64).clamp(2, 10))
}

// ---------------------------------------------------------------------------------------------
// The world: emulated cluster, emulated provider, objects, readiness tracking.

struct World {
    kube: KubeEmulator,
    provider: ProviderEmulator,
    client: Client,
    token: String,
}

impl World {
    async fn start(rate: Option<RateLimitCfg>) -> Result<World, String> {
        let kube = KubeEmulator::start(EmulatorOptions {
            crds: crate::crd::all(),
            // Room for every change of a 10k-trunk convergence, so watches resume instead of relisting.
            history_limit: 200_000,
            ..EmulatorOptions::default()
        })
        .await
        .map_err(|e| format!("cannot start the Kubernetes API emulation: {e}"))?;
        let token = format!("bench-{:08x}", rand::random::<u32>());
        let provider =
            ProviderEmulator::start(EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(rate).with_token(&token))
                .await
                .map_err(|e| format!("cannot start the provider emulator: {e}"))?;
        let client = kube.client().map_err(|e| format!("client: {e}"))?;
        let nss: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).map_err(|e| e.to_string())?;
        nss.create(&PostParams::default(), &ns).await.map_err(|e| format!("create namespace: {e}"))?;
        let w = World { kube, provider, client, token };
        w.put_secret(TOKEN_SECRET, "token", &w.token.clone()).await?;
        Ok(w)
    }

    async fn stop(self) {
        self.provider.shutdown().await;
        self.kube.shutdown().await;
    }

    fn secret(name: &str, key: &str, value: &str) -> Secret {
        let mut data = BTreeMap::new();
        data.insert(key.to_string(), ByteString(value.as_bytes().to_vec()));
        Secret {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some(NS.into()), ..ObjectMeta::default() },
            data: Some(data),
            ..Secret::default()
        }
    }

    async fn put_secret(&self, name: &str, key: &str, value: &str) -> Result<(), String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), NS);
        let mut s = Self::secret(name, key, value);
        s.metadata.namespace = None;
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": s.data});
        api.patch(name, &PatchParams::apply("bench").force(), &Patch::Apply(&s))
            .await
            .map(|_| ())
            .map_err(|e| format!("apply secret {name}: {e}"))
    }

    async fn put_provider(&self, drift: Duration, requests_per_minute: u32, burst: u32) -> Result<(), String> {
        let api: Api<crate::crd::SipProvider> = Api::namespaced(self.client.clone(), NS);
        let obj = json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider", "metadata": {"name": PROVIDER},
            "spec": {
                "type": "autocalls",
                "apiTokenSecretRef": {"name": TOKEN_SECRET, "key": "token"},
                "baseUrl": self.provider.base_url(),
                "allowInsecureHttp": true,
                "driftCheckInterval": format!("{}s", drift.as_secs()),
                "rateLimit": {"requestsPerMinute": requests_per_minute, "burst": burst}
            }
        });
        api.patch(PROVIDER, &PatchParams::apply("bench").force(), &Patch::Apply(&obj))
            .await
            .map(|_| ())
            .map_err(|e| format!("apply provider: {e}"))
    }

    /// Password Secrets of trunks `range`, then the trunks (the order kubectl/kustomize use).
    async fn create_trunks(&self, range: std::ops::Range<usize>) -> Result<(), String> {
        self.create_secrets(range.clone()).await?;
        self.create_trunk_objects(range).await
    }

    async fn create_secrets(&self, range: std::ops::Range<usize>) -> Result<(), String> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NS);
        futures::stream::iter(range)
            .map(|i| {
                let secrets = secrets.clone();
                async move {
                    let s = Self::secret(&format!("t{i}-sip"), "password", &format!("pw-{i}-initial"));
                    secrets
                        .create(&PostParams::default(), &s)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("create secret {i}: {e}"))
                }
            })
            .buffer_unordered(32)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    async fn create_trunk_objects(&self, range: std::ops::Range<usize>) -> Result<(), String> {
        let trunks: Api<SipTrunk> = Api::namespaced(self.client.clone(), NS);
        futures::stream::iter(range)
            .map(|i| {
                let trunks = trunks.clone();
                async move {
                    let t = trunk(i)?;
                    trunks
                        .create(&PostParams::default(), &t)
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("create trunk {i}: {e}"))
                }
            })
            .buffer_unordered(32)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    fn controller(&self, opts: &BenchOptions) -> Instance {
        Instance::start(
            self.client.clone(),
            RunOptions {
                http_addr: None,
                controller: controller::Config {
                    namespace: Some(NS.into()),
                    label_selector: None,
                    concurrency: opts.concurrency,
                    egress: crate::provider::egress::EgressPolicy::loopback(),
                    account_concurrency: std::env::var("SIPTRUNK_BENCH_ACCOUNT_CONCURRENCY")
                        .ok()
                        .and_then(|v| v.parse().ok()),
                    ..Default::default()
                },
                lease: None,
            },
        )
    }

    /// Provider calls: (list, writes, other).
    fn provider_calls(&self) -> (u64, u64, u64) {
        let c = self.provider.calls();
        let list = c.endpoint(LIST_ROUTE);
        let writes = ["POST", "PUT", "PATCH", "DELETE"].iter().map(|m| c.method(m)).sum::<u64>();
        (list, writes, c.total() - list - writes)
    }

    fn kube_writes(&self) -> usize {
        self.kube.calls().iter().filter(|c| !matches!(c.verb.as_str(), "get" | "list" | "watch")).count()
    }
}

fn trunk(i: usize) -> Result<SipTrunk, String> {
    serde_json::from_value(json!({
        "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
        "metadata": {"name": format!("t{i}")},
        "spec": {
            "providerRef": {"kind": "SipProvider", "name": PROVIDER},
            "displayName": format!("Line {i}"),
            "phoneNumber": format!("+1415{:07}", i),
            "numberType": "number",
            "sipAddress": "sip.carrier.example",
            "auth": {"type": "credentials", "username": format!("user{i:05}"), "passwordSecretRef": {"name": format!("t{i}-sip"), "key": "password"}},
            "callingFormat": "+e164",
            "countryCode": "US"
        }
    }))
    .map_err(|e| format!("trunk {i}: {e}"))
}

fn is_ready(t: &SipTrunk) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == t.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Name → (first seen Ready, trunk id).
type ReadyMap = Arc<Mutex<HashMap<String, (Instant, Option<String>)>>>;

/// Watches the bench namespace's SipTrunks and records when each first became Ready, and its id.
struct Tracker {
    ready: ReadyMap,
    count: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    fn start(client: Client) -> Tracker {
        let api: Api<SipTrunk> = Api::namespaced(client, NS);
        let ready: ReadyMap = Arc::default();
        let (tx, count) = watch::channel(0usize);
        let r = ready.clone();
        let task = tokio::spawn(async move {
            let stream = watcher(api, watcher::Config::default()).default_backoff().applied_objects();
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                let Ok(t) = ev else { continue };
                if !is_ready(&t) {
                    continue;
                }
                let now = Instant::now();
                let n = {
                    let mut m = r.lock().unwrap_or_else(|p| p.into_inner());
                    let id = t.status.as_ref().and_then(|s| s.trunk_id.clone());
                    m.entry(t.name_any()).or_insert((now, id));
                    m.len()
                };
                tx.send_replace(n);
            }
        });
        Tracker { ready, count, task }
    }

    fn get(&self, name: &str) -> Option<(Instant, Option<String>)> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    async fn wait_count(&mut self, n: usize, timeout: Duration) -> Result<(), String> {
        let ok = matches!(tokio::time::timeout(timeout, self.count.wait_for(|c| *c >= n)).await, Ok(Ok(_)));
        if ok {
            Ok(())
        } else {
            Err(format!("only {} of {n} trunks became Ready within {timeout:?}", *self.count.borrow()))
        }
    }

    async fn wait_ready(&mut self, name: &str, timeout: Duration) -> Result<(Instant, Option<String>), String> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.get(name) {
                return Ok(v);
            }
            if tokio::time::timeout_at(end, self.count.changed()).await.is_err() {
                return Err(format!("{name} did not become Ready within {timeout:?}"));
            }
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The trunks that are not Ready, with their Ready condition (for error messages).
async fn not_ready(client: &Client, tracker: &Tracker) -> String {
    let api: Api<SipTrunk> = Api::namespaced(client.clone(), NS);
    let Ok(list) = api.list(&Default::default()).await else { return "cannot list trunks".into() };
    let stuck: Vec<String> = list
        .items
        .iter()
        .filter(|t| tracker.get(&t.name_any()).is_none())
        .take(5)
        .map(|t| {
            let s = t.status.as_ref();
            let c = s.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
            format!(
                "{} (finalizers {:?}, trunkId {:?}, intent {}, Ready {:?})",
                t.name_any(),
                t.finalizers(),
                s.and_then(|s| s.trunk_id.clone()),
                s.is_some_and(|s| s.create_intent.is_some()),
                c.map(|c| format!("{} {}: {}", c.status, c.reason, c.message))
            )
        })
        .collect();
    format!("not Ready: {}", stuck.join("; "))
}

fn convergence_timeout(n: usize) -> Duration {
    Duration::from_secs(60 + (n as u64) / 20)
}

// ---------------------------------------------------------------------------------------------
// The figures.

async fn p1(opts: &BenchOptions, n: usize, window: Duration) -> Result<P1Result, String> {
    let world = World::start(None).await?;
    // Convergence at up to 100k requests/min; the steady state is what P1 measures.
    world.put_provider(window, 100_000, 1_000).await?;
    let mut tracker = Tracker::start(world.client.clone());
    let instance = world.controller(opts);
    let t0 = Instant::now();
    world.create_trunks(0..n).await?;
    tracker.wait_count(n, convergence_timeout(n)).await?;
    let converge = t0.elapsed();
    // Let the creates' follow-up reconciles settle, then measure from one list call to the
    // K-th after it: K drift rounds, counted as reconciles / N.
    tokio::time::sleep(window).await;
    let (l0, _, _) = world.provider_calls();
    let align_end = Instant::now() + window * 3;
    while world.provider_calls().0 == l0 && Instant::now() < align_end {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    world.provider.reset_calls();
    world.kube.clear_calls();
    let rec0 = instance.metrics.reconciles.get();
    let start = Instant::now();
    let k = u64::from(opts.p1_windows.max(1));
    let end = start + window * (opts.p1_windows + 1) * 2;
    while world.provider_calls().0 < k && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let measured = start.elapsed();
    let reconciles = instance.metrics.reconciles.get() - rec0;
    let (list_calls, writes, other_calls) = world.provider_calls();
    let kube_writes = world.kube_writes();
    instance.stop().await;
    drop(tracker);
    world.stop().await;
    Ok(P1Result {
        n,
        window,
        measured,
        rounds: reconciles as f64 / n as f64,
        list_calls,
        writes,
        other_calls,
        kube_writes,
        converge,
    })
}

async fn p2(opts: &BenchOptions) -> Result<P2Run, String> {
    let world = World::start(Some(RateLimitCfg::per_second(opts.p2_rate))).await?;
    world.put_provider(Duration::from_secs(300), opts.p2_rate * 60, opts.p2_burst).await?;
    world.create_trunks(0..opts.p2_n).await?;
    let mut tracker = Tracker::start(world.client.clone());
    // Let the emulator's window forget anything before the start.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    world.provider.reset_calls();
    let t0 = Instant::now();
    let instance = world.controller(opts);
    let waited = tracker
        .wait_count(
            opts.p2_n,
            convergence_timeout(opts.p2_n) + Duration::from_secs(opts.p2_n as u64 / u64::from(opts.p2_rate.max(1))),
        )
        .await;
    if let Err(e) = waited {
        return Err(format!(
            "{e}; {}; provider calls: {:?}",
            not_ready(&world.client, &tracker).await,
            world.provider.calls().to_json()
        ));
    }
    let wall = t0.elapsed();
    let c = world.provider.calls();
    instance.stop().await;
    drop(tracker);
    world.stop().await;
    Ok(P2Run { wall, calls: c.total(), throttled: c.status(429) })
}

async fn p3_p5(opts: &BenchOptions) -> Result<(Latencies, Latencies), String> {
    let world = World::start(None).await?;
    world.put_provider(Duration::from_secs(300), 100_000, 1_000).await?;
    let warmup = 5;
    let total = opts.p3_samples + warmup;
    world.create_secrets(0..total).await?;
    let mut tracker = Tracker::start(world.client.clone());
    let instance = world.controller(opts);
    let trunks: Api<SipTrunk> = Api::namespaced(world.client.clone(), NS);
    let mut p3 = Latencies::default();
    for i in 0..total {
        let t = trunk(i)?;
        let t0 = Instant::now();
        trunks.create(&PostParams::default(), &t).await.map_err(|e| format!("create trunk {i}: {e}"))?;
        let (at, _) = tracker.wait_ready(&format!("t{i}"), Duration::from_secs(30)).await?;
        if i >= warmup {
            p3.samples.push(at.saturating_duration_since(t0));
        }
    }
    let mut p5 = Latencies::default();
    for j in 0..opts.p5_samples {
        let i = warmup + j % opts.p3_samples.max(1);
        let id = tracker.get(&format!("t{i}")).and_then(|(_, id)| id).ok_or_else(|| format!("t{i} has no trunk id"))?;
        let pw = format!("pw-{i}-rotated-{j}");
        let t0 = Instant::now();
        world.put_secret(&format!("t{i}-sip"), "password", &pw).await?;
        let end = t0 + Duration::from_secs(30);
        loop {
            if world.provider.password_matches(&world.token, &id, &pw) {
                p5.samples.push(t0.elapsed());
                break;
            }
            if Instant::now() > end {
                return Err(format!("P5: the new password of t{i} did not reach the provider within 30s"));
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    instance.stop().await;
    drop(tracker);
    world.stop().await;
    Ok((p3, p5))
}

async fn p4(opts: &BenchOptions, bin: PathBuf, n: usize) -> Result<P4Result, String> {
    let world = World::start(None).await?;
    let drift = opts.p4_drift;
    world.put_provider(drift, 100_000, 1_000).await?;
    world.create_trunks(0..n).await?;
    let dir = std::env::temp_dir().join(format!("siptrunk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let kubeconfig = dir.join("kubeconfig");
    world.kube.write_kubeconfig(&kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    let mut tracker = Tracker::start(world.client.clone());
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new(&bin)
        .args(["run", "--http-addr", "127.0.0.1:0", "--allowed-provider-hosts", "127.0.0.1", "--watch-namespace", NS])
        .arg("--concurrency")
        .arg(opts.concurrency.to_string())
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id().ok_or("the controller exited at once")?;
    let waited = tracker.wait_count(n, convergence_timeout(n)).await;
    let converge = t0.elapsed();
    if waited.is_ok() {
        // One drift round of steady state on top of convergence.
        tokio::time::sleep(drift + drift / 5).await;
    }
    let hwm = read_proc_kib(pid, "VmHWM:");
    let rss = read_proc_kib(pid, "VmRSS:");
    let rss_file = read_proc_kib(pid, "RssFile:").unwrap_or_default() * 1024;
    let _ = child.start_kill();
    let _ = child.wait().await;
    drop(tracker);
    world.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    waited?;
    let (hwm, rss) = match (hwm, rss) {
        (Some(h), Some(r)) => (h * 1024, r * 1024),
        _ => return Err(format!("cannot read /proc/{pid}/status")),
    };
    Ok(P4Result { n, vm_hwm: hwm, vm_rss: rss, rss_file, converge })
}
