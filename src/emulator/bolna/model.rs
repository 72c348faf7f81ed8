//! bolna stored objects (trunk, gateway, IP identifier, DID) and their wire form.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::emulator::state::{Account, TrunkStats};
use crate::emulator::wire::ts_seconds;

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts_seconds(*t))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Gateway {
    pub gateway_address: String,
    pub port: u16,
    pub priority: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct IpIdentifier {
    pub ip_address: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct PhoneNumber {
    pub id: String,
    pub phone_number: String,
    pub name: Option<String>,
    pub byot_trunk_id: String,
    pub telephony_provider: &'static str,
    pub deleted: bool,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// A trunk; serialises to the documented Trunk object (never the password).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Trunk {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub description: Option<String>,
    pub auth_type: String,
    /// Present only on `userpass` trunks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    #[serde(skip)]
    pub auth_password_sha256: Option<String>,
    pub gateways: Vec<Gateway>,
    pub ip_identifiers: Vec<IpIdentifier>,
    /// Includes soft-deleted numbers (`deleted: true`).
    pub phone_numbers: Vec<PhoneNumber>,
    pub allow: String,
    pub disallow: String,
    pub transport: String,
    pub direct_media: bool,
    pub rtp_symmetric: bool,
    pub force_rport: bool,
    pub ice_support: bool,
    pub media_encryption: String,
    pub media_encryption_optimistic: bool,
    pub qualify_frequency: i64,
    pub inbound_enabled: bool,
    pub outbound_leading_plus_enabled: bool,
    pub is_active: bool,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub stats: TrunkStats,
}

impl Trunk {
    pub(crate) fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Everything stored, password only as a hash.
    pub(crate) fn stored_json(&self) -> Value {
        let mut v = self.to_json();
        v["auth_password_sha256"] = json!(self.auth_password_sha256);
        v["stats"] = json!({ "updates": self.stats.updates, "password_writes": self.stats.password_writes });
        v
    }

    /// A DID that is not soft-deleted.
    pub(crate) fn has_active_number(&self, number: &str) -> bool {
        self.phone_numbers.iter().any(|p| !p.deleted && p.phone_number == number)
    }

    pub(crate) fn active_numbers(&self) -> usize {
        self.phone_numbers.iter().filter(|p| !p.deleted).count()
    }
}

pub(crate) fn find<'a>(acct: &'a Account, id: &str) -> Option<&'a Trunk> {
    acct.bolna.iter().find(|t| t.id == id)
}
