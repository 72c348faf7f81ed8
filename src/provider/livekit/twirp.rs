//! The Twirp protocol of the LiveKit server API: `POST {base}/twirp/livekit.SIP/<Method>` with a
//! protobuf body (as the official SDKs send) and a freshly minted admin JWT per request, sent
//! through the account's shared `HttpClient` (timeout, rate limit, turns, bounded bodies,
//! metrics), with Twirp errors mapped onto the typed `ProviderError` and every secret of the
//! request removed.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use super::auth;
use crate::crd::ProviderType;
use crate::metrics::Metrics;
use crate::provider::error::ProviderError;
use crate::provider::http::{Authorize, ClientConfig, HttpClient, ListUsage, MAX_BODY_BYTES, MAX_RETRY_AFTER};
use crate::provider::list::{self, ListBudget};

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
    /// The most one full list (inbound and outbound together) may cost.
    pub list_budget: ListBudget,
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
            page_size: super::client::DEFAULT_PAGE_SIZE,
            list_budget: ListBudget::default(),
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

/// The URL the SDKs would use: `ws(s)://` becomes `http(s)://`, no trailing slash.
pub fn http_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.strip_prefix("ws") {
        Some(rest) if rest.starts_with("://") || rest.starts_with("s://") => format!("http{rest}"),
        _ => url.to_string(),
    }
}

impl Config {
    /// The account settings of the shared HTTP client: the API secret is the account's secret
    /// (it signs a token per request and is never sent), the API key goes into each token.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            provider: ProviderType::Livekit,
            base_url: http_base(&self.base_url),
            token: self.api_secret.clone(),
            timeout: self.timeout,
            rate_per_second: self.rate_per_second,
            burst: self.burst,
            ca_bundle: self.ca_bundle.clone(),
            allow_insecure_http: self.allow_insecure_http,
            list_budget: self.list_budget,
            api_key: Some(self.api_key.clone()),
        }
    }
}

/// The Twirp side of one LiveKit project, over the account's shared [`HttpClient`] (rate
/// limiter, turns, 429 state, egress policy, metrics, bounded bodies, redaction).
pub struct Transport {
    http: HttpClient,
    page_size: i32,
}

impl Transport {
    /// Builds the transport; refuses http:// unless allowed, bad CA bundles and empty credentials.
    pub fn new(cfg: Config, metrics: Arc<Metrics>) -> Result<Self, String> {
        if cfg.api_key.is_empty() || cfg.api_secret.expose_secret().is_empty() {
            return Err("the LiveKit API key and secret must not be empty".into());
        }
        let http = HttpClient::new(cfg.client_config(), metrics)?;
        Ok(Transport::from_http(http, cfg.page_size))
    }

    /// Speaks Twirp over `http`: each request carries an admin JWT minted from the account's API
    /// key and secret, and errors are read as Twirp `{"code", "msg"}`.
    pub fn from_http(http: HttpClient, page_size: i32) -> Self {
        let key = http.api_key().unwrap_or_default().to_string();
        let authorize: Authorize =
            Arc::new(move |secret: &SecretString| auth::admin_token(&key, secret, auth::now_secs(), auth::TOKEN_TTL));
        Transport { http: http.with_authorization(authorize).with_classifier(classify_from), page_size }
    }

    /// The account's HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Items per page of a full list (at least 1).
    pub fn page_size(&self) -> i32 {
        self.page_size.max(1)
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
        let bytes = self.post(method, endpoint, req, passwords, MAX_BODY_BYTES).await?;
        decode(method, &bytes)
    }

    /// One page of a full list, read within what is left of the list's budget (bytes and items,
    /// across the pages of both trunk kinds).
    pub async fn list_page<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        method: &'static str,
        req: &Req,
        usage: &mut ListUsage,
        items: impl FnOnce(&Resp) -> usize,
    ) -> Result<Resp, ProviderError> {
        let page = self.post(method, "list", req, &[], usage.bytes_left()).await;
        usage.count_page(page, |b| decode(method, b), items)
    }

    async fn post<Req: prost::Message>(
        &self,
        method: &'static str,
        endpoint: &'static str,
        req: &Req,
        passwords: &[&str],
        limit: usize,
    ) -> Result<Vec<u8>, ProviderError> {
        let path = format!("/twirp/{SERVICE}/{method}");
        self.http.post_bytes(&path, "application/protobuf", req.encode_to_vec(), endpoint, passwords, limit).await
    }
}

fn decode<Resp: prost::Message + Default>(method: &str, bytes: &[u8]) -> Result<Resp, ProviderError> {
    Resp::decode(bytes)
        .map_err(|e| ProviderError::Protocol(format!("{method} response is not a protobuf message ({e})")))
}

/// Maps a Twirp error response onto `ProviderError`: by the Twirp `code` when the body is the
/// documented `{"code", "msg"}` JSON, otherwise by the HTTP status.
pub fn classify(status: StatusCode, body: &[u8], retry_header: Option<Duration>) -> ProviderError {
    classify_from(status, body, retry_header, true)
}

/// `classify` for a response from a host that is (`trusted`) or is not a documented LiveKit
/// Cloud host: an untrusted host's messages are cut to a short sanitized excerpt.
pub fn classify_from(status: StatusCode, body: &[u8], retry_header: Option<Duration>, trusted: bool) -> ProviderError {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|v| v["code"].as_str()).map(|c| list::bounded(c, 40)).unwrap_or_default();
    let msg = parsed
        .as_ref()
        .and_then(|v| v["msg"].as_str())
        .map(|m| if trusted { truncate(m, 300) } else { list::bounded(m, 100) })
        .unwrap_or_default();
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
