//! The `SipTrunk` custom resource: one trunk on one provider account.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of one SIP trunk on one provider account.
///
/// The operator creates the trunk at the provider when it is missing, corrects
/// drift field by field, rotates the password when the referenced Secret
/// changes, and removes the trunk when this object is deleted (see
/// `deletionPolicy`).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "siptrunk.dev",
    version = "v1alpha1",
    kind = "SipTrunk",
    plural = "siptrunks",
    shortname = "st",
    shortname = "sipt",
    category = "siptrunk-operator",
    category = "voice",
    namespaced,
    status = "SipTrunkStatus",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.providerRef.name","description":"The SipProvider or ClusterSipProvider this trunk lives on"}"#,
    printcolumn = r#"{"name":"Number","type":"string","jsonPath":".status.summary.number","description":"Phone number or extension (bolna: the DIDs)"}"#,
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".status.summary.address","description":"SIP server address or first gateway"}"#,
    printcolumn = r#"{"name":"Trunk ID","type":"string","jsonPath":".status.trunkId","description":"The provider's id for this trunk"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the provider holds exactly this trunk"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1,"description":"Why Ready has its value"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "[has(self.sipAddress), has(self.bolna), has(self.livekit)].filter(x, x).size() == 1",
        "message": "set exactly one of sipAddress (autocalls/famulor), bolna (bolna.ai gateways and settings) or livekit (a LiveKit SIP trunk)"
    },
    {
        "rule": "!has(self.phoneNumber) || !has(self.livekit)",
        "message": "phoneNumber is for autocalls/famulor; LiveKit trunks list their numbers in livekit.inbound.numbers or livekit.outbound.numbers",
        "fieldPath": ".phoneNumber"
    },
    {
        "rule": "!has(self.sipAddress) || has(self.phoneNumber)",
        "message": "phoneNumber is required for autocalls/famulor trunks (those with sipAddress)",
        "fieldPath": ".phoneNumber"
    },
    {
        "rule": "!has(self.phoneNumber) || !has(self.bolna)",
        "message": "phoneNumber is for autocalls/famulor; bolna trunks list their DIDs in bolna.phoneNumbers",
        "fieldPath": ".phoneNumber"
    },
    {
        "rule": "!has(self.phoneNumber) || ((has(self.numberType) && self.numberType == 'extension') ? self.phoneNumber.matches('^[0-9A-Za-z*#+._-]{1,15}$') : self.phoneNumber.matches('^\\\\+[1-9][0-9]{6,14}$'))",
        "message": "phoneNumber must be E.164 with a leading + (e.g. +14155551234) when numberType is number, or 1-15 characters when numberType is extension",
        "fieldPath": ".phoneNumber"
    },
    {
        "rule": "(has(self.numberType) ? self.numberType : 'number') == (has(oldSelf.numberType) ? oldSelf.numberType : 'number')",
        "message": "numberType cannot change in place (the provider cannot update sip_trunk_type): delete this SipTrunk and create it again to replace the trunk",
        "fieldPath": ".numberType"
    },
    {
        "rule": "self.providerRef == oldSelf.providerRef",
        "message": "providerRef cannot change: a trunk cannot move between accounts; create a new SipTrunk instead",
        "fieldPath": ".providerRef"
    },
    {
        "rule": "!has(self.bolna) || !has(oldSelf.bolna) || self.auth.type == oldSelf.auth.type",
        "message": "auth.type cannot change on a bolna trunk (bolna cannot update auth_type): delete this SipTrunk and create it again",
        "fieldPath": ".auth.type"
    }
]))]
pub struct SipTrunkSpec {
    /// The provider account (SipProvider in this namespace, or ClusterSipProvider) that holds this trunk. Immutable.
    pub provider_ref: ProviderRef,

    /// Human-friendly label. On autocalls/famulor it becomes the start of the trunk's nickname
    /// (the operator appends its ownership marker); on bolna it goes into the description. No
    /// control characters, and nothing marker-shaped (op:, key=, managed-by=).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 30))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.matches('\\\\p{Cc}') && !self.matches('(?i)op:|key=|managed-by=')",
        "message": "must not contain control characters, op:, key= or managed-by= (reserved for the operator's ownership marker)"
    }]))]
    pub display_name: Option<String>,

    /// autocalls/famulor: the DID in E.164 form with a leading + (numberType number) or an
    /// extension of 1-15 characters (numberType extension). Not used on bolna (see bolna.phoneNumbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub phone_number: Option<String>,

    /// autocalls/famulor: whether phoneNumber is a DID (number, the default) or an extension.
    /// Immutable: the provider cannot change it in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_type: Option<NumberType>,

    /// autocalls/famulor: the SIP server host name or IP address, without a port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$') || isIP(self)",
        "message": "sipAddress must be a host name or IP address without scheme or port (e.g. sip.carrier.example)"
    }]))]
    pub sip_address: Option<String>,

    /// How the trunk authenticates: SIP credentials, or a source-IP allow-list for inbound calls.
    pub auth: TrunkAuth,

    /// autocalls/famulor: how outbound numbers are formatted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calling_format: Option<CallingFormat>,

    /// autocalls/famulor: ISO 3166-1 alpha-2 country of the trunk (e.g. US, DE). For number
    /// trunks the provider may infer another country from the DID and a change is not sent; the
    /// operator then lists it in status.notApplied and does not fight it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    pub country_code: Option<String>,

    /// autocalls/famulor: send outbound calls through the provider's fixed-IP proxy. Turn on only
    /// when the carrier authenticates outbound traffic by source IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_proxy: Option<bool>,

    /// bolna.ai only: gateways, DIDs, codecs and the other settings only bolna understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed (also `livekit`): every cached SipTrunk holds the spec inline, and most trunks have
    // neither block (P4, issue 12: 296 bytes less per cached trunk; the schema is the same).
    pub bolna: Option<Box<BolnaSettings>>,

    /// LiveKit SIP only: one LiveKit trunk, inbound or outbound (exactly one; the direction
    /// cannot change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livekit: Option<Box<crate::crd::livekit::LiveKitTrunk>>,

    /// What happens to the provider's trunk when this object is deleted: Delete removes it,
    /// Orphan leaves it in the account.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Adopt a provider trunk that matches this spec's natural key (autocalls/famulor: number +
    /// username + address; bolna: name) but carries no operator marker. Off by default: such a
    /// match is reported as a Conflict and nothing is written.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt_existing: bool,

    /// How often to compare the provider's trunk with this spec, overriding the provider's
    /// driftCheckInterval. A duration such as 30s, 5m or 1h (minimum 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h))+$"))]
    pub drift_check_interval: Option<String>,

    /// Observe only: report drift in status but never write to the provider (no create, update
    /// or delete). The same as the siptrunk.dev/paused annotation, but declared in git.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observe_only: bool,
}

impl SipTrunkSpec {
    /// The settings that belong to one provider family, by spec path, each with whether this
    /// spec sets it. Each family names the ones it reads in `provider::Family::SETTINGS`; the
    /// controller refuses the others, so a new family adds its block here and nowhere else.
    pub fn family_settings(&self) -> [(&'static str, bool); 8] {
        [
            ("spec.sipAddress", self.sip_address.is_some()),
            ("spec.phoneNumber", self.phone_number.is_some()),
            ("spec.numberType", self.number_type.is_some()),
            ("spec.callingFormat", self.calling_format.is_some()),
            ("spec.countryCode", self.country_code.is_some()),
            ("spec.outboundProxy", self.outbound_proxy.is_some()),
            ("spec.bolna", self.bolna.is_some()),
            ("spec.livekit", self.livekit.is_some()),
        ]
    }
}

/// A reference to the provider account object.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    /// SipProvider (same namespace as the trunk) or ClusterSipProvider.
    #[serde(default)]
    pub kind: ProviderKind,
    /// Name of the provider object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Which kind of provider object a trunk refers to.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ProviderKind {
    /// A namespaced SipProvider in the trunk's own namespace.
    #[default]
    SipProvider,
    /// A cluster-scoped ClusterSipProvider.
    ClusterSipProvider,
}

/// autocalls/famulor: whether phoneNumber is a DID in E.164 form (number, the default) or an
/// extension of 1-15 characters (extension); sent as `sip_trunk_type`. Immutable: the provider
/// cannot change it in place.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NumberType {
    /// phoneNumber is a DID in E.164 form.
    #[default]
    Number,
    /// phoneNumber is an extension of 1-15 characters.
    Extension,
}

/// Trunk authentication.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.type == 'ip' ? (has(self.allowedInboundIps) && size(self.allowedInboundIps) >= 1) : (!has(self.allowedInboundIps) || size(self.allowedInboundIps) == 0)",
        "message": "allowedInboundIps must list at least one address when auth.type is ip, and must be empty when auth.type is credentials",
        "fieldPath": ".allowedInboundIps"
    },
    {
        "rule": "self.type == 'ip' || has(self.passwordSecretRef)",
        "message": "passwordSecretRef is required when auth.type is credentials",
        "fieldPath": ".passwordSecretRef"
    }
]))]
pub struct TrunkAuth {
    /// credentials: username and password for inbound and outbound; ip: inbound calls admitted by
    /// source IP (outbound still uses the username and password).
    #[serde(rename = "type", default)]
    pub type_: AuthType,
    /// SIP username, 3-128 characters without whitespace. bolna IP-based trunks do not use it
    /// (bolna takes a username only for credentials trunks).
    #[schemars(length(min = 3, max = 128))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.matches('\\\\s')",
        "message": "username must not contain whitespace"
    }]))]
    pub username: String,
    /// The Secret (same namespace) and key holding the SIP password. The operator never
    /// copies the password anywhere but the provider; status keeps only a keyed hash of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    /// Source addresses admitted for inbound calls when type is ip (autocalls/famulor: IP
    /// addresses; bolna: IP addresses or CIDR ranges). At most 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(length(min = 2, max = 43)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(a, isIP(a) || isCIDR(a))",
        "message": "every allowedInboundIps entry must be an IP address or CIDR range (e.g. 203.0.113.7 or 198.51.100.0/28)"
    }]))]
    pub allowed_inbound_ips: Option<Vec<String>>,
}

/// Trunk authentication type.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// Username and password (autocalls `auth`, bolna `userpass`).
    #[default]
    Credentials,
    /// Source-IP allow-list (autocalls `ip`, bolna `ip-based`).
    Ip,
}

/// A key in a Secret in the trunk's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_password_key() -> String {
    "password".to_string()
}

/// autocalls/famulor: how outbound numbers are formatted (`sip_calling_format`): +e164
/// (+12025550123, the default), e164 (12025550123) or national (0741926265).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CallingFormat {
    /// International with + (+12025550123).
    #[default]
    #[serde(rename = "+e164")]
    PlusE164,
    /// International without + (12025550123).
    #[serde(rename = "e164")]
    E164,
    /// National form without country code (0741926265).
    #[serde(rename = "national")]
    National,
}

impl CallingFormat {
    /// The provider's wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallingFormat::PlusE164 => "+e164",
            CallingFormat::E164 => "e164",
            CallingFormat::National => "national",
        }
    }
}

/// What to do with the remote trunk when the SipTrunk is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Remove the trunk from the provider account.
    #[default]
    Delete,
    /// Leave the trunk in the provider account.
    Orphan,
}

/// bolna.ai trunk settings. Rejected (condition InvalidSpec) on autocalls/famulor providers.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.mediaEncryption) || self.mediaEncryption == 'none' || (has(self.transport) && self.transport == 'tls')",
        "message": "mediaEncryption sdes requires transport tls",
        "fieldPath": ".mediaEncryption"
    },
    {
        "rule": "self.gateways.all(g, self.gateways.exists_one(h, h.address == g.address && h.port == g.port))",
        "message": "gateways must not repeat the same address and port",
        "fieldPath": ".gateways"
    },
    {
        "rule": "!has(self.phoneNumbers) || self.phoneNumbers.all(p, self.phoneNumbers.exists_one(q, q.number.replace('+', '') == p.number.replace('+', '')))",
        "message": "phoneNumbers must not list the same number twice (numbers are compared without their leading +)",
        "fieldPath": ".phoneNumbers"
    }
]))]
pub struct BolnaSettings {
    /// The trunk's name at bolna (unique per account). Defaults to a name the operator derives
    /// from the namespace and object name. May change: the operator renames the trunk in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.matches('\\\\p{Cc}') && !self.matches('(?i)op:|key=|managed-by=')",
        "message": "must not contain control characters, op:, key= or managed-by= (reserved for the operator's ownership marker)"
    }]))]
    pub name: Option<String>,
    /// The carrier label bolna stores (twilio, plivo, zadarma, telnyx, vonage, custom, ...). Immutable at bolna.
    #[serde(default = "default_bolna_provider")]
    #[schemars(length(min = 1, max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf", "message": "bolna.provider cannot change in place (bolna cannot update it): delete and recreate the SipTrunk"
    }]))]
    pub provider: String,
    /// SIP gateways in order of use: lower priority numbers are preferred, others are failover. 1-10 entries.
    #[schemars(length(min = 1, max = 10))]
    pub gateways: Vec<BolnaGateway>,
    /// DIDs registered on the trunk, compared without their leading +. At most 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub phone_numbers: Option<Vec<BolnaDid>>,
    /// Codecs to allow, comma-separated (bolna default ulaw,alaw; always include ulaw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]+(,[a-z0-9]+)*$"))]
    pub allow_codecs: Option<String>,
    /// Codecs to disallow, comma-separated (bolna default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]+(,[a-z0-9]+)*$"))]
    pub disallow_codecs: Option<String>,
    /// SIP transport: udp, tcp or tls (sent as transport-udp and so on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<BolnaTransport>,
    /// SRTP: none (bolna \"no\"), or sdes (requires transport tls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_encryption: Option<MediaEncryption>,
    /// With sdes, fall back to plain RTP when the carrier offers no crypto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_encryption_optimistic: Option<bool>,
    /// Seconds between SIP OPTIONS keep-alives; 0 disables them (bolna default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub qualify_frequency: Option<i32>,
    /// Accept inbound calls (bolna default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_enabled: Option<bool>,
    /// Prefix dialled numbers with + on outbound calls (bolna default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_leading_plus: Option<bool>,
    /// Whether the trunk is in service (bolna is_active; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

fn default_bolna_provider() -> String {
    "custom".to_string()
}

/// A carrier SIP server that bolna sends this trunk's calls to, with its port and priority.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BolnaGateway {
    /// Host name or IP address of the carrier's SIP server.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$') || isIP(self)",
        "message": "gateway address must be a host name or IP address without scheme or port"
    }]))]
    pub address: String,
    /// SIP port (default 5060).
    #[serde(default = "default_sip_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Lower numbers are preferred (default 1).
    #[serde(default = "default_priority")]
    #[schemars(range(min = 1, max = 100))]
    pub priority: i32,
}

fn default_sip_port() -> i32 {
    5060
}
fn default_priority() -> i32 {
    1
}

/// A DID on a bolna trunk.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BolnaDid {
    /// The number, E.164 with or without the leading + (compared without it).
    #[schemars(regex(pattern = r"^\+?[1-9][0-9]{6,14}$"))]
    pub number: String,
    /// Optional label for the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub name: Option<String>,
}

/// SIP transport: udp (bolna's default), tcp or tls; sent as transport-udp and so on.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BolnaTransport {
    /// transport-udp (bolna's default).
    Udp,
    /// transport-tcp.
    Tcp,
    /// transport-tls.
    Tls,
}

impl BolnaTransport {
    /// bolna's wire value (with its `transport-` prefix).
    pub fn as_wire(self) -> &'static str {
        match self {
            BolnaTransport::Udp => "transport-udp",
            BolnaTransport::Tcp => "transport-tcp",
            BolnaTransport::Tls => "transport-tls",
        }
    }
}

/// SRTP: none (plain RTP) or sdes (SRTP with SDES keys; requires transport tls). Written none
/// rather than bolna's "no", which a YAML 1.1 parser such as kubectl's reads as false; sent to
/// bolna as the string "no".
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaEncryption {
    /// Plain RTP (bolna "no").
    None,
    /// SRTP with SDES keys (requires transport tls).
    Sdes,
}

impl MediaEncryption {
    /// bolna's wire value.
    pub fn as_wire(self) -> &'static str {
        match self {
            MediaEncryption::None => "no",
            MediaEncryption::Sdes => "sdes",
        }
    }
}

/// Observed state of a SipTrunk, written only by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SipTrunkStatus {
    /// The provider's id of the trunk (autocalls/famulor integer, bolna string), as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk_id: Option<String>,
    /// autocalls/famulor: the provider's internal inbound trunk id. Changes when the provider re-provisions the trunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_trunk_id: Option<String>,
    /// autocalls/famulor: the provider's internal outbound trunk id. Changes when the provider re-provisions the trunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_trunk_id: Option<String>,
    /// bolna: the DIDs on the trunk with the provider's phone-number ids (used by /inbound/setup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_numbers: Option<Vec<ObservedDid>>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled (kstatus), plus Synced (the provider matched the spec at lastSyncTime).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the operator last compared the provider's trunk with the spec and found them equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    /// Keyed hash (HMAC-SHA256 keyed with the provider account's API token) of the password last
    /// applied; never the password and never an unkeyed hash of it. A change of the Secret's value
    /// (or of the API token) changes it, and the password is sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_hash: Option<String>,
    /// The values last applied for the fields the provider does not reliably return (famulor
    /// `nickname`; bolna `transport`, `media_encryption`, `media_encryption_optimistic`), by
    /// provider field name. Where a response leaves such a field out, the spec is compared with
    /// this record instead, so an unchanged spec sends nothing and a changed one is sent once.
    /// Never holds a secret (passwords are tracked by credentialsHash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, String>>")]
    pub last_applied: Option<AppliedRecord>,
    /// Short, human-oriented view for kubectl columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<TrunkSummary>,
    /// Written just before a create call and cleared once the provider's id is recorded: if the
    /// operator loses the create's response (crash, timeout), the trunk it finds with this
    /// natural key is its own and is adopted, never duplicated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<CreateIntent>,
    /// Spec fields that differ at the provider while writes are paused or observe-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_changes: Option<Vec<String>>,
    /// Spec fields the provider holds differently and that the operator does not write, each
    /// with why (e.g. the country of a number trunk, which the provider infers from the number).
    /// Ready stays True and says so in its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_applied: Option<Vec<String>>,
}

/// Columns shown by kubectl get.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrunkSummary {
    /// Provider type (autocalls, famulor, bolna).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    /// Phone number, extension, or the bolna DIDs joined by commas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// SIP address or first bolna gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A DID as the provider holds it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedDid {
    /// The number as stored at the provider.
    pub number: String,
    /// The provider's phone-number id.
    pub id: String,
}

/// A create the operator started and has not yet seen answered.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIntent {
    /// The natural key of the trunk being created (autocalls/famulor: number|username|address; bolna: name).
    pub natural_key: String,
    /// credentialsHash of the password sent with the create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_hash: Option<String>,
    /// When the create was started (RFC 3339).
    pub started_at: String,
}

/// `status.lastApplied`: field name → value, a JSON object on the wire, kept in memory as a list
/// sorted by name. It holds one to four entries, and every cached SipTrunk carries one: a
/// `BTreeMap` allocates a 544-byte node even for a single entry, this a list of exactly its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedRecord(Vec<(String, String)>);

impl AppliedRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value recorded for `field`.
    pub fn get(&self, field: &str) -> Option<&String> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(field)).ok().map(|i| &self.0[i].1)
    }

    /// Records `value` for `field`, returning the value it replaces.
    pub fn insert(&mut self, field: String, value: String) -> Option<String> {
        match self.0.binary_search_by(|(k, _)| k.cmp(&field)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (field, value));
                None
            }
        }
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of recorded fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The recorded field names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The entries, sorted by field name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(String, String)> for AppliedRecord {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut r = AppliedRecord::new();
        for (k, v) in iter {
            r.insert(k, v);
        }
        r.0.shrink_to_fit();
        r
    }
}

impl<const N: usize> From<[(String, String); N]> for AppliedRecord {
    fn from(entries: [(String, String); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl IntoIterator for AppliedRecord {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for AppliedRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for AppliedRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        let mut v: Vec<(String, String)> = map.into_iter().collect();
        v.shrink_to_fit();
        Ok(AppliedRecord(v))
    }
}

#[cfg(test)]
mod applied_record_tests {
    use super::AppliedRecord;

    #[test]
    fn a_record_is_a_json_object_sorted_by_field_and_round_trips() {
        let mut r = AppliedRecord::new();
        assert_eq!(r.insert("transport".into(), "udp".into()), None);
        assert_eq!(r.insert("media_encryption".into(), "disable".into()), None);
        assert_eq!(r.insert("transport".into(), "tls".into()), Some("udp".into()));
        assert_eq!(r.len(), 2);
        assert_eq!(r.get("transport").map(String::as_str), Some("tls"));
        assert_eq!(r.get("nickname"), None);
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(json, r#"{"media_encryption":"disable","transport":"tls"}"#);
        let back: AppliedRecord =
            serde_json::from_str(r#"{"transport":"tls","media_encryption":"disable"}"#).unwrap_or_default();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<AppliedRecord>(r#"["transport"]"#).is_err());
        let keys: Vec<&String> = back.keys().collect();
        assert_eq!(keys, ["media_encryption", "transport"]);
    }
}
