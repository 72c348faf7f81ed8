//! autocalls.ai / famulor wire types: the trunk as the provider returns it, the desired trunk,
//! the create body and the partial update. No I/O.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A trunk as the provider returns it (list, get, create, update). Every field but `id` is
/// optional so an incomplete item never breaks a list (API.md trap 14/22 spirit).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Trunk {
    /// Server id (also the phone-number id).
    pub id: i64,
    /// Extension or DID.
    #[serde(default)]
    pub phone_number: String,
    /// `None`: field absent (famulor pages, old create); `Some(None)`: null (unset).
    #[serde(default, deserialize_with = "absent_or_null", skip_serializing_if = "Option::is_none")]
    pub nickname: Option<Option<String>>,
    /// SIP username.
    #[serde(default)]
    pub sip_username: String,
    /// SIP host without port.
    #[serde(default)]
    pub sip_address: String,
    /// `+e164`, `e164` or `national`.
    #[serde(default)]
    pub sip_calling_format: String,
    /// `auth` or `ip`.
    #[serde(default)]
    pub inbound_authorization_type: String,
    /// `null` when the type is `auth` (trap 5); treated like `[]`.
    #[serde(default)]
    pub allowed_inbound_ips: Option<Vec<String>>,
    /// Fixed-IP outbound proxy.
    #[serde(default)]
    pub outbound_proxy: bool,
    /// Two-letter country.
    #[serde(default)]
    pub country_code: Option<String>,
    /// Only in get/create/update responses (trap 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_trunk_id: Option<String>,
    /// Only in get/create/update responses (trap 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_trunk_id: Option<String>,
    /// Timestamp, kept as text (trap 23: formats vary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Timestamp, kept as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// `Some(value)` for a present field, including `null` (`Some(None)`); `#[serde(default)]` gives `None` when absent.
pub fn absent_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `{"data": ...}` read envelope.
#[derive(Deserialize, Debug)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
    /// Pagination, should a list ever be paginated (trap 22).
    #[serde(default)]
    pub next_page_url: Option<String>,
}

/// The trunk the spec asks for, in wire terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// `number` or `extension` (create only).
    pub sip_trunk_type: &'static str,
    /// Extension or E.164 DID.
    pub phone_number: String,
    /// Display name plus the ownership marker, at most 50 characters.
    pub nickname: String,
    /// SIP username.
    pub sip_username: String,
    /// Lower-cased SIP host.
    pub sip_address: String,
    /// Calling format wire value.
    pub sip_calling_format: &'static str,
    /// `auth` or `ip`.
    pub inbound_authorization_type: &'static str,
    /// Sorted, de-duplicated; empty unless type is `ip`.
    pub allowed_inbound_ips: Vec<String>,
    /// Two-letter country.
    pub country_code: String,
    /// Fixed-IP outbound proxy.
    pub outbound_proxy: bool,
}

impl Desired {
    /// The provider's uniqueness key: number + username + lower-cased address.
    pub fn natural_key(&self) -> String {
        natural_key(&self.phone_number, &self.sip_username, &self.sip_address)
    }
}

impl Trunk {
    /// The provider's uniqueness key of this trunk.
    pub fn natural_key(&self) -> String {
        natural_key(&self.phone_number, &self.sip_username, &self.sip_address)
    }
}

/// Normalised (number, username, address) triple as one string.
pub fn natural_key(number: &str, username: &str, address: &str) -> String {
    format!("{}|{}|{}", number.trim(), username.trim(), address.trim().to_ascii_lowercase())
}

/// Create body. The password is serialized only into the request, never into Debug output.
#[derive(Serialize)]
pub struct CreateBody<'a> {
    sip_trunk_type: &'a str,
    phone_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nickname: Option<&'a str>,
    sip_username: &'a str,
    #[serde(serialize_with = "expose")]
    sip_password: &'a SecretString,
    sip_address: &'a str,
    sip_calling_format: &'a str,
    inbound_authorization_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_inbound_ips: Option<&'a [String]>,
    country_code: &'a str,
    outbound_proxy: bool,
}

impl<'a> CreateBody<'a> {
    /// Builds the create request; `with_nickname` is false where create ignores it (famulor).
    pub fn new(d: &'a Desired, password: &'a SecretString, with_nickname: bool) -> Self {
        CreateBody {
            sip_trunk_type: d.sip_trunk_type,
            phone_number: &d.phone_number,
            nickname: with_nickname.then_some(d.nickname.as_str()),
            sip_username: &d.sip_username,
            sip_password: password,
            sip_address: &d.sip_address,
            sip_calling_format: d.sip_calling_format,
            inbound_authorization_type: d.inbound_authorization_type,
            allowed_inbound_ips: (d.inbound_authorization_type == "ip").then_some(d.allowed_inbound_ips.as_slice()),
            country_code: &d.country_code,
            outbound_proxy: d.outbound_proxy,
        }
    }
}

impl std::fmt::Debug for CreateBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateBody")
            .field("phone_number", &self.phone_number)
            .field("sip_username", &self.sip_username)
            .field("sip_password", &"[redacted]")
            .field("sip_address", &self.sip_address)
            .finish_non_exhaustive()
    }
}

fn expose<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.expose_secret())
}

fn expose_opt<S: Serializer>(s: &Option<SecretString>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.expose_secret()),
        None => ser.serialize_none(),
    }
}

/// Partial update (PUT with partial semantics, API.md §2.6): only fields that differ.
#[derive(Serialize, Default, Clone)]
pub struct Update {
    /// New number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// New nickname (`Some(None)` clears).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<Option<String>>,
    /// New username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_username: Option<String>,
    /// New password, only when its keyed hash changed.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub sip_password: Option<SecretString>,
    /// New host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_address: Option<String>,
    /// New calling format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_calling_format: Option<String>,
    /// New auth type; switching to `ip` always carries `allowed_inbound_ips` (trap 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_authorization_type: Option<String>,
    /// New allow-list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_inbound_ips: Option<Vec<String>>,
    /// New country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// New proxy flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_proxy: Option<bool>,
}

impl std::fmt::Debug for Update {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update").field("fields", &self.changed_fields()).finish()
    }
}

impl Update {
    /// Names of the fields this update sends (for status, events and logs).
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.phone_number.is_some() {
            v.push("phone_number");
        }
        if self.nickname.is_some() {
            v.push("nickname");
        }
        if self.sip_username.is_some() {
            v.push("sip_username");
        }
        if self.sip_password.is_some() {
            v.push("sip_password");
        }
        if self.sip_address.is_some() {
            v.push("sip_address");
        }
        if self.sip_calling_format.is_some() {
            v.push("sip_calling_format");
        }
        if self.inbound_authorization_type.is_some() {
            v.push("inbound_authorization_type");
        }
        if self.allowed_inbound_ips.is_some() {
            v.push("allowed_inbound_ips");
        }
        if self.country_code.is_some() {
            v.push("country_code");
        }
        if self.outbound_proxy.is_some() {
            v.push("outbound_proxy");
        }
        v
    }

    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        self.changed_fields().is_empty()
    }
}

/// Sorted, de-duplicated, trimmed address list.
pub fn normalize_ips(ips: &[String]) -> Vec<String> {
    let mut v: Vec<String> = ips.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    v.sort();
    v.dedup();
    v
}

/// Infers the trunk type from a stored number (trap 3): a leading + means `number`.
pub fn inferred_type(phone_number: &str) -> &'static str {
    if phone_number.starts_with('+') { "number" } else { "extension" }
}
