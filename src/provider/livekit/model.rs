//! The LiveKit family's pure side: a SipTrunk spec translated into the inbound and outbound trunks
//! it asks for, where the ownership marker lives (`metadata`), and the partial update (`update`
//! form, lists through `ListUpdate{set}`) that turns what LiveKit holds into what is wanted. No
//! I/O and no secrets: a password is added by the caller only when its keyed hash says it changed.

use secrecy::{ExposeSecret, SecretString};

use super::wire::{
    ListUpdate, SipInboundTrunkInfo, SipInboundTrunkUpdate, SipMediaEncryption, SipOutboundTrunkInfo,
    SipOutboundTrunkUpdate, SipTransport,
};
use crate::crd::livekit::{LiveKitTrunk, MediaEncryption, Transport};
use crate::crd::{AuthType, TrunkAuth};
use crate::model::MarkerState;

/// Which of the two LiveKit trunk kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// `SIPInboundTrunkInfo`.
    Inbound,
    /// `SIPOutboundTrunkInfo`.
    Outbound,
}

impl Direction {
    /// The word used in metadata, status and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The metadata the operator writes on a trunk of `direction` owned by the object of `marker`.
/// Users never write metadata (the spec has no field for it), so nothing else can end up there
/// through the operator.
pub fn metadata(marker: &str, direction: Direction) -> String {
    format!("managed-by=siptrunk-operator key={marker} part={}", direction.as_str())
}

/// Whether `metadata` carries `marker` for `direction`. A trunk of the other direction carrying
/// the same marker is not this part's (both parts share one object's marker).
pub fn marker_state(metadata: &str, marker: &str, direction: Direction) -> MarkerState {
    let mut words = metadata.split_whitespace();
    let ours = words.clone().any(|w| w.strip_prefix("key=") == Some(marker));
    let part = words.any(|w| w == format!("part={}", direction.as_str()));
    if ours && part { MarkerState::Ours } else { MarkerState::NotOurs }
}

/// Whether `metadata` carries anybody's marker (adoption only takes trunks that carry none).
pub fn carries_a_marker(metadata: &str) -> bool {
    metadata.split_whitespace().any(|w| {
        w.strip_prefix("key=").is_some_and(crate::model::marker::is_marker_token) || w.starts_with("managed-by=")
    })
}

/// The inbound trunk a spec asks for (without its password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// `name`.
    pub name: String,
    /// `metadata` (the marker).
    pub metadata: String,
    /// Accepted called numbers, sorted.
    pub numbers: Vec<String>,
    /// Allowed source addresses (IPs or CIDRs), sorted.
    pub allowed_addresses: Vec<String>,
    /// Allowed caller numbers, sorted.
    pub allowed_numbers: Vec<String>,
    /// Digest username (empty: none).
    pub auth_username: String,
    /// `SipMediaEncryption` value.
    pub media_encryption: i32,
}

/// The outbound trunk a spec asks for (without its password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// `name`.
    pub name: String,
    /// `metadata` (the marker).
    pub metadata: String,
    /// Carrier host.
    pub address: String,
    /// `SipTransport` value.
    pub transport: i32,
    /// Caller ids, sorted.
    pub numbers: Vec<String>,
    /// ISO country or empty.
    pub destination_country: String,
    /// Digest username (empty: none).
    pub auth_username: String,
    /// `SipMediaEncryption` value.
    pub media_encryption: i32,
}

/// What one SipTrunk asks of LiveKit: one trunk of one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Desired {
    /// An inbound trunk.
    Inbound(Inbound),
    /// An outbound trunk.
    Outbound(Outbound),
}

impl Desired {
    /// The direction.
    pub fn direction(&self) -> Direction {
        match self {
            Desired::Inbound(_) => Direction::Inbound,
            Desired::Outbound(_) => Direction::Outbound,
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

fn encryption(m: MediaEncryption) -> i32 {
    match m {
        MediaEncryption::Disable => SipMediaEncryption::Disable as i32,
        MediaEncryption::Allow => SipMediaEncryption::Allow as i32,
        MediaEncryption::Require => SipMediaEncryption::Require as i32,
    }
}

fn transport(t: Transport) -> i32 {
    match t {
        Transport::Auto => SipTransport::Auto as i32,
        Transport::Udp => SipTransport::Udp as i32,
        Transport::Tcp => SipTransport::Tcp as i32,
        Transport::Tls => SipTransport::Tls as i32,
    }
}

/// Translates the spec: `name` is the display name (the object's name when unset), `auth` gives
/// the trunk its username; `type: ip` admits inbound calls by `allowedInboundIps` instead. None
/// when the block has neither part (refused by CEL and validation before this is called).
pub fn desired(name: &str, marker: &str, auth: &TrunkAuth, block: &LiveKitTrunk) -> Option<Desired> {
    let ip = auth.type_ == AuthType::Ip;
    if let Some(i) = &block.inbound {
        return Some(Desired::Inbound(Inbound {
            name: name.to_string(),
            metadata: metadata(marker, Direction::Inbound),
            numbers: sorted(i.numbers.clone()),
            allowed_addresses: if ip {
                sorted(auth.allowed_inbound_ips.clone().unwrap_or_default())
            } else {
                Vec::new()
            },
            allowed_numbers: sorted(i.allowed_numbers.clone()),
            auth_username: if ip { String::new() } else { auth.username.clone() },
            media_encryption: encryption(i.media_encryption),
        }));
    }
    block.outbound.as_ref().map(|o| {
        Desired::Outbound(Outbound {
            name: name.to_string(),
            metadata: metadata(marker, Direction::Outbound),
            address: o.address.clone(),
            transport: transport(o.transport),
            numbers: sorted(o.numbers.clone()),
            destination_country: o.destination_country.clone().unwrap_or_default(),
            auth_username: auth.username.clone(),
            media_encryption: encryption(o.media_encryption),
        })
    })
}

impl Inbound {
    /// The create body; the password only when the trunk authenticates by credentials.
    pub fn create_body(&self, password: Option<&SecretString>) -> SipInboundTrunkInfo {
        SipInboundTrunkInfo {
            name: self.name.clone(),
            metadata: self.metadata.clone(),
            numbers: self.numbers.clone(),
            allowed_addresses: self.allowed_addresses.clone(),
            allowed_numbers: self.allowed_numbers.clone(),
            auth_username: self.auth_username.clone(),
            auth_password: if self.auth_username.is_empty() {
                String::new()
            } else {
                password.map(|p| p.expose_secret().to_string()).unwrap_or_default()
            },
            media_encryption: self.media_encryption,
            ..Default::default()
        }
    }

    /// The partial update from `have` to this, with the password when it must be sent; None when
    /// nothing differs. Lists are compared as sets and replaced whole (`ListUpdate{set}`, or
    /// `clear` when the wanted list is empty).
    pub fn diff(&self, have: &SipInboundTrunkInfo, password: Option<&SecretString>) -> Option<SipInboundTrunkUpdate> {
        let mut u = SipInboundTrunkUpdate::default();
        if have.name != self.name {
            u.name = Some(self.name.clone());
        }
        if have.metadata != self.metadata {
            u.metadata = Some(self.metadata.clone());
        }
        u.numbers = list_change(&have.numbers, &self.numbers);
        u.allowed_addresses = list_change(&have.allowed_addresses, &self.allowed_addresses);
        u.allowed_numbers = list_change(&have.allowed_numbers, &self.allowed_numbers);
        if have.auth_username != self.auth_username {
            u.auth_username = Some(self.auth_username.clone());
        }
        if have.media_encryption != self.media_encryption {
            u.media_encryption = Some(self.media_encryption);
        }
        if let Some(p) = password.filter(|_| !self.auth_username.is_empty()) {
            u.auth_password = Some(p.expose_secret().to_string());
        }
        (u != SipInboundTrunkUpdate::default()).then_some(u)
    }
}

impl Outbound {
    /// The create body.
    pub fn create_body(&self, password: Option<&SecretString>) -> SipOutboundTrunkInfo {
        SipOutboundTrunkInfo {
            name: self.name.clone(),
            metadata: self.metadata.clone(),
            address: self.address.clone(),
            transport: self.transport,
            numbers: self.numbers.clone(),
            auth_username: self.auth_username.clone(),
            auth_password: password.map(|p| p.expose_secret().to_string()).unwrap_or_default(),
            media_encryption: self.media_encryption,
            destination_country: self.destination_country.clone(),
            ..Default::default()
        }
    }

    /// The partial update from `have` to this (see `Inbound::diff`).
    pub fn diff(&self, have: &SipOutboundTrunkInfo, password: Option<&SecretString>) -> Option<SipOutboundTrunkUpdate> {
        let mut u = SipOutboundTrunkUpdate::default();
        if have.name != self.name {
            u.name = Some(self.name.clone());
        }
        if have.metadata != self.metadata {
            u.metadata = Some(self.metadata.clone());
        }
        if have.address != self.address {
            u.address = Some(self.address.clone());
        }
        if have.transport != self.transport {
            u.transport = Some(self.transport);
        }
        u.numbers = list_change(&have.numbers, &self.numbers);
        if have.auth_username != self.auth_username {
            u.auth_username = Some(self.auth_username.clone());
        }
        if have.media_encryption != self.media_encryption {
            u.media_encryption = Some(self.media_encryption);
        }
        if have.destination_country != self.destination_country {
            u.destination_country = Some(self.destination_country.clone());
        }
        if let Some(p) = password {
            u.auth_password = Some(p.expose_secret().to_string());
        }
        (u != SipOutboundTrunkUpdate::default()).then_some(u)
    }
}

/// A whole-list replacement when the two lists differ as sets.
fn list_change(have: &[String], want: &[String]) -> Option<ListUpdate> {
    let have = sorted(have.to_vec());
    (have != want).then(|| ListUpdate::set(want.to_vec()))
}

/// Names of the fields an inbound update changes (for status, Events and logs; never values).
pub fn inbound_fields(u: &SipInboundTrunkUpdate) -> Vec<&'static str> {
    let mut f = Vec::new();
    for (set, name) in [
        (u.name.is_some(), "name"),
        (u.metadata.is_some(), "metadata"),
        (u.numbers.is_some(), "numbers"),
        (u.allowed_addresses.is_some(), "allowed_addresses"),
        (u.allowed_numbers.is_some(), "allowed_numbers"),
        (u.auth_username.is_some(), "auth_username"),
        (u.auth_password.is_some(), "auth_password"),
        (u.media_encryption.is_some(), "media_encryption"),
    ] {
        if set {
            f.push(name);
        }
    }
    f
}

/// Names of the fields an outbound update changes.
pub fn outbound_fields(u: &SipOutboundTrunkUpdate) -> Vec<&'static str> {
    let mut f = Vec::new();
    for (set, name) in [
        (u.name.is_some(), "name"),
        (u.metadata.is_some(), "metadata"),
        (u.address.is_some(), "address"),
        (u.transport.is_some(), "transport"),
        (u.numbers.is_some(), "numbers"),
        (u.auth_username.is_some(), "auth_username"),
        (u.auth_password.is_some(), "auth_password"),
        (u.media_encryption.is_some(), "media_encryption"),
        (u.destination_country.is_some(), "destination_country"),
    ] {
        if set {
            f.push(name);
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::livekit::{LiveKitInbound, LiveKitOutbound};

    fn auth(ip: bool) -> TrunkAuth {
        serde_json::from_value(if ip {
            serde_json::json!({"type": "ip", "username": "main-line", "allowedInboundIps": ["203.0.113.0/24", "198.51.100.7"]})
        } else {
            serde_json::json!({"username": "main-line", "passwordSecretRef": {"name": "s", "key": "password"}})
        })
        .expect("auth")
    }

    fn inbound_block() -> LiveKitTrunk {
        LiveKitTrunk {
            inbound: Some(LiveKitInbound {
                numbers: vec!["+14155550002".into(), "+14155550001".into()],
                allowed_numbers: vec![],
                media_encryption: MediaEncryption::Allow,
            }),
            outbound: None,
        }
    }

    fn outbound_block() -> LiveKitTrunk {
        LiveKitTrunk {
            inbound: None,
            outbound: Some(LiveKitOutbound {
                address: "sip.carrier.example".into(),
                transport: Transport::Tls,
                numbers: vec!["+14155550001".into()],
                destination_country: Some("US".into()),
                media_encryption: MediaEncryption::Disable,
            }),
        }
    }

    fn inbound(auth: &TrunkAuth, block: &LiveKitTrunk) -> Inbound {
        match desired("Main line", MARKER, auth, block) {
            Some(Desired::Inbound(i)) => i,
            other => panic!("expected inbound: {other:?}"),
        }
    }

    fn outbound(auth: &TrunkAuth) -> Outbound {
        match desired("Main line", MARKER, auth, &outbound_block()) {
            Some(Desired::Outbound(o)) => o,
            other => panic!("expected outbound: {other:?}"),
        }
    }

    const MARKER: &str = "op:0123456789ab";

    #[test]
    fn both_parts_carry_the_marker_of_their_own_direction() {
        let (i, o) = (inbound(&auth(false), &inbound_block()), outbound(&auth(false)));
        assert_eq!(marker_state(&i.metadata, MARKER, Direction::Inbound), MarkerState::Ours);
        assert_eq!(marker_state(&i.metadata, MARKER, Direction::Outbound), MarkerState::NotOurs);
        assert_eq!(marker_state(&o.metadata, MARKER, Direction::Outbound), MarkerState::Ours);
        assert_eq!(marker_state(&o.metadata, "op:ffffffffffff", Direction::Outbound), MarkerState::NotOurs);
        assert_eq!(marker_state("", MARKER, Direction::Inbound), MarkerState::NotOurs);
        assert!(carries_a_marker(&o.metadata));
        assert!(!carries_a_marker("team=voice owner=alice"));
    }

    #[test]
    fn a_freshly_created_trunk_needs_no_update_and_lists_compare_as_sets() {
        let pw = SecretString::from("Pa55-word-Q7");
        let i = inbound(&auth(false), &inbound_block());
        let mut have = i.create_body(Some(&pw));
        assert_eq!(have.auth_password, "Pa55-word-Q7");
        assert_eq!(i.diff(&have, None), None);
        have.numbers.reverse();
        assert_eq!(i.diff(&have, None), None, "order does not matter");
        let o = outbound(&auth(false));
        assert_eq!(o.diff(&o.create_body(Some(&pw)), None), None);
        assert_eq!(desired("x", MARKER, &auth(false), &LiveKitTrunk::default()), None, "no part, no trunk");
    }

    #[test]
    fn drift_is_corrected_field_by_field_and_a_password_goes_alone() {
        let o = outbound(&auth(false));
        let mut have = o.create_body(None);
        have.transport = SipTransport::Udp as i32;
        have.numbers.push("+14155559999".into());
        let u = o.diff(&have, None).expect("drift");
        assert_eq!(outbound_fields(&u), vec!["transport", "numbers"]);
        assert_eq!(u.numbers.as_ref().map(|l| l.set.clone()), Some(vec!["+14155550001".to_string()]));

        let rotated = o.diff(&o.create_body(None), Some(&SecretString::from("new-pass-Z9"))).expect("rotation");
        assert_eq!(outbound_fields(&rotated), vec!["auth_password"], "a rotation never re-creates");
    }

    #[test]
    fn an_emptied_list_is_cleared_not_left_alone() {
        let mut b = inbound_block();
        if let Some(i) = b.inbound.as_mut() {
            i.numbers.clear();
        }
        let i = inbound(&auth(false), &b);
        let mut have = i.create_body(None);
        have.numbers = vec!["+14155550001".into()];
        let u = i.diff(&have, None).expect("change");
        let mut after = have.numbers.clone();
        u.numbers.as_ref().expect("numbers").apply(&mut after);
        assert!(after.is_empty(), "the server empties the list: {after:?}");
    }

    #[test]
    fn ip_auth_admits_by_address_and_sends_no_inbound_credentials() {
        let i = inbound(&auth(true), &inbound_block());
        assert_eq!(i.allowed_addresses, vec!["198.51.100.7".to_string(), "203.0.113.0/24".to_string()]);
        assert_eq!(i.auth_username, "");
        let body = i.create_body(Some(&SecretString::from("unused-pass")));
        assert_eq!(body.auth_password, "", "no password on an IP-authenticated inbound trunk");
        assert_eq!(i.diff(&body, Some(&SecretString::from("unused-pass"))), None);
        assert_eq!(outbound(&auth(true)).auth_username, "main-line", "outbound still authenticates");
    }

    #[test]
    fn updates_never_show_the_password_in_field_lists_or_debug() {
        let i = inbound(&auth(false), &inbound_block());
        let u = i.diff(&i.create_body(None), Some(&SecretString::from("Sup3r-secret-77"))).expect("rotation");
        assert_eq!(inbound_fields(&u), vec!["auth_password"]);
        assert!(!format!("{u:?}").contains("Sup3r-secret-77"));
    }
}
