//! The reconcile pipeline of one SipTrunk: dereference → validate → observe → match → diff →
//! act → record, and the guarded cleanup behind the finalizer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, Resource, ResourceExt};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tracing::{debug, info, warn};

use super::Context;
use super::accounts::Account;
use super::create;
use super::deref;
use super::error::{Error, redact};
use super::status::{self, Health};
use super::validate;
use crate::crd::{CreateIntent, DeletionPolicy, ProviderType, SipTrunk, SipTrunkStatus, TrunkSummary};
use crate::model::decide::active_intent;
use crate::model::{self, Decision, DeleteDecision, DesiredTrunk, MatchInput, RemoteTrunk, TrunkChange, Wanted};
use crate::provider::{self as provider_api, Deleted, Family, ProviderError, with_family};

/// Finalizer that guards the remote trunk.
pub const FINALIZER: &str = "siptrunk.dev/cleanup";
/// Annotation that stops every write while status keeps reporting.
pub const PAUSED_ANNOTATION: &str = "siptrunk.dev/paused";

/// Keyed hash of a password: HMAC-SHA256 keyed with the account's API token, so status never
/// holds anything from which the password could be guessed offline without the token.
pub fn credentials_hash(token: &SecretString, password: &SecretString) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(token.expose_secret().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"siptrunk.dev/credentials/v1\0");
    mac.update(password.expose_secret().as_bytes());
    format!("hmac-sha256:{}", &hex::encode(mac.finalize().into_bytes())[..32])
}

/// When a trunk is next due after a run: after this long, or (None) on a change only. The work
/// queue holds it ([`super::queue`]); kube-runtime is always told to await a change.
pub type Next = Option<Duration>;

/// One reconcile (called through [`super::traced::reconcile`], which adds its span and metrics).
pub async fn reconcile(trunk: Arc<SipTrunk>, ctx: Arc<Context>) -> Result<Next, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<SipTrunk> = Api::namespaced(ctx.client.clone(), &ns);
    // kube-runtime's finalizer helper speaks `Action`, which does not tell its delay back: the
    // delay goes around it.
    let next = std::sync::Mutex::new(None);
    let result = finalizer(&api, FINALIZER, trunk.clone(), |event| async {
        let outcome = match event {
            Finalizer::Apply(t) => apply(&t, &ctx, &api).await,
            Finalizer::Cleanup(t) => cleanup(&t, &ctx, &api).await,
        };
        outcome.map(|n| {
            *next.lock().unwrap_or_else(|p| p.into_inner()) = n;
            Action::await_change()
        })
    })
    .await;
    match result {
        Ok(_) => {
            ctx.reset_backoff(&trunk);
            Ok(next.into_inner().unwrap_or_else(|p| p.into_inner()))
        }
        Err(kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e)) => {
            Err(e)
        }
        Err(kube::runtime::finalizer::Error::AddFinalizer(e) | kube::runtime::finalizer::Error::RemoveFinalizer(e)) => {
            Err(Error::Kube(e))
        }
        Err(kube::runtime::finalizer::Error::UnnamedObject) => Err(Error::MissingMetadata("name")),
        Err(kube::runtime::finalizer::Error::InvalidFinalizer) => Err(Error::MissingMetadata("valid finalizer")),
    }
}

/// Called by the Controller when `reconcile` fails: the trunk is due again per [`retry_after`]
/// in the work queue, and kube-runtime awaits a change.
pub fn error_policy(trunk: Arc<SipTrunk>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_errors.get_or_create(&crate::metrics::ReasonLabels { reason: err.reason() }).inc();
    let next = retry_after(&trunk, err, &ctx);
    ctx.queue.done(&trunk, next);
    Action::await_change()
}

/// When a failed trunk is due again: transient errors back off per object with jitter (or as
/// long as the provider asked); permanent ones wait for a change.
pub fn retry_after(trunk: &SipTrunk, err: &Error, ctx: &Context) -> Next {
    match err {
        // Not a failure: the account had no turn; come back for the one it handed out.
        Error::Provider(ProviderError::Deferred { retry_after }) => return Some(*retry_after),
        // The account's wait (the provider's hint, grown with each 429 in a row). A wait under
        // 1 s is raised to this object's own growing backoff too, so `Retry-After: 0` cannot make
        // a hot loop; a longer one is kept as is (every trunk of a blocked account hears it at
        // once, without a call, and must not pile up backoff for it).
        Error::Provider(ProviderError::RateLimited { retry_after: Some(d) }) => {
            let wait = if *d < Duration::from_secs(1) { (*d).max(ctx.next_backoff(trunk)) } else { *d };
            return Some(wait + jitter(Duration::from_millis(500)));
        }
        _ => {}
    }
    err.is_transient().then(|| ctx.next_backoff(trunk))
}

/// Up to `max` of random extra delay.
pub fn jitter(max: Duration) -> Duration {
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(rand::random_range(0..ms))
}

fn paused(trunk: &SipTrunk) -> bool {
    trunk.annotations().get(PAUSED_ANNOTATION).is_some_and(|v| v == "true")
}

struct Observed<F: Family> {
    remote: Option<F::Remote>,
    credentials_hash: Option<String>,
    action: Option<&'static str>,
    changed: Vec<&'static str>,
    /// The record of unreliably visible fields to keep, once the provider holds the spec.
    applied: Option<model::Applied>,
}

async fn apply(trunk: &SipTrunk, ctx: &Context, api: &Api<SipTrunk>) -> Result<Next, Error> {
    let prev = trunk.status.clone().unwrap_or_default();
    // The pipeline works on a copy of the status; on failure that copy is still what gets
    // recorded, so a write-ahead create intent it already stored is not erased by this write.
    let mut work = prev.clone();
    let outcome = run_pipeline(trunk, ctx, api, &mut work).await;
    if let Err(Error::Provider(ProviderError::Deferred { retry_after })) = outcome {
        // No turn on the account yet: nothing was decided, so nothing is recorded (a create
        // intent already written stays); the trunk comes back for its turn.
        debug!(retry_ms = retry_after.as_millis() as u64, "deferred: the provider account has no turn now");
        return Ok(Some(retry_after));
    }
    let generation = trunk.metadata.generation;
    let (health, mut status, err) = match outcome {
        Ok(health) => (health, work, None),
        Err(e) => {
            let msg = redact(&e.to_string(), &[]);
            let health = if e.is_transient() {
                Health::Progressing { reason: e.reason(), message: msg }
            } else {
                Health::Stalled { reason: e.reason(), message: msg }
            };
            (health, work, Some(e))
        }
    };
    status.observed_generation = generation;
    status.conditions = status::conditions(&prev.conditions, &health, generation);
    status::note_not_applied(&mut status.conditions, status.not_applied.as_deref());
    publish_transition(ctx, trunk, &prev, &health).await;
    status::write(api, trunk, status).await?;
    if let Some(e) = err {
        return Err(e);
    }
    let interval = drift_interval(trunk, ctx);
    Ok(Some(interval + jitter(interval / 10)))
}

fn drift_interval(trunk: &SipTrunk, ctx: &Context) -> Duration {
    super::accounts::drift_setting(trunk.spec.drift_check_interval.as_deref())
        .or_else(|| {
            // The account's interval, read from the provider object (no per-trunk record).
            deref::provider(trunk, &ctx.providers, &ctx.cluster_providers)
                .ok()
                .map(|p| super::accounts::drift_interval(&p.settings))
        })
        .unwrap_or(super::accounts::DEFAULT_DRIFT)
}

async fn run_pipeline(
    trunk: &SipTrunk,
    ctx: &Context,
    api: &Api<SipTrunk>,
    status: &mut SipTrunkStatus,
) -> Result<Health, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let name = trunk.name_any();

    // 1. Dereference.
    let provider = deref::provider(trunk, &ctx.providers, &ctx.cluster_providers)?;
    status.summary = Some(summary(trunk, provider.type_));
    let token = deref::read_token(&provider, &ctx.secrets).await?;
    // Keep what deletion needs (token Secret, SipProvider) until this trunk is gone.
    super::in_use::protect(&ctx.client, &ctx.in_use_finalizer, trunk, &provider, ctx.secrets.meta(), &ctx.providers)
        .await?;
    let password = deref::read_password(trunk, &ctx.secrets).await?;
    let secrets: Vec<String> =
        [Some(&token), password.as_ref()].into_iter().flatten().map(|s| s.expose_secret().to_string()).collect();
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();

    // 2. Validate.
    let errors = validate::validate(&trunk.spec, provider.type_);
    if !errors.is_empty() {
        return Err(Error::blocked("InvalidSpec", validate::describe(&errors)));
    }
    if let Some(p) = &password
        && let Some(problem) = validate::password_problem(p, provider.type_)
    {
        return Err(Error::blocked("InvalidSecret", format!("SIP password (spec.auth.passwordSecretRef): {problem}")));
    }
    let marker = ctx.marker_key.marker(&ns, &name);
    // The account boundary: from here on everything is generic over the provider's family.
    with_family!(provider.type_, F => {
        let account = ctx.accounts.get::<F>(&provider, token, &ctx.metrics)?;
        // One of the account's turns, or requeue: a slow account holds at most its cap of workers.
        let _turn = account.admit().await?;
        let desired = F::translate(&trunk.spec, provider.type_, &ns, &name, &marker);
        run_family::<F>(trunk, ctx, api, &account, &desired, &marker, password, &secret_refs, status).await
    })
}

/// Steps 3-7 for one family: observe, decide, act, record.
#[allow(clippy::too_many_arguments)]
async fn run_family<F: Family>(
    trunk: &SipTrunk,
    ctx: &Context,
    api: &Api<SipTrunk>,
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    marker: &str,
    password: Option<SecretString>,
    secret_refs: &[&str],
    status: &mut SipTrunkStatus,
) -> Result<Health, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let name = trunk.name_any();
    let observed =
        observe_and_act(trunk, ctx, api, account, desired, marker, password, status).await.map_err(|e| match e {
            Error::Provider(p) => Error::Provider(p.redacted(secret_refs)),
            Error::Blocked { reason, message } => Error::Blocked { reason, message: redact(&message, secret_refs) },
            other => other,
        })?;
    if let Some(remote) = &observed.remote {
        record_remote::<F>(status, remote);
    }
    status.not_applied = observed.remote.as_ref().map(|r| desired.not_applied(r)).filter(|v| !v.is_empty());
    if observed.credentials_hash.is_some() {
        status.credentials_hash = observed.credentials_hash.clone();
    }
    if let Some(applied) = &observed.applied {
        status.last_applied = (!applied.is_empty()).then(|| applied.clone());
    }
    if let Some(action) = observed.action {
        info!(trunk = %format!("{ns}/{name}"), action, fields = ?observed.changed, "provider write");
        status.last_sync_time = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        ctx.metrics.actions.get_or_create(&crate::metrics::ActionLabels { action }).inc();
        // A note on every Event, so `kubectl describe` never shows an empty message.
        let note = if observed.changed.is_empty() {
            status.trunk_id.as_ref().map(|id| format!("{action} trunk {id}"))
        } else {
            Some(format!("fields: {}", observed.changed.join(", ")))
        };
        publish(ctx, trunk, EventType::Normal, action_reason(action), action_reason(action), note).await;
    }
    let pending: Vec<String> = status.pending_changes.clone().unwrap_or_default();
    let health = match suspended(trunk) {
        Some(reason) if !pending.is_empty() => Health::Suspended { reason, pending },
        _ => Health::InSync,
    };
    if status.last_sync_time.is_none() && health == Health::InSync {
        status.last_sync_time = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    Ok(health)
}

fn action_reason(action: &str) -> &'static str {
    match action {
        "created" => "Created",
        "updated" => "Updated",
        "adopted" => "Adopted",
        "deleted" => "Deleted",
        "orphaned" => "Orphaned",
        _ => "Changed",
    }
}

fn summary(trunk: &SipTrunk, t: ProviderType) -> TrunkSummary {
    let (number, address) = with_family!(t, F => F::summary(&trunk.spec));
    TrunkSummary { provider_type: Some(t.as_str().to_string()), number, address }
}

fn record_remote<F: Family>(status: &mut SipTrunkStatus, remote: &F::Remote) {
    let new_id = remote.id();
    if status.trunk_id.as_deref() != Some(new_id.as_str()) {
        status.inbound_trunk_id = None;
        status.outbound_trunk_id = None;
    }
    status.trunk_id = Some(new_id);
    let (inbound, outbound) = remote.trunk_ids();
    if inbound.is_some() {
        status.inbound_trunk_id = inbound;
    }
    if outbound.is_some() {
        status.outbound_trunk_id = outbound;
    }
    F::project(remote, status);
}

/// Steps 3-6: observe through the shared snapshot, decide (model::decide holds every rule),
/// execute the decision.
#[allow(clippy::too_many_arguments)]
async fn observe_and_act<F: Family>(
    trunk: &SipTrunk,
    ctx: &Context,
    api: &Api<SipTrunk>,
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    marker: &str,
    password: Option<SecretString>,
    status: &mut SipTrunkStatus,
) -> Result<Observed<F>, Error> {
    let ns = trunk.namespace().unwrap_or_default();
    let name = trunk.name_any();
    let legacy = model::marker::legacy(&ns, &name);
    let cred_hash = password.as_ref().map(|p| credentials_hash(account.token(), p));
    let now = Utc::now();
    // An intent that expired or names another key is dropped here (and with the next write).
    let intent_key = active_intent(status, now).map(|i| i.natural_key.clone());
    if intent_key.is_none() {
        status.create_intent = None;
    }
    let recorded_id = status.trunk_id.clone();
    let natural_key = desired.natural_key();
    let input = MatchInput {
        recorded_id: recorded_id.as_deref(),
        marker,
        natural_key: &natural_key,
        pending_create_key: intent_key.as_deref(),
    };
    let want = Wanted {
        desired,
        marker,
        legacy_marker: Some(&legacy),
        password: password.as_ref(),
        credentials_hash: cred_hash.as_deref(),
        adopt_existing: trunk.spec.adopt_existing,
        suspended: suspended(trunk),
        now,
    };
    let max_age = drift_interval(trunk, ctx);
    let mut obs = account.find(max_age, &input).await?;
    let mut decision = model::decide(&obs, &want, status);
    if matches!(decision, Decision::Create) {
        // Decide a create only on a recent list (the drift-window snapshot may predate a twin).
        obs = account.find_for_create(&input).await?;
        decision = model::decide(&obs, &want, status);
    }
    status.pending_changes = None;
    execute(decision, trunk, api, account, desired, &want, &input, password.clone(), status).await
}

/// Why writes are suspended, if they are.
fn suspended(trunk: &SipTrunk) -> Option<&'static str> {
    if paused(trunk) {
        Some("Paused")
    } else if trunk.spec.observe_only {
        Some("ObserveOnly")
    } else {
        None
    }
}

fn observed<F: Family>(
    remote: Option<F::Remote>,
    credentials_hash: Option<String>,
    applied: Option<model::Applied>,
) -> Observed<F> {
    Observed { remote, credentials_hash, action: None, changed: vec![], applied }
}

/// Carries out one decision; no rule is judged here.
#[allow(clippy::too_many_arguments)]
async fn execute<F: Family>(
    decision: Decision<F::Remote, F::Change>,
    trunk: &SipTrunk,
    api: &Api<SipTrunk>,
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    want: &Wanted<'_, F::Desired>,
    input: &MatchInput<'_>,
    password: Option<SecretString>,
    status: &mut SipTrunkStatus,
) -> Result<Observed<F>, Error> {
    let cred_hash = want.credentials_hash.map(str::to_string);
    match decision {
        Decision::Conflict { message, .. } => Err(Error::blocked("Conflict", message)),
        Decision::Refuse { reason, message } => Err(Error::blocked(reason, message)),
        Decision::Pending { trunk: owned, fields, .. } => {
            status.pending_changes = (!fields.is_empty()).then_some(fields);
            Ok(observed(owned, None, None))
        }
        Decision::Nothing { trunk: remote } => {
            status.create_intent = None;
            Ok(observed(Some(remote), cred_hash, Some(desired.applied_record())))
        }
        Decision::Create => create(trunk, api, account, desired, want, input, password, status).await,
        Decision::Update { trunk: remote, change } => {
            // List items lack the internal trunk ids (trap 2): one GET when status has none.
            let remote = with_internal_ids(account, remote, status).await?;
            status.create_intent = None;
            update(account, desired, remote, &change, cred_hash, "updated").await
        }
        Decision::Adopt { trunk: remote, reason, change } => {
            let remote = with_internal_ids(account, remote, status).await?;
            debug!(trunk = %remote.id(), ?reason, "adopting");
            let result = update(account, desired, remote, &change, cred_hash, "adopted").await?;
            // The marker is now written (or was visible): ownership is proved from here on.
            status.create_intent = None;
            Ok(result)
        }
    }
}

async fn with_internal_ids<F: Family>(
    account: &Account<F>,
    remote: F::Remote,
    status: &SipTrunkStatus,
) -> Result<F::Remote, Error> {
    let known = status.trunk_id.as_deref() == Some(remote.id().as_str()) && status.inbound_trunk_id.is_some();
    if known || !F::capabilities(account.http().provider()).ids_only_on_get {
        return Ok(remote);
    }
    Ok(F::get(&account.client, &remote.id()).await?.with_list_fields(&remote))
}

#[allow(clippy::too_many_arguments)]
async fn create<F: Family>(
    trunk: &SipTrunk,
    api: &Api<SipTrunk>,
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    want: &Wanted<'_, F::Desired>,
    input: &MatchInput<'_>,
    password: Option<SecretString>,
    status: &mut SipTrunkStatus,
) -> Result<Observed<F>, Error> {
    let cred_hash = want.credentials_hash.map(str::to_string);
    // The create intent: if the create's response is lost, the next reconcile adopts. Where the
    // create may leave the trunk without our marker it is written ahead; where the create
    // carries the marker the provider always shows (capability `marker_in_create`), a trunk
    // whose answer was lost is ours by its marker alone, and the intent is only recorded with
    // this reconcile's status (an outcome left unknown keeps it) — one write less per create.
    status.create_intent = Some(CreateIntent {
        natural_key: desired.natural_key(),
        credentials_hash: cred_hash.clone(),
        started_at: want.now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    status.trunk_id = None;
    if !F::capabilities(account.http().provider()).marker_in_create {
        status::write(api, trunk, status.clone()).await?;
    }
    match F::create(&account.client, desired, password).await {
        Ok((created, follow_up)) => {
            account.upsert(created.clone()).await;
            // The id and the applied password are recorded as soon as the response is read.
            record_remote::<F>(status, &created);
            status.credentials_hash = cred_hash.clone();
            let applied = desired.applied_record();
            status.last_applied = (!applied.is_empty()).then(|| applied.clone());
            if let Some(e) = follow_up {
                // famulor: the nickname (marker) call failed; the intent keeps the trunk ours
                // until the next reconcile writes the marker.
                return Err(e.into());
            }
            // The marker is on the trunk: ownership is proved, the intent has served.
            status.create_intent = None;
            // Fields the create does not take (bolna is_active) or the provider dropped are set
            // now, in the same reconcile; until they are, the condition says so.
            let (after, changed) = create::finish(account, desired, created, &applied).await?;
            Ok(Observed {
                remote: Some(after),
                credentials_hash: cred_hash,
                action: Some("created"),
                changed,
                applied: Some(applied),
            })
        }
        Err(e @ (ProviderError::Conflict { .. } | ProviderError::Invalid { status: 422, .. })) => {
            // A definitive refusal: the intent goes. Matched again on a fresh list: our own
            // marked trunk (an earlier create that lost its answer) is adopted next time;
            // anything else is reported.
            status.create_intent = None;
            Err(create::refused(account, desired, input, want, status, e).await)
        }
        Err(e) => {
            if e.is_transient() {
                // Unknown outcome: keep the intent, list again before deciding.
                account.invalidate();
            } else {
                // A definitive refusal (400/401/404/422): nothing was created.
                status.create_intent = None;
            }
            Err(e.into())
        }
    }
}

async fn update<F: Family>(
    account: &Arc<Account<F>>,
    desired: &F::Desired,
    remote: F::Remote,
    change: &F::Change,
    cred_hash: Option<String>,
    action: &'static str,
) -> Result<Observed<F>, Error> {
    if change.is_empty() {
        let action = (action == "adopted").then_some(action);
        return Ok(Observed {
            remote: Some(remote),
            credentials_hash: cred_hash,
            action,
            changed: vec![],
            applied: Some(desired.applied_record()),
        });
    }
    let fields = change.fields();
    debug!(fields = ?fields, "updating trunk");
    match F::update(&account.client, &remote, change).await {
        Ok(updated) => {
            account.upsert(updated.clone()).await;
            Ok(Observed {
                remote: Some(updated),
                credentials_hash: cred_hash,
                action: Some(action),
                changed: fields,
                applied: Some(desired.applied_record()),
            })
        }
        Err(e) => {
            // An update 500 leaves an unknown state (trap 13): re-read before deciding again.
            account.invalidate();
            Err(e.into())
        }
    }
}

/// Deletion behind the finalizer. Never blocked by validation or a missing password Secret.
async fn cleanup(trunk: &SipTrunk, ctx: &Context, api: &Api<SipTrunk>) -> Result<Next, Error> {
    let ns = trunk.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let name = trunk.name_any();
    if trunk.spec.deletion_policy == DeletionPolicy::Orphan {
        publish(
            ctx,
            trunk,
            EventType::Normal,
            "Orphaned",
            "Delete",
            Some("deletionPolicy Orphan: the provider's trunk is kept".into()),
        )
        .await;
        return Ok(None);
    }
    let result = delete_remote(trunk, ctx, &ns, &name).await;
    if result.is_ok() {
        ctx.forget(trunk);
    }
    match result {
        Err(e @ Error::Provider(ProviderError::Deferred { .. })) => Err(e),
        Ok(Some(id)) => {
            ctx.metrics.actions.get_or_create(&crate::metrics::ActionLabels { action: "deleted" }).inc();
            publish(
                ctx,
                trunk,
                EventType::Normal,
                "Deleted",
                "Delete",
                Some(format!("removed trunk {id} from the provider")),
            )
            .await;
            Ok(None)
        }
        Ok(None) => Ok(None),
        Err(e) => {
            let prev = trunk.status.clone().unwrap_or_default();
            let health = Health::Stalled {
                reason: "DeletionBlocked",
                message: format!("cannot delete the provider's trunk: {e}"),
            };
            let mut status = prev.clone();
            status.conditions = status::conditions(&prev.conditions, &health, trunk.metadata.generation);
            publish_transition(ctx, trunk, &prev, &health).await;
            if let Err(w) = status::write(api, trunk, status).await {
                warn!(error = %w, "status write failed during cleanup");
            }
            Err(e)
        }
    }
}

async fn delete_remote(trunk: &SipTrunk, ctx: &Context, ns: &str, name: &str) -> Result<Option<String>, Error> {
    let status = trunk.status.clone().unwrap_or_default();
    if status.trunk_id.is_none() && status.create_intent.is_none() {
        return delete_unrecorded(trunk, ctx, &status, ns, name).await;
    }
    if paused(trunk) {
        return Err(Error::blocked(
            "Paused",
            "the siptrunk.dev/paused annotation stops all writes, including deletion",
        ));
    }
    if trunk.spec.observe_only {
        return Err(Error::blocked(
            "ObserveOnly",
            "observeOnly stops all writes; set deletionPolicy: Orphan or turn observeOnly off",
        ));
    }
    let provider = deref::provider(trunk, &ctx.providers, &ctx.cluster_providers)?;
    delete_on_account(ctx, &provider, &status, ns, name).await
}

/// The guarded delete on the trunk's account: token, account, one of its turns, then `delete_in`.
async fn delete_on_account(
    ctx: &Context,
    provider: &deref::ResolvedProvider,
    status: &SipTrunkStatus,
    ns: &str,
    name: &str,
) -> Result<Option<String>, Error> {
    let token = deref::read_token(provider, &ctx.secrets).await?;
    with_family!(provider.type_, F => {
        let account = ctx.accounts.get::<F>(provider, token, &ctx.metrics)?;
        let _turn = account.admit().await?;
        delete_in::<F>(&account, ctx, status, ns, name).await
    })
}

/// Deletion of a trunk status records neither an id nor a create intent of. Where creates
/// write their intent ahead, nothing was sent. Where the create carries the marker and writes
/// no intent ahead (capability `marker_in_create`), a create whose answer a crash or a failed
/// status write lost may exist: it is looked up by our marker. An account that cannot be asked for
/// good (no provider, no token, refused credentials) cannot hold such a trunk of ours either, so
/// deletion is not held up by it; a transient failure is retried.
async fn delete_unrecorded(
    trunk: &SipTrunk,
    ctx: &Context,
    status: &SipTrunkStatus,
    ns: &str,
    name: &str,
) -> Result<Option<String>, Error> {
    if paused(trunk) || trunk.spec.observe_only {
        return Ok(None);
    }
    let Ok(provider) = deref::provider(trunk, &ctx.providers, &ctx.cluster_providers) else {
        return Ok(None);
    };
    if !provider_api::capabilities(provider.type_).marker_in_create {
        return Ok(None);
    }
    match delete_on_account(ctx, &provider, status, ns, name).await {
        Err(e) if !e.is_transient() && !matches!(e, Error::Provider(ProviderError::Deferred { .. })) => {
            info!(reason = e.reason(), "no unrecorded create to look for: the account cannot be asked");
            Ok(None)
        }
        other => other,
    }
}

/// The guarded delete of one family's trunk.
async fn delete_in<F: Family>(
    account: &Arc<Account<F>>,
    ctx: &Context,
    status: &SipTrunkStatus,
    ns: &str,
    name: &str,
) -> Result<Option<String>, Error> {
    let marker = ctx.marker_key.marker(ns, name);
    let legacy = model::marker::legacy(ns, name);
    let id = match status.trunk_id.clone() {
        Some(id) => id,
        None => {
            // A create was in flight when we lost track: only a trunk carrying our marker is
            // provably what it made (a trunk that merely has the natural key may be anyone's).
            let input =
                MatchInput { recorded_id: None, marker: &marker, natural_key: "\u{0}", pending_create_key: None };
            let obs = account.find(Duration::ZERO, &input).await?;
            match obs.marked.filter(|r| model::decide::owner(r, &marker, None) == model::Owner::Us) {
                Some(r) => r.id(),
                None => return Ok(None),
            }
        }
    };
    // Proof from a fresh read, never from status or the snapshot alone.
    let current = provider_api::read::<F>(&account.client, &id).await?;
    match model::decide_delete(current.as_ref(), &marker, Some(&legacy), status, Utc::now()) {
        DeleteDecision::Nothing => {
            account.remove(&id).await;
            Ok(Some(id))
        }
        DeleteDecision::Refuse(message) => Err(Error::blocked("Conflict", message)),
        DeleteDecision::Delete(id) => match provider_api::delete::<F>(&account.client, &id).await? {
            Deleted::Removed | Deleted::AlreadyGone => {
                account.remove(&id).await;
                Ok(Some(id))
            }
        },
    }
}

async fn publish(ctx: &Context, trunk: &SipTrunk, type_: EventType, reason: &str, action: &str, note: Option<String>) {
    let ev = Event { type_, reason: reason.into(), note, action: action.into(), secondary: None };
    if let Err(e) = ctx.recorder.publish(&ev, &trunk.object_ref(&())).await {
        debug!(error = %e, "event not published");
    }
}

/// Publishes an Event when Ready changes reason (not on every reconcile).
async fn publish_transition(ctx: &Context, trunk: &SipTrunk, prev: &SipTrunkStatus, health: &Health) {
    let before = status::ready(Some(prev)).map(|c| c.reason.clone());
    let (reason, message, warning) = match health {
        Health::InSync => ("Synced", "the provider holds exactly this trunk".to_string(), false),
        Health::Suspended { reason, pending } => {
            (*reason, format!("writes suspended; pending: {}", pending.join(", ")), false)
        }
        Health::Stalled { reason, message } | Health::Progressing { reason, message } => {
            (*reason, message.clone(), true)
        }
    };
    if before.as_deref() == Some(reason) {
        return;
    }
    if reason == "Synced" && before.is_none() {
        return;
    }
    let event_reason = match reason {
        "Conflict" => "Conflict",
        "Synced" | "Paused" | "ObserveOnly" => reason,
        r if r.starts_with("Provider") || r == "Unauthorized" || r == "RateLimited" || r == "NotFound" => {
            "ProviderError"
        }
        r => r,
    };
    let type_ = if warning { EventType::Warning } else { EventType::Normal };
    publish(ctx, trunk, type_, event_reason, "Reconcile", Some(message)).await;
}
