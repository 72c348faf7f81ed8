//! Security end to end: passwords and the API token never leave their Secrets (logs at TRACE,
//! Events, status, metrics, errors, Debug output), TLS through rustls with a per-provider CA
//! bundle, plain http:// refused by the controller too, and a provider that never answers
//! ends in `ProviderUnavailable` after the request timeout instead of a hang.

mod common;
mod erased;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use erased::ProviderClient;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use secrecy::SecretString;
use serde_json::{Value, json};
use siptrunk_operator::controller::reconcile::credentials_hash;
use siptrunk_operator::crd::{SipProvider, SipTrunk, SipTrunkSpec};
use siptrunk_operator::emulator::{EmulatorConfig, Flavor, Hostile};
use siptrunk_operator::metrics::Metrics;
use siptrunk_operator::provider::ClientConfig;

// ---- log capture -------------------------------------------------------------------------

/// Everything every test of this binary logs, at TRACE, for every crate, in the production JSON
/// format (span fields such as a reconcile's namespace and name flattened into each line).
fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let filter = tracing_subscriber::EnvFilter::new("trace");
        let subscriber = siptrunk_operator::telemetry::json_subscriber(filter, move || writer.clone());
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { T[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// Fails naming `place` when any secret (plain or base64, as a Secret's data holds it) is in `text`.
fn assert_clean(place: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        for needle in [s.to_string(), b64(s).trim_end_matches('=').to_string()] {
            if let Some(at) = text.find(&needle) {
                let from = text[..at].char_indices().rev().nth(200).map_or(0, |(i, _)| i);
                let ctx: String = text[from..].chars().take(400).collect();
                panic!("secret {needle:?} found in {place}: …{ctx}…");
            }
        }
    }
}

// ---- secrets -----------------------------------------------------------------------------

const TOKEN: &str = "TKN-e2e-Zq8w3vR7yX2p";
const PW1: &str = "PW1-e2e-Lq7xN2vR9kT4";
const PW2: &str = "PW2-e2e-Hh3cM8zB1wQ6";

/// Create (first attempt refused with an echo of the body), rotate (update refused with an
/// echo), drift repair (a 500 that echoes the Authorization header), delete; then search every
/// output for the secrets.
async fn secrets_stay_secret(flavor: Flavor) {
    let logs_at_start = log_buffer().lock().map(|b| b.len()).unwrap_or(0);
    let mut env = Env::start_with(flavor, EmulatorConfig::new(flavor).with_rate_limit(None), false).await;
    env.provider.add_token(TOKEN, None);
    env.put_secret("provider-token", "token", TOKEN).await;
    env.start_controller();
    let faults = env.provider.faults();
    let mut seen = Vec::<String>::new();
    let snapshot = |t: &SipTrunk, seen: &mut Vec<String>| seen.push(serde_json::to_string(t).unwrap_or_default());

    // 1. Create, refused once with the request (password included) echoed back.
    faults.hostile_next("POST *", 1, Hostile::EchoRequest { status: 422 });
    env.put_secret("sec-sip", "password", PW1).await;
    let mut t = trunk(flavor, "sec", 7);
    merge(&mut t, json!({"spec": {"driftCheckInterval": "1s"}}));
    env.apply(&t).await.expect("apply");
    let got = env.wait_reason("sec", "ProviderRejected").await;
    assert!(
        ready_message(&got).contains("[redacted]"),
        "the echo reached the condition, redacted: {}",
        ready_message(&got)
    );
    snapshot(&got, &mut seen);
    merge(&mut t, json!({"spec": {"displayName": "Secure line"}}));
    env.apply(&t).await.expect("apply");
    let got = env.wait_ready("sec").await;
    snapshot(&got, &mut seen);
    let id = got.status.as_ref().and_then(|s| s.trunk_id.clone()).expect("trunk id");
    assert!(env.provider.password_matches(TOKEN, &id, PW1));

    // 2. Rotation, refused once with an echo of the new password.
    faults.hostile_next("PUT *", 1, Hostile::EchoRequest { status: 422 });
    faults.hostile_next("PATCH *", 1, Hostile::EchoRequest { status: 422 });
    env.put_secret("sec-sip", "password", PW2).await;
    let got = env.wait_reason("sec", "ProviderRejected").await;
    snapshot(&got, &mut seen);
    faults.clear();
    merge(&mut t, json!({"spec": {"displayName": "Secure line 2"}}));
    env.apply(&t).await.expect("apply");
    let got = env.wait_ready("sec").await;
    snapshot(&got, &mut seen);
    let rotated = wait_until(DEADLINE, || async { env.provider.password_matches(TOKEN, &id, PW2) }, |ok| *ok).await;
    assert!(rotated.is_some(), "the rotated password reached the provider");

    // 3. Drift repair; the first repair attempt gets a 500 that echoes the Authorization header.
    faults.hostile_next("PUT *", 1, Hostile::EchoRequest { status: 500 });
    faults.hostile_next("PATCH *", 1, Hostile::EchoRequest { status: 500 });
    let (field, drifted, wanted) = match flavor {
        Flavor::Bolna => ("inbound_enabled", json!(false), json!(true)),
        _ => ("sip_address", json!("drift.carrier.example"), json!("sip.carrier.example")),
    };
    env.provider.edit_trunk(TOKEN, &id, json!({field: drifted}));
    let repaired = wait_until(
        DEADLINE,
        || async { env.provider.trunks(TOKEN) },
        |r: &Vec<Value>| r.first().is_some_and(|r| r[field] == wanted),
    )
    .await;
    assert!(repaired.is_some(), "drift was repaired: {:?}", env.provider.trunks(TOKEN));
    let errors_before_repair = env.metrics();
    assert!(errors_before_repair.contains("status=\"500\""), "the echoing 500 was seen by the operator");
    let got = env.wait_ready("sec").await;
    snapshot(&got, &mut seen);

    // Outputs other than logs, before the objects go.
    let metrics = env.metrics();
    let providers: Api<SipProvider> = Api::namespaced(env.client.clone(), &env.ns);
    for p in providers.list(&ListParams::default()).await.expect("providers").items {
        seen.push(serde_json::to_string(&p.status).unwrap_or_default());
    }

    // 4. Delete.
    env.delete("sec").await;
    env.wait_gone("sec").await;
    assert!(env.provider.trunks(TOKEN).is_empty());
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.ns);
    let ev = events.list(&ListParams::default()).await.expect("events").items;
    assert!(!ev.is_empty(), "the flow published Events");
    let core: Api<CoreEvent> = Api::namespaced(env.client.clone(), &env.ns);
    let core_ev = core.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    env.stop().await;

    let secrets = [TOKEN, PW1, PW2];
    let logs = captured();
    let logs = &logs[logs_at_start.min(logs.len())..];
    assert!(logs.contains("TRACE") && logs.len() > 10_000, "TRACE logs were captured ({} bytes)", logs.len());
    assert!(logs.contains("provider write"), "the operator's own logs are in the capture");
    assert!(logs.contains("\"reconcile_id\":"), "the capture is the production JSON format, span fields flattened");
    assert_clean("logs", logs, &secrets);
    assert_clean("events", &serde_json::to_string(&ev).unwrap_or_default(), &secrets);
    assert_clean("core events", &serde_json::to_string(&core_ev).unwrap_or_default(), &secrets);
    assert_clean("status", &seen.join("\n"), &secrets);
    assert_clean("metrics", &metrics, &secrets);
    println!(
        "SECURITY flavor={flavor} logs_bytes={} events={} statuses={} clean=true",
        logs.len(),
        ev.len(),
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_events_status_or_metrics_autocalls() {
    log_buffer();
    secrets_stay_secret(Flavor::Autocalls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_events_status_or_metrics_bolna() {
    log_buffer();
    secrets_stay_secret(Flavor::Bolna).await;
}

fn spec_for(flavor: Flavor) -> SipTrunkSpec {
    serde_json::from_value(trunk(flavor, "x", 3)["spec"].clone()).expect("spec")
}

/// The errors the provider layer returns for echoing responses, and the Debug of every value
/// derived from the Secrets, hold neither the password nor the token.
async fn provider_errors_and_debug_output_hold_no_secret(flavor: Flavor) {
    let token = "TKN-direct-Vb5nQ1sK";
    let pw = "PW-direct-Xc4mR8tY";
    let emu = siptrunk_operator::emulator::ProviderEmulator::start(
        EmulatorConfig::new(flavor).with_rate_limit(None).with_token(token),
    )
    .await
    .expect("emulator");
    let ptype = provider_type(flavor);
    let cfg = ClientConfig {
        provider: ptype,
        base_url: emu.base_url(),
        token: SecretString::from(token.to_string()),
        timeout: Duration::from_secs(2),
        rate_per_second: 100.0,
        burst: 100,
        ca_bundle: None,
        allow_insecure_http: true,
        list_budget: Default::default(),
        api_key: None,
    };
    let mut texts = vec![format!("{cfg:?}")];
    let client = ProviderClient::new(cfg, Arc::new(Metrics::default())).expect("client");
    let desired = erased::desired(&spec_for(flavor), ptype, "ns", "x", "op:0123456789ab");
    let secret = SecretString::from(pw.to_string());
    texts.push(format!("{desired:?} {secret:?} {}", credentials_hash(&SecretString::from(token.to_string()), &secret)));

    for status in [422, 400, 500] {
        emu.faults().hostile_next("POST *", 1, Hostile::EchoRequest { status });
        let err = client.create(&desired, Some(secret.clone())).await.expect_err("echoing refusal");
        texts.push(format!("{err} {err:?} {}", siptrunk_operator::controller::Error::Provider(err.clone())));
    }
    let (created, _) = client.create(&desired, Some(secret.clone())).await.expect("create");
    let change = desired.diff(&created, Some(SecretString::from(format!("{pw}-2"))));
    texts.push(format!("{created:?} {change:?}"));
    if let Some(change) = change {
        emu.faults().hostile_next("*", 2, Hostile::EchoRequest { status: 422 });
        let err = client.update(&created, &change).await.expect_err("echoing refusal");
        texts.push(format!("{err} {err:?}"));
    }
    emu.shutdown().await;
    assert_clean("provider errors and Debug output", &texts.join("\n"), &[token, pw, &format!("{pw}-2")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_and_debug_output_hold_no_secret_autocalls() {
    provider_errors_and_debug_output_hold_no_secret(Flavor::Autocalls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_and_debug_output_hold_no_secret_bolna() {
    provider_errors_and_debug_output_hold_no_secret(Flavor::Bolna).await;
}

// ---- transport ---------------------------------------------------------------------------

/// A TLS terminator in front of `backend`, with a certificate for 127.0.0.1 issued by a fresh
/// private CA. Returns its address and the CA's PEM.
async fn tls_proxy(backend: SocketAddr) -> (SocketAddr, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    siptrunk_operator::kubeemu::install_crypto_provider();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "siptrunk e2e private CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (addr, ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_provider_with_a_private_ca_fails_without_ca_bundle_and_works_with_it() {
    let flavor = Flavor::Autocalls;
    let env = Env::start(flavor).await;
    let (addr, ca_pem) = tls_proxy(env.provider.addr()).await;
    let https = format!("https://{addr}/api");
    env.apply_provider(json!({"baseUrl": https, "allowInsecureHttp": null})).await;
    env.put_secret("tls-sip", "password", "pw-over-tls").await;
    env.apply(&trunk(flavor, "tls", 8)).await.expect("apply");
    let got = env.wait_for("tls", "a TLS failure", |t| ready_message(t).contains("TLS handshake failed")).await;
    assert_eq!(ready_reason(&got).as_deref(), Some("ProviderUnavailable"));
    assert!(ready_message(&got).contains("caBundle"), "the message says what to do: {}", ready_message(&got));
    assert!(env.remote().is_empty(), "nothing reached the provider");

    env.apply_provider(json!({"baseUrl": https, "allowInsecureHttp": null, "caBundle": ca_pem})).await;
    let got = env.wait_ready("tls").await;
    let id = got.status.and_then(|s| s.trunk_id).expect("id");
    assert!(env.provider.password_matches(&env.token, &id, "pw-over-tls"), "created through the TLS terminator");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_bundle_that_is_not_pem_is_provider_config_invalid_without_calls() {
    let flavor = Flavor::Bolna;
    let env = Env::start(flavor).await;
    env.apply_provider_seen(json!({"baseUrl": "https://127.0.0.1:9/", "allowInsecureHttp": null, "caBundle": "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"})).await;
    env.put_secret("ca-sip", "password", "pw-ca").await;
    env.provider.reset_calls();
    env.apply(&trunk(flavor, "ca", 9)).await.expect("apply");
    let got = env.wait_reason("ca", "ProviderConfigInvalid").await;
    assert!(ready_message(&got).contains("caBundle"), "{}", ready_message(&got));
    assert_eq!(env.provider.total_calls(), 0);
    env.stop().await;
}

/// The CRDs without their CEL rules, as on an API server that does not enforce them (a CRD
/// applied by an older chart, or validation switched off).
fn crds_without_cel()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("x-kubernetes-validations");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    siptrunk_operator::crd::all()
        .into_iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("crd");
            strip(&mut v);
            serde_json::from_value(v).expect("crd")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_without_allow_insecure_is_refused_by_the_controller_too() {
    let flavor = Flavor::Autocalls;
    let env = Env::start(flavor).await;
    let Some(kube) = env.kube.clone() else {
        eprintln!("needs the emulated API server to switch CEL off; skipped against a real cluster");
        return;
    };
    kube.install_crds(crds_without_cel()).expect("CRDs without CEL");
    env.apply_provider_seen(json!({"allowInsecureHttp": false})).await;
    env.put_secret("plain-sip", "password", "pw-plain").await;
    env.provider.reset_calls();
    env.apply(&trunk(flavor, "plain", 10)).await.expect("apply");
    let got = env.wait_reason("plain", "ProviderConfigInvalid").await;
    assert!(ready_message(&got).contains("allowInsecureHttp"), "{}", ready_message(&got));
    assert_eq!(env.provider.total_calls(), 0, "no request left over plain http");
    // Allowing it (a local emulator) makes it work.
    env.apply_provider(json!({"allowInsecureHttp": true})).await;
    env.wait_ready("plain").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_is_unavailable_after_the_request_timeout() {
    let flavor = Flavor::Bolna;
    let env = Env::start(flavor).await;
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            keep.lock().unwrap_or_else(|p| p.into_inner()).push(s);
        }
    });
    env.apply_provider(json!({"baseUrl": format!("http://{addr}"), "requestTimeout": "1s"})).await;
    env.put_secret("mute-sip", "password", "pw-mute").await;
    let start = Instant::now();
    env.apply(&trunk(flavor, "mute", 11)).await.expect("apply");
    let got = env.wait_reason("mute", "ProviderUnavailable").await;
    let took = start.elapsed();
    assert!(ready_message(&got).contains("timeout"), "{}", ready_message(&got));
    assert!(took >= Duration::from_millis(900), "it waited for the timeout: {took:?}");
    assert!(took < Duration::from_secs(10), "and not much longer: {took:?}");
    assert!(!held.lock().unwrap_or_else(|p| p.into_inner()).is_empty(), "the request reached the silent server");
    println!("TRANSPORT silent provider: ProviderUnavailable after {:.1}s with requestTimeout 1s", took.as_secs_f64());
    env.stop().await;
}

/// The LiveKit family: the API secret signs a JWT per request and never travels; a create refused
/// with an echo of the request (the Authorization header with that JWT, and the protobuf body with
/// the password) and a rotation refused the same way leave no password, no API secret and no
/// token in logs at TRACE, Events, status or metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_secrets_never_appear_in_logs_events_status_or_metrics() {
    use common::livekit::{LkEnv, lk_trunk};
    let logs_at_start = log_buffer().lock().map(|b| b.len()).unwrap_or(0);
    let env = LkEnv::start().await;
    let (pw1, pw2) = ("LK1-e2e-Vb6nQ2xT8rW3", "LK2-e2e-Jd4kP9sM1zE7");
    let mut seen = Vec::<String>::new();

    env.lk.faults().hostile_next(
        "POST /twirp/livekit.SIP/CreateSIPInboundTrunk",
        1,
        Hostile::EchoRequest { status: 400 },
    );
    env.put_secret("sec-sip", "password", pw1).await;
    env.apply(&lk_trunk("sec", true, &["+14155550177"])).await.expect("apply");
    let got = env.wait_reason("sec", "ProviderRejected").await;
    assert!(
        ready_message(&got).contains("[redacted]"),
        "the echo reached the condition, redacted: {}",
        ready_message(&got)
    );
    seen.push(serde_json::to_string(&got).unwrap_or_default());
    let mut t = lk_trunk("sec", true, &["+14155550177"]);
    merge(&mut t, json!({"spec": {"displayName": "LK secure"}}));
    env.apply(&t).await.expect("apply");
    let got = env.wait_ready("sec").await;
    seen.push(serde_json::to_string(&got).unwrap_or_default());
    let id = got.status.as_ref().and_then(|s| s.trunk_id.clone()).expect("trunk id");

    env.lk.faults().hostile_next(
        "POST /twirp/livekit.SIP/UpdateSIPInboundTrunk",
        1,
        Hostile::EchoRequest { status: 400 },
    );
    env.put_secret("sec-sip", "password", pw2).await;
    let got = env.wait_reason("sec", "ProviderRejected").await;
    seen.push(serde_json::to_string(&got).unwrap_or_default());
    merge(&mut t, json!({"spec": {"displayName": "LK secure 2"}}));
    env.apply(&t).await.expect("apply");
    let rotated = wait_until(DEADLINE, || async { env.lk.password_matches(&id, pw2) }, |ok| *ok).await;
    assert!(rotated.is_some(), "the rotated password reached LiveKit");
    let got = env.wait_ready("sec").await;
    seen.push(serde_json::to_string(&got).unwrap_or_default());

    let metrics = env.metrics();
    let events = env.events_for("sec").await;
    assert!(!events.is_empty(), "the flow published Events");
    env.delete("sec").await;
    env.wait_gone("sec").await;
    let secret = env.secret.clone();
    env.stop().await;

    let logs = captured();
    let logs = &logs[logs_at_start.min(logs.len())..];
    assert!(logs.contains("TRACE") && logs.len() > 10_000, "TRACE logs were captured ({} bytes)", logs.len());
    // Every JWT starts with the base64 of `{"alg":` or `{"typ":`.
    let secrets = [secret.as_str(), pw1, pw2, "eyJhbGciOi", "eyJ0eXAiOi"];
    assert_clean("logs", logs, &secrets);
    assert_clean("events", &serde_json::to_string(&events).unwrap_or_default(), &secrets);
    assert_clean("status", &seen.join("\n"), &secrets);
    assert_clean("metrics", &metrics, &secrets);
}
