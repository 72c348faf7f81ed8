//! autocalls.ai / famulor client: the trunk endpoints of API.md §2 (famulor differs only in
//! host and in taking the nickname through the phone-number endpoint).

use reqwest::Method;
use secrecy::SecretString;
use serde_json::json;

use super::wire::{CreateBody, Desired, Envelope, Trunk, Update};
use crate::crd::ProviderType;
use crate::provider::error::ProviderError;
use crate::provider::http::{HttpClient, ListUsage};
use crate::provider::list::{Page, Skipped};
use crate::provider::{Capabilities, Family};

const TRUNKS: &str = "/user/phone-numbers/sip-trunks";

/// An item of `GET /user/phone-numbers/all` (only what ownership needs).
#[derive(serde::Deserialize)]
struct NumberItem {
    id: i64,
    #[serde(default, deserialize_with = "super::wire::absent_or_null")]
    nickname: Option<Option<String>>,
}

/// Client of one autocalls or famulor account.
pub struct Client {
    http: HttpClient,
    caps: Capabilities,
}

impl Client {
    /// Wraps the account's HTTP client.
    pub fn new(http: HttpClient) -> Self {
        let caps = super::AutocallsFamily::capabilities(http.provider());
        Client { http, caps }
    }

    /// autocalls or famulor.
    pub fn provider(&self) -> ProviderType {
        self.http.provider()
    }

    /// The nickname (our marker) lives on the phone-number resource: written through
    /// `PUT /user/phone-numbers/{id}`, and possibly missing from the trunk pages (famulor).
    fn nickname_on_number(&self) -> bool {
        !self.caps.nickname_in_trunk_writes
    }

    /// `GET /user/phone-numbers/sip-trunks`; follows `next_page_url` should it appear (trap 22),
    /// up to 100 pages, all within one list budget. Items that do not parse are skipped.
    pub async fn list(&self) -> Result<(Vec<Trunk>, Vec<Skipped>), ProviderError> {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        let mut usage = ListUsage::new(self.http.list_budget());
        let mut path = TRUNKS.to_string();
        for _ in 0..100 {
            let page: Page<Trunk> = self.http.list_page(&path, true, &mut usage).await?;
            out.extend(page.items);
            skipped.extend(page.skipped);
            match page.next_page_url.as_deref().and_then(|u| u.split_once('?')) {
                Some((_, query)) => path = format!("{TRUNKS}?{query}"),
                None => {
                    self.fill_nicknames(&mut out).await?;
                    return Ok((out, skipped));
                }
            }
        }
        Err(ProviderError::Protocol("list has more than 100 pages".into()))
    }

    /// Famulor's trunk pages may not show the nickname that carries the ownership marker; its
    /// phone-number list (`GET /user/phone-numbers/all`) does. Fills the missing ones from it
    /// (one call, only when a trunk lacks the field), so ownership can be proved.
    async fn fill_nicknames(&self, trunks: &mut [Trunk]) -> Result<(), ProviderError> {
        if !self.nickname_on_number() || trunks.iter().all(|t| t.nickname.is_some()) {
            return Ok(());
        }
        let all: Envelope<Vec<NumberItem>> =
            self.http.send_json::<(), _>(Method::GET, "/user/phone-numbers/all", None, "list_numbers").await?;
        let by_id: std::collections::HashMap<i64, Option<String>> =
            all.data.into_iter().filter_map(|n| n.nickname.map(|nick| (n.id, nick))).collect();
        for t in trunks.iter_mut().filter(|t| t.nickname.is_none()) {
            if let Some(n) = by_id.get(&t.id) {
                t.nickname = Some(n.clone());
            }
        }
        Ok(())
    }

    /// The account's HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /user/phone-numbers/sip-trunks/{id}`: includes the internal trunk ids.
    pub async fn get(&self, id: i64) -> Result<Trunk, ProviderError> {
        let env: Envelope<Trunk> =
            self.http.send_json::<(), _>(Method::GET, &format!("{TRUNKS}/{id}"), None, "get").await?;
        Ok(env.data)
    }

    /// `get`, with the nickname from the phone-number list where famulor's trunk page omits it
    /// (a delete must prove ownership on fresh data).
    pub async fn get_with_nickname(&self, id: i64) -> Result<Trunk, ProviderError> {
        let mut one = [self.get(id).await?];
        self.fill_nicknames(&mut one).await?;
        let [trunk] = one;
        Ok(trunk)
    }

    /// `POST /user/phone-numbers/sip-trunks` (any 2xx is success, trap 12). On famulor the
    /// nickname is then set with `PUT /user/phone-numbers/{id}`; should that follow-up fail,
    /// the trunk is still returned (its id must be recorded) together with the error.
    pub async fn create(
        &self,
        desired: &Desired,
        password: &SecretString,
    ) -> Result<(Trunk, Option<ProviderError>), ProviderError> {
        let body = CreateBody::new(desired, password, !self.nickname_on_number());
        let env: Envelope<Trunk> = self.http.send_json(Method::POST, TRUNKS, Some(&body), "create").await?;
        let mut trunk = env.data;
        if self.nickname_on_number() {
            match self.set_nickname(trunk.id, Some(&desired.nickname)).await {
                Ok(()) => trunk.nickname = Some(Some(desired.nickname.clone())),
                Err(e) => {
                    trunk.nickname = Some(None);
                    return Ok((trunk, Some(e)));
                }
            }
        }
        Ok((trunk, None))
    }

    /// Partial update. On famulor the nickname goes through the phone-number endpoint and the
    /// rest through the trunk endpoint; a nickname-only change makes no trunk call.
    pub async fn update(&self, observed: &Trunk, update: &Update) -> Result<Trunk, ProviderError> {
        let mut body = update.clone();
        let mut result = observed.clone();
        if self.nickname_on_number()
            && let Some(nick) = body.nickname.take()
        {
            self.set_nickname(observed.id, nick.as_deref()).await?;
            result.nickname = Some(nick);
        }
        if !body.is_empty() {
            let env: Envelope<Trunk> =
                self.http.send_json(Method::PUT, &format!("{TRUNKS}/{}", observed.id), Some(&body), "update").await?;
            let nickname = result.nickname.clone();
            result = env.data;
            if result.nickname.is_none() {
                result.nickname = nickname;
            }
        }
        Ok(result)
    }

    /// `PUT /user/phone-numbers/{id}` with `{"nickname": ...}`.
    pub async fn set_nickname(&self, id: i64, nickname: Option<&str>) -> Result<(), ProviderError> {
        self.http
            .send(
                Method::PUT,
                &format!("/user/phone-numbers/{id}"),
                Some(&json!({ "nickname": nickname })),
                "set_nickname",
            )
            .await
            .map(|_| ())
    }

    /// `DELETE /user/phone-numbers/{id}`: the generic release endpoint. Only call it after
    /// `get` confirmed the id is our SIP trunk (the controller does, through `Family::read` and
    /// `model::decide_delete`).
    pub async fn delete(&self, id: i64) -> Result<(), ProviderError> {
        self.http.send::<()>(Method::DELETE, &format!("/user/phone-numbers/{id}"), None, "delete").await.map(|_| ())
    }
}
