//! End-to-end: fields a provider does not show back (issue 15). Against stand-ins that hide
//! them (famulor: the nickname on every read; bolna: media encryption, transport and auth type
//! in list items and PATCH responses; bolna create ignoring `is_active`), an unchanged trunk
//! costs no write over several drift windows, a change to such a field is sent exactly once
//! (judged by `status.lastApplied`), a field the create does not take is set in the same
//! reconcile, and a create refused because another trunk holds a DID is a Conflict naming the
//! DID after one create call.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};
use siptrunk_operator::crd::SipTrunk;
use siptrunk_operator::emulator::{Behaviour, EmulatorConfig, Flavor, Hostile};

/// Drift windows watched after each step.
const WINDOWS: u64 = 5;

/// A provider stand-in that shows back only what the reference pages show (or less).
fn hiding(flavor: Flavor) -> EmulatorConfig {
    let mut cfg = EmulatorConfig::new(flavor).with_rate_limit(None);
    cfg.behaviour = Behaviour {
        famulor_nickname_in_list: false,
        famulor_nickname_in_get: false,
        bolna_hide_unreliable_fields: true,
        bolna_create_ignores_is_active: true,
        ..Behaviour::default()
    };
    cfg
}

/// LiveKit shows back every field the operator sets but the password (which it never reads back),
/// so its world is the default one.
async fn started(family: Family) -> World {
    match family.emulator() {
        Some(flavor) => World::Api(Env::start_with(flavor, hiding(flavor), true).await),
        None => World::start(family).await,
    }
}

/// A trunk checked for drift every second, so a window is short.
fn fast(flavor: Family, name: &str, extra: Value) -> Value {
    let mut t = trunk(flavor, name, 3);
    merge(&mut t, json!({"spec": {"driftCheckInterval": "1s"}}));
    merge(&mut t, extra);
    t
}

/// SRTP over TLS with the optimistic fallback: the fields bolna's list does not show.
fn srtp() -> Value {
    json!({"spec": {"bolna": {"transport": "tls", "mediaEncryption": "sdes", "mediaEncryptionOptimistic": true}}})
}

/// Waits until the account has been listed `n` more times (one list per drift window).
async fn wait_windows(env: &World, n: u64) {
    let list = list_endpoint(env.family());
    let before = env.endpoint_calls(&list);
    env.wait_endpoint_calls(&list, before + n).await;
}

/// Waits for Ready at the current generation.
async fn ready(env: &World, name: &str) -> SipTrunk {
    env.wait_ready(name).await
}

/// status.lastApplied of a trunk.
fn record(t: SipTrunk) -> Vec<(String, String)> {
    t.status.and_then(|s| s.last_applied).unwrap_or_default().into_iter().collect()
}

/// (a) An unchanged trunk costs 0 writes over 5 drift windows on a stand-in hiding the fields.
async fn unchanged_trunk_costs_no_write(flavor: Family) {
    let env = started(flavor).await;
    env.put_secret("same-sip", "password", "pw-same").await;
    let extra = match flavor {
        Family::Bolna => srtp(),
        Family::Livekit => {
            json!({"spec": {"livekit": {"outbound": {"mediaEncryption": "allow", "destinationCountry": "US"}}}})
        }
        Family::Autocalls | Family::Famulor => json!({}),
    };
    env.apply(&fast(flavor, "same", extra)).await.expect("apply");
    ready(&env, "same").await;
    env.reset_calls();
    wait_windows(&env, WINDOWS).await;
    let t = env.wait_ready("same").await;
    assert_eq!(env.write_calls(), 0, "no write over {WINDOWS} drift windows: {}", env.calls_text());
    assert_eq!(ready_reason(&t).as_deref(), Some("Synced"));
    env.stop().await;
}

each_flavor! {
    unchanged_trunk_costs_no_write_over_five_drift_windows => unchanged_trunk_costs_no_write;
}

/// The one stored trunk's nickname (famulor stores it even where it never shows it).
fn stored_nickname(env: &World) -> String {
    env.only_remote()["nickname"].as_str().unwrap_or_default().to_string()
}

/// (b) famulor: a displayName change is sent once (one nickname call), then nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn famulor_display_name_change_is_sent_exactly_once() {
    let env = started(Family::Famulor).await;
    env.put_secret("nick-sip", "password", "pw-nick").await;
    env.apply(&fast(Family::Famulor, "nick", json!({"spec": {"displayName": "Before"}}))).await.expect("apply");
    ready(&env, "nick").await;
    assert!(stored_nickname(&env).starts_with("Before op:"), "{}", stored_nickname(&env));
    // The account's snapshot now comes from lists, which carry no nickname.
    wait_windows(&env, 2).await;

    env.reset_calls();
    env.apply(&fast(Family::Famulor, "nick", json!({"spec": {"displayName": "After"}}))).await.expect("apply");
    env.wait_remote("nickname renamed", |r| {
        r.len() == 1 && r[0]["nickname"].as_str().is_some_and(|n| n.starts_with("After op:"))
    })
    .await;
    ready(&env, "nick").await;
    wait_windows(&env, WINDOWS).await;
    assert_eq!(env.endpoint_calls("PUT /user/phone-numbers/{id}"), 1, "one nickname call");
    assert_eq!(env.write_calls(), 1, "nothing else: {:?}", env.api().provider.calls().to_json());
    let t = env.wait_ready("nick").await;
    assert_eq!(record(t), [("nickname".to_string(), stored_nickname(&env))], "the new nickname is recorded");
    env.stop().await;
}

/// The one stored bolna trunk's field.
fn stored(env: &World, field: &str) -> Value {
    env.only_remote()[field].clone()
}

/// Applies `extra` to the SRTP trunk and waits until the provider stores `want`; then watches
/// 5 drift windows and returns the PATCH calls made since the apply.
async fn bolna_change(env: &World, extra: Value, want: &[(&str, Value)]) -> u64 {
    env.reset_calls();
    let mut t = fast(Family::Bolna, "srtp", srtp());
    merge(&mut t, extra);
    env.apply(&t).await.expect("apply");
    env.wait_remote("the change is stored", |r| r.len() == 1 && want.iter().all(|(k, v)| &r[0][*k] == v)).await;
    ready(env, "srtp").await;
    wait_windows(env, WINDOWS).await;
    env.endpoint_calls("PATCH /sip-trunks/trunks/{trunk_id}")
}

/// (b) bolna: a change to each field the list does not show is sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_change_to_each_hidden_field_is_sent_exactly_once() {
    let env = started(Family::Bolna).await;
    env.put_secret("srtp-sip", "password", "pw-srtp").await;
    env.apply(&fast(Family::Bolna, "srtp", srtp())).await.expect("apply");
    ready(&env, "srtp").await;
    assert_eq!((stored(&env, "transport"), stored(&env, "media_encryption")), (json!("transport-tls"), json!("sdes")));

    let optimistic = json!({"spec": {"bolna": {"mediaEncryptionOptimistic": false}}});
    let patches = bolna_change(&env, optimistic, &[("media_encryption_optimistic", json!(false))]).await;
    assert_eq!(patches, 1, "media_encryption_optimistic sent once");

    let plain = json!({"spec": {"bolna": {"mediaEncryption": "none", "mediaEncryptionOptimistic": false}}});
    let patches = bolna_change(&env, plain.clone(), &[("media_encryption", json!("no"))]).await;
    assert_eq!(patches, 1, "media_encryption sent once");

    let mut tcp = plain;
    merge(&mut tcp, json!({"spec": {"bolna": {"transport": "tcp"}}}));
    let patches = bolna_change(&env, tcp, &[("transport", json!("transport-tcp"))]).await;
    assert_eq!(patches, 1, "transport sent once");
    assert_eq!(env.write_calls(), 1, "nothing else: {:?}", env.api().provider.calls().to_json());
    let t = env.wait_ready("srtp").await;
    assert_eq!(
        record(t),
        [
            ("media_encryption".to_string(), "no".to_string()),
            ("media_encryption_optimistic".to_string(), "false".to_string()),
            ("transport".to_string(), "transport-tcp".to_string()),
        ],
        "the applied values are recorded"
    );
    env.stop().await;
}

/// bolna's create page has no `is_active`: an inactive trunk is created, then deactivated by a
/// PATCH in the same reconcile, before it is reported Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_inactive_trunk_is_deactivated_in_the_same_reconcile_as_its_create() {
    let env = started(Family::Bolna).await;
    env.put_secret("off-sip", "password", "pw-off").await;
    env.apply(&fast(Family::Bolna, "off", json!({"spec": {"bolna": {"active": false}}}))).await.expect("apply");
    let t = ready(&env, "off").await;
    assert_eq!(stored(&env, "is_active"), json!(false), "the trunk is inactive once Ready");
    let id = t.status.and_then(|s| s.trunk_id).expect("trunk id");
    assert_eq!(
        env.api().provider.trunk_stats(env.token(), &id).map(|s| s.updates),
        Some(1),
        "one PATCH after the create"
    );
    let created = env.events_with_reason("off", "Created").await;
    assert!(
        created.iter().any(|e| e.note.as_deref().is_some_and(|n| n.contains("is_active"))),
        "the Created event names the field set after the create: {created:?}"
    );
    env.reset_calls();
    wait_windows(&env, WINDOWS).await;
    assert_eq!(env.write_calls(), 0, "and nothing afterwards");
    env.stop().await;
}

/// A field the create does not take is reported until it is set: a failed PATCH after the
/// create leaves the trunk's id recorded and a condition naming the field, then is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_field_set_after_create_is_reported_until_it_is_set() {
    let env = started(Family::Bolna).await;
    env.faults().fail_next("PATCH /sip-trunks/trunks/{trunk_id}", 1, 500);
    env.put_secret("late-sip", "password", "pw-late").await;
    env.apply(&fast(Family::Bolna, "late", json!({"spec": {"bolna": {"active": false}}}))).await.expect("apply");
    let t = ready(&env, "late").await;
    assert_eq!(stored(&env, "is_active"), json!(false));
    assert_eq!(env.endpoint_calls(&create_endpoint(Family::Bolna)), 1, "created once; the id was kept");
    let id = t.status.and_then(|s| s.trunk_id).expect("trunk id");
    assert_eq!(id, remote_id(&env.only_remote()));
    let warnings = env.events_with_reason("late", "ProviderError").await;
    assert!(
        warnings.iter().any(|e| e.note.as_deref().is_some_and(|n| n.contains("is_active") && n.contains(&id))),
        "the failure named the trunk and the field still to set: {warnings:?}"
    );
    env.stop().await;
}

/// A bolna stand-in that refuses a DID held elsewhere with 409, or with 422 (the guide: "409 / 422").
async fn started_refusing_dids_with(status: u16) -> World {
    let mut cfg = hiding(Flavor::Bolna);
    cfg.behaviour.bolna_did_conflict_422 = status == 422;
    World::Api(Env::start_with(Flavor::Bolna, cfg, true).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_did_on_another_trunk_is_a_conflict_after_one_create_call() {
    did_on_another_trunk_is_a_conflict_after_one_create_call(409).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_did_on_another_trunk_refused_with_422_is_a_conflict_after_one_create_call() {
    did_on_another_trunk_is_a_conflict_after_one_create_call(422).await;
}

/// (c) bolna: a create refused because another trunk holds the DID is a Conflict naming the DID,
/// after exactly one create call, and is not retried while nothing changes.
async fn did_on_another_trunk_is_a_conflict_after_one_create_call(status: u16) {
    let env = started_refusing_dids_with(status).await;
    let did = "+14155569999";
    let other = env
        .api()
        .provider
        .seed_trunk(env.token(), json!({"name": "someone-else", "phone_numbers": [{"phone_number": did}]}));
    assert!(!other.is_empty());
    // A second, unrelated trunk keeps the account's drift windows going.
    env.put_secret("bystander-sip", "password", "pw-by").await;
    env.apply(&fast(
        Family::Bolna,
        "bystander",
        json!({"spec": {"bolna": {"phoneNumbers": [{"number": "+14155568888"}]}}}),
    ))
    .await
    .expect("apply");
    ready(&env, "bystander").await;

    env.reset_calls();
    env.put_secret("taken-sip", "password", "pw-taken").await;
    let mut t = fast(Family::Bolna, "taken", json!({}));
    merge(&mut t, json!({"spec": {"bolna": {"phoneNumbers": [{"number": did}]}}}));
    env.apply(&t).await.expect("apply");
    let t = env.wait_reason("taken", "Conflict").await;
    let msg = ready_message(&t);
    assert!(msg.contains(did) && msg.contains(&other), "names the DID and the trunk holding it: {msg}");
    assert!(condition(&t, "Stalled").is_some_and(|c| c.status == "True"), "waits for a change");
    wait_windows(&env, WINDOWS).await;
    assert_eq!(env.endpoint_calls(&create_endpoint(Family::Bolna)), 1, "one create call");
    assert_eq!(ready_reason(&env.wait_reason("taken", "Conflict").await).as_deref(), Some("Conflict"));
    env.stop().await;
}

/// A 409 nothing in the account explains (here an autocalls one that echoes the request) is a Conflict that
/// waits for a change, after one create call, and its message carries neither the password nor
/// the API token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexplained_create_conflict_waits_and_never_shows_secrets() {
    const PW: &str = "PW-409-e2e-Vb7kQ2xR";
    let env = started(Family::Autocalls).await;
    env.put_secret("bystander-sip", "password", "pw-by").await;
    env.apply(&fast(Family::Autocalls, "bystander", json!({}))).await.expect("apply");
    ready(&env, "bystander").await;
    env.reset_calls();
    env.faults().hostile_next(&create_endpoint(Family::Autocalls), 1, Hostile::EchoRequest { status: 409 });
    env.put_secret("echo-sip", "password", PW).await;
    let mut t = trunk(Family::Autocalls, "echo", 4);
    merge(&mut t, json!({"spec": {"driftCheckInterval": "1s"}}));
    env.apply(&t).await.expect("apply");
    let got = env.wait_reason("echo", "Conflict").await;
    wait_windows(&env, WINDOWS).await;
    assert_eq!(env.endpoint_calls(&create_endpoint(Family::Autocalls)), 1, "one create call");
    let text = serde_json::to_string(&env.wait_reason("echo", "Conflict").await).unwrap_or_default();
    assert!(
        ready_message(&got).contains("[redacted]"),
        "the echo reached the condition, redacted: {}",
        ready_message(&got)
    );
    assert!(!text.contains(PW) && !text.contains(env.token()), "no secret in the object: {text}");
    for e in env.events_for("echo").await {
        let note = e.note.unwrap_or_default();
        assert!(!note.contains(PW) && !note.contains(env.token()), "no secret in events: {note}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_did_added_while_another_trunk_holds_it_is_a_conflict_after_one_call() {
    did_added_while_another_trunk_holds_it(409).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolna_did_added_while_another_trunk_holds_it_refused_with_422_is_a_conflict() {
    did_added_while_another_trunk_holds_it(422).await;
}

/// A DID added to an existing trunk while another trunk holds it is a Conflict naming the DID,
/// after one add call, and waits for a change.
async fn did_added_while_another_trunk_holds_it(status: u16) {
    let env = started_refusing_dids_with(status).await;
    let did = "+14155566666";
    env.api()
        .provider
        .seed_trunk(env.token(), json!({"name": "someone-else", "phone_numbers": [{"phone_number": did}]}));
    env.put_secret("grow-sip", "password", "pw-grow").await;
    env.apply(&fast(Family::Bolna, "grow", json!({}))).await.expect("apply");
    ready(&env, "grow").await;
    // A second, unrelated trunk keeps the account's drift windows going.
    env.put_secret("bystander-sip", "password", "pw-by").await;
    let bystander = json!({"spec": {"bolna": {"phoneNumbers": [{"number": "+14155568888"}]}}});
    env.apply(&fast(Family::Bolna, "bystander", bystander)).await.expect("apply");
    ready(&env, "bystander").await;
    env.reset_calls();
    let mut t = fast(Family::Bolna, "grow", json!({}));
    merge(&mut t, json!({"spec": {"bolna": {"phoneNumbers": [{"number": "+14155560003"}, {"number": did}]}}}));
    env.apply(&t).await.expect("apply");
    let got = env.wait_reason("grow", "Conflict").await;
    assert!(ready_message(&got).contains(did), "names the DID: {}", ready_message(&got));
    wait_windows(&env, WINDOWS).await;
    assert_eq!(env.endpoint_calls("POST /sip-trunks/trunks/{trunk_id}/numbers"), 1, "one add call");
    env.stop().await;
}
