//! Leader election on a `coordination.k8s.io/v1` Lease, so that replicas > 1 never act at once.
//! Writes use the Lease's resourceVersion (optimistic concurrency): of two candidates racing for
//! an expired lease, exactly one replace succeeds.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use tracing::{debug, info, warn};

/// Timing of the election.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease object name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This candidate's identity (pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews, and candidates retry.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Defaults: 15 s lease, 2 s retry.
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        LeaseConfig {
            name: name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A candidate for leadership.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
}

enum Attempt {
    Acquired,
    HeldByOther(String),
}

impl Elector {
    /// A candidate using `client`.
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Elector { api: Api::namespaced(client, &cfg.namespace), cfg }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Acquired) => {
                    info!(lease = %self.cfg.name, identity = %self.cfg.identity, "became leader");
                    return;
                }
                Ok(Attempt::HeldByOther(holder)) => debug!(%holder, "lease held by another replica"),
                Err(e) => warn!(error = %e, "lease acquire failed"),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renews the lease until renewals have failed for the renew deadline (two thirds of the
    /// lease duration, so this replica stops acting before another may take the lease) or another
    /// candidate took it; then returns (the caller must stop acting).
    pub async fn hold(&self) {
        let deadline = self.cfg.lease_duration * 2 / 3;
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Acquired) => last_ok = tokio::time::Instant::now(),
                Ok(Attempt::HeldByOther(holder)) => {
                    warn!(%holder, "lost the lease");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "lease renewal failed");
                    if last_ok.elapsed() >= deadline {
                        warn!(?deadline, "could not renew the lease in time; stepping down");
                        return;
                    }
                }
            }
        }
    }

    /// Gives the lease up (on graceful shutdown) so a standby takes over at once.
    pub async fn release(&self) {
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

    async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
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
                    Ok(_) => Ok(Attempt::Acquired),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldByOther("unknown".into())),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.clone().unwrap_or_default();
                let holder = spec.holder_identity.clone().unwrap_or_default();
                let ours = holder == self.cfg.identity;
                let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
                    (Some(MicroTime(t)), Some(d)) => now.as_millisecond() - t.as_millisecond() > i64::from(d) * 1000,
                    _ => true,
                };
                if !ours && !holder.is_empty() && !expired {
                    return Ok(Attempt::HeldByOther(holder));
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
                    Ok(_) => Ok(Attempt::Acquired),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldByOther("another candidate".into())),
                    Err(e) => Err(e),
                }
            }
        }
    }
}
