//! The autocalls/famulor checks of a spec (after the checks common to every family).

use std::net::IpAddr;

use crate::controller::validate::{is_e164, is_host, shown};
use crate::crd::{NumberType, ProviderType, SipTrunkSpec};
use crate::provider::family::FieldSink;

/// Reports every autocalls/famulor problem of `spec` through `err`.
pub fn validate(spec: &SipTrunkSpec, provider: ProviderType, err: FieldSink<'_>) {
    let family = provider.as_str();
    match spec.sip_address.as_deref() {
        None => err("spec.sipAddress", format!("is required for {family} trunks")),
        Some(a) if a.contains(':') && a.parse::<IpAddr>().is_err() => {
            err("spec.sipAddress", format!("{} must not carry a port or scheme; {family} has no port field", shown(a)))
        }
        Some(a) if !is_host(a) => err("spec.sipAddress", format!("{} is not a host name or IP address", shown(a))),
        Some(_) => {}
    }
    let number_type = spec.number_type.unwrap_or_default();
    match spec.phone_number.as_deref() {
        None => err("spec.phoneNumber", format!("is required for {family} trunks")),
        Some(n) if number_type == NumberType::Number && !is_e164(n) => err(
            "spec.phoneNumber",
            format!(
                "{} is not E.164 with a leading + (e.g. +14155551234); use numberType: extension for extensions",
                shown(n)
            ),
        ),
        Some(n) if number_type == NumberType::Extension && !(1..=15).contains(&n.chars().count()) => {
            err("spec.phoneNumber", "an extension must be 1-15 characters".into())
        }
        Some(_) => {}
    }
    match spec.country_code.as_deref() {
        None => err("spec.countryCode", format!("is required for {family} trunks (ISO 3166-1 alpha-2, e.g. US)")),
        Some(c) if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) => err(
            "spec.countryCode",
            format!("{} must be two upper-case letters (ISO 3166-1 alpha-2, e.g. US)", shown(c)),
        ),
        Some(_) => {}
    }
    if spec.auth.password_secret_ref.is_none() {
        err(
            "spec.auth.passwordSecretRef",
            format!("is required for {family} trunks (outbound calls always authenticate with username and password)"),
        );
    }
}
