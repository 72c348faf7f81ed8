//! The `spec.livekit` block of a SipTrunk on a LiveKit SIP provider: one LiveKit trunk, inbound or
//! outbound. LiveKit keeps the two directions as separate objects with their own `ST_` ids; one
//! SipTrunk stands for one of them, so every SipTrunk has one remote trunk, one id, one create
//! intent and one marker, as on the other families (a carrier used both ways is two SipTrunks that
//! may share the password Secret).
//!
//! What the other families keep at the top level is reused: `displayName` becomes the trunks'
//! `name`, `auth` gives both directions their digest credentials (`type: ip` turns
//! `allowedInboundIps` into the inbound trunk's `allowed_addresses`). The block holds only what
//! LiveKit has and the others do not.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// LiveKit SIP settings: exactly one of `inbound` or `outbound`, which cannot change afterwards.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.inbound) != has(self.outbound)",
        "message": "set exactly one of inbound or outbound: a SipTrunk is one LiveKit trunk (use two SipTrunks for both directions)"
    },
    {
        "rule": "has(self.inbound) == has(oldSelf.inbound)",
        "message": "a LiveKit trunk cannot change direction: delete this SipTrunk and create one for the other direction"
    }
]))]
pub struct LiveKitTrunk {
    /// The inbound trunk: calls from the carrier into LiveKit rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<LiveKitInbound>,
    /// The outbound trunk: calls LiveKit places through the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<LiveKitOutbound>,
}

/// A LiveKit inbound trunk.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveKitInbound {
    /// Called numbers this trunk accepts, E.164 (e.g. +14155551234). Empty: any number the
    /// carrier sends (then auth or allowed addresses must tell this trunk apart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(length(min = 8, max = 16)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(n, n.matches('^\\\\+[1-9][0-9]{6,14}$'))",
        "message": "every inbound number must be E.164 with a leading + (e.g. +14155551234)"
    }]))]
    pub numbers: Vec<String>,
    /// Caller numbers allowed to call, E.164. Empty: any caller.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(length(min = 8, max = 16)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(n, n.matches('^\\\\+[1-9][0-9]{6,14}$'))",
        "message": "every allowed caller number must be E.164 with a leading + (e.g. +14155551234)"
    }]))]
    pub allowed_numbers: Vec<String>,
    /// SRTP: disable (default), allow or require.
    #[serde(default)]
    pub media_encryption: MediaEncryption,
}

/// A LiveKit outbound trunk.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveKitOutbound {
    /// The carrier's SIP host name or IP address, optionally with :port; no sip: prefix.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$')",
        "message": "address must be a host name or IP address with an optional :port, without sip: or a path (e.g. sip.carrier.example or 203.0.113.10:5060)"
    }]))]
    pub address: String,
    /// Transport to the carrier: auto (default), udp, tcp or tls.
    #[serde(default)]
    pub transport: Transport,
    /// Caller ids LiveKit may present (one is picked per call), E.164. At least one.
    #[schemars(length(min = 1, max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(inner(length(min = 8, max = 16)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(n, n.matches('^\\\\+[1-9][0-9]{6,14}$'))",
        "message": "every outbound number must be E.164 with a leading + (e.g. +14155551234)"
    }]))]
    pub numbers: Vec<String>,
    /// ISO 3166-1 alpha-2 country of the destinations (LiveKit Cloud region pinning), e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Z]{2}$')",
        "message": "destinationCountry must be two capital letters (ISO 3166-1 alpha-2, e.g. US)"
    }]))]
    pub destination_country: Option<String>,
    /// SRTP: disable (default), allow or require.
    #[serde(default)]
    pub media_encryption: MediaEncryption,
}

/// SRTP on a LiveKit trunk.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaEncryption {
    /// No SRTP.
    #[default]
    Disable,
    /// SRTP when the peer offers it.
    Allow,
    /// SRTP required.
    Require,
}

/// SIP transport of a LiveKit outbound trunk.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Let LiveKit choose.
    #[default]
    Auto,
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS.
    Tls,
}
