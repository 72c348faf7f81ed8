//! The LiveKit emulator's in-memory project: inbound and outbound trunks and dispatch rules,
//! with the server's validation as far as the protocol documents it (and the hostile reading
//! where it does not). Pure: no I/O; every operation answers a message or a Twirp error.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::provider::livekit::wire::rpc::*;
use crate::provider::livekit::wire::*;

/// A Twirp error: code (`not_found`, `invalid_argument`, ...) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwirpError {
    /// Twirp code.
    pub code: &'static str,
    /// Message.
    pub msg: String,
}

impl TwirpError {
    /// A Twirp error with this code and message.
    pub fn new(code: &'static str, msg: impl Into<String>) -> Self {
        TwirpError { code, msg: msg.into() }
    }

    /// The HTTP status Twirp uses for the code.
    pub fn status(&self) -> u16 {
        match self.code {
            "invalid_argument" | "malformed" | "out_of_range" => 400,
            "unauthenticated" => 401,
            "permission_denied" => 403,
            "not_found" | "bad_route" => 404,
            "already_exists" | "aborted" => 409,
            "failed_precondition" => 412,
            "resource_exhausted" => 429,
            "unimplemented" => 501,
            "unavailable" => 503,
            "canceled" | "deadline_exceeded" => 408,
            _ => 500,
        }
    }
}

fn invalid(msg: impl Into<String>) -> TwirpError {
    TwirpError::new("invalid_argument", msg)
}

fn not_found(what: &str, id: &str) -> TwirpError {
    TwirpError::new("not_found", format!("{what} {id:?} not found"))
}

/// One LiveKit project.
pub struct Project {
    inbound: BTreeMap<String, SipInboundTrunkInfo>,
    outbound: BTreeMap<String, SipOutboundTrunkInfo>,
    rules: BTreeMap<String, SipDispatchRuleInfo>,
    rng: StdRng,
}

const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Project {
    /// An empty project; ids are drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Project {
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            rules: BTreeMap::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x11fe_c11f),
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        loop {
            let tail: String = (0..12).map(|_| ID_CHARS[self.rng.random_range(0..ID_CHARS.len())] as char).collect();
            let id = format!("{prefix}{tail}");
            if !self.inbound.contains_key(&id) && !self.outbound.contains_key(&id) && !self.rules.contains_key(&id) {
                return id;
            }
        }
    }

    /// Inbound trunks (passwords included: callers of the inspection API hash them).
    pub fn inbound(&self) -> impl Iterator<Item = &SipInboundTrunkInfo> {
        self.inbound.values()
    }

    /// Outbound trunks.
    pub fn outbound(&self) -> impl Iterator<Item = &SipOutboundTrunkInfo> {
        self.outbound.values()
    }

    /// Dispatch rules.
    pub fn rules(&self) -> impl Iterator<Item = &SipDispatchRuleInfo> {
        self.rules.values()
    }

    /// Test hook: stores a trunk as someone else made it (at the console or with another tool),
    /// without validation; inbound when `inbound`. Returns its new `ST_` id.
    pub fn seed_trunk(&mut self, inbound: bool, trunk: serde_json::Value) -> Result<String, TwirpError> {
        let id = self.new_id("ST_");
        let bad = |e: serde_json::Error| invalid(format!("seed trunk: {e}"));
        if inbound {
            let t: SipInboundTrunkInfo = serde_json::from_value(trunk).map_err(bad)?;
            self.inbound.insert(id.clone(), SipInboundTrunkInfo { sip_trunk_id: id.clone(), ..t });
        } else {
            let t: SipOutboundTrunkInfo = serde_json::from_value(trunk).map_err(bad)?;
            self.outbound.insert(id.clone(), SipOutboundTrunkInfo { sip_trunk_id: id.clone(), ..t });
        }
        Ok(id)
    }

    /// Test hook: someone edits the trunk `id` (either kind) behind the operator's back. The
    /// fields of `patch` (wire names) replace the stored ones, without validation; the id stays.
    pub fn edit_trunk(&mut self, id: &str, patch: &serde_json::Value) -> Result<(), TwirpError> {
        fn merged<T: Serialize + DeserializeOwned>(t: &T, patch: &serde_json::Value) -> Result<T, TwirpError> {
            let mut v = serde_json::to_value(t).map_err(|e| invalid(format!("edit trunk: {e}")))?;
            if let (Some(m), Some(p)) = (v.as_object_mut(), patch.as_object()) {
                for (k, x) in p {
                    m.insert(k.clone(), x.clone());
                }
            }
            serde_json::from_value(v).map_err(|e| invalid(format!("edit trunk: {e}")))
        }
        if let Some(t) = self.inbound.get(id) {
            let n = SipInboundTrunkInfo { sip_trunk_id: id.to_string(), ..merged(t, patch)? };
            self.inbound.insert(id.to_string(), n);
        } else if let Some(t) = self.outbound.get(id) {
            let n = SipOutboundTrunkInfo { sip_trunk_id: id.to_string(), ..merged(t, patch)? };
            self.outbound.insert(id.to_string(), n);
        } else {
            return Err(not_found("SIP trunk", id));
        }
        Ok(())
    }

    /// `CreateSIPInboundTrunk`.
    pub fn create_inbound(&mut self, req: CreateSipInboundTrunkRequest) -> Result<SipInboundTrunkInfo, TwirpError> {
        let mut t = req.trunk.ok_or_else(|| invalid("trunk is required"))?;
        t.sip_trunk_id = self.new_id("ST_");
        check_inbound(&t)?;
        self.check_inbound_conflicts(&t)?;
        self.inbound.insert(t.sip_trunk_id.clone(), t.clone());
        Ok(t)
    }

    /// `UpdateSIPInboundTrunk` (replace or partial update).
    pub fn update_inbound(&mut self, req: UpdateSipInboundTrunkRequest) -> Result<SipInboundTrunkInfo, TwirpError> {
        let id = req.sip_trunk_id;
        let current = self.inbound.get(&id).ok_or_else(|| not_found("inbound trunk", &id))?;
        let mut t = current.clone();
        match req.action {
            Some(UpdateInboundAction::Replace(r)) => t = SipInboundTrunkInfo { sip_trunk_id: id.clone(), ..r },
            Some(UpdateInboundAction::Update(u)) => {
                check_list_update("numbers", u.numbers.as_ref())?;
                check_list_update("allowed_addresses", u.allowed_addresses.as_ref())?;
                check_list_update("allowed_numbers", u.allowed_numbers.as_ref())?;
                apply_inbound(&mut t, &u);
            }
            None => return Err(invalid("one of replace or update is required")),
        }
        check_inbound(&t)?;
        self.check_inbound_conflicts(&t)?;
        self.inbound.insert(id, t.clone());
        Ok(t)
    }

    /// `GetSIPInboundTrunk`.
    pub fn get_inbound(&self, req: TrunkIdRequest) -> Result<GetSipInboundTrunkResponse, TwirpError> {
        let t = self.inbound.get(&req.sip_trunk_id).ok_or_else(|| not_found("inbound trunk", &req.sip_trunk_id))?;
        Ok(GetSipInboundTrunkResponse { trunk: Some(t.clone()) })
    }

    /// `ListSIPInboundTrunk`: with `trunk_ids`, one item per id in order (an empty item where
    /// the id is missing); with `numbers`, only trunks accepting one of them; paged by id.
    pub fn list_inbound(&self, req: ListSipTrunkRequest) -> ListSipInboundTrunkResponse {
        let matches = |t: &SipInboundTrunkInfo| {
            req.numbers.is_empty() || t.numbers.is_empty() || t.numbers.iter().any(|n| req.numbers.contains(n))
        };
        ListSipInboundTrunkResponse { items: select(&self.inbound, &req.trunk_ids, req.page.as_ref(), matches) }
    }

    /// `CreateSIPOutboundTrunk`.
    pub fn create_outbound(&mut self, req: CreateSipOutboundTrunkRequest) -> Result<SipOutboundTrunkInfo, TwirpError> {
        let mut t = req.trunk.ok_or_else(|| invalid("trunk is required"))?;
        t.sip_trunk_id = self.new_id("ST_");
        check_outbound(&t)?;
        self.outbound.insert(t.sip_trunk_id.clone(), t.clone());
        Ok(t)
    }

    /// `UpdateSIPOutboundTrunk`.
    pub fn update_outbound(&mut self, req: UpdateSipOutboundTrunkRequest) -> Result<SipOutboundTrunkInfo, TwirpError> {
        let id = req.sip_trunk_id;
        let mut t = self.outbound.get(&id).ok_or_else(|| not_found("outbound trunk", &id))?.clone();
        match req.action {
            Some(UpdateOutboundAction::Replace(r)) => t = SipOutboundTrunkInfo { sip_trunk_id: id.clone(), ..r },
            Some(UpdateOutboundAction::Update(u)) => {
                check_list_update("numbers", u.numbers.as_ref())?;
                apply_outbound(&mut t, &u);
            }
            None => return Err(invalid("one of replace or update is required")),
        }
        check_outbound(&t)?;
        self.outbound.insert(id, t.clone());
        Ok(t)
    }

    /// `GetSIPOutboundTrunk`.
    pub fn get_outbound(&self, req: TrunkIdRequest) -> Result<GetSipOutboundTrunkResponse, TwirpError> {
        let t = self.outbound.get(&req.sip_trunk_id).ok_or_else(|| not_found("outbound trunk", &req.sip_trunk_id))?;
        Ok(GetSipOutboundTrunkResponse { trunk: Some(t.clone()) })
    }

    /// `ListSIPOutboundTrunk`.
    pub fn list_outbound(&self, req: ListSipTrunkRequest) -> ListSipOutboundTrunkResponse {
        let matches =
            |t: &SipOutboundTrunkInfo| req.numbers.is_empty() || t.numbers.iter().any(|n| req.numbers.contains(n));
        ListSipOutboundTrunkResponse { items: select(&self.outbound, &req.trunk_ids, req.page.as_ref(), matches) }
    }

    /// `DeleteSIPTrunk`: either kind. Dispatch rules that named it keep the dangling id (the
    /// hostile reading: the server does not clean them up).
    pub fn delete_trunk(&mut self, req: TrunkIdRequest) -> Result<SipTrunkInfo, TwirpError> {
        let id = req.sip_trunk_id;
        if let Some(t) = self.inbound.remove(&id) {
            return Ok(SipTrunkInfo {
                sip_trunk_id: id,
                name: t.name,
                metadata: t.metadata,
                kind: TrunkKind::Inbound as i32,
            });
        }
        if let Some(t) = self.outbound.remove(&id) {
            return Ok(SipTrunkInfo {
                sip_trunk_id: id,
                name: t.name,
                metadata: t.metadata,
                kind: TrunkKind::Outbound as i32,
            });
        }
        Err(not_found("SIP trunk", &id))
    }

    /// `CreateSIPDispatchRule`: the `dispatch_rule` form, or the older top-level fields.
    pub fn create_rule(&mut self, req: CreateSipDispatchRuleRequest) -> Result<SipDispatchRuleInfo, TwirpError> {
        let mut r = match req.dispatch_rule {
            Some(r) => r,
            None => SipDispatchRuleInfo {
                rule: req.rule,
                trunk_ids: req.trunk_ids,
                name: req.name,
                metadata: req.metadata,
                ..Default::default()
            },
        };
        r.sip_dispatch_rule_id = self.new_id("SDR_");
        self.check_rule(&r)?;
        self.rules.insert(r.sip_dispatch_rule_id.clone(), r.clone());
        Ok(r)
    }

    /// `UpdateSIPDispatchRule`.
    pub fn update_rule(&mut self, req: UpdateSipDispatchRuleRequest) -> Result<SipDispatchRuleInfo, TwirpError> {
        let id = req.sip_dispatch_rule_id;
        let mut r = self.rules.get(&id).ok_or_else(|| not_found("dispatch rule", &id))?.clone();
        match req.action {
            Some(UpdateDispatchAction::Replace(n)) => r = SipDispatchRuleInfo { sip_dispatch_rule_id: id.clone(), ..n },
            Some(UpdateDispatchAction::Update(u)) => {
                check_list_update("trunk_ids", u.trunk_ids.as_ref())?;
                if let Some(l) = &u.trunk_ids {
                    l.apply(&mut r.trunk_ids);
                }
                if u.rule.is_some() {
                    r.rule = u.rule;
                }
                set(&mut r.name, u.name);
                set(&mut r.metadata, u.metadata);
                if !u.attributes.is_empty() {
                    r.attributes = u.attributes;
                }
                set(&mut r.media_encryption, u.media_encryption);
            }
            None => return Err(invalid("one of replace or update is required")),
        }
        self.check_rule(&r)?;
        self.rules.insert(id, r.clone());
        Ok(r)
    }

    /// `ListSIPDispatchRule`: with `dispatch_rule_ids`, one item per id in order; with
    /// `trunk_ids`, the rules naming one of them plus the rules for every trunk.
    pub fn list_rules(&self, req: ListSipDispatchRuleRequest) -> ListSipDispatchRuleResponse {
        let matches = |r: &SipDispatchRuleInfo| {
            req.trunk_ids.is_empty() || r.trunk_ids.is_empty() || r.trunk_ids.iter().any(|t| req.trunk_ids.contains(t))
        };
        ListSipDispatchRuleResponse { items: select(&self.rules, &req.dispatch_rule_ids, req.page.as_ref(), matches) }
    }

    /// `DeleteSIPDispatchRule`.
    pub fn delete_rule(&mut self, req: DispatchRuleIdRequest) -> Result<SipDispatchRuleInfo, TwirpError> {
        self.rules
            .remove(&req.sip_dispatch_rule_id)
            .ok_or_else(|| not_found("dispatch rule", &req.sip_dispatch_rule_id))
    }

    /// Two inbound trunks that accept the same called number (or both any number) from the same
    /// caller (or both any caller) and the same source addresses are ambiguous: the server could
    /// not tell which one a call belongs to, so it refuses the second. The exact server rule is
    /// not verified; this is the strict reading.
    fn check_inbound_conflicts(&self, t: &SipInboundTrunkInfo) -> Result<(), TwirpError> {
        for other in self.inbound.values().filter(|o| o.sip_trunk_id != t.sip_trunk_id) {
            let overlap = |a: &[String], b: &[String]| a.is_empty() && b.is_empty() || a.iter().any(|x| b.contains(x));
            if overlap(&t.numbers, &other.numbers)
                && overlap(&t.allowed_numbers, &other.allowed_numbers)
                && overlap(&t.allowed_addresses, &other.allowed_addresses)
            {
                return Err(invalid(format!(
                    "Conflicting inbound SIP Trunks: {:?} and {:?}, using the same number(s) and callers",
                    other.sip_trunk_id, t.sip_trunk_id
                )));
            }
        }
        Ok(())
    }

    fn check_rule(&self, r: &SipDispatchRuleInfo) -> Result<(), TwirpError> {
        if r.rule.as_ref().and_then(|x| x.rule.as_ref()).is_none() {
            return Err(invalid("dispatch rule: one of dispatch_rule_direct, _individual or _callee is required"));
        }
        if let Some(DispatchRuleKind::DispatchRuleDirect(d)) = r.rule.as_ref().and_then(|x| x.rule.as_ref())
            && d.room_name.is_empty()
        {
            return Err(invalid("dispatch_rule_direct.room_name is required"));
        }
        for id in &r.trunk_ids {
            if !self.inbound.contains_key(id) && !self.outbound.contains_key(id) {
                return Err(invalid(format!("trunk {id:?} in trunk_ids does not exist")));
            }
        }
        Ok(())
    }
}

fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

/// A `ListUpdate` mixes `set` with `add`/`remove` or `clear`: ambiguous, refused (the server's
/// own rule is not verified; this is the strict reading).
fn check_list_update(field: &str, u: Option<&ListUpdate>) -> Result<(), TwirpError> {
    match u {
        Some(u) if !u.set.is_empty() && (!u.add.is_empty() || !u.remove.is_empty() || u.clear) => {
            Err(invalid(format!("{field}: set cannot be combined with add, remove or clear")))
        }
        _ => Ok(()),
    }
}

fn apply_inbound(t: &mut SipInboundTrunkInfo, u: &SipInboundTrunkUpdate) {
    if let Some(l) = &u.numbers {
        l.apply(&mut t.numbers);
    }
    if let Some(l) = &u.allowed_addresses {
        l.apply(&mut t.allowed_addresses);
    }
    if let Some(l) = &u.allowed_numbers {
        l.apply(&mut t.allowed_numbers);
    }
    set(&mut t.auth_username, u.auth_username.clone());
    set(&mut t.auth_password, u.auth_password.clone());
    set(&mut t.auth_realm, u.auth_realm.clone());
    set(&mut t.name, u.name.clone());
    set(&mut t.metadata, u.metadata.clone());
    set(&mut t.media_encryption, u.media_encryption);
}

fn apply_outbound(t: &mut SipOutboundTrunkInfo, u: &SipOutboundTrunkUpdate) {
    set(&mut t.address, u.address.clone());
    set(&mut t.transport, u.transport);
    if let Some(l) = &u.numbers {
        l.apply(&mut t.numbers);
    }
    set(&mut t.auth_username, u.auth_username.clone());
    set(&mut t.auth_password, u.auth_password.clone());
    set(&mut t.name, u.name.clone());
    set(&mut t.metadata, u.metadata.clone());
    set(&mut t.media_encryption, u.media_encryption);
    set(&mut t.destination_country, u.destination_country.clone());
    set(&mut t.from_host, u.from_host.clone());
}

fn check_inbound(t: &SipInboundTrunkInfo) -> Result<(), TwirpError> {
    if t.numbers.iter().chain(&t.allowed_numbers).any(|n| n.trim().is_empty()) {
        return Err(invalid("numbers must not contain empty strings"));
    }
    for a in &t.allowed_addresses {
        if !is_ip_or_cidr(a) {
            return Err(invalid(format!("allowed_addresses: {a:?} is not an IP address or CIDR range")));
        }
    }
    if t.auth_username.is_empty() != t.auth_password.is_empty() {
        return Err(invalid("auth_username and auth_password must be set together"));
    }
    check_media(t.media_encryption)
}

fn check_outbound(t: &SipOutboundTrunkInfo) -> Result<(), TwirpError> {
    if t.address.is_empty() {
        return Err(invalid("address is required"));
    }
    if t.address.contains("sip:") || t.address.contains('/') || t.address.contains('@') {
        return Err(invalid(format!("address {:?} must be a host or IP, without sip: or a user", t.address)));
    }
    if t.numbers.is_empty() {
        return Err(invalid("numbers: at least one caller number is required"));
    }
    if SipTransport::try_from(t.transport).is_err() {
        return Err(invalid(format!("transport {} is not a SIPTransport value", t.transport)));
    }
    let country = &t.destination_country;
    if !country.is_empty() && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(invalid("destination_country must be an ISO 3166-1 alpha-2 code such as US"));
    }
    check_media(t.media_encryption)
}

fn check_media(m: i32) -> Result<(), TwirpError> {
    SipMediaEncryption::try_from(m).map(|_| ()).map_err(|_| invalid(format!("media_encryption {m} is not valid")))
}

fn is_ip_or_cidr(s: &str) -> bool {
    let (ip, prefix) = s.split_once('/').unwrap_or((s, ""));
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix.is_empty() || prefix.parse::<u8>().is_ok_and(|p| p <= 32),
        Ok(std::net::IpAddr::V6(_)) => prefix.is_empty() || prefix.parse::<u8>().is_ok_and(|p| p <= 128),
        Err(_) => false,
    }
}

/// Items by ids (in order, default where missing) or all matching items after the page cursor.
fn select<T: Clone + Default>(
    all: &BTreeMap<String, T>,
    ids: &[String],
    page: Option<&Pagination>,
    matches: impl Fn(&T) -> bool,
) -> Vec<T> {
    if !ids.is_empty() {
        return ids.iter().map(|id| all.get(id).filter(|t| matches(t)).cloned().unwrap_or_default()).collect();
    }
    let after = page.map(|p| p.after_id.as_str()).unwrap_or_default();
    let limit = page.map_or(0, |p| p.limit.max(0) as usize);
    let it = all.iter().filter(|(id, t)| id.as_str() > after && matches(t)).map(|(_, t)| t.clone());
    if limit > 0 { it.take(limit).collect() } else { it.collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(numbers: &[&str]) -> CreateSipInboundTrunkRequest {
        CreateSipInboundTrunkRequest {
            trunk: Some(SipInboundTrunkInfo {
                name: "in".into(),
                numbers: numbers.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn ids_have_the_documented_shape() {
        let mut p = Project::new(1);
        let t = p.create_inbound(inbound(&["+15550001"])).expect("created");
        assert!(t.sip_trunk_id.starts_with("ST_") && t.sip_trunk_id.len() == 15, "{}", t.sip_trunk_id);
        let r = p
            .create_rule(CreateSipDispatchRuleRequest {
                dispatch_rule: Some(SipDispatchRuleInfo {
                    rule: Some(SipDispatchRule {
                        rule: Some(DispatchRuleKind::DispatchRuleIndividual(SipDispatchRuleIndividual {
                            room_prefix: "call-".into(),
                            ..Default::default()
                        })),
                    }),
                    trunk_ids: vec![t.sip_trunk_id.clone()],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .expect("created");
        assert!(r.sip_dispatch_rule_id.starts_with("SDR_") && r.sip_dispatch_rule_id.len() == 16);
    }

    #[test]
    fn a_second_inbound_trunk_for_the_same_number_and_callers_is_refused() {
        let mut p = Project::new(1);
        p.create_inbound(inbound(&["+15550001"])).expect("first");
        let e = p.create_inbound(inbound(&["+15550001", "+15550002"])).expect_err("ambiguous");
        assert_eq!(e.code, "invalid_argument");
        p.create_inbound(inbound(&["+15550003"])).expect("another number is fine");
    }

    #[test]
    fn list_by_ids_answers_in_order_with_empty_items_for_missing_ids() {
        let mut p = Project::new(1);
        let a = p.create_inbound(inbound(&["+1"])).expect("a");
        let req =
            ListSipTrunkRequest { trunk_ids: vec!["ST_missing".into(), a.sip_trunk_id.clone()], ..Default::default() };
        let items = p.list_inbound(req).items;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], SipInboundTrunkInfo::default());
        assert_eq!(items[1].sip_trunk_id, a.sip_trunk_id);
    }

    #[test]
    fn partial_update_changes_only_what_is_set_and_list_updates_add_and_remove() {
        let mut p = Project::new(1);
        let mut req = inbound(&["+1", "+2"]);
        if let Some(t) = req.trunk.as_mut() {
            t.auth_username = "u".into();
            t.auth_password = "old".into();
        }
        let t = p.create_inbound(req).expect("created");
        let u = SipInboundTrunkUpdate {
            auth_password: Some("new".into()),
            numbers: Some(ListUpdate { add: vec!["+3".into()], remove: vec!["+1".into()], ..Default::default() }),
            ..Default::default()
        };
        let got = p
            .update_inbound(UpdateSipInboundTrunkRequest {
                sip_trunk_id: t.sip_trunk_id.clone(),
                action: Some(UpdateInboundAction::Update(u)),
            })
            .expect("updated");
        assert_eq!(got.sip_trunk_id, t.sip_trunk_id, "a partial update keeps the id");
        assert_eq!(got.numbers, ["+2", "+3"]);
        assert_eq!((got.auth_username.as_str(), got.auth_password.as_str(), got.name.as_str()), ("u", "new", "in"));
    }

    #[test]
    fn seeded_and_edited_trunks_skip_validation_and_keep_their_id() {
        let mut p = Project::new(1);
        let id = p
            .seed_trunk(
                false,
                serde_json::json!({"name": "by hand", "address": "sip:not-valid", "transport": "SIP_TRANSPORT_UDP"}),
            )
            .expect("seeded");
        let t = p.outbound().next().cloned().expect("stored");
        assert_eq!((t.sip_trunk_id.as_str(), t.address.as_str()), (id.as_str(), "sip:not-valid"));
        assert_eq!(t.transport, SipTransport::Udp as i32);
        p.edit_trunk(&id, &serde_json::json!({"address": "rogue.example", "sip_trunk_id": "ST_other"}))
            .expect("edited");
        let t = p.outbound().next().cloned().expect("stored");
        assert_eq!(
            (t.sip_trunk_id.as_str(), t.address.as_str(), t.name.as_str()),
            (id.as_str(), "rogue.example", "by hand")
        );
        assert_eq!(p.edit_trunk("ST_missing", &serde_json::json!({})).expect_err("missing").code, "not_found");
    }

    #[test]
    fn a_list_update_mixing_set_and_add_is_refused() {
        let mut p = Project::new(1);
        let t = p.create_inbound(inbound(&["+1"])).expect("created");
        let u = SipInboundTrunkUpdate {
            numbers: Some(ListUpdate { set: vec!["+2".into()], add: vec!["+3".into()], ..Default::default() }),
            ..Default::default()
        };
        let req =
            UpdateSipInboundTrunkRequest { sip_trunk_id: t.sip_trunk_id, action: Some(UpdateInboundAction::Update(u)) };
        assert_eq!(p.update_inbound(req).expect_err("ambiguous").code, "invalid_argument");
    }

    #[test]
    fn outbound_validation_and_delete_of_either_kind() {
        let mut p = Project::new(1);
        let bad = SipOutboundTrunkInfo {
            address: "sip:carrier.example".into(),
            numbers: vec!["+1".into()],
            ..Default::default()
        };
        let e = p.create_outbound(CreateSipOutboundTrunkRequest { trunk: Some(bad) }).expect_err("sip: prefix");
        assert_eq!(e.status(), 400);
        let ok = SipOutboundTrunkInfo {
            address: "carrier.example".into(),
            numbers: vec!["+1".into()],
            ..Default::default()
        };
        let o = p.create_outbound(CreateSipOutboundTrunkRequest { trunk: Some(ok) }).expect("created");
        let d = p.delete_trunk(TrunkIdRequest { sip_trunk_id: o.sip_trunk_id.clone() }).expect("deleted");
        assert_eq!(d.kind, TrunkKind::Outbound as i32);
        let again = p.delete_trunk(TrunkIdRequest { sip_trunk_id: o.sip_trunk_id }).expect_err("gone");
        assert_eq!((again.code, again.status()), ("not_found", 404));
    }
}
