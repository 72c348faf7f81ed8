//! A family-erased client of one account, over the family-erased trunks of `model::erased`:
//! for tests and tools that handle accounts of any family together. The controller and the plan
//! tool hold each family's own client in `controller::accounts::Account<F>`.

use std::sync::Arc;

use secrecy::SecretString;

use super::{
    AutocallsFamily, BolnaFamily, ClientConfig, Deleted, Family, HttpClient, LivekitFamily, ProviderError, autocalls,
    bolna, list, livekit,
};
use crate::crd::ProviderType;
use crate::metrics::Metrics;
use crate::model::{Change, Desired, Remote};

/// A client for one provider account, family-erased (the plan tool and tests; the controller
/// holds each family's own client in its account).
pub enum ProviderClient {
    /// autocalls.ai or famulor.
    Autocalls(autocalls::Client),
    /// bolna.ai.
    Bolna(bolna::Client),
    /// LiveKit SIP.
    Livekit(livekit::Client),
}

/// Evaluates `$body` with `$c` bound to the family client inside a [`ProviderClient`] and `$F`
/// naming its family.
macro_rules! each_client {
    ($e:expr, $c:ident, $F:ident => $body:expr) => {
        match $e {
            ProviderClient::Autocalls($c) => {
                #[allow(dead_code)]
                type $F = AutocallsFamily;
                $body
            }
            ProviderClient::Bolna($c) => {
                #[allow(dead_code)]
                type $F = BolnaFamily;
                $body
            }
            ProviderClient::Livekit($c) => {
                #[allow(dead_code)]
                type $F = LivekitFamily;
                $body
            }
        }
    };
}

impl ProviderClient {
    /// Builds the client for one account.
    pub fn new(cfg: ClientConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let http = HttpClient::new(cfg, metrics)?;
        Ok(match http.provider() {
            ProviderType::Autocalls | ProviderType::Famulor => ProviderClient::Autocalls(autocalls::Client::new(http)),
            ProviderType::Bolna => ProviderClient::Bolna(bolna::Client::new(http)),
            ProviderType::Livekit => ProviderClient::Livekit(LivekitFamily::client(http)),
        })
    }

    /// The account's provider type.
    pub fn provider(&self) -> ProviderType {
        self.http().provider()
    }

    /// Every trunk of the account (one list call, following pages if any); items that do not
    /// parse are left out.
    pub async fn list(&self) -> Result<Vec<Remote>, ProviderError> {
        Ok(self.list_all().await?.0)
    }

    /// Every trunk of the account that parses, and the items that do not.
    pub async fn list_all(&self) -> Result<(Vec<Remote>, Vec<list::Skipped>), ProviderError> {
        each_client!(self, c, F => {
            let (items, skipped) = F::list(c).await?;
            Ok((items.into_iter().map(Remote::from).collect(), skipped))
        })
    }

    /// The account's HTTP client (rate limiter, turns, 429 state).
    pub fn http(&self) -> &HttpClient {
        each_client!(self, c, F => F::http(c))
    }

    /// One trunk with everything the provider returns for it (autocalls: the internal trunk ids).
    pub async fn get(&self, id: &str) -> Result<Remote, ProviderError> {
        each_client!(self, c, F => F::get(c, id).await.map(Remote::from))
    }

    /// Creates the trunk; on famulor also writes the nickname marker through the phone-number
    /// endpoint. The error of that follow-up comes with the created trunk, whose id must be
    /// recorded even so.
    pub async fn create(
        &self,
        desired: &Desired,
        password: Option<SecretString>,
    ) -> Result<(Remote, Option<ProviderError>), ProviderError> {
        let (t, follow_up) = match (self, desired) {
            (ProviderClient::Autocalls(c), Desired::Autocalls(d)) => {
                AutocallsFamily::create(c, d, password).await.map(|(t, e)| (Remote::from(t), e))?
            }
            (ProviderClient::Bolna(c), Desired::Bolna(d)) => {
                BolnaFamily::create(c, d, password).await.map(|(t, e)| (Remote::from(t), e))?
            }
            (ProviderClient::Livekit(c), Desired::Livekit(d)) => {
                LivekitFamily::create(c, d, password).await.map(|(t, e)| (Remote::from(t), e))?
            }
            _ => return Err(family_mismatch()),
        };
        Ok((t, follow_up))
    }

    /// Applies a partial update computed by the diff; returns the trunk as it now is.
    pub async fn update(&self, observed: &Remote, change: &Change) -> Result<Remote, ProviderError> {
        match (self, observed, change) {
            (ProviderClient::Autocalls(c), Remote::Autocalls(o), Change::Autocalls(u)) => {
                AutocallsFamily::update(c, o, u).await.map(Remote::from)
            }
            (ProviderClient::Bolna(c), Remote::Bolna(o), Change::Bolna(ch)) => {
                BolnaFamily::update(c, o, ch).await.map(Remote::from)
            }
            (ProviderClient::Livekit(c), Remote::Livekit(o), Change::Livekit(ch)) => {
                LivekitFamily::update(c, o, ch).await.map(Remote::from)
            }
            _ => Err(family_mismatch()),
        }
    }

    /// A fresh read of one trunk for a delete decision (None: the provider answered 404).
    pub async fn read(&self, id: &str) -> Result<Option<Remote>, ProviderError> {
        each_client!(self, c, F => Ok(super::read::<F>(c, id).await?.map(Remote::from)))
    }

    /// Deletes a trunk. Only after `read` and `model::decide_delete` proved it ours.
    pub async fn delete(&self, id: &str) -> Result<Deleted, ProviderError> {
        each_client!(self, c, F => super::delete::<F>(c, id).await)
    }
}

fn family_mismatch() -> ProviderError {
    ProviderError::Protocol("desired trunk and provider are of different API families".into())
}
