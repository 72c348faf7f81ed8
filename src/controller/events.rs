//! Event publishing with a bounded series cache instead of kube-runtime's `Recorder` cache.
//!
//! `Recorder` keeps every Event it published for six minutes in an unbounded map of full
//! Event objects (to turn repeats into an `EventSeries`) and scans the whole map on every
//! publish. A cold start of 10,000 trunks publishes 10,000 `Created` Events: the map then held
//! ~30 MB at the controller's peak and the scans cost O(n²) CPU (measured by
//! `siptrunk-operator bench`, P4). This publisher creates Events exactly as `Recorder` does and
//! patches the series of a repeat within six minutes the same way, but remembers only the
//! Event's name and count, in a map of at most `SERIES_CAP` entries (when full, expired entries
//! go; if none has expired, the map starts over and a repeat becomes a new Event).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Api, Client};

/// Most series remembered at once.
pub const SERIES_CAP: usize = 4096;
/// How long a repeat extends the series of the first Event (as `Recorder`).
pub const SERIES_TTL: Duration = Duration::from_secs(6 * 60);

struct Seen {
    name: String,
    count: i32,
    at: Instant,
}

/// Publishes Events for one controller instance; the same call shape as `Recorder::publish`.
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    reporter: Reporter,
    series: Arc<Mutex<HashMap<String, Seen>>>,
}

impl Publisher {
    /// A publisher reporting as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Publisher { client, reporter, series: Arc::default() }
    }

    /// Creates one Event about `reference` in its namespace, or counts a repeat in the series
    /// of the first one.
    pub async fn publish(&self, ev: &Event, reference: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let controller = &self.reporter.controller;
        let ns = reference.namespace.as_deref().unwrap_or("default");
        let api = Api::<K8sEvent>::namespaced(self.client.clone(), ns);
        let key = format!(
            "{}/{}/{}|{:?}|{}|{}|{:?}",
            ns,
            reference.name.as_deref().unwrap_or_default(),
            reference.uid.as_deref().unwrap_or_default(),
            ev.type_,
            ev.reason,
            ev.action,
            ev.secondary.as_ref().map(|r| (&r.namespace, &r.name))
        );
        let repeat = self.series.lock().ok().and_then(|mut m| {
            let seen = m.get_mut(&key).filter(|s| s.at.elapsed() < SERIES_TTL)?;
            seen.count += 1;
            seen.at = Instant::now();
            Some((seen.name.clone(), seen.count))
        });
        if let Some((name, count)) = repeat {
            let patch = serde_json::json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
            return api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ());
        }
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
        let name = event.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &event).await?;
        if let Ok(mut m) = self.series.lock() {
            if m.len() >= SERIES_CAP {
                m.retain(|_, s| s.at.elapsed() < SERIES_TTL);
                if m.len() >= SERIES_CAP {
                    m.clear();
                }
            }
            m.insert(key, Seen { name, count: 1, at: Instant::now() });
        }
        Ok(())
    }
}
