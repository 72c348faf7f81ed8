//! One tenant cannot hurt another, the cluster half (issue 12): start-up (reconciles wait for
//! every cache they read, /readyz turns ready in every run), only referenced Secrets are read
//! (metadata-only watch, GETs of referenced names), and leader election that cannot overlap
//! (a partitioned leader stops before a standby can take over; expiry is judged on the
//! candidate's own clock, not by the holder's wall-clock renewTime).
//!
//! Tests that need the emulated API server's fault knobs or its request log skip themselves
//! (with a message) when SIPTRUNK_E2E_KUBECONFIG points at a real cluster.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::json;
use siptrunk_operator::emulator::{EmulatorConfig, Flavor};
use siptrunk_operator::kubeemu::KubeEmulator;
use siptrunk_operator::leader::LeaseConfig;
use siptrunk_operator::runner::{self, Instance, RunOptions};

const LEASE: &str = "siptrunk-operator-e2e-cluster";

async fn env() -> Env {
    Env::start_with(Flavor::Autocalls, EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(None), false).await
}

fn emulated(env: &Env, test: &str) -> Option<KubeEmulator> {
    if env.kube.is_none() {
        println!("{test}: skipped against a real cluster (needs the emulated API's faults and request log)");
    }
    env.kube.clone()
}

fn options(env: &Env, http: bool, lease: Option<LeaseConfig>) -> RunOptions {
    RunOptions {
        http_addr: http.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        controller: test_config(&env.ns, 4),
        lease,
    }
}

async fn readyz(addr: SocketAddr) -> u16 {
    match reqwest::get(format!("http://{addr}/readyz")).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Reproduction 8b: /readyz stayed 503 for a whole run in 4 of 9 runs (two tasks waited on one
/// kube-runtime store readiness, which wakes only one of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_turns_ready_in_every_one_of_many_starts() {
    let env = env().await;
    env.put_secret("one-sip", "password", "pw-one").await;
    env.apply(&trunk(Flavor::Autocalls, "one", 1)).await.expect("apply");
    const RUNS: usize = 16;
    for run in 0..RUNS {
        // Vary which cache syncs last (on the emulated API): the SipTrunk list, the Secret
        // list, or neither.
        if let Some(kube) = &env.kube {
            let slow = Some(Duration::from_millis(300));
            kube.faults().set_resource_latency("siptrunks", if run % 3 == 0 { slow } else { None });
            kube.faults().set_resource_latency("secrets", if run % 3 == 1 { slow } else { None });
        }
        let instance = Instance::start(env.client.clone(), options(&env, true, None));
        let addr = instance.http_addr().expect("bound");
        let ready = wait_until(DEADLINE, || readyz(addr), |s| *s == 200).await;
        assert!(ready.is_some(), "run {run} of {RUNS}: /readyz never answered 200");
        assert!(instance.readiness.is_ready());
        if run == 0 {
            env.wait_ready("one").await;
        }
        instance.stop().await;
    }
    env.stop().await;
}

/// Reproduction 8a: trunks whose Secrets existed before the controller started stayed
/// `SecretNotFound` when reconciles began before the Secret cache had synced (a slow,
/// multi-page Secret list) and nothing woke them afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciles_wait_for_every_cache_so_existing_secrets_are_found() {
    let mut env = env().await;
    let Some(kube) = emulated(&env, "reconciles_wait_for_every_cache") else { return env.stop().await };
    const TRUNKS: usize = 6;
    for i in 0..TRUNKS {
        env.put_secret(&format!("a{i}-sip"), "password", &format!("pw-{i}")).await;
    }
    // Enough other Secrets that the Secret list takes several pages (of 500 or of 100).
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let fillers = futures::future::join_all((0..620).map(|i| {
        let secrets = secrets.clone();
        async move {
            let s: Secret = serde_json::from_value(
                json!({"metadata": {"name": format!("zz-filler-{i:04}")}, "stringData": {"k": "v"}}),
            )
            .expect("secret");
            secrets.create(&PostParams::default(), &s).await.map(|_| ())
        }
    }))
    .await;
    assert!(fillers.iter().all(Result::is_ok), "filler Secrets");
    for i in 0..TRUNKS {
        let mut t = trunk(Flavor::Autocalls, &format!("a{i}"), 10 + i as u32);
        merge(&mut t, json!({"spec": {"auth": {"passwordSecretRef": {"name": format!("a{i}-sip")}}}}));
        env.apply(&t).await.expect("apply");
    }
    // Every Secret list page answers after 700 ms; SipTrunks and providers answer at once.
    kube.faults().set_resource_latency("secrets", Some(Duration::from_millis(700)));
    env.start_controller();
    for i in 0..TRUNKS {
        env.wait_ready(&format!("a{i}")).await;
    }
    let metrics = env.metrics();
    assert!(
        !metrics.lines().any(|l| l.contains("reason=\"SecretNotFound\"") && !l.ends_with(" 0")),
        "a reconcile ran before the Secret cache had synced:\n{metrics}"
    );
    kube.faults().set_resource_latency("secrets", None);
    env.stop().await;
}

/// Reproduction 5: the controller listed and watched every Secret in full and kept their data.
/// Now its Secret list/watch asks for metadata only, and it GETs only Secrets that a trunk or
/// provider references: a bystander Secret's data never reaches the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_referenced_secrets_are_read_and_the_watch_carries_metadata_only() {
    let env = env().await;
    let Some(kube) = emulated(&env, "only_referenced_secrets_are_read") else { return env.stop().await };
    env.put_secret("bystander", "password", "bystander-data").await;
    env.put_secret("one-sip", "password", "pw-one").await;
    let instance = Instance::start(agent_client(&kube, "the-controller"), options(&env, false, None));
    env.apply(&trunk(Flavor::Autocalls, "one", 1)).await.expect("apply");
    env.wait_ready("one").await;
    // Rotation still reaches the provider (the change of resourceVersion forces a fresh GET).
    let before = env.remote()[0]["sip_password_sha256"].clone();
    env.put_secret("one-sip", "password", "pw-one-rotated").await;
    env.put_secret("bystander", "password", "bystander-data-2").await;
    env.wait_remote("the rotated password applied", |r| r.len() == 1 && r[0]["sip_password_sha256"] != before).await;

    let calls: Vec<_> = kube
        .calls()
        .into_iter()
        .filter(|c| c.user_agent.contains("the-controller") && c.resource == "secrets")
        .collect();
    let streams: Vec<_> = calls.iter().filter(|c| c.verb == "list" || c.verb == "watch").collect();
    assert!(!streams.is_empty(), "the controller watches Secrets");
    for c in &streams {
        assert!(c.metadata_only, "a Secret {} without the metadata-only Accept header: {}", c.verb, c.path);
    }
    let got: BTreeSet<String> = calls.iter().filter(|c| c.verb == "get").filter_map(|c| c.name.clone()).collect();
    // The operator's own marker-key Secret (its namespace, read at start) is the one other read.
    let referenced: BTreeSet<String> =
        ["one-sip", "provider-token", siptrunk_operator::controller::marker_key::DEFAULT_SECRET]
            .into_iter()
            .map(String::from)
            .collect();
    assert!(got.contains("one-sip") && got.contains("provider-token"), "GETs of the referenced Secrets: {got:?}");
    assert!(got.is_subset(&referenced), "GET of an unreferenced Secret: {got:?}");
    // Its only Secret writes: the in-use finalizer on the referenced token Secret, and creating
    // its own marker-key Secret on first start.
    let other: Vec<_> = calls
        .iter()
        .filter(|c| !["list", "watch", "get"].contains(&c.verb.as_str()))
        .filter(|c| !(c.verb == "patch" && c.name.as_deref() == Some("provider-token")))
        .filter(|c| !(c.verb == "create" && c.name.is_none()))
        .collect();
    assert!(other.is_empty(), "the controller writes no other Secret: {other:?}");
    instance.stop().await;
    env.stop().await;
}

/// A client whose requests carry `agent` in their User-Agent (so the emulated API can cut it off).
fn agent_client(kube: &KubeEmulator, agent: &str) -> Client {
    let uri: http::Uri = kube.url().parse().expect("url");
    let mut config = kube::Config::new(uri);
    config.default_namespace = "default".into();
    config.read_timeout = None;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&format!("{} {agent}", runner::USER_AGENT)).expect("agent"),
    ));
    Client::try_from(config).expect("client")
}

fn lease_config(env: &Env, identity: &str, lease_duration: Duration) -> LeaseConfig {
    let mut lease = LeaseConfig::new(LEASE, &env.ns, identity);
    lease.lease_duration = lease_duration;
    lease.retry_period = Duration::from_millis(100);
    lease
}

async fn holder(client: &Client, ns: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    api.get_opt(LEASE).await.ok().flatten().and_then(|l| l.spec).and_then(|s| s.holder_identity)
}

/// Reproduction 6a: a leader that cannot reach the API server stopped renewing but kept
/// reconciling (its renewal hung without a deadline, and a lost leader drained for up to 25 s).
/// Now it steps down at the renew deadline and stops every write before the lease can expire
/// for anybody else: it has ended before the standby holds the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_leader_stops_before_a_standby_can_take_over() {
    let env = env().await;
    let Some(kube) = emulated(&env, "a_partitioned_leader_stops") else { return env.stop().await };
    let lease_duration = Duration::from_secs(3);
    let a = Instance::start(
        agent_client(&kube, "replica-a"),
        options(&env, false, Some(lease_config(&env, "a", lease_duration))),
    );
    let led = wait_until(DEADLINE, || holder(&env.client, &env.ns), |h| h.as_deref() == Some("a")).await;
    assert!(led.is_some(), "a never led");
    let b = Instance::start(env.client.clone(), options(&env, false, Some(lease_config(&env, "b", lease_duration))));
    // b sees a renew for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(holder(&env.client, &env.ns).await.as_deref(), Some("a"));

    let cut = Instant::now();
    kube.faults().partition("replica-a");
    let mut a_ended: Option<Duration> = None;
    let mut b_leads: Option<Duration> = None;
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline && b_leads.is_none() {
        if a_ended.is_none() && a.is_finished() {
            a_ended = Some(cut.elapsed());
        }
        if holder(&env.client, &env.ns).await.as_deref() == Some("b") {
            b_leads = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kube.faults().heal();
    println!("partition: a ended after {a_ended:?}, b leads after {b_leads:?} (lease {lease_duration:?})");
    let b_leads = b_leads.expect("the standby never took over");
    let a_ended = a_ended.unwrap_or_else(|| panic!("the cut-off leader was still running when b led ({b_leads:?})"));
    assert!(a_ended < b_leads, "overlap: a ended {a_ended:?}, b led {b_leads:?}");
    assert!(b_leads >= lease_duration - Duration::from_millis(300), "b took an unexpired lease: {b_leads:?}");
    a.ended().await;
    b.stop().await;
    env.stop().await;
}

/// Reproduction 6b: expiry compared the holder's wall-clock renewTime with the candidate's
/// clock, so a live holder whose clock runs an hour behind lost its lease at once. Now a
/// candidate waits for the record to stay unchanged for the lease duration on its own clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_is_judged_on_the_candidates_clock_not_the_holders() {
    let env = env().await;
    let api: Api<Lease> = Api::namespaced(env.client.clone(), &env.ns);
    let an_hour_ago =
        || MicroTime(k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(1));
    let lease = Lease {
        metadata: ObjectMeta { name: Some(LEASE.into()), ..Default::default() },
        spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
            holder_identity: Some("skewed".into()),
            lease_duration_seconds: Some(2),
            acquire_time: Some(an_hour_ago()),
            renew_time: Some(an_hour_ago()),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    api.create(&PostParams::default(), &lease).await.expect("lease");
    let candidate = Instance::start(
        env.client.clone(),
        options(&env, false, Some(lease_config(&env, "candidate", Duration::from_secs(2)))),
    );
    // The skewed holder renews every 100 ms for 3 s (longer than the lease), with renewTime an
    // hour in the past each time.
    let renewing = Instant::now();
    while renewing.elapsed() < Duration::from_secs(3) {
        let mut l = api.get(LEASE).await.expect("lease");
        let spec = l.spec.get_or_insert_with(Default::default);
        assert_eq!(
            spec.holder_identity.as_deref(),
            Some("skewed"),
            "the candidate took a live lease after {:?}",
            renewing.elapsed()
        );
        spec.renew_time = Some(an_hour_ago());
        api.replace(LEASE, &PostParams::default(), &l).await.expect("the live holder renews");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last_renewal = Instant::now();
    let took = wait_until(DEADLINE, || holder(&env.client, &env.ns), |h| h.as_deref() == Some("candidate")).await;
    assert!(took.is_some(), "the candidate never took the abandoned lease");
    let after = last_renewal.elapsed();
    println!("skew: candidate led {after:?} after the last renewal (lease 2s)");
    assert!(after >= Duration::from_millis(1800), "took over {after:?} after the last renewal");
    candidate.stop().await;
    env.stop().await;
}
