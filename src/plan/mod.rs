//! The `plan` command: what the operator would do for the SipTrunks in YAML files, against the
//! live provider accounts, without a cluster and without writing anything (one list call per
//! account). It runs the controller's own steps — dereference, validate, match, diff — on
//! objects read from files instead of a cluster cache. SipDispatchRules are planned after the
//! trunks they name (`dispatch.rs`, one more list call per account with rules).

mod dispatch;
pub mod input;
pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::controller::accounts::{Account, Accounts};
use crate::controller::deref::{self, ResolvedProvider};
use crate::controller::error::redact;
use crate::controller::reconcile::{PAUSED_ANNOTATION, credentials_hash};
use crate::controller::validate;
use crate::crd::{ProviderType, SipTrunk};
use crate::metrics::Metrics;
use crate::model::decide::active_intent;
use crate::model::{
    self, AdoptReason, Decision, DesiredTrunk, MarkerKey, MatchInput, RemoteTrunk, TrunkChange, Wanted,
};
use crate::provider::{Family, ProviderError, with_family};

/// Text of `siptrunk-operator plan --help` after the options: credentials and exit codes.
pub const HELP: &str = "\
What it does:
  Reads SipTrunk, SipDispatchRule, SipProvider, ClusterSipProvider and Secret objects
  (other kinds are skipped), checks them against the CRD schema and CEL rules and the
  controller's own validation, lists each provider account once (and its dispatch rules
  once, when rules name it), and shows per trunk and per rule what the operator would do:
  create, update <fields>, nothing, conflict, adopt, invalid or error.
  It never writes to a provider and needs no cluster. Secret values are never printed.

API tokens, first match wins:
  SIPTRUNK_TOKEN_<PROVIDER>   token of the provider object named <PROVIDER>
  SIPTRUNK_TOKEN              token for every provider without its own variable
  the token Secret the provider references, when it is in the input
  <PROVIDER> and <TRUNK> are the object names upper-cased, with every character other
  than A-Z and 0-9 turned into _ (autocalls-prod -> SIPTRUNK_TOKEN_AUTOCALLS_PROD).

Marker key (to tell the operator's trunks from others'; required):
  SIPTRUNK_MARKER_KEY         base64 value of the operator's key Secret, i.e.
                              kubectl get secret -n <operator namespace> \
                                siptrunk-operator-marker-key -o jsonpath='{.data.key}'
  the key Secret itself, when it is in the input

SIP passwords (only to tell whether a rotated password would be sent):
  SIPTRUNK_PASSWORD_<TRUNK>   password of the SipTrunk named <TRUNK>
  the password Secret the trunk references, when it is in the input
  Providers never return passwords; the operator compares a keyed hash with the trunk's
  status.credentialsHash. The plan can do the same only when the input carries that
  status (e.g. `kubectl get siptrunks -A -o yaml | siptrunk-operator plan -f -`);
  otherwise it says that the password cannot be compared.

Base URLs come from the provider's spec.baseUrl (default: the provider's production
API); --base-url-override TYPE=URL replaces them for every provider of TYPE, e.g. a
local `siptrunk-operator emulator` (plain http:// is accepted there).

Exit codes:
  0  nothing pending: every trunk matches its provider
  2  changes pending: at least one create, update or adopt, and nothing wrong
  1  something is wrong: an invalid object, a conflict, a missing provider or Secret,
     a provider error, or no SipTrunk in the input";

/// What the plan needs.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Files or directories (recursive); `-` is standard input.
    pub paths: Vec<PathBuf>,
    /// Namespace of namespaced objects that name none.
    pub namespace: String,
    /// Base URL per provider type, replacing the provider objects' `baseUrl`.
    pub base_url_overrides: BTreeMap<String, String>,
    /// Environment variables (tokens and passwords); `std::env::vars()` in the binary.
    pub env: BTreeMap<String, String>,
}

/// Parses `TYPE=URL` of `--base-url-override`.
pub fn parse_override(s: &str) -> Result<(String, String), String> {
    let (t, url) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected TYPE=URL"))?;
    let Some(t) = ProviderType::parse(t) else {
        return Err(format!("{:?}: TYPE must be {}", t.trim().to_ascii_lowercase(), ProviderType::names()));
    };
    Ok((t.as_str().to_string(), url.trim().trim_end_matches('/').to_string()))
}

/// What the operator would do with one trunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// No matching trunk: the operator creates one.
    Create,
    /// The trunk differs in `fields`: a partial update of only those.
    Update,
    /// The provider holds exactly this trunk.
    Nothing,
    /// A trunk with the same natural key exists without our marker: nothing is written.
    Conflict,
    /// An unmarked trunk will be taken over (adoptExisting, or a create that lost its answer).
    Adopt,
    /// The spec cannot work (schema, CEL or controller validation).
    Invalid,
    /// The plan could not find out (missing provider or Secret, provider error).
    Error,
}

impl Action {
    /// Whether the operator would write to the provider.
    pub fn is_change(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Adopt)
    }

    /// Whether a human has to act first.
    pub fn is_problem(self) -> bool {
        matches!(self, Action::Conflict | Action::Invalid | Action::Error)
    }
}

/// What can be said about the password, which no provider returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Password {
    /// The spec references no password (bolna IP-based trunk).
    NotUsed,
    /// Not in the input or the environment.
    Unavailable,
    /// Sent with the create.
    SentWithCreate,
    /// Sent when adopting: the provider cannot show the password the trunk has.
    SentWithAdopt,
    /// Its keyed hash equals the input's status.credentialsHash.
    Unchanged,
    /// Its keyed hash differs from status.credentialsHash: it is sent (a rotation).
    Changed,
    /// Known, but the input carries no status.credentialsHash to compare with.
    NotComparable,
}

impl Password {
    /// One line for humans.
    pub fn describe(self) -> &'static str {
        match self {
            Password::NotUsed => "not used by this trunk",
            Password::Unavailable => {
                "not in the input or the environment; the operator reads it from the referenced Secret when it applies"
            }
            Password::SentWithCreate => "sent with the create",
            Password::SentWithAdopt => "sent when adopting (the provider cannot show the current one)",
            Password::Unchanged => "unchanged (matches status.credentialsHash)",
            Password::Changed => {
                "changed (differs from status.credentialsHash): sent, which re-provisions the trunk on autocalls/famulor"
            }
            Password::NotComparable => {
                "cannot be compared offline: the provider never returns it and the input has no status.credentialsHash; \
                 the operator sends it only if the cluster's status.credentialsHash differs"
            }
        }
    }
}

/// The plan of one SipTrunk.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrunkPlan {
    /// Namespace of the SipTrunk.
    pub namespace: String,
    /// Name of the SipTrunk.
    pub name: String,
    /// File the object came from.
    pub source: String,
    /// `SipProvider/<name>` or `ClusterSipProvider/<name>`.
    pub provider: String,
    /// The provider's type, once the provider is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<ProviderType>,
    /// What the operator would do.
    pub action: Action,
    /// The provider's id of the matched trunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_id: Option<String>,
    /// Provider fields an update (or adoption) would send.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Bounded reason, the same as the Ready condition's where one applies (InvalidSpec,
    /// SecretNotFound, Conflict, Unauthorized, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, for humans.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// What can be said about the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// Further remarks (writes suspended, stale status).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl TrunkPlan {
    /// The plan of an object before anything is known: an error until a step says otherwise.
    fn start(namespace: &str, name: &str, source: &str, provider: &crate::crd::ProviderRef) -> TrunkPlan {
        TrunkPlan {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source: source.to_string(),
            provider: format!("{:?}/{}", provider.kind, provider.name),
            provider_type: None,
            action: Action::Error,
            trunk_id: None,
            fields: vec![],
            reason: None,
            message: String::new(),
            password: None,
            notes: vec![],
        }
    }
}

/// The plan with its outcome set: `action`, with a bounded `reason` and a message for humans.
pub(super) fn fail(mut plan: TrunkPlan, action: Action, reason: &str, message: String) -> TrunkPlan {
    plan.action = action;
    plan.reason = Some(reason.to_string());
    plan.message = message;
    plan
}

/// A non-trunk object the API server would refuse, or a problem with the input as a whole.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `Kind ns/name`, or the file.
    pub object: String,
    /// File.
    pub source: String,
    /// What is wrong.
    pub errors: Vec<String>,
}

/// The whole plan.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// One entry per SipTrunk, sorted by namespace and name.
    pub trunks: Vec<TrunkPlan>,
    /// One entry per SipDispatchRule, sorted by namespace and name (`trunk_id` is the rule's
    /// id; `password` is never set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<TrunkPlan>,
    /// Problems outside trunks (invalid providers, unreadable documents, empty input).
    pub problems: Vec<Problem>,
    /// Provider list calls made (the only calls the plan makes).
    pub provider_calls: usize,
}

impl Plan {
    /// 0 nothing pending, 2 changes pending, 1 something is wrong (wins over 2).
    pub fn exit_code(&self) -> u8 {
        if !self.problems.is_empty() || self.objects().any(|t| t.action.is_problem()) {
            1
        } else if self.objects().any(|t| t.action.is_change()) {
            2
        } else {
            0
        }
    }

    /// The plan of SipTrunk `namespace/name`.
    pub fn trunk(&self, namespace: &str, name: &str) -> Option<&TrunkPlan> {
        self.trunks.iter().find(|t| t.namespace == namespace && t.name == name)
    }

    /// The plan of SipDispatchRule `namespace/name`.
    pub fn rule(&self, namespace: &str, name: &str) -> Option<&TrunkPlan> {
        self.rules.iter().find(|t| t.namespace == namespace && t.name == name)
    }

    /// The plans of trunks and rules.
    pub fn objects(&self) -> impl Iterator<Item = &TrunkPlan> {
        self.trunks.iter().chain(&self.rules)
    }
}

/// The environment variable name part for an object name: upper case, `_` for the rest.
pub fn env_suffix(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

fn store_of<K>(objects: impl IntoIterator<Item = K>) -> Store<K>
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Default,
{
    let (store, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    store
}

/// Where a token came from, for messages.
enum TokenSource {
    Env(String),
    Secret(String),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Env(v) => write!(f, "token from ${v}"),
            TokenSource::Secret(s) => write!(f, "token from Secret {s} in the input"),
        }
    }
}

struct Planner {
    opts: Options,
    providers: Store<crate::crd::SipProvider>,
    cluster_providers: Store<crate::crd::ClusterSipProvider>,
    secrets: Store<Secret>,
    accounts: Accounts,
    metrics: Arc<Metrics>,
    /// Accounts whose list call failed, so each failure costs one call, not one per trunk.
    failed: HashMap<String, ProviderError>,
    listed: std::collections::HashSet<String>,
    /// The dispatch rules of each account, listed once.
    rule_lists: dispatch::Lists,
}

/// Reads the input and plans every SipTrunk in it.
pub async fn plan(opts: Options) -> Result<Plan, String> {
    let input = input::load(&opts.paths, &opts.namespace)?;
    let mut out = Plan::default();
    let mut planner = Planner {
        providers: store_of(input.providers),
        cluster_providers: store_of(input.cluster_providers),
        secrets: store_of(input.secrets),
        accounts: Accounts::default(),
        metrics: Arc::new(Metrics::default()),
        failed: HashMap::new(),
        listed: Default::default(),
        rule_lists: Default::default(),
        opts,
    };
    for r in input.rejected {
        if r.kind == "SipTrunk" || r.kind == "SipDispatchRule" {
            let list = if r.kind == "SipTrunk" { &mut out.trunks } else { &mut out.rules };
            list.push(TrunkPlan {
                namespace: r.namespace,
                name: r.name,
                source: r.source,
                provider: String::new(),
                provider_type: None,
                action: Action::Invalid,
                trunk_id: None,
                fields: vec![],
                reason: Some("InvalidSpec".into()),
                message: format!("the API server would refuse it: {}", r.errors.join("; ")),
                password: None,
                notes: vec![],
            });
        } else {
            let object = match (r.kind.is_empty(), r.namespace.is_empty()) {
                (true, _) => r.source.clone(),
                (false, true) => format!("{} {}", r.kind, r.name),
                (false, false) => format!("{} {}/{}", r.kind, r.namespace, r.name),
            };
            out.problems.push(Problem { object, source: r.source, errors: r.errors });
        }
    }
    for (trunk, source) in &input.trunks {
        out.trunks.push(planner.trunk(trunk, source).await);
    }
    for (rule, source) in &input.dispatch_rules {
        let p = planner.rule(rule, source, &input.trunks, &out.trunks).await;
        out.rules.push(p);
    }
    if out.trunks.is_empty() && out.rules.is_empty() {
        out.problems.push(Problem {
            object: "input".into(),
            source: planner.opts.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            errors: vec![format!("no SipTrunk found ({} other objects skipped)", input.skipped)],
        });
    }
    out.trunks.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out.rules.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out.provider_calls = planner.listed.len() + planner.failed.len() + planner.rule_lists.len();
    Ok(out)
}

impl Planner {
    /// The operator's marker key: `SIPTRUNK_MARKER_KEY` (base64, as in the Secret's data), or
    /// the key Secret when it is in the input.
    fn marker_key(&self) -> Option<MarkerKey> {
        use crate::controller::marker_key::{DATA_KEY, DEFAULT_SECRET};
        let from_env = self.opts.env.get("SIPTRUNK_MARKER_KEY").and_then(|b64| {
            serde_json::from_value::<k8s_openapi::ByteString>(serde_json::Value::String(b64.trim().to_string())).ok()
        });
        let bytes = from_env.map(|b| b.0).or_else(|| {
            self.secrets
                .state()
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(DEFAULT_SECRET))
                .and_then(|s| s.data.as_ref()?.get(DATA_KEY).map(|b| b.0.clone()))
        })?;
        MarkerKey::from_bytes(&bytes).ok()
    }

    fn env(&self, var: &str) -> Option<SecretString> {
        self.opts.env.get(var).filter(|v| !v.is_empty()).map(|v| SecretString::from(v.clone()))
    }

    fn token(&self, p: &ResolvedProvider, provider_name: &str) -> Result<(SecretString, TokenSource), String> {
        let specific = format!("SIPTRUNK_TOKEN_{}", env_suffix(provider_name));
        for var in [specific.as_str(), "SIPTRUNK_TOKEN"] {
            if let Some(t) = self.env(var) {
                return Ok((t, TokenSource::Env(var.to_string())));
            }
        }
        let (ns, name, _) = &p.token_ref;
        deref::token(p, &self.secrets)
            .map(|t| (t, TokenSource::Secret(format!("{ns}/{name}"))))
            .map_err(|e| format!("{e}; put the Secret into the input, or set {specific} or SIPTRUNK_TOKEN"))
    }

    fn password(&self, trunk: &SipTrunk) -> Option<SecretString> {
        trunk.spec.auth.password_secret_ref.as_ref()?;
        self.env(&format!("SIPTRUNK_PASSWORD_{}", env_suffix(&trunk.name_any())))
            .or_else(|| deref::password(trunk, &self.secrets).ok().flatten())
    }

    fn account<F: Family>(
        &mut self,
        mut p: ResolvedProvider,
        token: SecretString,
    ) -> Result<Arc<Account<F>>, (String, String)> {
        if let Some(url) = self.opts.base_url_overrides.get(p.type_.as_str()) {
            p.settings.base_url = Some(url.clone());
            p.settings.allow_insecure_http = Some(url.starts_with("http://"));
        }
        self.accounts.get::<F>(&p, token, &self.metrics).map_err(|e| (e.reason().to_string(), e.to_string()))
    }

    async fn trunk(&mut self, trunk: &SipTrunk, source: &str) -> TrunkPlan {
        let ns = trunk.namespace().unwrap_or_default();
        let name = trunk.name_any();
        let r = &trunk.spec.provider_ref;
        let mut plan = TrunkPlan::start(&ns, &name, source, r);

        // 1. Dereference the provider (its object must be in the input).
        let provider = match deref::provider(trunk, &self.providers, &self.cluster_providers) {
            Ok(p) => p,
            Err(e) => return fail(plan, Action::Error, e.reason(), format!("{e} (not in the input)")),
        };
        plan.provider_type = Some(provider.type_);

        // 2. Validate as the controller does.
        let errors = validate::validate(&trunk.spec, provider.type_);
        if !errors.is_empty() {
            return fail(plan, Action::Invalid, "InvalidSpec", validate::describe(&errors));
        }
        if trunk.annotations().get(PAUSED_ANNOTATION).is_some_and(|v| v == "true") {
            plan.notes.push(format!(
                "writes suspended ({PAUSED_ANNOTATION}): the operator only reports this in status.pendingChanges"
            ));
        } else if trunk.spec.observe_only {
            plan.notes
                .push("writes suspended (observeOnly): the operator only reports this in status.pendingChanges".into());
        }

        // 3. Observe: one list call per account.
        let (token, token_source) = match self.token(&provider, &r.name) {
            Ok(t) => t,
            Err(m) => return fail(plan, Action::Error, "SecretNotFound", m),
        };
        let password = self.password(trunk);
        let secrets: Vec<String> =
            [Some(&token), password.as_ref()].into_iter().flatten().map(|s| s.expose_secret().to_string()).collect();
        let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let key_of_account = provider.key.clone();
        if let Some(e) = self.failed.get(&key_of_account) {
            let text = e.to_string().replace(" (the outcome of a write is unknown)", "");
            return fail(plan, Action::Error, e.reason(), format!("{} ({token_source})", redact(&text, &secret_refs)));
        }
        // The account boundary: from here on the plan is generic over the provider's family.
        with_family!(provider.type_, F => {
            let account = match self.account::<F>(provider.clone(), token.clone()) {
                Ok(a) => a,
                Err((reason, m)) => return fail(plan, Action::Error, &reason, redact(&m, &secret_refs)),
            };
            let Some(key) = self.marker_key() else {
                return fail(
                    plan,
                    Action::Error,
                    "MarkerKeyMissing",
                    "the operator's marker key is needed to tell its trunks from others': set \
                     SIPTRUNK_MARKER_KEY to the base64 value of the key Secret (kubectl get secret -n <operator \
                     namespace> siptrunk-operator-marker-key -o jsonpath='{.data.key}'), or put that Secret into \
                     the input"
                        .into(),
                );
            };
            let marker = key.marker(&ns, &name);
            self.judge::<F>(
                &account,
                plan,
                trunk,
                (&ns, &name, &marker),
                provider.type_,
                (&token, &token_source),
                password,
                &secret_refs,
                key_of_account,
            )
            .await
        })
    }

    /// Steps 3-5 for one family: observe, match and decide, exactly as the controller does.
    #[allow(clippy::too_many_arguments)]
    async fn judge<F: Family>(
        &mut self,
        account: &Arc<Account<F>>,
        mut plan: TrunkPlan,
        trunk: &SipTrunk,
        (ns, name, marker): (&str, &str, &str),
        provider_type: ProviderType,
        (token, token_source): (&SecretString, &TokenSource),
        password: Option<SecretString>,
        secret_refs: &[&str],
        key_of_account: String,
    ) -> TrunkPlan {
        let fail = |mut plan: TrunkPlan, action: Action, reason: &str, message: String| {
            plan.action = action;
            plan.reason = Some(reason.to_string());
            plan.message = message;
            plan
        };
        let legacy = model::marker::legacy(ns, name);
        let desired = F::translate(&trunk.spec, provider_type, ns, name, marker);
        let natural_key = desired.natural_key();
        let status = trunk.status.clone().unwrap_or_default();
        let now = chrono::Utc::now();
        let intent_key = active_intent(&status, now).map(|i| i.natural_key.clone());
        let input = MatchInput {
            recorded_id: status.trunk_id.as_deref(),
            marker,
            natural_key: &natural_key,
            pending_create_key: intent_key.as_deref(),
        };
        // 4. Match, against a snapshot that is listed once and then kept for the whole plan.
        let obs = match account.find(Duration::MAX, &input).await {
            Ok(m) => {
                self.listed.insert(key_of_account);
                m
            }
            Err(e) => {
                // The client's transport errors speak of writes; the plan only lists.
                let text = e.to_string().replace(" (the outcome of a write is unknown)", "");
                let message = format!("{} ({token_source})", redact(&text, secret_refs));
                let reason = e.reason();
                self.failed.insert(key_of_account, e);
                return fail(plan, Action::Error, reason, message);
            }
        };
        if let Some(id) = &status.trunk_id
            && obs.recorded.is_none()
        {
            plan.notes.push(format!("status.trunkId {id} is not in the account (removed at the provider?)"));
        }

        // 5. Decide, exactly as the controller does (writes are judged as if not suspended;
        //    the notes above say when they are).
        let hash = password.as_ref().map(|p| credentials_hash(token, p));
        let want = Wanted {
            desired: &desired,
            marker,
            legacy_marker: Some(&legacy),
            password: password.as_ref(),
            credentials_hash: hash.as_deref(),
            adopt_existing: trunk.spec.adopt_existing,
            suspended: None,
            now,
        };
        // Fields the provider does not show are judged by status.lastApplied, as the reconcile
        // does (a status without a record, from an older operator, sends them once); without
        // any status (plain files) they cannot be compared: assumed applied, and a note says so.
        let no_status = status.last_applied.is_none() && status.trunk_id.is_none();
        let mut judged = status.clone();
        if no_status {
            judged.last_applied = Some(desired.applied_record());
        }
        let decision = model::decide(&obs, &want, &judged);
        if no_status
            && let Decision::Update { trunk: remote, .. }
            | Decision::Adopt { trunk: remote, .. }
            | Decision::Nothing { trunk: remote } = &decision
        {
            let unknown = desired.diff(remote, None).map(|c| c.fields()).unwrap_or_default();
            let assumed = desired.applied_record();
            let known = desired.diff_applied(remote, None, &assumed).map(|c| c.fields()).unwrap_or_default();
            let hidden: Vec<&str> = unknown.into_iter().filter(|f| !known.contains(f)).collect();
            if !hidden.is_empty() {
                plan.notes.push(format!(
                    "{} not shown by the provider; compared only when the input carries status.lastApplied",
                    hidden.join(", ")
                ));
            }
        }
        let uses_password = trunk.spec.auth.password_secret_ref.is_some();
        // Input without status (YAML from git): the cluster's status.credentialsHash decides
        // whether a trunk already ours gets the password; the plan cannot know, and says so.
        let status_known = trunk.status.is_some();
        let is_password = |f: &&str| *f == "sip_password" || *f == "auth_password";
        let password_state = |change: &F::Change, adopting: bool| -> Password {
            let sent = change.fields().iter().any(is_password);
            match (uses_password, &password) {
                (false, _) => Password::NotUsed,
                (true, None) => Password::Unavailable,
                (true, Some(_)) if adopting && sent => Password::SentWithAdopt,
                (true, Some(_)) if !status_known => Password::NotComparable,
                (true, Some(_)) if sent => Password::Changed,
                (true, Some(_)) if status.credentials_hash.is_none() => Password::NotComparable,
                (true, Some(_)) => Password::Unchanged,
            }
        };
        let shown_fields = |change: &F::Change, adopting: bool| -> Vec<String> {
            change
                .fields()
                .into_iter()
                .filter(|f| adopting || status_known || !is_password(f))
                .map(String::from)
                .collect()
        };
        match decision {
            Decision::Create | Decision::Pending { .. } => {
                plan.action = Action::Create;
                plan.password = Some(match (uses_password, &password) {
                    (false, _) => Password::NotUsed,
                    (true, None) => Password::Unavailable,
                    (true, Some(_)) => Password::SentWithCreate,
                });
            }
            Decision::Conflict { trunk_id, message, .. } => {
                plan.trunk_id = Some(trunk_id);
                return fail(plan, Action::Conflict, "Conflict", message);
            }
            Decision::Refuse { reason, message } => return fail(plan, Action::Error, reason, message),
            Decision::Nothing { trunk: remote } => {
                plan.trunk_id = Some(remote.id());
                plan.action = Action::Nothing;
                plan.password = Some(match (uses_password, &password) {
                    (false, _) => Password::NotUsed,
                    (true, None) => Password::Unavailable,
                    (true, Some(_)) if status.credentials_hash.is_none() => Password::NotComparable,
                    (true, Some(_)) => Password::Unchanged,
                });
            }
            Decision::Update { trunk: remote, change } => {
                plan.trunk_id = Some(remote.id());
                plan.password = Some(password_state(&change, false));
                plan.fields = shown_fields(&change, false);
                plan.action = if plan.fields.is_empty() { Action::Nothing } else { Action::Update };
            }
            Decision::Adopt { trunk: remote, reason, change } => {
                let adopting = reason != AdoptReason::Marker;
                plan.trunk_id = Some(remote.id());
                plan.password = Some(password_state(&change, adopting));
                plan.fields = shown_fields(&change, adopting);
                if reason == AdoptReason::Marker {
                    plan.action = if plan.fields.is_empty() { Action::Nothing } else { Action::Update };
                } else {
                    plan.action = Action::Adopt;
                    plan.reason = Some(format!("{reason:?}"));
                    plan.message = match reason {
                        AdoptReason::PendingCreate => {
                            "status.createIntent records a create of this trunk that lost its answer".to_string()
                        }
                        _ => {
                            "spec.adoptExisting: an unmarked trunk with the same natural key is taken over".to_string()
                        }
                    };
                }
            }
        }
        plan
    }
}
