//! Per-account sliding-window rate limiter with the `X-RateLimit-*` headers famulor documents.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Flavor;
use super::state::lock;

/// At most `limit` requests in any `per` interval (a sliding window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateWindow {
    pub limit: u32,
    pub per: Duration,
}

/// Rate-limit settings. All windows must have room for a request to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitCfg {
    /// The first window is the one reported in `X-RateLimit-*` headers.
    pub windows: Vec<RateWindow>,
    /// Also send a `Retry-After` header on 429 (no provider documents one). Default false.
    pub retry_after_header: bool,
}

impl RateLimitCfg {
    /// Exactly `n` requests per second per account (for benchmarks).
    pub fn per_second(n: u32) -> Self {
        Self::window(n, Duration::from_secs(1))
    }

    pub fn per_minute(n: u32) -> Self {
        Self::window(n, Duration::from_secs(60))
    }

    pub fn window(limit: u32, per: Duration) -> Self {
        RateLimitCfg { windows: vec![RateWindow { limit, per }], retry_after_header: false }
    }

    /// Builder: add another window that must also have room.
    pub fn and_window(mut self, limit: u32, per: Duration) -> Self {
        self.windows.push(RateWindow { limit, per });
        self
    }

    pub fn with_retry_after_header(mut self, on: bool) -> Self {
        self.retry_after_header = on;
        self
    }

    /// Famulor developer guide: 100/min plus a burst limit of 20 per 10 s.
    pub fn famulor() -> Self {
        Self::per_minute(100).and_window(20, Duration::from_secs(10))
    }

    /// Bolna: 1000/min shared by an account (organisation).
    pub fn bolna() -> Self {
        Self::per_minute(1000)
    }

    /// autocalls documents none; famulor and bolna as above.
    pub fn provider_default(flavor: Flavor) -> Option<Self> {
        match flavor {
            Flavor::Autocalls => None,
            Flavor::Famulor => Some(Self::famulor()),
            Flavor::Bolna => Some(Self::bolna()),
        }
    }
}

/// Outcome of one check.
pub(crate) enum Verdict {
    Off,
    Allowed(Headers),
    Limited { retry_after: u64, retry_after_header: bool, headers: Headers },
}

/// Values for `X-RateLimit-Limit`, `-Remaining`, `-Reset` (Unix seconds).
#[derive(Clone, Copy)]
pub(crate) struct Headers {
    pub limit: u32,
    pub remaining: u32,
    pub reset: u64,
}

#[derive(Default)]
struct LimiterState {
    cfg: Option<RateLimitCfg>,
    /// account → one log of request instants per window.
    logs: HashMap<String, Vec<VecDeque<Instant>>>,
}

pub(crate) struct RateLimiter {
    state: Mutex<LimiterState>,
}

fn unix_after(d: Duration) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (now + d).as_secs_f64().ceil() as u64
}

impl RateLimiter {
    pub(crate) fn new(cfg: Option<RateLimitCfg>) -> Self {
        RateLimiter { state: Mutex::new(LimiterState { cfg, logs: HashMap::new() }) }
    }

    pub(crate) fn configure(&self, cfg: Option<RateLimitCfg>) {
        let mut s = lock(&self.state);
        s.cfg = cfg;
        s.logs.clear();
    }

    /// Count a request for `account` if every window has room.
    pub(crate) fn check(&self, account: &str) -> Verdict {
        let now = Instant::now();
        let mut guard = lock(&self.state);
        let LimiterState { cfg, logs } = &mut *guard;
        let Some(cfg) = cfg.as_ref().filter(|c| !c.windows.is_empty()) else {
            return Verdict::Off;
        };
        let logs = logs.entry(account.to_owned()).or_insert_with(|| vec![VecDeque::new(); cfg.windows.len()]);
        let mut wait = Duration::ZERO;
        for (w, log) in cfg.windows.iter().zip(logs.iter_mut()) {
            while log.front().is_some_and(|t| now.duration_since(*t) >= w.per) {
                log.pop_front();
            }
            if log.len() >= w.limit as usize {
                let expires = log.front().map(|t| w.per.saturating_sub(now.duration_since(*t))).unwrap_or(w.per);
                wait = wait.max(expires);
            }
        }
        let limited = !wait.is_zero();
        if !limited {
            for log in logs.iter_mut() {
                log.push_back(now);
            }
        }
        let first = cfg.windows[0];
        let log0 = &logs[0];
        let reset_in = log0.front().map(|t| first.per.saturating_sub(now.duration_since(*t))).unwrap_or(first.per);
        let headers = Headers {
            limit: first.limit,
            remaining: first.limit.saturating_sub(u32::try_from(log0.len()).unwrap_or(u32::MAX)),
            reset: unix_after(reset_in),
        };
        if limited {
            let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
            Verdict::Limited { retry_after, retry_after_header: cfg.retry_after_header, headers }
        } else {
            Verdict::Allowed(headers)
        }
    }
}
