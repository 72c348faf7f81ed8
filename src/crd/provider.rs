//! The provider account kinds: namespaced `SipProvider` and cluster-scoped `ClusterSipProvider`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One provider account, usable by SipTrunks in the same namespace.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "siptrunk.dev",
    version = "v1alpha1",
    kind = "SipProvider",
    plural = "sipproviders",
    shortname = "sipp",
    category = "siptrunk-operator",
    category = "voice",
    namespaced,
    status = "SipProviderStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type","description":"autocalls, famulor, bolna or livekit"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the provider accepted the API token at the account's last list call"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1,"description":"Why Ready has its value"}"#,
    printcolumn = r#"{"name":"Trunks","type":"integer","jsonPath":".status.trunks","description":"SipTrunks that use this provider"}"#,
    printcolumn = r#"{"name":"Base URL","type":"string","jsonPath":".spec.baseUrl","priority":1,"description":"API base URL when not the provider's default"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SipProviderSpec {
    /// Which provider API this account speaks: autocalls (autocalls.ai), famulor (the same API on
    /// famulor's host), bolna (bolna.ai) or livekit (LiveKit SIP). Immutable.
    #[serde(rename = "type")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "type cannot change: create a new provider object"}]))]
    pub type_: ProviderType,
    /// The token Secret in this namespace: the provider's API key, sent as a Bearer token (type
    /// livekit: the API secret, which signs a short-lived token per request and is never sent).
    pub api_token_secret_ref: TokenSecretRef,
    /// Connection, rate-limit and drift settings shared with ClusterSipProvider.
    #[serde(flatten)]
    pub settings: ProviderSettings,
}

/// One provider account, usable by SipTrunks in every namespace. Its token Secret lives in the
/// namespace named by apiTokenSecretRef.namespace.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "siptrunk.dev",
    version = "v1alpha1",
    kind = "ClusterSipProvider",
    plural = "clustersipproviders",
    shortname = "csipp",
    category = "siptrunk-operator",
    category = "voice",
    status = "SipProviderStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type","description":"autocalls, famulor, bolna or livekit"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the provider accepted the API token at the account's last list call"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1,"description":"Why Ready has its value"}"#,
    printcolumn = r#"{"name":"Trunks","type":"integer","jsonPath":".status.trunks","description":"SipTrunks that use this provider"}"#,
    printcolumn = r#"{"name":"Base URL","type":"string","jsonPath":".spec.baseUrl","priority":1,"description":"API base URL when not the provider's default"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSipProviderSpec {
    /// Which provider API this account speaks: autocalls (autocalls.ai), famulor (the same API on
    /// famulor's host), bolna (bolna.ai) or livekit (LiveKit SIP). Immutable.
    #[serde(rename = "type")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "type cannot change: create a new provider object"}]))]
    pub type_: ProviderType,
    /// The token Secret, in the namespace named here (the only namespace this provider reads from);
    /// type livekit: the API secret, which signs a short-lived token per request and is never sent.
    pub api_token_secret_ref: NamespacedSecretKeyRef,
    /// Connection, rate-limit and drift settings shared with SipProvider.
    #[serde(flatten)]
    pub settings: ProviderSettings,
}

/// Settings common to both provider kinds.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.baseUrl) || self.baseUrl.startsWith('https://') || (self.baseUrl.startsWith('http://') && has(self.allowInsecureHttp) && self.allowInsecureHttp)",
    "message": "baseUrl must use https:// (plain http:// only with allowInsecureHttp: true, meant for a local emulator)",
    "fieldPath": ".baseUrl"
},
// The settings are flattened into each provider spec, so these rules see its `type`.
{"rule": "(self.type == 'livekit') == has(self.apiKey)", "message": "apiKey is required with type livekit (the LiveKit API key; apiTokenSecretRef names the API secret) and not allowed with the other types", "fieldPath": ".apiKey"},
{"rule": "self.type != 'livekit' || has(self.baseUrl)", "message": "type livekit needs baseUrl: the project URL (https://<project>.livekit.cloud, or a self-hosted server the operator's egress policy allows)", "fieldPath": ".baseUrl"}
]))]
pub struct ProviderSettings {
    /// API base URL. Defaults per type: https://app.autocalls.ai/api, https://app.famulor.de/api,
    /// https://api.bolna.ai; required with type livekit (the project URL, https://<project>.livekit.cloud).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "baseUrl must be an absolute URL"}]))]
    pub base_url: Option<String>,
    /// The LiveKit API key (type livekit only, and required there): the issuer of the tokens the
    /// API secret signs. Not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub api_key: Option<String>,
    /// Permit a plain http:// baseUrl. Only for a local emulator; tokens would cross the network unencrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_insecure_http: Option<bool>,
    /// Extra PEM CA certificates trusted for this provider, besides the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub ca_bundle: Option<String>,
    /// Client-side request rate limit for this account. Defaults follow the provider's published limits
    /// (famulor 100/min with bursts of 20 per 10 s; bolna 1000/min; autocalls, undocumented, 60/min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How often every trunk of this account is compared with the provider (default 5m; minimum 1s).
    /// One list call per interval serves all trunks of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h))+$"))]
    pub drift_check_interval: Option<String>,
    /// Timeout of each provider request (default 10s, at most 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m))+$"), length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "duration(self) > duration('0s') && duration(self) <= duration('60s')", "message": "requestTimeout must be above 0 and at most 60s"}]))]
    pub request_timeout: Option<String>,
    /// The most one list of this account's trunks may cost, all pages together (defaults: 48 MiB
    /// and 60,000 items, which serve an honest 50,000-trunk account). A list beyond it is
    /// refused with reason ListBudgetExceeded, and nothing is decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_budget: Option<ListBudget>,
}

/// Largest `listBudget.maxMebibytes` accepted.
pub const MAX_LIST_MEBIBYTES: u32 = 64;
/// Largest `listBudget.maxItems` accepted.
pub const MAX_LIST_ITEMS: u32 = 200_000;

/// The byte and item budget of one list.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListBudget {
    /// Response bytes of all pages together, in MiB (default 48, at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub max_mebibytes: Option<u32>,
    /// Items of all pages together (default 60,000, at most 200,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200000))]
    pub max_items: Option<u32>,
}

/// A client-side token bucket.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained requests per minute.
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_minute: u32,
    /// Requests allowed at once before the sustained rate applies (default: the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub burst: Option<u32>,
}

/// The provider APIs the operator speaks.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderType {
    /// autocalls.ai.
    Autocalls,
    /// famulor (the autocalls API on another host).
    Famulor,
    /// bolna.ai.
    Bolna,
    /// LiveKit SIP (LiveKit Cloud or a self-hosted server).
    Livekit,
}

impl ProviderType {
    /// Every provider type.
    pub const ALL: [ProviderType; 4] =
        [ProviderType::Autocalls, ProviderType::Famulor, ProviderType::Bolna, ProviderType::Livekit];

    /// The type written as in YAML (case-insensitive), or None.
    pub fn parse(s: &str) -> Option<ProviderType> {
        ProviderType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Every type as written in YAML, for messages: `autocalls, famulor, bolna or livekit`.
    pub fn names() -> String {
        let names: Vec<&str> = ProviderType::ALL.iter().map(|t| t.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }

    /// The type as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderType::Autocalls => "autocalls",
            ProviderType::Famulor => "famulor",
            ProviderType::Bolna => "bolna",
            ProviderType::Livekit => "livekit",
        }
    }

    /// The provider's production base URL.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderType::Autocalls => "https://app.autocalls.ai/api",
            ProviderType::Famulor => "https://app.famulor.de/api",
            ProviderType::Bolna => "https://api.bolna.ai",
            // One host per project; `baseUrl` is required (CEL), and any project host is documented.
            ProviderType::Livekit => "https://*.livekit.cloud",
        }
    }
}

/// A key in a Secret in the provider's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data (default token).
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A key in a Secret in a named namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedSecretKeyRef {
    /// Namespace of the Secret.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data (default token).
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_token_key() -> String {
    "token".to_string()
}

/// Observed state of a provider account object, written by the operator instance that watches
/// every trunk able to use it (a ClusterSipProvider: an instance without watchNamespace and
/// labelSelector). The token is checked by the account's own list call, which its trunks make
/// once per drift interval; the status adds no provider call.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SipProviderStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// How many SipTrunks refer to this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunks: Option<i64>,
    /// When the provider last answered the account's list call with success (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// Ready (True: the provider accepted the API token at the account's last list call; False
    /// with reason SecretNotFound, ProviderConfigInvalid, Unauthorized or ProviderUnavailable;
    /// Unknown with reason NotChecked while no trunk has made a list call), plus Stalled (a
    /// reason you must fix) or Reconciling (a transient failure or a first check in progress)
    /// while true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
