//! Runtime-settable fault knobs (watch cuts, forced 410s, write conflicts, latency), all off by default.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug)]
struct Knobs {
    watch_cut_after_events: Option<u64>,
    watch_cut_after: Option<Duration>,
    expire_watches: u32,
    conflict_ratio: f64,
    latency: Duration,
    resource_latency: Vec<(String, Duration)>,
    partitioned: Vec<String>,
    rng: StdRng,
    seed: u64,
}

/// Fault injection shared by every request. Deterministic for a given seed and request order.
#[derive(Debug)]
pub struct Faults {
    k: Mutex<Knobs>,
}

impl Default for Faults {
    fn default() -> Self {
        Self::with_seed(0)
    }
}

impl Faults {
    /// All faults off, conflict dice seeded with `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Faults {
            k: Mutex::new(Knobs {
                watch_cut_after_events: None,
                watch_cut_after: None,
                expire_watches: 0,
                conflict_ratio: 0.0,
                latency: Duration::ZERO,
                resource_latency: Vec::new(),
                partitioned: Vec::new(),
                rng: StdRng::seed_from_u64(seed),
                seed,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Knobs) -> T) -> T {
        let mut g = self.k.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Turns every fault off and re-seeds the dice with the original seed.
    pub fn reset(&self) {
        self.with(|k| {
            let seed = k.seed;
            *k = Faults::with_seed(seed).k.into_inner().unwrap_or_else(|p| p.into_inner());
        })
    }
    /// Re-seeds the conflict dice.
    pub fn set_seed(&self, seed: u64) {
        self.with(|k| {
            k.seed = seed;
            k.rng = StdRng::seed_from_u64(seed);
        })
    }
    /// Ends every watch stream (new and running) after it has sent `n` events (bookmarks excluded). None = off.
    pub fn set_watch_cut_after_events(&self, n: Option<u64>) {
        self.with(|k| k.watch_cut_after_events = n)
    }
    /// Ends every new watch stream after `d`. None = off.
    pub fn set_watch_cut_after(&self, d: Option<Duration>) {
        self.with(|k| k.watch_cut_after = d)
    }
    /// The next `n` watch requests get an `ERROR` event carrying a 410 Expired Status, then end.
    pub fn expire_next_watches(&self, n: u32) {
        self.with(|k| k.expire_watches = n)
    }
    /// Share (0.0..=1.0) of PUT/PATCH requests answered with 409 Conflict without being applied.
    pub fn set_conflict_ratio(&self, ratio: f64) {
        self.with(|k| k.conflict_ratio = ratio.clamp(0.0, 1.0))
    }
    /// Latency added before every request is handled.
    pub fn set_latency(&self, d: Duration) {
        self.with(|k| k.latency = d)
    }

    /// Extra latency for requests on one resource (plural, e.g. `secrets`); None removes it.
    pub fn set_resource_latency(&self, plural: &str, d: Option<Duration>) {
        self.with(|k| {
            k.resource_latency.retain(|(p, _)| p != plural);
            if let Some(d) = d {
                k.resource_latency.push((plural.to_string(), d));
            }
        })
    }
    /// A network partition of one client: requests whose `User-Agent` contains `agent` get no
    /// answer until `heal` (new requests wait; watches already streaming are not cut).
    pub fn partition(&self, agent: &str) {
        self.with(|k| k.partitioned.push(agent.to_string()))
    }
    /// Ends every partition.
    pub fn heal(&self) {
        self.with(|k| k.partitioned.clear())
    }

    /// Latency for a request path (global latency plus the resource's own).
    pub(crate) fn latency_for(&self, path: &str) -> Duration {
        self.with(|k| {
            let extra = k
                .resource_latency
                .iter()
                .filter(|(p, _)| path.split('/').any(|seg| seg == p))
                .map(|(_, d)| *d)
                .max()
                .unwrap_or_default();
            k.latency + extra
        })
    }
    /// True while requests of this `User-Agent` are partitioned away.
    pub(crate) fn is_partitioned(&self, agent: &str) -> bool {
        self.with(|k| k.partitioned.iter().any(|p| agent.contains(p.as_str())))
    }
    pub(crate) fn watch_cut_after_events(&self) -> Option<u64> {
        self.with(|k| k.watch_cut_after_events)
    }
    pub(crate) fn watch_cut_after(&self) -> Option<Duration> {
        self.with(|k| k.watch_cut_after)
    }
    /// Consumes one pending forced expiry, if any.
    pub(crate) fn take_expire(&self) -> bool {
        self.with(|k| {
            if k.expire_watches > 0 {
                k.expire_watches -= 1;
                true
            } else {
                false
            }
        })
    }
    /// Rolls the dice for one write.
    pub(crate) fn roll_conflict(&self) -> bool {
        self.with(|k| k.conflict_ratio > 0.0 && k.rng.random::<f64>() < k.conflict_ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_dice_are_deterministic_per_seed() {
        let roll = |seed| {
            let f = Faults::with_seed(seed);
            f.set_conflict_ratio(0.5);
            (0..64).map(|_| f.roll_conflict()).collect::<Vec<_>>()
        };
        assert_eq!(roll(1), roll(1));
        assert_ne!(roll(1), roll(2));
        let hits = roll(3).iter().filter(|h| **h).count();
        assert!((16..=48).contains(&hits), "{hits}");
        let f = Faults::default();
        assert!(!(0..100).any(|_| f.roll_conflict()), "off by default");
        f.expire_next_watches(1);
        assert!(f.take_expire());
        assert!(!f.take_expire());
    }
}
