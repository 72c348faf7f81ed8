//! The trunk work queue: which trunks to reconcile and when, held compactly, and handed to
//! kube-runtime a few at a time.
//!
//! kube-runtime's scheduler keeps every scheduled request (an `ObjectRef` of four optional
//! strings, in a hash map, a delay-queue slab and a pending set) and its predicate filter one
//! cache entry per object; neither ever shrinks. At a cold start every trunk is scheduled at once,
//! so at 10,000 trunks those tables held ≈ 0.9 KB per trunk for the life of the process, about a
//! seventh of the controller's memory (P4, issue 12). Here one small slot per trunk carries what
//! they carried: the predicate's fingerprint, the next due time, whether a run is in progress and
//! whether a change arrived during it. kube-runtime only ever sees the requests this queue hands
//! it ([`WorkQueue::stream`], at most `cap` not yet finished), and every reconcile returns
//! "await change" to it and its next due time here ([`WorkQueue::done`]).
//!
//! The semantics are kube-runtime's (and client-go's workqueue): a change re-runs a trunk
//! promptly; a trunk never runs twice at once, and a change seen while it runs gives it one more
//! run after; a finished run's requested delay replaces the due time it was started for.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::Stream;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::index::{Key, key, to_ref, trunk_key};
use crate::crd::SipTrunk;

/// What the queue knows of one trunk.
#[derive(Default)]
struct Slot {
    /// The predicate's fingerprint of the last version seen (None: none seen yet).
    seen: Option<u64>,
    /// When it is next due, if it is; while it runs, when that run was handed out.
    due: Option<Instant>,
    /// Handed to kube-runtime and not finished.
    running: bool,
    /// A change arrived while it ran: run once more right after.
    dirty: bool,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    /// Due times, earliest first; an entry whose slot no longer has that due time is stale and
    /// skipped.
    order: BinaryHeap<Reverse<(Instant, Key)>>,
    /// Slots with `running` set.
    running: usize,
    /// Trunks seen since a re-list began (`Init`): the others left while the watch was down.
    relist: Option<HashSet<Key>>,
    /// Trunks of a re-list that are due: made due at `InitDone`, when the cache holds them
    /// (kube-runtime drops a request for an object its cache does not hold yet, and the run
    /// would never finish here).
    relisted_due: Vec<Key>,
}

/// What [`Inner::pop`] found.
enum Pop {
    /// This trunk is due now.
    Ready(Key),
    /// The next one is due then.
    At(Instant),
    /// Nothing is due, or `cap` runs are unfinished: wait for a change.
    Idle,
}

impl Inner {
    /// Makes `k` due at `at` unless it is due earlier; marks it dirty if it is running.
    fn trigger(&mut self, k: Key, at: Instant) {
        let slot = self.slots.entry(k.clone()).or_default();
        if slot.running {
            slot.dirty = true;
        } else if slot.due.is_none_or(|d| at < d) {
            slot.due = Some(at);
            self.order.push(Reverse((at, k)));
        }
    }

    fn remove(&mut self, k: &str) {
        if self.slots.remove(k).is_some_and(|slot| slot.running) {
            self.running -= 1;
        }
    }

    fn pop(&mut self, cap: usize, now: Instant) -> Pop {
        if self.running >= cap {
            return Pop::Idle;
        }
        while let Some(Reverse((at, k))) = self.order.peek() {
            if *at > now {
                return Pop::At(*at);
            }
            let (at, k) = (*at, k.clone());
            self.order.pop();
            if let Some(slot) = self.slots.get_mut(&k).filter(|s| s.due == Some(at) && !s.running) {
                slot.due = Some(now);
                slot.running = true;
                self.running += 1;
                return Pop::Ready(k);
            }
        }
        Pop::Idle
    }

    /// Drops stale heap entries once they outnumber live ones (many re-triggers in one interval).
    fn compact(&mut self) {
        if self.order.len() > 2 * self.slots.len() + 1024 {
            self.order = self
                .slots
                .iter()
                .filter(|(_, s)| !s.running)
                .filter_map(|(k, s)| s.due.map(|at| Reverse((at, k.clone()))))
                .collect();
        }
    }
}

/// The queue; shared by the trunk watch (changes), the Secret and provider watches (wake-ups),
/// the reconciles (results) and the stream that feeds kube-runtime.
pub struct WorkQueue {
    inner: Mutex<Inner>,
    wake: Notify,
    cap: usize,
    fingerprint: fn(&SipTrunk) -> Option<u64>,
}

impl WorkQueue {
    /// A queue handing kube-runtime at most `cap` unfinished runs (at least 1), whose trunks
    /// re-run when `fingerprint` of a new version differs from the last one's.
    pub fn new(cap: usize, fingerprint: fn(&SipTrunk) -> Option<u64>) -> Self {
        WorkQueue { inner: Mutex::default(), wake: Notify::new(), cap: cap.max(1), fingerprint }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows one event of the trunk watch: a new or changed trunk (by its fingerprint) is due
    /// now; a deleted one leaves; a re-list drops the trunks it no longer lists.
    pub fn observe(&self, event: &Event<SipTrunk>) {
        let mut inner = self.lock();
        match event {
            Event::Apply(t) | Event::InitApply(t) => {
                let k = trunk_key(t);
                if let (Event::InitApply(_), Some(seen)) = (event, inner.relist.as_mut()) {
                    seen.insert(k.clone());
                }
                let fingerprint = (self.fingerprint)(t);
                let slot = inner.slots.entry(k.clone()).or_default();
                if fingerprint.is_some() && slot.seen == fingerprint {
                    return;
                }
                slot.seen = fingerprint;
                if matches!(event, Event::InitApply(_)) {
                    inner.relisted_due.push(k);
                } else {
                    inner.trigger(k, Instant::now());
                }
            }
            Event::Delete(t) => inner.remove(&trunk_key(t)),
            Event::Init => {
                inner.relist = Some(HashSet::new());
                inner.relisted_due.clear();
            }
            Event::InitDone => {
                if let Some(seen) = inner.relist.take() {
                    let gone: Vec<Key> = inner.slots.keys().filter(|k| !seen.contains(*k)).cloned().collect();
                    for k in gone {
                        inner.remove(&k);
                    }
                }
                let now = Instant::now();
                for k in std::mem::take(&mut inner.relisted_due) {
                    if inner.slots.contains_key(&k) {
                        inner.trigger(k, now);
                    }
                }
            }
        }
        inner.compact();
        drop(inner);
        self.wake.notify_one();
    }

    /// Makes trunks due now (a Secret or provider they read changed).
    pub fn trigger(&self, trunks: impl IntoIterator<Item = ObjectRef<SipTrunk>>) {
        let mut inner = self.lock();
        let now = Instant::now();
        for r in trunks {
            inner.trigger(key(r.namespace.as_deref().unwrap_or_default(), &r.name), now);
        }
        inner.compact();
        drop(inner);
        self.wake.notify_one();
    }

    /// Records the end of a run of `trunk`: it is next due after `next` (None: on a change
    /// only), or at once if it changed while it ran.
    pub fn done(&self, trunk: &SipTrunk, next: Option<Duration>) {
        let mut inner = self.lock();
        let k = trunk_key(trunk);
        let now = Instant::now();
        let Some(slot) = inner.slots.get_mut(&k) else { return };
        let was_running = std::mem::take(&mut slot.running);
        let at = if std::mem::take(&mut slot.dirty) { Some(now) } else { next.map(|d| now + d) };
        if was_running {
            // This run's result replaces the due time it was started for.
            slot.due = at;
            if let Some(at) = at {
                inner.order.push(Reverse((at, k)));
            }
            inner.running -= 1;
        } else if let Some(at) = at {
            // A run this queue did not start: keep an earlier due time.
            inner.trigger(k, at);
        }
        inner.compact();
        drop(inner);
        self.wake.notify_one();
    }

    /// Frees the places of runs handed out longer than `older_than` ago and never finished
    /// (kube-runtime dropped the request: its cache did not hold the object), and makes those
    /// trunks due now. A run still going is not run twice: kube-runtime holds the new request
    /// until it ends. Returns how many were freed.
    pub fn reclaim(&self, older_than: Duration) -> usize {
        let mut inner = self.lock();
        let now = Instant::now();
        let lost: Vec<Key> = inner
            .slots
            .iter()
            .filter(|(_, s)| s.running && s.due.is_some_and(|started| now.duration_since(started) > older_than))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &lost {
            if let Some(slot) = inner.slots.get_mut(k) {
                slot.running = false;
                slot.dirty = false;
                slot.due = None;
            }
            inner.running -= 1;
            inner.trigger(k.clone(), now);
        }
        drop(inner);
        if !lost.is_empty() {
            self.wake.notify_one();
        }
        lost.len()
    }

    /// Trunks known to the queue.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// True when the queue knows no trunk.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs handed out and not finished.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// The requests for kube-runtime (`Controller::reconcile_on`): each trunk when it is due,
    /// while fewer than `cap` runs are unfinished.
    pub fn stream(self: Arc<Self>) -> impl Stream<Item = ObjectRef<SipTrunk>> + Send + 'static {
        futures::stream::unfold(self, |q| async move {
            loop {
                let found = q.lock().pop(q.cap, Instant::now());
                match found {
                    Pop::Ready(k) => return Some((to_ref(&k), q)),
                    Pop::At(at) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(at) => {}
                            _ = q.wake.notified() => {}
                        }
                    }
                    Pop::Idle => q.wake.notified().await,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn trunk(name: &str, generation: i64) -> SipTrunk {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "siptrunk.dev/v1alpha1", "kind": "SipTrunk",
            "metadata": {"name": name, "namespace": "n", "generation": generation},
            "spec": {"providerRef": {"kind": "SipProvider", "name": "p"}, "auth": {"type": "credentials", "username": "u"}}
        }))
        .expect("trunk")
    }

    fn by_generation(t: &SipTrunk) -> Option<u64> {
        t.metadata.generation.map(|g| g as u64)
    }

    async fn next(s: &mut (impl Stream<Item = ObjectRef<SipTrunk>> + Unpin)) -> String {
        let r = tokio::time::timeout(Duration::from_secs(86_400), s.next()).await.expect("due in time").expect("open");
        r.name
    }

    async fn nothing_within(s: &mut (impl Stream<Item = ObjectRef<SipTrunk>> + Unpin), d: Duration) {
        assert!(tokio::time::timeout(d, s.next()).await.is_err(), "nothing should be due");
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_runs_once_and_an_unchanged_version_does_not() {
        let q = Arc::new(WorkQueue::new(8, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Apply(trunk("a", 1)));
        assert_eq!(next(&mut s).await, "a");
        q.done(&trunk("a", 1), None);
        // The operator's own status write: same fingerprint, no run.
        q.observe(&Event::Apply(trunk("a", 1)));
        nothing_within(&mut s, Duration::from_secs(60)).await;
        q.observe(&Event::Apply(trunk("a", 2)));
        assert_eq!(next(&mut s).await, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_run_is_due_again_after_its_delay_and_not_before() {
        let q = Arc::new(WorkQueue::new(8, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Apply(trunk("a", 1)));
        assert_eq!(next(&mut s).await, "a");
        let t0 = Instant::now();
        q.done(&trunk("a", 1), Some(Duration::from_secs(300)));
        assert_eq!(next(&mut s).await, "a");
        assert!(t0.elapsed() >= Duration::from_secs(300), "due after its delay: {:?}", t0.elapsed());
        // "Await change": not due again.
        q.done(&trunk("a", 1), None);
        nothing_within(&mut s, Duration::from_secs(3600)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_during_a_run_gives_one_more_run_after_it_never_two_at_once() {
        let q = Arc::new(WorkQueue::new(8, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Apply(trunk("a", 1)));
        assert_eq!(next(&mut s).await, "a");
        q.observe(&Event::Apply(trunk("a", 2)));
        q.trigger([ObjectRef::new("a").within("n")]);
        nothing_within(&mut s, Duration::from_secs(1)).await;
        // Its result asks for 300 s, but the change seen meanwhile runs it at once.
        let t0 = Instant::now();
        q.done(&trunk("a", 2), Some(Duration::from_secs(300)));
        assert_eq!(next(&mut s).await, "a");
        assert!(t0.elapsed() < Duration::from_secs(1), "ran again after {:?}", t0.elapsed());
        q.done(&trunk("a", 2), Some(Duration::from_secs(300)));
        nothing_within(&mut s, Duration::from_secs(299)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_cap_runs_are_handed_out_and_a_finished_one_frees_a_place() {
        let q = Arc::new(WorkQueue::new(2, by_generation));
        let mut s = Box::pin(q.clone().stream());
        for name in ["a", "b", "c"] {
            q.observe(&Event::Apply(trunk(name, 1)));
        }
        let first = [next(&mut s).await, next(&mut s).await];
        nothing_within(&mut s, Duration::from_secs(60)).await;
        assert_eq!(q.running(), 2);
        q.done(&trunk(&first[0], 1), None);
        let third = next(&mut s).await;
        let mut all = vec![first[0].clone(), first[1].clone(), third];
        all.sort();
        assert_eq!(all, ["a", "b", "c"]);
    }

    #[tokio::test(start_paused = true)]
    async fn deleted_and_unlisted_trunks_leave_and_free_their_places() {
        let q = Arc::new(WorkQueue::new(1, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Apply(trunk("a", 1)));
        q.observe(&Event::Apply(trunk("b", 1)));
        let first = next(&mut s).await;
        // kube-runtime never runs a trunk that left its cache: the delete frees the place.
        q.observe(&Event::Delete(trunk(&first, 1)));
        assert_ne!(next(&mut s).await, first);
        assert_eq!((q.len(), q.running()), (1, 1));
        // A re-list that no longer lists it drops the other one too.
        q.observe(&Event::Init);
        q.observe(&Event::InitApply(trunk("c", 1)));
        q.observe(&Event::InitDone);
        assert_eq!(next(&mut s).await, "c");
        assert_eq!((q.len(), q.running()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trunk_new_in_a_relist_is_handed_out_only_once_the_relist_is_done() {
        let q = Arc::new(WorkQueue::new(8, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Init);
        q.observe(&Event::InitApply(trunk("new", 1)));
        // The cache holds it only from InitDone on: a request now would be dropped.
        nothing_within(&mut s, Duration::from_secs(60)).await;
        q.observe(&Event::InitDone);
        assert_eq!(next(&mut s).await, "new");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_never_finished_is_reclaimed_after_the_deadline_and_not_before() {
        let q = Arc::new(WorkQueue::new(1, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Apply(trunk("a", 1)));
        q.observe(&Event::Apply(trunk("b", 1)));
        let lost = next(&mut s).await;
        tokio::time::advance(Duration::from_secs(5 * 60)).await;
        assert_eq!(q.reclaim(Duration::from_secs(10 * 60)), 0, "still within its deadline");
        nothing_within(&mut s, Duration::from_secs(60)).await;
        tokio::time::advance(Duration::from_secs(6 * 60)).await;
        assert_eq!(q.reclaim(Duration::from_secs(10 * 60)), 1);
        // Its place is free again: the other trunk runs, then the lost one again.
        let mut got = vec![next(&mut s).await];
        q.done(&trunk(&got[0], 1), None);
        got.push(next(&mut s).await);
        got.sort();
        assert_eq!(got, ["a", "b"]);
        assert!(got.contains(&lost));
    }

    #[tokio::test(start_paused = true)]
    async fn earlier_due_times_win_and_stale_entries_are_skipped() {
        let q = Arc::new(WorkQueue::new(8, by_generation));
        let mut s = Box::pin(q.clone().stream());
        q.observe(&Event::Apply(trunk("a", 1)));
        assert_eq!(next(&mut s).await, "a");
        q.done(&trunk("a", 1), Some(Duration::from_secs(300)));
        // A Secret change brings it forward; the 300 s entry is then stale.
        let t0 = Instant::now();
        q.trigger([ObjectRef::new("a").within("n")]);
        assert_eq!(next(&mut s).await, "a");
        assert!(t0.elapsed() < Duration::from_secs(1), "woken after {:?}", t0.elapsed());
        q.done(&trunk("a", 1), None);
        nothing_within(&mut s, Duration::from_secs(600)).await;
        // Every round below leaves one stale 300 s entry behind: they are dropped, not piled up.
        for _ in 0..3_000 {
            q.trigger([ObjectRef::new("a").within("n")]);
            assert_eq!(next(&mut s).await, "a");
            q.done(&trunk("a", 1), Some(Duration::from_secs(300)));
        }
        let held = q.lock().order.len();
        assert!(held <= 2 * q.len() + 1025, "{held} heap entries for one trunk");
    }
}
