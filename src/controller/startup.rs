//! Start-up gate: which watch caches have completed their initial list. Every waiter is woken
//! (a `tokio::sync::watch`), unlike kube-runtime's `Store::wait_until_ready`, whose one-shot
//! receiver keeps only the last waiter's waker: two tasks waiting on one store could leave one
//! of them asleep for ever (that was the /readyz that stayed 503).

use std::sync::Arc;

use kube::runtime::watcher::Event;
use tokio::sync::watch;

/// One bit per cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// SipTrunks (marked only after every other cache, see `controller::run`).
    Trunks = 1,
    /// SipProviders.
    Providers = 2,
    /// ClusterSipProviders.
    ClusterProviders = 4,
    /// Secret metadata.
    Secrets = 8,
    /// SipDispatchRules (started after every other cache; not part of [`ALL`], which gates
    /// readiness).
    Rules = 16,
}

/// Everything a reconcile reads besides the trunk itself.
pub const DEPENDENCIES: u8 = Cache::Providers as u8 | Cache::ClusterProviders as u8 | Cache::Secrets as u8;
/// Every cache.
pub const ALL: u8 = DEPENDENCIES | Cache::Trunks as u8;

/// Which caches have synced; cheap to clone.
#[derive(Clone)]
pub struct CacheSync(Arc<watch::Sender<u8>>);

impl Default for CacheSync {
    fn default() -> Self {
        CacheSync(Arc::new(watch::channel(0).0))
    }
}

impl CacheSync {
    /// Records that `cache` completed an initial list.
    pub fn mark(&self, cache: Cache) {
        self.0.send_if_modified(|v| {
            let before = *v;
            *v |= cache as u8;
            *v != before
        });
    }

    /// True once every cache in `mask` has synced.
    pub fn has(&self, mask: u8) -> bool {
        *self.0.borrow() & mask == mask
    }

    /// Waits until every cache in `mask` has synced.
    pub async fn wait(&self, mask: u8) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so this only ends when the mask is complete.
        let _ = rx.wait_for(|v| *v & mask == mask).await;
    }

    /// Passes a watch event on, holding an `InitDone` until every cache in `mask` has synced (a
    /// stream's cache then reports ready only once the caches its reconciles read are).
    pub async fn hold_init_done<K, E>(self, mask: u8, ev: Result<Event<K>, E>) -> Result<Event<K>, E> {
        if matches!(ev, Ok(Event::InitDone)) {
            self.wait(mask).await;
        }
        ev
    }
}
