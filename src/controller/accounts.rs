//! Step 3, observe: one client, one rate limiter and one shared snapshot per provider account.
//! The list endpoint is called once per refresh for all trunks of the account (single flight:
//! concurrent reconciles wait for the call in progress), and the controller's own writes
//! update the snapshot in place.
//!
//! Nothing here makes a worker slot wait for long: each account lets at most `cap` reconciles in
//! at once (the others are requeued for a later turn), the snapshot lock is taken with a deadline,
//! and a 429 block answers at once. Accounts no provider object or trunk uses are evicted.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use secrecy::{ExposeSecret, SecretString};

use super::deref::ResolvedProvider;
use super::error::Error;
use super::validate::parse_duration;
use crate::metrics::Metrics;
use crate::model::{Held, MatchInput, Observation, TrunkIndex};
use crate::provider::egress::{self, EgressPolicy};
use crate::provider::http::{HttpClient, MAX_INLINE_WAIT, default_rate};
use crate::provider::list::{ListBudget, Skipped};
use crate::provider::{ClientConfig, Family, ProviderError};

/// Default interval between drift checks.
pub const DEFAULT_DRIFT: Duration = Duration::from_secs(300);
/// Shortest drift interval accepted (below 30s mostly spends the provider rate limit).
pub const MIN_DRIFT: Duration = Duration::from_secs(1);

/// A `driftCheckInterval` value (of a trunk or a provider object) that applies: set, and at
/// least [`MIN_DRIFT`].
pub fn drift_setting(value: Option<&str>) -> Option<Duration> {
    value.and_then(parse_duration).filter(|d| *d >= MIN_DRIFT)
}

/// The drift-check interval of an account: its provider object's `driftCheckInterval`, or
/// [`DEFAULT_DRIFT`] when unset or below [`MIN_DRIFT`].
pub fn drift_interval(s: &crate::crd::ProviderSettings) -> Duration {
    drift_setting(s.drift_check_interval.as_deref()).unwrap_or(DEFAULT_DRIFT)
}

/// Oldest snapshot a create may be decided on: a create is the one write that cannot be taken
/// back, so a trunk that a human (or another replica) made since the last drift-window list must
/// be seen first. Creates that come together still share one list.
pub const CREATE_FRESHNESS: Duration = Duration::from_secs(2);
/// The create freshness doubles, up to this, while re-lists find no trunk the operator did not
/// know of (a create burst of the operator's own), so a burst of 10,000 creates costs a handful
/// of lists instead of one every 2 s; any list that finds a stranger's change resets it to 2 s.
pub const MAX_CREATE_FRESHNESS: Duration = Duration::from_secs(30);
/// Longest a reconcile waits for the account's snapshot lock (held across a list call); then it
/// is requeued instead of holding its worker slot.
pub const LOCK_DEADLINE: Duration = Duration::from_secs(2);
/// Longest provider request timeout accepted (also a CEL rule on the CRDs).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// A list that failed answers the reconciles that waited for it with the same error for this
/// long, instead of each of them listing again (a failed 48 MiB list is not fetched ten times).
pub const FAILED_LIST_REUSE: Duration = Duration::from_secs(1);
/// Default provider request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One provider account of the family `F`.
pub struct Account<F: Family> {
    /// The account's client.
    pub client: F::Client,
    /// How often trunks of this account are compared with the provider.
    pub drift_interval: Duration,
    fingerprint: String,
    token: SecretString,
    snapshot: tokio::sync::Mutex<Snapshot<F>>,
    /// Set by `invalidate` (and by a write whose record missed the lock deadline): the next
    /// `find` lists again.
    stale: AtomicBool,
    /// Reconciles of this account in flight at once.
    permits: Arc<Semaphore>,
    /// Reconciles waiting (at most `MAX_INLINE_WAIT`) for a turn of a moving account.
    waiters: AtomicUsize,
    max_waiters: usize,
    /// Milliseconds after `born` when a turn was last given back: a turn given back within the
    /// last second means the account is moving, so waiting briefly for one beats a requeue.
    last_release: Arc<AtomicU64>,
    born: Instant,
    outcomes: Arc<ListOutcomes>,
    key: String,
}

/// One reconcile's turn on an account; giving it back (drop) marks the account as moving.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    last_release: Arc<AtomicU64>,
    born: Instant,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.last_release.store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

struct Snapshot<F: Family> {
    index: TrunkIndex<F::Remote>,
    fetched_at: Option<Instant>,
    /// Items of the last list that did not parse, by id and by marker found in them.
    malformed_ids: HashMap<String, Skipped>,
    malformed_markers: HashMap<String, Skipped>,
    create_freshness: Duration,
    failed: Option<(Instant, ProviderError)>,
}

impl<F: Family> Default for Snapshot<F> {
    fn default() -> Self {
        Snapshot {
            index: TrunkIndex::default(),
            fetched_at: None,
            malformed_ids: HashMap::new(),
            malformed_markers: HashMap::new(),
            create_freshness: CREATE_FRESHNESS,
            failed: None,
        }
    }
}

/// The create freshness after a re-list that knew `before` trunks and found `after` (pure).
pub fn next_create_freshness(current: Duration, before: usize, after: usize) -> Duration {
    if before == after { (current * 2).min(MAX_CREATE_FRESHNESS) } else { CREATE_FRESHNESS }
}

impl<F: Family> Account<F> {
    /// The account's HTTP client (rate limiter, turns, 429 state).
    pub fn http(&self) -> &HttpClient {
        F::http(&self.client)
    }

    /// A turn for one reconcile. Refused at once (requeue for the returned time) when the
    /// account is blocked by a 429, or has `cap` reconciles in flight and none has finished in
    /// the last second (calls hang); when its turns are moving, up to `cap / 2` reconciles wait
    /// at most `MAX_INLINE_WAIT` for one, which keeps a create burst paced at the account's rate.
    pub async fn admit(&self) -> Result<Turn, ProviderError> {
        let http = self.http();
        if let Some(left) = http.blocked_for() {
            return Err(ProviderError::RateLimited { retry_after: Some(left) });
        }
        let turn = |p| Turn { _permit: p, last_release: self.last_release.clone(), born: self.born };
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(turn(p));
        }
        let since_release =
            self.born.elapsed().saturating_sub(Duration::from_millis(self.last_release.load(Ordering::Relaxed)));
        if since_release < Duration::from_secs(1) {
            if self.waiters.fetch_add(1, Ordering::SeqCst) < self.max_waiters {
                let got = tokio::time::timeout(MAX_INLINE_WAIT, self.permits.clone().acquire_owned()).await;
                self.waiters.fetch_sub(1, Ordering::SeqCst);
                if let Ok(Ok(p)) = got {
                    return Ok(turn(p));
                }
            } else {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
            }
        }
        // All turns taken: come back no sooner than a tenth of a request timeout (50 ms to 1 s),
        // so the trunks of an account whose calls hang do not spin through the workers.
        let at_least = (http.timeout() / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        self.permits
            .clone()
            .try_acquire_owned()
            .map(turn)
            .map_err(|_| ProviderError::Deferred { retry_after: http.defer_hint(at_least) })
    }

    async fn lock(&self) -> Result<tokio::sync::MutexGuard<'_, Snapshot<F>>, ProviderError> {
        tokio::time::timeout(LOCK_DEADLINE, self.snapshot.lock())
            .await
            .map_err(|_| ProviderError::Deferred { retry_after: self.http().defer_hint(LOCK_DEADLINE / 4) })
    }

    /// Matches a desired trunk against a snapshot no older than `max_age`, refreshing it
    /// (one list call) when it is older. Concurrent callers share one refresh.
    pub async fn find(
        &self,
        max_age: Duration,
        input: &MatchInput<'_>,
    ) -> Result<Observation<F::Remote>, ProviderError> {
        let mut snap = self.lock().await?;
        self.refresh(&mut snap, max_age).await?;
        Self::check_malformed(&snap, input)?;
        Ok(snap.index.find(input))
    }

    /// Like `find` on a snapshot fresh enough to decide a create on (2 s, longer while the
    /// operator's own create burst is all that changes the account).
    pub async fn find_for_create(&self, input: &MatchInput<'_>) -> Result<Observation<F::Remote>, ProviderError> {
        let mut snap = self.lock().await?;
        let max_age = snap.create_freshness;
        self.refresh(&mut snap, max_age).await?;
        Self::check_malformed(&snap, input)?;
        Ok(snap.index.find(input))
    }

    async fn refresh(&self, snap: &mut Snapshot<F>, max_age: Duration) -> Result<(), ProviderError> {
        if snap.fetched_at.is_none()
            && let Some((at, e)) = &snap.failed
            && at.elapsed() < FAILED_LIST_REUSE
        {
            return Err(e.clone());
        }
        let forced = self.stale.swap(false, Ordering::SeqCst);
        if !forced && snap.fetched_at.is_some_and(|t| t.elapsed() < max_age) {
            return Ok(());
        }
        // Drop the old index before the new list arrives, so a large account is held once,
        // not twice, at the peak; `fetched_at = None` makes every caller list again should
        // this list fail, so nothing ever matches against the emptied index.
        let before = snap.fetched_at.map(|_| snap.index.len());
        snap.index = TrunkIndex::default();
        snap.fetched_at = None;
        snap.malformed_ids.clear();
        snap.malformed_markers.clear();
        let listed = F::list(&self.client).await;
        self.outcomes.record(&self.key, listed.as_ref().map(|_| ()));
        let (trunks, skipped) = match listed {
            Ok(x) => x,
            Err(e) => {
                snap.failed = Some((Instant::now(), e.clone()));
                return Err(e);
            }
        };
        snap.failed = None;
        let after = trunks.len() + skipped.len();
        snap.create_freshness = match before {
            Some(b) => next_create_freshness(snap.create_freshness, b, after),
            None => CREATE_FRESHNESS,
        };
        snap.index = TrunkIndex::new(trunks);
        for s in skipped {
            for m in &s.markers {
                snap.malformed_markers.insert(m.clone(), s.clone());
            }
            if let Some(id) = &s.id {
                snap.malformed_ids.insert(id.clone(), s);
            }
        }
        snap.fetched_at = Some(Instant::now());
        Ok(())
    }

    /// A trunk whose own item at the provider does not parse is told so, naming the field,
    /// instead of being matched as missing (which would create a twin).
    fn check_malformed(snap: &Snapshot<F>, input: &MatchInput<'_>) -> Result<(), ProviderError> {
        let hit = input
            .recorded_id
            .and_then(|id| snap.malformed_ids.get(id))
            .or_else(|| snap.malformed_markers.get(input.marker));
        match hit {
            None => Ok(()),
            Some(s) => Err(ProviderError::Protocol(format!(
                "the provider's trunk {} does not parse: field {}: {}",
                s.id.as_deref().unwrap_or("(no id)"),
                s.field,
                s.error
            ))),
        }
    }

    /// What of `desired` other trunks in the snapshot hold (explains a refused create).
    pub async fn held_elsewhere(&self, desired: &F::Desired) -> Vec<Held> {
        match self.lock().await {
            Ok(snap) => snap.index.held_elsewhere(desired),
            Err(_) => Vec::new(),
        }
    }

    /// Records the controller's own write.
    pub async fn upsert(&self, remote: F::Remote) {
        match self.lock().await {
            Ok(mut snap) => snap.index.upsert(remote),
            Err(_) => self.invalidate(),
        }
    }

    /// Records the controller's own delete.
    pub async fn remove(&self, id: &str) {
        match self.lock().await {
            Ok(mut snap) => snap.index.remove(id),
            Err(_) => self.invalidate(),
        }
    }

    /// Forces the next `find` to list again (after an update with unknown outcome, or a 409).
    pub fn invalidate(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// The API token (the key of credential hashes).
    pub fn token(&self) -> &SecretString {
        &self.token
    }
}

/// All accounts, keyed by provider object. Each holds an `Account<F>` of the family its provider
/// type names (the caller names it, through `provider::with_family!`).
pub struct Accounts {
    map: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    /// None: no egress check (`plan`, run by a person against URLs they chose).
    egress: Option<EgressPolicy>,
    cap: usize,
    outcomes: Arc<ListOutcomes>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts { map: Mutex::default(), egress: None, cap: 8, outcomes: Arc::default() }
    }
}

impl Accounts {
    /// The controller's accounts: base URLs checked against `egress`, at most `cap` reconciles
    /// of one account in flight.
    pub fn new(egress: EgressPolicy, cap: usize) -> Self {
        Accounts { map: Mutex::default(), egress: Some(egress), cap: cap.max(1), outcomes: Arc::default() }
    }

    /// Accounts held now.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no account is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evicts every account whose key is not in `used` (its provider object is gone, or no
    /// trunk refers to it): its client, rate limiter and snapshot are freed once no reconcile
    /// holds them.
    pub fn retain_used(&self, used: &HashSet<String>) -> usize {
        let Ok(mut map) = self.map.lock() else { return 0 };
        let before = map.len();
        map.retain(|k, _| used.contains(k));
        before - map.len()
    }

    /// The outcome of the last list call of the account behind a provider object (its
    /// `ResolvedProvider::key`), made by the current client (token and settings); None before
    /// the first one. What a provider object's status reports: it adds no provider call.
    pub fn last_list(&self, key: &str) -> Option<ListOutcome> {
        self.outcomes.get(key)
    }

    /// Woken when a list outcome changes kind (success ↔ failure, or another failure reason).
    pub fn list_outcome_changed(&self) -> &tokio::sync::Notify {
        &self.outcomes.changed
    }

    /// The account of the family `F` for a resolved provider and token, rebuilt when either
    /// changed (or when it was built for another family).
    pub fn get<F: Family>(
        &self,
        p: &ResolvedProvider,
        token: SecretString,
        metrics: &Arc<Metrics>,
    ) -> Result<Arc<Account<F>>, Error> {
        let fingerprint = format!("{:?}|{:?}", p.type_, p.settings);
        let mut map = self.map.lock().map_err(|_| Error::blocked("InternalError", "account registry poisoned"))?;
        if let Some(a) = map.get(&p.key).and_then(|a| a.clone().downcast::<Account<F>>().ok())
            && a.fingerprint == fingerprint
            && a.token.expose_secret() == token.expose_secret()
        {
            return Ok(a);
        }
        let s = &p.settings;
        let invalid = |m: String| Error::blocked("ProviderConfigInvalid", format!("{}: {m}", p.key));
        let (default_rate_per_sec, default_burst) = default_rate(p.type_);
        let (rate, burst) = match &s.rate_limit {
            Some(r) => (f64::from(r.requests_per_minute) / 60.0, r.burst.unwrap_or(default_burst)),
            None => (default_rate_per_sec, default_burst),
        };
        let base_url = s.base_url.clone().unwrap_or_else(|| p.type_.default_base_url().to_string());
        if let Some(policy) = &self.egress {
            egress::check(policy, p.type_, &base_url).map_err(invalid)?;
        }
        let timeout = match s.request_timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(t) => match parse_duration(t) {
                Some(d) if !d.is_zero() && d <= MAX_TIMEOUT => d,
                _ => return Err(invalid(format!("requestTimeout {t:?} must be a duration above 0 and at most 60s"))),
            },
        };
        let default_budget = ListBudget::default();
        let list_budget = ListBudget {
            max_bytes: s
                .list_budget
                .as_ref()
                .and_then(|b| b.max_mebibytes)
                .map_or(default_budget.max_bytes, |m| (m.clamp(1, crate::crd::MAX_LIST_MEBIBYTES) as usize) << 20),
            max_items: s
                .list_budget
                .as_ref()
                .and_then(|b| b.max_items)
                .map_or(default_budget.max_items, |n| n.clamp(1, crate::crd::MAX_LIST_ITEMS) as usize),
        };
        let cfg = ClientConfig {
            provider: p.type_,
            base_url,
            token: token.clone(),
            timeout,
            rate_per_second: rate,
            burst,
            ca_bundle: s.ca_bundle.clone(),
            allow_insecure_http: s.allow_insecure_http.unwrap_or(false),
            list_budget,
            api_key: s.api_key.clone(),
        };
        let http = HttpClient::new(cfg, metrics.clone()).map_err(invalid)?;
        let drift_interval = drift_interval(s);
        let account = Parts {
            drift_interval,
            fingerprint,
            token,
            cap: self.cap,
            outcomes: self.outcomes.clone(),
            key: p.key.clone(),
        };
        let account = account.build::<F>(http);
        // A new token or new settings: what the old client saw no longer says anything.
        self.outcomes.forget(&p.key);
        map.insert(p.key.clone(), account.clone());
        Ok(account)
    }
}

/// What an account is built from, before its family's client is.
struct Parts {
    drift_interval: Duration,
    fingerprint: String,
    token: SecretString,
    cap: usize,
    outcomes: Arc<ListOutcomes>,
    key: String,
}

impl Parts {
    fn build<F: Family>(self, http: HttpClient) -> Arc<Account<F>> {
        let Parts { drift_interval, fingerprint, token, cap, outcomes, key } = self;
        Arc::new(Account {
            client: F::client(http),
            drift_interval,
            fingerprint,
            token,
            snapshot: tokio::sync::Mutex::new(Snapshot::default()),
            stale: AtomicBool::new(false),
            permits: Arc::new(Semaphore::new(cap)),
            waiters: AtomicUsize::new(0),
            max_waiters: cap / 2,
            last_release: Arc::new(AtomicU64::new(0)),
            born: Instant::now(),
            outcomes,
            key,
        })
    }
}

/// What the last list call of an account returned.
#[derive(Clone, Debug, PartialEq)]
pub struct ListOutcome {
    /// When it returned.
    pub at: chrono::DateTime<chrono::Utc>,
    /// None: success. Otherwise the failure (already redacted by the client).
    pub error: Option<ProviderError>,
    /// When a list call of this client last succeeded.
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
}

/// The last list outcome per account key, shared by the accounts and read by provider status.
#[derive(Default)]
struct ListOutcomes {
    map: Mutex<HashMap<String, ListOutcome>>,
    changed: tokio::sync::Notify,
}

impl ListOutcomes {
    fn record(&self, key: &str, result: Result<(), &ProviderError>) {
        let now = chrono::Utc::now();
        let Ok(mut map) = self.map.lock() else { return };
        let prev = map.get(key);
        let kind_before = prev.map(|o| o.error.as_ref().map(ProviderError::reason));
        let last_success = if result.is_ok() { Some(now) } else { prev.and_then(|o| o.last_success) };
        let error = result.err().cloned();
        let kind_now = Some(error.as_ref().map(ProviderError::reason));
        map.insert(key.to_string(), ListOutcome { at: now, error, last_success });
        drop(map);
        if kind_before != kind_now {
            self.changed.notify_one();
        }
    }

    fn get(&self, key: &str) -> Option<ListOutcome> {
        self.map.lock().ok().and_then(|m| m.get(key).cloned())
    }

    fn forget(&self, key: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_freshness_grows_while_quiet_and_resets_on_a_strangers_change() {
        let mut f = CREATE_FRESHNESS;
        for _ in 0..10 {
            f = next_create_freshness(f, 100, 100);
        }
        assert_eq!(f, MAX_CREATE_FRESHNESS);
        assert_eq!(next_create_freshness(f, 100, 101), CREATE_FRESHNESS);
    }

    #[test]
    fn an_account_is_kept_for_its_family_and_rebuilt_for_another() {
        use crate::crd::ProviderType;
        use crate::provider::{AutocallsFamily, BolnaFamily};
        crate::tls::install_crypto_provider();
        let accounts = Accounts::default();
        let metrics = Arc::new(Metrics::default());
        let mut p = ResolvedProvider {
            key: "SipProvider/ns/p".into(),
            type_: ProviderType::Bolna,
            settings: Default::default(),
            token_ref: ("ns".into(), "tok".into(), "token".into()),
        };
        let token = || SecretString::from("token-1".to_string());
        let a = accounts.get::<BolnaFamily>(&p, token(), &metrics).expect("bolna account");
        let again = accounts.get::<BolnaFamily>(&p, token(), &metrics).expect("bolna account");
        assert!(Arc::ptr_eq(&a, &again), "same family, settings and token: the same account");
        p.type_ = ProviderType::Famulor;
        let other = accounts.get::<AutocallsFamily>(&p, token(), &metrics).expect("famulor account");
        assert_eq!(other.http().provider(), ProviderType::Famulor);
        assert_eq!(accounts.len(), 1, "one account per provider object");
        // Asked for with the family it no longer has, it is rebuilt, never mistaken for the other.
        p.type_ = ProviderType::Bolna;
        let rebuilt = accounts.get::<BolnaFamily>(&p, token(), &metrics).expect("bolna account");
        assert!(!Arc::ptr_eq(&a, &rebuilt));
    }
}
