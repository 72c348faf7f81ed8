//! The bolna checks of a spec (after the checks common to every family).

use super::wire as bolna;
use crate::controller::validate::{is_host, shown};
use crate::crd::{AuthType, SipTrunkSpec};
use crate::model::marker::user_text_problem;
use crate::provider::family::FieldSink;

/// Reports every bolna problem of `spec` through `err`.
pub fn validate(spec: &SipTrunkSpec, err: FieldSink<'_>) {
    if let Some(problem) = spec.bolna.as_ref().and_then(|b| b.name.as_deref()).and_then(user_text_problem) {
        err("spec.bolna.name", problem.into());
    }
    if spec.auth.type_ == AuthType::Credentials && spec.auth.password_secret_ref.is_none() {
        err("spec.auth.passwordSecretRef", "is required when auth.type is credentials".into());
    }
    match &spec.bolna {
        None => err("spec.bolna", "is required for bolna trunks (at least one gateway)".into()),
        Some(b) => {
            if b.gateways.is_empty() || b.gateways.len() > 10 {
                err("spec.bolna.gateways", "must list 1-10 gateways".into());
            }
            for (i, g) in b.gateways.iter().enumerate() {
                if !is_host(&g.address) {
                    err(
                        &format!("spec.bolna.gateways[{i}].address"),
                        format!("{} is not a host name or IP address", shown(&g.address)),
                    );
                }
                if !(1..=65535).contains(&g.port) {
                    err(&format!("spec.bolna.gateways[{i}].port"), "must be 1-65535".into());
                }
                if b.gateways[..i].iter().any(|h| h.address.eq_ignore_ascii_case(&g.address) && h.port == g.port) {
                    err(&format!("spec.bolna.gateways[{i}]"), "repeats an earlier gateway's address and port".into());
                }
            }
            if b.media_encryption == Some(crate::crd::MediaEncryption::Sdes)
                && b.transport != Some(crate::crd::BolnaTransport::Tls)
            {
                err("spec.bolna.mediaEncryption", "sdes requires transport: tls".into());
            }
            let numbers = b.phone_numbers.as_deref().unwrap_or_default();
            for (i, n) in numbers.iter().enumerate() {
                let digits = bolna::normalize_number(&n.number);
                if !(7..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                    err(
                        &format!("spec.bolna.phoneNumbers[{i}].number"),
                        format!("{} is not an E.164 number", shown(&n.number)),
                    );
                }
                if numbers[..i].iter().any(|m| bolna::normalize_number(&m.number) == digits) {
                    err(
                        &format!("spec.bolna.phoneNumbers[{i}].number"),
                        "is listed twice (numbers compare without +)".into(),
                    );
                }
            }
        }
    }
}
