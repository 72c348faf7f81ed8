//! Step 7, record: conditions that kstatus, Argo CD and Flux read correctly, written with
//! server-side apply under one field manager, and only when something changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::crd::{SipTrunk, SipTrunkStatus};

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "siptrunk-operator";

/// The state a reconcile ended in, as conditions express it.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    /// The provider holds exactly the desired trunk.
    InSync,
    /// Writes are paused or observe-only and the provider differs (listed fields).
    Suspended {
        /// Paused or ObserveOnly.
        reason: &'static str,
        /// What would change.
        pending: Vec<String>,
    },
    /// Waiting on the user (InvalidSpec, SecretNotFound, Conflict, Unauthorized, ...).
    Stalled {
        /// Bounded reason.
        reason: &'static str,
        /// What to fix.
        message: String,
    },
    /// Working or retrying (Creating, ProviderUnavailable, RateLimited, ...).
    Progressing {
        /// Bounded reason.
        reason: &'static str,
        /// What is happening.
        message: String,
    },
}

fn condition(
    prev: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    condition_with(prev, type_, if status { "True" } else { "False" }, reason, message, generation)
}

/// One condition, keeping `lastTransitionTime` from `prev` while its status is unchanged and
/// cutting the message to 1024 characters. `status` is True, False or Unknown.
pub fn condition_with(
    prev: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    let status = status.to_string();
    let last = prev
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()));
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time: last,
    }
}

/// Conditions for a health: `Ready` always; `Synced`; `Reconciling` and `Stalled` only while true
/// (kstatus "abnormal-true" conditions are removed when they clear).
pub fn conditions(prev: &[Condition], health: &Health, generation: Option<i64>) -> Vec<Condition> {
    let mut out = Vec::new();
    match health {
        Health::InSync => {
            out.push(condition(prev, "Ready", true, "Synced", "the provider holds exactly this trunk", generation));
            out.push(condition(prev, "Synced", true, "Synced", "no drift at the last check", generation));
        }
        Health::Suspended { reason, pending } => {
            let msg = format!("writes are suspended ({reason}); the provider differs in: {}", pending.join(", "));
            out.push(condition(prev, "Ready", false, reason, &msg, generation));
            out.push(condition(prev, "Synced", false, "DriftDetected", &msg, generation));
        }
        Health::Stalled { reason, message } => {
            out.push(condition(prev, "Ready", false, reason, message, generation));
            out.push(condition(prev, "Stalled", true, reason, message, generation));
        }
        Health::Progressing { reason, message } => {
            out.push(condition(prev, "Ready", false, reason, message, generation));
            out.push(condition(prev, "Reconciling", true, reason, message, generation));
        }
    }
    out
}

/// Says in a True Ready condition which spec fields the provider does not hold as specified
/// (`status.notApplied`), instead of claiming it holds exactly this trunk.
pub fn note_not_applied(conditions: &mut [Condition], not_applied: Option<&[String]>) {
    let Some(fields) = not_applied.filter(|f| !f.is_empty()) else { return };
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == "Ready" && c.status == "True") {
        let msg = format!("the provider holds this trunk, except: {}", fields.join("; "));
        c.message = msg.chars().take(1024).collect();
    }
}

/// The Ready condition of a status, if any.
pub fn ready(status: Option<&SipTrunkStatus>) -> Option<&Condition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
}

/// Applies `status` unless it equals what the object already has (idempotent; no write,
/// no watch event, no extra reconcile).
pub async fn write(api: &Api<SipTrunk>, trunk: &SipTrunk, status: SipTrunkStatus) -> Result<bool, kube::Error> {
    if trunk.status.as_ref() == Some(&status) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": "siptrunk.dev/v1alpha1",
        "kind": "SipTrunk",
        "status": status,
    });
    api.patch_status(&trunk.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(true)
}

/// True when the trunk's `Ready` condition is True for its current generation (what the
/// `siptrunk_trunks_not_ready` gauge counts the complement of).
pub fn is_ready(trunk: &SipTrunk) -> bool {
    let conditions = trunk.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    ready_for(conditions, trunk.metadata.generation)
}

/// Whether `conditions` say Ready=True for `generation` (a condition without
/// observedGeneration counts as current).
pub fn ready_for(conditions: &[Condition], generation: Option<i64>) -> bool {
    conditions.iter().any(|c| {
        c.type_ == "Ready"
            && c.status == "True"
            && (c.observed_generation.is_none() || c.observed_generation == generation)
    })
}

#[cfg(test)]
mod ready_tests {
    use super::*;

    fn ready(status: &str, observed: Option<i64>) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: "Synced".into(),
            message: String::new(),
            observed_generation: observed,
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        }
    }

    #[test]
    fn ready_means_true_for_the_current_generation() {
        assert!(ready_for(&[ready("True", Some(3))], Some(3)));
        assert!(ready_for(&[ready("True", None)], Some(3)));
        assert!(!ready_for(&[ready("True", Some(2))], Some(3)), "an older generation's Ready is stale");
        assert!(!ready_for(&[ready("False", Some(3))], Some(3)));
        assert!(!ready_for(&[], Some(1)), "no status yet");
    }
}
