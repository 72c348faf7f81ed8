//! The Twirp transport of the LiveKit server API: `POST {base}/twirp/livekit.SIP/<Method>` with a
//! protobuf body (as the official SDKs send), a freshly minted admin JWT per request, the
//! account's timeout and rate limit, bounded bodies, and Twirp errors mapped onto the typed
//! `ProviderError` with every secret of the request removed.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use super::auth;
use crate::metrics::{Metrics, ProviderLabels};
use crate::provider::error::ProviderError;
use crate::provider::http::{MAX_BODY_BYTES, MAX_RETRY_AFTER};

/// Metric label of the family.
pub const PROVIDER_LABEL: &str = "livekit";

/// Twirp service path of the SIP API.
pub const SERVICE: &str = "livekit.SIP";

/// Connection settings of one LiveKit project.
#[derive(Clone)]
pub struct Config {
    /// Server URL (`https://<project>.livekit.cloud`, a self-hosted URL; `wss://` is taken as
    /// `https://`).
    pub base_url: String,
    /// API key (the token's `iss`; not secret).
    pub api_key: String,
    /// API secret (signs tokens; never sent, never logged).
    pub api_secret: SecretString,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Sustained requests per second.
    pub rate_per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
    /// Extra PEM CA certificates.
    pub ca_bundle: Option<String>,
    /// Permit http:// (local emulator only).
    pub allow_insecure_http: bool,
    /// Items per page of a full list.
    pub page_size: i32,
}

impl Config {
    /// Defaults for `base_url`: 10 s timeout, 10 requests/s with a burst of 10 (LiveKit Cloud's
    /// published API limit is about 1000/min per project; not verified for SIP calls).
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>, api_secret: SecretString) -> Self {
        Config {
            base_url: base_url.into(),
            api_key: api_key.into(),
            api_secret,
            timeout: Duration::from_secs(10),
            rate_per_second: 10.0,
            burst: 10,
            ca_bundle: None,
            allow_insecure_http: false,
            page_size: 500,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("rate_per_second", &self.rate_per_second)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// The HTTP side of one LiveKit project.
pub struct Transport {
    http: reqwest::Client,
    base: String,
    cfg: Config,
    limiter: DefaultDirectRateLimiter,
    blocked_until: Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
}

/// The URL the SDKs would use: `ws(s)://` becomes `http(s)://`, no trailing slash.
pub fn http_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.strip_prefix("ws") {
        Some(rest) if rest.starts_with("://") || rest.starts_with("s://") => format!("http{rest}"),
        _ => url.to_string(),
    }
}

impl Transport {
    /// Builds the transport; refuses http:// unless allowed, and bad CA bundles.
    pub fn new(cfg: Config, metrics: Arc<Metrics>) -> Result<Self, String> {
        let base = http_base(&cfg.base_url);
        let url = reqwest::Url::parse(&base).map_err(|e| format!("baseUrl is not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if cfg.allow_insecure_http => {}
            "http" => {
                return Err("baseUrl uses plain http://; set allowInsecureHttp: true only for a local emulator".into());
            }
            other => return Err(format!("baseUrl scheme {other} is not supported")),
        }
        if cfg.api_key.is_empty() || cfg.api_secret.expose_secret().is_empty() {
            return Err("the LiveKit API key and secret must not be empty".into());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siptrunk-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &cfg.ca_bundle {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("caBundle is not valid PEM: {e}"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let burst = NonZeroU32::new(cfg.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / if cfg.rate_per_second > 0.0 { cfg.rate_per_second } else { 1.0 });
        let quota = Quota::with_period(period.max(Duration::from_micros(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Ok(Transport { http, base, cfg, limiter: RateLimiter::direct(quota), blocked_until: Mutex::new(None), metrics })
    }

    /// Items per page of a full list (at least 1).
    pub fn page_size(&self) -> i32 {
        self.cfg.page_size.max(1)
    }

    /// Calls `livekit.SIP/<method>`. `endpoint` is the bounded metric label; `passwords` are
    /// the secrets inside `req`, removed (with the API secret and the token) from any error.
    pub async fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        method: &'static str,
        endpoint: &'static str,
        req: &Req,
        passwords: &[&str],
    ) -> Result<Resp, ProviderError> {
        let token = auth::admin_token(&self.cfg.api_key, &self.cfg.api_secret, auth::now_secs(), auth::TOKEN_TTL);
        let mut secrets = vec![token.expose_secret(), self.cfg.api_secret.expose_secret()];
        secrets.extend(passwords.iter().copied().filter(|p| !p.is_empty()));
        self.send(method, endpoint, req.encode_to_vec(), &token).await.map_err(|e| e.redacted(&secrets))
    }

    async fn send<Resp: prost::Message + Default>(
        &self,
        method: &'static str,
        endpoint: &'static str,
        body: Vec<u8>,
        token: &SecretString,
    ) -> Result<Resp, ProviderError> {
        self.wait_turn().await;
        let url = format!("{}/twirp/{SERVICE}/{method}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/protobuf")
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.metrics.provider_call(PROVIDER_LABEL, endpoint, None);
                return Err(ProviderError::Transient(describe(&e)));
            }
        };
        let status = resp.status();
        self.metrics.provider_call(PROVIDER_LABEL, endpoint, Some(status.as_u16()));
        let retry_header = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = read_bounded(resp).await?;
        if status == StatusCode::OK {
            return Resp::decode(bytes.as_slice())
                .map_err(|e| ProviderError::Protocol(format!("{method} response is not a protobuf message ({e})")));
        }
        let err = classify(status, &bytes, retry_header);
        if let ProviderError::RateLimited { retry_after } = &err
            && let Ok(mut until) = self.blocked_until.lock()
            && let Some(t) = Instant::now().checked_add(retry_after.unwrap_or(Duration::from_secs(1)))
        {
            *until = Some(until.map_or(t, |u| u.max(t)));
        }
        Err(err)
    }

    async fn wait_turn(&self) {
        let blocked = self.blocked_until.lock().ok().and_then(|g| *g);
        let mut waited = false;
        if let Some(until) = blocked {
            let now = Instant::now();
            if until > now {
                waited = true;
                tokio::time::sleep(until - now).await;
            }
        }
        if self.limiter.check().is_err() {
            waited = true;
            self.limiter.until_ready().await;
        }
        if waited {
            self.metrics.ratelimit_waits.get_or_create(&ProviderLabels { provider: PROVIDER_LABEL }).inc();
        }
    }
}

async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::with_capacity(resp.content_length().map_or(0, |n| n.min(MAX_BODY_BYTES as u64) as usize));
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ProviderError::Protocol(format!("response body larger than {MAX_BODY_BYTES} bytes")));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(ProviderError::Transient(describe(&e))),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's Display names the URL but never headers or bodies; say only what kind it was.
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

/// Maps a Twirp error response onto `ProviderError`: by the Twirp `code` when the body is the
/// documented `{"code", "msg"}` JSON, otherwise by the HTTP status.
pub fn classify(status: StatusCode, body: &[u8], retry_header: Option<Duration>) -> ProviderError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|v| v["code"].as_str()).unwrap_or_default().to_string();
    let msg = parsed.as_ref().and_then(|v| v["msg"].as_str()).map(|m| truncate(m, 300)).unwrap_or_default();
    let message = match (code.is_empty(), msg.is_empty()) {
        (false, false) => format!("{code}: {msg}"),
        (false, true) => code.clone(),
        (true, _) => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let s = status.as_u16();
    let retry_after = retry_header.map(|d| d.min(MAX_RETRY_AFTER));
    match code.as_str() {
        "unauthenticated" | "permission_denied" => ProviderError::Unauthorized { status: s, message },
        "not_found" => ProviderError::NotFound { message },
        "invalid_argument" | "malformed" | "out_of_range" | "failed_precondition" => {
            ProviderError::Invalid { status: s, message, fields: Default::default() }
        }
        "already_exists" | "aborted" => ProviderError::Conflict { message },
        "resource_exhausted" => ProviderError::RateLimited { retry_after },
        "internal" | "unknown" | "unavailable" | "dataloss" | "deadline_exceeded" | "canceled" => {
            ProviderError::Transient(format!("HTTP {s}: {message}"))
        }
        "bad_route" | "unimplemented" => {
            ProviderError::Protocol(format!("HTTP {s}: {message} (is this a LiveKit server with SIP?)"))
        }
        _ => match s {
            401 | 403 => ProviderError::Unauthorized { status: s, message },
            404 => ProviderError::NotFound { message },
            409 => ProviderError::Conflict { message },
            429 => ProviderError::RateLimited { retry_after },
            400 | 412 | 422 => ProviderError::Invalid { status: s, message, fields: Default::default() },
            s if s >= 500 => ProviderError::Transient(format!("HTTP {s}: {message}")),
            s => ProviderError::Protocol(format!("HTTP {s}: {message}")),
        },
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { s.chars().take(max).chain(['…']).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str) -> ProviderError {
        classify(StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT), body.as_bytes(), None)
    }

    #[test]
    fn twirp_codes_map_onto_typed_errors() {
        assert!(matches!(
            err(401, r#"{"code":"unauthenticated","msg":"invalid token"}"#),
            ProviderError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            err(403, r#"{"code":"permission_denied","msg":"no permissions"}"#),
            ProviderError::Unauthorized { status: 403, .. }
        ));
        assert!(matches!(err(404, r#"{"code":"not_found","msg":"trunk not found"}"#), ProviderError::NotFound { .. }));
        assert!(matches!(
            err(400, r#"{"code":"invalid_argument","msg":"address is required"}"#),
            ProviderError::Invalid { status: 400, .. }
        ));
        assert!(matches!(err(409, r#"{"code":"already_exists","msg":"x"}"#), ProviderError::Conflict { .. }));
        assert!(matches!(err(503, r#"{"code":"unavailable","msg":"x"}"#), ProviderError::Transient(_)));
        assert!(matches!(err(404, r#"{"code":"bad_route","msg":"no handler"}"#), ProviderError::Protocol(_)));
        let limited = classify(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"code":"resource_exhausted","msg":"slow down"}"#,
            Some(Duration::from_secs(99_999)),
        );
        assert_eq!(limited, ProviderError::RateLimited { retry_after: Some(MAX_RETRY_AFTER) });
    }

    #[test]
    fn non_twirp_bodies_fall_back_to_the_status() {
        assert!(matches!(err(502, "<html>bad gateway</html>"), ProviderError::Transient(_)));
        assert!(matches!(err(401, ""), ProviderError::Unauthorized { status: 401, .. }));
        assert!(matches!(err(418, "{}"), ProviderError::Protocol(_)));
        let e = err(400, r#"{"code":"invalid_argument","msg":"the message"}"#);
        assert!(e.to_string().contains("invalid_argument: the message"), "{e}");
    }

    #[test]
    fn ws_urls_are_taken_as_http() {
        assert_eq!(http_base("wss://p.livekit.cloud/"), "https://p.livekit.cloud");
        assert_eq!(http_base("ws://127.0.0.1:7880"), "http://127.0.0.1:7880");
        assert_eq!(http_base("https://lk.example/base"), "https://lk.example/base");
    }
}
