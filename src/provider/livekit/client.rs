//! Operations of the LiveKit SIP API for one project: inbound and outbound trunks and dispatch
//! rules (list, get, create, partial update, delete), on top of the Twirp transport.

use std::sync::Arc;

use super::twirp::{Config, Transport};
use super::wire::rpc::*;
use super::wire::*;
use crate::metrics::Metrics;
use crate::provider::error::ProviderError;
use crate::provider::http::{HttpClient, ListUsage};

/// Items per page of a full list.
pub const DEFAULT_PAGE_SIZE: i32 = 500;

/// Whether a dispatch rule may have no trunk ids. LiveKit reads an empty `trunk_ids` as "every
/// trunk of the project", so an empty list is only sent when asked for by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrunkScope {
    /// Only the trunks listed (an empty list is refused before any call).
    Listed,
    /// Every trunk of the project, on purpose.
    AllTrunks,
}

/// A client for one LiveKit project.
pub struct Client {
    t: Transport,
}

impl Client {
    /// Builds the client (no request is made).
    pub fn new(cfg: Config, metrics: Arc<Metrics>) -> Result<Self, String> {
        Ok(Client { t: Transport::new(cfg, metrics)? })
    }

    /// The client of an account whose shared HTTP client the controller built (its secret is
    /// the API secret, its `api_key` the API key).
    pub fn from_http(http: HttpClient) -> Self {
        Client { t: Transport::from_http(http, DEFAULT_PAGE_SIZE) }
    }

    /// The account's HTTP client.
    pub fn http(&self) -> &HttpClient {
        self.t.http()
    }

    /// Every inbound trunk of the project, page by page (see `Pages`), within the account's list
    /// budget.
    pub async fn list_inbound(&self) -> Result<Vec<SipInboundTrunkInfo>, ProviderError> {
        self.list_inbound_within(&mut ListUsage::new(self.http().list_budget())).await
    }

    /// `list_inbound` within what is left of `usage`.
    pub async fn list_inbound_within(&self, usage: &mut ListUsage) -> Result<Vec<SipInboundTrunkInfo>, ProviderError> {
        let mut pages = Pages::new(self.t.page_size());
        while let Some(page) = pages.next_request() {
            let req = ListSipTrunkRequest { page: Some(page), ..Default::default() };
            let r: ListSipInboundTrunkResponse = self
                .t
                .list_page("ListSIPInboundTrunk", &req, usage, |r: &ListSipInboundTrunkResponse| r.items.len())
                .await?;
            pages.take(r.items, |t| &t.sip_trunk_id)?;
        }
        Ok(pages.into_items())
    }

    /// These inbound trunks, in this order; `None` where the project has no such trunk.
    pub async fn list_inbound_by_ids(&self, ids: &[String]) -> Result<Vec<Option<SipInboundTrunkInfo>>, ProviderError> {
        let req = ListSipTrunkRequest { trunk_ids: ids.to_vec(), ..Default::default() };
        let r: ListSipInboundTrunkResponse = self.t.call("ListSIPInboundTrunk", "list", &req, &[]).await?;
        by_ids(ids, r.items, |t| &t.sip_trunk_id)
    }

    /// One inbound trunk (`NotFound` when it does not exist).
    pub async fn get_inbound(&self, id: &str) -> Result<SipInboundTrunkInfo, ProviderError> {
        let req = TrunkIdRequest { sip_trunk_id: id.to_string() };
        let r: GetSipInboundTrunkResponse = self.t.call("GetSIPInboundTrunk", "get", &req, &[]).await?;
        r.trunk.ok_or_else(|| empty("GetSIPInboundTrunk"))
    }

    /// Creates an inbound trunk (its id, if any, is ignored by the server).
    pub async fn create_inbound(&self, trunk: SipInboundTrunkInfo) -> Result<SipInboundTrunkInfo, ProviderError> {
        let password = trunk.auth_password.clone();
        let req = CreateSipInboundTrunkRequest { trunk: Some(trunk) };
        self.t.call("CreateSIPInboundTrunk", "create", &req, &[&password]).await.and_then(|t| has_id(t, "create"))
    }

    /// Changes only the fields set in `update` (lists through `ListUpdate`).
    pub async fn update_inbound(
        &self,
        id: &str,
        update: SipInboundTrunkUpdate,
    ) -> Result<SipInboundTrunkInfo, ProviderError> {
        let password = update.auth_password.clone().unwrap_or_default();
        let req = UpdateSipInboundTrunkRequest {
            sip_trunk_id: id.to_string(),
            action: Some(UpdateInboundAction::Update(update)),
        };
        self.t.call("UpdateSIPInboundTrunk", "update", &req, &[&password]).await
    }

    /// Every outbound trunk of the project, page by page, within the account's list budget.
    pub async fn list_outbound(&self) -> Result<Vec<SipOutboundTrunkInfo>, ProviderError> {
        self.list_outbound_within(&mut ListUsage::new(self.http().list_budget())).await
    }

    /// `list_outbound` within what is left of `usage`.
    pub async fn list_outbound_within(
        &self,
        usage: &mut ListUsage,
    ) -> Result<Vec<SipOutboundTrunkInfo>, ProviderError> {
        let mut pages = Pages::new(self.t.page_size());
        while let Some(page) = pages.next_request() {
            let req = ListSipTrunkRequest { page: Some(page), ..Default::default() };
            let r: ListSipOutboundTrunkResponse = self
                .t
                .list_page("ListSIPOutboundTrunk", &req, usage, |r: &ListSipOutboundTrunkResponse| r.items.len())
                .await?;
            pages.take(r.items, |t| &t.sip_trunk_id)?;
        }
        Ok(pages.into_items())
    }

    /// These outbound trunks, in this order; `None` where the project has no such trunk.
    pub async fn list_outbound_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<SipOutboundTrunkInfo>>, ProviderError> {
        let req = ListSipTrunkRequest { trunk_ids: ids.to_vec(), ..Default::default() };
        let r: ListSipOutboundTrunkResponse = self.t.call("ListSIPOutboundTrunk", "list", &req, &[]).await?;
        by_ids(ids, r.items, |t| &t.sip_trunk_id)
    }

    /// One outbound trunk (`NotFound` when it does not exist).
    pub async fn get_outbound(&self, id: &str) -> Result<SipOutboundTrunkInfo, ProviderError> {
        let req = TrunkIdRequest { sip_trunk_id: id.to_string() };
        let r: GetSipOutboundTrunkResponse = self.t.call("GetSIPOutboundTrunk", "get", &req, &[]).await?;
        r.trunk.ok_or_else(|| empty("GetSIPOutboundTrunk"))
    }

    /// Creates an outbound trunk.
    pub async fn create_outbound(&self, trunk: SipOutboundTrunkInfo) -> Result<SipOutboundTrunkInfo, ProviderError> {
        let password = trunk.auth_password.clone();
        let req = CreateSipOutboundTrunkRequest { trunk: Some(trunk) };
        self.t.call("CreateSIPOutboundTrunk", "create", &req, &[&password]).await.and_then(|t| has_id(t, "create"))
    }

    /// Changes only the fields set in `update`.
    pub async fn update_outbound(
        &self,
        id: &str,
        update: SipOutboundTrunkUpdate,
    ) -> Result<SipOutboundTrunkInfo, ProviderError> {
        let password = update.auth_password.clone().unwrap_or_default();
        let req = UpdateSipOutboundTrunkRequest {
            sip_trunk_id: id.to_string(),
            action: Some(UpdateOutboundAction::Update(update)),
        };
        self.t.call("UpdateSIPOutboundTrunk", "update", &req, &[&password]).await
    }

    /// Deletes a trunk of either kind (one method serves both).
    pub async fn delete_trunk(&self, id: &str) -> Result<SipTrunkInfo, ProviderError> {
        let req = TrunkIdRequest { sip_trunk_id: id.to_string() };
        self.t.call("DeleteSIPTrunk", "delete", &req, &[]).await
    }

    /// Dispatch rules: all of them, or only those for `trunk_ids` (the server adds the rules
    /// that apply to every trunk).
    pub async fn list_dispatch_rules(&self, trunk_ids: &[String]) -> Result<Vec<SipDispatchRuleInfo>, ProviderError> {
        let mut pages = Pages::new(self.t.page_size());
        while let Some(page) = pages.next_request() {
            let req =
                ListSipDispatchRuleRequest { trunk_ids: trunk_ids.to_vec(), page: Some(page), ..Default::default() };
            let r: ListSipDispatchRuleResponse = self.t.call("ListSIPDispatchRule", "list", &req, &[]).await?;
            pages.take(r.items, |d| &d.sip_dispatch_rule_id)?;
        }
        Ok(pages.into_items())
    }

    /// These rules, in this order; `None` where the project has no such rule.
    pub async fn list_dispatch_rules_by_ids(
        &self,
        ids: &[String],
    ) -> Result<Vec<Option<SipDispatchRuleInfo>>, ProviderError> {
        let req = ListSipDispatchRuleRequest { dispatch_rule_ids: ids.to_vec(), ..Default::default() };
        let r: ListSipDispatchRuleResponse = self.t.call("ListSIPDispatchRule", "list", &req, &[]).await?;
        by_ids(ids, r.items, |d| &d.sip_dispatch_rule_id)
    }

    /// Creates a dispatch rule. With `TrunkScope::Listed`, an empty `trunk_ids` (which LiveKit
    /// reads as every trunk of the project) is refused without a call.
    pub async fn create_dispatch_rule(
        &self,
        rule: SipDispatchRuleInfo,
        scope: TrunkScope,
    ) -> Result<SipDispatchRuleInfo, ProviderError> {
        check_scope(&rule.trunk_ids, scope)?;
        let pin = rule_pin(rule.rule.as_ref());
        let req = CreateSipDispatchRuleRequest { dispatch_rule: Some(rule), ..Default::default() };
        self.t.call("CreateSIPDispatchRule", "create", &req, &[&pin]).await.and_then(|d| has_id(d, "create"))
    }

    /// Changes only the fields set in `update`. A `trunk_ids` update that can leave the list
    /// empty (a `set` of nothing, or `clear`) is refused with `TrunkScope::Listed`; `add`/`remove`
    /// are checked by the caller against the rule it observed.
    pub async fn update_dispatch_rule(
        &self,
        id: &str,
        update: SipDispatchRuleUpdate,
        scope: TrunkScope,
    ) -> Result<SipDispatchRuleInfo, ProviderError> {
        if let Some(u) = &update.trunk_ids
            && u.set.is_empty()
            && (u.clear || (u.add.is_empty() && u.remove.is_empty()))
        {
            check_scope(&[], scope)?;
        }
        let pin = rule_pin(update.rule.as_ref());
        let req = UpdateSipDispatchRuleRequest {
            sip_dispatch_rule_id: id.to_string(),
            action: Some(UpdateDispatchAction::Update(update)),
        };
        self.t.call("UpdateSIPDispatchRule", "update", &req, &[&pin]).await
    }

    /// Replaces the whole rule (the only way to change fields the `update` form lacks). An
    /// empty `trunk_ids` is refused with `TrunkScope::Listed`, as on create.
    pub async fn replace_dispatch_rule(
        &self,
        id: &str,
        rule: SipDispatchRuleInfo,
        scope: TrunkScope,
    ) -> Result<SipDispatchRuleInfo, ProviderError> {
        check_scope(&rule.trunk_ids, scope)?;
        let pin = rule_pin(rule.rule.as_ref());
        let req = UpdateSipDispatchRuleRequest {
            sip_dispatch_rule_id: id.to_string(),
            action: Some(UpdateDispatchAction::Replace(rule)),
        };
        self.t.call("UpdateSIPDispatchRule", "update", &req, &[&pin]).await
    }

    /// Deletes a dispatch rule.
    pub async fn delete_dispatch_rule(&self, id: &str) -> Result<SipDispatchRuleInfo, ProviderError> {
        let req = DispatchRuleIdRequest { sip_dispatch_rule_id: id.to_string() };
        self.t.call("DeleteSIPDispatchRule", "delete", &req, &[]).await
    }
}

/// Most pages a full list follows (a bound against a server that pages forever).
pub const MAX_PAGES: usize = 1000;

/// Paging of a full list by `after_id`, defensive: a list that silently stopped at a server-side
/// limit would make trunks look missing, and a missing trunk is re-created (LiveKit has no
/// natural key to stop a duplicate). A page shorter than the limit ends the list; a page longer
/// than it means the server ignored paging and sent everything; an id seen before (a server
/// ignoring `after_id`) ends it too, without duplicates. No order of ids is assumed.
pub struct Pages<T> {
    limit: i32,
    after: String,
    items: Vec<T>,
    seen: std::collections::HashSet<String>,
    done: bool,
    pages: usize,
}

impl<T> Pages<T> {
    /// Paging with `limit` items per page.
    pub fn new(limit: i32) -> Self {
        Pages {
            limit: limit.max(1),
            after: String::new(),
            items: Vec::new(),
            seen: Default::default(),
            done: false,
            pages: 0,
        }
    }

    /// The next page to ask for, or `None` when the list is complete.
    pub fn next_request(&self) -> Option<Pagination> {
        (!self.done).then(|| Pagination { after_id: self.after.clone(), limit: self.limit })
    }

    /// Takes one answered page.
    pub fn take(&mut self, page: Vec<T>, id_of: impl Fn(&T) -> &String) -> Result<(), ProviderError> {
        self.pages += 1;
        let n = page.len();
        let mut last = None;
        for item in page {
            let id = id_of(&item).clone();
            if id.is_empty() {
                return Err(ProviderError::Protocol("a list answered an item without an id".into()));
            }
            if !self.seen.insert(id.clone()) {
                // The server ignored `after_id`: it started over.
                self.done = true;
                return Ok(());
            }
            last = Some(id);
            self.items.push(item);
        }
        match last {
            Some(l) if n == self.limit as usize => self.after = l,
            _ => self.done = true,
        }
        if self.pages >= MAX_PAGES && !self.done {
            return Err(ProviderError::Protocol(format!("a list did not end after {MAX_PAGES} pages")));
        }
        Ok(())
    }

    /// Everything taken.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

/// Refuses an empty trunk list unless every trunk was asked for.
pub fn check_scope(trunk_ids: &[String], scope: TrunkScope) -> Result<(), ProviderError> {
    if trunk_ids.is_empty() && scope == TrunkScope::Listed {
        return Err(ProviderError::Invalid {
            status: 0,
            message: "a dispatch rule without trunk ids applies to every trunk of the LiveKit project; \
                      name the trunks, or ask for all trunks explicitly"
                .into(),
            fields: [("trunk_ids".to_string(), vec!["must not be empty".to_string()])].into(),
        });
    }
    Ok(())
}

fn rule_pin(rule: Option<&SipDispatchRule>) -> String {
    match rule.and_then(|r| r.rule.as_ref()) {
        Some(DispatchRuleKind::DispatchRuleDirect(d)) => d.pin.clone(),
        Some(DispatchRuleKind::DispatchRuleIndividual(d)) => d.pin.clone(),
        Some(DispatchRuleKind::DispatchRuleCallee(d)) => d.pin.clone(),
        None => String::new(),
    }
}

/// The answer to a list by ids: one item per id, in order, an empty item (the protobuf form of
/// the server's nil) where the id is missing. Anything else is a protocol error.
pub fn by_ids<T>(
    ids: &[String],
    items: Vec<T>,
    id_of: impl Fn(&T) -> &String,
) -> Result<Vec<Option<T>>, ProviderError> {
    if items.len() != ids.len() {
        return Err(ProviderError::Protocol(format!(
            "a list by {} ids answered {} items; the protocol promises one per id",
            ids.len(),
            items.len()
        )));
    }
    ids.iter()
        .zip(items)
        .map(|(want, item)| match id_of(&item) {
            got if got.is_empty() => Ok(None),
            got if got == want => Ok(Some(item)),
            got => Err(ProviderError::Protocol(format!("a list by ids answered {got} where {want} was asked for"))),
        })
        .collect()
}

trait HasId {
    fn id(&self) -> &str;
}
impl HasId for SipInboundTrunkInfo {
    fn id(&self) -> &str {
        &self.sip_trunk_id
    }
}
impl HasId for SipOutboundTrunkInfo {
    fn id(&self) -> &str {
        &self.sip_trunk_id
    }
}
impl HasId for SipDispatchRuleInfo {
    fn id(&self) -> &str {
        &self.sip_dispatch_rule_id
    }
}

fn has_id<T: HasId>(t: T, op: &str) -> Result<T, ProviderError> {
    if t.id().is_empty() { Err(empty(op)) } else { Ok(t) }
}

fn empty(op: &str) -> ProviderError {
    ProviderError::Protocol(format!("the {op} response carries no object id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn list_by_ids_keeps_order_and_reads_empty_items_as_missing() {
        let items = vec![
            SipInboundTrunkInfo { sip_trunk_id: "ST_a".into(), ..Default::default() },
            SipInboundTrunkInfo::default(),
        ];
        let got = by_ids(&ids(&["ST_a", "ST_gone"]), items, |t| &t.sip_trunk_id).expect("valid");
        assert_eq!(got.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false]);
    }

    #[test]
    fn list_by_ids_refuses_a_reordered_or_short_answer() {
        let a = SipInboundTrunkInfo { sip_trunk_id: "ST_a".into(), ..Default::default() };
        let b = SipInboundTrunkInfo { sip_trunk_id: "ST_b".into(), ..Default::default() };
        let swapped = by_ids(&ids(&["ST_a", "ST_b"]), vec![b, a.clone()], |t| &t.sip_trunk_id);
        assert!(matches!(swapped, Err(ProviderError::Protocol(_))));
        let short = by_ids(&ids(&["ST_a", "ST_b"]), vec![a], |t| &t.sip_trunk_id);
        assert!(matches!(short, Err(ProviderError::Protocol(_))));
    }

    fn page(ids: &[&str]) -> Vec<SipInboundTrunkInfo> {
        ids.iter().map(|i| SipInboundTrunkInfo { sip_trunk_id: i.to_string(), ..Default::default() }).collect()
    }

    fn run_pages(limit: i32, answers: Vec<Vec<SipInboundTrunkInfo>>) -> Result<(Vec<String>, usize), ProviderError> {
        let mut pages = Pages::new(limit);
        let mut asked = 0;
        let mut answers = answers.into_iter();
        while pages.next_request().is_some() {
            asked += 1;
            pages.take(answers.next().unwrap_or_default(), |t| &t.sip_trunk_id)?;
        }
        Ok((pages.into_items().into_iter().map(|t| t.sip_trunk_id).collect(), asked))
    }

    #[test]
    fn paging_follows_full_pages_and_stops_at_a_short_one() {
        let (ids, asked) = run_pages(2, vec![page(&["a", "b"]), page(&["c", "d"]), page(&["e"])]).expect("ok");
        assert_eq!((ids, asked), (vec!["a", "b", "c", "d", "e"].into_iter().map(String::from).collect(), 3));
        let (ids, asked) = run_pages(2, vec![page(&["a", "b"]), page(&[])]).expect("ok");
        assert_eq!((ids.len(), asked), (2, 2));
    }

    #[test]
    fn paging_survives_a_server_that_ignores_it() {
        // Ignores `limit`: everything in one page.
        let (ids, asked) = run_pages(2, vec![page(&["a", "b", "c"])]).expect("ok");
        assert_eq!((ids.len(), asked), (3, 1));
        // Honours `limit` but ignores `after_id`: the second page starts over; no duplicates.
        let (ids, asked) = run_pages(2, vec![page(&["a", "b"]), page(&["a", "b"])]).expect("ok");
        assert_eq!((ids.len(), asked), (2, 2));
        assert!(matches!(run_pages(3, vec![page(&["a", ""])]), Err(ProviderError::Protocol(_))));
        // No order is assumed.
        let (ids, _) = run_pages(2, vec![page(&["b", "a"]), page(&["c"])]).expect("ok");
        assert_eq!(ids, ["b", "a", "c"]);
    }

    #[test]
    fn an_empty_trunk_list_needs_the_explicit_all_trunks_scope() {
        assert!(matches!(check_scope(&[], TrunkScope::Listed), Err(ProviderError::Invalid { .. })));
        assert!(check_scope(&[], TrunkScope::AllTrunks).is_ok());
        assert!(check_scope(&ids(&["ST_x"]), TrunkScope::Listed).is_ok());
    }
}
