//! Event publishing with a bounded series cache instead of kube-runtime's `Recorder` cache.
//!
//! `Recorder` keeps every Event it published for six minutes in an unbounded map of full
//! Event objects (to turn repeats into an `EventSeries`) and scans the whole map on every
//! publish. A cold start of 10,000 trunks publishes 10,000 `Created` Events: the map then held
//! ~30 MB at the controller's peak and the scans cost O(n²) CPU (measured by
//! `siptrunk-operator bench`, P4). This publisher creates Events exactly as `Recorder` does and
//! patches the series of a repeat (same reason, action and note) within six minutes the same
//! way, but remembers only the Event's name and count, in a map of at most `SERIES_CAP` entries (when full, expired entries
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

/// Longest note the API server accepts (events.k8s.io/v1 validation: 1 kB).
pub const NOTE_MAX: usize = 1024;

/// A note cut to `NOTE_MAX` bytes at a character boundary, marked with "…" when cut.
pub fn cut_note(note: &str) -> String {
    if note.len() <= NOTE_MAX {
        return note.to_string();
    }
    let mut end = NOTE_MAX - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
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
        // The note is part of the key, as in client-go's events library: a repeat with another
        // note (a password rotation after a calling-format update) is a new Event, not a count
        // on an Event that still tells the first story.
        let key = format!(
            "{}/{}/{}|{:?}|{}|{}|{:?}|{}",
            ns,
            reference.name.as_deref().unwrap_or_default(),
            reference.uid.as_deref().unwrap_or_default(),
            ev.type_,
            ev.reason,
            ev.action,
            ev.secondary.as_ref().map(|r| (&r.namespace, &r.name)),
            ev.note.as_deref().unwrap_or_default()
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
            note: ev.note.as_deref().map(cut_note),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_to_what_the_api_server_accepts() {
        assert_eq!(cut_note("short"), "short");
        let long = "é".repeat(2000);
        let cut = cut_note(&long);
        assert!(cut.len() <= NOTE_MAX, "{} bytes", cut.len());
        assert!(cut.ends_with('…'));
    }
}
