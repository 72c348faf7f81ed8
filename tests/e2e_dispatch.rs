//! End-to-end: SipDispatchRules on a LiveKit SIP provider, through the real controller, the
//! emulated Kubernetes API and the LiveKit emulator.

#[macro_use]
mod common;

use common::Cluster;
use common::livekit::{LkEnv, lk_trunk};
use common::{DEADLINE, PROVIDER, wait_object, wait_until};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use siptrunk_operator::crd::SipTrunk;
use siptrunk_operator::crd::dispatch::SipDispatchRule;
use siptrunk_operator::provider::livekit::TrunkScope;
use siptrunk_operator::provider::livekit::wire::{
    DispatchRuleKind, SipDispatchRule as WireRule, SipDispatchRuleDirect, SipDispatchRuleUpdate, SipInboundTrunkInfo,
};

const PASSWORD: &str = "Carrier-pass-0001";

fn rules(env: &LkEnv) -> Api<SipDispatchRule> {
    Api::namespaced(env.client.clone(), &env.ns)
}

fn rule(name: &str, trunks: &[&str], extra: Value) -> Value {
    let refs: Vec<Value> = trunks.iter().map(|t| json!({"name": t})).collect();
    let mut spec = json!({
        "providerRef": {"kind": "SipProvider", "name": PROVIDER},
        "trunkRefs": refs,
        "rule": {"individual": {"roomPrefix": "call-"}},
        "attributes": {"team": "support"}
    });
    common::merge(&mut spec, extra);
    json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipDispatchRule", "metadata": {"name": name}, "spec": spec})
}

async fn apply_rule(env: &LkEnv, obj: &Value) -> SipDispatchRule {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    rules(env).patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(obj)).await.expect("apply rule")
}

fn reason(r: &SipDispatchRule) -> Option<String> {
    r.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.reason.clone())
}

fn ready(r: &SipDispatchRule) -> bool {
    r.status.as_ref().is_some_and(|s| {
        s.observed_generation == r.metadata.generation
            && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

async fn wait_rule(env: &LkEnv, name: &str, what: &str, pred: impl Fn(&SipDispatchRule) -> bool) -> SipDispatchRule {
    wait_object(&rules(env), name, &format!("rule {what}"), pred, |r| format!("{:?}", r.status)).await
}

async fn wait_reason(env: &LkEnv, name: &str, want: &str) -> SipDispatchRule {
    wait_rule(env, name, &format!("Ready reason {want}"), |r| reason(r).as_deref() == Some(want)).await
}

/// The value of one sample of the controller's metrics (0 when absent).
fn metric(env: &LkEnv, sample: &str) -> f64 {
    env.metrics().lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
}

fn remote_rules(env: &LkEnv) -> Vec<Value> {
    env.lk.snapshot()["dispatch_rules"].as_array().cloned().unwrap_or_default()
}

fn trunk_ids(r: &Value) -> Vec<String> {
    let mut v: Vec<String> = r["trunk_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn trunk_id(t: &SipTrunk) -> String {
    t.status.as_ref().and_then(|s| s.trunk_id.clone()).unwrap_or_default()
}

fn rule_id(r: &SipDispatchRule) -> String {
    r.status.as_ref().and_then(|s| s.rule_id.clone()).unwrap_or_default()
}

async fn inbound(env: &LkEnv, name: &str, number: &str) -> String {
    env.put_secret(&format!("{name}-sip"), "password", PASSWORD).await;
    env.apply(&lk_trunk(name, true, &[number])).await.expect("apply trunk");
    trunk_id(&env.wait_ready(name).await)
}

async fn started() -> LkEnv {
    let env = LkEnv::start().await;
    env.apply_provider(json!({"driftCheckInterval": "1s"})).await;
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_waits_for_its_trunk_then_names_exactly_that_trunk() {
    let env = started().await;
    apply_rule(&env, &rule("support", &["in"], json!({}))).await;
    let r = wait_reason(&env, "support", "TrunkNotReady").await;
    assert!(format!("{:?}", r.status).contains("in"), "the waiting message names the trunk: {:?}", r.status);
    assert_eq!(env.calls("CreateSIPDispatchRule"), 0, "no provider call while waiting");
    // An outbound trunk on the same project is never named.
    env.put_secret("out-sip", "password", PASSWORD).await;
    env.apply(&lk_trunk("out", false, &["+14155550199"])).await.expect("apply outbound");
    let id = inbound(&env, "in", "+14155550100").await;
    let r = wait_rule(&env, "support", "Ready", ready).await;
    let remote = remote_rules(&env);
    assert_eq!(remote.len(), 1, "{remote:?}");
    assert_eq!(trunk_ids(&remote[0]), vec![id.clone()]);
    assert_eq!(remote[0]["sip_dispatch_rule_id"].as_str(), Some(rule_id(&r).as_str()));
    let meta = remote[0]["metadata"].as_str().unwrap_or_default();
    assert!(meta.starts_with("managed-by=siptrunk-operator key=op:") && meta.ends_with("part=dispatch"), "{meta}");
    assert_eq!(r.status.as_ref().map(|s| s.trunk_ids.clone()), Some(vec![id]));
    assert_eq!(env.calls("CreateSIPDispatchRule"), 1);
    let counted = wait_until(
        DEADLINE,
        || async { metric(&env, "siptrunk_dispatch_rule_reconciles_total{result=\"success\"}") },
        |n| *n >= 1.0,
    )
    .await;
    assert!(counted.is_some(), "rule reconciles by result: {}", env.metrics());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_and_trunk_ref_changes_update_the_ids() {
    let env = started().await;
    let a = inbound(&env, "in-a", "+14155550100").await;
    let b = inbound(&env, "in-b", "+14155550101").await;
    apply_rule(&env, &rule("support", &["in-a"], json!({}))).await;
    let id = rule_id(&wait_rule(&env, "support", "Ready", ready).await);
    // Someone edits the rule at LiveKit: another room kind and another trunk.
    let drift = SipDispatchRuleUpdate {
        rule: Some(WireRule {
            rule: Some(DispatchRuleKind::DispatchRuleDirect(SipDispatchRuleDirect {
                room_name: "lobby".into(),
                pin: String::new(),
            })),
        }),
        trunk_ids: Some(siptrunk_operator::provider::livekit::wire::ListUpdate::set(vec![b.clone()])),
        ..Default::default()
    };
    env.project().update_dispatch_rule(&id, drift, TrunkScope::Listed).await.expect("drift at LiveKit");
    let back = wait_until(
        DEADLINE,
        || async { remote_rules(&env) },
        |r| r.len() == 1 && trunk_ids(&r[0]) == vec![a.clone()] && r[0].to_string().contains("call-"),
    )
    .await;
    assert!(back.is_some(), "drift corrected: {:?}", remote_rules(&env));
    // A field only replace can change: hide_phone_number.
    let mut info = env.project().list_dispatch_rules_by_ids(std::slice::from_ref(&id)).await.expect("get")[0]
        .clone()
        .expect("rule");
    info.hide_phone_number = true;
    env.project().replace_dispatch_rule(&id, info, TrunkScope::Listed).await.expect("replace at LiveKit");
    let back = wait_until(
        DEADLINE,
        || async { remote_rules(&env) },
        |r| r.len() == 1 && r[0]["hide_phone_number"] != json!(true),
    )
    .await;
    assert!(back.is_some(), "replace-only drift corrected: {:?}", remote_rules(&env));
    // trunkRefs change: both trunks.
    apply_rule(&env, &rule("support", &["in-a", "in-b"], json!({}))).await;
    let want = {
        let mut v = vec![a.clone(), b.clone()];
        v.sort();
        v
    };
    let r = wait_rule(&env, "support", "Ready with both ids", |r| {
        ready(r) && r.status.as_ref().is_some_and(|s| s.trunk_ids == want)
    })
    .await;
    assert_eq!(rule_id(&r), id, "the same rule, updated");
    let remote = remote_rules(&env);
    assert_eq!((remote.len(), trunk_ids(&remote[0])), (1, want));
    assert_eq!(env.calls("CreateSIPDispatchRule"), 1, "never re-created");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_trunk_id_or_a_name_of_another_namespace_is_never_sent() {
    // The default drift interval: the trunk controller leaves the forged status alone meanwhile.
    let env = LkEnv::start().await;
    let ours = inbound(&env, "in", "+14155550100").await;
    // Another tenant's inbound trunk on the same project (its marker is another object's).
    let foreign = env
        .project()
        .create_inbound(SipInboundTrunkInfo {
            name: "tenant-b".into(),
            metadata: "managed-by=siptrunk-operator key=op:0123456789ab part=inbound".into(),
            numbers: vec!["+14155550177".into()],
            ..Default::default()
        })
        .await
        .expect("foreign trunk")
        .sip_trunk_id;
    assert_ne!(ours, foreign);
    // The SipTrunk's status is forged to point at it.
    env.trunks()
        .patch_status("in", &PatchParams::default(), &Patch::Merge(json!({"status": {"trunkId": foreign}})))
        .await
        .expect("forge status");
    apply_rule(&env, &rule("support", &["in"], json!({}))).await;
    let r = wait_reason(&env, "support", "TrunkNotOwned").await;
    assert!(r.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True")));
    assert_eq!(env.calls("CreateSIPDispatchRule"), 0, "{:?}", remote_rules(&env));
    assert!(remote_rules(&env).is_empty());

    // A name resolves in the rule's own namespace only: a SipTrunk of that name elsewhere is
    // not found.
    let other = format!("{}-other", env.ns);
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    nss.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": other}})).expect("ns"))
        .await
        .expect("namespace");
    let elsewhere: Api<SipTrunk> = Api::namespaced(env.client.clone(), &other);
    let mut t = lk_trunk("theirs", true, &["+14155550178"]);
    t["metadata"]["namespace"] = json!(other);
    elsewhere.patch("theirs", &PatchParams::apply("e2e").force(), &Patch::Apply(&t)).await.expect("other trunk");
    apply_rule(&env, &rule("cross", &["theirs"], json!({}))).await;
    let r = wait_reason(&env, "cross", "TrunkNotReady").await;
    let msg = format!("{:?}", r.status);
    assert!(msg.contains(&format!("{}/theirs does not exist", env.ns)), "{msg}");
    assert_eq!(env.calls("CreateSIPDispatchRule"), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_trunks_is_refused_on_a_cluster_provider() {
    let env = started().await;
    let cluster: Api<siptrunk_operator::crd::ClusterSipProvider> = Api::all(env.client.clone());
    let name = format!("{}-shared", env.ns);
    let obj = json!({"apiVersion": "siptrunk.dev/v1alpha1", "kind": "ClusterSipProvider", "metadata": {"name": name},
        "spec": {"type": "livekit", "apiKey": common::livekit::KEY,
                 "apiTokenSecretRef": {"namespace": env.ns, "name": "provider-token", "key": "token"},
                 "baseUrl": env.lk.base_url(), "allowInsecureHttp": true}});
    cluster.patch(&name, &PatchParams::apply("e2e").force(), &Patch::Apply(&obj)).await.expect("cluster provider");
    let mut r = rule("everything", &[], json!({"allTrunks": true}));
    r["spec"]["providerRef"] = json!({"kind": "ClusterSipProvider", "name": name});
    r["spec"].as_object_mut().map(|s| s.remove("trunkRefs"));
    apply_rule(&env, &r).await;
    let got = wait_reason(&env, "everything", "AllTrunksRefused").await;
    assert!(format!("{:?}", got.status).contains("ClusterSipProvider"));
    assert_eq!(env.calls("CreateSIPDispatchRule") + env.calls("ListSIPDispatchRule"), 0);
    // The failed reconcile is counted with its reason (after the status write, so waited for).
    let counted = wait_until(
        DEADLINE,
        || async { metric(&env, "siptrunk_dispatch_rule_reconcile_errors_total{reason=\"AllTrunksRefused\"}") },
        |n| *n >= 1.0,
    )
    .await;
    assert!(counted.is_some(), "rule errors by reason: {}", env.metrics());
    assert!(metric(&env, "siptrunk_dispatch_rule_reconciles_total{result=\"error\"}") >= 1.0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_adopted_and_deletion_removes_the_rule() {
    let env = started().await;
    inbound(&env, "in", "+14155550100").await;
    env.lk.faults().drop_next_after_commit("POST /twirp/livekit.SIP/CreateSIPDispatchRule", 1);
    apply_rule(&env, &rule("support", &["in"], json!({}))).await;
    let r = wait_rule(&env, "support", "Ready", ready).await;
    let remote = remote_rules(&env);
    assert_eq!(remote.len(), 1, "no duplicate: {remote:?}");
    assert_eq!(env.calls("CreateSIPDispatchRule"), 1, "the create is not repeated");
    assert_eq!(remote[0]["sip_dispatch_rule_id"].as_str(), Some(rule_id(&r).as_str()));
    assert!(r.status.as_ref().is_some_and(|s| s.create_intent.is_none()));
    // Deleting the object deletes the rule at LiveKit.
    rules(&env).delete("support", &Default::default()).await.expect("delete");
    let gone = wait_until(
        DEADLINE,
        || async { rules(&env).get_opt("support").await.ok().flatten().is_none() && remote_rules(&env).is_empty() },
        |g| *g,
    )
    .await;
    assert!(gone.is_some(), "object and rule gone: {:?}", remote_rules(&env));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_referenced_trunk_is_gone_the_rule_is_deleted_not_emptied() {
    let env = started().await;
    inbound(&env, "in", "+14155550100").await;
    let other = inbound(&env, "in-b", "+14155550101").await;
    apply_rule(&env, &rule("support", &["in", "in-b"], json!({}))).await;
    wait_rule(&env, "support", "Ready", ready).await;
    // One referenced trunk goes: its id is dropped, the rule serves the other and says so.
    env.delete("in-b").await;
    env.wait_gone("in-b").await;
    let r = wait_reason(&env, "support", "TrunkNotReady").await;
    assert!(format!("{:?}", r.status).contains("in-b does not exist"), "{:?}", r.status);
    let dropped = wait_until(
        DEADLINE,
        || async { remote_rules(&env) },
        |r| r.len() == 1 && !trunk_ids(&r[0]).contains(&other) && !trunk_ids(&r[0]).is_empty(),
    )
    .await;
    assert!(dropped.is_some(), "the deleted trunk's id is dropped: {:?}", remote_rules(&env));
    // The last one goes: the rule is deleted at LiveKit, never left with an empty list.
    env.delete("in").await;
    env.wait_gone("in").await;
    let r = wait_rule(&env, "support", "rule removed", |r| {
        reason(r).as_deref() == Some("TrunkNotReady") && r.status.as_ref().is_some_and(|s| s.rule_id.is_none())
    })
    .await;
    assert!(format!("{:?}", r.status).contains("does not exist"), "{:?}", r.status);
    assert!(remote_rules(&env).is_empty(), "{:?}", remote_rules(&env));
    let events = env.events_for("support").await;
    assert!(events.iter().any(|e| e.reason.as_deref() == Some("Deleted")), "a Deleted event: {events:?}");
    // Orphan keeps a rule at LiveKit when the object goes.
    inbound(&env, "in", "+14155550100").await;
    apply_rule(&env, &rule("support", &["in"], json!({"deletionPolicy": "Orphan"}))).await;
    wait_rule(&env, "support", "Ready again", |r| ready(r) && !rule_id(r).is_empty()).await;
    rules(&env).delete("support", &Default::default()).await.expect("delete");
    let gone =
        wait_until(DEADLINE, || async { rules(&env).get_opt("support").await.ok().flatten().is_none() }, |g| *g).await;
    assert!(gone.is_some());
    assert_eq!(remote_rules(&env).len(), 1, "Orphan keeps the rule");
    env.stop().await;
}

/// The finalizers of an object, None once it is gone.
async fn finalizers_of<K>(api: &Api<K>, name: &str) -> Option<Vec<String>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.ok().flatten().map(|o| o.meta().finalizers.clone().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_keeps_its_provider_and_token_secret_until_its_rule_is_deleted() {
    use k8s_openapi::api::core::v1::Secret;
    use siptrunk_operator::crd::SipProvider;
    let env = started().await;
    // The trunk is orphaned on deletion, so only the rule needs the provider to delete anything.
    env.put_secret("in-sip", "password", PASSWORD).await;
    let mut t = lk_trunk("in", true, &["+14155550100"]);
    common::merge(&mut t, json!({"spec": {"deletionPolicy": "Orphan"}}));
    env.apply(&t).await.expect("apply trunk");
    env.wait_ready("in").await;
    apply_rule(&env, &rule("support", &["in"], json!({}))).await;
    wait_rule(&env, "support", "Ready", ready).await;

    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let providers: Api<SipProvider> = Api::namespaced(env.client.clone(), &env.ns);
    let in_use = |f: &Option<Vec<String>>| f.as_ref().is_some_and(|f| f.iter().any(|x| x == "siptrunk.dev/in-use"));
    let protected = wait_until(
        DEADLINE,
        || async { (finalizers_of(&secrets, "provider-token").await, finalizers_of(&providers, PROVIDER).await) },
        |(s, p)| in_use(s) && in_use(p),
    )
    .await;
    assert!(
        protected.is_some(),
        "the rule protects its token Secret and SipProvider: {:?} {:?}",
        finalizers_of(&secrets, "provider-token").await,
        finalizers_of(&providers, PROVIDER).await
    );

    // Provider and Secret are deleted before the rule (as a namespace deletion may): they wait,
    // the rule is still deleted at LiveKit, and then they go.
    providers.delete(PROVIDER, &Default::default()).await.expect("delete provider");
    secrets.delete("provider-token", &Default::default()).await.expect("delete secret");
    rules(&env).delete("support", &Default::default()).await.expect("delete rule");
    let done = wait_until(
        DEADLINE,
        || async {
            (
                rules(&env).get_opt("support").await.ok().flatten().is_none(),
                remote_rules(&env).len(),
                finalizers_of(&providers, PROVIDER).await,
                finalizers_of(&secrets, "provider-token").await,
            )
        },
        |(rule_gone, remote, p, s)| *rule_gone && *remote == 0 && p.is_none() && s.is_none(),
    )
    .await;
    assert!(
        done.is_some(),
        "rule deleted at LiveKit, then provider and Secret released: rule {:?}, remote {:?}",
        rules(&env).get_opt("support").await.ok().flatten().and_then(|r| r.status),
        remote_rules(&env)
    );
    env.stop().await;
}
