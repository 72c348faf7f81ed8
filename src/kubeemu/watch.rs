//! Watch streams: newline-delimited JSON events after a resourceVersion, with bookmarks, 410s and fault cuts.

use super::Inner;
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Change, EventType};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Rewrites an object for the wire (e.g. into a Table row); identity by default.
pub type Render = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// What a watch request asked for.
pub struct WatchRequest {
    /// Resource watched.
    pub rt: Arc<ResourceType>,
    /// Namespace, None = all.
    pub namespace: Option<String>,
    /// `resourceVersion` parameter.
    pub resource_version: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial: bool,
    /// Object renderer.
    pub render: Option<Render>,
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn error_line(e: &ApiError) -> Bytes {
    line("ERROR", e.to_status())
}

impl WatchRequest {
    fn matches(&self, obj: &Value) -> bool {
        if super::events::is_events_v1(&self.rt) {
            let seen = super::events::view(obj, &self.rt);
            return self.labels.matches(&seen) && self.fields.matches(&seen);
        }
        self.labels.matches(obj) && self.fields.matches(obj)
    }
    fn in_scope(&self, c: &Change) -> bool {
        c.key == self.rt.key() && self.namespace.as_ref().is_none_or(|n| *n == c.namespace)
    }
    fn render(&self, obj: &Value) -> Value {
        let o = super::events::view(obj, &self.rt);
        match &self.render {
            Some(r) => r(&o),
            None => o,
        }
    }
    /// The event a change turns into for this watch (selector transitions become ADDED/DELETED).
    fn event_for(&self, c: &Change) -> Option<Bytes> {
        if !self.in_scope(c) {
            return None;
        }
        let now = self.matches(&c.object);
        let before = c.old.as_ref().map(|o| self.matches(o));
        let kind = match (c.kind, before, now) {
            (EventType::Modified, Some(false), true) => "ADDED",
            (EventType::Modified, Some(true), false) => "DELETED",
            (_, _, false) => return None,
            (k, _, true) => k.as_str(),
        };
        Some(line(kind, self.render(&c.object)))
    }
    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line("BOOKMARK", json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": md}))
    }
}

/// Starts a watch: returns the receiving end of the byte stream, or an error answered before streaming.
pub(crate) fn start(inner: Arc<Inner>, req: WatchRequest) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    if inner.faults.take_expire() {
        let _ = tx.try_send(error_line(&ApiError::expired("too old resource version: injected by kubeemu faults")));
        return Ok(rx);
    }
    let mut first: Vec<Bytes> = Vec::new();
    let (sub, start_rv) = {
        let store = inner.lock_store();
        let cur = store.resource_version();
        let rv_param = req.resource_version.as_deref().filter(|s| !s.is_empty());
        let initial = req.send_initial || rv_param.is_none_or(|r| r == "0");
        if initial {
            for (_, obj) in store.iter_objects(&req.rt, req.namespace.as_deref()) {
                if req.matches(obj) {
                    first.push(line("ADDED", req.render(obj)));
                }
            }
            if req.send_initial && req.bookmarks {
                first.push(req.bookmark(cur, true));
            }
        } else if let Some(r) = rv_param {
            let rv: u64 = r.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {r:?}")))?;
            match store.changes_since(&req.rt.key(), rv) {
                Ok(changes) => first.extend(changes.iter().filter_map(|c| req.event_for(c))),
                Err(e) => {
                    let _ = tx.try_send(error_line(&e));
                    return Ok(rx);
                }
            }
        }
        (store.subscribe(), cur)
    };
    tokio::spawn(run(inner, req, tx, sub, first, start_rv));
    Ok(rx)
}

async fn run(
    inner: Arc<Inner>,
    req: WatchRequest,
    tx: mpsc::Sender<Bytes>,
    mut sub: broadcast::Receiver<Arc<Change>>,
    first: Vec<Bytes>,
    start_rv: u64,
) {
    let mut sent: u64 = 0;
    let mut last_rv = start_rv;
    let cut_events = inner.faults.watch_cut_after_events();
    let over = |sent: u64| cut_events.is_some_and(|n| sent >= n);
    for b in first {
        if tx.send(b).await.is_err() {
            return;
        }
        sent += 1;
        if over(sent) {
            return;
        }
    }
    let deadline = tokio::time::Instant::now() + req.timeout.unwrap_or(Duration::from_secs(1800));
    let cut_deadline = inner.faults.watch_cut_after().map(|d| tokio::time::Instant::now() + d);
    let mut ticker = tokio::time::interval(inner.bookmark_interval);
    ticker.tick().await;
    let mut shutdown = inner.shutdown.clone();
    loop {
        tokio::select! {
            msg = sub.recv() => match msg {
                Ok(c) => {
                    if c.rv <= last_rv { continue; }
                    last_rv = c.rv;
                    if let Some(b) = req.event_for(&c) {
                        if tx.send(b).await.is_err() { return; }
                        sent += 1;
                        if over(sent) || inner.faults.watch_cut_after_events().is_some_and(|n| sent >= n) { return; }
                    }
                }
                Err(_) => return,
            },
            _ = ticker.tick() => {
                if !req.bookmarks { continue; }
                let cur = inner.lock_store().resource_version();
                loop {
                    let c = match sub.try_recv() {
                        Ok(c) => c,
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(_) => return,
                    };
                    if c.rv <= last_rv { continue; }
                    last_rv = c.rv;
                    if let Some(b) = req.event_for(&c) {
                        if tx.send(b).await.is_err() { return; }
                        sent += 1;
                    }
                }
                last_rv = last_rv.max(cur);
                if tx.send(req.bookmark(last_rv, false)).await.is_err() { return; }
            },
            _ = tokio::time::sleep_until(deadline) => return,
            _ = async { match cut_deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => return,
            _ = shutdown.changed() => return,
        }
    }
}
