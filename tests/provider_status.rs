//! The status the operator writes on SipProvider / ClusterSipProvider objects, for every case,
//! from the pure `provider_status()`: checked here, and written as the fixtures under
//! `tests/fixtures/provider-status/` that the chart tests feed to the Argo CD Lua health check
//! and to kstatus' rules (tests/chart/test_argocd_health.py). Refresh after an intended change
//! with `SIPTRUNK_BLESS=1 cargo test --test provider_status`.

use chrono::TimeZone;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};
use siptrunk_operator::controller::accounts::ListOutcome;
use siptrunk_operator::controller::providers::{Check, Scope, count_trunks, provider_status};
use siptrunk_operator::crd::{SipProviderStatus, SipTrunk};
use siptrunk_operator::provider::ProviderError;

const DIR: &str = "tests/fixtures/provider-status";

fn at(h: u32) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 1, 2, h, 0, 0).single().expect("time")
}

fn listed(error: Option<ProviderError>) -> Check {
    Check::Listed(Some(ListOutcome { at: at(11), error, last_success: Some(at(10)) }))
}

/// (case, kind, generation of the object, trunks, check).
fn cases() -> Vec<(&'static str, &'static str, i64, i64, Check)> {
    vec![
        ("token-accepted", "SipProvider", 1, 3, listed(None)),
        ("cluster-token-accepted", "ClusterSipProvider", 1, 7, listed(None)),
        (
            "unauthorized",
            "SipProvider",
            1,
            3,
            listed(Some(ProviderError::Unauthorized { status: 401, message: "Unauthenticated.".into() })),
        ),
        (
            "secret-not-found",
            "SipProvider",
            1,
            3,
            Check::SecretMissing("API token: Secret voice/autocalls-api does not exist".into()),
        ),
        (
            "config-invalid",
            "ClusterSipProvider",
            1,
            0,
            Check::ConfigInvalid("ClusterSipProvider/shared: caBundle holds no PEM certificate".into()),
        ),
        (
            "provider-unavailable",
            "SipProvider",
            1,
            3,
            listed(Some(ProviderError::Transient("HTTP 503 Service Unavailable".into()))),
        ),
        (
            "rate-limited",
            "SipProvider",
            1,
            3,
            listed(Some(ProviderError::RateLimited { retry_after: Some(std::time::Duration::from_secs(30)) })),
        ),
        ("checking", "SipProvider", 1, 2, Check::Listed(None)),
        ("not-checked", "SipProvider", 1, 0, Check::Listed(None)),
        // The spec changed after the status was written (status for generation 1, object at 2).
        ("generation-ahead", "SipProvider", 2, 3, listed(None)),
    ]
}

fn object(kind: &str, generation: i64, status: &SipProviderStatus) -> Value {
    let mut status = status.clone();
    for c in &mut status.conditions {
        c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::from_second(1_767_351_600).expect("ts"));
    }
    let (metadata, token_ref) = if kind == "SipProvider" {
        (
            json!({"name": "autocalls-prod", "namespace": "voice", "generation": generation}),
            json!({"name": "autocalls-api", "key": "token"}),
        )
    } else {
        (
            json!({"name": "shared", "generation": generation}),
            json!({"namespace": "voice", "name": "autocalls-api", "key": "token"}),
        )
    };
    json!({
        "apiVersion": "siptrunk.dev/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": {"type": "autocalls", "apiTokenSecretRef": token_ref},
        "status": status,
    })
}

fn ready(s: &SipProviderStatus) -> (String, String) {
    let c = s.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready is always present");
    (c.status.clone(), c.reason.clone())
}

fn has_true(s: &SipProviderStatus, type_: &str) -> bool {
    s.conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[test]
fn every_case_has_ready_observed_generation_and_the_trunk_count() {
    for (case, _, _, trunks, check) in cases() {
        let s = provider_status(&SipProviderStatus::default(), Some(1), trunks, &check);
        assert_eq!(s.observed_generation, Some(1), "{case}");
        assert_eq!(s.trunks, Some(trunks), "{case}");
        assert!(s.conditions.iter().all(|c| c.observed_generation == Some(1)), "{case}");
        let (status, reason) = ready(&s);
        let want = match case {
            "token-accepted" | "cluster-token-accepted" | "generation-ahead" => ("True", "TokenAccepted"),
            "unauthorized" => ("False", "Unauthorized"),
            "secret-not-found" => ("False", "SecretNotFound"),
            "config-invalid" => ("False", "ProviderConfigInvalid"),
            "provider-unavailable" => ("False", "ProviderUnavailable"),
            "rate-limited" => ("False", "RateLimited"),
            "checking" => ("Unknown", "Checking"),
            "not-checked" => ("Unknown", "NotChecked"),
            other => panic!("no expectation for {other}"),
        };
        assert_eq!((status.as_str(), reason.as_str()), want, "{case}");
        // Something to fix: Stalled. Transient or first check: Reconciling. Never both.
        let stalled = matches!(case, "unauthorized" | "secret-not-found" | "config-invalid");
        let reconciling = matches!(case, "provider-unavailable" | "rate-limited" | "checking");
        assert_eq!(has_true(&s, "Stalled"), stalled, "{case}: Stalled");
        assert_eq!(has_true(&s, "Reconciling"), reconciling, "{case}: Reconciling");
    }
}

#[test]
fn last_sync_time_is_the_last_successful_list_and_survives_a_failure() {
    let ok = provider_status(&SipProviderStatus::default(), Some(1), 1, &listed(None));
    assert_eq!(ok.last_sync_time.as_deref(), Some("2026-01-02T10:00:00Z"));
    let check = Check::Listed(Some(ListOutcome {
        at: at(12),
        error: Some(ProviderError::Transient("timeout".into())),
        last_success: None,
    }));
    let failed = provider_status(&ok, Some(1), 1, &check);
    assert_eq!(failed.last_sync_time, ok.last_sync_time, "a failure keeps the last success");
    let missing = provider_status(&ok, Some(1), 1, &Check::SecretMissing("gone".into()));
    assert_eq!(missing.last_sync_time, ok.last_sync_time);
}

#[test]
fn a_steady_state_does_not_move_last_sync_time_until_an_hour_has_passed() {
    let at_min = |m: i64| at(10) + chrono::Duration::minutes(m);
    let ok = |m: i64| Check::Listed(Some(ListOutcome { at: at_min(m), error: None, last_success: Some(at_min(m)) }));
    let first = provider_status(&SipProviderStatus::default(), Some(1), 1, &ok(0));
    let later = provider_status(&first, Some(1), 1, &ok(10));
    assert_eq!(later, first, "another successful list 10 min later is no status write");
    let hour = provider_status(&first, Some(1), 1, &ok(61));
    assert_eq!(hour.last_sync_time.as_deref(), Some("2026-01-02T11:01:00Z"), "refreshed after an hour");
    // After a failure, the next success is written at once (the health changes anyway).
    let failed = Check::Listed(Some(ListOutcome {
        at: at_min(20),
        error: Some(ProviderError::Transient("503".into())),
        last_success: Some(at_min(10)),
    }));
    let down = provider_status(&first, Some(1), 1, &failed);
    let up = provider_status(&down, Some(1), 1, &ok(21));
    assert_eq!(up.last_sync_time.as_deref(), Some("2026-01-02T10:21:00Z"));
}

#[test]
fn a_restart_keeps_an_accepted_token_until_a_list_says_otherwise() {
    let accepted = provider_status(&SipProviderStatus::default(), Some(1), 2, &listed(None));
    let restarted = provider_status(&accepted, Some(1), 2, &Check::Listed(None));
    assert_eq!(restarted, accepted, "no flap to Unknown (and no write) after a restart");
    let new_spec = provider_status(&accepted, Some(2), 2, &Check::Listed(None));
    assert_eq!(ready(&new_spec), ("Unknown".to_string(), "Checking".to_string()), "a new generation is checked");
    let revoked = listed(Some(ProviderError::Unauthorized { status: 401, message: "no".into() }));
    assert_eq!(ready(&provider_status(&restarted, Some(1), 2, &revoked)).1, "Unauthorized");
}

#[test]
fn an_unchanged_health_keeps_its_transition_time_so_status_is_not_rewritten() {
    let first = provider_status(&SipProviderStatus::default(), Some(1), 2, &listed(None));
    let again = provider_status(&first, Some(1), 2, &listed(None));
    assert_eq!(first, again, "the same input gives the same status: no write");
    let more = provider_status(&first, Some(1), 3, &listed(None));
    assert_eq!(more.trunks, Some(3));
    assert_eq!(more.conditions, first.conditions, "a new trunk count keeps the conditions");
}

#[test]
fn trunks_are_counted_per_account_key() {
    let t = |ns: &str, kind: &str, name: &str| -> SipTrunk {
        serde_json::from_value(json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "metadata": {"name": format!("t-{ns}-{name}"), "namespace": ns},
            "spec": {"providerRef": {"kind": kind, "name": name}, "displayName": "x", "phoneNumber": "+14155550001",
                     "sipAddress": "sip.example", "auth": {"type": "ip", "username": "u1", "allowedInboundIps": ["192.0.2.1"]}}
        }))
        .expect("trunk")
    };
    let trunks = [
        t("a", "SipProvider", "p"),
        t("a", "SipProvider", "q"),
        t("b", "SipProvider", "p"),
        t("a", "ClusterSipProvider", "p"),
        t("b", "ClusterSipProvider", "p"),
    ];
    let counts = count_trunks(trunks.iter());
    assert_eq!(counts.get("SipProvider/a/p"), Some(&1), "a namespaced provider counts its namespace only");
    assert_eq!(counts.get("SipProvider/b/p"), Some(&1));
    assert_eq!(counts.get("ClusterSipProvider/p"), Some(&2), "a cluster provider counts every namespace");
}

#[test]
fn only_an_instance_that_sees_every_trunk_writes_provider_status() {
    assert_eq!(Scope::of(None, None), Scope { namespaced: true, cluster: true });
    assert_eq!(Scope::of(Some("voice"), None), Scope { namespaced: true, cluster: false });
    assert_eq!(Scope::of(None, Some("shard=a")), Scope { namespaced: false, cluster: false });
}

#[test]
fn fixtures_for_argocd_and_kstatus_are_fresh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
    let bless = std::env::var("SIPTRUNK_BLESS").is_ok_and(|v| v == "1");
    if bless {
        std::fs::create_dir_all(&dir).expect("mkdir");
    }
    let mut stale = Vec::new();
    for (case, kind, generation, trunks, check) in cases() {
        let status = provider_status(&SipProviderStatus::default(), Some(1), trunks, &check);
        let text = serde_json::to_string_pretty(&object(kind, generation, &status)).expect("json") + "\n";
        let path = dir.join(format!("{case}.json"));
        if bless {
            std::fs::write(&path, &text).expect("write fixture");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(case);
        }
    }
    assert!(stale.is_empty(), "stale fixtures {stale:?}: run SIPTRUNK_BLESS=1 cargo test --test provider_status");
}
