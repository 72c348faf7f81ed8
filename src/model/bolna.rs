//! bolna.ai trunks: wire types, the desired trunk, and the diff that yields a PATCH (lists sent
//! whole) plus DID additions and removals. No I/O.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::{Applied, Field, MarkerState, Shown, unreliable_differs};

/// Every field this family writes, and how bolna shows it back (API.md §3.2-3.6, trap 14, and
/// the list reference page, which carries no `media_encryption` or
/// `media_encryption_optimistic`; the update page's example response has no `auth_type` or
/// `transport`). Unreliably visible fields are judged against `status.lastApplied` whenever a
/// response leaves them out. `is_active` is not in the create page's body: it is set by a PATCH
/// after the create, in the same reconcile.
pub const FIELDS: &[Field] = &[
    Field { wire: "name", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "provider", shown: Shown::Visible, on_create: true, on_update: false },
    Field { wire: "description", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "auth_type", shown: Shown::Unreliable, on_create: true, on_update: false },
    Field { wire: "auth_username", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "auth_password", shown: Shown::WriteOnly, on_create: true, on_update: true },
    Field { wire: "gateways", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "ip_identifiers", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "phone_numbers", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "allow", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "disallow", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "transport", shown: Shown::Unreliable, on_create: true, on_update: true },
    Field { wire: "media_encryption", shown: Shown::Unreliable, on_create: true, on_update: true },
    Field { wire: "media_encryption_optimistic", shown: Shown::Unreliable, on_create: true, on_update: true },
    Field { wire: "qualify_frequency", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "inbound_enabled", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "outbound_leading_plus_enabled", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "is_active", shown: Shown::Visible, on_create: false, on_update: true },
];

/// The values of the unreliably visible fields to record once the provider holds `d` (only
/// those the spec sets; `auth_type` cannot change in place and is not compared).
pub fn applied_record(d: &Desired) -> Applied {
    let mut a = Applied::new();
    if let Some(t) = d.transport {
        a.insert("transport".into(), t.to_string());
    }
    if let Some(m) = d.media_encryption {
        a.insert("media_encryption".into(), m.to_string());
    }
    if let Some(o) = d.media_encryption_optimistic {
        a.insert("media_encryption_optimistic".into(), o.to_string());
    }
    a
}

/// A gateway as sent and returned (extra fields such as `id` are ignored: trap 14).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gateway {
    /// Host or IP.
    pub gateway_address: String,
    /// SIP port.
    #[serde(default = "default_port")]
    pub port: i64,
    /// Lower is preferred.
    #[serde(default = "default_priority")]
    pub priority: i64,
}

fn default_port() -> i64 {
    5060
}
fn default_priority() -> i64 {
    1
}

/// An IP identifier (IPv4 or CIDR).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpIdentifier {
    /// Address or range.
    pub ip_address: String,
}

/// A DID on a trunk.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct PhoneNumber {
    /// Phone-number id.
    #[serde(default)]
    pub id: String,
    /// Stored exactly as submitted.
    #[serde(default)]
    pub phone_number: String,
    /// Optional label.
    #[serde(default)]
    pub name: Option<String>,
    /// Soft-delete flag (trap 17).
    #[serde(default)]
    pub deleted: bool,
}

/// A trunk as bolna returns it. Every field but `id` optional; unknown fields ignored.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Trunk {
    /// Opaque string id.
    pub id: String,
    /// Unique per account.
    #[serde(default)]
    pub name: String,
    /// Carrier label.
    #[serde(default)]
    pub provider: Option<String>,
    /// Free text; carries our marker.
    #[serde(default)]
    pub description: Option<String>,
    /// `userpass` or `ip-based` (missing from some responses: trap 14).
    #[serde(default)]
    pub auth_type: Option<String>,
    /// Only on userpass trunks.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// Gateways.
    #[serde(default)]
    pub gateways: Vec<Gateway>,
    /// IP identifiers.
    #[serde(default)]
    pub ip_identifiers: Vec<IpIdentifier>,
    /// DIDs, possibly including soft-deleted ones; some list responses carry a count instead.
    #[serde(default, deserialize_with = "numbers_or_count")]
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Allowed codecs.
    #[serde(default)]
    pub allow: Option<String>,
    /// Disallowed codecs.
    #[serde(default)]
    pub disallow: Option<String>,
    /// `transport-udp|tcp|tls`.
    #[serde(default)]
    pub transport: Option<String>,
    /// `"no"` or `"sdes"` (a string, trap 15); tolerate a boolean false.
    #[serde(default, deserialize_with = "string_or_bool")]
    pub media_encryption: Option<String>,
    /// Optimistic SRTP.
    #[serde(default)]
    pub media_encryption_optimistic: Option<bool>,
    /// Keep-alive seconds.
    #[serde(default)]
    pub qualify_frequency: Option<i64>,
    /// Inbound calls accepted.
    #[serde(default)]
    pub inbound_enabled: Option<bool>,
    /// Leading + on outbound.
    #[serde(default)]
    pub outbound_leading_plus_enabled: Option<bool>,
    /// In service.
    #[serde(default)]
    pub is_active: Option<bool>,
}

fn numbers_or_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<PhoneNumber>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(_) => serde_json::from_value(v).map_err(serde::de::Error::custom)?,
        _ => None,
    })
}

fn string_or_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(false) => Some("no".into()),
        serde_json::Value::Bool(true) => Some("sdes".into()),
        _ => None,
    })
}

impl Trunk {
    /// bolna's uniqueness key: the name.
    pub fn natural_key(&self) -> String {
        self.name.clone()
    }

    /// Our marker lives in the description as a `key=<marker>` token.
    pub fn marker_state(&self, marker: &str) -> MarkerState {
        match &self.description {
            None => MarkerState::NotOurs,
            Some(d) if d.split_whitespace().any(|w| w.strip_prefix("key=") == Some(marker)) => MarkerState::Ours,
            Some(_) => MarkerState::NotOurs,
        }
    }

    /// Live (not soft-deleted) DIDs.
    pub fn live_numbers(&self) -> impl Iterator<Item = &PhoneNumber> {
        self.phone_numbers.iter().flatten().filter(|n| !n.deleted)
    }
}

/// Compares numbers without their leading + (trap 17).
pub fn normalize_number(n: &str) -> String {
    n.trim().trim_start_matches('+').to_string()
}

/// A desired DID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DesiredNumber {
    /// As the user wrote it.
    pub phone_number: String,
    /// Label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The trunk the spec asks for, in wire terms. Optional settings left unset in the spec are
/// `None` and never diffed (the provider default stands).
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Unique name.
    pub name: String,
    /// Carrier label (create only).
    pub provider: String,
    /// Description with the marker token.
    pub description: String,
    /// `userpass` or `ip-based` (create only).
    pub auth_type: &'static str,
    /// Username on userpass trunks.
    pub auth_username: Option<String>,
    /// Gateways, sorted by priority then address.
    pub gateways: Vec<Gateway>,
    /// Sorted IP identifiers.
    pub ip_identifiers: Vec<IpIdentifier>,
    /// DIDs.
    pub phone_numbers: Vec<DesiredNumber>,
    /// Allowed codecs.
    pub allow: Option<String>,
    /// Disallowed codecs.
    pub disallow: Option<String>,
    /// Transport wire value.
    pub transport: Option<&'static str>,
    /// Media encryption wire value.
    pub media_encryption: Option<&'static str>,
    /// Optimistic SRTP.
    pub media_encryption_optimistic: Option<bool>,
    /// Keep-alive seconds.
    pub qualify_frequency: Option<i64>,
    /// Inbound enabled.
    pub inbound_enabled: Option<bool>,
    /// Leading plus.
    pub outbound_leading_plus_enabled: Option<bool>,
    /// Active flag.
    pub is_active: Option<bool>,
}

impl Desired {
    /// bolna's uniqueness key.
    pub fn natural_key(&self) -> String {
        self.name.clone()
    }
}

fn expose_opt<S: Serializer>(s: &Option<SecretString>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(s.expose_secret()),
        None => ser.serialize_none(),
    }
}

/// Create body; `auth_password` serialized only into the request.
#[derive(Serialize)]
pub struct CreateBody<'a> {
    name: &'a str,
    provider: &'a str,
    description: &'a str,
    auth_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    auth_password: Option<SecretString>,
    gateways: &'a [Gateway],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ip_identifiers: &'a [IpIdentifier],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    phone_numbers: &'a [DesiredNumber],
    #[serde(skip_serializing_if = "Option::is_none")]
    allow: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disallow: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_encryption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_encryption_optimistic: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qualify_frequency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inbound_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outbound_leading_plus_enabled: Option<bool>,
}

impl<'a> CreateBody<'a> {
    /// Builds the create request: only fields the create page documents (`is_active` is not
    /// one; the diff after the create sets it).
    pub fn new(d: &'a Desired, password: Option<SecretString>) -> Self {
        CreateBody {
            name: &d.name,
            provider: &d.provider,
            description: &d.description,
            auth_type: d.auth_type,
            auth_username: d.auth_username.as_deref(),
            auth_password: if d.auth_type == "userpass" { password } else { None },
            gateways: &d.gateways,
            ip_identifiers: &d.ip_identifiers,
            phone_numbers: &d.phone_numbers,
            allow: d.allow.as_deref(),
            disallow: d.disallow.as_deref(),
            transport: d.transport,
            media_encryption: d.media_encryption,
            media_encryption_optimistic: d.media_encryption_optimistic,
            qualify_frequency: d.qualify_frequency,
            inbound_enabled: d.inbound_enabled,
            outbound_leading_plus_enabled: d.outbound_leading_plus_enabled,
        }
    }
}

impl std::fmt::Debug for CreateBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateBody")
            .field("name", &self.name)
            .field("auth_password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// PATCH body: only changed fields; lists whole (API.md §3.6).
#[derive(Serialize, Default, Clone)]
pub struct Patch {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    /// New password (keyed hash changed).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub auth_password: Option<SecretString>,
    /// Whole gateway list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<Vec<Gateway>>,
    /// Whole identifier list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_identifiers: Option<Vec<IpIdentifier>>,
    /// Codecs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
    /// Codecs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disallow: Option<String>,
    /// Transport.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Media encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_encryption: Option<String>,
    /// Optimistic SRTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_encryption_optimistic: Option<bool>,
    /// Keep-alive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualify_frequency: Option<i64>,
    /// Inbound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_enabled: Option<bool>,
    /// Leading plus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_leading_plus_enabled: Option<bool>,
    /// Active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// Everything a bolna update does: one PATCH and DID calls.
#[derive(Clone, Default)]
pub struct Change {
    /// Fields for the PATCH (empty: no PATCH).
    pub patch: Patch,
    /// DIDs to add.
    pub add_numbers: Vec<DesiredNumber>,
    /// Phone-number ids to remove, with the number for messages.
    pub remove_numbers: Vec<(String, String)>,
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Change").field("fields", &self.changed_fields()).finish()
    }
}

impl Patch {
    fn fields(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let p = self;
        if p.name.is_some() {
            v.push("name");
        }
        if p.description.is_some() {
            v.push("description");
        }
        if p.auth_username.is_some() {
            v.push("auth_username");
        }
        if p.auth_password.is_some() {
            v.push("auth_password");
        }
        if p.gateways.is_some() {
            v.push("gateways");
        }
        if p.ip_identifiers.is_some() {
            v.push("ip_identifiers");
        }
        if p.allow.is_some() {
            v.push("allow");
        }
        if p.disallow.is_some() {
            v.push("disallow");
        }
        if p.transport.is_some() {
            v.push("transport");
        }
        if p.media_encryption.is_some() {
            v.push("media_encryption");
        }
        if p.media_encryption_optimistic.is_some() {
            v.push("media_encryption_optimistic");
        }
        if p.qualify_frequency.is_some() {
            v.push("qualify_frequency");
        }
        if p.inbound_enabled.is_some() {
            v.push("inbound_enabled");
        }
        if p.outbound_leading_plus_enabled.is_some() {
            v.push("outbound_leading_plus_enabled");
        }
        if p.is_active.is_some() {
            v.push("is_active");
        }
        v
    }

    /// True when no PATCH is needed.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

impl Change {
    /// Names of everything this change touches.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut v = self.patch.fields();
        if !self.add_numbers.is_empty() || !self.remove_numbers.is_empty() {
            v.push("phone_numbers");
        }
        v
    }
}

fn sorted_gateways(g: &[Gateway]) -> Vec<Gateway> {
    let mut v: Vec<Gateway> = g
        .iter()
        .map(|g| Gateway {
            gateway_address: g.gateway_address.trim().to_ascii_lowercase(),
            port: g.port,
            priority: g.priority,
        })
        .collect();
    v.sort_by(|a, b| (a.priority, &a.gateway_address, a.port).cmp(&(b.priority, &b.gateway_address, b.port)));
    v
}

fn sorted_ips(ips: &[IpIdentifier]) -> Vec<String> {
    let mut v: Vec<String> = ips.iter().map(|i| i.ip_address.trim().to_string()).collect();
    v.sort();
    v.dedup();
    v
}

/// Diff without a record of what was last applied: unreliably visible fields the response
/// leaves out are sent.
pub fn diff(d: &Desired, o: &Trunk, password: Option<SecretString>) -> Change {
    diff_applied(d, o, password, &Applied::new())
}

/// Field-by-field diff. Unset optional settings are not compared; lists compare as sets;
/// unreliably visible fields are compared with the provider's value where the response carries
/// it and with `applied` (`status.lastApplied`) where it does not.
pub fn diff_applied(d: &Desired, o: &Trunk, password: Option<SecretString>, applied: &Applied) -> Change {
    let mut p = Patch::default();
    if d.name != o.name {
        p.name = Some(d.name.clone());
    }
    if o.description.as_deref() != Some(d.description.as_str()) {
        p.description = Some(d.description.clone());
    }
    if d.auth_type == "userpass" {
        if let Some(u) = &d.auth_username
            && o.auth_username.as_deref() != Some(u.as_str())
        {
            p.auth_username = Some(u.clone());
        }
        p.auth_password = password;
    }
    if sorted_gateways(&d.gateways) != sorted_gateways(&o.gateways) {
        p.gateways = Some(d.gateways.clone());
    }
    if d.auth_type == "ip-based" && sorted_ips(&d.ip_identifiers) != sorted_ips(&o.ip_identifiers) {
        p.ip_identifiers = Some(d.ip_identifiers.clone());
    }
    let differs = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_some_and(|w| have.as_deref().map(str::trim) != Some(w.as_str()))
    };
    if differs(&d.allow, &o.allow) {
        p.allow = d.allow.clone();
    }
    if differs(&d.disallow, &o.disallow) {
        p.disallow = d.disallow.clone();
    }
    if let Some(t) = d.transport
        && unreliable_differs("transport", t, o.transport.as_deref(), applied)
    {
        p.transport = Some(t.to_string());
    }
    if let Some(m) = d.media_encryption
        && unreliable_differs("media_encryption", m, o.media_encryption.as_deref(), applied)
    {
        p.media_encryption = Some(m.to_string());
    }
    if let Some(opt) = d.media_encryption_optimistic {
        let shown = o.media_encryption_optimistic.map(|b| b.to_string());
        if unreliable_differs("media_encryption_optimistic", &opt.to_string(), shown.as_deref(), applied) {
            p.media_encryption_optimistic = Some(opt);
        }
    }
    macro_rules! scalar {
        ($field:ident, $obs:ident) => {
            if d.$field.is_some() && d.$field != o.$obs {
                p.$field = d.$field;
            }
        };
    }
    scalar!(qualify_frequency, qualify_frequency);
    scalar!(inbound_enabled, inbound_enabled);
    scalar!(outbound_leading_plus_enabled, outbound_leading_plus_enabled);
    scalar!(is_active, is_active);

    let live: Vec<&PhoneNumber> = o.live_numbers().collect();
    let add_numbers = d
        .phone_numbers
        .iter()
        .filter(|want| {
            !live.iter().any(|have| normalize_number(&have.phone_number) == normalize_number(&want.phone_number))
        })
        .cloned()
        .collect();
    let remove_numbers = live
        .iter()
        .filter(|have| {
            !d.phone_numbers
                .iter()
                .any(|want| normalize_number(&want.phone_number) == normalize_number(&have.phone_number))
        })
        .map(|have| (have.id.clone(), have.phone_number.clone()))
        .collect();
    Change { patch: p, add_numbers, remove_numbers }
}

impl super::RemoteTrunk for Trunk {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn natural_key(&self) -> String {
        Trunk::natural_key(self)
    }

    fn key_fields(&self) -> &'static str {
        "name"
    }

    fn marker_text(&self) -> Option<&str> {
        Some(self.description.as_deref().unwrap_or_default())
    }

    fn marker_state(&self, marker: &str) -> MarkerState {
        Trunk::marker_state(self, marker)
    }
}

impl super::TrunkChange for Change {
    fn fields(&self) -> Vec<&'static str> {
        self.changed_fields()
    }

    fn without_sub_resources(&mut self) {
        self.add_numbers.clear();
        self.remove_numbers.clear();
    }
}

impl super::DesiredTrunk for Desired {
    type Remote = Trunk;
    type Change = Change;

    fn natural_key(&self) -> String {
        Desired::natural_key(self)
    }

    fn diff_applied(&self, observed: &Trunk, password: Option<SecretString>, applied: &Applied) -> Option<Change> {
        Some(diff_applied(self, observed, password, applied))
    }

    /// The description is always returned, so the diff already writes the marker.
    fn write_marker(&self, _change: &mut Change) {}

    fn applied_record(&self) -> Applied {
        applied_record(self)
    }

    /// DIDs of this trunk live on another trunk of the account (a trunk of another name).
    fn held_elsewhere(&self, others: &[&Trunk]) -> Vec<super::Held> {
        let mut held = Vec::new();
        for want in &self.phone_numbers {
            let n = normalize_number(&want.phone_number);
            let holder = others.iter().find_map(|t| {
                (t.name != self.name && t.live_numbers().any(|h| normalize_number(&h.phone_number) == n))
                    .then(|| t.id.clone())
            });
            if let Some(trunk_id) = holder {
                held.push(super::Held::Did { number: want.phone_number.clone(), trunk_id });
            }
        }
        held
    }
}
