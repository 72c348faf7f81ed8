//! Spec → desired autocalls/famulor trunk.

use super::wire::{Desired, normalize_ips};
use crate::crd::{AuthType, CallingFormat, NumberType, SipTrunkSpec};

/// Builds the desired trunk from a spec that passed validation; `marker` is the object's
/// ownership marker, written after the display name in the nickname.
pub fn desired(spec: &SipTrunkSpec, name: &str, marker: &str) -> Desired {
    let label = spec.display_name.clone().unwrap_or_else(|| name.to_string());
    let label: String = label.chars().take(50 - marker.len() - 1).collect();
    let ip = spec.auth.type_ == AuthType::Ip;
    Desired {
        sip_trunk_type: match spec.number_type.unwrap_or_default() {
            NumberType::Number => "number",
            NumberType::Extension => "extension",
        },
        phone_number: spec.phone_number.clone().unwrap_or_default(),
        nickname: format!("{} {marker}", label.trim()),
        sip_username: spec.auth.username.clone(),
        sip_address: spec.sip_address.clone().unwrap_or_default().to_ascii_lowercase(),
        sip_calling_format: spec.calling_format.unwrap_or(CallingFormat::PlusE164).as_str(),
        inbound_authorization_type: if ip { "ip" } else { "auth" },
        allowed_inbound_ips: if ip {
            normalize_ips(spec.auth.allowed_inbound_ips.as_deref().unwrap_or_default())
        } else {
            Vec::new()
        },
        country_code: spec.country_code.clone().unwrap_or_default(),
        outbound_proxy: spec.outbound_proxy.unwrap_or(false),
    }
}
