//! The typed error of every provider call, with a bounded reason and a retry classification.

use std::collections::BTreeMap;
use std::time::Duration;

/// What went wrong talking to a provider. Messages come from the provider's error body, which
/// may echo the request: the HTTP client removes the token and every password it sent before an
/// error leaves it (`redacted`); the controller redacts again with the Secrets it read.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    /// The API token was refused (401) or lacks permission (403).
    #[error("the provider refused the API token (HTTP {status}): {message}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The object does not exist (404).
    #[error("not found at the provider: {message}")]
    NotFound {
        /// The provider's message.
        message: String,
    },
    /// The provider rejected the request's content (400/422).
    #[error("the provider rejected the request (HTTP {status}): {}", summarize(.message, .fields))]
    Invalid {
        /// 400 or 422.
        status: u16,
        /// The provider's overall message.
        message: String,
        /// Messages per field, where the provider gave them.
        fields: BTreeMap<String, Vec<String>>,
    },
    /// A uniqueness rule was violated (409), e.g. the same number + username + address exists.
    #[error("conflict at the provider: {message}")]
    Conflict {
        /// The provider's message.
        message: String,
    },
    /// Too many requests (429).
    #[error("rate limited by the provider{}", .retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// From `Retry-After` or a body `retry_after`.
        retry_after: Option<Duration>,
    },
    /// The account has no turn for this request now (client-side rate limit, per-account cap or
    /// a busy snapshot): the reconcile is requeued for about `retry_after` without a status write.
    #[error("waiting for this provider account's turn; retry in {}ms", .retry_after.as_millis())]
    Deferred {
        /// When to try again.
        retry_after: Duration,
    },
    /// A list larger than its byte or item budget.
    #[error("{0}")]
    TooLarge(String),
    /// A server error, a timeout or a broken connection. For writes the outcome is unknown:
    /// list and match before retrying.
    #[error("transient provider failure: {0}")]
    Transient(String),
    /// A response that does not have the documented shape (HTML, truncated JSON, wrong types).
    #[error("unexpected provider response: {0}")]
    Protocol(String),
}

fn summarize(message: &str, fields: &BTreeMap<String, Vec<String>>) -> String {
    if fields.is_empty() {
        return message.to_string();
    }
    fields.iter().map(|(k, v)| format!("{k}: {}", v.join("; "))).collect::<Vec<_>>().join(", ")
}

impl ProviderError {
    /// The same error with every occurrence of each secret removed from its messages (a
    /// provider may echo the request, including its password or the Authorization header).
    pub fn redacted(self, secrets: &[&str]) -> ProviderError {
        use crate::controller::error::redact;
        let r = |m: String| redact(&m, secrets);
        match self {
            ProviderError::Unauthorized { status, message } => {
                ProviderError::Unauthorized { status, message: r(message) }
            }
            ProviderError::NotFound { message } => ProviderError::NotFound { message: r(message) },
            ProviderError::Invalid { status, message, fields } => ProviderError::Invalid {
                status,
                message: r(message),
                fields: fields.into_iter().map(|(k, v)| (r(k), v.into_iter().map(r).collect())).collect(),
            },
            ProviderError::Conflict { message } => ProviderError::Conflict { message: r(message) },
            ProviderError::Transient(m) => ProviderError::Transient(r(m)),
            ProviderError::Protocol(m) => ProviderError::Protocol(r(m)),
            ProviderError::TooLarge(m) => ProviderError::TooLarge(r(m)),
            other @ (ProviderError::RateLimited { .. } | ProviderError::Deferred { .. }) => other,
        }
    }

    /// A bounded, CamelCase reason for conditions and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ProviderError::Unauthorized { .. } => "Unauthorized",
            ProviderError::NotFound { .. } => "NotFound",
            ProviderError::Invalid { .. } => "ProviderRejected",
            ProviderError::Conflict { .. } => "Conflict",
            ProviderError::RateLimited { .. } => "RateLimited",
            ProviderError::Deferred { .. } => "Deferred",
            ProviderError::TooLarge(_) => "ListBudgetExceeded",
            ProviderError::Transient(_) => "ProviderUnavailable",
            ProviderError::Protocol(_) => "ProviderProtocolError",
        }
    }

    /// Whether retrying later without any change can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Deferred { .. }
                | ProviderError::TooLarge(_)
                | ProviderError::Transient(_)
                | ProviderError::Protocol(_)
        )
    }
}
