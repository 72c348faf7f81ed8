//! LiveKit SIP as a [`Family`]: one SipTrunk is one LiveKit trunk, inbound or outbound. The
//! observed trunk is either kind ([`Trunk`]), the list is both lists (every page), the marker
//! lives in `metadata`, and a change is the `update` form of the trunk's own kind, so a password
//! rotation sends `auth_password` alone and never re-creates.
//!
//! LiveKit has no natural key: nothing about a trunk (numbers may be empty, names repeat) tells
//! which object it belongs to. What stands in the key's place is the ownership marker: a trunk
//! that carries a marker is keyed by direction and marker, any other trunk by its own unique id,
//! and a desired trunk by its direction and marker. So a key can only ever lead `decide` to a trunk
//! that carries this object's marker (which the marker already proves ours): no unmarked or
//! foreign trunk is ever matched or adopted, whatever `adoptExisting` says. The marker (written by
//! the create itself) and the create intent carry crash safety: a create whose answer was lost is
//! found again by its marker, and the intent (whose key is the same) says which password it sent.

use secrecy::SecretString;

use super::client::Client;
use super::model::{self, Desired, Direction, Inbound};
use super::wire::{SipInboundTrunkInfo, SipInboundTrunkUpdate, SipOutboundTrunkInfo, SipOutboundTrunkUpdate};
use crate::controller::validate::shown;
use crate::crd::{AuthType, ProviderType, SipTrunkSpec};
use crate::model::{Applied, DesiredTrunk, Field, MarkerState, RemoteTrunk, Shown, TrunkChange};
use crate::provider::error::ProviderError;
use crate::provider::family::{Capabilities, Family, FieldSink};
use crate::provider::http::{HttpClient, ListUsage};
use crate::provider::list::Skipped;

/// LiveKit SIP.
pub struct LivekitFamily;

/// Every field the operator writes on a LiveKit trunk (inbound and outbound together). LiveKit
/// returns every one of them on reads; the password is compared through its keyed hash only, so it
/// is classified write-only, like on the other families.
pub const FIELDS: &[Field] = &[
    Field { wire: "name", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "metadata", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "numbers", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "allowed_addresses", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "allowed_numbers", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "address", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "transport", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "destination_country", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "auth_username", shown: Shown::Visible, on_create: true, on_update: true },
    Field { wire: "auth_password", shown: Shown::WriteOnly, on_create: true, on_update: true },
    Field { wire: "media_encryption", shown: Shown::Visible, on_create: true, on_update: true },
];

/// A LiveKit trunk as the server returns it: inbound or outbound.
#[derive(Clone, Debug, PartialEq)]
pub enum Trunk {
    /// `SIPInboundTrunkInfo`.
    Inbound(SipInboundTrunkInfo),
    /// `SIPOutboundTrunkInfo`.
    Outbound(SipOutboundTrunkInfo),
}

impl Trunk {
    /// The direction.
    pub fn direction(&self) -> Direction {
        match self {
            Trunk::Inbound(_) => Direction::Inbound,
            Trunk::Outbound(_) => Direction::Outbound,
        }
    }

    /// The `metadata` field (where the marker lives).
    pub fn metadata(&self) -> &str {
        match self {
            Trunk::Inbound(t) => &t.metadata,
            Trunk::Outbound(t) => &t.metadata,
        }
    }

    /// The `ST_` id.
    pub fn trunk_id(&self) -> &str {
        match self {
            Trunk::Inbound(t) => &t.sip_trunk_id,
            Trunk::Outbound(t) => &t.sip_trunk_id,
        }
    }
}

/// A partial update of one LiveKit trunk.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// `UpdateSIPInboundTrunk` with `update`.
    Inbound(SipInboundTrunkUpdate),
    /// `UpdateSIPOutboundTrunk` with `update`.
    Outbound(SipOutboundTrunkUpdate),
    /// The trunk found is of the other direction (edited by hand): it cannot be turned into the
    /// wanted one; the update is refused with a message.
    WrongDirection(Direction),
}

impl TrunkChange for Change {
    fn fields(&self) -> Vec<&'static str> {
        match self {
            Change::Inbound(u) => model::inbound_fields(u),
            Change::Outbound(u) => model::outbound_fields(u),
            Change::WrongDirection(_) => vec!["direction"],
        }
    }
}

impl RemoteTrunk for Trunk {
    fn id(&self) -> String {
        self.trunk_id().to_string()
    }

    /// Direction and marker when the trunk carries one, else its own unique id (see the module
    /// doc): only a trunk with this object's marker shares a desired trunk's key.
    fn natural_key(&self) -> String {
        match self.marker_token() {
            Some(m) => format!("livekit:{}:{m}", self.direction().as_str()),
            None => format!("livekit-unmarked:{}", self.trunk_id()),
        }
    }

    fn key_fields(&self) -> &'static str {
        "id (LiveKit trunks have no natural key)"
    }

    fn marker_text(&self) -> Option<&str> {
        Some(self.metadata())
    }

    fn marker_state(&self, marker: &str) -> MarkerState {
        model::marker_state(self.metadata(), marker, self.direction())
    }
}

impl DesiredTrunk for Desired {
    type Remote = Trunk;
    type Change = Change;

    /// Direction and marker: the key of exactly the trunks that carry this object's marker.
    fn natural_key(&self) -> String {
        let metadata = match self {
            Desired::Inbound(i) => &i.metadata,
            Desired::Outbound(o) => &o.metadata,
        };
        let marker = metadata
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("key="))
            .find(|w| crate::model::marker::is_marker_token(w))
            .unwrap_or_default();
        format!("livekit:{}:{marker}", self.direction().as_str())
    }

    fn diff_applied(&self, observed: &Trunk, password: Option<SecretString>, _applied: &Applied) -> Option<Change> {
        Some(match (self, observed) {
            (Desired::Inbound(d), Trunk::Inbound(h)) => {
                Change::Inbound(d.diff(h, password.as_ref()).unwrap_or_default())
            }
            (Desired::Outbound(d), Trunk::Outbound(h)) => {
                Change::Outbound(d.diff(h, password.as_ref()).unwrap_or_default())
            }
            (_, t) => Change::WrongDirection(t.direction()),
        })
    }

    /// `metadata` is always returned, so the diff already writes the marker; this makes sure.
    fn write_marker(&self, change: &mut Change) {
        match (self, change) {
            (Desired::Inbound(d), Change::Inbound(u)) => u.metadata = Some(d.metadata.clone()),
            (Desired::Outbound(d), Change::Outbound(u)) => u.metadata = Some(d.metadata.clone()),
            _ => {}
        }
    }

    fn applied_record(&self) -> Applied {
        Applied::new()
    }
}

fn is_e164(n: &str) -> bool {
    crate::controller::validate::is_e164(n)
}

/// The LiveKit checks of a spec (after the checks common to every family).
pub fn validate(spec: &SipTrunkSpec, err: FieldSink<'_>) {
    let Some(block) = &spec.livekit else {
        err("spec.livekit", "is required on a provider of type livekit (inbound or outbound)".into());
        return;
    };
    match (&block.inbound, &block.outbound) {
        (Some(_), Some(_)) | (None, None) => err(
            "spec.livekit",
            "set exactly one of inbound or outbound: a SipTrunk is one LiveKit trunk (use two SipTrunks for both \
             directions)"
                .into(),
        ),
        (Some(i), None) => {
            for (list, path) in [
                (&i.numbers, "spec.livekit.inbound.numbers"),
                (&i.allowed_numbers, "spec.livekit.inbound.allowedNumbers"),
            ] {
                if let Some(n) = list.iter().find(|n| !is_e164(n)) {
                    err(path, format!("{} is not E.164 with a leading + (e.g. +14155551234)", shown(n)));
                }
            }
        }
        (None, Some(o)) => {
            if o.numbers.is_empty() {
                err("spec.livekit.outbound.numbers", "needs at least one caller id".into());
            }
            if let Some(n) = o.numbers.iter().find(|n| !is_e164(n)) {
                err(
                    "spec.livekit.outbound.numbers",
                    format!("{} is not E.164 with a leading + (e.g. +14155551234)", shown(n)),
                );
            }
            if o.address.is_empty() || o.address.contains("sip:") || o.address.contains('/') {
                err(
                    "spec.livekit.outbound.address",
                    format!("{} must be a host name or IP address with an optional :port", shown(&o.address)),
                );
            }
            if spec.auth.password_secret_ref.is_none() {
                err(
                    "spec.auth.passwordSecretRef",
                    "is required for a LiveKit outbound trunk (it authenticates to the carrier)".into(),
                );
            }
        }
    }
    if block.inbound.is_some() && spec.auth.type_ == AuthType::Credentials && spec.auth.password_secret_ref.is_none() {
        err("spec.auth.passwordSecretRef", "is required with auth type credentials".into());
    }
}

impl Family for LivekitFamily {
    type Desired = Desired;
    type Remote = Trunk;
    type Change = Change;
    type Client = Client;

    const FIELDS: &'static [Field] = FIELDS;
    const SETTINGS: &'static [&'static str] = &["spec.livekit"];

    fn capabilities(_provider: ProviderType) -> Capabilities {
        Capabilities {
            nickname_in_trunk_writes: false,
            dids: false,
            cidr_allow_list: true,
            ids_only_on_get: false,
            marker_in_create: true,
        }
    }

    /// LiveKit Cloud publishes about 1000 requests/min per project for the server API (not
    /// verified for SIP calls); the operator takes 10/s with a burst of 10.
    fn default_rate(_provider: ProviderType) -> (f64, u32) {
        (10.0, 10)
    }

    fn validate(spec: &SipTrunkSpec, _provider: ProviderType, err: FieldSink<'_>) {
        validate(spec, err)
    }

    fn translate(spec: &SipTrunkSpec, _provider: ProviderType, _namespace: &str, name: &str, marker: &str) -> Desired {
        let label = spec.display_name.clone().unwrap_or_else(|| name.to_string());
        let block = spec.livekit.clone().unwrap_or_default();
        // Validation refuses a block without a direction before translation; an empty inbound
        // trunk stands in so the function stays total.
        model::desired(&label, marker, &spec.auth, &block).unwrap_or_else(|| {
            Desired::Inbound(Inbound {
                name: label.clone(),
                metadata: model::metadata(marker, Direction::Inbound),
                numbers: vec![],
                allowed_addresses: vec![],
                allowed_numbers: vec![],
                auth_username: String::new(),
                media_encryption: 0,
            })
        })
    }

    /// The numbers, and the carrier address of an outbound trunk.
    fn summary(spec: &SipTrunkSpec) -> (Option<String>, Option<String>) {
        let Some(b) = &spec.livekit else { return (None, None) };
        let join = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        match (&b.inbound, &b.outbound) {
            (Some(i), _) => (join(&i.numbers), None),
            (None, Some(o)) => (join(&o.numbers), Some(o.address.clone())),
            (None, None) => (None, None),
        }
    }

    fn client(http: HttpClient) -> Client {
        Client::from_http(http)
    }

    fn http(client: &Client) -> &HttpClient {
        client.http()
    }

    async fn list(client: &Client) -> Result<(Vec<Trunk>, Vec<Skipped>), ProviderError> {
        // One budget for both lists: together they are the account's trunk list.
        let mut usage = ListUsage::new(client.http().list_budget());
        let mut all: Vec<Trunk> =
            client.list_inbound_within(&mut usage).await?.into_iter().map(Trunk::Inbound).collect();
        all.extend(client.list_outbound_within(&mut usage).await?.into_iter().map(Trunk::Outbound));
        Ok((all, Vec::new()))
    }

    async fn get(client: &Client, id: &str) -> Result<Trunk, ProviderError> {
        get(client, id).await
    }

    async fn read(client: &Client, id: &str) -> Result<Trunk, ProviderError> {
        get(client, id).await
    }

    async fn create(
        client: &Client,
        desired: &Desired,
        password: Option<SecretString>,
    ) -> Result<(Trunk, Option<ProviderError>), ProviderError> {
        let t = match desired {
            Desired::Inbound(i) => Trunk::Inbound(client.create_inbound(i.create_body(password.as_ref())).await?),
            Desired::Outbound(o) => Trunk::Outbound(client.create_outbound(o.create_body(password.as_ref())).await?),
        };
        Ok((t, None))
    }

    async fn update(client: &Client, observed: &Trunk, change: &Change) -> Result<Trunk, ProviderError> {
        let id = observed.trunk_id();
        match change {
            Change::Inbound(u) if *u == SipInboundTrunkUpdate::default() => Ok(observed.clone()),
            Change::Outbound(u) if *u == SipOutboundTrunkUpdate::default() => Ok(observed.clone()),
            Change::Inbound(u) => client.update_inbound(id, u.clone()).await.map(Trunk::Inbound),
            Change::Outbound(u) => client.update_outbound(id, u.clone()).await.map(Trunk::Outbound),
            Change::WrongDirection(d) => Err(ProviderError::Conflict {
                message: format!(
                    "LiveKit trunk {id} is an {} trunk and this SipTrunk asks for the other direction; a trunk \
                     cannot change direction (delete it at LiveKit, or point the SipTrunk elsewhere)",
                    d.as_str()
                ),
            }),
        }
    }

    async fn delete(client: &Client, id: &str) -> Result<(), ProviderError> {
        client.delete_trunk(id).await.map(|_| ())
    }
}

/// One trunk of either kind: inbound first, then outbound (one list-by-id call each; a `Get` of
/// the wrong kind answers NotFound).
async fn get(client: &Client, id: &str) -> Result<Trunk, ProviderError> {
    match client.get_inbound(id).await {
        Ok(t) => Ok(Trunk::Inbound(t)),
        Err(ProviderError::NotFound { .. }) => client.get_outbound(id).await.map(Trunk::Outbound),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MatchInput, TrunkIndex};

    const MARKER: &str = "op:0123456789ab";

    fn outbound(id: &str, metadata: &str) -> Trunk {
        Trunk::Outbound(SipOutboundTrunkInfo {
            sip_trunk_id: id.into(),
            metadata: metadata.into(),
            address: "sip.carrier.example".into(),
            numbers: vec!["+14155550100".into()],
            auth_username: "carrier".into(),
            ..Default::default()
        })
    }

    fn desired() -> Desired {
        let spec: SipTrunkSpec = serde_json::from_value(serde_json::json!({
            "providerRef": {"name": "p"},
            "auth": {"username": "carrier", "passwordSecretRef": {"name": "s"}},
            "livekit": {"outbound": {"address": "sip.carrier.example", "numbers": ["+14155550100"]}}
        }))
        .expect("spec");
        LivekitFamily::translate(&spec, ProviderType::Livekit, "ns", "out", MARKER)
    }

    #[test]
    fn only_a_trunk_with_this_objects_marker_shares_its_key() {
        let d = desired();
        let ours = outbound("ST_ours", &model::metadata(MARKER, Direction::Outbound));
        let foreign = outbound("ST_foreign", &model::metadata("op:ffffffffffff", Direction::Outbound));
        let twin = outbound("ST_twin", "");
        let other_twin = outbound("ST_twin2", "");
        let wrong_way = Trunk::Inbound(SipInboundTrunkInfo {
            sip_trunk_id: "ST_in".into(),
            metadata: model::metadata(MARKER, Direction::Inbound),
            ..Default::default()
        });
        assert_eq!(ours.natural_key(), d.natural_key());
        for t in [&foreign, &twin, &wrong_way] {
            assert_ne!(t.natural_key(), d.natural_key(), "{t:?}");
        }
        assert_ne!(twin.natural_key(), other_twin.natural_key(), "unmarked trunks never share a key");
        // Without our trunk, nothing is found however alike the others are.
        let idx = TrunkIndex::new(vec![foreign, twin, other_twin, wrong_way]);
        let key = d.natural_key();
        let obs = idx.find(&MatchInput {
            recorded_id: None,
            marker: MARKER,
            natural_key: &key,
            pending_create_key: Some(&key),
        });
        assert!(obs.keyed.is_none() && obs.intended.is_none(), "{obs:?}");
    }

    #[test]
    fn a_rotation_is_the_password_alone_and_a_direction_change_is_refused() {
        let d = desired();
        let have = match &d {
            Desired::Outbound(o) => Trunk::Outbound(o.create_body(None)),
            Desired::Inbound(_) => panic!("outbound expected"),
        };
        let none = d.diff(&have, None).expect("same family");
        assert!(none.is_empty(), "{none:?}");
        let rotated = d.diff(&have, Some(SecretString::from("new-pass-77"))).expect("same family");
        assert_eq!(rotated.fields(), vec!["auth_password"]);
        let inbound = Trunk::Inbound(SipInboundTrunkInfo { sip_trunk_id: "ST_x".into(), ..Default::default() });
        assert_eq!(d.diff(&inbound, None), Some(Change::WrongDirection(Direction::Inbound)));
    }

    #[test]
    fn every_field_an_update_can_send_is_classified() {
        let set = Some(super::super::wire::ListUpdate::set(vec![]));
        let inbound = SipInboundTrunkUpdate {
            numbers: set.clone(),
            allowed_addresses: set.clone(),
            allowed_numbers: set.clone(),
            auth_username: Some(String::new()),
            auth_password: Some(String::new()),
            name: Some(String::new()),
            metadata: Some(String::new()),
            media_encryption: Some(0),
            // Not managed by the operator (never sent).
            ..Default::default()
        };
        let outbound = SipOutboundTrunkUpdate {
            address: Some(String::new()),
            transport: Some(0),
            destination_country: Some(String::new()),
            numbers: set,
            auth_username: Some(String::new()),
            auth_password: Some(String::new()),
            name: Some(String::new()),
            metadata: Some(String::new()),
            media_encryption: Some(0),
            ..Default::default()
        };
        for f in Change::Inbound(inbound).fields().into_iter().chain(Change::Outbound(outbound).fields()) {
            let class = FIELDS.iter().find(|c| c.wire == f).unwrap_or_else(|| panic!("{f} unclassified"));
            assert!(class.on_update, "{f}");
        }
        let write_only: Vec<_> = FIELDS.iter().filter(|f| f.shown == Shown::WriteOnly).map(|f| f.wire).collect();
        assert_eq!(write_only, ["auth_password"]);
        assert!(FIELDS.iter().all(|f| f.shown != Shown::Unreliable), "LiveKit shows every field it stores");
    }

    #[test]
    fn livekit_settings_only_on_livekit_providers_and_vice_versa() {
        let spec = |v: serde_json::Value| -> SipTrunkSpec { serde_json::from_value(v).expect("spec") };
        let lk = spec(serde_json::json!({
            "providerRef": {"name": "p"}, "sipAddress": "sip.example", "phoneNumber": "+14155550100",
            "auth": {"username": "u", "passwordSecretRef": {"name": "s"}}
        }));
        let errors = crate::controller::validate::validate(&lk, ProviderType::Livekit);
        let paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
        assert!(
            paths.contains(&"spec.livekit".to_string()) && paths.contains(&"spec.sipAddress".to_string()),
            "{paths:?}"
        );
    }
}
