//! Spec → desired bolna trunk.

use super::wire::{Desired, DesiredNumber, Gateway, IpIdentifier};
use crate::crd::{AuthType, SipTrunkSpec};

/// Default bolna trunk name: `<namespace>-<name>`, cut to 100 characters.
pub fn default_name(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}").chars().take(100).collect()
}

/// Builds the desired trunk from a spec that passed validation; `marker` is the object's
/// ownership marker, written into the description.
pub fn desired(spec: &SipTrunkSpec, namespace: &str, name: &str, marker: &str) -> Desired {
    let label = spec.display_name.clone().unwrap_or_else(|| name.to_string());
    let b = spec.bolna.as_deref().cloned().unwrap_or_else(|| crate::crd::BolnaSettings {
        name: None,
        provider: "custom".into(),
        gateways: vec![],
        phone_numbers: None,
        allow_codecs: None,
        disallow_codecs: None,
        transport: None,
        media_encryption: None,
        media_encryption_optimistic: None,
        qualify_frequency: None,
        inbound_enabled: None,
        outbound_leading_plus: None,
        active: None,
    });
    let userpass = spec.auth.type_ == AuthType::Credentials;
    let mut gateways: Vec<Gateway> = b
        .gateways
        .iter()
        .map(|g| Gateway {
            gateway_address: g.address.to_ascii_lowercase(),
            port: g.port.into(),
            priority: g.priority.into(),
        })
        .collect();
    gateways.sort_by(|a, b| (a.priority, &a.gateway_address, a.port).cmp(&(b.priority, &b.gateway_address, b.port)));
    let mut ip_identifiers: Vec<IpIdentifier> = if userpass {
        vec![]
    } else {
        spec.auth
            .allowed_inbound_ips
            .iter()
            .flatten()
            .map(|ip| IpIdentifier { ip_address: ip.trim().to_string() })
            .collect()
    };
    ip_identifiers.sort();
    ip_identifiers.dedup();
    Desired {
        name: b.name.clone().unwrap_or_else(|| default_name(namespace, name)),
        provider: b.provider.clone(),
        description: format!("{} managed-by=siptrunk-operator key={marker}", label.trim()),
        auth_type: if userpass { "userpass" } else { "ip-based" },
        auth_username: userpass.then(|| spec.auth.username.clone()),
        gateways,
        ip_identifiers,
        phone_numbers: b
            .phone_numbers
            .iter()
            .flatten()
            .map(|n| DesiredNumber { phone_number: n.number.clone(), name: n.name.clone() })
            .collect(),
        allow: b.allow_codecs.clone(),
        disallow: b.disallow_codecs.clone(),
        transport: b.transport.map(|t| t.as_wire()),
        media_encryption: b.media_encryption.map(|m| m.as_wire()),
        media_encryption_optimistic: b.media_encryption_optimistic,
        qualify_frequency: b.qualify_frequency.map(i64::from),
        inbound_enabled: b.inbound_enabled,
        outbound_leading_plus_enabled: b.outbound_leading_plus,
        is_active: b.active,
    }
}
