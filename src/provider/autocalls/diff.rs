//! autocalls.ai / famulor: which fields are compared how, the field-by-field diff that yields a
//! partial update, and where the marker and natural key live (the model traits). No I/O.

use secrecy::SecretString;

use super::wire::{Desired, Trunk, Update, normalize_ips};
use crate::model::{Applied, DesiredTrunk, Field, MarkerState, RemoteTrunk, Shown, TrunkChange, unreliable_differs};

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

impl RemoteTrunk for Trunk {
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

    fn marker_state(&self, marker: &str) -> MarkerState {
        match &self.nickname {
            None => MarkerState::Unknown,
            Some(Some(n)) if n.split_whitespace().any(|w| w == marker) => MarkerState::Ours,
            Some(_) => MarkerState::NotOurs,
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

impl TrunkChange for Update {
    fn fields(&self) -> Vec<&'static str> {
        self.changed_fields()
    }
}

impl DesiredTrunk for Desired {
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
