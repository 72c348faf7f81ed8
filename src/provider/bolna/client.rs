//! bolna.ai client: trunks and their DIDs (API.md §3). Bare JSON, string ids, PATCH with
//! lists replaced wholesale.

use reqwest::Method;
use secrecy::SecretString;

use super::wire::{Change, CreateBody, Desired, PhoneNumber, Trunk};
use crate::provider::error::ProviderError;
use crate::provider::http::{HttpClient, ListUsage};
use crate::provider::list::{Page, Skipped};

const TRUNKS: &str = "/sip-trunks/trunks";

/// Client of one bolna account.
pub struct Client {
    http: HttpClient,
}

impl Client {
    /// Wraps the account's HTTP client.
    pub fn new(http: HttpClient) -> Self {
        Client { http }
    }

    /// `GET /sip-trunks/trunks` (all trunks, active or not), within the list budget; items that
    /// do not parse are skipped.
    pub async fn list(&self) -> Result<(Vec<Trunk>, Vec<Skipped>), ProviderError> {
        let mut usage = ListUsage::new(self.http.list_budget());
        let page: Page<Trunk> = self.http.list_page(TRUNKS, false, &mut usage).await?;
        Ok((page.items, page.skipped))
    }

    /// The account's HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /sip-trunks/trunks/{id}`.
    pub async fn get(&self, id: &str) -> Result<Trunk, ProviderError> {
        self.http.send_json::<(), _>(Method::GET, &format!("{TRUNKS}/{}", enc(id)), None, "get").await
    }

    /// `POST /sip-trunks/trunks` with the DIDs registered at creation.
    pub async fn create(&self, desired: &Desired, password: Option<SecretString>) -> Result<Trunk, ProviderError> {
        let body = CreateBody::new(desired, password);
        self.http.send_json(Method::POST, TRUNKS, Some(&body), "create").await
    }

    /// One PATCH with the changed fields, then DID removals and additions; returns the trunk
    /// re-read when DIDs changed (their ids are only known to the provider).
    pub async fn update(&self, observed: &Trunk, change: &Change) -> Result<Trunk, ProviderError> {
        let id = enc(&observed.id);
        let mut trunk = observed.clone();
        if !change.patch.is_empty() {
            trunk =
                self.http.send_json(Method::PATCH, &format!("{TRUNKS}/{id}"), Some(&change.patch), "update").await?;
        }
        for (pn_id, _) in &change.remove_numbers {
            match self
                .http
                .send::<()>(Method::DELETE, &format!("{TRUNKS}/{id}/numbers/{}", enc(pn_id)), None, "remove_number")
                .await
            {
                Ok(_) | Err(ProviderError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for n in &change.add_numbers {
            let added: Result<PhoneNumber, _> =
                self.http.send_json(Method::POST, &format!("{TRUNKS}/{id}/numbers"), Some(n), "add_number").await;
            match added {
                Ok(_) => {}
                // A DID on another active trunk (API.md §3.8, "409 / 422"; bolna's own validation
                // answers 400): name it, whatever the provider says.
                Err(ProviderError::Conflict { message } | ProviderError::Invalid { status: 422, message, .. }) => {
                    return Err(ProviderError::Conflict {
                        message: format!(
                            "DID {} cannot be added to trunk {}: the provider says it is taken ({message})",
                            n.phone_number, observed.id
                        ),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        if !change.add_numbers.is_empty() || !change.remove_numbers.is_empty() {
            trunk = self.get(&observed.id).await?;
        }
        Ok(trunk)
    }

    /// `DELETE /sip-trunks/trunks/{id}`.
    pub async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.http.send::<()>(Method::DELETE, &format!("{TRUNKS}/{}", enc(id)), None, "delete").await.map(|_| ())
    }
}

/// Percent-encodes an opaque id for a path segment.
fn enc(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
