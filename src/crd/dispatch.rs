//! The `SipDispatchRule` kind: how calls arriving on LiveKit inbound trunks are put into rooms.
//!
//! A rule is its own object because one rule serves many trunks and a trunk may have none. It
//! names SipTrunks of its own namespace, never `ST_` ids: the controller resolves each name to
//! the inbound trunk id that SipTrunk's status records, so a tenant can only point rules at trunks
//! its namespace owns.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::trunk::ProviderRef;

/// How calls on the referenced LiveKit inbound trunks are dispatched to rooms.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "siptrunk.dev",
    version = "v1alpha1",
    kind = "SipDispatchRule",
    plural = "sipdispatchrules",
    shortname = "sdr",
    category = "siptrunk-operator",
    category = "voice",
    namespaced,
    status = "SipDispatchRuleStatus",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.providerRef.name","description":"The LiveKit SipProvider or ClusterSipProvider"}"#,
    printcolumn = r#"{"name":"Rule ID","type":"string","jsonPath":".status.ruleId","description":"LiveKit's SDR_ id"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether LiveKit holds exactly this rule"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1,"description":"Why Ready has its value"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(has(self.allTrunks) && self.allTrunks) != (has(self.trunkRefs) && size(self.trunkRefs) > 0)",
        "message": "name the SipTrunks this rule serves in trunkRefs, or set allTrunks: true (and no trunkRefs) for a project-wide rule; an empty trunk list would silently match every trunk of the LiveKit project"
    },
    {
        "rule": "self.providerRef == oldSelf.providerRef",
        "message": "providerRef cannot change: create a new SipDispatchRule instead",
        "fieldPath": ".providerRef"
    }
]))]
pub struct SipDispatchRuleSpec {
    /// The LiveKit provider (SipProvider in this namespace, or ClusterSipProvider). Immutable.
    pub provider_ref: ProviderRef,
    /// Human-friendly label, sent as the rule's name. No control characters, nothing marker-shaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub display_name: Option<String>,
    /// SipTrunks of this namespace (with a livekit inbound part) whose calls this rule takes.
    /// The rule waits until each is Ready on the same provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub trunk_refs: Vec<TrunkRef>,
    /// Serve every trunk of the LiveKit project (refused on a ClusterSipProvider, which other
    /// namespaces share). Requires trunkRefs to be empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_trunks: bool,
    /// How a call becomes a room: exactly one of direct, individual, callee.
    pub rule: DispatchRuleSpec,
    /// Keep the caller's number out of the room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide_phone_number: bool,
    /// Caller numbers this rule takes, E.164 (empty: any caller).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(n, n.matches('^\\\\+[1-9][0-9]{6,14}$'))",
        "message": "every inbound number must be E.164 with a leading + (e.g. +14155551234)"
    }]))]
    pub inbound_numbers: Vec<String>,
    /// Participant attributes set on the caller (e.g. team: support).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub attributes: BTreeMap<String, String>,
    /// What happens to the rule at LiveKit when this object is deleted (Delete or Orphan).
    #[serde(default)]
    pub deletion_policy: super::trunk::DeletionPolicy,
}

/// A SipTrunk in the rule's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct TrunkRef {
    /// The name of a SipTrunk in this rule's namespace (a rule cannot name another namespace's trunks).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The room a call goes to: exactly one kind.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "[has(self.direct), has(self.individual), has(self.callee)].filter(x, x).size() == 1",
    "message": "set exactly one of rule.direct, rule.individual or rule.callee"
}]))]
pub struct DispatchRuleSpec {
    /// Every call into one room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectRule>,
    /// A new room per caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<IndividualRule>,
    /// A room per called number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee: Option<CalleeRule>,
}

/// `dispatch_rule_direct`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectRule {
    /// The name of the room every call of this rule joins.
    #[schemars(length(min = 1, max = 128))]
    pub room_name: String,
}

/// `dispatch_rule_individual`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndividualRule {
    /// Room name prefix (a random suffix follows).
    #[schemars(length(max = 64))]
    #[serde(default)]
    pub room_prefix: String,
}

/// `dispatch_rule_callee`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CalleeRule {
    /// Room name prefix before the called number.
    #[schemars(length(max = 64))]
    #[serde(default)]
    pub room_prefix: String,
    /// Add a random suffix (a room per call rather than per number).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub randomize: bool,
}

/// What the operator observed of the rule.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SipDispatchRuleStatus {
    /// The `SDR_` id LiveKit gave this rule (empty until it was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// The inbound trunk ids the rule serves, resolved from trunkRefs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trunk_ids: Vec<String>,
    /// Write-ahead record of a create sent whose answer was not seen yet (RFC 3339 time): while
    /// set, the rule is looked for by its marker before any new create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<String>,
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (LiveKit holds exactly this rule), Reconciling (waiting for trunks or retrying) and
    /// Stalled (waiting for a change of the spec or of a referenced object).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
