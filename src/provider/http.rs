//! One HTTP client per provider account: bearer auth, timeouts, rate limiting, bounded bodies,
//! and one tolerant parser for every documented error envelope.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ProviderError;
use super::list::{self, ListBudget, Page, PageError};
use crate::crd::ProviderType;
use crate::metrics::{Metrics, ProviderLabels};

/// Largest response body accepted; anything bigger is a protocol error, not an allocation.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Longest wait a `Retry-After` header or body `retry_after` can impose; a larger (or absurd)
/// value is capped so a hostile response can neither park an account forever nor overflow
/// `Instant` arithmetic.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Share of the configured rate kept in reserve by the sliding-window guard, so that network
/// jitter between the operator and the provider's own clock cannot push a window over its limit.
pub const PACING_MARGIN: f64 = 0.02;

/// Longest a request waits for the account's rate limiter inside a reconcile. A longer wait is
/// not slept in a worker slot: the call fails with `ProviderError::Deferred` and the reconcile is
/// requeued for its turn (the per-account in-flight cap bounds the slots these short waits use).
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(1);

/// The wait after the `consecutive`-th 429 in a row: the provider's hint (1 s without one), but
/// at least 250 ms doubling with each 429 in a row (capped at 60 s), so `Retry-After: 0` cannot
/// make the operator hammer a throttled account; never more than `MAX_RETRY_AFTER`.
pub fn throttle_wait(hint: Option<Duration>, consecutive: u32) -> Duration {
    let growth =
        (Duration::from_millis(250) * (1u32 << consecutive.saturating_sub(1).min(8))).min(Duration::from_secs(60));
    hint.unwrap_or(Duration::from_secs(1)).max(growth).min(MAX_RETRY_AFTER)
}

/// Connection settings of one provider account.
#[derive(Clone)]
pub struct ClientConfig {
    /// Which API family and host defaults apply.
    pub provider: ProviderType,
    /// Base URL without trailing slash (autocalls: ends with /api).
    pub base_url: String,
    /// The API token, sent as a Bearer token and never logged.
    pub token: SecretString,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Sustained requests per second.
    pub rate_per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
    /// Extra PEM CA certificates.
    pub ca_bundle: Option<String>,
    /// Permit http:// base URLs (local emulator only).
    pub allow_insecure_http: bool,
    /// The most one list may cost, across all its pages.
    pub list_budget: ListBudget,
    /// The API key of a provider whose requests carry a token minted per request from the key
    /// and the secret `token` (the `iss` of a signed token); None for Bearer-token providers.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("rate_per_second", &self.rate_per_second)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// Default limits per provider (API.md §1, §2.9, §3.10): (requests per second, burst), as its
/// family declares them.
pub fn default_rate(provider: ProviderType) -> (f64, u32) {
    super::with_family!(provider, F => F::default_rate(provider))
}

/// Mints the Authorization value of one request from the account's secret (a signed token);
/// without one the secret itself is the Bearer token.
pub type Authorize = Arc<dyn Fn(&SecretString) -> SecretString + Send + Sync>;

/// Maps a non-2xx response (status, body, Retry-After, whether the host is the documented one)
/// to a typed error; [`classify_from`] unless the family's protocol has its own error envelope.
pub type Classifier = fn(StatusCode, &[u8], Option<Duration>, bool) -> ProviderError;

/// The body of one request.
enum Body<'a> {
    /// JSON.
    Json(&'a Value),
    /// Raw bytes of this content type.
    Raw(&'static str, Vec<u8>),
}

/// The HTTP side of one provider account.
pub struct HttpClient {
    http: reqwest::Client,
    cfg: ClientConfig,
    limiter: DefaultDirectRateLimiter,
    /// Sliding-window guard: send instants of the last `burst` requests.
    recent: Mutex<VecDeque<Instant>>,
    /// At most `burst` requests in any window this long (burst / rate, plus the margin).
    window: Duration,
    /// Set from a 429's Retry-After (and the growing backoff of 429s in a row): no request
    /// leaves before this instant; reconciles that need one are requeued instead of waiting.
    throttle: Mutex<Throttle>,
    /// Turn handed to the last deferred reconcile, so deferred reconciles come back spread at
    /// the account's rate instead of all at once.
    ticket: Mutex<Option<Instant>>,
    /// The base URL is the type's documented API host: its error messages are a provider's.
    trusted: bool,
    metrics: Arc<Metrics>,
    authorize: Option<Authorize>,
    classify: Classifier,
}

#[derive(Default)]
struct Throttle {
    blocked_until: Option<Instant>,
    consecutive_429: u32,
}

/// What a list has cost so far, across its pages.
#[derive(Debug)]
pub struct ListUsage {
    budget: ListBudget,
    bytes: usize,
    items: usize,
}

impl ListUsage {
    /// A list that has cost nothing yet.
    pub fn new(budget: ListBudget) -> Self {
        ListUsage { budget, bytes: 0, items: 0 }
    }

    /// Response bytes the list may still read.
    pub fn bytes_left(&self) -> usize {
        self.budget.max_bytes.saturating_sub(self.bytes)
    }

    /// Counts one page read with [`HttpClient::post_bytes`] within `bytes_left`: `page` is its
    /// result (a body over the limit is the list budget's error) and `items` counts its items once
    /// decoded.
    pub fn count_page<T>(
        &mut self,
        page: Result<Vec<u8>, ProviderError>,
        decode: impl FnOnce(&[u8]) -> Result<T, ProviderError>,
        items: impl FnOnce(&T) -> usize,
    ) -> Result<T, ProviderError> {
        let bytes = match page {
            Err(ProviderError::TooLarge(_)) => {
                return Err(list_too_large(format!("more than {} bytes", self.budget.max_bytes)));
            }
            other => other?,
        };
        self.bytes += bytes.len();
        let value = decode(&bytes)?;
        self.items += items(&value);
        if self.items > self.budget.max_items {
            return Err(list_too_large(format!("more than {} items", self.budget.max_items)));
        }
        Ok(value)
    }
}

/// The error of a list beyond its budget.
fn list_too_large(what: String) -> ProviderError {
    ProviderError::TooLarge(format!(
        "the account's trunk list is larger than the list budget ({what}; spec.listBudget raises it, up to its \
         maximum)"
    ))
}

/// A successful response: status and parsed JSON body (Null when empty).
pub struct Response {
    /// HTTP status (2xx).
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

impl HttpClient {
    /// Builds the client; refuses http:// unless allowed, and bad CA bundles.
    pub fn new(cfg: ClientConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let url = reqwest::Url::parse(&cfg.base_url).map_err(|e| format!("baseUrl is not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if cfg.allow_insecure_http => {}
            "http" => {
                return Err("baseUrl uses plain http://; set allowInsecureHttp: true only for a local emulator".into());
            }
            other => return Err(format!("baseUrl scheme {other} is not supported")),
        }
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siptrunk-operator/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(8);
        if let Some(pem) = &cfg.ca_bundle {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("caBundle is not valid PEM: {e}"))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let limiter = RateLimiter::direct(quota(cfg.rate_per_second, cfg.burst));
        let window = guard_window(cfg.rate_per_second, cfg.burst);
        let recent = Mutex::new(VecDeque::with_capacity(cfg.burst.max(1) as usize));
        let trusted = super::egress::is_documented(cfg.provider, &cfg.base_url);
        Ok(HttpClient {
            http,
            cfg,
            limiter,
            recent,
            window,
            throttle: Mutex::default(),
            ticket: Mutex::new(None),
            trusted,
            metrics,
            authorize: None,
            classify: classify_from,
        })
    }

    /// Sends a token minted per request by `authorize` from the account's secret instead of the
    /// secret itself.
    pub fn with_authorization(mut self, authorize: Authorize) -> Self {
        self.authorize = Some(authorize);
        self
    }

    /// Classifies error responses with `classify` (a protocol's own error envelope).
    pub fn with_classifier(mut self, classify: Classifier) -> Self {
        self.classify = classify;
        self
    }

    /// The API key of the account, where its protocol has one (see [`ClientConfig::api_key`]).
    pub fn api_key(&self) -> Option<&str> {
        self.cfg.api_key.as_deref()
    }

    /// The Authorization (Bearer) value of one request.
    fn authorization(&self) -> SecretString {
        match &self.authorize {
            Some(f) => f(&self.cfg.token),
            None => self.cfg.token.clone(),
        }
    }

    /// POSTs raw bytes of `content_type` and returns the raw 2xx body (at most `limit` bytes,
    /// else `TooLarge`), or the classified error with the account's secret, the request's token
    /// and `secrets` (the passwords inside the body) removed.
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
        endpoint: &'static str,
        secrets: &[&str],
        limit: usize,
    ) -> Result<Vec<u8>, ProviderError> {
        let auth = self.authorization();
        let mut all = vec![self.cfg.token.expose_secret(), auth.expose_secret()];
        all.extend(secrets.iter().copied().filter(|s| !s.is_empty()));
        self.send_value(Method::POST, path, Some(Body::Raw(content_type, body)), &auth, endpoint, limit)
            .await
            .map(|(_, bytes)| bytes)
            .map_err(|e| e.redacted(&all))
    }

    /// How long a reconciler that cannot have a turn now should wait before trying again: turns
    /// are handed out one per `1 / rate`, at least `at_least` from now.
    pub fn defer_hint(&self, at_least: Duration) -> Duration {
        let rate = if self.cfg.rate_per_second > 0.0 { self.cfg.rate_per_second } else { 1.0 };
        let step = Duration::from_secs_f64(1.0 / rate).min(Duration::from_secs(60));
        let now = Instant::now();
        let Ok(mut t) = self.ticket.lock() else { return at_least + step };
        let base = t.filter(|x| *x > now).unwrap_or(now).max(now + at_least);
        let at = base + step;
        *t = Some(at);
        at - now
    }

    /// Until when a 429 blocks this account (None: not blocked).
    pub fn blocked_for(&self) -> Option<Duration> {
        let until = self.throttle.lock().ok()?.blocked_until?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    /// The list budget of this account.
    pub fn list_budget(&self) -> ListBudget {
        self.cfg.list_budget
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.cfg.timeout
    }

    /// One page of a list, within what is left of the list's budget: the body is read only up
    /// to the remaining byte budget, items are counted before any is decoded, and malformed items
    /// are skipped, counted and logged by id.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        envelope: bool,
        usage: &mut ListUsage,
    ) -> Result<Page<T>, ProviderError> {
        let limit = usage.budget.max_bytes.saturating_sub(usage.bytes);
        let too_large = list_too_large;
        let (_, bytes) = match self.send_limited::<()>(Method::GET, path, None, "list", limit).await {
            Err(ProviderError::TooLarge(_)) => {
                return Err(too_large(format!("more than {} bytes", usage.budget.max_bytes)));
            }
            other => other?,
        };
        usage.bytes += bytes.len();
        let left = usage.budget.max_items.saturating_sub(usage.items);
        let page: Page<T> = match list::decode_page(&bytes, envelope, left) {
            Ok(p) => p,
            Err(PageError::TooManyItems(_)) => {
                return Err(too_large(format!("more than {} items", usage.budget.max_items)));
            }
            Err(PageError::Shape(e)) => {
                return Err(ProviderError::Protocol(format!("list response has an unexpected shape: {e}")));
            }
        };
        drop(bytes);
        usage.items += page.items.len() + page.skipped_total;
        if page.skipped_total > 0 {
            let provider = self.cfg.provider.as_str();
            self.metrics
                .list_items_skipped
                .get_or_create(&ProviderLabels { provider })
                .inc_by(page.skipped_total as u64);
            for s in page.skipped.iter().take(20) {
                tracing::warn!(
                    provider,
                    id = s.id.as_deref().unwrap_or("(none)"),
                    field = %s.field,
                    error = %s.error,
                    "skipped a list item that does not parse"
                );
            }
            if page.skipped_total > 20 {
                tracing::warn!(provider, skipped = page.skipped_total, "skipped list items that do not parse");
            }
        }
        Ok(page)
    }

    /// The account's provider type.
    pub fn provider(&self) -> ProviderType {
        self.cfg.provider
    }

    /// Sends one request and returns the parsed 2xx body, or the classified error.
    /// `endpoint` is the bounded metric label of the call.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        endpoint: &'static str,
    ) -> Result<Response, ProviderError> {
        let (status, bytes) = self.send_raw(method, path, body, endpoint).await?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ProviderError::Protocol(format!("HTTP {status} body is not JSON ({e})")))?
        };
        Ok(Response { status, body })
    }

    /// Sends one request and returns the raw 2xx body, or the classified error, redacted of
    /// the token and the request's passwords.
    async fn send_raw<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        endpoint: &'static str,
    ) -> Result<(StatusCode, Vec<u8>), ProviderError> {
        self.send_limited(method, path, body, endpoint, MAX_BODY_BYTES).await
    }

    async fn send_limited<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        endpoint: &'static str,
        limit: usize,
    ) -> Result<(StatusCode, Vec<u8>), ProviderError> {
        let body = match body.map(serde_json::to_value).transpose() {
            Ok(b) => b,
            Err(e) => return Err(ProviderError::Protocol(format!("cannot encode the {endpoint} request: {e}"))),
        };
        // What a careless provider could echo back: the token and the passwords of this request.
        let auth = self.authorization();
        let mut secrets = vec![self.cfg.token.expose_secret().to_string(), auth.expose_secret().to_string()];
        if let Some(b) = &body {
            password_values(b, false, &mut secrets);
        }
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
        self.send_value(method, path, body.as_ref().map(Body::Json), &auth, endpoint, limit)
            .await
            .map_err(|e| e.redacted(&secrets))
    }

    async fn send_value(
        &self,
        method: Method,
        path: &str,
        body: Option<Body<'_>>,
        auth: &SecretString,
        endpoint: &'static str,
        limit: usize,
    ) -> Result<(StatusCode, Vec<u8>), ProviderError> {
        self.wait_turn().await?;
        let url = format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(auth.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        match body {
            Some(Body::Json(b)) => req = req.json(b),
            Some(Body::Raw(content_type, bytes)) => {
                req = req.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
            }
            None => {}
        }
        let provider = self.cfg.provider.as_str();
        let started = Instant::now();
        let sent = req.send().await;
        self.metrics.provider_request(provider, endpoint, started.elapsed());
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.metrics.provider_call(provider, endpoint, None);
                return Err(ProviderError::Transient(describe_transport_error(&e)));
            }
        };
        let status = resp.status();
        self.metrics.provider_call(provider, endpoint, Some(status.as_u16()));
        let retry_header = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Error bodies are read with the small cap whatever the list budget: only messages are taken from them.
        let bytes = read_bounded(resp, if status.is_success() { limit } else { limit.min(MAX_BODY_BYTES) }).await?;
        if status.is_success() {
            if let Ok(mut t) = self.throttle.lock() {
                t.consecutive_429 = 0;
            }
            return Ok((status, bytes));
        }
        let err = (self.classify)(status, &bytes, retry_header, self.trusted);
        if let ProviderError::RateLimited { retry_after } = &err {
            let mut wait = retry_after.unwrap_or(Duration::from_secs(1));
            if let Ok(mut t) = self.throttle.lock() {
                t.consecutive_429 = t.consecutive_429.saturating_add(1);
                wait = throttle_wait(*retry_after, t.consecutive_429);
                if let Some(at) = Instant::now().checked_add(wait) {
                    t.blocked_until = Some(t.blocked_until.map_or(at, |u| u.max(at)));
                }
            }
            return Err(ProviderError::RateLimited { retry_after: Some(wait) });
        }
        Err(err)
    }

    /// Like `send`, decoding the success body into `T`.
    pub async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        endpoint: &'static str,
    ) -> Result<T, ProviderError> {
        // Straight from the bytes into `T`: a list of 10,000 trunks never exists as a `Value` tree.
        let (status, bytes) = self.send_raw(method, path, body, endpoint).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"null" } else { &bytes };
        serde_json::from_slice(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ProviderError::Protocol(format!("{endpoint} response has an unexpected shape: {e}"))
            }
            _ => ProviderError::Protocol(format!("HTTP {status} body is not JSON ({e})")),
        })
    }

    /// Takes this request's turn: at once when the account has one free, after a short wait
    /// (at most `MAX_INLINE_WAIT`), or not at all: a 429 block answers `RateLimited` and a longer
    /// wait `Deferred`, both at once, so no worker slot is held for them.
    async fn wait_turn(&self) -> Result<(), ProviderError> {
        let result = self.take_turn().await;
        if !matches!(result, Ok(false)) {
            self.metrics.ratelimit_waits.get_or_create(&ProviderLabels { provider: self.cfg.provider.as_str() }).inc();
        }
        result.map(|_| ())
    }

    async fn take_turn(&self) -> Result<bool, ProviderError> {
        if let Some(left) = self.blocked_for() {
            return Err(ProviderError::RateLimited { retry_after: Some(left) });
        }
        let mut waited = false;
        if self.limiter.check().is_err() {
            waited = true;
            if tokio::time::timeout(MAX_INLINE_WAIT, self.limiter.until_ready()).await.is_err() {
                return Err(ProviderError::Deferred { retry_after: self.defer_hint(Duration::ZERO) });
            }
        }
        Ok(self.guard().await? || waited)
    }

    /// The sliding-window guard: at most `burst` requests in any `window`. The token bucket
    /// alone lets `burst + rate * T` requests through in a window of T (a full bucket, then the
    /// refill), which is more than "requestsPerMinute" promises and more than a provider that
    /// counts in sliding windows accepts; with the guard any window of k * burst / rate seconds
    /// carries at most k * burst requests. Returns true when it waited.
    async fn guard(&self) -> Result<bool, ProviderError> {
        let cap = self.cfg.burst.max(1) as usize;
        let mut waited = false;
        loop {
            let wait = {
                let Ok(mut recent) = self.recent.lock() else { return Ok(waited) };
                let now = Instant::now();
                match recent.front() {
                    Some(oldest) if recent.len() >= cap => {
                        let age = now.saturating_duration_since(*oldest);
                        if age >= self.window {
                            recent.pop_front();
                            recent.push_back(now);
                            return Ok(waited);
                        }
                        self.window - age
                    }
                    _ => {
                        recent.push_back(now);
                        return Ok(waited);
                    }
                }
            };
            if wait > MAX_INLINE_WAIT {
                return Err(ProviderError::Deferred { retry_after: self.defer_hint(wait) });
            }
            waited = true;
            tokio::time::sleep(wait).await;
        }
    }
}

fn guard_window(rate_per_second: f64, burst: u32) -> Duration {
    let rate = if rate_per_second > 0.0 { rate_per_second } else { 1.0 };
    Duration::from_secs_f64((f64::from(burst.max(1)) / rate * (1.0 + PACING_MARGIN)).min(MAX_RETRY_AFTER.as_secs_f64()))
}

/// String values under any key that names a password (`sip_password`, `auth_password`, ...).
fn password_values(v: &Value, under_password: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if under_password => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| password_values(x, under_password, out)),
        Value::Object(m) => {
            for (k, x) in m {
                password_values(x, under_password || k.to_ascii_lowercase().contains("password"), out);
            }
        }
        _ => {}
    }
}

fn quota(rate_per_second: f64, burst: u32) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let per =
        if rate_per_second > 0.0 { Duration::from_secs_f64(1.0 / rate_per_second) } else { Duration::from_secs(1) };
    Quota::with_period(per.max(Duration::from_micros(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
    // A body announced larger than the limit is refused before a byte of it is read.
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ProviderError::TooLarge(format!("response body larger than {limit} bytes")));
    }
    // Sized once from Content-Length (capped) instead of doubling through a large list.
    let hint = resp.content_length().map_or(0, |n| n.min(limit as u64) as usize);
    let mut out = Vec::with_capacity(hint);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(ProviderError::TooLarge(format!("response body larger than {limit} bytes")));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(ProviderError::Transient(describe_transport_error(&e))),
        }
    }
}

/// The TLS error somewhere in a transport error's chain (an `io::Error` hides its inner error
/// from `source()`, so look inside it too).
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(t) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| tls_error(i)) {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    // reqwest's Display includes the URL but never headers or bodies; say what kind it was.
    if let Some(tls) = tls_error(e) {
        return format!(
            "TLS handshake failed: {tls} (if the provider uses a private CA, put it in the provider's spec.caBundle)"
        );
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response interrupted"
    } else {
        "request failed"
    };
    format!("{kind} (the outcome of a write is unknown)")
}

/// Maps a non-2xx response to a typed error. Branches on the HTTP status only; the body gives
/// messages: `{"error": "..."}`, `{"message", "errors": {..}}`, `{"error": int, "message"}`,
/// `{"detail": [...]}`, or anything else (HTML) which is summarized by status.
pub fn classify(status: StatusCode, body: &[u8], retry_header: Option<Duration>) -> ProviderError {
    classify_from(status, body, retry_header, true)
}

/// `classify` for a response from a host that is (`trusted`) or is not the provider type's
/// documented API host. An untrusted host may be anything an administrator allowed (a proxy, a
/// test double, or a misdirected internal service): only a short sanitized excerpt of its
/// messages (100 characters per message, at most 8 fields, no control characters) is kept.
pub fn classify_from(status: StatusCode, body: &[u8], retry_header: Option<Duration>, trusted: bool) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (message, mut fields, retry_body) = match &parsed {
        Some(v) => extract(v),
        None => (String::new(), BTreeMap::new(), None),
    };
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else if trusted {
        truncate(&message, 300)
    } else {
        list::bounded(&message, 100)
    };
    if !trusted {
        fields = fields
            .into_iter()
            .take(8)
            .map(|(k, v)| (list::bounded(&k, 40), v.iter().take(2).map(|m| list::bounded(m, 100)).collect()))
            .collect();
    }
    match status.as_u16() {
        401 | 403 => ProviderError::Unauthorized { status: status.as_u16(), message },
        404 => ProviderError::NotFound { message },
        409 => ProviderError::Conflict { message },
        429 => ProviderError::RateLimited { retry_after: retry_header.or(retry_body).map(|d| d.min(MAX_RETRY_AFTER)) },
        400 | 422 => ProviderError::Invalid { status: status.as_u16(), message, fields },
        s if s >= 500 => ProviderError::Transient(format!("HTTP {s}: {message}")),
        s => ProviderError::Protocol(format!("HTTP {s}: {message}")),
    }
}

type Extracted = (String, BTreeMap<String, Vec<String>>, Option<Duration>);

fn extract(v: &Value) -> Extracted {
    let mut message = String::new();
    let mut fields = BTreeMap::new();
    let mut retry = None;
    if let Some(obj) = v.as_object() {
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        message = match (text("error"), text("message")) {
            (Some(e), Some(m)) if e != m => format!("{e}: {m}"),
            (Some(e), _) => e,
            (None, Some(m)) => m,
            (None, None) => String::new(),
        };
        if let Some(errs) = obj.get("errors").and_then(Value::as_object) {
            for (k, msgs) in errs {
                let list = match msgs {
                    Value::Array(a) => a.iter().filter_map(Value::as_str).map(|s| truncate(s, 200)).collect(),
                    Value::String(s) => vec![truncate(s, 200)],
                    _ => vec![],
                };
                fields.insert(truncate(k, 64), list);
            }
        }
        if let Some(Value::Array(detail)) = obj.get("detail") {
            for d in detail.iter().take(20) {
                let loc = d.get("loc").and_then(Value::as_array).map(|l| {
                    l.iter()
                        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(".")
                });
                let msg = d.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                fields.entry(truncate(&loc.unwrap_or_default(), 64)).or_insert_with(Vec::new).push(truncate(msg, 200));
            }
        }
        retry = obj
            .get("retry_after")
            .and_then(|r| r.as_u64().or_else(|| r.as_str().and_then(|s| s.parse().ok())))
            .map(Duration::from_secs);
    }
    (message, fields, retry)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}
