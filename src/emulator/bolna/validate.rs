//! bolna request validation (API.md §3.5, §3.6, §3.8); the first problem found becomes a 400 Error.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::model::{Gateway, IpIdentifier};

/// A 400 message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bad(pub String);

type Res<T> = Result<T, Bad>;

fn bad<T>(msg: impl Into<String>) -> Res<T> {
    Err(Bad(msg.into()))
}

pub(crate) fn body_object(bytes: &[u8]) -> Res<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => bad("Request body must be a JSON object"),
        Err(_) => bad("Invalid JSON body"),
    }
}

fn opt_str(b: &Map<String, Value>, k: &str) -> Res<Option<String>> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => bad(format!("{k} must be a string")),
    }
}

fn non_empty(b: &Map<String, Value>, k: &str) -> Res<Option<String>> {
    match opt_str(b, k)? {
        Some(s) if s.trim().is_empty() => bad(format!("{k} must not be empty")),
        other => Ok(other),
    }
}

fn opt_bool(b: &Map<String, Value>, k: &str) -> Res<Option<bool>> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(v)) => Ok(Some(*v)),
        Some(_) => bad(format!("{k} must be a boolean")),
    }
}

fn opt_int(b: &Map<String, Value>, k: &str, min: i64) -> Res<Option<i64>> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= min => Ok(Some(n)),
            Some(_) => bad(format!("{k} must be at least {min}")),
            None => bad(format!("{k} must be an integer")),
        },
    }
}

const TRANSPORTS: &[&str] = &["transport-udp", "transport-tcp", "transport-tls"];
const ENCRYPTIONS: &[&str] = &["no", "sdes"];
const AUTH_TYPES: &[&str] = &["userpass", "ip-based"];

fn enumerated(b: &Map<String, Value>, k: &str, allowed: &[&str]) -> Res<Option<String>> {
    let quoted = || allowed.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(_) => bad(format!("{k} must be one of {}", quoted())),
    }
}

fn objects<'a>(b: &'a Map<String, Value>, k: &str) -> Res<Option<&'a [Value]>> {
    match b.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.iter().all(Value::is_object) {
                Ok(Some(items))
            } else {
                bad(format!("each entry of {k} must be an object"))
            }
        }
        Some(_) => bad(format!("{k} must be an array")),
    }
}

fn gateways(b: &Map<String, Value>) -> Res<Option<Vec<Gateway>>> {
    let Some(items) = objects(b, "gateways")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for g in items.iter().filter_map(Value::as_object) {
        let Some(gateway_address) = non_empty(g, "gateway_address")? else {
            return bad("gateway_address is required for each gateway");
        };
        let port = opt_int(g, "port", 1)?.unwrap_or(5060);
        let Ok(port) = u16::try_from(port) else {
            return bad("port must be between 1 and 65535");
        };
        let priority = opt_int(g, "priority", 0)?.unwrap_or(1);
        out.push(Gateway { gateway_address, port, priority });
    }
    Ok(Some(out))
}

fn is_ip_or_cidr(s: &str) -> bool {
    match s.split_once('/') {
        None => s.parse::<IpAddr>().is_ok(),
        Some((ip, len)) => match (ip.parse::<IpAddr>(), len.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(l)) => l <= 32,
            (Ok(IpAddr::V6(_)), Ok(l)) => l <= 128,
            _ => false,
        },
    }
}

fn ip_identifiers(b: &Map<String, Value>) -> Res<Option<Vec<IpIdentifier>>> {
    let Some(items) = objects(b, "ip_identifiers")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for i in items.iter().filter_map(Value::as_object) {
        match opt_str(i, "ip_address")? {
            Some(ip) if is_ip_or_cidr(&ip) => out.push(IpIdentifier { ip_address: ip }),
            Some(ip) => {
                return bad(format!("ip_address '{ip}' must be an IP address or CIDR range"));
            }
            None => return bad("ip_address is required for each IP identifier"),
        }
    }
    Ok(Some(out))
}

fn is_strict_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| (2..=15).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()))
}

/// A DID to add: `{phone_number, name?, e164_check_enabled?}`.
#[derive(Debug, Clone)]
pub(crate) struct NewNumber {
    pub phone_number: String,
    pub name: Option<String>,
}

pub(crate) fn new_number(b: &Map<String, Value>) -> Res<NewNumber> {
    let Some(phone_number) = non_empty(b, "phone_number")? else {
        return bad("phone_number is required");
    };
    if opt_bool(b, "e164_check_enabled")?.unwrap_or(false) && !is_strict_e164(&phone_number) {
        return bad(format!("phone_number '{phone_number}' is not a valid E.164 number"));
    }
    Ok(NewNumber { phone_number, name: opt_str(b, "name")? })
}

/// Fields every create and patch may carry.
#[derive(Debug, Default)]
pub(crate) struct Common {
    pub description: Option<Option<String>>,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub gateways: Option<Vec<Gateway>>,
    pub ip_identifiers: Option<Vec<IpIdentifier>>,
    pub allow: Option<String>,
    pub disallow: Option<String>,
    pub transport: Option<String>,
    pub direct_media: Option<bool>,
    pub rtp_symmetric: Option<bool>,
    pub force_rport: Option<bool>,
    pub ice_support: Option<bool>,
    pub media_encryption: Option<String>,
    pub media_encryption_optimistic: Option<bool>,
    pub qualify_frequency: Option<i64>,
    pub inbound_enabled: Option<bool>,
    pub outbound_leading_plus_enabled: Option<bool>,
    pub is_active: Option<bool>,
}

fn common(b: &Map<String, Value>) -> Res<Common> {
    Ok(Common {
        description: if b.contains_key("description") { Some(opt_str(b, "description")?) } else { None },
        auth_username: non_empty(b, "auth_username")?,
        auth_password: non_empty(b, "auth_password")?,
        gateways: gateways(b)?,
        ip_identifiers: ip_identifiers(b)?,
        allow: non_empty(b, "allow")?,
        disallow: non_empty(b, "disallow")?,
        transport: enumerated(b, "transport", TRANSPORTS)?,
        direct_media: opt_bool(b, "direct_media")?,
        rtp_symmetric: opt_bool(b, "rtp_symmetric")?,
        force_rport: opt_bool(b, "force_rport")?,
        ice_support: opt_bool(b, "ice_support")?,
        media_encryption: enumerated(b, "media_encryption", ENCRYPTIONS)?,
        media_encryption_optimistic: opt_bool(b, "media_encryption_optimistic")?,
        qualify_frequency: opt_int(b, "qualify_frequency", 0)?,
        inbound_enabled: opt_bool(b, "inbound_enabled")?,
        outbound_leading_plus_enabled: opt_bool(b, "outbound_leading_plus_enabled")?,
        is_active: opt_bool(b, "is_active")?,
    })
}

/// `sdes` needs `transport-tls` (checked on the effective values).
pub(crate) fn check_encryption(media_encryption: &str, transport: &str) -> Res<()> {
    if media_encryption == "sdes" && transport != "transport-tls" {
        return bad("media_encryption 'sdes' requires transport 'transport-tls'");
    }
    Ok(())
}

#[derive(Debug)]
pub(crate) struct Create {
    pub name: String,
    pub provider: String,
    pub auth_type: String,
    pub common: Common,
    pub gateways: Vec<Gateway>,
    pub phone_numbers: Vec<NewNumber>,
}

/// `POST /sip-trunks/trunks`, in the order of the guide's validation messages.
pub(crate) fn create(b: &Map<String, Value>) -> Res<Create> {
    let Some(name) = non_empty(b, "name").ok().flatten() else {
        return bad("name is required");
    };
    let Some(provider) = non_empty(b, "provider").ok().flatten() else {
        return bad("provider is required");
    };
    let Some(auth_type) = enumerated(b, "auth_type", AUTH_TYPES).ok().flatten() else {
        return bad("auth_type must be one of 'userpass', 'ip-based'");
    };
    let mut common = common(b)?;
    let Some(gateways) = common.gateways.take().filter(|g| !g.is_empty()) else {
        return bad("At least one gateway is required");
    };
    if auth_type == "userpass" && (common.auth_username.is_none() || common.auth_password.is_none()) {
        return bad("auth_username and auth_password are required for userpass authentication");
    }
    if auth_type == "ip-based" && common.ip_identifiers.as_ref().is_none_or(Vec::is_empty) {
        return bad("At least one IP identifier is required for ip-based authentication");
    }
    check_encryption(
        common.media_encryption.as_deref().unwrap_or("no"),
        common.transport.as_deref().unwrap_or("transport-udp"),
    )?;
    let mut phone_numbers = Vec::new();
    for n in objects(b, "phone_numbers")?.unwrap_or_default().iter().filter_map(Value::as_object) {
        phone_numbers.push(new_number(n)?);
    }
    Ok(Create { name, provider, auth_type, common, gateways, phone_numbers })
}

#[derive(Debug)]
pub(crate) struct Patch {
    pub name: Option<String>,
    pub common: Common,
}

/// `PATCH /sip-trunks/trunks/{id}`: shape checks only; rules that depend on the trunk are the caller's.
pub(crate) fn patch(b: &Map<String, Value>) -> Res<Patch> {
    for k in ["provider", "auth_type"] {
        if b.contains_key(k) {
            return bad(format!("{k} cannot be updated; delete and re-create the trunk"));
        }
    }
    if b.contains_key("phone_numbers") {
        return bad("phone_numbers cannot be updated here; use /sip-trunks/trunks/{trunk_id}/numbers");
    }
    let name = non_empty(b, "name")?;
    Ok(Patch { name, common: common(b)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn userpass() -> Value {
        json!({"name": "t", "provider": "custom", "auth_type": "userpass", "auth_username": "u",
               "auth_password": "p", "gateways": [{"gateway_address": "sip.example"}]})
    }

    #[test]
    fn minimal_userpass_trunk_gets_gateway_defaults() {
        let c = create(&obj(userpass())).map_err(|b| b.0);
        let c = c.as_ref().map(|c| c.gateways.clone());
        assert_eq!(c, Ok(vec![Gateway { gateway_address: "sip.example".into(), port: 5060, priority: 1 }]));
    }

    #[test]
    fn guide_messages_in_order() {
        let cases = [
            ("name", Value::Null, "name is required"),
            ("provider", Value::Null, "provider is required"),
            ("auth_type", json!("digest"), "auth_type must be one of 'userpass', 'ip-based'"),
            ("gateways", json!([]), "At least one gateway is required"),
            ("auth_password", Value::Null, "auth_username and auth_password are required for userpass authentication"),
        ];
        for (field, value, msg) in cases {
            let mut v = userpass();
            v[field] = value;
            assert_eq!(create(&obj(v)).map(|_| ()), Err(Bad(msg.into())), "{field}");
        }
        let mut ip = userpass();
        ip["auth_type"] = json!("ip-based");
        assert_eq!(
            create(&obj(ip)).map(|_| ()),
            Err(Bad("At least one IP identifier is required for ip-based authentication".into()))
        );
    }

    #[test]
    fn media_encryption_is_the_string_no_and_sdes_needs_tls() {
        let mut v = userpass();
        v["media_encryption"] = json!(false);
        assert!(create(&obj(v.clone())).is_err(), "boolean false is not \"no\"");
        v["media_encryption"] = json!("sdes");
        assert!(create(&obj(v.clone())).is_err());
        v["transport"] = json!("transport-tls");
        assert!(create(&obj(v.clone())).is_ok());
        v["transport"] = json!("tls");
        assert!(create(&obj(v)).is_err(), "transport needs its prefix");
    }

    #[test]
    fn ip_identifiers_accept_cidr() {
        let mut v = userpass();
        v["ip_identifiers"] = json!([{"ip_address": "15.207.90.192/31"}]);
        assert!(create(&obj(v.clone())).is_ok());
        v["ip_identifiers"] = json!([{"ip_address": "15.207.90.192/33"}]);
        assert!(create(&obj(v)).is_err());
    }

    #[test]
    fn patch_rejects_provider_and_auth_type() {
        assert!(patch(&obj(json!({"provider": "twilio"}))).is_err());
        assert!(patch(&obj(json!({"auth_type": "userpass"}))).is_err());
        assert!(patch(&obj(json!({"name": "n", "is_active": false}))).is_ok());
    }

    #[test]
    fn e164_check_is_opt_in() {
        assert!(new_number(&obj(json!({"phone_number": "919876543210"}))).is_ok());
        assert!(new_number(&obj(json!({"phone_number": "919876543210", "e164_check_enabled": true}))).is_err());
        assert!(new_number(&obj(json!({"phone_number": "+919876543210", "e164_check_enabled": true}))).is_ok());
    }
}
