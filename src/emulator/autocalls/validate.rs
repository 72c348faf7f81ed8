//! autocalls/famulor request validation with Laravel-style 422 bodies (`{"message", "errors": {field: [..]}}`).

use std::net::IpAddr;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::model::{Changes, TrunkType};
use crate::emulator::wire::json_response;

/// Field errors in the order they were found.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<(String, Vec<String>)>);

impl Errors {
    pub(crate) fn add(&mut self, field: &str, msg: String) {
        match self.0.iter_mut().find(|(f, _)| f == field) {
            Some((_, msgs)) => msgs.push(msg),
            None => self.0.push((field.to_owned(), vec![msg])),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first error, plus "(and N more errors)" like Laravel.
    fn message(&self) -> String {
        let total: usize = self.0.iter().map(|(_, m)| m.len()).sum();
        let first = self.0.first().and_then(|(_, m)| m.first()).cloned().unwrap_or_default();
        match total {
            0 | 1 => first,
            2 => format!("{first} (and 1 more error)"),
            n => format!("{first} (and {} more errors)", n - 1),
        }
    }

    /// 422 `{"message", "errors": {field: [..]}}`.
    pub(crate) fn into_response(self) -> Response {
        let message = self.message();
        let errors: Map<String, Value> = self.0.into_iter().map(|(f, m)| (f, json!(m))).collect();
        json_response(StatusCode::UNPROCESSABLE_ENTITY, json!({ "message": message, "errors": errors }))
    }
}

fn attr(field: &str) -> String {
    field.replace('_', " ")
}

/// The request body as an object; Laravel treats a missing or malformed JSON body as empty input.
pub(crate) fn body_object(bytes: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A present, non-empty string (`""` counts as missing, as Laravel converts it to null).
/// `required`: report a missing value. Returns `None` when missing or invalid.
fn string(body: &Map<String, Value>, field: &str, required: bool, errs: &mut Errors) -> Option<String> {
    match body.get(field) {
        None if !required => None,
        None | Some(Value::Null) => {
            errs.add(field, format!("The {} field is required.", attr(field)));
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            errs.add(field, format!("The {} field is required.", attr(field)));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errs.add(field, format!("The {} field must be a string.", attr(field)));
            None
        }
    }
}

fn length(value: Option<String>, field: &str, min: usize, max: Option<usize>, errs: &mut Errors) -> Option<String> {
    let v = value?;
    let n = v.chars().count();
    let a = attr(field);
    match max {
        Some(max) if min > 1 && (n < min || n > max) => {
            errs.add(field, format!("The {a} field must be between {min} and {max} characters."));
            None
        }
        Some(max) if n > max => {
            errs.add(field, format!("The {a} field must not be greater than {max} characters."));
            None
        }
        _ if n < min => {
            errs.add(field, format!("The {a} field must be at least {min} characters."));
            None
        }
        _ => Some(v),
    }
}

fn one_of(value: Option<String>, field: &str, allowed: &[&str], errs: &mut Errors) -> Option<String> {
    let v = value?;
    if allowed.contains(&v.as_str()) {
        Some(v)
    } else {
        errs.add(field, format!("The selected {} is invalid.", attr(field)));
        None
    }
}

fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// Host or IP without a port or scheme.
fn sip_address(value: Option<String>, errs: &mut Errors) -> Option<String> {
    let v = value?;
    if v.parse::<IpAddr>().is_ok() {
        return Some(v);
    }
    let hostname_ok = |h: &str| {
        !h.is_empty() && h.len() <= 253 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    if v.contains("://") || v.to_ascii_lowercase().starts_with("sip:") {
        errs.add("sip_address", "The sip address field must be a hostname or IP address without scheme.".into());
        return None;
    }
    if let Some((host, _port)) = v.rsplit_once(':') {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if hostname_ok(host) || host.parse::<IpAddr>().is_ok() {
            errs.add("sip_address", "The sip address field must not contain a port.".into());
            return None;
        }
    }
    if hostname_ok(&v) {
        Some(v)
    } else {
        errs.add("sip_address", "The sip address field must be a valid hostname or IP address.".into());
        None
    }
}

fn country(value: Option<String>, errs: &mut Errors) -> Option<String> {
    let v = value?;
    if v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()) {
        Some(v)
    } else {
        errs.add("country_code", "The country code field must be 2 characters.".into());
        None
    }
}

fn boolean(body: &Map<String, Value>, field: &str, errs: &mut Errors) -> Option<bool> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errs.add(field, format!("The {} field must be true or false.", attr(field)));
            None
        }
    }
}

/// `nickname`: nullable string, at most 50 characters; `""` clears it like `null`.
/// Returns `None` when absent, `Some(None)` to clear.
pub(crate) fn nickname(body: &Map<String, Value>, errs: &mut Errors) -> Option<Option<String>> {
    match body.get("nickname") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.is_empty() => Some(None),
        Some(Value::String(s)) if s.chars().count() > 50 => {
            errs.add("nickname", "The nickname field must not be greater than 50 characters.".into());
            None
        }
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            errs.add("nickname", "The nickname field must be a string.".into());
            None
        }
    }
}

/// The allow-list: an array of at least one plain IP address (no CIDR). `Value::Null`/absent → `None`.
fn ip_list(body: &Map<String, Value>, errs: &mut Errors) -> Option<Vec<String>> {
    const F: &str = "allowed_inbound_ips";
    let items = match body.get(F) {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) => items,
        Some(_) => {
            errs.add(F, "The allowed inbound ips field must be an array.".into());
            return None;
        }
    };
    if items.is_empty() {
        errs.add(F, "The allowed inbound ips field must have at least 1 items.".into());
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str().filter(|s| s.parse::<IpAddr>().is_ok()) {
            Some(ip) => out.push(ip.to_owned()),
            None => errs.add(&format!("{F}.{i}"), format!("The {F}.{i} field must be a valid IP address.")),
        }
    }
    (out.len() == items.len()).then_some(out)
}

/// `allowed_inbound_ips` against the effective authorization type: required (≥1) for `ip`, and (our
/// reading of an undocumented case) prohibited as a non-empty list for `auth`.
fn ips_for_type(body: &Map<String, Value>, auth_type: Option<&str>, errs: &mut Errors) -> Option<Vec<String>> {
    const F: &str = "allowed_inbound_ips";
    let sent_empty = matches!(body.get(F), Some(Value::Array(a)) if a.is_empty());
    let sent = !matches!(body.get(F), None | Some(Value::Null));
    match auth_type {
        Some("ip") if !sent => {
            errs.add(F, "The allowed inbound ips field is required when inbound authorization type is ip.".into());
            None
        }
        Some("auth") if sent && !sent_empty => {
            errs.add(F, "The allowed inbound ips field is prohibited unless inbound authorization type is ip.".into());
            None
        }
        Some("auth") => None,
        _ => ip_list(body, errs),
    }
}

const CALLING_FORMATS: &[&str] = &["+e164", "e164", "national"];
const AUTH_TYPES: &[&str] = &["auth", "ip"];

/// A validated create request.
#[derive(Debug)]
pub(crate) struct Create {
    pub trunk_type: TrunkType,
    pub phone_number: String,
    pub nickname: Option<String>,
    pub sip_username: String,
    pub sip_password: String,
    pub sip_address: String,
    pub sip_calling_format: String,
    pub inbound_authorization_type: String,
    pub allowed_inbound_ips: Option<Vec<String>>,
    pub country_code: String,
    pub outbound_proxy: bool,
}

/// The per-field rules shared by create (fields required) and update (every field optional).
struct Fields<'a> {
    body: &'a Map<String, Value>,
    required: bool,
    errs: Errors,
}

impl Fields<'_> {
    fn string(&mut self, field: &str) -> Option<String> {
        string(self.body, field, self.required, &mut self.errs)
    }

    fn sip_username(&mut self) -> Option<String> {
        let v = self.string("sip_username");
        length(v, "sip_username", 3, Some(128), &mut self.errs)
    }

    fn sip_password(&mut self) -> Option<String> {
        let v = self.string("sip_password");
        length(v, "sip_password", 3, None, &mut self.errs)
    }

    fn sip_address(&mut self) -> Option<String> {
        let v = self.string("sip_address");
        sip_address(v, &mut self.errs)
    }

    fn sip_calling_format(&mut self) -> Option<String> {
        let v = self.string("sip_calling_format");
        one_of(v, "sip_calling_format", CALLING_FORMATS, &mut self.errs)
    }

    fn inbound_authorization_type(&mut self) -> Option<String> {
        let v = self.string("inbound_authorization_type");
        one_of(v, "inbound_authorization_type", AUTH_TYPES, &mut self.errs)
    }

    fn allowed_inbound_ips(&mut self, auth_type: Option<&str>) -> Option<Vec<String>> {
        ips_for_type(self.body, auth_type, &mut self.errs)
    }

    fn country_code(&mut self) -> Option<String> {
        let v = self.string("country_code");
        country(v, &mut self.errs)
    }

    fn outbound_proxy(&mut self) -> Option<bool> {
        boolean(self.body, "outbound_proxy", &mut self.errs)
    }

    /// `None` when not accepted (famulor) or not sent.
    fn nickname(&mut self, accept: bool) -> Option<Option<String>> {
        if accept { nickname(self.body, &mut self.errs) } else { None }
    }
}

/// Validate `POST /user/phone-numbers/sip-trunks`. `accept_nickname` is false on famulor (not documented there).
pub(crate) fn create(body: &Map<String, Value>, accept_nickname: bool) -> Result<Create, Errors> {
    let mut f = Fields { body, required: true, errs: Errors::default() };
    let trunk_type = match f.string("sip_trunk_type") {
        Some(t) if t == "extension" => Some(TrunkType::Extension),
        Some(t) if t == "number" => Some(TrunkType::Number),
        Some(_) => {
            f.errs.add("sip_trunk_type", "The selected sip trunk type is invalid.".into());
            None
        }
        None => None,
    };
    let phone = f.string("phone_number");
    let phone = match (trunk_type, phone) {
        (Some(TrunkType::Extension), p) => length(p, "phone_number", 1, Some(15), &mut f.errs),
        (Some(TrunkType::Number), Some(p)) if !is_e164(&p) => {
            let msg = "The phone number field must be a valid E.164 phone number (e.g. +14155551234).";
            f.errs.add("phone_number", msg.into());
            None
        }
        (_, p) => p,
    };
    let nickname = f.nickname(accept_nickname).flatten();
    let user = f.sip_username();
    let pass = f.sip_password();
    let address = f.sip_address();
    let format = f.sip_calling_format();
    let auth = f.inbound_authorization_type();
    let ips = f.allowed_inbound_ips(auth.as_deref());
    let country = f.country_code();
    let proxy = f.outbound_proxy();
    if !f.errs.is_empty() {
        return Err(f.errs);
    }
    let (Some(trunk_type), Some(phone_number), Some(sip_username), Some(sip_password), Some(sip_address)) =
        (trunk_type, phone, user, pass, address)
    else {
        return Err(f.errs);
    };
    let (Some(sip_calling_format), Some(inbound_authorization_type), Some(country_code)) = (format, auth, country)
    else {
        return Err(f.errs);
    };
    Ok(Create {
        trunk_type,
        phone_number,
        nickname,
        sip_username,
        sip_password,
        sip_address,
        sip_calling_format,
        allowed_inbound_ips: if inbound_authorization_type == "ip" { ips } else { None },
        inbound_authorization_type,
        country_code,
        outbound_proxy: proxy.unwrap_or(false),
    })
}

/// Validate `PUT /user/phone-numbers/sip-trunks/{id}` (every field optional) against the trunk's
/// current authorization type. Unknown and non-updatable fields (`sip_trunk_type`) are ignored.
pub(crate) fn update(body: &Map<String, Value>, accept_nickname: bool, current_auth: &str) -> Result<Changes, Errors> {
    let mut f = Fields { body, required: false, errs: Errors::default() };
    // 1–15 characters on update, whatever the trunk type (trap 4).
    let phone = f.string("phone_number");
    let phone_number = length(phone, "phone_number", 1, Some(15), &mut f.errs);
    let nickname = f.nickname(accept_nickname);
    let sip_username = f.sip_username();
    let sip_password = f.sip_password();
    let sip_address = f.sip_address();
    let sip_calling_format = f.sip_calling_format();
    let sent_auth = body.contains_key("inbound_authorization_type");
    let inbound_authorization_type = f.inbound_authorization_type();
    let effective = if sent_auth { inbound_authorization_type.as_deref() } else { Some(current_auth) };
    // Setting the type to ip requires the list in the same request, even when it already is ip.
    let allowed_inbound_ips =
        if sent_auth || body.contains_key("allowed_inbound_ips") { f.allowed_inbound_ips(effective) } else { None };
    let country_code = f.country_code();
    let outbound_proxy = f.outbound_proxy();
    if !f.errs.is_empty() {
        return Err(f.errs);
    }
    Ok(Changes {
        phone_number,
        nickname,
        sip_username,
        sip_password,
        sip_address,
        sip_calling_format,
        inbound_authorization_type,
        allowed_inbound_ips,
        country_code,
        outbound_proxy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn valid() -> Value {
        json!({
            "sip_trunk_type": "extension", "phone_number": "1000", "sip_username": "myuser",
            "sip_password": "secret", "sip_address": "sip.provider.com", "sip_calling_format": "+e164",
            "inbound_authorization_type": "auth", "country_code": "US"
        })
    }

    fn create_errors(v: Value) -> Vec<String> {
        match create(&obj(v), true) {
            Ok(_) => vec![],
            Err(e) => e.0.into_iter().map(|(f, _)| f).collect(),
        }
    }

    #[test]
    fn valid_extension_trunk_passes() {
        assert_eq!(create_errors(valid()), Vec::<String>::new());
    }

    #[test]
    fn address_with_port_is_rejected_but_ipv6_is_not() {
        let mut v = valid();
        v["sip_address"] = json!("sip.provider.com:5060");
        assert_eq!(create_errors(v.clone()), ["sip_address"]);
        v["sip_address"] = json!("10.0.0.1:5060");
        assert_eq!(create_errors(v.clone()), ["sip_address"]);
        v["sip_address"] = json!("2001:db8::1");
        assert_eq!(create_errors(v), Vec::<String>::new());
    }

    #[test]
    fn number_type_needs_e164_with_plus() {
        let mut v = valid();
        v["sip_trunk_type"] = json!("number");
        v["phone_number"] = json!("14155551234");
        assert_eq!(create_errors(v.clone()), ["phone_number"]);
        v["phone_number"] = json!("+14155551234");
        assert_eq!(create_errors(v), Vec::<String>::new());
    }

    #[test]
    fn extension_longer_than_15_is_rejected() {
        let mut v = valid();
        v["phone_number"] = json!("1234567890123456");
        assert_eq!(create_errors(v), ["phone_number"]);
    }

    #[test]
    fn ip_type_needs_plain_ips() {
        let mut v = valid();
        v["inbound_authorization_type"] = json!("ip");
        assert_eq!(create_errors(v.clone()), ["allowed_inbound_ips"]);
        v["allowed_inbound_ips"] = json!([]);
        assert_eq!(create_errors(v.clone()), ["allowed_inbound_ips"]);
        v["allowed_inbound_ips"] = json!(["203.0.113.0/24"]);
        assert_eq!(create_errors(v.clone()), ["allowed_inbound_ips.0"]);
        v["allowed_inbound_ips"] = json!([{}]);
        assert_eq!(create_errors(v.clone()), ["allowed_inbound_ips.0"]);
        v["allowed_inbound_ips"] = json!(["203.0.113.7"]);
        assert_eq!(create_errors(v), Vec::<String>::new());
    }

    #[test]
    fn username_length_bounds() {
        let mut v = valid();
        v["sip_username"] = json!("ab");
        assert_eq!(create_errors(v.clone()), ["sip_username"]);
        v["sip_username"] = json!("a".repeat(129));
        assert_eq!(create_errors(v), ["sip_username"]);
    }

    #[test]
    fn update_to_ip_without_list_is_rejected_and_to_auth_is_not() {
        let e = update(&obj(json!({"inbound_authorization_type": "ip"})), true, "auth");
        assert!(e.is_err());
        let ok = update(&obj(json!({"inbound_authorization_type": "auth"})), true, "ip");
        assert!(ok.is_ok());
    }

    #[test]
    fn update_phone_number_limit_is_15_characters() {
        assert!(update(&obj(json!({"phone_number": "+123456789012345"})), true, "auth").is_err());
        assert!(update(&obj(json!({"phone_number": "+12345678901234"})), true, "auth").is_ok());
    }

    #[test]
    fn message_counts_more_errors_like_laravel() {
        let mut e = Errors::default();
        e.add("a", "first".into());
        e.add("b", "second".into());
        assert_eq!(e.message(), "first (and 1 more error)");
        e.add("b", "third".into());
        assert_eq!(e.message(), "first (and 2 more errors)");
    }
}
