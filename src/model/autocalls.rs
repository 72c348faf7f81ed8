//! autocalls.ai / famulor trunks: wire types, the desired trunk built from a spec, and the
//! field-by-field diff that yields a partial update. No I/O.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Applied, Field, Shown, unreliable_differs};

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

/// Every field this family writes, and how autocalls and famulor show it back (API.md §2.2,
/// §2.10, trap 1). The nickname is visible on autocalls and on no famulor page, so it is judged
/// against `status.lastApplied` whenever a response leaves it out.
pub const FIELDS: &[Field] = &[
    Field { wire: "sip_trunk_type", shown: Shown::WriteOnly, on_create: true, on_update: false },
    Field { wire: "phone_number", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "nickname", shown: Shown::Unreliable, on_create: true, on_update: true },
    Field { wire: "sip_username", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "sip_password", shown: Shown::WriteOnly, on_create: true, on_update: true },
    Field { wire: "sip_address", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "sip_calling_format", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "inbound_authorization_type", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "allowed_inbound_ips", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "country_code", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "outbound_proxy", shown: Shown::Visible, on_create: true, on_update: true },
];

/// The values of the unreliably visible fields to record once the provider holds `d`.
pub fn applied_record(d: &Desired) -> Applied {
    Applied::from([("nickname".to_string(), d.nickname.clone())])
}

/// Diff without a record of what was last applied: a nickname the response leaves out is sent.
pub fn diff(desired: &Desired, observed: &Trunk, password: Option<SecretString>) -> Update {
    diff_applied(desired, observed, password, &Applied::new())
}

/// Field-by-field diff. The nickname is compared with the provider's value where the response
/// carries it (`null` is drift) and with `applied` (`status.lastApplied`) where it does not.
pub fn diff_applied(desired: &Desired, observed: &Trunk, password: Option<SecretString>, applied: &Applied) -> Update {
    let mut u = Update { sip_password: password, ..Update::default() };
    if desired.phone_number != observed.phone_number.trim() {
        u.phone_number = Some(desired.phone_number.clone());
    }
    let nickname_differs = match &observed.nickname {
        Some(None) => true,
        Some(Some(n)) => unreliable_differs("nickname", &desired.nickname, Some(n.as_str()), applied),
        None => unreliable_differs("nickname", &desired.nickname, None, applied),
    };
    if nickname_differs {
        u.nickname = Some(Some(desired.nickname.clone()));
    }
    if desired.sip_username != observed.sip_username {
        u.sip_username = Some(desired.sip_username.clone());
    }
    if !desired.sip_address.eq_ignore_ascii_case(observed.sip_address.trim()) {
        u.sip_address = Some(desired.sip_address.clone());
    }
    if desired.sip_calling_format != observed.sip_calling_format {
        u.sip_calling_format = Some(desired.sip_calling_format.to_string());
    }
    let type_changed = desired.inbound_authorization_type != observed.inbound_authorization_type;
    if type_changed {
        u.inbound_authorization_type = Some(desired.inbound_authorization_type.to_string());
    }
    if desired.inbound_authorization_type == "ip" {
        let observed_ips = normalize_ips(observed.allowed_inbound_ips.as_deref().unwrap_or_default());
        if type_changed || observed_ips != desired.allowed_inbound_ips {
            u.allowed_inbound_ips = Some(desired.allowed_inbound_ips.clone());
        }
    }
    // Country: for number trunks the provider may infer another one from the DID (trap 6);
    // correcting it would loop, so only extension trunks are corrected.
    let observed_country = observed.country_code.as_deref().unwrap_or_default();
    if desired.sip_trunk_type == "extension" && !desired.country_code.eq_ignore_ascii_case(observed_country) {
        u.country_code = Some(desired.country_code.clone());
    }
    if desired.outbound_proxy != observed.outbound_proxy {
        u.outbound_proxy = Some(desired.outbound_proxy);
    }
    u
}

/// Spec fields the provider holds differently that `diff` leaves alone, with why. A number
/// trunk's country is the provider's to infer from the DID (trap 6): it is never sent, and a
/// different stored value is reported here instead of being silently ignored.
pub fn not_applied(desired: &Desired, observed: &Trunk) -> Vec<String> {
    let observed_country = observed.country_code.as_deref().unwrap_or_default();
    if desired.sip_trunk_type == "number" && !desired.country_code.eq_ignore_ascii_case(observed_country) {
        return vec![format!(
            "countryCode {}: the provider keeps {:?}, the country it infers from the number; only extension \
             trunks take countryCode",
            desired.country_code, observed_country
        )];
    }
    Vec::new()
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

impl super::RemoteTrunk for Trunk {
    fn id(&self) -> String {
        self.id.to_string()
    }

    fn natural_key(&self) -> String {
        Trunk::natural_key(self)
    }

    fn key_fields(&self) -> &'static str {
        "number, username and address"
    }

    fn marker_text(&self) -> Option<&str> {
        self.nickname.as_ref().map(|n| n.as_deref().unwrap_or_default())
    }

    fn marker_state(&self, marker: &str) -> super::MarkerState {
        match &self.nickname {
            None => super::MarkerState::Unknown,
            Some(Some(n)) if n.split_whitespace().any(|w| w == marker) => super::MarkerState::Ours,
            Some(_) => super::MarkerState::NotOurs,
        }
    }

    fn trunk_ids(&self) -> (Option<String>, Option<String>) {
        (self.inbound_trunk_id.clone(), self.outbound_trunk_id.clone())
    }

    /// famulor's GET omits the nickname its list returns; dropping it would hide our marker (or
    /// a stranger's nickname) from the diff.
    fn with_list_fields(mut self, listed: &Self) -> Self {
        if self.nickname.is_none() {
            self.nickname = listed.nickname.clone();
        }
        self
    }
}

impl super::TrunkChange for Update {
    fn fields(&self) -> Vec<&'static str> {
        self.changed_fields()
    }
}

impl super::DesiredTrunk for Desired {
    type Remote = Trunk;
    type Change = Update;

    fn natural_key(&self) -> String {
        Desired::natural_key(self)
    }

    fn diff_applied(&self, observed: &Trunk, password: Option<SecretString>, applied: &Applied) -> Option<Update> {
        Some(diff_applied(self, observed, password, applied))
    }

    /// famulor may return no nickname at all: an adopted trunk gets the nickname written.
    fn write_marker(&self, change: &mut Update) {
        change.nickname = Some(Some(self.nickname.clone()));
    }

    fn applied_record(&self) -> Applied {
        applied_record(self)
    }

    fn not_applied(&self, observed: &Trunk) -> Vec<String> {
        not_applied(self, observed)
    }
}
