//! The LiveKit SIP client (`provider::livekit`) against the LiveKit emulator flavor, over real
//! HTTP: trunks and dispatch rules through their whole life, the list-by-ids null semantics,
//! JWT refusals, Twirp errors, faults, timeouts and secret redaction. The official Python SDK
//! drives the same emulator in `tests/livekit/run.sh`.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use siptrunk_operator::emulator::Hostile;
use siptrunk_operator::emulator::livekit::{LiveKitConfig, LiveKitEmulator};
use siptrunk_operator::metrics::Metrics;
use siptrunk_operator::provider::ProviderError;
use siptrunk_operator::provider::list::ListBudget;
use siptrunk_operator::provider::livekit::auth;
use siptrunk_operator::provider::livekit::wire::*;
use siptrunk_operator::provider::livekit::{Client, Config, TrunkScope};

const KEY: &str = "APItestkey";
const SECRET: &str = "test-secret-0123456789abcdef0123456789";
const PASSWORD: &str = "sip-password-ABC123";

async fn emulator() -> LiveKitEmulator {
    siptrunk_operator::tls::install_crypto_provider();
    LiveKitEmulator::start(LiveKitConfig::default().with_key(KEY, SECRET)).await.expect("emulator starts")
}

fn config(emu: &LiveKitEmulator, secret: &str) -> Config {
    let mut cfg = Config::new(emu.base_url(), KEY, SecretString::from(secret.to_string()));
    cfg.allow_insecure_http = true;
    cfg.timeout = Duration::from_secs(5);
    cfg.rate_per_second = 1000.0;
    cfg.burst = 100;
    cfg
}

fn client(emu: &LiveKitEmulator) -> Client {
    Client::new(config(emu, SECRET), Arc::new(Metrics::default())).expect("client")
}

fn inbound(number: &str) -> SipInboundTrunkInfo {
    SipInboundTrunkInfo {
        name: "main line".into(),
        metadata: "op:0123456789".into(),
        numbers: vec![number.into()],
        allowed_addresses: vec!["203.0.113.0/24".into()],
        auth_username: "main".into(),
        auth_password: PASSWORD.into(),
        media_encryption: SipMediaEncryption::Allow as i32,
        ringing_timeout: Some(secs(30)),
        ..Default::default()
    }
}

/// A protobuf duration of whole seconds.
fn secs(seconds: i64) -> siptrunk_operator::provider::livekit::wire::Duration {
    siptrunk_operator::provider::livekit::wire::Duration { seconds, nanos: 0 }
}

fn outbound() -> SipOutboundTrunkInfo {
    SipOutboundTrunkInfo {
        name: "out".into(),
        metadata: "op:0123456789".into(),
        address: "sip.carrier.example".into(),
        transport: SipTransport::Tcp as i32,
        numbers: vec!["+15105550100".into()],
        auth_username: "out".into(),
        auth_password: PASSWORD.into(),
        destination_country: "US".into(),
        ..Default::default()
    }
}

fn individual(prefix: &str) -> SipDispatchRule {
    SipDispatchRule {
        rule: Some(DispatchRuleKind::DispatchRuleIndividual(SipDispatchRuleIndividual {
            room_prefix: prefix.into(),
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn inbound_outbound_and_dispatch_rule_lifecycle() {
    let emu = emulator().await;
    let c = client(&emu);

    let inb = c.create_inbound(inbound("+15105550100")).await.expect("create inbound");
    assert!(inb.sip_trunk_id.starts_with("ST_") && inb.sip_trunk_id.len() == 15, "{}", inb.sip_trunk_id);
    assert_eq!(inb.ringing_timeout, Some(secs(30)));
    assert!(emu.password_matches(&inb.sip_trunk_id, PASSWORD));
    let out = c.create_outbound(outbound()).await.expect("create outbound");
    assert_ne!(out.sip_trunk_id, inb.sip_trunk_id);

    assert_eq!(c.list_inbound().await.expect("list").len(), 1);
    assert_eq!(c.get_inbound(&inb.sip_trunk_id).await.expect("get").numbers, ["+15105550100"]);
    assert_eq!(c.get_outbound(&out.sip_trunk_id).await.expect("get").transport, SipTransport::Tcp as i32);

    // Password rotation and a number added: a partial update, same id, nothing else touched.
    let rotated = c
        .update_inbound(
            &inb.sip_trunk_id,
            SipInboundTrunkUpdate {
                auth_password: Some("rotated-password-XYZ".into()),
                numbers: Some(ListUpdate { add: vec!["+15105550101".into()], ..Default::default() }),
                ..Default::default()
            },
        )
        .await
        .expect("update inbound");
    assert_eq!(rotated.sip_trunk_id, inb.sip_trunk_id);
    assert_eq!(rotated.numbers, ["+15105550100", "+15105550101"]);
    assert_eq!(rotated.allowed_addresses, inb.allowed_addresses);
    assert_eq!(rotated.ringing_timeout, Some(secs(30)), "fields outside the update survive");
    assert!(emu.password_matches(&inb.sip_trunk_id, "rotated-password-XYZ"));

    let moved = c
        .update_outbound(
            &out.sip_trunk_id,
            SipOutboundTrunkUpdate {
                address: Some("sip2.carrier.example".into()),
                transport: Some(SipTransport::Auto as i32),
                numbers: Some(ListUpdate::set(vec!["+15105550199".into()])),
                ..Default::default()
            },
        )
        .await
        .expect("update outbound");
    assert_eq!(
        (moved.address.as_str(), moved.transport, moved.numbers.as_slice()),
        ("sip2.carrier.example", 0, ["+15105550199".to_string()].as_slice())
    );
    assert_eq!(moved.destination_country, "US");

    let rule = c
        .create_dispatch_rule(
            SipDispatchRuleInfo {
                rule: Some(individual("call-")),
                trunk_ids: vec![inb.sip_trunk_id.clone()],
                name: "main".into(),
                metadata: "op:0123456789".into(),
                ..Default::default()
            },
            TrunkScope::Listed,
        )
        .await
        .expect("create rule");
    assert!(rule.sip_dispatch_rule_id.starts_with("SDR_") && rule.sip_dispatch_rule_id.len() == 16);
    let rules = c.list_dispatch_rules(std::slice::from_ref(&inb.sip_trunk_id)).await.expect("list rules");
    assert_eq!(rules.len(), 1);
    let renamed = c
        .update_dispatch_rule(
            &rule.sip_dispatch_rule_id,
            SipDispatchRuleUpdate { name: Some("renamed".into()), ..Default::default() },
            TrunkScope::Listed,
        )
        .await
        .expect("update rule");
    assert_eq!((renamed.name.as_str(), renamed.trunk_ids.as_slice()), ("renamed", rule.trunk_ids.as_slice()));

    c.delete_dispatch_rule(&rule.sip_dispatch_rule_id).await.expect("delete rule");
    let gone = c.delete_trunk(&inb.sip_trunk_id).await.expect("delete inbound");
    assert_eq!(gone.kind, TrunkKind::Inbound as i32);
    c.delete_trunk(&out.sip_trunk_id).await.expect("delete outbound");
    assert!(matches!(c.delete_trunk(&out.sip_trunk_id).await, Err(ProviderError::NotFound { .. })));
    assert!(matches!(c.get_inbound(&inb.sip_trunk_id).await, Err(ProviderError::NotFound { .. })));
    assert!(c.list_inbound().await.expect("list").is_empty());
    assert!(c.list_outbound().await.expect("list").is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn full_lists_follow_pages() {
    let emu = emulator().await;
    let mut cfg = config(&emu, SECRET);
    cfg.page_size = 3;
    let c = Client::new(cfg, Arc::new(Metrics::default())).expect("client");
    for i in 0..7 {
        c.create_inbound(inbound(&format!("+1510555{i:04}"))).await.expect("create");
    }
    let before = emu.total_calls();
    let all = c.list_inbound().await.expect("list");
    assert_eq!(all.len(), 7);
    assert_eq!(emu.total_calls() - before, 3, "pages of 3, 3 and 1");
    let mut ids: Vec<_> = all.iter().map(|t| t.sip_trunk_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 7, "no duplicates");
    emu.shutdown().await;
}

#[tokio::test]
async fn full_lists_stay_within_the_list_budget() {
    let emu = emulator().await;
    let c = client(&emu);
    for i in 0..7 {
        c.create_inbound(inbound(&format!("+1510555{i:04}"))).await.expect("create");
    }
    let mut cfg = config(&emu, SECRET);
    cfg.page_size = 3;
    cfg.list_budget = ListBudget { max_bytes: 1 << 20, max_items: 5 };
    let few = Client::new(cfg.clone(), Arc::new(Metrics::default())).expect("client");
    let err = few.list_inbound().await.expect_err("over the item budget");
    assert!(matches!(err, ProviderError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("more than 5 items"), "{err}");
    cfg.list_budget = ListBudget { max_bytes: 200, max_items: 100 };
    let small = Client::new(cfg.clone(), Arc::new(Metrics::default())).expect("client");
    let err = small.list_inbound().await.expect_err("over the byte budget");
    assert!(err.to_string().contains("more than 200 bytes"), "{err}");
    cfg.list_budget = ListBudget::default();
    let enough = Client::new(cfg, Arc::new(Metrics::default())).expect("client");
    assert_eq!(enough.list_inbound().await.expect("within budget").len(), 7);
    emu.shutdown().await;
}

#[tokio::test]
async fn list_by_ids_reports_missing_trunks_in_place() {
    let emu = emulator().await;
    let c = client(&emu);
    let a = c.create_inbound(inbound("+15105550100")).await.expect("a");
    let b = c.create_inbound(inbound("+15105550101")).await.expect("b");
    let ids = vec![b.sip_trunk_id.clone(), "ST_doesnotexist".to_string(), a.sip_trunk_id.clone()];
    let got = c.list_inbound_by_ids(&ids).await.expect("list by ids");
    let got: Vec<Option<String>> = got.into_iter().map(|t| t.map(|t| t.sip_trunk_id)).collect();
    assert_eq!(got, [Some(b.sip_trunk_id), None, Some(a.sip_trunk_id)]);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_all_trunks_dispatch_rule_is_never_created_by_accident() {
    let emu = emulator().await;
    let c = client(&emu);
    let rule = SipDispatchRuleInfo { rule: Some(individual("x-")), ..Default::default() };
    let err = c.create_dispatch_rule(rule.clone(), TrunkScope::Listed).await.expect_err("refused");
    assert!(matches!(err, ProviderError::Invalid { status: 0, .. }), "{err}");
    assert_eq!(emu.total_calls(), 0, "refused before any call");
    let all = c.create_dispatch_rule(rule, TrunkScope::AllTrunks).await.expect("explicitly all trunks");
    assert!(all.trunk_ids.is_empty());
    let clear = SipDispatchRuleUpdate { trunk_ids: Some(ListUpdate::set(vec![])), ..Default::default() };
    let err = c.update_dispatch_rule(&all.sip_dispatch_rule_id, clear, TrunkScope::Listed).await.expect_err("refused");
    assert!(matches!(err, ProviderError::Invalid { status: 0, .. }), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn ambiguous_inbound_trunk_and_invalid_outbound_are_provider_rejections() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_inbound(inbound("+15105550100")).await.expect("first");
    let err = c.create_inbound(inbound("+15105550100")).await.expect_err("ambiguous");
    assert!(matches!(err, ProviderError::Invalid { status: 400, .. }), "{err}");
    assert!(err.to_string().contains("Conflicting inbound SIP Trunks"), "{err}");
    let bad = SipOutboundTrunkInfo { address: "sip:carrier.example".into(), ..outbound() };
    let err = c.create_outbound(bad).await.expect_err("sip: prefix");
    assert!(matches!(err, ProviderError::Invalid { status: 400, .. }), "{err}");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_expired_token_and_missing_grant_are_refused() {
    let emu = emulator().await;
    let wrong = Client::new(config(&emu, "not-the-secret-at-all"), Arc::new(Metrics::default())).expect("client");
    let err = wrong.list_inbound().await.expect_err("bad signature");
    assert!(matches!(err, ProviderError::Unauthorized { status: 401, .. }), "{err}");
    assert!(err.to_string().contains("unauthenticated"), "{err}");

    let http = reqwest::Client::new();
    let url = format!("{}/twirp/livekit.SIP/ListSIPInboundTrunk", emu.base_url());
    let post = |token: String| {
        http.post(&url).bearer_auth(token).header("content-type", "application/protobuf").body(Vec::new()).send()
    };
    let now = auth::now_secs();
    let expired = auth::admin_token(KEY, &SecretString::from(SECRET), now - 3600, Duration::from_secs(60));
    let r = post(secrecy::ExposeSecret::expose_secret(&expired).to_string()).await.expect("answer");
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.expect("json")["code"], "unauthenticated");

    let no_grant = auth::Claims { iss: KEY.into(), nbf: now, exp: now + 60, ..Default::default() };
    let token = auth::sign(&no_grant, SECRET.as_bytes());
    let r = post(secrecy::ExposeSecret::expose_secret(&token).to_string()).await.expect("answer");
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<serde_json::Value>().await.expect("json")["code"], "permission_denied");

    let r = http.post(&url).header("content-type", "application/protobuf").send().await.expect("answer");
    assert_eq!(r.status(), 401, "no Authorization header");
    emu.shutdown().await;
}

#[tokio::test]
async fn faults_map_onto_typed_errors_and_secrets_never_leak() {
    let emu = emulator().await;
    let c = client(&emu);
    let create = "POST /twirp/livekit.SIP/CreateSIPInboundTrunk";

    emu.faults().fail_next(create, 1, 503);
    assert!(matches!(c.create_inbound(inbound("+1")).await, Err(ProviderError::Transient(_))));

    emu.faults().throttle_next(create, 1, 7, true);
    let err = c.create_inbound(inbound("+1")).await.expect_err("throttled");
    assert_eq!(err, ProviderError::RateLimited { retry_after: Some(Duration::from_secs(7)) });
    // The account's shared HTTP client now refuses at once until the 7 s are over (no worker
    // waits for it); the rest of the test goes on with a fresh client of the same project.
    let blocked = c.list_inbound().await.expect_err("blocked");
    assert!(matches!(blocked, ProviderError::RateLimited { retry_after: Some(_) }), "{blocked}");
    let c = client(&emu);

    // A careless server that echoes the Authorization header and the body in its error.
    emu.faults().hostile_next(create, 1, Hostile::EchoRequest { status: 400 });
    let err = c.create_inbound(inbound("+1")).await.expect_err("echo");
    let text = format!("{err} {err:?}");
    assert!(text.contains("authorization="), "the echo is there: {text}");
    assert!(!text.contains(PASSWORD), "password leaked: {text}");
    assert!(!text.contains(SECRET), "secret leaked: {text}");
    assert!(!text.contains("eyJ"), "token leaked: {text}");

    emu.faults().hostile_next(create, 1, Hostile::Html { status: 502 });
    assert!(matches!(c.create_inbound(inbound("+1")).await, Err(ProviderError::Transient(_))));
    emu.faults().hostile_next(create, 1, Hostile::WrongTypes);
    assert!(matches!(c.create_inbound(inbound("+2")).await, Err(ProviderError::Protocol(_))));
    emu.faults().hostile_next(create, 1, Hostile::EmptyBody);
    assert!(matches!(c.create_inbound(inbound("+3")).await, Err(ProviderError::Protocol(_))), "no id, no success");

    // Commit, then drop the connection: the outcome is unknown, and the trunk is there with the
    // marker, which is how a retry must find it (no natural key, no idempotency key).
    emu.faults().drop_next_after_commit(create, 1);
    let err = c.create_inbound(inbound("+4")).await.expect_err("dropped");
    assert!(matches!(err, ProviderError::Transient(_)), "{err}");
    let found = c.list_inbound().await.expect("list");
    assert!(found.iter().any(|t| t.numbers == ["+4"] && t.metadata == "op:0123456789"));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_silent_server_ends_in_a_timeout() {
    let emu = emulator().await;
    let mut cfg = config(&emu, SECRET);
    cfg.timeout = Duration::from_millis(300);
    let c = Client::new(cfg, Arc::new(Metrics::default())).expect("client");
    emu.faults().delay("POST /twirp/livekit.SIP/ListSIPInboundTrunk", Duration::from_secs(3));
    let err = c.list_inbound().await.expect_err("timeout");
    assert!(err.to_string().contains("timeout"), "{err}");
    emu.shutdown().await;
}

#[tokio::test]
async fn requests_are_rate_limited_on_the_client_side() {
    let emu = emulator().await;
    let mut cfg = config(&emu, SECRET);
    cfg.rate_per_second = 20.0;
    cfg.burst = 1;
    let metrics = Arc::new(Metrics::default());
    let c = Client::new(cfg, metrics.clone()).expect("client");
    let start = std::time::Instant::now();
    for _ in 0..6 {
        c.list_inbound().await.expect("list");
    }
    // 6 requests at 20/s with a burst of 1: at least 5 intervals of 50 ms.
    assert!(start.elapsed() >= Duration::from_millis(240), "{:?}", start.elapsed());
    let text = metrics.encode();
    assert!(text.contains(r#"siptrunk_ratelimit_waits_total{provider="livekit"}"#), "{text}");
    assert!(text.contains(r#"provider="livekit",endpoint="list",status="200""#), "{text}");
    emu.shutdown().await;
}

#[tokio::test]
async fn plain_http_and_empty_credentials_are_refused_before_any_call() {
    let emu = emulator().await;
    let mut cfg = config(&emu, SECRET);
    cfg.allow_insecure_http = false;
    assert!(Client::new(cfg, Arc::new(Metrics::default())).is_err());
    let cfg = config(&emu, "");
    assert!(Client::new(cfg, Arc::new(Metrics::default())).is_err());
    assert_eq!(emu.total_calls(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_emulator_speaks_proto3_json_too() {
    let emu = emulator().await;
    let token = auth::admin_token(KEY, &SecretString::from(SECRET), auth::now_secs(), auth::TOKEN_TTL);
    let http = reqwest::Client::new();
    let url = |m: &str| format!("{}/twirp/livekit.SIP/{m}", emu.base_url());
    let r = http
        .post(url("CreateSIPInboundTrunk"))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
        .json(&serde_json::json!({"trunk": {"name": "json", "numbers": ["+1"], "krispEnabled": true}}))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["sip_trunk_id"].as_str().is_some_and(|id| id.starts_with("ST_")), "{body}");
    assert_eq!(body["krisp_enabled"], true);
    let snapshot = emu.snapshot();
    assert_eq!(snapshot["inbound"][0]["name"], "json");
    let r = http
        .post(url("NoSuchMethod"))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&token))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<serde_json::Value>().await.expect("json")["code"], "bad_route");
    emu.shutdown().await;
}
