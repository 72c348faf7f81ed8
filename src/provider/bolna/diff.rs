//! bolna.ai: which fields are compared how, the diff that yields a PATCH (lists sent whole) plus
//! DID additions and removals, and where the marker and natural key live (the model traits).
//! No I/O.

use secrecy::SecretString;

use super::wire::{Change, Desired, Gateway, IpIdentifier, Patch, PhoneNumber, Trunk, normalize_number};
use crate::model::{
    Applied, DesiredTrunk, Field, Held, MarkerState, RemoteTrunk, Shown, TrunkChange, unreliable_differs,
};

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

impl RemoteTrunk for Trunk {
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

impl TrunkChange for Change {
    fn fields(&self) -> Vec<&'static str> {
        self.changed_fields()
    }

    fn without_sub_resources(&mut self) {
        self.add_numbers.clear();
        self.remove_numbers.clear();
    }
}

impl DesiredTrunk for Desired {
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
    fn held_elsewhere(&self, others: &[&Trunk]) -> Vec<Held> {
        let mut held = Vec::new();
        for want in &self.phone_numbers {
            let n = normalize_number(&want.phone_number);
            let holder = others.iter().find_map(|t| {
                (t.name != self.name && t.live_numbers().any(|h| normalize_number(&h.phone_number) == n))
                    .then(|| t.id.clone())
            });
            if let Some(trunk_id) = holder {
                held.push(Held::Did { number: want.phone_number.clone(), trunk_id, field: "spec.bolna.phoneNumbers" });
            }
        }
        held
    }
}
