//! autocalls/famulor stored objects (SIP trunks, purchased numbers), their wire views and the re-provisioning rules.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::emulator::state::{Account, TrunkStats, sha256_hex};
use crate::emulator::wire::{ts_micros, voice_trunk_id};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TrunkType {
    Extension,
    Number,
}

impl TrunkType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TrunkType::Extension => "extension",
            TrunkType::Number => "number",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SipTrunk {
    pub id: i64,
    pub trunk_type: TrunkType,
    pub phone_number: String,
    pub nickname: Option<String>,
    pub sip_username: String,
    pub password_sha256: String,
    pub sip_address: String,
    pub sip_calling_format: String,
    pub inbound_authorization_type: String,
    pub allowed_inbound_ips: Option<Vec<String>>,
    pub outbound_proxy: bool,
    pub country_code: String,
    pub inbound_trunk_id: String,
    pub outbound_trunk_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stats: TrunkStats,
}

/// A purchased ("dedicated") number: not a SIP trunk, same id space.
#[derive(Clone, Debug)]
pub(crate) struct Purchased {
    pub id: i64,
    pub phone_number: String,
    pub nickname: Option<String>,
    pub country_code: String,
    pub created_at: DateTime<Utc>,
    pub release_scheduled: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Number {
    Sip(Box<SipTrunk>),
    Purchased(Purchased),
}

impl Number {
    pub(crate) fn as_sip(&self) -> Option<&SipTrunk> {
        match self {
            Number::Sip(t) => Some(t),
            Number::Purchased(_) => None,
        }
    }

    pub(crate) fn id(&self) -> i64 {
        match self {
            Number::Sip(t) => t.id,
            Number::Purchased(p) => p.id,
        }
    }

    pub(crate) fn phone_number(&self) -> &str {
        match self {
            Number::Sip(t) => &t.phone_number,
            Number::Purchased(p) => &p.phone_number,
        }
    }

    pub(crate) fn nickname(&self) -> Option<&str> {
        match self {
            Number::Sip(t) => t.nickname.as_deref(),
            Number::Purchased(p) => p.nickname.as_deref(),
        }
    }

    pub(crate) fn country_code(&self) -> &str {
        match self {
            Number::Sip(t) => &t.country_code,
            Number::Purchased(p) => &p.country_code,
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Number::Sip(_) => "sip",
            Number::Purchased(_) => "normal",
        }
    }

    pub(crate) fn set_nickname(&mut self, nickname: Option<String>, now: DateTime<Utc>) {
        match self {
            Number::Sip(t) => {
                t.nickname = nickname;
                t.updated_at = now;
            }
            Number::Purchased(p) => p.nickname = nickname,
        }
    }

    /// `PUT /user/phone-numbers/{id}` response data.
    pub(crate) fn summary_json(&self) -> Value {
        json!({
            "id": self.id(),
            "phone_number": self.phone_number(),
            "nickname": self.nickname(),
            "country_code": self.country_code(),
            "type": self.type_name(),
        })
    }

    /// `GET /user/phone-numbers/all` item.
    pub(crate) fn all_item_json(&self) -> Value {
        let (label, sms, subscribed, created) = match self {
            Number::Sip(t) => ("SIP Trunk", false, false, t.created_at),
            Number::Purchased(p) => ("Dedicated Number", true, true, p.created_at),
        };
        json!({
            "id": self.id(),
            "phone_number": self.phone_number(),
            "nickname": self.nickname(),
            "country_code": self.country_code(),
            "type": self.type_name(),
            "type_label": label,
            "sms_capable": sms,
            "region": null,
            "has_active_subscription": subscribed,
            "created_at": ts_micros(created),
        })
    }

    /// Test-side view of any number.
    pub(crate) fn stored_json(&self) -> Value {
        let mut v = self.summary_json();
        if let Number::Purchased(p) = self {
            v["release_scheduled"] = json!(p.release_scheduled);
        }
        v
    }
}

pub(crate) fn find_sip<'a>(acct: &'a Account, id: &str) -> Option<&'a SipTrunk> {
    let id: i64 = id.parse().ok()?;
    acct.numbers.get(&id).and_then(Number::as_sip)
}

pub(crate) fn find_sip_mut<'a>(acct: &'a mut Account, id: &str) -> Option<&'a mut SipTrunk> {
    let id: i64 = id.parse().ok()?;
    match acct.numbers.get_mut(&id) {
        Some(Number::Sip(t)) => Some(t),
        _ => None,
    }
}

/// Which response a trunk is rendered for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// List items: no voice-trunk ids.
    List,
    /// Get, create, update: with voice-trunk ids.
    Detail,
}

/// The SIP-trunk object on the wire, fields in the documented order.
#[derive(Serialize)]
pub(crate) struct TrunkOut<'a> {
    id: i64,
    phone_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nickname: Option<Option<&'a str>>,
    sip_username: &'a str,
    sip_address: &'a str,
    sip_calling_format: &'a str,
    inbound_authorization_type: &'a str,
    allowed_inbound_ips: Option<&'a [String]>,
    outbound_proxy: bool,
    country_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inbound_trunk_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outbound_trunk_id: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

impl SipTrunk {
    pub(crate) fn out(&self, view: View, with_nickname: bool) -> TrunkOut<'_> {
        let detail = view == View::Detail;
        TrunkOut {
            id: self.id,
            phone_number: &self.phone_number,
            nickname: with_nickname.then_some(self.nickname.as_deref()),
            sip_username: &self.sip_username,
            sip_address: &self.sip_address,
            sip_calling_format: &self.sip_calling_format,
            inbound_authorization_type: &self.inbound_authorization_type,
            allowed_inbound_ips: self.allowed_inbound_ips.as_deref(),
            outbound_proxy: self.outbound_proxy,
            country_code: &self.country_code,
            inbound_trunk_id: detail.then_some(self.inbound_trunk_id.as_str()),
            outbound_trunk_id: detail.then_some(self.outbound_trunk_id.as_str()),
            created_at: ts_micros(self.created_at),
            updated_at: ts_micros(self.updated_at),
        }
    }

    /// Everything stored, password only as a hash, for assertions and `/_emulator/trunks`.
    pub(crate) fn stored_json(&self) -> Value {
        let mut v = serde_json::to_value(self.out(View::Detail, true)).unwrap_or(Value::Null);
        v["sip_trunk_type"] = json!(self.trunk_type.as_str());
        v["sip_password_sha256"] = json!(self.password_sha256);
        v["stats"] = json!({
            "updates": self.stats.updates,
            "inbound_reprovisions": self.stats.inbound_reprovisions,
            "outbound_reprovisions": self.stats.outbound_reprovisions,
            "password_writes": self.stats.password_writes,
        });
        v
    }

    /// The documented uniqueness key (address compared case-insensitively).
    pub(crate) fn same_triple(&self, phone: &str, user: &str, address: &str) -> bool {
        self.phone_number == phone && self.sip_username == user && self.sip_address.eq_ignore_ascii_case(address)
    }

    /// Apply a partial update and re-provision per the table in API.md §2.6.
    /// `same_value_counts`: a field sent with its current value still counts as changed.
    /// `count`: record the update in `stats` (false for simulated dashboard edits).
    pub(crate) fn apply(
        &mut self,
        c: Changes,
        rng: &mut impl Rng,
        same_value_counts: bool,
        count: bool,
        now: DateTime<Utc>,
    ) {
        fn changed<T: PartialEq>(new: &Option<T>, old: &T, same_counts: bool) -> bool {
            new.as_ref().is_some_and(|n| same_counts || n != old)
        }
        let password_hash = c.sip_password.as_deref().map(sha256_hex);
        let s = same_value_counts;
        let user = changed(&c.sip_username, &self.sip_username, s);
        let pass = changed(&password_hash, &self.password_sha256, s);
        let phone = changed(&c.phone_number, &self.phone_number, s);
        let address = changed(&c.sip_address, &self.sip_address, s);
        let proxy = changed(&c.outbound_proxy, &self.outbound_proxy, s);
        let auth_type = changed(&c.inbound_authorization_type, &self.inbound_authorization_type, s);
        let ips = c.allowed_inbound_ips.as_ref().is_some_and(|n| s || Some(n) != self.allowed_inbound_ips.as_ref());
        let inbound = user || pass || phone || auth_type || ips;
        let outbound = user || pass || phone || address || proxy;

        if let Some(v) = c.phone_number {
            self.phone_number = v;
        }
        if let Some(v) = c.nickname {
            self.nickname = v;
        }
        if let Some(v) = c.sip_username {
            self.sip_username = v;
        }
        if let Some(h) = password_hash {
            self.password_sha256 = h;
        }
        if let Some(v) = c.sip_address {
            self.sip_address = v;
        }
        if let Some(v) = c.sip_calling_format {
            self.sip_calling_format = v;
        }
        if let Some(v) = c.allowed_inbound_ips {
            self.allowed_inbound_ips = Some(v);
        }
        if let Some(v) = c.inbound_authorization_type {
            if v == "auth" {
                // Switching to (or staying on) auth deletes the allow-list.
                self.allowed_inbound_ips = None;
            }
            self.inbound_authorization_type = v;
        }
        if let Some(v) = c.country_code {
            self.country_code = v;
        }
        if let Some(v) = c.outbound_proxy {
            self.outbound_proxy = v;
        }
        if inbound {
            self.inbound_trunk_id = voice_trunk_id(rng);
        }
        if outbound {
            self.outbound_trunk_id = voice_trunk_id(rng);
        }
        self.updated_at = now;
        if count {
            self.stats.updates += 1;
            self.stats.inbound_reprovisions += u32::from(inbound);
            self.stats.outbound_reprovisions += u32::from(outbound);
            self.stats.password_writes += u32::from(c.sip_password.is_some());
        }
    }
}

/// A validated partial update; `None` means "not sent".
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub phone_number: Option<String>,
    pub nickname: Option<Option<String>>,
    pub sip_username: Option<String>,
    pub sip_password: Option<String>,
    pub sip_address: Option<String>,
    pub sip_calling_format: Option<String>,
    pub inbound_authorization_type: Option<String>,
    pub allowed_inbound_ips: Option<Vec<String>>,
    pub country_code: Option<String>,
    pub outbound_proxy: Option<bool>,
}

/// Country of a DID by calling-code prefix, for the `infer_country_from_number` knob.
pub(crate) fn infer_country(number: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("+1", "US"),
        ("+31", "NL"),
        ("+33", "FR"),
        ("+34", "ES"),
        ("+39", "IT"),
        ("+41", "CH"),
        ("+43", "AT"),
        ("+44", "GB"),
        ("+49", "DE"),
        ("+61", "AU"),
        ("+91", "IN"),
    ];
    PREFIXES.iter().filter(|(p, _)| number.starts_with(p)).max_by_key(|(p, _)| p.len()).map(|(_, c)| *c)
}
