//! The plan of a SipDispatchRule (a LiveKit kind): what the rule controller
//! (`controller::dispatch`) would do, by its steps on files. The trunk references resolve
//! through the plans of the referenced SipTrunks of the input (a trunk the operator would create
//! first is named as pending); the rule is found by its marker in one list of the project's rules
//! per account; `dispatch::diff` says whether it is created, updated, re-sent whole or left
//! alone. Read-only: list calls only.

use std::collections::HashMap;

use kube::ResourceExt;
use secrecy::ExposeSecret;

use super::{Action, Planner, TrunkPlan, fail};
use crate::controller::dispatch::{all_trunks_refused, rule_provider};
use crate::controller::error::redact;
use crate::crd::SipTrunk;
use crate::crd::dispatch::SipDispatchRule;
use crate::provider::ProviderError;
use crate::provider::livekit::LivekitFamily;
use crate::provider::livekit::dispatch::{self as rules, RuleChange};
use crate::provider::livekit::wire::SipDispatchRuleInfo;

/// The dispatch rules of each account, listed at most once per plan: account key → the list,
/// or why it failed.
pub(super) type Lists = HashMap<String, Result<Vec<SipDispatchRuleInfo>, ProviderError>>;

impl Planner {
    /// The plan of one rule; `trunks` are the input's SipTrunks and `plans` their plans.
    pub(super) async fn rule(
        &mut self,
        rule: &SipDispatchRule,
        source: &str,
        trunks: &[(SipTrunk, String)],
        plans: &[TrunkPlan],
    ) -> TrunkPlan {
        let ns = rule.namespace().unwrap_or_default();
        let name = rule.name_any();
        let r = &rule.spec.provider_ref;
        let mut plan = TrunkPlan::start(&ns, &name, source, r);

        // 1. The provider (in the input), of type livekit.
        let provider = match rule_provider(rule, &ns, &self.providers, &self.cluster_providers) {
            Ok(p) => p,
            Err(e) if e.reason() == "ProviderNotFound" => {
                return fail(plan, Action::Error, e.reason(), format!("{e} (not in the input)"));
            }
            Err(e) => return fail(plan, Action::Error, e.reason(), e.to_string()),
        };
        plan.provider_type = Some(provider.type_);
        if let Some(e) = all_trunks_refused(rule) {
            return fail(plan, Action::Invalid, e.reason(), e.to_string());
        }

        // 2. The trunk references, through the referenced trunks' own plans.
        let mut ids = Vec::new();
        let mut pending = Vec::new();
        let mut waiting = Vec::new();
        for t in rule.spec.trunk_refs.iter().filter(|_| !rule.spec.all_trunks) {
            let trunk =
                trunks.iter().map(|(t, _)| t).find(|x| x.namespace().as_deref() == Some(&ns) && x.name_any() == t.name);
            let trunk_plan = plans.iter().find(|p| p.namespace == ns && p.name == t.name);
            let (Some(trunk), Some(trunk_plan)) = (trunk, trunk_plan) else {
                waiting.push(format!("SipTrunk {ns}/{} is not in the input", t.name));
                continue;
            };
            if trunk.spec.provider_ref != rule.spec.provider_ref {
                waiting.push(format!("SipTrunk {} is on another provider", t.name));
            } else if trunk.spec.livekit.as_ref().is_none_or(|l| l.inbound.is_none()) {
                waiting
                    .push(format!("SipTrunk {} has no livekit.inbound part (only inbound trunks take calls)", t.name));
            } else {
                match (trunk_plan.action, &trunk_plan.trunk_id) {
                    (Action::Create, _) => pending.push(t.name.clone()),
                    (Action::Nothing | Action::Update | Action::Adopt, Some(id)) => ids.push(id.clone()),
                    (a, _) => waiting.push(format!(
                        "SipTrunk {} would not become Ready (its plan: {})",
                        t.name,
                        format!("{a:?}").to_lowercase()
                    )),
                }
            }
        }
        if !waiting.is_empty() {
            return fail(plan, Action::Error, "TrunkNotReady", waiting.join("; "));
        }

        // 3. The account and the rule's marker.
        let (token, token_source) = match self.token(&provider, &r.name) {
            Ok(t) => t,
            Err(m) => return fail(plan, Action::Error, "SecretNotFound", m),
        };
        let secret_refs = [token.expose_secret()];
        let account = match self.account::<LivekitFamily>(provider.clone(), token.clone()) {
            Ok(a) => a,
            Err((reason, m)) => return fail(plan, Action::Error, &reason, redact(&m, &secret_refs)),
        };
        let Some(key) = self.marker_key() else {
            return fail(
                plan,
                Action::Error,
                "MarkerKeyMissing",
                "the operator's marker key is needed to tell its rules from others': set SIPTRUNK_MARKER_KEY or put \
                 the key Secret into the input (see --help)"
                    .into(),
            );
        };
        let marker = key.marker(&ns, &name);

        // 4. Observe: one list of the project's rules per account.
        let listed = match self.rule_lists.get(&provider.key) {
            Some(l) => l.clone(),
            None => {
                let l = account.client.list_dispatch_rules(&[]).await;
                self.rule_lists.insert(provider.key.clone(), l.clone());
                l
            }
        };
        let listed = match listed {
            Ok(l) => l,
            Err(e) => {
                // The client's transport errors speak of writes; the plan only lists.
                let text = e.to_string().replace(" (the outcome of a write is unknown)", "");
                return fail(
                    plan,
                    Action::Error,
                    e.reason(),
                    format!("{} ({token_source})", redact(&text, &secret_refs)),
                );
            }
        };

        // 5. Decide as the controller does: the rule under status.ruleId if it carries the
        //    marker, else the first rule carrying it; none is a create.
        let hint = rule.status.as_ref().and_then(|s| s.rule_id.as_deref());
        let ours = |r: &&SipDispatchRuleInfo| rules::owned(&r.metadata, &marker);
        let have = hint
            .and_then(|id| listed.iter().filter(ours).find(|r| r.sip_dispatch_rule_id == id))
            .or_else(|| listed.iter().find(ours));
        if let Some(id) = hint
            && have.is_none_or(|h| h.sip_dispatch_rule_id != id)
        {
            plan.notes.push(format!("status.ruleId {id} is not this rule's at LiveKit (removed there?)"));
        }
        if !pending.is_empty() {
            plan.notes.push(format!(
                "names SipTrunk {}, which the operator creates first: the rule waits until it is Ready, then names \
                 its id",
                pending.join(", ")
            ));
        }
        let display = rule.spec.display_name.clone().unwrap_or_else(|| name.clone());
        let want = rules::desired(&display, &marker, &rule.spec, ids);
        match have {
            None => plan.action = Action::Create,
            Some(have) => {
                plan.trunk_id = Some(have.sip_dispatch_rule_id.clone());
                let mut fields: Vec<String> =
                    rules::changed_fields(&want, have).into_iter().map(String::from).collect();
                if !pending.is_empty() && !fields.iter().any(|f| f == "trunk_ids") {
                    fields.insert(0, "trunk_ids".into());
                }
                if matches!(rules::diff(&want, have), RuleChange::Replace(_)) {
                    plan.notes.push("sent whole (replace): the update form cannot change all of these fields".into());
                }
                plan.action = if fields.is_empty() { Action::Nothing } else { Action::Update };
                plan.fields = fields;
            }
        }
        plan
    }
}
