//! LiveKit SIP wire types: the subset of `livekit_sip.proto` / `livekit_models.proto`
//! (livekit/protocol) that trunk and dispatch-rule management uses, with the proto's field
//! numbers, for protobuf (what the official SDKs send) and for the proto3 JSON mapping with the
//! original field names (what LiveKit's docs and `lk` CLI files show).
//!
//! Fields of the proto that are left out (media config, room config, timestamps, ...) are
//! skipped by the protobuf decoder; a `replace` would therefore clear them, which is why the
//! client only uses the partial `update` form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Proto enums as the proto3 JSON mapping writes them (the value's name), reading names or numbers.
macro_rules! proto_enum {
    ($(#[$meta:meta])* $name:ident, $module:ident { $($(#[$vmeta:meta])* $variant:ident = $num:literal => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
        #[repr(i32)]
        pub enum $name { $($(#[$vmeta])* $variant = $num),+ }

        impl $name {
            /// The value's name in the proto.
            pub fn as_str_name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The value with this proto name.
            pub fn from_str_name(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        /// serde for an `i32` field holding this enum (proto3 JSON: the name; numbers accepted).
        pub mod $module {
            use serde::{Deserialize, Deserializer, Serializer, de::Error};

            /// Writes the name (the number when it is not a known value).
            pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
                match super::$name::try_from(*v) {
                    Ok(e) => s.serialize_str(e.as_str_name()),
                    Err(_) => s.serialize_i32(*v),
                }
            }

            /// Reads a name or a number.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw { Num(i32), Name(String) }
                match Raw::deserialize(d)? {
                    Raw::Num(n) => Ok(n),
                    Raw::Name(s) => super::$name::from_str_name(&s)
                        .map(|e| e as i32)
                        .ok_or_else(|| D::Error::custom(format!("unknown {} value {s:?}", stringify!($name)))),
                }
            }

            /// The same for an optional field.
            pub mod opt {
                use serde::{Deserialize, Deserializer, Serializer};

                /// Writes the name, or null.
                pub fn serialize<S: Serializer>(v: &Option<i32>, s: S) -> Result<S::Ok, S::Error> {
                    match v { Some(v) => super::serialize(v, s), None => s.serialize_none() }
                }

                /// Reads a name, a number or null.
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
                    #[derive(Deserialize)]
                    struct W(#[serde(with = "super")] i32);
                    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
                }
            }
        }
    };
}

proto_enum!(
    /// `livekit.SIPTransport`.
    SipTransport, sip_transport {
        /// Let the server choose.
        Auto = 0 => "SIP_TRANSPORT_AUTO",
        /// UDP.
        Udp = 1 => "SIP_TRANSPORT_UDP",
        /// TCP.
        Tcp = 2 => "SIP_TRANSPORT_TCP",
        /// TLS.
        Tls = 3 => "SIP_TRANSPORT_TLS",
    }
);

proto_enum!(
    /// `livekit.SIPMediaEncryption`.
    SipMediaEncryption, sip_media_encryption {
        /// No SRTP.
        Disable = 0 => "SIP_MEDIA_ENCRYPT_DISABLE",
        /// SRTP when the peer offers it.
        Allow = 1 => "SIP_MEDIA_ENCRYPT_ALLOW",
        /// SRTP required.
        Require = 2 => "SIP_MEDIA_ENCRYPT_REQUIRE",
    }
);

proto_enum!(
    /// `livekit.SIPHeaderOptions`.
    SipHeaderOptions, sip_header_options {
        /// No SIP headers become attributes.
        NoHeaders = 0 => "SIP_NO_HEADERS",
        /// `X-` headers only.
        XHeaders = 1 => "SIP_X_HEADERS",
        /// All headers.
        AllHeaders = 2 => "SIP_ALL_HEADERS",
    }
);

proto_enum!(
    /// `livekit.SIPTrunkInfo.TrunkKind`.
    TrunkKind, trunk_kind {
        /// Legacy trunk (both directions).
        Legacy = 0 => "TRUNK_LEGACY",
        /// Inbound trunk.
        Inbound = 1 => "TRUNK_INBOUND",
        /// Outbound trunk.
        Outbound = 2 => "TRUNK_OUTBOUND",
    }
);

/// `google.protobuf.Duration`; in JSON a string such as `"30s"` or `"1.5s"`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Duration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds, same sign as `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.nanos == 0 {
            s.serialize_str(&format!("{}s", self.seconds))
        } else {
            let frac = format!("{:09}", self.nanos.unsigned_abs());
            let sign = if self.seconds == 0 && self.nanos < 0 { "-" } else { "" };
            s.serialize_str(&format!("{sign}{}.{}s", self.seconds, frac.trim_end_matches('0')))
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = String::deserialize(d)?;
        parse_duration(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not a duration such as \"30s\"")))
    }
}

/// Parses the proto3 JSON form of a duration (`"30s"`, `"-1.25s"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let body = text.strip_suffix('s')?;
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, body),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let nanos: i32 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
    Some(if neg { Duration { seconds: -seconds, nanos: -nanos } } else { Duration { seconds, nanos } })
}

/// `livekit.ListUpdate`: how a partial update changes a list (`set` replaces it; `add`/`remove`
/// edit it; `clear` empties it).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ListUpdate {
    /// The whole new list (when not empty, `add`/`remove` are ignored).
    #[prost(string, repeated, tag = "1")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    /// Items to add.
    #[prost(string, repeated, tag = "2")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Items to remove.
    #[prost(string, repeated, tag = "3")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Empty the list.
    #[prost(bool, tag = "4")]
    #[serde(skip_serializing_if = "is_false")]
    pub clear: bool,
}

impl ListUpdate {
    /// Replace the list with `items` (an empty `items` clears it).
    pub fn set(items: Vec<String>) -> Self {
        let clear = items.is_empty();
        ListUpdate { set: items, clear, ..Default::default() }
    }

    /// Applies the update to `list` as the server does: `clear`, then `set` if not empty,
    /// otherwise remove, then add what is not there yet.
    pub fn apply(&self, list: &mut Vec<String>) {
        if self.clear {
            list.clear();
        }
        if !self.set.is_empty() {
            *list = self.set.clone();
            return;
        }
        list.retain(|x| !self.remove.contains(x));
        for a in &self.add {
            if !list.contains(a) {
                list.push(a.clone());
            }
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `livekit.Pagination`.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Pagination {
    /// Items after this id.
    #[prost(string, tag = "1")]
    pub after_id: String,
    /// At most this many items (0: the server's default).
    #[prost(int32, tag = "2")]
    pub limit: i32,
}

/// `livekit.SIPInboundTrunkInfo`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[prost(skip_debug)]
#[serde(default)]
pub struct SipInboundTrunkInfo {
    /// `ST_` id (ignored on create).
    #[prost(string, tag = "1")]
    pub sip_trunk_id: String,
    /// Human name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Free text; the operator's ownership marker lives here.
    #[prost(string, tag = "3")]
    pub metadata: String,
    /// Accepted called (To) numbers.
    #[prost(string, repeated, tag = "4")]
    pub numbers: Vec<String>,
    /// Source IPs or CIDRs allowed to call (empty: any).
    #[prost(string, repeated, tag = "5")]
    pub allowed_addresses: Vec<String>,
    /// Caller numbers allowed (empty: any).
    #[prost(string, repeated, tag = "6")]
    pub allowed_numbers: Vec<String>,
    /// Digest auth username.
    #[prost(string, tag = "7")]
    pub auth_username: String,
    /// Digest auth password (never logged; never relied on being read back).
    #[prost(string, tag = "8")]
    pub auth_password: String,
    /// SIP headers added to responses.
    #[prost(btree_map = "string, string", tag = "9")]
    pub headers: BTreeMap<String, String>,
    /// SIP header → participant attribute.
    #[prost(btree_map = "string, string", tag = "10")]
    pub headers_to_attributes: BTreeMap<String, String>,
    /// How long to ring before giving up.
    #[prost(message, optional, tag = "11")]
    pub ringing_timeout: Option<Duration>,
    /// Longest call.
    #[prost(message, optional, tag = "12")]
    pub max_call_duration: Option<Duration>,
    /// Krisp noise cancellation.
    #[prost(bool, tag = "13")]
    pub krisp_enabled: bool,
    /// Participant attribute → SIP header.
    #[prost(btree_map = "string, string", tag = "14")]
    pub attributes_to_headers: BTreeMap<String, String>,
    /// Which SIP headers become attributes.
    #[prost(enumeration = "SipHeaderOptions", tag = "15")]
    #[serde(with = "sip_header_options")]
    pub include_headers: i32,
    /// SRTP.
    #[prost(enumeration = "SipMediaEncryption", tag = "16")]
    #[serde(with = "sip_media_encryption")]
    pub media_encryption: i32,
    /// Digest auth realm.
    #[prost(string, tag = "19")]
    pub auth_realm: String,
}

/// `livekit.SIPOutboundTrunkInfo`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[prost(skip_debug)]
#[serde(default)]
pub struct SipOutboundTrunkInfo {
    /// `ST_` id (ignored on create).
    #[prost(string, tag = "1")]
    pub sip_trunk_id: String,
    /// Human name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Free text; the operator's ownership marker lives here.
    #[prost(string, tag = "3")]
    pub metadata: String,
    /// Carrier host or IP, no `sip:` prefix.
    #[prost(string, tag = "4")]
    pub address: String,
    /// Transport to the carrier.
    #[prost(enumeration = "SipTransport", tag = "5")]
    #[serde(with = "sip_transport")]
    pub transport: i32,
    /// Caller ids (one is picked per call).
    #[prost(string, repeated, tag = "6")]
    pub numbers: Vec<String>,
    /// Digest auth username.
    #[prost(string, tag = "7")]
    pub auth_username: String,
    /// Digest auth password (never logged; never relied on being read back).
    #[prost(string, tag = "8")]
    pub auth_password: String,
    /// SIP headers added to requests.
    #[prost(btree_map = "string, string", tag = "9")]
    pub headers: BTreeMap<String, String>,
    /// SIP header → participant attribute.
    #[prost(btree_map = "string, string", tag = "10")]
    pub headers_to_attributes: BTreeMap<String, String>,
    /// Participant attribute → SIP header.
    #[prost(btree_map = "string, string", tag = "11")]
    pub attributes_to_headers: BTreeMap<String, String>,
    /// Which SIP headers become attributes.
    #[prost(enumeration = "SipHeaderOptions", tag = "12")]
    #[serde(with = "sip_header_options")]
    pub include_headers: i32,
    /// SRTP.
    #[prost(enumeration = "SipMediaEncryption", tag = "13")]
    #[serde(with = "sip_media_encryption")]
    pub media_encryption: i32,
    /// ISO 3166-1 alpha-2 country of the destination (region pinning).
    #[prost(string, tag = "14")]
    pub destination_country: String,
    /// Host in the From header.
    #[prost(string, tag = "15")]
    pub from_host: String,
}

/// `livekit.SIPInboundTrunkUpdate`: only the fields that are set change.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[prost(skip_debug)]
#[serde(default)]
pub struct SipInboundTrunkUpdate {
    /// Accepted numbers.
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers: Option<ListUpdate>,
    /// Allowed source addresses.
    #[prost(message, optional, tag = "2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_addresses: Option<ListUpdate>,
    /// Allowed caller numbers.
    #[prost(message, optional, tag = "3")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_numbers: Option<ListUpdate>,
    /// New username.
    #[prost(string, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    /// New password.
    #[prost(string, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    /// New name.
    #[prost(string, optional, tag = "6")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New metadata.
    #[prost(string, optional, tag = "7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// New SRTP setting.
    #[prost(enumeration = "SipMediaEncryption", optional, tag = "8")]
    #[serde(with = "sip_media_encryption::opt", skip_serializing_if = "Option::is_none")]
    pub media_encryption: Option<i32>,
    /// New realm.
    #[prost(string, optional, tag = "9")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_realm: Option<String>,
}

/// `livekit.SIPOutboundTrunkUpdate`: only the fields that are set change.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[prost(skip_debug)]
#[serde(default)]
pub struct SipOutboundTrunkUpdate {
    /// New carrier address.
    #[prost(string, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// New transport.
    #[prost(enumeration = "SipTransport", optional, tag = "2")]
    #[serde(with = "sip_transport::opt", skip_serializing_if = "Option::is_none")]
    pub transport: Option<i32>,
    /// Caller ids.
    #[prost(message, optional, tag = "3")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers: Option<ListUpdate>,
    /// New username.
    #[prost(string, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    /// New password.
    #[prost(string, optional, tag = "5")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    /// New name.
    #[prost(string, optional, tag = "6")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New metadata.
    #[prost(string, optional, tag = "7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// New SRTP setting.
    #[prost(enumeration = "SipMediaEncryption", optional, tag = "8")]
    #[serde(with = "sip_media_encryption::opt", skip_serializing_if = "Option::is_none")]
    pub media_encryption: Option<i32>,
    /// New destination country.
    #[prost(string, optional, tag = "9")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_country: Option<String>,
    /// New From host.
    #[prost(string, optional, tag = "10")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_host: Option<String>,
}

/// `livekit.SIPTrunkInfo` (what `DeleteSIPTrunk` answers; the legacy trunk shape).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SipTrunkInfo {
    /// The deleted trunk's id.
    #[prost(string, tag = "1")]
    pub sip_trunk_id: String,
    /// Its name.
    #[prost(string, tag = "11")]
    pub name: String,
    /// Its metadata.
    #[prost(string, tag = "12")]
    pub metadata: String,
    /// Inbound, outbound or legacy.
    #[prost(enumeration = "TrunkKind", tag = "14")]
    #[serde(with = "trunk_kind")]
    pub kind: i32,
}

/// `livekit.SIPDispatchRuleDirect`: every call into one room.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SipDispatchRuleDirect {
    /// The room.
    #[prost(string, tag = "1")]
    pub room_name: String,
    /// Optional PIN callers must enter.
    #[prost(string, tag = "2")]
    pub pin: String,
}

/// `livekit.SIPDispatchRuleIndividual`: a new room per caller.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SipDispatchRuleIndividual {
    /// Room name prefix.
    #[prost(string, tag = "1")]
    pub room_prefix: String,
    /// Optional PIN.
    #[prost(string, tag = "2")]
    pub pin: String,
    /// Room name without the random suffix.
    #[prost(bool, tag = "3")]
    pub no_randomness: bool,
}

/// `livekit.SIPDispatchRuleCallee`: a room per called number.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SipDispatchRuleCallee {
    /// Room name prefix.
    #[prost(string, tag = "1")]
    pub room_prefix: String,
    /// Optional PIN.
    #[prost(string, tag = "2")]
    pub pin: String,
    /// Random suffix.
    #[prost(bool, tag = "3")]
    pub randomize: bool,
}

/// `livekit.SIPDispatchRule`: one of the three rule kinds.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
pub struct SipDispatchRule {
    /// The rule kind (proto `oneof rule`).
    #[prost(oneof = "DispatchRuleKind", tags = "1, 2, 3")]
    #[serde(flatten)]
    pub rule: Option<DispatchRuleKind>,
}

/// The `oneof rule` of `SIPDispatchRule`.
#[derive(Clone, PartialEq, Eq, prost::Oneof, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchRuleKind {
    /// `dispatch_rule_direct`.
    #[prost(message, tag = "1")]
    DispatchRuleDirect(SipDispatchRuleDirect),
    /// `dispatch_rule_individual`.
    #[prost(message, tag = "2")]
    DispatchRuleIndividual(SipDispatchRuleIndividual),
    /// `dispatch_rule_callee`.
    #[prost(message, tag = "3")]
    DispatchRuleCallee(SipDispatchRuleCallee),
}

/// `livekit.SIPDispatchRuleInfo`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SipDispatchRuleInfo {
    /// `SDR_` id (ignored on create).
    #[prost(string, tag = "1")]
    pub sip_dispatch_rule_id: String,
    /// How calls are put into rooms.
    #[prost(message, optional, tag = "2")]
    pub rule: Option<SipDispatchRule>,
    /// Trunks the rule applies to. EMPTY MEANS EVERY TRUNK OF THE PROJECT.
    #[prost(string, repeated, tag = "3")]
    pub trunk_ids: Vec<String>,
    /// Hide the caller's number from the room.
    #[prost(bool, tag = "4")]
    pub hide_phone_number: bool,
    /// Human name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Free text; the operator's ownership marker lives here.
    #[prost(string, tag = "6")]
    pub metadata: String,
    /// Caller numbers the rule accepts (empty: any).
    #[prost(string, repeated, tag = "7")]
    pub inbound_numbers: Vec<String>,
    /// Participant attributes.
    #[prost(btree_map = "string, string", tag = "8")]
    pub attributes: BTreeMap<String, String>,
    /// Room preset name.
    #[prost(string, tag = "9")]
    pub room_preset: String,
    /// Krisp noise cancellation.
    #[prost(bool, tag = "11")]
    pub krisp_enabled: bool,
    /// SRTP.
    #[prost(enumeration = "SipMediaEncryption", tag = "12")]
    #[serde(with = "sip_media_encryption")]
    pub media_encryption: i32,
    /// Called numbers the rule accepts (empty: any).
    #[prost(string, repeated, tag = "13")]
    pub numbers: Vec<String>,
}

/// `livekit.SIPDispatchRuleUpdate`: only the fields that are set change.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SipDispatchRuleUpdate {
    /// Trunk ids.
    #[prost(message, optional, tag = "1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_ids: Option<ListUpdate>,
    /// New rule.
    #[prost(message, optional, tag = "2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<SipDispatchRule>,
    /// New name.
    #[prost(string, optional, tag = "3")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New metadata.
    #[prost(string, optional, tag = "4")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Attributes (replace the map when not empty).
    #[prost(btree_map = "string, string", tag = "5")]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// New SRTP setting.
    #[prost(enumeration = "SipMediaEncryption", optional, tag = "6")]
    #[serde(with = "sip_media_encryption::opt", skip_serializing_if = "Option::is_none")]
    pub media_encryption: Option<i32>,
}

/// Debug output of the messages that carry `auth_password`: every field, the password replaced.
macro_rules! redacted_debug {
    ($($t:ty),+) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
                if let Some(p) = v.get_mut("auth_password").filter(|p| p.as_str().is_some_and(|s| !s.is_empty())) {
                    *p = serde_json::Value::String("[redacted]".into());
                }
                write!(f, "{} {v}", stringify!($t))
            }
        }
    )+};
}

redacted_debug!(SipInboundTrunkInfo, SipOutboundTrunkInfo, SipInboundTrunkUpdate, SipOutboundTrunkUpdate);

/// Request and response messages of the `livekit.SIP` service.
pub mod rpc {
    use super::*;

    /// `CreateSIPInboundTrunkRequest`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct CreateSipInboundTrunkRequest {
        /// The trunk (id ignored).
        #[prost(message, optional, tag = "1")]
        pub trunk: Option<SipInboundTrunkInfo>,
    }

    /// `CreateSIPOutboundTrunkRequest`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct CreateSipOutboundTrunkRequest {
        /// The trunk (id ignored).
        #[prost(message, optional, tag = "1")]
        pub trunk: Option<SipOutboundTrunkInfo>,
    }

    /// `UpdateSIPInboundTrunkRequest`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct UpdateSipInboundTrunkRequest {
        /// The trunk to change.
        #[prost(string, tag = "1")]
        pub sip_trunk_id: String,
        /// `replace` or `update`.
        #[prost(oneof = "UpdateInboundAction", tags = "2, 3")]
        #[serde(flatten)]
        pub action: Option<UpdateInboundAction>,
    }

    /// The `oneof action` of `UpdateSIPInboundTrunkRequest`.
    #[derive(Clone, PartialEq, prost::Oneof, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum UpdateInboundAction {
        /// Replace the whole trunk.
        #[prost(message, tag = "2")]
        Replace(SipInboundTrunkInfo),
        /// Change only the fields that are set.
        #[prost(message, tag = "3")]
        Update(SipInboundTrunkUpdate),
    }

    /// `UpdateSIPOutboundTrunkRequest`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct UpdateSipOutboundTrunkRequest {
        /// The trunk to change.
        #[prost(string, tag = "1")]
        pub sip_trunk_id: String,
        /// `replace` or `update`.
        #[prost(oneof = "UpdateOutboundAction", tags = "2, 3")]
        #[serde(flatten)]
        pub action: Option<UpdateOutboundAction>,
    }

    /// The `oneof action` of `UpdateSIPOutboundTrunkRequest`.
    #[derive(Clone, PartialEq, prost::Oneof, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum UpdateOutboundAction {
        /// Replace the whole trunk.
        #[prost(message, tag = "2")]
        Replace(SipOutboundTrunkInfo),
        /// Change only the fields that are set.
        #[prost(message, tag = "3")]
        Update(SipOutboundTrunkUpdate),
    }

    /// `GetSIPInboundTrunkRequest` / `GetSIPOutboundTrunkRequest` / `DeleteSIPTrunkRequest`:
    /// the same single field.
    #[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct TrunkIdRequest {
        /// The trunk.
        #[prost(string, tag = "1")]
        pub sip_trunk_id: String,
    }

    /// `GetSIPInboundTrunkResponse`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct GetSipInboundTrunkResponse {
        /// The trunk.
        #[prost(message, optional, tag = "1")]
        pub trunk: Option<SipInboundTrunkInfo>,
    }

    /// `GetSIPOutboundTrunkResponse`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct GetSipOutboundTrunkResponse {
        /// The trunk.
        #[prost(message, optional, tag = "1")]
        pub trunk: Option<SipOutboundTrunkInfo>,
    }

    /// `ListSIPInboundTrunkRequest` / `ListSIPOutboundTrunkRequest` (same fields).
    #[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ListSipTrunkRequest {
        /// Only these trunks, answered in this order (a missing one: an empty item).
        #[prost(string, repeated, tag = "1")]
        pub trunk_ids: Vec<String>,
        /// Only trunks with one of these numbers.
        #[prost(string, repeated, tag = "2")]
        pub numbers: Vec<String>,
        /// Paging.
        #[prost(message, optional, tag = "3")]
        pub page: Option<Pagination>,
    }

    /// `ListSIPInboundTrunkResponse`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ListSipInboundTrunkResponse {
        /// The trunks.
        #[prost(message, repeated, tag = "1")]
        pub items: Vec<SipInboundTrunkInfo>,
    }

    /// `ListSIPOutboundTrunkResponse`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ListSipOutboundTrunkResponse {
        /// The trunks.
        #[prost(message, repeated, tag = "1")]
        pub items: Vec<SipOutboundTrunkInfo>,
    }

    /// `CreateSIPDispatchRuleRequest` (the rule goes in `dispatch_rule`; the older top-level
    /// fields are not sent).
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct CreateSipDispatchRuleRequest {
        /// The rule (id ignored).
        #[prost(message, optional, tag = "10")]
        pub dispatch_rule: Option<SipDispatchRuleInfo>,
        /// Deprecated top-level form: the rule.
        #[prost(message, optional, tag = "1")]
        #[serde(skip_serializing_if = "Option::is_none")]
        pub rule: Option<SipDispatchRule>,
        /// Deprecated top-level form: trunk ids.
        #[prost(string, repeated, tag = "2")]
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub trunk_ids: Vec<String>,
        /// Deprecated top-level form: name.
        #[prost(string, tag = "4")]
        #[serde(skip_serializing_if = "String::is_empty")]
        pub name: String,
        /// Deprecated top-level form: metadata.
        #[prost(string, tag = "5")]
        #[serde(skip_serializing_if = "String::is_empty")]
        pub metadata: String,
    }

    /// `UpdateSIPDispatchRuleRequest`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct UpdateSipDispatchRuleRequest {
        /// The rule to change.
        #[prost(string, tag = "1")]
        pub sip_dispatch_rule_id: String,
        /// `replace` or `update`.
        #[prost(oneof = "UpdateDispatchAction", tags = "2, 3")]
        #[serde(flatten)]
        pub action: Option<UpdateDispatchAction>,
    }

    /// The `oneof action` of `UpdateSIPDispatchRuleRequest`.
    #[derive(Clone, PartialEq, prost::Oneof, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum UpdateDispatchAction {
        /// Replace the whole rule.
        #[prost(message, tag = "2")]
        Replace(SipDispatchRuleInfo),
        /// Change only the fields that are set.
        #[prost(message, tag = "3")]
        Update(SipDispatchRuleUpdate),
    }

    /// `ListSIPDispatchRuleRequest`.
    #[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ListSipDispatchRuleRequest {
        /// Only these rules, answered in this order (a missing one: an empty item).
        #[prost(string, repeated, tag = "1")]
        pub dispatch_rule_ids: Vec<String>,
        /// Only rules for these trunks (and rules for every trunk).
        #[prost(string, repeated, tag = "2")]
        pub trunk_ids: Vec<String>,
        /// Paging.
        #[prost(message, optional, tag = "3")]
        pub page: Option<Pagination>,
    }

    /// `ListSIPDispatchRuleResponse`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ListSipDispatchRuleResponse {
        /// The rules.
        #[prost(message, repeated, tag = "1")]
        pub items: Vec<SipDispatchRuleInfo>,
    }

    /// `DeleteSIPDispatchRuleRequest`.
    #[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    pub struct DispatchRuleIdRequest {
        /// The rule.
        #[prost(string, tag = "1")]
        pub sip_dispatch_rule_id: String,
    }
}

/// Fields whose values are maps with user keys (never renamed).
const MAP_FIELDS: &[&str] = &["headers", "headers_to_attributes", "attributes_to_headers", "attributes"];

/// Rewrites proto3 JSON field names to the original (snake_case) ones that these types read:
/// proto3 JSON parsers accept both `roomPrefix` and `room_prefix`, and LiveKit's docs use both.
/// Keys inside map fields (SIP headers, attributes) are left alone.
pub fn snake_case_names(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut child) in old {
                let key = to_snake(&k);
                if !MAP_FIELDS.contains(&key.as_str()) {
                    snake_case_names(&mut child);
                }
                m.insert(key, child);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(snake_case_names),
        _ => {}
    }
}

fn to_snake(k: &str) -> String {
    let mut out = String::with_capacity(k.len() + 4);
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rpc::*;
    use super::*;
    use prost::Message;

    /// Parses the fixture's JSON into `T`, checks that it encodes to exactly the bytes the
    /// official Python types made, that those bytes decode back to the same value, and that our
    /// JSON output reads back the same.
    fn check<T: Message + Default + PartialEq + Serialize + serde::de::DeserializeOwned + std::fmt::Debug>(
        case: &serde_json::Value,
    ) -> T {
        let mut json = case["json"].clone();
        snake_case_names(&mut json);
        let parsed: T = serde_json::from_value(json).unwrap_or_else(|e| panic!("{}: {e}", case["message"]));
        let want = hex::decode(case["protobuf_hex"].as_str().unwrap_or_default()).unwrap_or_default();
        assert_eq!(hex::encode(parsed.encode_to_vec()), hex::encode(&want), "{}: protobuf bytes", case["message"]);
        let decoded = T::decode(want.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", case["message"]));
        assert_eq!(decoded, parsed, "{}: decoded", case["message"]);
        let again: T = serde_json::from_value(serde_json::to_value(&parsed).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{}: {e}", case["message"]));
        assert_eq!(again, parsed, "{}: JSON round trip", case["message"]);
        parsed
    }

    #[test]
    fn fixtures_encode_to_the_bytes_of_the_official_types() {
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../../tests/fixtures/livekit/wire.json")).unwrap_or_default();
        assert_eq!(cases.len(), 12, "every fixture is read");
        for case in &cases {
            match case["message"].as_str().unwrap_or_default() {
                "CreateSIPInboundTrunkRequest" => {
                    check::<CreateSipInboundTrunkRequest>(case);
                }
                "CreateSIPOutboundTrunkRequest" => {
                    check::<CreateSipOutboundTrunkRequest>(case);
                }
                "UpdateSIPInboundTrunkRequest" => {
                    let r = check::<UpdateSipInboundTrunkRequest>(case);
                    let Some(UpdateInboundAction::Update(u)) = r.action else { panic!("update form expected") };
                    assert_eq!(u.numbers.map(|n| n.add), Some(vec!["+15105550102".to_string()]));
                }
                "UpdateSIPOutboundTrunkRequest" => {
                    let r = check::<UpdateSipOutboundTrunkRequest>(case);
                    let Some(UpdateOutboundAction::Update(u)) = r.action else { panic!("update form expected") };
                    assert_eq!(u.metadata.as_deref(), Some(""), "an empty optional string is still set");
                    assert_eq!(u.transport, Some(SipTransport::Auto as i32), "a zero optional enum is still set");
                }
                "CreateSIPDispatchRuleRequest" => {
                    let r = check::<CreateSipDispatchRuleRequest>(case);
                    let rule = r.dispatch_rule.and_then(|d| d.rule).and_then(|r| r.rule);
                    assert!(
                        matches!(rule, Some(DispatchRuleKind::DispatchRuleIndividual(ref i)) if i.room_prefix == "call-")
                    );
                }
                "UpdateSIPDispatchRuleRequest" => {
                    check::<UpdateSipDispatchRuleRequest>(case);
                }
                "ListSIPInboundTrunkRequest" => {
                    check::<ListSipTrunkRequest>(case);
                }
                "ListSIPInboundTrunkResponse" => {
                    let r = check::<ListSipInboundTrunkResponse>(case);
                    assert_eq!(r.items[1], SipInboundTrunkInfo::default(), "the nil item");
                }
                "SIPTrunkInfo" => {
                    check::<SipTrunkInfo>(case);
                }
                "SIPDispatchRuleInfo" => {
                    check::<SipDispatchRuleInfo>(case);
                }
                other => panic!("fixture of unknown message {other}"),
            }
        }
    }

    #[test]
    fn durations_use_the_proto3_json_form() {
        assert_eq!(parse_duration("30s"), Some(Duration { seconds: 30, nanos: 0 }));
        assert_eq!(parse_duration("3600.5s"), Some(Duration { seconds: 3600, nanos: 500_000_000 }));
        assert_eq!(parse_duration("-1.25s"), Some(Duration { seconds: -1, nanos: -250_000_000 }));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("1.0000000001s"), None);
        let v = serde_json::to_value(Duration { seconds: 3600, nanos: 500_000_000 }).unwrap_or_default();
        assert_eq!(v, "3600.5s");
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        let t = SipInboundTrunkInfo { auth_password: "hunter2-secret".into(), ..Default::default() };
        let u = SipOutboundTrunkUpdate { auth_password: Some("hunter3-secret".into()), ..Default::default() };
        let req = CreateSipInboundTrunkRequest { trunk: Some(t) };
        for text in [format!("{req:?}"), format!("{u:?}"), format!("{:#?}", req)] {
            assert!(!text.contains("hunter"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }

    #[test]
    fn list_update_applies_like_the_server() {
        let mut l = vec!["a".to_string(), "b".to_string()];
        ListUpdate { add: vec!["c".into(), "a".into()], remove: vec!["b".into()], ..Default::default() }.apply(&mut l);
        assert_eq!(l, ["a", "c"]);
        ListUpdate::set(vec!["x".into()]).apply(&mut l);
        assert_eq!(l, ["x"]);
        ListUpdate::set(vec![]).apply(&mut l);
        assert!(l.is_empty());
    }

    #[test]
    fn map_keys_are_not_renamed() {
        let mut v = serde_json::json!({"trunk": {"authUsername": "u", "headers": {"X-Some": "1", "fooBar": "2"}}});
        snake_case_names(&mut v);
        assert_eq!(v, serde_json::json!({"trunk": {"auth_username": "u", "headers": {"X-Some": "1", "fooBar": "2"}}}));
    }
}
