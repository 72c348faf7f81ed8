//! `siptrunk-operator plan` against the provider emulator: what it reports for each state of the
//! account, that it only ever lists (zero writes), and its exit codes.

mod erased;

use std::collections::BTreeMap;

use erased::ProviderClient;
use secrecy::SecretString;
use serde_json::json;
use siptrunk_operator::controller::reconcile::credentials_hash;
use siptrunk_operator::crd::{ProviderType, SipTrunk};
use siptrunk_operator::emulator::{Behaviour, EmulatorConfig, Flavor, ProviderEmulator};
use siptrunk_operator::plan::{self, Action, Password, Plan};
use siptrunk_operator::provider::ClientConfig;

const TOKEN: &str = "plan-test-token-0001";
const PASSWORD: &str = "s3cret-sip-password";
/// The operator's marker key as the plan receives it (base64 of the key Secret's data).
const KEY_B64: &str = "cGxhbi10ZXN0LW1hcmtlci1rZXktMzItYnl0ZXMhIQ==";

fn key() -> siptrunk_operator::model::MarkerKey {
    siptrunk_operator::model::MarkerKey::from_bytes(b"plan-test-marker-key-32-bytes!!").expect("key")
}

fn provider_yaml(kind: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: api, namespace: telephony}}
stringData: {{token: "{TOKEN}"}}
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipProvider
metadata: {{name: acct, namespace: telephony}}
spec:
  type: {kind}
  apiTokenSecretRef: {{name: api}}
"#
    )
}

fn autocalls_trunk(name: &str, number: &str, extra: &str) -> String {
    format!(
        r#"
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipTrunk
metadata: {{name: {name}, namespace: telephony}}
spec:
  providerRef: {{name: acct}}
  displayName: Line {name}
  phoneNumber: "{number}"
  sipAddress: sip.carrier.example
  auth:
    type: credentials
    username: user-{name}
    passwordSecretRef: {{name: {name}-sip}}
  countryCode: US
{extra}
"#
    )
}

fn password_secret(name: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Secret
metadata: {{name: {name}-sip, namespace: telephony}}
stringData: {{password: "{PASSWORD}"}}
"#
    )
}

fn bolna_trunk(name: &str) -> String {
    format!(
        r#"
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipTrunk
metadata: {{name: {name}, namespace: telephony}}
spec:
  providerRef: {{name: acct}}
  auth:
    type: ip
    username: carriera
    allowedInboundIps: [198.51.100.0/28]
  bolna:
    gateways: [{{address: sbc1.carrier.example}}]
    phoneNumbers: [{{number: "+919876543210"}}, {{number: "919876543211"}}]
"#
    )
}

struct World {
    emu: ProviderEmulator,
    flavor: Flavor,
    dir: tempfile::TempDir,
}

impl World {
    async fn start(flavor: Flavor) -> World {
        siptrunk_operator::kubeemu::install_crypto_provider();
        let emu =
            ProviderEmulator::start(EmulatorConfig::new(flavor).with_rate_limit(None).with_token(TOKEN)).await.unwrap();
        World { emu, flavor, dir: tempfile::tempdir().unwrap() }
    }

    fn kind(&self) -> &'static str {
        self.flavor.as_str()
    }

    fn write(&self, file: &str, text: &str) {
        let p = self.dir.path().join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn options(&self, env: &[(&str, &str)]) -> plan::Options {
        plan::Options {
            paths: vec![self.dir.path().to_path_buf()],
            namespace: "default".into(),
            base_url_overrides: BTreeMap::from([(self.kind().to_string(), self.emu.base_url())]),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// Runs the plan (with the operator's marker key) and checks the promise every plan keeps:
    /// no provider write, ever.
    async fn plan_with(&self, env: &[(&str, &str)]) -> Plan {
        let mut env = env.to_vec();
        env.push(("SIPTRUNK_MARKER_KEY", KEY_B64));
        self.plan_without_key(&env).await
    }

    async fn plan_without_key(&self, env: &[(&str, &str)]) -> Plan {
        self.emu.reset_calls();
        let p = plan::plan(self.options(env)).await.expect("plan runs");
        let calls = self.emu.calls();
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            assert_eq!(calls.method(method), 0, "plan must not write ({method}): {calls:?}");
        }
        p
    }

    async fn plan(&self) -> Plan {
        self.plan_with(&[]).await
    }

    fn client(&self) -> ProviderClient {
        let provider = match self.flavor {
            Flavor::Autocalls => ProviderType::Autocalls,
            Flavor::Famulor => ProviderType::Famulor,
            Flavor::Bolna => ProviderType::Bolna,
        };
        let cfg = ClientConfig {
            provider,
            base_url: self.emu.base_url(),
            token: SecretString::from(TOKEN),
            timeout: std::time::Duration::from_secs(5),
            rate_per_second: 1000.0,
            burst: 100,
            ca_bundle: None,
            allow_insecure_http: true,
            list_budget: Default::default(),
            api_key: None,
        };
        ProviderClient::new(cfg, Default::default()).unwrap()
    }

    /// Creates the trunk the operator would create for the SipTrunk `name` in `file`, with the
    /// operator's own client (as if it had run), and returns its id.
    async fn create_as_operator(&self, file: &str, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(file)).unwrap();
        let trunk: SipTrunk = serde_yaml_ng::Deserializer::from_str(&text)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .filter_map(|v: serde_json::Value| serde_json::from_value::<SipTrunk>(v).ok())
            .find(|t| t.metadata.name.as_deref() == Some(name))
            .expect("trunk in file");
        let ty = self.client().provider();
        let marker = key().marker("telephony", name);
        let desired = erased::desired(&trunk.spec, ty, "telephony", name, &marker);
        self.client().create(&desired, Some(SecretString::from(PASSWORD))).await.expect("create").0.id()
    }
}

fn assert_action(p: &Plan, name: &str, action: Action) {
    let t = p.trunk("telephony", name).unwrap_or_else(|| panic!("{name} in plan {p:#?}"));
    assert_eq!(t.action, action, "{name}: {t:#?}");
}

#[tokio::test]
async fn an_empty_account_plans_a_create_for_every_trunk_with_one_list_call() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("trunks/a.yaml", &(autocalls_trunk("a", "+14155550001", "") + &password_secret("a")));
    w.write("trunks/nested/b.yaml", &autocalls_trunk("b", "+14155550002", ""));
    let p = w.plan().await;
    assert_action(&p, "a", Action::Create);
    assert_action(&p, "b", Action::Create);
    assert_eq!(p.trunk("telephony", "a").unwrap().password, Some(Password::SentWithCreate));
    assert_eq!(
        p.trunk("telephony", "b").unwrap().password,
        Some(Password::Unavailable),
        "b has no Secret in the input"
    );
    assert_eq!(w.emu.calls().endpoint("GET /user/phone-numbers/sip-trunks"), 1, "one list for the account");
    assert_eq!(w.emu.total_calls(), 1);
    assert_eq!(p.provider_calls, 1);
    assert_eq!(p.exit_code(), 2);
}

#[tokio::test]
async fn trunks_the_operator_created_plan_nothing() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write(
        "t.yaml",
        &(autocalls_trunk("a", "+14155550001", "") + &autocalls_trunk("b", "1000", "  numberType: extension")),
    );
    w.create_as_operator("t.yaml", "a").await;
    w.create_as_operator("t.yaml", "b").await;
    let p = w.plan().await;
    assert_action(&p, "a", Action::Nothing);
    assert_action(&p, "b", Action::Nothing);
    assert_eq!(p.exit_code(), 0);
    assert!(p.trunk("telephony", "a").unwrap().trunk_id.is_some());
}

#[tokio::test]
async fn a_drifted_field_plans_an_update_naming_that_field() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    let id = w.create_as_operator("t.yaml", "a").await;
    w.emu.edit_trunk(TOKEN, &id, json!({"sip_calling_format": "national", "outbound_proxy": true}));
    let p = w.plan().await;
    assert_action(&p, "a", Action::Update);
    let t = p.trunk("telephony", "a").unwrap();
    assert_eq!(t.fields, ["sip_calling_format", "outbound_proxy"]);
    assert_eq!(t.trunk_id.as_deref(), Some(id.as_str()));
    assert_eq!(p.exit_code(), 2);
    let text = plan::render::text(&p);
    assert!(text.contains("update sip_calling_format, outbound_proxy"), "{text}");
}

#[tokio::test]
async fn an_unmarked_trunk_with_the_same_natural_key_is_a_conflict() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    let id = w.emu.seed_trunk(
        TOKEN,
        json!({"phone_number": "+14155550001", "sip_username": "user-a", "sip_address": "SIP.carrier.example", "nickname": "made by hand"}),
    );
    let p = w.plan().await;
    assert_action(&p, "a", Action::Conflict);
    let t = p.trunk("telephony", "a").unwrap();
    assert_eq!(t.trunk_id.as_deref(), Some(id.as_str()));
    assert!(t.message.contains("adoptExisting"), "{}", t.message);
    assert_eq!(p.exit_code(), 1);
}

#[tokio::test]
async fn adopt_existing_plans_an_adoption_that_writes_the_marker_and_the_password() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &(autocalls_trunk("a", "+14155550001", "  adoptExisting: true") + &password_secret("a")));
    let id = w.emu.seed_trunk(
        TOKEN,
        json!({"phone_number": "+14155550001", "sip_username": "user-a", "sip_address": "sip.carrier.example", "nickname": null}),
    );
    let p = w.plan().await;
    assert_action(&p, "a", Action::Adopt);
    let t = p.trunk("telephony", "a").unwrap();
    assert_eq!(t.trunk_id.as_deref(), Some(id.as_str()));
    assert_eq!(t.reason.as_deref(), Some("Allowed"));
    assert!(t.fields.contains(&"nickname".to_string()), "{:?}", t.fields);
    assert!(t.fields.contains(&"sip_password".to_string()), "{:?}", t.fields);
    assert_eq!(t.password, Some(Password::SentWithAdopt));
    assert_eq!(p.exit_code(), 2);
}

#[tokio::test]
async fn invalid_specs_are_reported_with_their_field_paths_without_a_provider_call() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    // Refused by CEL at the API server: not E.164.
    w.write("cel.yaml", &autocalls_trunk("cel", "4155550001", ""));
    // Accepted by the API server, refused by the controller: CIDR on autocalls.
    w.write(
        "ctl.yaml",
        &autocalls_trunk("ctl", "+14155550002", "")
            .replace("    type: credentials\n", "    type: ip\n    allowedInboundIps: [198.51.100.0/28]\n"),
    );
    let p = w.plan().await;
    assert_action(&p, "cel", Action::Invalid);
    assert_action(&p, "ctl", Action::Invalid);
    let cel = p.trunk("telephony", "cel").unwrap();
    assert!(cel.message.contains("spec.phoneNumber"), "{}", cel.message);
    let ctl = p.trunk("telephony", "ctl").unwrap();
    assert!(ctl.message.contains("spec.auth.allowedInboundIps[0]"), "{}", ctl.message);
    assert_eq!(ctl.reason.as_deref(), Some("InvalidSpec"));
    assert_eq!(w.emu.total_calls(), 0, "invalid trunks never reach the provider");
    assert_eq!(p.exit_code(), 1);
}

#[tokio::test]
async fn a_rotated_password_is_an_update_only_when_the_input_carries_status() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    let id = {
        w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
        w.create_as_operator("t.yaml", "a").await
    };
    // No status in the input: the password cannot be compared, and nothing is pending.
    let p = w.plan_with(&[("SIPTRUNK_PASSWORD_A", "rotated-password")]).await;
    assert_action(&p, "a", Action::Nothing);
    assert_eq!(p.trunk("telephony", "a").unwrap().password, Some(Password::NotComparable));

    // Status as `kubectl get -o yaml` prints it: the hash of the applied password.
    let applied = credentials_hash(&SecretString::from(TOKEN), &SecretString::from(PASSWORD));
    let status = format!("status:\n  trunkId: \"{id}\"\n  credentialsHash: \"{applied}\"\n");
    w.write("t.yaml", &(autocalls_trunk("a", "+14155550001", "") + &status));
    let same = w.plan_with(&[("SIPTRUNK_PASSWORD_A", PASSWORD)]).await;
    assert_action(&same, "a", Action::Nothing);
    assert_eq!(same.trunk("telephony", "a").unwrap().password, Some(Password::Unchanged));
    let rotated = w.plan_with(&[("SIPTRUNK_PASSWORD_A", "rotated-password")]).await;
    assert_action(&rotated, "a", Action::Update);
    assert_eq!(rotated.trunk("telephony", "a").unwrap().fields, ["sip_password"]);
    assert_eq!(rotated.trunk("telephony", "a").unwrap().password, Some(Password::Changed));
}

#[tokio::test]
async fn tokens_from_the_environment_win_and_a_missing_token_names_the_variables() {
    let w = World::start(Flavor::Autocalls).await;
    // The Secret in the input holds a placeholder, as in git.
    w.write("p.yaml", &provider_yaml(w.kind()).replace(TOKEN, "replace-with-your-api-key"));
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    let refused = w.plan().await;
    assert_action(&refused, "a", Action::Error);
    let t = refused.trunk("telephony", "a").unwrap();
    assert_eq!(t.reason.as_deref(), Some("Unauthorized"));
    assert!(t.message.contains("token from Secret telephony/api"), "{}", t.message);
    assert!(!t.message.contains("replace-with-your-api-key"), "{}", t.message);

    let by_provider = w.plan_with(&[("SIPTRUNK_TOKEN_ACCT", TOKEN), ("SIPTRUNK_TOKEN", "wrong")]).await;
    assert_action(&by_provider, "a", Action::Create);
    let general = w.plan_with(&[("SIPTRUNK_TOKEN", TOKEN)]).await;
    assert_action(&general, "a", Action::Create);

    w.write("p.yaml", provider_yaml(w.kind()).split("---").nth(1).unwrap());
    let missing = w.plan().await;
    let t = missing.trunk("telephony", "a").unwrap();
    assert_eq!((t.action, t.reason.as_deref()), (Action::Error, Some("SecretNotFound")));
    assert!(t.message.contains("SIPTRUNK_TOKEN_ACCT"), "{}", t.message);
    assert_eq!(missing.exit_code(), 1);
}

#[tokio::test]
async fn a_trunk_whose_provider_is_not_in_the_input_is_an_error() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    let p = w.plan().await;
    let t = p.trunk("telephony", "a").unwrap();
    assert_eq!((t.action, t.reason.as_deref()), (Action::Error, Some("ProviderNotFound")));
    assert_eq!(p.exit_code(), 1);
    assert_eq!(w.emu.total_calls(), 0);
}

#[tokio::test]
async fn bolna_trunks_plan_create_then_nothing_then_a_did_update() {
    let w = World::start(Flavor::Bolna).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &bolna_trunk("carrier"));
    assert_action(&w.plan().await, "carrier", Action::Create);
    assert_eq!(w.emu.calls().endpoint("GET /sip-trunks/trunks"), 1);

    w.create_as_operator("t.yaml", "carrier").await;
    let p = w.plan().await;
    assert_action(&p, "carrier", Action::Nothing);
    assert_eq!(p.trunk("telephony", "carrier").unwrap().password, Some(Password::NotUsed));

    w.write("t.yaml", &bolna_trunk("carrier").replace("{number: \"919876543211\"}", "{number: \"+919876543299\"}"));
    let p = w.plan().await;
    assert_action(&p, "carrier", Action::Update);
    assert_eq!(p.trunk("telephony", "carrier").unwrap().fields, ["phone_numbers"]);
}

#[tokio::test]
async fn famulor_trunks_are_matched_by_the_nickname_set_through_the_phone_number_endpoint() {
    let w = World::start(Flavor::Famulor).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+4930123456", ""));
    w.create_as_operator("t.yaml", "a").await;
    assert_action(&w.plan().await, "a", Action::Nothing);
}

#[tokio::test]
async fn a_nickname_famulor_hides_is_read_from_the_phone_number_list_and_compared() {
    // Ownership needs the marker, so the nickname famulor's trunk list omits is read from
    // GET /user/phone-numbers/all and compared as shown there (status.lastApplied does not
    // stand in for it).
    let w = World::start(Flavor::Famulor).await;
    w.emu.set_behaviour(Behaviour { famulor_nickname_in_list: false, ..Behaviour::default() });
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+4930123456", ""));
    let id = w.create_as_operator("t.yaml", "a").await;
    let with_status = |extra: &str| {
        let status = format!("status:\n  trunkId: \"{id}\"\n{extra}");
        w.write("t.yaml", &(autocalls_trunk("a", "+4930123456", "") + &status));
    };
    with_status("");
    let p = w.plan().await;
    assert_action(&p, "a", Action::Nothing);
    assert_eq!(w.emu.calls().endpoint("GET /user/phone-numbers/all"), 1, "one phone-number list");
    with_status("  lastApplied:\n    nickname: \"Old name op:0000000000\"\n");
    assert_action(&w.plan().await, "a", Action::Nothing);
    // Someone renamed it at the provider, keeping the marker: the nickname is restored.
    let renamed = format!("Renamed {}", key().marker("telephony", "a"));
    w.emu.edit_trunk(TOKEN, &id, json!({"nickname": renamed}));
    let p = w.plan().await;
    assert_action(&p, "a", Action::Update);
    assert_eq!(p.trunk("telephony", "a").unwrap().fields, ["nickname"]);
}

#[tokio::test]
async fn hidden_bolna_fields_in_plain_files_are_named_in_a_note_not_planned() {
    let w = World::start(Flavor::Bolna).await;
    w.emu.set_behaviour(Behaviour { bolna_hide_unreliable_fields: true, ..Behaviour::default() });
    w.write("p.yaml", &provider_yaml(w.kind()));
    let srtp = bolna_trunk("carrier") + "    transport: tls\n    mediaEncryption: sdes\n";
    w.write("t.yaml", &srtp);
    w.create_as_operator("t.yaml", "carrier").await;
    let p = w.plan().await;
    assert_action(&p, "carrier", Action::Nothing);
    let notes = &p.trunk("telephony", "carrier").unwrap().notes;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("transport, media_encryption not shown") && n.contains("status.lastApplied")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn secret_values_never_appear_in_the_output() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &(autocalls_trunk("a", "+14155550001", "") + &password_secret("a")));
    w.write("u.yaml", &autocalls_trunk("u", "+14155550002", ""));
    w.create_as_operator("t.yaml", "a").await;
    let p = w.plan_with(&[("SIPTRUNK_PASSWORD_U", "env-password-xyz")]).await;
    let out = format!("{}{}", plan::render::text(&p), plan::render::json(&p));
    for secret in [TOKEN, PASSWORD, "env-password-xyz"] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
}

#[tokio::test]
async fn exit_codes_rank_problems_over_changes_over_nothing() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    w.create_as_operator("t.yaml", "a").await;
    assert_eq!(w.plan().await.exit_code(), 0);
    w.write("b.yaml", &autocalls_trunk("b", "+14155550002", ""));
    assert_eq!(w.plan().await.exit_code(), 2);
    w.write("c.yaml", &autocalls_trunk("c", "not-a-number", ""));
    assert_eq!(w.plan().await.exit_code(), 1);
    // No SipTrunk at all is a mistake (a wrong path), not "nothing to do".
    let empty = tempfile::tempdir().unwrap();
    let mut opts = w.options(&[]);
    opts.paths = vec![empty.path().to_path_buf()];
    assert_eq!(plan::plan(opts).await.unwrap().exit_code(), 1);
}

#[tokio::test]
async fn the_binary_prints_json_and_exits_2_when_changes_are_pending() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_siptrunk-operator"))
        .args(["plan", "-o", "json", "-f"])
        .arg(w.dir.path())
        .arg("--base-url-override")
        .arg(format!("autocalls={}", w.emu.base_url()))
        .env_remove("SIPTRUNK_TOKEN")
        .env("SIPTRUNK_MARKER_KEY", KEY_B64)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["exitCode"], 2);
    assert_eq!(v["trunks"][0]["action"], "create");
    assert_eq!(v["trunks"][0]["name"], "a");
    assert_eq!(w.emu.calls().method("POST"), 0);
}

#[test]
fn help_documents_the_token_variables_and_exit_codes() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_siptrunk-operator")).args(["plan", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "SIPTRUNK_TOKEN_<PROVIDER>",
        "SIPTRUNK_TOKEN ",
        "SIPTRUNK_PASSWORD_<TRUNK>",
        "Exit codes",
        "--base-url-override",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}

#[test]
fn env_suffix_upper_cases_and_replaces_everything_else() {
    assert_eq!(plan::env_suffix("autocalls-prod"), "AUTOCALLS_PROD");
    assert_eq!(plan::env_suffix("a.b_c9"), "A_B_C9");
}

#[tokio::test]
async fn without_the_marker_key_the_plan_refuses_to_judge_ownership() {
    let w = World::start(Flavor::Autocalls).await;
    w.write("p.yaml", &provider_yaml(w.kind()));
    w.write("t.yaml", &autocalls_trunk("a", "+14155550001", ""));
    w.create_as_operator("t.yaml", "a").await;
    let p = w.plan_without_key(&[]).await;
    let t = p.trunk("telephony", "a").expect("a");
    assert_eq!((t.action, t.reason.as_deref()), (Action::Error, Some("MarkerKeyMissing")), "{t:#?}");
    assert!(t.message.contains("SIPTRUNK_MARKER_KEY"), "{}", t.message);
    assert_eq!(p.exit_code(), 1);
    // With the key the same trunk is recognised as the operator's.
    assert_action(&w.plan().await, "a", Action::Nothing);
}

// ---- SipDispatchRules (LiveKit) ----------------------------------------------------------

const LK_KEY: &str = "APIplanKey";
const LK_SECRET: &str = "plan-livekit-api-secret-0001";

fn livekit_yaml() -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata: {{name: lk-api, namespace: telephony}}
stringData: {{token: "{LK_SECRET}"}}
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipProvider
metadata: {{name: lk, namespace: telephony}}
spec:
  type: livekit
  apiKey: {LK_KEY}
  baseUrl: https://plan-test.livekit.cloud
  apiTokenSecretRef: {{name: lk-api}}
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipTrunk
metadata: {{name: main-in, namespace: telephony}}
spec:
  providerRef: {{name: lk}}
  displayName: Main in
  auth: {{username: mainline, passwordSecretRef: {{name: main-in-sip}}}}
  livekit:
    inbound: {{numbers: ["+14155551234"]}}
"#
    ) + &password_secret("main-in")
}

fn rule_yaml(name: &str, trunk: &str) -> String {
    format!(
        r#"
---
apiVersion: siptrunk.dev/v1alpha1
kind: SipDispatchRule
metadata: {{name: {name}, namespace: telephony}}
spec:
  providerRef: {{name: lk}}
  trunkRefs: [{{name: {trunk}}}]
  rule: {{individual: {{roomPrefix: call-}}}}
  attributes: {{team: support}}
"#
    )
}

struct LkWorld {
    lk: siptrunk_operator::emulator::livekit::LiveKitEmulator,
    dir: tempfile::TempDir,
}

impl LkWorld {
    async fn start() -> LkWorld {
        use siptrunk_operator::emulator::livekit::{LiveKitConfig, LiveKitEmulator};
        siptrunk_operator::kubeemu::install_crypto_provider();
        let lk = LiveKitEmulator::start(LiveKitConfig::default().with_key(LK_KEY, LK_SECRET)).await.unwrap();
        LkWorld { lk, dir: tempfile::tempdir().unwrap() }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }

    /// Calls other than lists.
    fn writes(&self) -> u64 {
        self.lk.calls().iter().filter(|(k, _)| !k.contains("/List")).map(|(_, n)| n).sum()
    }

    async fn plan(&self) -> Plan {
        let before = self.writes();
        let opts = plan::Options {
            paths: vec![self.dir.path().to_path_buf()],
            namespace: "default".into(),
            base_url_overrides: BTreeMap::from([("livekit".to_string(), self.lk.base_url())]),
            env: BTreeMap::from([("SIPTRUNK_MARKER_KEY".to_string(), KEY_B64.to_string())]),
        };
        let p = plan::plan(opts).await.expect("plan");
        assert_eq!(self.writes(), before, "plan must not write: {:?}", self.lk.calls());
        p
    }

    fn client(&self) -> siptrunk_operator::provider::livekit::Client {
        use siptrunk_operator::provider::livekit::{Client, Config};
        let mut cfg = Config::new(self.lk.base_url(), LK_KEY, SecretString::from(LK_SECRET));
        cfg.allow_insecure_http = true;
        Client::new(cfg, Default::default()).unwrap()
    }

    /// Creates the inbound trunk and then the rule as the operator would; returns their ids.
    async fn create_as_operator(&self) -> (String, String) {
        use siptrunk_operator::crd::dispatch::SipDispatchRule;
        use siptrunk_operator::model::RemoteTrunk;
        use siptrunk_operator::provider::Family;
        use siptrunk_operator::provider::livekit::{LivekitFamily, TrunkScope, dispatch};
        let docs: Vec<serde_json::Value> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flat_map(|f| {
                let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
                serde_yaml_ng::Deserializer::from_str(&text)
                    .filter_map(|d| serde::Deserialize::deserialize(d).ok())
                    .collect::<Vec<serde_json::Value>>()
            })
            .collect();
        let trunk: SipTrunk = docs.iter().find_map(|v| serde_json::from_value(v.clone()).ok()).expect("trunk");
        let rule: SipDispatchRule = docs
            .iter()
            .filter(|v| v["kind"] == "SipDispatchRule")
            .find_map(|v| serde_json::from_value(v.clone()).ok())
            .expect("rule");
        let client = self.client();
        let desired = LivekitFamily::translate(
            &trunk.spec,
            ProviderType::Livekit,
            "telephony",
            "main-in",
            &key().marker("telephony", "main-in"),
        );
        let (created, _) =
            LivekitFamily::create(&client, &desired, Some(SecretString::from(PASSWORD))).await.expect("trunk create");
        let trunk_id = created.id();
        let name = rule.metadata.name.clone().unwrap();
        let want = dispatch::desired(&name, &key().marker("telephony", &name), &rule.spec, vec![trunk_id.clone()]);
        let made = client.create_dispatch_rule(want, TrunkScope::Listed).await.expect("rule create");
        (trunk_id, made.sip_dispatch_rule_id)
    }
}

fn rule_action(p: &Plan, name: &str, action: Action) {
    let t = p.rule("telephony", name).unwrap_or_else(|| panic!("rule {name} in plan {p:#?}"));
    assert_eq!(t.action, action, "{name}: {t:#?}");
}

#[tokio::test]
async fn dispatch_rules_plan_create_then_nothing_then_an_update_with_list_calls_only() {
    let w = LkWorld::start().await;
    w.write("lk.yaml", &(livekit_yaml() + &rule_yaml("support", "main-in")));

    // Empty project: the trunk is created, then the rule that names it.
    let p = w.plan().await;
    assert_action(&p, "main-in", Action::Create);
    rule_action(&p, "support", Action::Create);
    let support = p.rule("telephony", "support").unwrap();
    assert!(support.notes.iter().any(|n| n.contains("main-in")), "the pending trunk is named: {support:#?}");
    assert_eq!(p.provider_calls, 2, "one trunk list and one rule list for the account");
    assert_eq!(p.exit_code(), 2);
    let text = plan::render::text(&p);
    assert!(text.contains("dispatch rules:") && text.contains("telephony/support"), "{text}");

    // As the operator would have made them: nothing to do.
    let (_, rule_id) = w.create_as_operator().await;
    let p = w.plan().await;
    assert_action(&p, "main-in", Action::Nothing);
    rule_action(&p, "support", Action::Nothing);
    assert_eq!(p.rule("telephony", "support").unwrap().trunk_id.as_deref(), Some(rule_id.as_str()));
    assert_eq!(p.exit_code(), 0, "{}", plan::render::text(&p));

    // Renamed at LiveKit and re-targeted by hand: an update of exactly those fields.
    use siptrunk_operator::provider::livekit::TrunkScope;
    use siptrunk_operator::provider::livekit::wire::SipDispatchRuleUpdate;
    let drift = SipDispatchRuleUpdate {
        name: Some("renamed".into()),
        attributes: std::collections::BTreeMap::from([("team".to_string(), "sales".to_string())]),
        ..Default::default()
    };
    match w.client().update_dispatch_rule(&rule_id, drift, TrunkScope::Listed).await {
        Ok(_) => {
            let p = w.plan().await;
            rule_action(&p, "support", Action::Update);
            assert_eq!(p.rule("telephony", "support").unwrap().fields, vec!["name", "attributes"]);
            assert_eq!(p.exit_code(), 2);
        }
        Err(e) => panic!("drift at LiveKit: {e}"),
    }
}

#[tokio::test]
async fn a_rule_naming_a_trunk_outside_the_input_or_on_another_kind_of_provider_is_an_error() {
    let w = LkWorld::start().await;
    w.write("lk.yaml", &(livekit_yaml() + &rule_yaml("lost", "not-there")));
    let p = w.plan().await;
    rule_action(&p, "lost", Action::Error);
    let lost = p.rule("telephony", "lost").unwrap();
    assert_eq!(lost.reason.as_deref(), Some("TrunkNotReady"));
    assert!(lost.message.contains("telephony/not-there is not in the input"), "{lost:#?}");
    assert_eq!(p.exit_code(), 1);

    // A rule on an autocalls provider: dispatch rules exist only on LiveKit.
    w.write("ac.yaml", &provider_yaml("autocalls").replace("name: acct", "name: lk2"));
    w.write("lk.yaml", &(livekit_yaml() + &rule_yaml("wrong", "main-in").replace("name: lk}", "name: lk2}")));
    let p = w.plan().await;
    let wrong = p.rule("telephony", "wrong").unwrap_or_else(|| panic!("{p:#?}"));
    assert_eq!(wrong.reason.as_deref(), Some("ProviderNotLiveKit"), "{wrong:#?}");
}
