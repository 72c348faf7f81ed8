//! One tenant cannot hurt another (issue 12, provider side): a black-holed account and an account
//! answering `429 Retry-After: 3600` do not stall a healthy one; one malformed list item stops only
//! its own trunk; a list beyond its budget is refused with a clear condition; a baseUrl outside
//! the egress policy is refused without a call; `Retry-After: 0` does not make a hot loop; unused
//! accounts are evicted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use siptrunk_operator::controller;
use siptrunk_operator::crd::{SipProvider, SipTrunk};
use siptrunk_operator::emulator::{EmulatorConfig, Flavor, Hostile, ProviderEmulator};
use siptrunk_operator::runner::{Instance, RunOptions};

/// Another provider account in the test namespace, served by its own emulator.
async fn extra_provider(env: &Env, name: &str, extra: serde_json::Value) -> ProviderEmulator {
    let token = format!("tok-{name}-{}", rand::random::<u32>());
    let emu = ProviderEmulator::start(EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(None).with_token(&token))
        .await
        .expect("emulator");
    env.put_secret(&format!("{name}-token"), "token", &token).await;
    let mut spec = json!({
        "type": "autocalls",
        "apiTokenSecretRef": {"name": format!("{name}-token"), "key": "token"},
        "baseUrl": emu.base_url(),
        "allowInsecureHttp": true,
        "rateLimit": {"requestsPerMinute": 60000, "burst": 100}
    });
    merge(&mut spec, extra);
    let api: Api<SipProvider> = Api::namespaced(env.client.clone(), &env.ns);
    let obj =
        json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipProvider", "metadata": {"name": name}, "spec": spec});
    api.patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(&obj)).await.expect("apply provider");
    emu
}

async fn trunk_on(env: &Env, provider: &str, name: &str, n: u32) {
    let mut t = trunk(Flavor::Autocalls, name, n);
    t["spec"]["providerRef"]["name"] = json!(provider);
    env.put_secret(&format!("{name}-sip"), "password", &format!("pw-{name}-isolation")).await;
    env.apply(&t).await.expect("apply trunk");
}

/// Time from creating a trunk on the healthy account to Ready.
async fn time_to_ready(env: &Env, name: &str, n: u32) -> Duration {
    env.put_secret(&format!("{name}-sip"), "password", &format!("pw-{name}-isolation")).await;
    let t0 = Instant::now();
    env.apply(&trunk(Flavor::Autocalls, name, n)).await.expect("apply trunk");
    env.wait_ready(name).await;
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_and_a_throttled_account_do_not_stall_a_healthy_one() {
    let env = Env::start(Flavor::Autocalls).await;
    let undisturbed = time_to_ready(&env, "calm", 1).await;

    // 20 trunks on an account that never answers (with the longest timeout allowed), 20 on one
    // that answers 429 Retry-After: 3600 — more than the controller's 8 workers.
    let hole = extra_provider(&env, "hole", json!({"requestTimeout": "60s"})).await;
    hole.faults().black_hole("*");
    let throttled = extra_provider(&env, "throttled", json!({})).await;
    throttled.faults().throttle_always("*", 3600, true);
    for i in 0..20 {
        trunk_on(&env, "hole", &format!("hole-{i}"), 100 + i).await;
        trunk_on(&env, "throttled", &format!("thr-{i}"), 200 + i).await;
    }
    // Both bad accounts are being worked on: the 429 account answered, the black hole holds a
    // reconcile (its list never returns; the emulator counts a call only once answered).
    env.wait_reason("thr-0", "RateLimited").await;
    let in_flight = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("siptrunk_reconciles_in_flight "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    wait_until(DEADLINE, || async { in_flight(&env.metrics()) }, |n| *n >= 1.0)
        .await
        .expect("the black-holed account holds a reconcile");
    let disturbed = time_to_ready(&env, "busy", 2).await;
    println!("ISOLATION undisturbed {:?} disturbed {:?}", undisturbed, disturbed);
    // Loose on purpose (shared CI machines); on the old code it took a whole request timeout (60 s).
    assert!(disturbed < Duration::from_secs(10), "healthy trunk took {disturbed:?} (undisturbed {undisturbed:?})");
    // The throttled account was asked once per trunk at most, not in a loop.
    assert!(throttled.calls().total() <= 3, "calls to the 429 account: {:?}", throttled.calls().to_json());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_malformed_list_item_stops_only_its_own_trunk() {
    let env = Env::start(Flavor::Autocalls).await;
    env.apply_provider(json!({"driftCheckInterval": "1s"})).await;
    for (i, name) in ["pa", "pb", "pc"].iter().enumerate() {
        env.put_secret(&format!("{name}-sip"), "password", "pw-poison-0001").await;
        env.apply(&trunk(Flavor::Autocalls, name, i as u32 + 1)).await.expect("apply");
        env.wait_ready(name).await;
    }
    env.provider
        .faults()
        .hostile_always(&list_endpoint(Flavor::Autocalls), Hostile::NullField { field: "sip_calling_format", nth: 1 });
    // Exactly one trunk learns that its own item is malformed, naming the field.
    let api = env.trunks();
    let poisoned = wait_until(
        DEADLINE,
        || async { api.list(&Default::default()).await.map(|l| l.items).unwrap_or_default() },
        |ts: &Vec<SipTrunk>| {
            ts.iter().any(|t| {
                ready_reason(t).as_deref() == Some("ProviderProtocolError")
                    && ready_message(t).contains("sip_calling_format")
            })
        },
    )
    .await
    .expect("the poisoned trunk got a condition naming the field");
    let bad: Vec<String> =
        poisoned.iter().filter(|t| ready_reason(t).as_deref() == Some("ProviderProtocolError")).map(name_of).collect();
    assert_eq!(bad.len(), 1, "only one trunk is affected: {bad:?}");
    // The rest of the account proceeds: a new trunk is created and becomes Ready.
    env.put_secret("pd-sip", "password", "pw-poison-0001").await;
    env.apply(&trunk(Flavor::Autocalls, "pd", 4)).await.expect("apply");
    env.wait_ready("pd").await;
    for name in ["pa", "pb", "pc"].iter().filter(|n| !bad.contains(&n.to_string())) {
        env.wait_ready(name).await;
    }
    let m = env.metrics();
    assert!(
        m.lines().any(|l| l.starts_with("siptrunk_provider_list_items_skipped_total{") && !l.ends_with(" 0")),
        "skipped items are counted:\n{m}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_beyond_its_budget_is_refused_with_a_clear_condition() {
    let env = Env::start(Flavor::Autocalls).await;
    // Bytes: 8 MiB of tiny items against a 2 MiB budget.
    env.apply_provider(json!({"listBudget": {"maxMebibytes": 2}})).await;
    env.provider.faults().hostile_always(&list_endpoint(Flavor::Autocalls), Hostile::HugeList { bytes: 8 << 20 });
    env.put_secret("big-sip", "password", "pw-budget-0001").await;
    env.apply(&trunk(Flavor::Autocalls, "big", 1)).await.expect("apply");
    let t = env.wait_reason("big", "ListBudgetExceeded").await;
    assert!(ready_message(&t).contains("list budget"), "{}", ready_message(&t));
    assert_eq!(env.write_calls(), 0, "nothing was created on a list that was not read whole");
    // Items: 2,000 tiny items (about 30 KB) against a budget of 100.
    env.provider.faults().clear();
    env.provider.faults().hostile_always(&list_endpoint(Flavor::Autocalls), Hostile::HugeList { bytes: 30_000 });
    env.apply_provider(json!({"listBudget": {"maxItems": 100}})).await;
    let t = env.wait_for("big", "item budget named", |t| ready_message(t).contains("more than 100 items")).await;
    assert_eq!(ready_reason(&t).as_deref(), Some("ListBudgetExceeded"));
    assert_eq!(env.write_calls(), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_outside_the_egress_policy_is_refused_without_a_call() {
    let mut env =
        Env::start_with(Flavor::Autocalls, EmulatorConfig::new(Flavor::Autocalls).with_rate_limit(None), false).await;
    // The operator's default policy: only each type's documented host.
    let opts = RunOptions {
        http_addr: None,
        controller: controller::Config { namespace: Some(env.ns.clone()), concurrency: 4, ..Default::default() },
        lease: None,
    };
    let instance = Instance::start(env.client.clone(), opts);
    env.put_secret("ssrf-sip", "password", "pw-egress-0001").await;
    env.apply(&trunk(Flavor::Autocalls, "ssrf", 1)).await.expect("apply");
    for url in ["https://kubernetes.default.svc/api", "http://169.254.169.254/latest", &env.provider.base_url()] {
        env.apply_provider(json!({"baseUrl": url})).await;
        let host = url.split("://").nth(1).and_then(|r| r.split(['/', ':']).next()).unwrap_or_default().to_string();
        env.wait_for("ssrf", &format!("{host} refused by the egress policy"), |t| {
            ready_reason(t).as_deref() == Some("ProviderConfigInvalid")
                && ready_message(t).contains("egress policy")
                && ready_message(t).contains(&format!("host {host} "))
        })
        .await;
    }
    assert_eq!(env.provider.calls().total(), 0, "no request left for a host outside the policy");
    instance.stop().await;
    env.kill_controller();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_zero_backs_off_instead_of_looping() {
    let env = Env::start(Flavor::Autocalls).await;
    env.provider.faults().throttle_always("*", 0, true);
    env.put_secret("hot-sip", "password", "pw-hotloop-001").await;
    let t0 = Instant::now();
    env.apply(&trunk(Flavor::Autocalls, "hot", 1)).await.expect("apply");
    env.wait_reason("hot", "RateLimited").await;
    let five = wait_until(Duration::from_secs(90), || async { env.provider.calls().status(429) }, |n| *n >= 5).await;
    assert!(five.is_some(), "the 429s go on");
    let took = t0.elapsed();
    // Growing waits (0.25 s, 0.5 s, 1 s, 2 s at the account, and the trunk's own backoff): the old
    // code asked again every 0-0.5 s, five times in about 1.3 s.
    assert!(took >= Duration::from_secs(3), "five 429s in {took:?}: the backoff does not grow");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_no_object_uses_are_evicted() {
    let env = Env::start(Flavor::Autocalls).await;
    env.put_secret("ev-sip", "password", "pw-evict-00001").await;
    env.apply(&trunk(Flavor::Autocalls, "ev", 1)).await.expect("apply");
    env.wait_ready("ev").await;
    let gauge = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("siptrunk_provider_accounts "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let held = wait_until(DEADLINE, || async { gauge(&env.metrics()) }, |g| *g == Some(1.0)).await;
    assert!(held.is_some(), "one account held while used:\n{}", env.metrics());
    env.delete("ev").await;
    env.wait_gone("ev").await;
    let api: Api<SipProvider> = Api::namespaced(env.client.clone(), &env.ns);
    api.delete(PROVIDER, &DeleteParams::default()).await.expect("delete provider");
    let gone = wait_until(DEADLINE, || async { gauge(&env.metrics()) }, |g| *g == Some(0.0)).await;
    assert!(gone.is_some(), "the account was evicted:\n{}", env.metrics());
    env.stop().await;
}
