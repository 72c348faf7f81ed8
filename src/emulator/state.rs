//! Shared emulator state: accounts and their stores, accepted tokens, id generators, call counts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::calls::CallCounts;
use super::faults::Faults;
use super::ratelimit::RateLimiter;
use super::{Behaviour, EmulatorConfig, Flavor, autocalls, bolna, wire};

/// Lock a mutex, recovering the data if a holder panicked (the emulator must keep serving).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Counters per trunk, so tests can assert what a client caused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrunkStats {
    /// Accepted update calls (PUT / PATCH).
    pub updates: u32,
    /// autocalls/famulor: times the inbound voice trunk was re-created by an API update.
    pub inbound_reprovisions: u32,
    /// autocalls/famulor: times the outbound voice trunk was re-created by an API update.
    pub outbound_reprovisions: u32,
    /// Updates that carried a password (`sip_password` / `auth_password`).
    pub password_writes: u32,
}

/// The name of the account a request was authenticated for (a request extension).
#[derive(Clone, Debug)]
pub(crate) struct AccountName(pub String);

/// One account's data. autocalls/famulor use `numbers`, bolna uses `bolna`.
#[derive(Default)]
pub(crate) struct Account {
    pub numbers: BTreeMap<i64, autocalls::model::Number>,
    pub bolna: Vec<bolna::model::Trunk>,
}

pub(crate) struct Store {
    pub rng: StdRng,
    /// One integer id space for SIP trunks and purchased numbers, across accounts.
    pub next_number_id: i64,
    pub accounts: BTreeMap<String, Account>,
}

impl Store {
    pub(crate) fn next_id(&mut self) -> i64 {
        let id = self.next_number_id;
        self.next_number_id += 1;
        id
    }
}

#[derive(Default)]
struct Tokens {
    /// token → account name, for every token ever seen (accepted or not).
    account: HashMap<String, String>,
    accepted: HashSet<String>,
    /// Accepted tokens in configuration order.
    order: Vec<String>,
    anonymous: usize,
}

impl Tokens {
    fn account_for(&mut self, token: &str, named: Option<&str>) -> String {
        if let Some(name) = named {
            self.account.insert(token.to_owned(), name.to_owned());
        }
        if let Some(a) = self.account.get(token) {
            return a.clone();
        }
        self.anonymous += 1;
        let name = format!("account-{}", self.anonymous);
        self.account.insert(token.to_owned(), name.clone());
        name
    }

    fn accept(&mut self, token: &str, named: Option<&str>) {
        self.account_for(token, named);
        if self.accepted.insert(token.to_owned()) {
            self.order.push(token.to_owned());
        }
    }
}

/// The seed of generated ids: per run (unless fixed) and per flavor.
pub(crate) fn id_seed(cfg: &EmulatorConfig) -> u64 {
    let salt = match cfg.flavor {
        Flavor::Autocalls => 0xa17c_a115,
        Flavor::Famulor => 0xfa70_10f0,
        Flavor::Bolna => 0xb01a_0b01,
    };
    cfg.id_seed.unwrap_or_else(rand::random).rotate_left(17) ^ salt
}

pub(crate) struct Inner {
    pub flavor: Flavor,
    pub latency: Duration,
    pub faults: Faults,
    pub limiter: RateLimiter,
    behaviour: Mutex<Behaviour>,
    tokens: Mutex<Tokens>,
    calls: Mutex<CallCounts>,
    store: Mutex<Store>,
}

impl Inner {
    pub(crate) fn new(cfg: &EmulatorConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(id_seed(cfg));
        let mut tokens = Tokens::default();
        for t in &cfg.tokens {
            tokens.accept(t, cfg.token_accounts.get(t).map(String::as_str));
        }
        let mut mapped: Vec<_> = cfg.token_accounts.iter().collect();
        mapped.sort();
        for (t, a) in mapped {
            tokens.accept(t, Some(a));
        }
        if tokens.order.is_empty() {
            tokens.accept(&wire::random_token(&mut rng, cfg.flavor), None);
        }
        Inner {
            flavor: cfg.flavor,
            latency: cfg.latency,
            faults: Faults::new(cfg.seed),
            limiter: RateLimiter::new(cfg.rate_limit.clone()),
            behaviour: Mutex::new(cfg.behaviour),
            tokens: Mutex::new(tokens),
            calls: Mutex::new(CallCounts::default()),
            store: Mutex::new(Store { rng, next_number_id: 1, accounts: BTreeMap::new() }),
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn behaviour(&self) -> Behaviour {
        *lock(&self.behaviour)
    }

    pub(crate) fn set_behaviour(&self, b: Behaviour) {
        *lock(&self.behaviour) = b;
    }

    pub(crate) fn tokens(&self) -> Vec<String> {
        lock(&self.tokens).order.clone()
    }

    pub(crate) fn add_token(&self, token: &str, account: Option<&str>) {
        lock(&self.tokens).accept(token, account);
    }

    pub(crate) fn revoke_token(&self, token: &str) {
        let mut t = lock(&self.tokens);
        t.accepted.remove(token);
        t.order.retain(|x| x != token);
    }

    /// The account of an accepted token.
    pub(crate) fn authenticate(&self, token: &str) -> Option<String> {
        let t = lock(&self.tokens);
        if t.accepted.contains(token) { t.account.get(token).cloned() } else { None }
    }

    /// The account behind any token (accepted or not), for the test-side helpers.
    fn account_of(&self, token: &str) -> String {
        lock(&self.tokens).account_for(token, None)
    }

    pub(crate) fn record_call(&self, method: &str, route: &str, status: u16) {
        lock(&self.calls).record(method, route, status);
    }

    pub(crate) fn calls_snapshot(&self) -> CallCounts {
        lock(&self.calls).clone()
    }

    pub(crate) fn reset_calls(&self) {
        *lock(&self.calls) = CallCounts::default();
    }

    /// Stored trunks of every account, for `/_emulator/trunks`.
    pub(crate) fn all_trunks_json(&self) -> BTreeMap<String, Vec<Value>> {
        let store = self.store();
        store.accounts.iter().map(|(name, acct)| (name.clone(), self.account_trunks(acct))).collect()
    }

    fn account_trunks(&self, acct: &Account) -> Vec<Value> {
        match self.flavor {
            Flavor::Autocalls | Flavor::Famulor => {
                acct.numbers.values().filter_map(|n| n.as_sip()).map(|t| t.stored_json()).collect()
            }
            Flavor::Bolna => acct.bolna.iter().map(|t| t.stored_json()).collect(),
        }
    }

    pub(crate) fn trunks_json(&self, token: &str) -> Vec<Value> {
        let name = self.account_of(token);
        let store = self.store();
        store.accounts.get(&name).map(|a| self.account_trunks(a)).unwrap_or_default()
    }

    pub(crate) fn numbers_json(&self, token: &str) -> Vec<Value> {
        let name = self.account_of(token);
        let store = self.store();
        store.accounts.get(&name).map(|a| a.numbers.values().map(|n| n.stored_json()).collect()).unwrap_or_default()
    }

    pub(crate) fn password_matches(&self, token: &str, trunk_id: &str, password: &str) -> bool {
        let name = self.account_of(token);
        let store = self.store();
        let Some(acct) = store.accounts.get(&name) else {
            return false;
        };
        let hash = sha256_hex(password);
        match self.flavor {
            Flavor::Autocalls | Flavor::Famulor => {
                autocalls::model::find_sip(acct, trunk_id).is_some_and(|t| t.password_sha256 == hash)
            }
            Flavor::Bolna => bolna::model::find(acct, trunk_id)
                .is_some_and(|t| t.auth_password_sha256.as_deref() == Some(hash.as_str())),
        }
    }

    pub(crate) fn trunk_stats(&self, token: &str, trunk_id: &str) -> Option<TrunkStats> {
        let name = self.account_of(token);
        let store = self.store();
        let acct = store.accounts.get(&name)?;
        match self.flavor {
            Flavor::Autocalls | Flavor::Famulor => autocalls::model::find_sip(acct, trunk_id).map(|t| t.stats),
            Flavor::Bolna => bolna::model::find(acct, trunk_id).map(|t| t.stats),
        }
    }

    pub(crate) fn seed_trunk(&self, token: &str, v: &Value) -> String {
        let name = self.account_of(token);
        let mut store = self.store();
        match self.flavor {
            Flavor::Autocalls | Flavor::Famulor => autocalls::seed_trunk(&mut store, &name, v).to_string(),
            Flavor::Bolna => bolna::seed_trunk(&mut store, &name, v),
        }
    }

    pub(crate) fn seed_purchased_number(&self, token: &str, number: &str) -> i64 {
        let name = self.account_of(token);
        autocalls::seed_purchased(&mut self.store(), &name, number)
    }

    pub(crate) fn edit_trunk(&self, token: &str, id: &str, patch: &Value) {
        let name = self.account_of(token);
        let mut store = self.store();
        match self.flavor {
            Flavor::Autocalls | Flavor::Famulor => autocalls::edit_trunk(&mut store, &name, id, patch),
            Flavor::Bolna => bolna::edit_trunk(&mut store, &name, id, patch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_id(cfg: &EmulatorConfig) -> String {
        let inner = Inner::new(cfg);
        let mut store = inner.store();
        wire::voice_trunk_id(&mut store.rng)
    }

    #[test]
    fn generated_ids_differ_per_flavor_and_per_run_and_repeat_with_a_fixed_seed() {
        let autocalls = EmulatorConfig::new(Flavor::Autocalls);
        let famulor = EmulatorConfig::new(Flavor::Famulor);
        assert_ne!(first_id(&autocalls), first_id(&autocalls), "two runs of one flavor");
        let fixed = |f| EmulatorConfig { id_seed: Some(7), ..EmulatorConfig::new(f) };
        assert_ne!(first_id(&fixed(Flavor::Autocalls)), first_id(&fixed(Flavor::Famulor)), "two flavors, one seed");
        assert_eq!(first_id(&fixed(Flavor::Autocalls)), first_id(&fixed(Flavor::Autocalls)), "reproducible");
        assert_ne!(first_id(&autocalls), first_id(&famulor));
    }
}
