//! Step 3, observe: one client, one rate limiter and one shared snapshot per provider account.
//! The list endpoint is called once per refresh for all trunks of the account (single flight:
//! concurrent reconciles wait for the call in progress), and the controller's own writes
//! update the snapshot in place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::deref::ResolvedProvider;
use super::error::Error;
use super::validate::parse_duration;
use crate::metrics::Metrics;
use crate::model::{Desired, Held, Match, MatchInput, Remote, TrunkIndex};
use crate::provider::http::default_rate;
use crate::provider::{ClientConfig, ProviderClient, ProviderError};

/// Default interval between drift checks.
pub const DEFAULT_DRIFT: Duration = Duration::from_secs(300);
/// Shortest drift interval accepted (below 30s mostly spends the provider rate limit).
pub const MIN_DRIFT: Duration = Duration::from_secs(1);
/// Oldest snapshot a create may be decided on: a create is the one write that cannot be taken
/// back, so a trunk that a human (or another replica) made since the last drift-window list must
/// be seen first. Creates that come together still share one list.
pub const CREATE_FRESHNESS: Duration = Duration::from_secs(2);
/// Default provider request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One provider account.
pub struct Account {
    /// The account's client.
    pub client: ProviderClient,
    /// How often trunks of this account are compared with the provider.
    pub drift_interval: Duration,
    fingerprint: String,
    token: SecretString,
    snapshot: tokio::sync::Mutex<Snapshot>,
    outcomes: Arc<ListOutcomes>,
    key: String,
}

#[derive(Default)]
struct Snapshot {
    index: TrunkIndex,
    fetched_at: Option<Instant>,
}

impl Account {
    /// Matches a desired trunk against a snapshot no older than `max_age`, refreshing it
    /// (one list call) when it is older. Concurrent callers share one refresh.
    pub async fn find(&self, max_age: Duration, input: &MatchInput<'_>) -> Result<Match, ProviderError> {
        let mut snap = self.snapshot.lock().await;
        let stale = snap.fetched_at.is_none_or(|t| t.elapsed() >= max_age);
        if stale {
            // Drop the old index before the new list arrives, so a large account is held once,
            // not twice, at the peak; `fetched_at = None` makes every caller list again should
            // this list fail, so nothing ever matches against the emptied index.
            snap.index = TrunkIndex::default();
            snap.fetched_at = None;
            let listed = self.client.list().await;
            self.outcomes.record(&self.key, listed.as_ref().map(|_| ()));
            let trunks = listed?;
            snap.index = TrunkIndex::new(trunks);
            snap.fetched_at = Some(Instant::now());
        }
        Ok(snap.index.find(input))
    }

    /// What of `desired` other trunks in the snapshot hold (explains a refused create).
    pub async fn held_elsewhere(&self, desired: &Desired) -> Vec<Held> {
        self.snapshot.lock().await.index.held_elsewhere(desired)
    }

    /// Records the controller's own write.
    pub async fn upsert(&self, remote: Remote) {
        self.snapshot.lock().await.index.upsert(remote);
    }

    /// Records the controller's own delete.
    pub async fn remove(&self, id: &str) {
        self.snapshot.lock().await.index.remove(id);
    }

    /// Forces the next `find` to list again (after an update with unknown outcome, or a 409).
    pub async fn invalidate(&self) {
        self.snapshot.lock().await.fetched_at = None;
    }

    /// The API token (the key of credential hashes).
    pub fn token(&self) -> &SecretString {
        &self.token
    }
}

/// All accounts, keyed by provider object.
#[derive(Default)]
pub struct Accounts {
    map: Mutex<HashMap<String, Arc<Account>>>,
    outcomes: Arc<ListOutcomes>,
}

impl Accounts {
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

    /// The account for a resolved provider and token, rebuilt when either changed.
    pub fn get(
        &self,
        p: &ResolvedProvider,
        token: SecretString,
        metrics: &Arc<Metrics>,
    ) -> Result<Arc<Account>, Error> {
        let fingerprint = format!("{:?}|{:?}", p.type_, p.settings);
        let mut map = self.map.lock().map_err(|_| Error::blocked("InternalError", "account registry poisoned"))?;
        if let Some(a) = map.get(&p.key)
            && a.fingerprint == fingerprint
            && a.token.expose_secret() == token.expose_secret()
        {
            return Ok(a.clone());
        }
        let s = &p.settings;
        let (default_rate_per_sec, default_burst) = default_rate(p.type_);
        let (rate, burst) = match &s.rate_limit {
            Some(r) => (f64::from(r.requests_per_minute) / 60.0, r.burst.unwrap_or(default_burst)),
            None => (default_rate_per_sec, default_burst),
        };
        let cfg = ClientConfig {
            provider: p.type_,
            base_url: s.base_url.clone().unwrap_or_else(|| p.type_.default_base_url().to_string()),
            token: token.clone(),
            timeout: s.request_timeout.as_deref().and_then(parse_duration).unwrap_or(DEFAULT_TIMEOUT),
            rate_per_second: rate,
            burst,
            ca_bundle: s.ca_bundle.clone(),
            allow_insecure_http: s.allow_insecure_http.unwrap_or(false),
        };
        let client = ProviderClient::new(cfg, metrics.clone())
            .map_err(|m| Error::blocked("ProviderConfigInvalid", format!("{}: {m}", p.key)))?;
        let drift_interval = s
            .drift_check_interval
            .as_deref()
            .and_then(parse_duration)
            .filter(|d| *d >= MIN_DRIFT)
            .unwrap_or(DEFAULT_DRIFT);
        let account = Arc::new(Account {
            client,
            drift_interval,
            fingerprint,
            token,
            snapshot: tokio::sync::Mutex::new(Snapshot::default()),
            outcomes: self.outcomes.clone(),
            key: p.key.clone(),
        });
        // A new token or new settings: what the old client saw no longer says anything.
        self.outcomes.forget(&p.key);
        map.insert(p.key.clone(), account.clone());
        Ok(account)
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
