//! Isolation figures of issue 12, against hostile provider accounts:
//!
//! - I1: a new trunk on a healthy account, time to Ready, undisturbed and while one account
//!   black-holes every request (requestTimeout 60s) and another answers `429 Retry-After: 3600`,
//!   20 trunks each (target: disturbed within 2x undisturbed, medians).
//! - M1: the controller's peak resident memory (a child process, like P4) while its provider
//!   answers every list with 100 MiB of tiny items, and with one page of 7.9 MiB of tiny items
//!   (just under the old 8 MiB body cap: about 700 MB on the old code) (target: < 128 MiB).

use super::*;
use crate::emulator::Hostile;

/// One I1 run: medians of 3 samples each.
#[derive(Clone, Debug)]
pub struct IsolationRun {
    /// Time to Ready with only the healthy account.
    pub undisturbed: Duration,
    /// Time to Ready with the two hostile accounts at work.
    pub disturbed: Duration,
}

/// One M1 run.
#[derive(Clone, Debug)]
pub struct HostileListRun {
    /// Size of each hostile list.
    pub bytes: usize,
    /// Peak resident memory of the controller process, bytes.
    pub vm_hwm: u64,
    /// Lists the provider served (each refused by the controller after its byte budget).
    pub lists: u64,
}

async fn hostile_provider(world: &World, name: &str, timeout: &str) -> Result<ProviderEmulator, String> {
    let token = format!("bench-{name}-{:08x}", rand::random::<u32>());
    let emu = ProviderEmulator::start(EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(None).with_token(&token))
        .await
        .map_err(|e| format!("cannot start the {name} emulator: {e}"))?;
    world.put_secret(&format!("{name}-token"), "token", &token).await?;
    let api: Api<crate::crd::SipProvider> = Api::namespaced(world.client.clone(), NS);
    let obj = json!({
        "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider", "metadata": {"name": name},
        "spec": {
            "type": "autocalls",
            "apiTokenSecretRef": {"name": format!("{name}-token"), "key": "token"},
            "baseUrl": emu.base_url(),
            "allowInsecureHttp": true,
            "requestTimeout": timeout,
            "rateLimit": {"requestsPerMinute": 100000, "burst": 1000}
        }
    });
    api.patch(name, &PatchParams::apply("bench").force(), &Patch::Apply(&obj))
        .await
        .map_err(|e| format!("apply provider {name}: {e}"))?;
    Ok(emu)
}

async fn time_to_ready(world: &World, tracker: &mut Tracker, i: usize) -> Result<Duration, String> {
    world.create_secrets(i..i + 1).await?;
    let trunks: Api<SipTrunk> = Api::namespaced(world.client.clone(), NS);
    let t0 = Instant::now();
    trunks.create(&PostParams::default(), &trunk(i)?).await.map_err(|e| format!("create trunk {i}: {e}"))?;
    let (at, _) = tracker.wait_ready(&format!("t{i}"), Duration::from_secs(60)).await?;
    Ok(at.saturating_duration_since(t0))
}

fn ready_reason(t: &SipTrunk) -> Option<&str> {
    t.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.reason.as_str())
}

/// One I1 run.
pub(super) async fn isolation(opts: &BenchOptions) -> Result<IsolationRun, String> {
    let world = World::start(None).await?;
    world.put_provider(Duration::from_secs(300), 100_000, 1_000).await?;
    let mut tracker = Tracker::start(world.client.clone());
    let instance = world.controller(opts);
    time_to_ready(&world, &mut tracker, 0).await?; // warm-up: caches, account, first list
    let mut undisturbed = Vec::new();
    for i in 1..4 {
        undisturbed.push(time_to_ready(&world, &mut tracker, i).await?);
    }
    let hole = hostile_provider(&world, "hole", "60s").await?;
    hole.faults().black_hole("*");
    let throttled = hostile_provider(&world, "throttled", "10s").await?;
    throttled.faults().throttle_always("*", 3600, true);
    world.create_secrets(1000..1020).await?;
    world.create_secrets(2000..2020).await?;
    let trunks: Api<SipTrunk> = Api::namespaced(world.client.clone(), NS);
    for i in 0..20 {
        for (base, provider) in [(1000, "hole"), (2000, "throttled")] {
            let mut t = trunk(base + i)?;
            t.spec.provider_ref.name = provider.into();
            trunks.create(&PostParams::default(), &t).await.map_err(|e| format!("create trunk: {e}"))?;
        }
    }
    // Measure once every trunk of the throttled account reported RateLimited (the burst of 40
    // reconciles is over) while the black hole still holds its list.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let list = trunks.list(&Default::default()).await.map_err(|e| format!("list trunks: {e}"))?;
        let limited = list
            .items
            .iter()
            .filter(|t| t.spec.provider_ref.name == "throttled" && ready_reason(t) == Some("RateLimited"))
            .count();
        if limited == 20 {
            break;
        }
        if Instant::now() > end {
            return Err(format!("I1: only {limited} of 20 throttled trunks reported RateLimited within 60s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut disturbed = Vec::new();
    for i in 4..7 {
        disturbed.push(time_to_ready(&world, &mut tracker, i).await?);
    }
    instance.stop().await;
    drop(tracker);
    // The black hole keeps its connections open: it is dropped, not shut down gracefully.
    throttled.shutdown().await;
    drop(hole);
    world.stop().await;
    Ok(IsolationRun { undisturbed: median_d(undisturbed), disturbed: median_d(disturbed) })
}

/// One M1 run: the controller as a child process against a provider whose lists are 100 MiB.
pub(super) async fn hostile_list(
    opts: &BenchOptions,
    bin: &std::path::Path,
    bytes: usize,
) -> Result<HostileListRun, String> {
    let world = World::start(None).await?;
    world.put_provider(Duration::from_secs(300), 100_000, 1_000).await?;
    world.provider.faults().hostile_always(LIST_ROUTE, Hostile::HugeList { bytes });
    world.create_trunks(0..10).await?;
    let dir = std::env::temp_dir().join(format!("siptrunk-bench-m1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let kubeconfig = dir.join("kubeconfig");
    world.kube.write_kubeconfig(&kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    let mut child = tokio::process::Command::new(bin)
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
    // Three hostile lists served (and refused), however long the backoff between them takes.
    let end = Instant::now() + Duration::from_secs(180);
    let mut lists = 0;
    while Instant::now() < end {
        lists = world.provider.calls().endpoint(LIST_ROUTE);
        if lists >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hwm = read_proc_kib(pid, "VmHWM:");
    let _ = child.start_kill();
    let _ = child.wait().await;
    world.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    if lists < 3 {
        return Err(format!("M1: only {lists} hostile lists were served within 180s"));
    }
    let hwm = hwm.ok_or_else(|| format!("cannot read /proc/{pid}/status"))?;
    Ok(HostileListRun { bytes, vm_hwm: hwm * 1024, lists })
}

/// The table rows of I1 and M1.
pub(super) fn rows(iso: &[IsolationRun], hostile: &[HostileListRun]) -> Vec<Row> {
    let mut rows = Vec::new();
    if !iso.is_empty() {
        let und = median_d(iso.iter().map(|r| r.undisturbed).collect());
        let dis = median_d(iso.iter().map(|r| r.disturbed).collect());
        let ratio = dis.as_secs_f64() / und.as_secs_f64().max(1e-6);
        rows.push(Row {
            id: "I1",
            measure: "new trunk on a healthy account → Ready, while one account black-holes and one answers 429 Retry-After: 3600 (20 trunks each)".into(),
            result: format!("{} vs {} undisturbed = {ratio:.2}×", ms(dis), ms(und)),
            target: "≤ 2× undisturbed".into(),
            runs: format!("{} (3 samples each)", iso.len()),
            verdict: verdict(ratio <= 2.0),
        });
    }
    let mut sizes: Vec<usize> = hostile.iter().map(|r| r.bytes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for bytes in sizes.into_iter().rev() {
        let runs: Vec<&HostileListRun> = hostile.iter().filter(|r| r.bytes == bytes).collect();
        let hwm = median_f(runs.iter().map(|r| r.vm_hwm as f64 / 1048576.0).collect());
        rows.push(Row {
            id: "M1",
            measure: format!(
                "controller peak RSS (VmHWM) while every list is {:.1} MiB of tiny items",
                bytes as f64 / 1048576.0
            ),
            result: format!("{hwm:.1} MiB"),
            target: "< 128 MiB".into(),
            runs: runs.len().to_string(),
            verdict: verdict(hwm < 128.0),
        });
    }
    rows
}
