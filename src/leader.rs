//! Leader election on a `coordination.k8s.io/v1` Lease, so that replicas > 1 never act at once.
//! Writes use the Lease's resourceVersion (optimistic concurrency): of two candidates racing for
//! an expired lease, exactly one replace succeeds.
//!
//! No overlap, as client-go does it: a candidate judges expiry on its *own monotonic clock*, from
//! the moment it last saw the Lease record change (never by comparing the holder's wall-clock
//! `renewTime` with its own); the holder steps down when it could not renew within the renew
//! deadline and then stops every write before `lease_duration` has passed since the start of its
//! last successful renewal ([`LeaseConfig::stop_by`]), which is the earliest moment another
//! candidate can consider the lease expired.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Timing of the election.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease object name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This candidate's identity (unique per process, see [`identity`]).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it steps down (below `lease_duration`).
    pub renew_deadline: Duration,
    /// How often the holder renews, and candidates retry.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Defaults (client-go's): 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        LeaseConfig {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The renew deadline actually used: at most two thirds of the lease duration, so a
    /// misconfigured deadline cannot eat the drain time.
    pub fn effective_renew_deadline(&self) -> Duration {
        self.renew_deadline.min(self.lease_duration * 2 / 3)
    }

    /// How long after the start of its last successful renewal the holder must have stopped
    /// every write: the lease duration less a safety margin of a tenth of it (no other
    /// candidate can take the lease earlier than the full lease duration after that moment).
    pub fn stop_by(&self) -> Duration {
        self.lease_duration - self.lease_duration / 10
    }
}

/// This process's identity for the election: `POD_NAME` (else the hostname) plus a random
/// suffix, so that two processes never share one identity (a restarted container keeps its pod
/// name, and without `POD_NAME` every container used to be "siptrunk-operator-1", its PID).
pub fn identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "siptrunk-operator".into());
    format!("{base}_{:08x}", rand::random::<u32>())
}

/// A candidate for leadership.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The other holder's record as last seen (resourceVersion and holder) and when, on this
    /// process's monotonic clock, it was first seen.
    observed: Mutex<Option<(String, Instant)>>,
}

enum Attempt {
    /// This candidate holds the lease; the request that made it so started at this instant.
    Acquired(Instant),
    HeldByOther(String),
}

/// True when a record first seen at `observed_at` has not changed for `lease_duration` (pure).
pub fn expired(observed_at: Instant, now: Instant, lease_duration: Duration) -> bool {
    now.saturating_duration_since(observed_at) >= lease_duration
}

impl Elector {
    /// A candidate using `client`.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Elector { api: Api::namespaced(client, &cfg.namespace), cfg, observed: Mutex::new(None) }
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    /// Waits until this candidate holds the lease; returns when the winning request started.
    pub async fn acquire(&self) -> Instant {
        loop {
            let attempt =
                tokio::time::timeout(self.cfg.retry_period.max(Duration::from_secs(1)), self.try_once()).await;
            match attempt {
                Ok(Ok(Attempt::Acquired(at))) => {
                    info!(lease = %self.cfg.name, identity = %self.cfg.identity, "became leader");
                    return at;
                }
                Ok(Ok(Attempt::HeldByOther(holder))) => debug!(%holder, "lease held by another replica"),
                Ok(Err(e)) => warn!(error = %e, "lease acquire failed"),
                Err(_) => warn!("lease acquire timed out"),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renews the lease (acquired at `since`) until this replica must stop acting; returns the
    /// instant by which every write must have stopped. That is [`LeaseConfig::stop_by`] after
    /// the last successful renewal when renewals failed for the renew deadline, and now when
    /// another candidate holds the lease.
    pub async fn hold(&self, since: Instant) -> Instant {
        let renew_deadline = self.cfg.effective_renew_deadline();
        let mut last_ok = since;
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let give_up = last_ok + renew_deadline;
            let now = Instant::now();
            if now >= give_up {
                warn!(?renew_deadline, "could not renew the lease in time; stepping down");
                return last_ok + self.cfg.stop_by();
            }
            match tokio::time::timeout(give_up - now, self.try_once()).await {
                Ok(Ok(Attempt::Acquired(at))) => last_ok = at,
                Ok(Ok(Attempt::HeldByOther(holder))) => {
                    warn!(%holder, "lost the lease");
                    return Instant::now();
                }
                Ok(Err(e)) => warn!(error = %e, "lease renewal failed"),
                Err(_) => {
                    warn!(?renew_deadline, "lease renewal did not answer within the renew deadline; stepping down");
                    return last_ok + self.cfg.stop_by();
                }
            }
        }
    }

    /// Gives the lease up (on graceful shutdown) so a standby takes over at once. Bounded by
    /// the retry period (at least 1 s): a release that cannot be written is skipped.
    pub async fn release(&self) {
        let limit = self.cfg.retry_period.max(Duration::from_secs(1));
        if tokio::time::timeout(limit, self.release_inner()).await.is_err() {
            warn!("lease release timed out");
        }
    }

    async fn release_inner(&self) {
        if let Ok(mut lease) = self.api.get(&self.cfg.name).await {
            let ours =
                lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.cfg.identity.as_str());
            if ours {
                if let Some(spec) = lease.spec.as_mut() {
                    spec.holder_identity = None;
                    spec.renew_time = None;
                }
                match self.api.replace(&self.cfg.name, &PostParams::default(), &lease).await {
                    Ok(_) => info!("released the lease"),
                    Err(e) => warn!(error = %e, "lease release failed"),
                }
            }
        }
    }

    /// Whether the lease held by another is expired, judged on this process's clock: the
    /// record must have stayed unchanged for its lease duration since this candidate first saw it.
    fn other_expired(&self, fingerprint: String, lease_duration: Duration) -> bool {
        let now = Instant::now();
        let mut seen = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        match seen.as_ref() {
            Some((f, at)) if *f == fingerprint => expired(*at, now, lease_duration),
            _ => {
                *seen = Some((fingerprint, now));
                false
            }
        }
    }

    async fn try_once(&self) -> Result<Attempt, kube::Error> {
        let started = Instant::now();
        let now = Timestamp::now();
        // Whole seconds in the object, rounded up: a sub-second duration (tests) must not
        // publish a lease that has expired on arrival.
        let secs = i32::try_from(self.cfg.lease_duration.as_secs_f64().ceil().max(1.0) as u64).unwrap_or(15);
        match self.api.get_opt(&self.cfg.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.cfg.name.clone()), ..ObjectMeta::default() },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.cfg.identity.clone()),
                        lease_duration_seconds: Some(secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Attempt::Acquired(started)),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldByOther("unknown".into())),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.clone().unwrap_or_default();
                let holder = spec.holder_identity.clone().unwrap_or_default();
                let ours = holder == self.cfg.identity;
                if !ours && !holder.is_empty() {
                    // The holder's own duration (it may differ from ours), on our clock.
                    let duration = spec
                        .lease_duration_seconds
                        .and_then(|d| u64::try_from(d).ok())
                        .map(Duration::from_secs)
                        .unwrap_or(self.cfg.lease_duration);
                    let fingerprint = format!("{}/{holder}", lease.resource_version().unwrap_or_default());
                    if !self.other_expired(fingerprint, duration) {
                        return Ok(Attempt::HeldByOther(holder));
                    }
                }
                let transitions = spec.lease_transitions.unwrap_or(0) + if ours { 0 } else { 1 };
                lease.spec = Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: if ours { spec.acquire_time } else { Some(MicroTime(now)) },
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(transitions),
                    ..spec
                });
                match self.api.replace(&lease.name_any(), &PostParams::default(), &lease).await {
                    Ok(_) => Ok(Attempt::Acquired(started)),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldByOther("another candidate".into())),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_stops_before_anyone_can_take_over() {
        let cfg = LeaseConfig::new("l", "ns", "me");
        assert!(cfg.effective_renew_deadline() < cfg.stop_by());
        assert!(cfg.stop_by() < cfg.lease_duration);
        // A renew deadline configured too long is capped, leaving time to drain.
        let long = LeaseConfig { renew_deadline: Duration::from_secs(60), ..cfg.clone() };
        assert_eq!(long.effective_renew_deadline(), Duration::from_secs(10));
    }

    #[test]
    fn expiry_counts_from_the_observation_on_the_local_clock() {
        let seen = Instant::now();
        assert!(!expired(seen, seen + Duration::from_millis(14_999), Duration::from_secs(15)));
        assert!(expired(seen, seen + Duration::from_secs(15), Duration::from_secs(15)));
        // A clock that went backwards never expires a lease early.
        assert!(!expired(seen + Duration::from_secs(1), seen, Duration::from_secs(15)));
    }

    #[test]
    fn identities_are_unique_per_process_start() {
        let (a, b) = (identity(), identity());
        assert_ne!(a, b);
        assert!(a.rsplit_once('_').is_some_and(|(base, suffix)| !base.is_empty() && suffix.len() == 8));
    }
}
