//! autocalls.ai / famulor client: the trunk endpoints of API.md §2 (famulor differs only in
//! host and in taking the nickname through the phone-number endpoint).

use reqwest::Method;
use secrecy::SecretString;
use serde_json::json;

use super::error::ProviderError;
use super::http::{HttpClient, ListUsage};
use super::list::{Page, Skipped};
use crate::crd::ProviderType;
use crate::model::autocalls::{CreateBody, Desired, Envelope, Trunk, Update};

const TRUNKS: &str = "/user/phone-numbers/sip-trunks";

/// Client of one autocalls or famulor account.
pub struct Client {
    http: HttpClient,
}

impl Client {
    /// Wraps the account's HTTP client.
    pub fn new(http: HttpClient) -> Self {
        Client { http }
    }

    /// autocalls or famulor.
    pub fn provider(&self) -> ProviderType {
        self.http.provider()
    }

    fn famulor(&self) -> bool {
        self.http.provider() == ProviderType::Famulor
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
                None => return Ok((out, skipped)),
            }
        }
        Err(ProviderError::Protocol("list has more than 100 pages".into()))
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

    /// `POST /user/phone-numbers/sip-trunks` (any 2xx is success, trap 12). On famulor the
    /// nickname is then set with `PUT /user/phone-numbers/{id}`.
    pub async fn create(&self, desired: &Desired, password: &SecretString) -> Result<Trunk, ProviderError> {
        let body = CreateBody::new(desired, password, !self.famulor());
        let env: Envelope<Trunk> = self.http.send_json(Method::POST, TRUNKS, Some(&body), "create").await?;
        let mut trunk = env.data;
        if self.famulor() {
            self.set_nickname(trunk.id, Some(&desired.nickname)).await?;
            trunk.nickname = Some(Some(desired.nickname.clone()));
        }
        Ok(trunk)
    }

    /// Partial update. On famulor the nickname goes through the phone-number endpoint and the
    /// rest through the trunk endpoint; a nickname-only change makes no trunk call.
    pub async fn update(&self, observed: &Trunk, update: &Update) -> Result<Trunk, ProviderError> {
        let mut body = update.clone();
        let mut result = observed.clone();
        if self.famulor()
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
    /// `get` confirmed the id is our SIP trunk (`ProviderClient::delete_owned` does).
    pub async fn delete(&self, id: i64) -> Result<(), ProviderError> {
        self.http.send::<()>(Method::DELETE, &format!("/user/phone-numbers/{id}"), None, "delete").await.map(|_| ())
    }
}
