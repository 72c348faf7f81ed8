//! End-to-end, things found in use: a country change the provider does not take is reported,
//! not hidden behind "holds exactly this trunk"; Events are readable through core/v1 (what
//! `kubectl get events` and `kubectl describe` use) as well as events.k8s.io/v1, and a repeated
//! Event reason with another note is its own Event, not a count on the first note.

#[macro_use]
mod common;

use common::*;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use siptrunk_operator::emulator::Flavor;

fn not_applied(t: &siptrunk_operator::crd::SipTrunk) -> Vec<String> {
    t.status.as_ref().and_then(|s| s.not_applied.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_country_change_on_a_number_trunk_is_reported_as_not_applied() {
    for flavor in [Flavor::Autocalls, Flavor::Famulor] {
        let env = Env::start(flavor).await;
        env.put_secret("cc-sip", "password", "pw-cc").await;
        let t = trunk(flavor, "cc", 1);
        env.apply(&t).await.expect("apply");
        let first = env.wait_ready("cc").await;
        assert!(not_applied(&first).is_empty(), "{:?}", first.status);
        let country = env.only_remote()["country_code"].as_str().unwrap_or_default().to_string();
        let writes = env.write_calls();

        let mut changed = t.clone();
        merge(&mut changed, json!({"spec": {"countryCode": "CA"}}));
        env.apply(&changed).await.expect("apply CA");
        let got = env
            .wait_for("cc", "countryCode reported as not applied", |t| {
                is_ready(t) && not_applied(t).iter().any(|f| f.starts_with("countryCode CA"))
            })
            .await;
        let why = not_applied(&got).join("; ");
        assert!(why.contains(&format!("{country:?}")), "names what the provider keeps: {why}");
        let msg = ready_message(&got);
        assert!(msg.contains("except: countryCode CA"), "Ready does not claim an exact match: {msg}");
        assert_eq!(env.write_calls(), writes, "nothing is sent for a number trunk's country");
        assert_eq!(env.only_remote()["country_code"], json!(country), "the provider keeps its country");

        // Back to what the provider holds: nothing to report.
        env.apply(&t).await.expect("apply back");
        let back = env.wait_for("cc", "report cleared", |t| is_ready(t) && not_applied(t).is_empty()).await;
        assert!(!ready_message(&back).contains("except"), "{}", ready_message(&back));
        env.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_served_through_core_v1_and_a_new_note_is_a_new_event() {
    let flavor = Flavor::Autocalls;
    let env = Env::start(flavor).await;
    env.put_secret("ev-sip", "password", "pw-ev-1").await;
    let t = trunk(flavor, "ev", 1);
    env.apply(&t).await.expect("apply");
    env.wait_ready("ev").await;

    // An update of one field, then a password rotation: two Updated Events, two notes.
    let mut national = t.clone();
    merge(&mut national, json!({"spec": {"callingFormat": "national"}}));
    env.apply(&national).await.expect("apply national");
    env.wait_remote("calling format updated", |r| r.iter().any(|x| x["sip_calling_format"] == "national")).await;
    env.put_secret("ev-sip", "password", "pw-ev-2").await;
    let id = env.wait_ready("ev").await.status.and_then(|s| s.trunk_id).expect("id");
    env.wait_remote("password rotated", |_| env.provider.password_matches(&env.token, &id, "pw-ev-2")).await;

    let core: Api<CoreEvent> = Api::namespaced(env.client.clone(), &env.ns);
    let by_object = ListParams::default().fields("involvedObject.name=ev");
    let notes = wait_until(
        DEADLINE,
        || {
            let core = core.clone();
            let lp = by_object.clone();
            async move {
                core.list(&lp)
                    .await
                    .map(|l| {
                        l.items
                            .into_iter()
                            .filter(|e| e.reason.as_deref() == Some("Updated"))
                            .filter_map(|e| e.message)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            }
        },
        |notes: &Vec<String>| {
            notes.iter().any(|n| n.contains("sip_calling_format")) && notes.iter().any(|n| n.contains("sip_password"))
        },
    )
    .await;
    assert!(
        notes.is_some(),
        "core/v1 shows both Updated Events with their own notes (kubectl describe reads these); events.k8s.io has {:?}",
        env.events_with_reason("ev", "Updated").await.iter().map(|e| e.note.clone()).collect::<Vec<_>>()
    );
    // The same Events through events.k8s.io/v1, in that API's shape.
    let created = env.events_with_reason("ev", "Created").await;
    assert!(
        created.iter().any(|e| e.note.as_deref() == Some(&format!("created trunk {id}"))),
        "Created says which trunk (describe shows no empty message): {created:?}"
    );
    let v1 = env.events_with_reason("ev", "Updated").await;
    assert!(v1.iter().any(|e| e.note.as_deref().is_some_and(|n| n.contains("sip_password"))), "{v1:?}");
    assert!(v1.iter().all(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("SipTrunk")));
    env.stop().await;
}
