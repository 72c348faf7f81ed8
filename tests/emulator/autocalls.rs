//! autocalls.ai / famulor wire behaviour: shapes, validation, uniqueness, re-provisioning, delete, nickname, auth, rate limit.

use serde_json::{Value, json};
use siptrunk_operator::emulator::{Behaviour, CallCounts, EmulatorConfig, Flavor, RateLimitCfg};

use crate::{Api, fixture, is_micros_timestamp, keys, start, start_with};

const TRUNKS: &str = "/user/phone-numbers/sip-trunks";

fn fixture_trunk() -> Value {
    json!({
        "sip_trunk_type": "extension", "phone_number": "1000", "nickname": "Provider X — Main",
        "sip_username": "myuser", "sip_password": "s3cret", "sip_address": "sip.provider.com",
        "sip_calling_format": "+e164", "inbound_authorization_type": "auth", "country_code": "US",
        "outbound_proxy": false
    })
}

fn ip_trunk() -> Value {
    json!({
        "sip_trunk_type": "number", "phone_number": "+14155551234", "sip_username": "trunk_user",
        "sip_password": "s3cret", "sip_address": "sip.provider.com", "sip_calling_format": "e164",
        "inbound_authorization_type": "ip", "allowed_inbound_ips": ["203.0.113.10", "198.51.100.20"],
        "country_code": "US", "outbound_proxy": true
    })
}

/// The fixture item without the server-chosen values.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["id", "created_at", "updated_at", "inbound_trunk_id", "outbound_trunk_id"] {
            m.remove(k);
        }
    }
    v
}

async fn create(api: &Api, body: Value) -> Value {
    let r = api.post(TRUNKS, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["data"].clone()
}

fn id_of(data: &Value) -> i64 {
    data["id"].as_i64().expect("integer id")
}

#[tokio::test]
async fn autocalls_list_reproduces_the_brief_list_example() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    create(&api, fixture_trunk()).await;
    let mut second = ip_trunk();
    second["nickname"] = Value::Null;
    create(&api, second).await;

    let expected = fixture(include_str!("fixtures/autocalls_list.json"));
    let got = api.get(TRUNKS).await;
    assert_eq!(got.status, 200);
    assert_eq!(keys(&got.body), ["data"]);
    let (got, want) = (
        got.body["data"].as_array().cloned().unwrap_or_default(),
        expected["data"].as_array().cloned().unwrap_or_default(),
    );
    assert_eq!(got.len(), 2);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(keys(g), keys(w), "list item keys");
        assert_eq!(comparable(g), comparable(w));
        assert!(is_micros_timestamp(&g["created_at"]) && is_micros_timestamp(&g["updated_at"]), "{g}");
    }
}

#[tokio::test]
async fn autocalls_get_and_create_have_trunk_ids_that_the_list_lacks() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let created = api.post(TRUNKS, fixture_trunk()).await;
    let create_fixture = fixture(include_str!("fixtures/autocalls_create_response.json"));
    assert_eq!(keys(&created.body), keys(&create_fixture));
    assert_eq!(created.body["message"], create_fixture["message"]);
    let mut create_keys = keys(&create_fixture["data"]);
    create_keys.push("nickname".into()); // the newer autocalls create page accepts and returns it
    create_keys.sort();
    assert_eq!(keys(&created.body["data"]), create_keys);

    let id = id_of(&created.body["data"]);
    let got = api.get(&format!("{TRUNKS}/{id}")).await;
    assert_eq!(got.status, 200);
    let get_fixture = fixture(include_str!("fixtures/autocalls_get.json"));
    assert_eq!(keys(&got.body["data"]), keys(&get_fixture["data"]));
    assert_eq!(comparable(&got.body["data"]), comparable(&get_fixture["data"]));
    for k in ["inbound_trunk_id", "outbound_trunk_id"] {
        let v = got.body["data"][k].as_str().unwrap_or_default();
        assert!(v.starts_with("ST_") && v.len() == 15, "{k} = {v}");
        assert_eq!(got.body["data"][k], created.body["data"][k]);
    }
    let listed = api.get(TRUNKS).await;
    assert!(listed.body["data"][0].get("inbound_trunk_id").is_none());
    assert!(listed.body["data"][0].get("outbound_trunk_id").is_none());
}

#[tokio::test]
async fn famulor_list_matches_famulor_brief_when_nickname_hidden() {
    let emu = start(Flavor::Famulor).await;
    emu.set_behaviour(Behaviour { famulor_nickname_in_list: false, ..Behaviour::default() });
    let api = Api::new(&emu);
    create(&api, fixture_trunk()).await;
    create(&api, ip_trunk()).await;
    let want = fixture(include_str!("fixtures/famulor_list.json"));
    let got = api.get(TRUNKS).await;
    let items = got.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    for (g, w) in items.iter().zip(want["data"].as_array().into_iter().flatten()) {
        assert_eq!(comparable(g), comparable(w));
    }
}

#[tokio::test]
async fn create_missing_address_and_bad_calling_format_is_422_with_both_fields() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let mut body = fixture_trunk();
    body.as_object_mut().map(|m| m.remove("sip_address"));
    body["sip_calling_format"] = json!("international");
    let r = api.post(TRUNKS, body).await;
    assert_eq!(r.status, 422);
    assert_eq!(keys(&r.body), ["errors", "message"]);
    assert_eq!(keys(&r.body["errors"]), ["sip_address", "sip_calling_format"]);
    assert_eq!(r.body["errors"]["sip_address"], json!(["The sip address field is required."]));
    assert_eq!(r.body["message"], "The sip address field is required. (and 1 more error)");
    assert!(emu.trunks("token-a").is_empty());
}

#[tokio::test]
async fn create_ip_type_without_ips_is_422_and_address_with_port_too() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let mut body = ip_trunk();
    body.as_object_mut().map(|m| m.remove("allowed_inbound_ips"));
    let r = api.post(TRUNKS, body).await;
    assert_eq!(r.status, 422);
    assert_eq!(keys(&r.body["errors"]), ["allowed_inbound_ips"]);

    let mut body = fixture_trunk();
    body["sip_address"] = json!("sip.provider.com:5060");
    let r = api.post(TRUNKS, body).await;
    assert_eq!(r.status, 422);
    assert_eq!(keys(&r.body["errors"]), ["sip_address"]);
}

#[tokio::test]
async fn duplicate_number_username_address_is_409_only_for_the_full_triple() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    create(&api, fixture_trunk()).await;
    let mut dup = fixture_trunk();
    dup["sip_address"] = json!("SIP.Provider.com");
    let r = api.post(TRUNKS, dup).await;
    assert_eq!(r.status, 409);
    assert_eq!(keys(&r.body), ["error"]);
    let mut other = fixture_trunk();
    other["sip_username"] = json!("otheruser");
    create(&api, other).await;
    // Another account has its own store.
    create(&Api::with_token(&emu, "token-b"), fixture_trunk()).await;
    assert_eq!(emu.trunks("token-a").len(), 2);
}

async fn update(api: &Api, id: i64, body: Value) -> Value {
    let r = api.put(&format!("{TRUNKS}/{id}"), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["message"], "SIP trunk updated successfully.");
    r.body["data"].clone()
}

fn ids(v: &Value) -> (String, String) {
    (
        v["inbound_trunk_id"].as_str().unwrap_or_default().into(),
        v["outbound_trunk_id"].as_str().unwrap_or_default().into(),
    )
}

#[tokio::test]
async fn reprovisioning_follows_the_documented_table() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let t0 = create(&api, fixture_trunk()).await;
    let id = id_of(&t0);
    let (in0, out0) = ids(&t0);

    let t1 = update(&api, id, json!({"sip_calling_format": "national", "country_code": "DE", "nickname": "x"})).await;
    assert_eq!(ids(&t1), (in0.clone(), out0.clone()), "stored-only fields keep both trunks");

    let t2 = update(&api, id, json!({"sip_password": "new-secret"})).await;
    let (in2, out2) = ids(&t2);
    assert!(in2 != in0 && out2 != out0, "credentials change re-creates both");
    assert!(emu.password_matches("token-a", &id.to_string(), "new-secret"));

    let t3 =
        update(&api, id, json!({"inbound_authorization_type": "ip", "allowed_inbound_ips": ["203.0.113.7"]})).await;
    let (in3, out3) = ids(&t3);
    assert!(in3 != in2 && out3 == out2, "switch to ip re-creates only inbound");

    let t4 = update(&api, id, json!({"sip_address": "sip2.provider.com"})).await;
    let (in4, out4) = ids(&t4);
    assert!(in4 == in3 && out4 != out3, "address change re-creates only outbound");

    let stats = emu.trunk_stats("token-a", &id.to_string()).expect("trunk exists");
    assert_eq!(
        (stats.updates, stats.inbound_reprovisions, stats.outbound_reprovisions, stats.password_writes),
        (4, 2, 2, 1)
    );
}

#[tokio::test]
async fn switching_to_auth_clears_the_allow_list_to_null() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let id = id_of(&create(&api, ip_trunk()).await);
    let t = update(&api, id, json!({"inbound_authorization_type": "auth"})).await;
    assert_eq!(t["allowed_inbound_ips"], Value::Null);
    assert_eq!(t["inbound_authorization_type"], "auth");
    let listed = api.get(TRUNKS).await;
    assert_eq!(listed.body["data"][0]["allowed_inbound_ips"], Value::Null);
}

#[tokio::test]
async fn update_to_ip_without_ips_in_same_request_is_422_and_changes_nothing() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let t = create(&api, fixture_trunk()).await;
    let r = api.put(&format!("{TRUNKS}/{}", id_of(&t)), json!({"inbound_authorization_type": "ip"})).await;
    assert_eq!(r.status, 422);
    assert_eq!(keys(&r.body["errors"]), ["allowed_inbound_ips"]);
    let stored = &emu.trunks("token-a")[0];
    assert_eq!(stored["inbound_authorization_type"], "auth");
    assert_eq!(stored["inbound_trunk_id"], t["inbound_trunk_id"]);
    let missing = api.put(&format!("{TRUNKS}/999"), json!({"sip_calling_format": "e164"})).await;
    assert_eq!((missing.status, missing.body.clone()), (404, json!({"error": "SIP trunk not found."})));
}

#[tokio::test]
async fn same_value_resend_reprovisions_unless_knob_is_off() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let t = create(&api, fixture_trunk()).await;
    let id = id_of(&t);
    let resent = update(&api, id, json!({"sip_username": "myuser"})).await;
    assert_ne!(ids(&resent), ids(&t));
    emu.set_behaviour(Behaviour { reprovision_on_same_value: false, ..Behaviour::default() });
    let again = update(&api, id, json!({"sip_username": "myuser", "sip_password": "s3cret"})).await;
    assert_eq!(ids(&again), ids(&resent));
}

#[tokio::test]
async fn delete_goes_through_phone_numbers_and_also_releases_purchased_numbers() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let trunk = id_of(&create(&api, fixture_trunk()).await);
    let purchased = emu.seed_purchased_number("token-a", "+14155550000");
    assert_eq!(purchased, trunk + 1, "one id space");

    let not_sip = api.get(&format!("{TRUNKS}/{purchased}")).await;
    assert_eq!((not_sip.status, not_sip.body.clone()), (404, json!({"error": "SIP trunk not found."})));

    let all = api.get("/user/phone-numbers/all").await;
    let types: Vec<&str> =
        all.body["data"].as_array().into_iter().flatten().filter_map(|n| n["type"].as_str()).collect();
    assert_eq!(types, ["sip", "normal"]);

    let del = api.delete(&format!("/user/phone-numbers/{trunk}")).await;
    assert_eq!((del.status, del.body.clone()), (200, json!({"message": "Phone number deleted successfully."})));
    assert!(emu.trunks("token-a").is_empty());
    let gone = api.delete(&format!("/user/phone-numbers/{trunk}")).await;
    assert_eq!((gone.status, gone.body.clone()), (404, json!({"error": "Phone number not found."})));

    // The danger: the same endpoint cancels a purchased number.
    let released = api.delete(&format!("/user/phone-numbers/{purchased}")).await;
    assert_eq!(released.status, 200);
    assert_eq!(emu.numbers("token-a")[0]["release_scheduled"], true);
    let twice = api.delete(&format!("/user/phone-numbers/{purchased}")).await;
    assert_eq!(twice.status, 400);
    // Another account's ids are not found.
    let other = Api::with_token(&emu, "token-b").delete(&format!("/user/phone-numbers/{purchased}")).await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn autocalls_nickname_is_stored_on_create_update_and_phone_number_put() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let id = id_of(&create(&api, fixture_trunk()).await);
    let cleared = update(&api, id, json!({"nickname": null})).await;
    assert_eq!(cleared["nickname"], Value::Null);
    let r = api.put(&format!("{TRUNKS}/{id}"), json!({"nickname": "n".repeat(51)})).await;
    assert_eq!(r.status, 422);
    let set = api.put(&format!("/user/phone-numbers/{id}"), json!({"nickname": "op:sip/abc"})).await;
    assert_eq!(set.status, 200);
    assert_eq!(keys(&set.body["data"]), ["country_code", "id", "nickname", "phone_number", "type"]);
    assert_eq!(set.body["data"]["type"], "sip");
    assert_eq!(api.get(TRUNKS).await.body["data"][0]["nickname"], "op:sip/abc");
    let long = api.put(&format!("/user/phone-numbers/{id}"), json!({"nickname": "n".repeat(51)})).await;
    assert_eq!(long.status, 422);
    assert_eq!(keys(&long.body["errors"]), ["nickname"]);
}

#[tokio::test]
async fn famulor_ignores_nickname_on_trunk_routes_and_sets_it_via_phone_number_put() {
    let emu = start(Flavor::Famulor).await;
    let api = Api::new(&emu);
    let created = create(&api, fixture_trunk()).await;
    assert!(created.get("nickname").is_none(), "famulor create response has no nickname");
    let id = id_of(&created);
    assert_eq!(api.get(TRUNKS).await.body["data"][0]["nickname"], Value::Null, "create ignored it");
    update(&api, id, json!({"nickname": "ignored"})).await;
    assert_eq!(emu.trunks("token-a")[0]["nickname"], Value::Null, "update ignored it");

    let set = api.put(&format!("/user/phone-numbers/{id}"), json!({"nickname": "op:sip/abc"})).await;
    assert_eq!(set.status, 200);
    assert_eq!(api.get(TRUNKS).await.body["data"][0]["nickname"], "op:sip/abc");
    assert!(api.get(&format!("{TRUNKS}/{id}")).await.body["data"].get("nickname").is_none());

    emu.set_behaviour(Behaviour { famulor_nickname_in_list: false, ..Behaviour::default() });
    assert!(api.get(TRUNKS).await.body["data"][0].get("nickname").is_none());
}

#[tokio::test]
async fn unauthorized_shapes_per_flavor() {
    let auto = start(Flavor::Autocalls).await;
    let bad = Api::with_token(&auto, "nope").get(TRUNKS).await;
    assert_eq!((bad.status, bad.body.clone()), (401, json!({"message": "Unauthenticated."})));

    let fam = start(Flavor::Famulor).await;
    let bad = Api::with_token(&fam, "nope").get(TRUNKS).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "Invalid API key");
    assert!(bad.body["message"].is_string());
    let missing = reqwest::Client::new().get(format!("{}{TRUNKS}", fam.base_url())).send().await.expect("reachable");
    assert_eq!(missing.status().as_u16(), 401);
    let body: Value = missing.json().await.unwrap_or_default();
    assert_eq!(body["error"], "Missing Authorization header");

    fam.revoke_token("token-a");
    assert_eq!(Api::with_token(&fam, "token-a").get(TRUNKS).await.status, 401);
    assert_eq!(fam.calls().get(&format!("GET {TRUNKS}"), 401), 3);
}

#[tokio::test]
async fn famulor_burst_limit_answers_429_with_retry_after_and_headers() {
    let emu = start(Flavor::Famulor).await;
    let api = Api::new(&emu);
    for i in 0..20 {
        let r = api.get(TRUNKS).await;
        assert_eq!(r.status, 200, "call {i}");
        assert_eq!(r.headers["x-ratelimit-remaining"].to_str().ok(), Some((99 - i).to_string().as_str()));
    }
    let limited = api.get(TRUNKS).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["error"], "Rate limit exceeded");
    let retry = limited.body["retry_after"].as_u64().unwrap_or(0);
    assert!((1..=10).contains(&retry), "retry_after {retry}");
    assert!(limited.headers.get("retry-after").is_none());
    assert!(limited.headers.contains_key("x-ratelimit-reset"));
    // Accounts are limited separately.
    assert_eq!(Api::with_token(&emu, "token-b").get(TRUNKS).await.status, 200);

    emu.set_rate_limit(Some(RateLimitCfg::per_second(1).with_retry_after_header(true)));
    assert_eq!(api.get(TRUNKS).await.status, 200);
    let limited = api.get(TRUNKS).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"].to_str().ok(), Some("1"));
    assert_eq!(emu.calls().status(429), 2);
}

#[tokio::test]
async fn autocalls_has_no_rate_limit_by_default() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    for _ in 0..30 {
        assert_eq!(api.get(TRUNKS).await.status, 200);
    }
    assert_eq!(emu.calls().get(&format!("GET {TRUNKS}"), 200), 30);
}

#[tokio::test]
async fn inspection_shows_hashes_never_passwords_and_counts_calls() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    create(&api, fixture_trunk()).await;
    api.get(TRUNKS).await;
    api.get(&format!("{TRUNKS}/12345")).await;
    let root = format!("http://{}", emu.addr());
    let text = reqwest::get(format!("{root}/_emulator/trunks")).await.expect("up").text().await.unwrap_or_default();
    assert!(!text.contains("s3cret"));
    assert!(text.contains("sip_password_sha256"));
    let calls: Value =
        reqwest::get(format!("{root}/_emulator/calls")).await.expect("up").json().await.unwrap_or_default();
    assert_eq!(calls["total"], 3);
    let counts = emu.calls();
    assert_eq!(counts.get(&format!("POST {TRUNKS}"), 201), 1);
    assert_eq!(counts.get(&format!("GET {TRUNKS}/{{id}}"), 404), 1);
    assert_eq!(counts.endpoint(&format!("GET {TRUNKS}")), 1);
    emu.reset_calls();
    assert_eq!(emu.total_calls(), 0);
    assert_eq!(CallCounts::DROPPED, 0);
}

#[tokio::test]
async fn seeded_and_edited_trunks_show_through_the_api() {
    let emu = start(Flavor::Autocalls).await;
    let api = Api::new(&emu);
    let id = emu.seed_trunk("token-a", json!({"phone_number": "+4930123456", "sip_username": "human"}));
    let before = api.get(&format!("{TRUNKS}/{id}")).await.body["data"].clone();
    assert_eq!(before["nickname"], Value::Null);
    emu.edit_trunk("token-a", &id, json!({"sip_address": "edited.example", "nickname": "by hand"}));
    let after = api.get(&format!("{TRUNKS}/{id}")).await.body["data"].clone();
    assert_eq!(after["sip_address"], "edited.example");
    assert_eq!(after["nickname"], "by hand");
    assert_ne!(after["outbound_trunk_id"], before["outbound_trunk_id"]);
    assert_eq!(emu.trunk_stats("token-a", &id).map(|s| s.updates), Some(0), "dashboard edits are not API updates");
}

#[tokio::test]
async fn redirect_knob_answers_non_json_clients_like_laravel() {
    let mut cfg = EmulatorConfig::new(Flavor::Autocalls).with_token("token-a");
    cfg.behaviour.redirect_without_accept_json = true;
    let emu = start_with(cfg).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http.get(format!("{}{TRUNKS}", emu.base_url())).bearer_auth("wrong").send().await.expect("up");
    assert_eq!(r.status().as_u16(), 302);
    let ok = Api::with_token(&emu, "wrong").get(TRUNKS).await;
    assert_eq!(ok.status, 401, "with Accept: application/json the API answers JSON");
}

#[tokio::test]
async fn infer_country_knob_overrides_the_sent_country_for_numbers() {
    let mut cfg = EmulatorConfig::new(Flavor::Autocalls).with_token("token-a");
    cfg.behaviour.infer_country_from_number = true;
    let emu = start_with(cfg).await;
    let mut body = ip_trunk();
    body["phone_number"] = json!("+4930123456");
    let t = create(&Api::new(&emu), body).await;
    assert_eq!(t["country_code"], "DE");
}
