//! bolna.ai wire behaviour: shapes and defaults, validation, name uniqueness, PATCH semantics, DIDs, auth, rate limit.

use std::collections::HashMap;

use serde_json::{Value, json};
use siptrunk_operator::emulator::{Behaviour, EmulatorConfig, Flavor, RateLimitCfg};

use crate::{Api, fixture, keys, start, start_with};

const TRUNKS: &str = "/sip-trunks/trunks";

fn userpass(name: &str) -> Value {
    json!({
        "name": name, "provider": "zadarma", "auth_type": "userpass",
        "auth_username": "user1", "auth_password": "pass-1",
        "gateways": [{"gateway_address": "sip.zadarma.com", "port": 5060, "priority": 1}]
    })
}

fn ip_based(name: &str) -> Value {
    json!({
        "name": name, "provider": "custom", "description": "managed-by=op uid=1",
        "auth_type": "ip-based",
        "gateways": [
            {"gateway_address": "sbc1.carrier.example", "port": 5060, "priority": 1},
            {"gateway_address": "sbc2.carrier.example", "port": 5060, "priority": 2}
        ],
        "ip_identifiers": [{"ip_address": "198.51.100.0/28"}],
        "inbound_enabled": true
    })
}

async fn create(api: &Api, body: Value) -> Value {
    let r = api.post(TRUNKS, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bolna_list_has_exactly_the_brief_list_fields_and_get_adds_the_newer_schema_fields() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let mut body = userpass("op-main");
    body["phone_numbers"] = json!([{"phone_number": "919876543210", "name": "main"}]);
    let created = create(&api, body).await;
    let brief = fixture(include_str!("fixtures/bolna_list.json"));
    let list = api.get(TRUNKS).await;
    assert_eq!(list.status, 200);
    let got = &list.body[0];
    let want = &brief[0];
    let extra: Vec<String> = keys(got).into_iter().filter(|k| want.get(k).is_none()).collect();
    assert!(extra.is_empty(), "the list page shows no {extra:?}");
    let detail = api.get(&format!("{TRUNKS}/{}", id(&created))).await.body;
    let mut newer: Vec<String> = keys(&detail).into_iter().filter(|k| want.get(k).is_none()).collect();
    newer.sort();
    assert_eq!(newer, ["media_encryption", "media_encryption_optimistic"]);
    emu.set_behaviour(Behaviour { bolna_list_as_brief: false, ..Behaviour::default() });
    let full = api.get(TRUNKS).await.body;
    assert!(full[0].get("media_encryption").is_some(), "off: the list shows the newer schema too");
    assert!(keys(want).iter().all(|k| got.get(k).is_some()), "every brief field present");
    assert_eq!(keys(&got["gateways"][0]), keys(&want["gateways"][0]));
    assert_eq!(keys(&got["phone_numbers"][0]), keys(&want["phone_numbers"][0]));
    assert_eq!(got["phone_numbers"][0]["phone_number"], "919876543210", "stored exactly as sent");
    assert_eq!(got["phone_numbers"][0]["byot_trunk_id"], got["id"]);
    let ts = got["created_at"].as_str().unwrap_or_default();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.len() == 20, "{ts}");
    assert_eq!(id(got).len(), 26);
}

#[tokio::test]
async fn bolna_create_applies_documented_defaults_and_hides_the_password() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let t = create(&api, userpass("a")).await;
    let expect = json!({
        "allow": "ulaw,alaw", "disallow": "all", "transport": "transport-udp", "direct_media": false,
        "rtp_symmetric": true, "force_rport": true, "media_encryption": "no",
        "media_encryption_optimistic": false, "qualify_frequency": 60, "inbound_enabled": false,
        "outbound_leading_plus_enabled": true, "is_active": true, "ip_identifiers": [],
        "phone_numbers": [], "description": null, "auth_username": "user1"
    });
    for (k, v) in expect.as_object().into_iter().flatten() {
        assert_eq!(&t[k], v, "{k}");
    }
    assert!(t.get("auth_password").is_none());
    assert!(!api.get(TRUNKS).await.text.contains("pass-1"));
    assert!(emu.password_matches(&emu.token(), &id(&t), "pass-1"));

    let ip = create(&api, ip_based("b")).await;
    assert!(ip.get("auth_username").is_none(), "only userpass trunks carry a username");
    assert_eq!(ip["gateways"][1]["priority"], 2);
}

#[tokio::test]
async fn bolna_validation_errors_are_400_with_integer_code() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let cases = [
        ("name", Value::Null),
        ("auth_type", json!("digest")),
        ("gateways", json!([])),
        ("auth_password", Value::Null),
        ("transport", json!("udp")),
        ("media_encryption", json!(false)),
        ("media_encryption", json!("sdes")),
    ];
    for (field, value) in cases {
        let mut body = userpass("x");
        body[field] = value.clone();
        let r = api.post(TRUNKS, body).await;
        assert_eq!(r.status, 400, "{field}={value}: {}", r.text);
        assert!(r.body["error"].is_i64(), "{}", r.text);
        assert!(r.body["message"].is_string());
    }
    let mut ip = ip_based("y");
    ip["ip_identifiers"] = json!([]);
    assert_eq!(api.post(TRUNKS, ip).await.status, 400);
    let mut tls = userpass("z");
    tls["transport"] = json!("transport-tls");
    tls["media_encryption"] = json!("sdes");
    assert_eq!(create(&api, tls).await["media_encryption"], "sdes");
    assert_eq!(emu.trunks(&emu.token()).len(), 1);
}

#[tokio::test]
async fn bolna_name_is_unique_per_account_on_create_and_rename() {
    let emu = start(Flavor::Bolna).await;
    let (a, b) = (Api::with_token(&emu, "token-a"), Api::with_token(&emu, "token-b"));
    create(&a, userpass("op-one")).await;
    let dup = a.post(TRUNKS, ip_based("op-one")).await;
    assert_eq!(dup.status, 409);
    assert!(dup.body["error"].is_i64());
    create(&b, userpass("op-one")).await;
    let two = create(&a, userpass("op-two")).await;
    let rename = a.patch(&format!("{TRUNKS}/{}", id(&two)), json!({"name": "op-one"})).await;
    assert_eq!(rename.status, 409);
    let same = a.patch(&format!("{TRUNKS}/{}", id(&two)), json!({"name": "op-two"})).await;
    assert_eq!(same.status, 200, "keeping its own name is fine");
}

#[tokio::test]
async fn bolna_patch_is_partial_replaces_lists_and_refuses_provider_and_auth_type() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let t = create(&api, ip_based("op-ip")).await;
    let path = format!("{TRUNKS}/{}", id(&t));
    let r = api.patch(&path, json!({"gateways": [{"gateway_address": "sbc3.carrier.example"}]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["gateways"], json!([{"gateway_address": "sbc3.carrier.example", "port": 5060, "priority": 1}]));
    assert_eq!(r.body["ip_identifiers"], t["ip_identifiers"], "unsent list untouched");
    assert_eq!(r.body["description"], t["description"], "unsent field untouched");
    let r = api.patch(&path, json!({"ip_identifiers": [{"ip_address": "203.0.113.9"}], "is_active": false})).await;
    assert_eq!(r.body["ip_identifiers"], json!([{"ip_address": "203.0.113.9"}]));
    assert_eq!(r.body["is_active"], false);
    for body in [json!({"provider": "twilio"}), json!({"auth_type": "userpass"}), json!({"media_encryption": "sdes"})] {
        assert_eq!(api.patch(&path, body).await.status, 400);
    }
    assert_eq!(emu.trunk_stats(&emu.token(), &id(&t)).map(|s| s.updates), Some(2));

    let up = create(&api, userpass("op-up")).await;
    let r = api.patch(&format!("{TRUNKS}/{}", id(&up)), json!({"auth_password": "rotated"})).await;
    assert_eq!(r.status, 200);
    assert!(emu.password_matches(&emu.token(), &id(&up), "rotated"));
    assert_eq!(api.patch(&format!("{TRUNKS}/nope"), json!({"name": "q"})).await.status, 404);
}

#[tokio::test]
async fn bolna_dids_are_added_listed_and_soft_deleted() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let t1 = id(&create(&api, userpass("t1")).await);
    let t2 = id(&create(&api, userpass("t2")).await);
    let added =
        api.post(&format!("{TRUNKS}/{t1}/numbers"), json!({"phone_number": "+919876543210", "name": "main"})).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.body["telephony_provider"], "sip-trunk");
    assert_eq!(added.body["deleted"], false);
    let pn = id(&added.body);

    let clash = api.post(&format!("{TRUNKS}/{t2}/numbers"), json!({"phone_number": "+919876543210"})).await;
    assert_eq!(clash.status, 409, "already on another active trunk");
    let other_form = api.post(&format!("{TRUNKS}/{t2}/numbers"), json!({"phone_number": "919876543210"})).await;
    assert_eq!(other_form.status, 201, "stored exactly as sent: a different string");
    let strict =
        api.post(&format!("{TRUNKS}/{t2}/numbers"), json!({"phone_number": "0800", "e164_check_enabled": true})).await;
    assert_eq!(strict.status, 400);

    let removed = api.delete(&format!("{TRUNKS}/{t1}/numbers/{pn}")).await;
    assert_eq!((removed.status, removed.body.clone()), (200, json!({"message": "Phone number removed successfully"})));
    let trunk = api.get(&format!("{TRUNKS}/{t1}")).await.body;
    assert_eq!(trunk["phone_numbers"][0]["deleted"], true, "soft delete keeps the entry");
    assert_eq!(api.get(&format!("{TRUNKS}/{t1}/numbers")).await.body[0]["deleted"], true);
    assert_eq!(api.delete(&format!("{TRUNKS}/{t1}/numbers/{pn}")).await.status, 404);
    assert_eq!(api.post(&format!("{TRUNKS}/{t2}/numbers"), json!({"phone_number": "+919876543210"})).await.status, 201);

    let del = api.delete(&format!("{TRUNKS}/{t2}")).await;
    assert_eq!(del.body, json!({"message": "Trunk deleted successfully. 2 phone number(s) removed."}));
    assert_eq!(api.get(&format!("{TRUNKS}/{t2}")).await.status, 404);
    assert_eq!(api.delete(&format!("{TRUNKS}/{t2}")).await.status, 404);
}

#[tokio::test]
async fn bolna_list_filters_on_is_active() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    create(&api, userpass("on")).await;
    let mut off = userpass("off");
    off["is_active"] = json!(false);
    create(&api, off).await;
    let names = |v: &Value| {
        v.as_array().into_iter().flatten().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect::<Vec<_>>()
    };
    assert_eq!(names(&api.get(&format!("{TRUNKS}?is_active=true")).await.body), ["on"]);
    assert_eq!(names(&api.get(&format!("{TRUNKS}?is_active=false")).await.body), ["off"]);
    assert_eq!(names(&api.get(TRUNKS).await.body), ["on", "off"]);
}

#[tokio::test]
async fn bolna_other_accounts_ids_are_404_and_bad_tokens_401() {
    let emu = start(Flavor::Bolna).await;
    let t = id(&create(&Api::with_token(&emu, "token-a"), userpass("mine")).await);
    let b = Api::with_token(&emu, "token-b");
    assert_eq!(b.get(&format!("{TRUNKS}/{t}")).await.status, 404);
    assert_eq!(b.delete(&format!("{TRUNKS}/{t}")).await.status, 404);
    assert_eq!(b.get(&format!("{TRUNKS}/{t}/numbers")).await.status, 404);
    let bad = Api::with_token(&emu, "nope").get(TRUNKS).await;
    assert_eq!(bad.status, 401);
    assert!(bad.body["error"].is_i64());
    assert_eq!(emu.trunks("token-a").len(), 1);
}

#[tokio::test]
async fn bolna_rate_limit_is_shared_by_tokens_of_one_account() {
    assert_eq!(EmulatorConfig::new(Flavor::Bolna).rate_limit, Some(RateLimitCfg::per_minute(1000)));
    let mut cfg = EmulatorConfig::new(Flavor::Bolna).with_rate_limit(Some(RateLimitCfg::per_minute(3)));
    cfg.token_accounts =
        HashMap::from([("org-1".to_owned(), "org".to_owned()), ("org-2".to_owned(), "org".to_owned())]);
    let emu = start_with(cfg).await;
    let (one, two) = (Api::with_token(&emu, "org-1"), Api::with_token(&emu, "org-2"));
    let t = create(&one, userpass("shared")).await;
    assert_eq!(two.get(&format!("{TRUNKS}/{}", id(&t))).await.status, 200, "same store");
    assert_eq!(one.get(TRUNKS).await.status, 200);
    let limited = two.get(TRUNKS).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body["error"].is_i64());
    assert_eq!(emu.calls().get("GET /sip-trunks/trunks", 429), 1);
}

#[tokio::test]
async fn bolna_seed_and_dashboard_edit_show_through_the_api() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let seeded = emu.seed_trunk(&emu.token(), json!({"name": "human-made"}));
    assert_eq!(seeded.len(), 26);
    emu.edit_trunk(&emu.token(), &seeded, json!({"description": "edited by hand"}));
    let got = api.get(&format!("{TRUNKS}/{seeded}")).await.body;
    assert_eq!(got["name"], "human-made");
    assert_eq!(got["description"], "edited by hand");
    assert_eq!(emu.trunk_stats(&emu.token(), &seeded).map(|s| s.updates), Some(0));
}

#[tokio::test]
async fn bolna_hiding_mode_leaves_unreliable_fields_out_of_list_and_patch_responses() {
    let emu = start(Flavor::Bolna).await;
    emu.set_behaviour(Behaviour { bolna_hide_unreliable_fields: true, ..Behaviour::default() });
    let api = Api::new(&emu);
    let mut body = userpass("hidden");
    body["transport"] = json!("transport-tls");
    body["media_encryption"] = json!("sdes");
    let created = create(&api, body).await;
    let hidden = ["media_encryption", "media_encryption_optimistic", "transport", "auth_type"];
    for k in hidden {
        assert!(created.get(k).is_some(), "create shows {k}");
    }
    let path = format!("{TRUNKS}/{}", id(&created));
    let got = api.get(&path).await.body;
    assert_eq!((got["transport"].clone(), got["media_encryption"].clone()), (json!("transport-tls"), json!("sdes")));
    let listed = api.get(TRUNKS).await.body;
    let patched = api.patch(&path, json!({"media_encryption_optimistic": true})).await.body;
    for k in hidden {
        assert!(listed[0].get(k).is_none(), "list hides {k}: {listed}");
        assert!(patched.get(k).is_none(), "PATCH response hides {k}: {patched}");
    }
    assert_eq!(listed[0]["name"], "hidden", "the rest of the item is there");
    assert_eq!(emu.trunks(&emu.token())[0]["media_encryption_optimistic"], true, "the PATCH was applied");
}

#[tokio::test]
async fn bolna_create_ignoring_is_active_mode_starts_the_trunk_active() {
    let emu = start(Flavor::Bolna).await;
    let api = Api::new(&emu);
    let mut off = userpass("off");
    off["is_active"] = json!(false);
    assert_eq!(create(&api, off.clone()).await["is_active"], false, "honoured by default");
    emu.set_behaviour(Behaviour { bolna_create_ignores_is_active: true, ..Behaviour::default() });
    off["name"] = json!("off-2");
    assert_eq!(create(&api, off).await["is_active"], true, "not on the create page: ignored");
}

#[tokio::test]
async fn bolna_did_conflict_422_mode_refuses_a_held_did_with_422_on_create_and_add() {
    let emu = start(Flavor::Bolna).await;
    emu.set_behaviour(Behaviour { bolna_did_conflict_422: true, ..Behaviour::default() });
    let api = Api::new(&emu);
    let mut holder = userpass("holder");
    holder["phone_numbers"] = json!([{"phone_number": "+919876543210"}]);
    create(&api, holder).await;
    let mut twin = userpass("twin");
    twin["phone_numbers"] = json!([{"phone_number": "+919876543210"}]);
    let refused = api.post(TRUNKS, twin).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.body["error"].is_i64() && refused.body["message"].as_str().is_some_and(|m| m.contains("+919876543210"))
    );
    let other = id(&create(&api, userpass("other")).await);
    let add = api.post(&format!("{TRUNKS}/{other}/numbers"), json!({"phone_number": "+919876543210"})).await;
    assert_eq!(add.status, 422, "{}", add.text);
    assert_eq!(emu.trunks(&emu.token()).len(), 2, "the refused create stored nothing");
}
