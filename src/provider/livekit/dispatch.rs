//! The pure side of a `SipDispatchRule`: the rule LiveKit should hold for a spec whose trunk
//! references were resolved to inbound trunk ids, and the change that gets it there. Dispatch
//! rules carry no secret (PINs are not offered), so a field the `update` form cannot change is
//! corrected with `replace`, which re-sends the whole rule.

use super::model::{Direction, carries_a_marker, marker_state};
use super::wire::{
    DispatchRuleKind, ListUpdate, SipDispatchRule, SipDispatchRuleCallee, SipDispatchRuleDirect,
    SipDispatchRuleIndividual, SipDispatchRuleInfo, SipDispatchRuleUpdate,
};
use crate::crd::dispatch::{DispatchRuleSpec, SipDispatchRuleSpec};
use crate::model::MarkerState;

/// The metadata of a rule owned by the object of `marker`.
pub fn metadata(marker: &str) -> String {
    format!("managed-by=siptrunk-operator key={marker} part=dispatch")
}

/// Whether a rule's metadata carries `marker`.
pub fn owned(metadata: &str, marker: &str) -> bool {
    metadata.split_whitespace().any(|w| w.strip_prefix("key=") == Some(marker))
        && metadata.split_whitespace().any(|w| w == "part=dispatch")
}

/// Whether an inbound trunk may be named by a rule that references the SipTrunk of `trunk_marker`
/// (the marker of a SipTrunk in the rule's own namespace): LiveKit's trunk must carry that marker
/// as an inbound part, whatever id the SipTrunk's status shows.
pub fn trunk_is_ours(trunk_metadata: &str, trunk_marker: &str) -> bool {
    marker_state(trunk_metadata, trunk_marker, Direction::Inbound) == MarkerState::Ours
}

/// Whether a rule carries nobody's marker (the only kind a rule object could adopt).
pub fn unmarked(metadata: &str) -> bool {
    !carries_a_marker(metadata)
}

fn rule_kind(r: &DispatchRuleSpec) -> Option<DispatchRuleKind> {
    if let Some(d) = &r.direct {
        return Some(DispatchRuleKind::DispatchRuleDirect(SipDispatchRuleDirect {
            room_name: d.room_name.clone(),
            pin: String::new(),
        }));
    }
    if let Some(i) = &r.individual {
        return Some(DispatchRuleKind::DispatchRuleIndividual(SipDispatchRuleIndividual {
            room_prefix: i.room_prefix.clone(),
            pin: String::new(),
            no_randomness: false,
        }));
    }
    r.callee.as_ref().map(|c| {
        DispatchRuleKind::DispatchRuleCallee(SipDispatchRuleCallee {
            room_prefix: c.room_prefix.clone(),
            pin: String::new(),
            randomize: c.randomize,
        })
    })
}

/// The rule LiveKit should hold. `trunk_ids` are the resolved inbound ids (sorted here); empty
/// only for an `allTrunks` rule, which the caller allows only where it is permitted.
pub fn desired(
    name: &str,
    marker: &str,
    spec: &SipDispatchRuleSpec,
    mut trunk_ids: Vec<String>,
) -> SipDispatchRuleInfo {
    trunk_ids.sort();
    trunk_ids.dedup();
    let mut inbound_numbers = spec.inbound_numbers.clone();
    inbound_numbers.sort();
    SipDispatchRuleInfo {
        rule: Some(SipDispatchRule { rule: rule_kind(&spec.rule) }),
        trunk_ids,
        hide_phone_number: spec.hide_phone_number,
        name: name.to_string(),
        metadata: metadata(marker),
        inbound_numbers,
        attributes: spec.attributes.clone(),
        ..Default::default()
    }
}

/// How to get from `have` to `want`.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleChange {
    /// Nothing differs.
    None,
    /// Only fields of the `update` form differ.
    Update(SipDispatchRuleUpdate),
    /// A field only `replace` can change differs (or attributes must be emptied, which the
    /// `update` form reads as "leave alone").
    Replace(SipDispatchRuleInfo),
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The change from `have` to `want` (`want` as made by `desired`).
pub fn diff(want: &SipDispatchRuleInfo, have: &SipDispatchRuleInfo) -> RuleChange {
    let replace_only = have.hide_phone_number != want.hide_phone_number
        || sorted(&have.inbound_numbers) != want.inbound_numbers
        || (want.attributes.is_empty() && !have.attributes.is_empty());
    if replace_only {
        return RuleChange::Replace(want.clone());
    }
    let mut u = SipDispatchRuleUpdate::default();
    if sorted(&have.trunk_ids) != want.trunk_ids {
        u.trunk_ids = Some(ListUpdate::set(want.trunk_ids.clone()));
    }
    if have.rule != want.rule {
        u.rule = want.rule.clone();
    }
    if have.name != want.name {
        u.name = Some(want.name.clone());
    }
    if have.metadata != want.metadata {
        u.metadata = Some(want.metadata.clone());
    }
    if have.attributes != want.attributes {
        u.attributes = want.attributes.clone();
    }
    if u == SipDispatchRuleUpdate::default() { RuleChange::None } else { RuleChange::Update(u) }
}

/// The fields in which `have` differs from `want` (`want` as made by `desired`), by wire name:
/// what an update or a replace would correct.
pub fn changed_fields(want: &SipDispatchRuleInfo, have: &SipDispatchRuleInfo) -> Vec<&'static str> {
    [
        ("trunk_ids", sorted(&have.trunk_ids) != want.trunk_ids),
        ("rule", have.rule != want.rule),
        ("name", have.name != want.name),
        ("metadata", have.metadata != want.metadata),
        ("attributes", have.attributes != want.attributes),
        ("hide_phone_number", have.hide_phone_number != want.hide_phone_number),
        ("inbound_numbers", sorted(&have.inbound_numbers) != want.inbound_numbers),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> SipDispatchRuleSpec {
        serde_json::from_value(v).expect("spec")
    }

    fn base() -> SipDispatchRuleSpec {
        spec(serde_json::json!({
            "providerRef": {"name": "lk"},
            "trunkRefs": [{"name": "main-line"}],
            "rule": {"individual": {"roomPrefix": "call-"}},
            "attributes": {"team": "support"}
        }))
    }

    const M: &str = "op:00112233aabb";

    #[test]
    fn a_rule_as_created_needs_no_change() {
        let want = desired("support", M, &base(), vec!["ST_b".into(), "ST_a".into()]);
        assert_eq!(want.trunk_ids, vec!["ST_a".to_string(), "ST_b".to_string()]);
        assert_eq!(diff(&want, &want), RuleChange::None);
        let mut have = want.clone();
        have.trunk_ids.reverse();
        assert_eq!(diff(&want, &have), RuleChange::None, "trunk order does not matter");
        assert!(owned(&want.metadata, M));
        assert!(!owned(&want.metadata, "op:ffffffffffff"));
        assert!(!unmarked(&want.metadata));
    }

    #[test]
    fn trunk_and_rule_changes_use_the_update_form() {
        let want = desired("support", M, &base(), vec!["ST_a".into(), "ST_b".into()]);
        let mut have = want.clone();
        have.trunk_ids = vec!["ST_a".into()];
        have.rule = Some(SipDispatchRule {
            rule: Some(DispatchRuleKind::DispatchRuleDirect(SipDispatchRuleDirect {
                room_name: "lobby".into(),
                pin: String::new(),
            })),
        });
        match diff(&want, &have) {
            RuleChange::Update(u) => {
                assert_eq!(u.trunk_ids.map(|l| l.set), Some(vec!["ST_a".to_string(), "ST_b".to_string()]));
                assert_eq!(u.rule, want.rule);
                assert_eq!(u.name, None);
            }
            other => panic!("expected an update: {other:?}"),
        }
    }

    #[test]
    fn fields_the_update_form_cannot_change_are_replaced() {
        let want = desired("support", M, &base(), vec!["ST_a".into()]);
        let mut have = want.clone();
        have.hide_phone_number = true;
        assert_eq!(diff(&want, &have), RuleChange::Replace(want.clone()));
        let mut s = base();
        s.attributes.clear();
        let want = desired("support", M, &s, vec!["ST_a".into()]);
        let have = desired("support", M, &base(), vec!["ST_a".into()]);
        assert_eq!(diff(&want, &have), RuleChange::Replace(want.clone()), "emptying attributes needs replace");
        assert_eq!(changed_fields(&want, &have), vec!["attributes"]);
        assert!(changed_fields(&want, &want).is_empty());
    }

    #[test]
    fn only_inbound_trunks_carrying_the_namespace_marker_may_be_named() {
        let inbound = super::super::model::metadata(M, Direction::Inbound);
        let outbound = super::super::model::metadata(M, Direction::Outbound);
        assert!(trunk_is_ours(&inbound, M));
        assert!(!trunk_is_ours(&outbound, M), "an outbound trunk takes no calls");
        assert!(!trunk_is_ours(&inbound, "op:999999999999"), "another object's trunk");
        assert!(!trunk_is_ours("key=op:00112233aabb", M), "a hand-made look-alike without the part");
    }
}
