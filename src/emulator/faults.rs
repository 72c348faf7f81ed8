//! Runtime-settable fault injection: error statuses, throttling, latency, commit-then-drop and hostile bodies.
//!
//! An endpoint selector is `"*"` (every provider route), `"POST *"` (every route with that method) or an
//! exact `"METHOD /route/template"` as counted by `calls()`, e.g. `"PUT /user/phone-numbers/sip-trunks/{id}"`.
//! Rules are tried in the order they were added; the first one that fires decides (latency rules add up).
//! Share-based rules draw from a generator seeded by `EmulatorConfig::seed`, so a sequential client sees
//! the same faults on every run.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::state::lock;

/// A response no well-behaved API sends, for parser robustness tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// An nginx-style HTML error page with this status; the request is not processed.
    Html { status: u16 },
    /// The real response (the write is committed) with its JSON body cut in half.
    TruncatedJson,
    /// The real response (committed) with every number and boolean turned into a string.
    WrongTypes,
    /// The real status (committed) with an empty body.
    EmptyBody,
    /// A validation error with this status, without processing, whose message echoes the
    /// request's `Authorization` header and body back (a careless provider). For checking that
    /// neither the token nor a password reaches logs, conditions or events.
    EchoRequest { status: u16 },
    /// The real list response (a bare array, or autocalls' `data`) with `field` of its `nth`
    /// item set to null: one poisoned item (`sip_calling_format: null`, bolna `ip_identifiers: null`).
    NullField { field: &'static str, nth: usize },
    /// The real list response followed by tiny items (`{"id": n}`) until the body is about `bytes`
    /// long, streamed without a Content-Length (the emulator itself never holds it).
    HugeList { bytes: usize },
}

#[derive(Clone, Copy, Debug)]
enum Trigger {
    Next(u32),
    Share(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Action {
    /// Answer `status` without processing, or after processing when `after_commit`.
    Status {
        status: u16,
        after_commit: bool,
    },
    /// Answer 429 without processing.
    Throttle {
        retry_after: u64,
        header: bool,
    },
    /// Process (commit), then drop the connection without a response.
    Drop,
    /// Never answer, never process: the connection stays open until the client gives up.
    BlackHole,
    Hostile(Hostile),
}

#[derive(Clone, Debug)]
struct Rule {
    endpoint: String,
    trigger: Trigger,
    action: Option<Action>,
    delay: Duration,
}

struct FaultState {
    rules: Vec<Rule>,
    latency: Duration,
    rng: StdRng,
}

/// What the pipeline does with one request.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub action: Option<Action>,
    pub delay: Duration,
}

/// Fault knobs of a running emulator. All off by default.
pub struct Faults {
    state: Mutex<FaultState>,
}

fn selects(selector: &str, endpoint: &str) -> bool {
    if selector == "*" || selector == endpoint {
        return true;
    }
    match (selector.strip_suffix(" *"), endpoint.split_once(' ')) {
        (Some(m), Some((method, _))) => m.eq_ignore_ascii_case(method),
        _ => false,
    }
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Faults {
            state: Mutex::new(FaultState {
                rules: Vec::new(),
                latency: Duration::ZERO,
                rng: StdRng::seed_from_u64(seed ^ 0xfa17_fa17),
            }),
        }
    }

    fn push(&self, endpoint: &str, trigger: Trigger, action: Option<Action>, delay: Duration) {
        lock(&self.state).rules.push(Rule { endpoint: endpoint.to_owned(), trigger, action, delay });
    }

    /// Remove every rule and the extra latency.
    pub fn clear(&self) {
        let mut s = lock(&self.state);
        s.rules.clear();
        s.latency = Duration::ZERO;
    }

    /// Rules (counted or share-based) still armed.
    pub fn armed(&self) -> usize {
        lock(&self.state).rules.len()
    }

    /// Extra latency on every provider response, after processing (so a timed-out write is committed).
    pub fn set_latency(&self, d: Duration) {
        lock(&self.state).latency = d;
    }

    /// Extra latency on every response of `endpoint`, after processing.
    pub fn delay(&self, endpoint: &str, d: Duration) {
        self.push(endpoint, Trigger::Share(1.0), None, d);
    }

    /// Answer this share (0.0–1.0) of calls to `endpoint` with `status`, without processing them.
    pub fn fail_share(&self, endpoint: &str, share: f64, status: u16) {
        self.push(
            endpoint,
            Trigger::Share(share),
            Some(Action::Status { status, after_commit: false }),
            Duration::ZERO,
        );
    }

    /// Answer the next `n` calls to `endpoint` with `status`, without processing them.
    pub fn fail_next(&self, endpoint: &str, n: u32, status: u16) {
        self.push(endpoint, Trigger::Next(n), Some(Action::Status { status, after_commit: false }), Duration::ZERO);
    }

    /// Process the next `n` calls to `endpoint` (the write is stored), then answer `status` anyway:
    /// the "update 500 leaves an unknown state" case.
    pub fn fail_next_after_commit(&self, endpoint: &str, n: u32, status: u16) {
        self.push(endpoint, Trigger::Next(n), Some(Action::Status { status, after_commit: true }), Duration::ZERO);
    }

    /// Process the next `n` calls to `endpoint`, then close the connection without sending a single
    /// response byte. The client sees the same error as for a network failure.
    pub fn drop_next_after_commit(&self, endpoint: &str, n: u32) {
        self.push(endpoint, Trigger::Next(n), Some(Action::Drop), Duration::ZERO);
    }

    /// Commit-then-drop this share of calls to `endpoint`.
    pub fn drop_share_after_commit(&self, endpoint: &str, share: f64) {
        self.push(endpoint, Trigger::Share(share), Some(Action::Drop), Duration::ZERO);
    }

    /// Answer the next `n` calls to `endpoint` with 429 (body `retry_after` where the flavor has one),
    /// with a `Retry-After` header when `header`.
    pub fn throttle_next(&self, endpoint: &str, n: u32, retry_after: u64, header: bool) {
        self.push(endpoint, Trigger::Next(n), Some(Action::Throttle { retry_after, header }), Duration::ZERO);
    }

    /// Add `d` of latency, after processing, to this share (0.0–1.0) of calls to `endpoint`: with a
    /// `d` beyond the client's timeout, a share of writes is committed but answered too late.
    pub fn delay_share(&self, endpoint: &str, share: f64, d: Duration) {
        self.push(endpoint, Trigger::Share(share), None, d);
    }

    /// Answer the next `n` calls to `endpoint` with a hostile response.
    pub fn hostile_next(&self, endpoint: &str, n: u32, kind: Hostile) {
        self.push(endpoint, Trigger::Next(n), Some(Action::Hostile(kind)), Duration::ZERO);
    }

    /// Never answer calls to `endpoint` (nor process them): a provider that black-holes requests.
    pub fn black_hole(&self, endpoint: &str) {
        self.push(endpoint, Trigger::Share(1.0), Some(Action::BlackHole), Duration::ZERO);
    }

    /// Answer every call to `endpoint` with 429 asking for `retry_after` seconds (header when
    /// `header`), e.g. `Retry-After: 3600` or `Retry-After: 0`.
    pub fn throttle_always(&self, endpoint: &str, retry_after: u64, header: bool) {
        self.push(endpoint, Trigger::Share(1.0), Some(Action::Throttle { retry_after, header }), Duration::ZERO);
    }

    /// Answer every call to `endpoint` with a hostile response.
    pub fn hostile_always(&self, endpoint: &str, kind: Hostile) {
        self.push(endpoint, Trigger::Share(1.0), Some(Action::Hostile(kind)), Duration::ZERO);
    }

    /// Decide the fate of one call; consumes counted rules that fire.
    pub(crate) fn plan(&self, endpoint: &str) -> Plan {
        let mut guard = lock(&self.state);
        let FaultState { rules, latency, rng } = &mut *guard;
        let mut plan = Plan { action: None, delay: *latency };
        let mut i = 0;
        while i < rules.len() {
            let rule = &mut rules[i];
            if !selects(&rule.endpoint, endpoint) || (rule.action.is_some() && plan.action.is_some()) {
                i += 1;
                continue;
            }
            let fires = match &mut rule.trigger {
                Trigger::Next(n) => {
                    let fire = *n > 0;
                    *n = n.saturating_sub(1);
                    fire
                }
                Trigger::Share(p) => *p >= 1.0 || (*p > 0.0 && rng.random::<f64>() < *p),
            };
            if fires {
                plan.delay += rule.delay;
                if rule.action.is_some() {
                    plan.action = rule.action;
                }
            }
            if matches!(rule.trigger, Trigger::Next(0)) {
                rules.remove(i);
            } else {
                i += 1;
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_matches_exact_method_and_wildcard() {
        assert!(selects("*", "GET /a"));
        assert!(selects("GET *", "GET /a"));
        assert!(!selects("POST *", "GET /a"));
        assert!(selects("GET /a", "GET /a"));
        assert!(!selects("GET /a", "GET /a/{id}"));
    }

    #[test]
    fn counted_rule_fires_n_times_then_disarms() {
        let f = Faults::new(1);
        f.fail_next("GET /a", 2, 503);
        let fired: Vec<bool> = (0..3).map(|_| f.plan("GET /a").action.is_some()).collect();
        assert_eq!(fired, [true, true, false]);
        assert_eq!(f.armed(), 0);
    }

    #[test]
    fn first_armed_rule_wins_and_later_counted_rule_is_kept() {
        let f = Faults::new(1);
        f.fail_next("*", 1, 500);
        f.drop_next_after_commit("POST /a", 1);
        assert_eq!(f.plan("POST /a").action, Some(Action::Status { status: 500, after_commit: false }));
        assert_eq!(f.plan("POST /a").action, Some(Action::Drop));
        assert_eq!(f.plan("POST /a").action, None);
    }

    #[test]
    fn share_rule_is_deterministic_for_a_seed() {
        let run = || {
            let f = Faults::new(7);
            f.fail_share("*", 0.5, 500);
            (0..64).map(|_| f.plan("GET /a").action.is_some()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|x| **x).count();
        assert!((16..=48).contains(&hits), "share 0.5 gave {hits}/64");
    }
}
