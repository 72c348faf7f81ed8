//! The autocalls.ai API family; famulor is a configuration of it (another host, and the
//! nickname on the phone-number resource).

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
use crate::crd::{ProviderType, SipTrunkSpec};

/// autocalls.ai and famulor.
pub struct AutocallsFamily;

impl Family for AutocallsFamily {
    type Desired = wire::Desired;
    type Remote = wire::Trunk;
    type Change = wire::Update;
    type Client = Client;

    const FIELDS: &'static [crate::model::Field] = diff::FIELDS;
    const SETTINGS: &'static [&'static str] = &[
        "spec.sipAddress",
        "spec.phoneNumber",
        "spec.numberType",
        "spec.callingFormat",
        "spec.countryCode",
        "spec.outboundProxy",
    ];

    fn capabilities(provider: ProviderType) -> Capabilities {
        Capabilities {
            nickname_in_trunk_writes: provider != ProviderType::Famulor,
            dids: false,
            cidr_allow_list: false,
            ids_only_on_get: true,
            marker_in_create: false,
        }
    }

    /// famulor allows 100/min and 20 per 10 s: 1.6/s with a burst of 4 keeps every 10 s window
    /// at or under 20 and every minute at or under 100. autocalls documents none, so the
    /// operator stays at 1/s.
    fn default_rate(provider: ProviderType) -> (f64, u32) {
        if provider == ProviderType::Famulor { (1.6, 4) } else { (1.0, 5) }
    }

    fn validate(spec: &SipTrunkSpec, provider: ProviderType, err: FieldSink<'_>) {
        validate::validate(spec, provider, err)
    }

    fn translate(
        spec: &SipTrunkSpec,
        _provider: ProviderType,
        _namespace: &str,
        name: &str,
        marker: &str,
    ) -> wire::Desired {
        translate::desired(spec, name, marker)
    }

    fn summary(spec: &SipTrunkSpec) -> (Option<String>, Option<String>) {
        (spec.phone_number.clone(), spec.sip_address.clone())
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
        client.get(parse_int_id(id)?).await
    }

    /// On autocalls/famulor the read goes to the SIP-trunk path, so a 200 also confirms the id
    /// is still a SIP trunk and not a purchased number (API.md §2.7, trap 9); on famulor the
    /// nickname comes from the phone-number list when the trunk page omits it.
    async fn read(client: &Client, id: &str) -> Result<wire::Trunk, ProviderError> {
        client.get_with_nickname(parse_int_id(id)?).await
    }

    /// On famulor the nickname marker is then written through the phone-number endpoint.
    async fn create(
        client: &Client,
        desired: &wire::Desired,
        password: Option<SecretString>,
    ) -> Result<(wire::Trunk, Option<ProviderError>), ProviderError> {
        let password = password.ok_or_else(|| missing("sip_password"))?;
        client.create(desired, &password).await
    }

    async fn update(
        client: &Client,
        observed: &wire::Trunk,
        change: &wire::Update,
    ) -> Result<wire::Trunk, ProviderError> {
        client.update(observed, change).await
    }

    async fn delete(client: &Client, id: &str) -> Result<(), ProviderError> {
        client.delete(parse_int_id(id)?).await
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
