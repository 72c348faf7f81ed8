//! Provider backends: one client per account, an exhaustive `match` over the two API families,
//! typed errors, and declared capabilities.

pub mod autocalls;
pub mod bolna;
pub mod egress;
pub mod error;
pub mod http;
pub mod list;
pub mod livekit;

use std::sync::Arc;

use secrecy::SecretString;

pub use error::ProviderError;
pub use http::{ClientConfig, HttpClient};

use crate::crd::ProviderType;
use crate::metrics::Metrics;
use crate::model::{Change, Desired, MarkerState, Remote};

/// What a provider can do, declared instead of discovered by failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Create and update accept `nickname` (autocalls); otherwise it is set through the
    /// phone-number endpoint (famulor, API.md §2.10).
    pub nickname_in_trunk_writes: bool,
    /// The trunk carries DIDs as a sub-resource (bolna).
    pub dids: bool,
    /// Gateways with ports and priorities (bolna) instead of one host (autocalls).
    pub gateways: bool,
    /// IP allow-lists accept CIDR ranges (bolna).
    pub cidr_allow_list: bool,
    /// Inbound auth type can change in place (autocalls yes, bolna no).
    pub auth_type_mutable: bool,
}

/// Capabilities per provider type.
pub fn capabilities(t: ProviderType) -> Capabilities {
    match t {
        ProviderType::Autocalls => Capabilities {
            nickname_in_trunk_writes: true,
            dids: false,
            gateways: false,
            cidr_allow_list: false,
            auth_type_mutable: true,
        },
        ProviderType::Famulor => Capabilities {
            nickname_in_trunk_writes: false,
            dids: false,
            gateways: false,
            cidr_allow_list: false,
            auth_type_mutable: true,
        },
        ProviderType::Bolna => Capabilities {
            nickname_in_trunk_writes: false,
            dids: true,
            gateways: true,
            cidr_allow_list: true,
            auth_type_mutable: false,
        },
    }
}

/// A client for one provider account.
pub enum ProviderClient {
    /// autocalls.ai or famulor.
    Autocalls(autocalls::Client),
    /// bolna.ai.
    Bolna(bolna::Client),
}

/// Result of a guarded delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The provider removed it now.
    Removed,
    /// It was already gone (404).
    AlreadyGone,
}

impl ProviderClient {
    /// Builds the client for one account.
    pub fn new(cfg: ClientConfig, metrics: Arc<Metrics>) -> Result<Self, String> {
        let provider = cfg.provider;
        let http = HttpClient::new(cfg, metrics)?;
        Ok(match provider {
            ProviderType::Autocalls | ProviderType::Famulor => ProviderClient::Autocalls(autocalls::Client::new(http)),
            ProviderType::Bolna => ProviderClient::Bolna(bolna::Client::new(http)),
        })
    }

    /// The account's provider type.
    pub fn provider(&self) -> ProviderType {
        match self {
            ProviderClient::Autocalls(c) => c.provider(),
            ProviderClient::Bolna(_) => ProviderType::Bolna,
        }
    }

    /// Every trunk of the account (one list call, following pages if any); items that do not
    /// parse are left out.
    pub async fn list(&self) -> Result<Vec<Remote>, ProviderError> {
        Ok(self.list_all().await?.0)
    }

    /// Every trunk of the account that parses, and the items that do not.
    pub async fn list_all(&self) -> Result<(Vec<Remote>, Vec<list::Skipped>), ProviderError> {
        match self {
            ProviderClient::Autocalls(c) => {
                let (items, skipped) = c.list().await?;
                Ok((items.into_iter().map(Remote::Autocalls).collect(), skipped))
            }
            ProviderClient::Bolna(c) => {
                let (items, skipped) = c.list().await?;
                Ok((items.into_iter().map(Remote::Bolna).collect(), skipped))
            }
        }
    }

    /// The account's HTTP client (rate limiter, turns, 429 state).
    pub fn http(&self) -> &HttpClient {
        match self {
            ProviderClient::Autocalls(c) => c.http(),
            ProviderClient::Bolna(c) => c.http(),
        }
    }

    /// One trunk with everything the provider returns for it (autocalls: the internal trunk ids).
    pub async fn get(&self, id: &str) -> Result<Remote, ProviderError> {
        match self {
            ProviderClient::Autocalls(c) => Ok(Remote::Autocalls(c.get(parse_int_id(id)?).await?)),
            ProviderClient::Bolna(c) => Ok(Remote::Bolna(c.get(id).await?)),
        }
    }

    /// Creates the trunk; on famulor also writes the nickname marker through the phone-number
    /// endpoint.
    pub async fn create(&self, desired: &Desired, password: Option<SecretString>) -> Result<Remote, ProviderError> {
        match (self, desired) {
            (ProviderClient::Autocalls(c), Desired::Autocalls(d)) => {
                let password = password.ok_or_else(|| missing("sip_password"))?;
                Ok(Remote::Autocalls(c.create(d, &password).await?))
            }
            (ProviderClient::Bolna(c), Desired::Bolna(d)) => Ok(Remote::Bolna(c.create(d, password).await?)),
            _ => Err(family_mismatch()),
        }
    }

    /// Applies a partial update computed by the diff; returns the trunk as it now is.
    pub async fn update(&self, observed: &Remote, change: &Change) -> Result<Remote, ProviderError> {
        match (self, observed, change) {
            (ProviderClient::Autocalls(c), Remote::Autocalls(o), Change::Autocalls(u)) => {
                Ok(Remote::Autocalls(c.update(o, u).await?))
            }
            (ProviderClient::Bolna(c), Remote::Bolna(o), Change::Bolna(ch)) => {
                Ok(Remote::Bolna(c.update(o, ch).await?))
            }
            _ => Err(family_mismatch()),
        }
    }

    /// Deletes a trunk after confirming it is still one of our SIP trunks (API.md §2.7, trap 9):
    /// a GET on the sip-trunks path must answer 200 and the marker must not belong to someone else.
    pub async fn delete_owned(&self, id: &str, marker: &str) -> Result<Deleted, ProviderError> {
        let current = match self.get(id).await {
            Ok(t) => t,
            Err(ProviderError::NotFound { .. }) => return Ok(Deleted::AlreadyGone),
            Err(e) => return Err(e),
        };
        if current.marker_state(marker) == MarkerState::NotOurs && matches!(current, Remote::Autocalls(_)) {
            return Err(ProviderError::Conflict {
                message: format!(
                    "trunk {id} no longer carries the operator's marker {marker} in its nickname; not deleting it \
                     (set deletionPolicy: Orphan to release the SipTrunk, or restore the nickname)"
                ),
            });
        }
        let result = match self {
            ProviderClient::Autocalls(c) => c.delete(parse_int_id(id)?).await,
            ProviderClient::Bolna(c) => c.delete(id).await,
        };
        match result {
            Ok(()) => Ok(Deleted::Removed),
            Err(ProviderError::NotFound { .. }) => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

fn parse_int_id(id: &str) -> Result<i64, ProviderError> {
    id.parse().map_err(|_| ProviderError::Invalid {
        status: 0,
        message: format!("trunk id {id:?} is not an autocalls/famulor integer id"),
        fields: Default::default(),
    })
}

fn missing(field: &str) -> ProviderError {
    ProviderError::Invalid { status: 0, message: format!("{field} is required"), fields: Default::default() }
}

fn family_mismatch() -> ProviderError {
    ProviderError::Protocol("desired trunk and provider are of different API families".into())
}
