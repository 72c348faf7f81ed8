//! Provider backends: one folder per API family (`autocalls`, `bolna`, `livekit`), each implementing
//! [`Family`] (types, translation, validation, diff, client); typed errors; declared capabilities.

pub mod autocalls;
pub mod bolna;
pub mod egress;
pub mod error;
pub mod family;
pub mod http;
pub mod list;
pub mod livekit;

pub use autocalls::AutocallsFamily;
pub use bolna::BolnaFamily;
pub use error::ProviderError;
pub(crate) use family::with_family;
pub use family::{Capabilities, Family};
pub use http::{ClientConfig, HttpClient};
pub use livekit::LivekitFamily;

use crate::crd::ProviderType;

/// Capabilities per provider type.
pub fn capabilities(t: ProviderType) -> Capabilities {
    with_family!(t, F => F::capabilities(t))
}

/// Result of a guarded delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The provider removed it now.
    Removed,
    /// It was already gone (404).
    AlreadyGone,
}

/// A fresh read of one trunk for a delete decision (None: the provider answered 404).
pub async fn read<F: Family>(client: &F::Client, id: &str) -> Result<Option<F::Remote>, ProviderError> {
    match F::read(client, id).await {
        Ok(t) => Ok(Some(t)),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes a trunk. Only after `read` and `model::decide_delete` proved it ours.
pub async fn delete<F: Family>(client: &F::Client, id: &str) -> Result<Deleted, ProviderError> {
    match F::delete(client, id).await {
        Ok(()) => Ok(Deleted::Removed),
        Err(ProviderError::NotFound { .. }) => Ok(Deleted::AlreadyGone),
        Err(e) => Err(e),
    }
}
