//! Event publishing without kube-runtime's `Recorder` cache.
//!
//! `Recorder` keeps every Event it published for six minutes in an unbounded map (to turn
//! repeats into an `EventSeries`) and scans the whole map on every publish. The operator
//! publishes on transitions only, so repeats are rare, but a cold start of 10,000 trunks
//! publishes 10,000 `Created` Events: the map then held ~30 MB at the controller's peak
//! and the scans cost O(n²) CPU (measured by `siptrunk-operator bench`, P4). This publisher
//! creates each `events.k8s.io/v1` Event exactly as `Recorder` does for a first occurrence,
//! and remembers nothing.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Api, Client};

/// Publishes Events for one controller instance; the same call shape as `Recorder::publish`.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    reporter: Reporter,
}

impl Publisher {
    /// A publisher reporting as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Publisher { client, reporter }
    }

    /// Creates one Event about `reference` in its namespace.
    pub async fn publish(&self, ev: &Event, reference: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let controller = &self.reporter.controller;
        let event = K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(reference.clone()),
            related: ev.secondary.clone(),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: reference.namespace.clone(),
                name: Some(format!("{}.{:x}", reference.name.as_ref().unwrap_or(controller), now.as_nanosecond())),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(self.reporter.instance.clone().unwrap_or_else(|| controller.clone())),
            type_: Some(match ev.type_ {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            ..K8sEvent::default()
        };
        let ns = reference.namespace.as_deref().unwrap_or("default");
        Api::<K8sEvent>::namespaced(self.client.clone(), ns).create(&PostParams::default(), &event).await.map(|_| ())
    }
}
