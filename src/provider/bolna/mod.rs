//! The bolna.ai API family: trunks with gateways and DIDs as a sub-resource.

pub mod client;
pub mod diff;
pub mod translate;
pub mod validate;
pub mod wire;

use secrecy::SecretString;

pub use client::Client;

use super::error::ProviderError;
use super::family::{Capabilities, Family, FieldSink};
use super::http::HttpClient;
use super::list::Skipped;
use crate::crd::{ObservedDid, ProviderType, SipTrunkSpec, SipTrunkStatus};

/// bolna.ai.
pub struct BolnaFamily;

impl Family for BolnaFamily {
    type Desired = wire::Desired;
    type Remote = wire::Trunk;
    type Change = wire::Change;
    type Client = Client;

    const FIELDS: &'static [crate::model::Field] = diff::FIELDS;
    const SETTINGS: &'static [&'static str] = &["spec.bolna"];

    fn capabilities(_provider: ProviderType) -> Capabilities {
        Capabilities {
            nickname_in_trunk_writes: false,
            dids: true,
            cidr_allow_list: true,
            ids_only_on_get: false,
            marker_in_create: true,
        }
    }

    /// bolna allows 1000/min per organisation; the operator takes 80% of it to leave room for
    /// other users of the organisation.
    fn default_rate(_provider: ProviderType) -> (f64, u32) {
        (800.0 / 60.0, 20)
    }

    fn validate(spec: &SipTrunkSpec, _provider: ProviderType, err: FieldSink<'_>) {
        validate::validate(spec, err)
    }

    fn translate(
        spec: &SipTrunkSpec,
        _provider: ProviderType,
        namespace: &str,
        name: &str,
        marker: &str,
    ) -> wire::Desired {
        translate::desired(spec, namespace, name, marker)
    }

    /// The DIDs, and the gateway of the lowest priority.
    fn summary(spec: &SipTrunkSpec) -> (Option<String>, Option<String>) {
        let b = spec.bolna.as_ref();
        let numbers = b
            .and_then(|b| b.phone_numbers.as_ref())
            .map(|v| v.iter().map(|n| n.number.clone()).collect::<Vec<_>>().join(","));
        let gateway =
            b.and_then(|b| b.gateways.iter().min_by_key(|g| g.priority)).map(|g| format!("{}:{}", g.address, g.port));
        (numbers, gateway)
    }

    fn project(remote: &wire::Trunk, status: &mut SipTrunkStatus) {
        let live: Vec<ObservedDid> =
            remote.live_numbers().map(|n| ObservedDid { number: n.phone_number.clone(), id: n.id.clone() }).collect();
        status.phone_numbers = (!live.is_empty()).then_some(live);
    }

    fn client(http: HttpClient) -> Client {
        Client::new(http)
    }

    fn http(client: &Client) -> &HttpClient {
        client.http()
    }

    async fn list(client: &Client) -> Result<(Vec<wire::Trunk>, Vec<Skipped>), ProviderError> {
        client.list().await
    }

    async fn get(client: &Client, id: &str) -> Result<wire::Trunk, ProviderError> {
        client.get(id).await
    }

    async fn read(client: &Client, id: &str) -> Result<wire::Trunk, ProviderError> {
        client.get(id).await
    }

    async fn create(
        client: &Client,
        desired: &wire::Desired,
        password: Option<SecretString>,
    ) -> Result<(wire::Trunk, Option<ProviderError>), ProviderError> {
        Ok((client.create(desired, password).await?, None))
    }

    async fn update(
        client: &Client,
        observed: &wire::Trunk,
        change: &wire::Change,
    ) -> Result<wire::Trunk, ProviderError> {
        client.update(observed, change).await
    }

    async fn delete(client: &Client, id: &str) -> Result<(), ProviderError> {
        client.delete(id).await
    }
}
