//! The `run` command: wires the Kubernetes client, the operating endpoints, leader election,
//! signal handling and the controller. Also used in-process by `demo` and the tests.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use kube::Client;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::controller::{self, Readiness};
use crate::leader::{Elector, LeaseConfig};
use crate::metrics::Metrics;

/// Options of one controller instance.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where /metrics, /healthz and /readyz listen (None: not served).
    pub http_addr: Option<SocketAddr>,
    /// What to watch.
    pub controller: controller::Config,
    /// Leader election (None: act at once, single replica).
    pub lease: Option<LeaseConfig>,
}

/// `User-Agent` of every Kubernetes request the operator makes: API server audit logs (and the
/// RBAC test, which tells the controller's requests from its own by it) name the operator.
pub const USER_AGENT: &str = concat!("siptrunk-operator/", env!("CARGO_PKG_VERSION"));

/// A Kubernetes client from `config` that identifies itself with [`USER_AGENT`].
pub fn client(mut config: kube::Config) -> Result<Client, kube::Error> {
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT)));
    Client::try_from(config)
}

/// A running controller instance; stop it with `stop`.
pub struct Instance {
    stop: Arc<watch::Sender<bool>>,
    done: tokio::task::JoinHandle<()>,
    http_addr: Option<SocketAddr>,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// Its readiness.
    pub readiness: Readiness,
}

impl Instance {
    /// Starts an instance on `client` (inside a Tokio runtime). The endpoints' port is bound
    /// before this returns, so `http_addr` knows it (port 0 picks a free one).
    pub fn start(client: Client, opts: RunOptions) -> Instance {
        let metrics = Arc::new(Metrics::default());
        let readiness = Readiness::default();
        let (stop, stop_rx) = watch::channel(false);
        let stop = Arc::new(stop);
        let mut http_addr = None;
        if let Some(addr) = opts.http_addr {
            match bind(addr) {
                Ok(listener) => {
                    http_addr = listener.local_addr().ok();
                    info!(addr = %http_addr.unwrap_or(addr), "serving /metrics, /healthz and /readyz");
                    let (m, r, s) = (metrics.clone(), readiness.clone(), stopped(stop_rx.clone()));
                    tokio::spawn(async move {
                        if let Err(e) = crate::server::serve_on(listener, m, r, s).await {
                            error!(error = %e, %addr, "operating endpoints stopped");
                        }
                    });
                }
                Err(e) => error!(error = %e, %addr, "cannot serve operating endpoints"),
            }
        }
        let done = tokio::spawn(run_instance(client, opts, metrics.clone(), readiness.clone(), stop_rx));
        Instance { stop, done, http_addr, metrics, readiness }
    }

    /// Where /metrics, /healthz and /readyz listen, once bound.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Graceful stop: the controller finishes running reconciles, the lease is released.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }

    /// Hard stop: the task is aborted mid-flight (a crash, as far as the outside can tell).
    pub fn kill(self) {
        self.done.abort();
    }

    /// True when the instance ended by itself (it lost its lease).
    pub fn is_finished(&self) -> bool {
        self.done.is_finished()
    }

    /// Resolves when the instance ends by itself (it lost its lease); consumes it.
    pub async fn ended(self) {
        let _ = self.done.await;
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn run_instance(
    client: Client,
    opts: RunOptions,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    stop: watch::Receiver<bool>,
) {
    let elector = opts.lease.clone().map(|cfg| Elector::new(client.clone(), cfg));
    let mut since = tokio::time::Instant::now();
    if let Some(el) = &elector {
        // A standby is ready: it serves its endpoints, and a rolling update must not wait
        // for it to win the lease the old pod holds.
        readiness.set();
        tokio::select! {
            at = el.acquire() => since = at,
            _ = stopped(stop.clone()) => return,
        }
        readiness.unset();
    }
    // Acting from here on: the Lease is held (or there is no election).
    metrics.leader.set(1);
    let lost = async {
        match &elector {
            Some(el) => el.hold(since).await,
            None => futures::future::pending().await,
        }
    };
    let stop_fut = stopped(stop.clone()).shared();
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = {
        let stop_fut = stop_fut.clone();
        async move {
            tokio::select! {
                _ = stop_fut => {}
                _ = lost_rx => {}
            }
        }
    };
    let ctrl = controller::run(client, opts.controller.clone(), metrics.clone(), readiness, shutdown);
    tokio::pin!(ctrl);
    let mut leading = true;
    tokio::select! {
        _ = &mut ctrl => {}
        stop_by = lost => {
            leading = false;
            info!("leadership lost; stopping the controller");
            let _ = lost_tx.send(());
            // Another replica may take the lease from `stop_by` on: whatever still runs then is
            // dropped (the reconcile futures with their requests), so two leaders never write.
            if tokio::time::timeout_at(stop_by, &mut ctrl).await.is_err() {
                warn!("running reconciles did not finish before the lease could pass to another replica; dropped them");
            }
        }
    }
    metrics.leader.set(0);
    if leading && let Some(el) = &elector {
        el.release().await;
    }
}

/// How long a graceful stop may take before the process exits anyway: below the chart's
/// terminationGracePeriodSeconds (30 s), so the exit is ours rather than a SIGKILL.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

/// The `run` command: until SIGTERM/SIGINT.
pub async fn run_until_signal(opts: RunOptions) -> Result<(), String> {
    let config = kube::Config::infer().await.map_err(|e| format!("no Kubernetes configuration: {e}"))?;
    let client = client(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))?;
    let instance = Instance::start(client, opts);
    let stop = instance.stop.clone();
    tokio::pin!(let ended = instance.ended(););
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = &mut ended => {
            // A replica that lost its lease must not linger as a live but idle pod: exiting
            // makes the kubelet restart it as a fresh standby.
            return Err("lost the leader lease; exiting so that the pod restarts as a standby".into());
        }
    }
    info!("signal received; shutting down");
    let _ = stop.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, ended).await.is_err() {
        warn!(grace = ?SHUTDOWN_GRACE, "shutdown took too long; exiting without waiting further");
    }
    info!("stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
