//! Fault injection over real HTTP: commit-then-drop, injected statuses, throttling, hostile bodies, latency.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use siptrunk_operator::emulator::{CallCounts, EmulatorConfig, Flavor, Hostile, ProviderEmulator};

use crate::{Api, start, start_with};

const TRUNKS: &str = "/user/phone-numbers/sip-trunks";
const CREATE: &str = "POST /user/phone-numbers/sip-trunks";

fn trunk(number: &str) -> Value {
    json!({
        "sip_trunk_type": "extension", "phone_number": number, "sip_username": "myuser",
        "sip_password": "s3cret", "sip_address": "sip.provider.com", "sip_calling_format": "+e164",
        "inbound_authorization_type": "auth", "country_code": "US"
    })
}

/// Poll `cond` until it holds or two seconds pass.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

#[tokio::test]
async fn commit_then_drop_stores_the_trunk_and_the_client_sees_a_network_error() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    emu.faults().drop_next_after_commit(CREATE, 1);
    let sent = api.request(reqwest::Method::POST, TRUNKS).json(&trunk("1000")).send().await;
    let err = sent.expect_err("no response may arrive");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert_eq!(emu.trunks("token-a").len(), 1, "the write was committed");
    assert_eq!(emu.calls().get(CREATE, CallCounts::DROPPED), 1);
    // The rule is used up: the retry gets the documented 409 for the same triple.
    assert_eq!(api.post(TRUNKS, trunk("1000")).await.status, 409);
}

#[tokio::test]
async fn commit_then_drop_works_for_bolna_patch() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let id = emu.seed_trunk("token-a", json!({"name": "t"}));
    emu.faults().drop_next_after_commit("PATCH *", 1);
    let sent = api
        .request(reqwest::Method::PATCH, &format!("/sip-trunks/trunks/{id}"))
        .json(&json!({"is_active": false}))
        .send()
        .await;
    assert!(sent.is_err());
    assert_eq!(emu.trunks("token-a")[0]["is_active"], false);
}

#[tokio::test]
async fn injected_500_does_not_commit_and_uses_the_documented_message() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    emu.faults().fail_next(CREATE, 1, 500);
    let r = api.post(TRUNKS, trunk("1000")).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, json!({"error": "Failed to create SIP trunk. Please try again or contact support."}));
    assert!(emu.trunks("token-a").is_empty());
    assert_eq!(api.post(TRUNKS, trunk("1000")).await.status, 201, "only the next call fails");
    assert_eq!(emu.faults().armed(), 0);
}

#[tokio::test]
async fn fail_after_commit_leaves_the_update_applied() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let id = api.post(TRUNKS, trunk("1000")).await.body["data"]["id"].clone();
    emu.faults().fail_next_after_commit("PUT /user/phone-numbers/sip-trunks/{id}", 1, 500);
    let r = api.put(&format!("{TRUNKS}/{id}"), json!({"sip_address": "new.example"})).await;
    assert_eq!(r.status, 500);
    assert_eq!(emu.trunks("token-a")[0]["sip_address"], "new.example");
}

#[tokio::test]
async fn injected_failures_only_hit_the_selected_endpoint() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    emu.faults().fail_next("POST *", 1, 503);
    assert_eq!(api.get(TRUNKS).await.status, 200);
    assert_eq!(api.post(TRUNKS, trunk("1000")).await.status, 503);
}

#[tokio::test]
async fn throttle_with_and_without_retry_after_header() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    emu.faults().throttle_next("*", 1, 7, false);
    emu.faults().throttle_next("*", 1, 3, true);
    let first = api.get(TRUNKS).await;
    assert_eq!((first.status, first.body["retry_after"].as_u64()), (429, Some(7)));
    assert!(first.headers.get("retry-after").is_none());
    let second = api.get(TRUNKS).await;
    assert_eq!(second.status, 429);
    assert_eq!(second.headers["retry-after"].to_str().ok(), Some("3"));
    assert_eq!(api.get(TRUNKS).await.status, 200);
}

#[tokio::test]
async fn hostile_bodies_break_naive_parsers() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let f = emu.faults();
    f.hostile_next(CREATE, 1, Hostile::Html { status: 502 });
    let html = api.post(TRUNKS, trunk("1000")).await;
    assert_eq!(html.status, 502);
    assert!(html.text.starts_with("<html>") && html.body.is_null());
    assert!(emu.trunks("token-a").is_empty(), "a proxy error page means not processed");

    f.hostile_next(CREATE, 1, Hostile::TruncatedJson);
    let cut = api.post(TRUNKS, trunk("1001")).await;
    assert_eq!(cut.status, 201);
    assert!(cut.body.is_null() && !cut.text.is_empty(), "{}", cut.text);
    assert_eq!(emu.trunks("token-a").len(), 1, "the truncated write was committed");

    f.hostile_next(&format!("GET {TRUNKS}"), 1, Hostile::WrongTypes);
    let wrong = api.get(TRUNKS).await;
    assert!(wrong.body["data"][0]["id"].is_string());
    assert_eq!(wrong.body["data"][0]["outbound_proxy"], "false");

    f.hostile_next(&format!("GET {TRUNKS}"), 1, Hostile::EmptyBody);
    let empty = api.get(TRUNKS).await;
    assert_eq!((empty.status, empty.text.as_str()), (200, ""));
}

#[tokio::test]
async fn latency_trips_client_timeouts_after_the_write_is_committed() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    emu.faults().set_latency(Duration::from_millis(400));
    let sent =
        api.request(reqwest::Method::POST, TRUNKS).timeout(Duration::from_millis(50)).json(&trunk("1000")).send().await;
    assert!(sent.expect_err("times out").is_timeout());
    assert!(eventually(|| emu.trunks("token-a").len() == 1).await);
    emu.faults().set_latency(Duration::ZERO);
    assert_eq!(api.get(TRUNKS).await.status, 200);
}

async fn statuses(emu: &ProviderEmulator) -> Vec<u16> {
    let api = Api::new(emu);
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(api.get(TRUNKS).await.status);
    }
    out
}

#[tokio::test]
async fn error_share_is_deterministic_for_a_seed() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let emu =
            start_with(EmulatorConfig { seed: 42, ..EmulatorConfig::new(Flavor::Autocalls).with_token("t") }).await;
        emu.faults().fail_share("*", 0.3, 500);
        runs.push(statuses(&emu).await);
    }
    assert_eq!(runs[0], runs[1]);
    let failed = runs[0].iter().filter(|s| **s == 500).count();
    assert!((4..=24).contains(&failed), "{failed}/40 failed at share 0.3");
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = start(Flavor::Autocalls).await;
    let url = format!("{}{TRUNKS}", emu.base_url());
    emu.shutdown().await;
    assert!(reqwest::Client::new().get(url).send().await.is_err());
}
