//! Kubernetes API emulation: an in-process HTTP server speaking enough of the real REST API for
//! kube-runtime controllers and kubectl. A test instrument; see DIFFERENCES.md for what differs.

pub mod apply;
pub mod builtins;
pub mod calls;
pub mod discovery;
pub mod events;
pub mod faults;
pub mod http;
pub mod openapi;
pub mod patch;
pub mod proto;
pub mod registry;
pub mod selector;
pub mod status;
pub mod store;
pub mod table;
pub mod validate;
pub mod watch;

pub use calls::ApiCall;
pub use faults::Faults;
pub use status::ApiError;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{Store, WriteOpts};
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;

/// How to start the emulator.
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// Listen address; None = 127.0.0.1 on a free port.
    pub addr: Option<SocketAddr>,
    /// CRDs installed before the server answers its first request.
    pub crds: Vec<CustomResourceDefinition>,
    /// How many changes the watch history keeps (older resourceVersions get 410 Expired).
    pub history_limit: usize,
    /// Interval between BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Seed of the fault dice.
    pub seed: u64,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self { addr: None, crds: Vec::new(), history_limit: 10_000, bookmark_interval: Duration::from_secs(1), seed: 0 }
    }
}

/// Shared server state.
pub(crate) struct Inner {
    store: Mutex<Store>,
    pub(crate) faults: Faults,
    calls: Mutex<Vec<ApiCall>>,
    pub(crate) shutdown: tokio_watch::Receiver<bool>,
    pub(crate) bookmark_interval: Duration,
    pub(crate) addr: SocketAddr,
}

impl Inner {
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn record(&self, call: ApiCall) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    }
}

/// Handle to a running emulator; cheap to clone.
#[derive(Clone)]
pub struct KubeEmulator {
    inner: Arc<Inner>,
    stop: Arc<tokio_watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for KubeEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeEmulator").field("url", &self.url()).finish()
    }
}

impl KubeEmulator {
    /// Binds (127.0.0.1:0 unless `opts.addr`), installs `opts.crds` and starts serving.
    pub async fn start(opts: EmulatorOptions) -> std::io::Result<Self> {
        let addr = opts.addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, shutdown) = tokio_watch::channel(false);
        let inner = Arc::new(Inner {
            store: Mutex::new(Store::new(opts.history_limit)),
            faults: Faults::with_seed(opts.seed),
            calls: Mutex::new(Vec::new()),
            shutdown: shutdown.clone(),
            bookmark_interval: opts.bookmark_interval,
            addr,
        });
        let emu = KubeEmulator { inner: inner.clone(), stop: Arc::new(stop), task: Arc::new(Mutex::new(None)) };
        emu.install_crds(opts.crds)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let app = http::router(inner);
        let mut sd = shutdown;
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = sd.wait_for(|v| *v).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
                tracing::warn!(error = %e, "kubeemu server stopped");
            }
        });
        *emu.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(emu)
    }

    /// Starts on `opts`, runs until `until` completes, then shuts down (for standalone use).
    pub async fn run_until(opts: EmulatorOptions, until: impl Future<Output = ()>) -> std::io::Result<()> {
        let emu = Self::start(opts).await?;
        until.await;
        emu.shutdown().await;
        Ok(())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// A kube client for this server (default namespace `default`, no auth).
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        install_crypto_provider();
        let uri: ::http::Uri =
            self.url().parse().map_err(|e: ::http::uri::InvalidUri| kube::Error::Service(e.into()))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config.read_timeout = None;
        kube::Client::try_from(config)
    }

    /// Writes a kubeconfig (context `kubeemu`, namespace `default`) for kubectl.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubeemu\n  cluster:\n    server: {}\nusers:\n- name: kubeemu\n  user: {{}}\ncontexts:\n- name: kubeemu\n  context:\n    cluster: kubeemu\n    user: kubeemu\n    namespace: default\ncurrent-context: kubeemu\n",
            self.url()
        );
        std::fs::write(path, yaml)
    }

    /// Creates (or replaces) CRDs as if applied over HTTP; their resources are served at once.
    pub fn install_crds(&self, crds: Vec<CustomResourceDefinition>) -> Result<(), ApiError> {
        let mut store = self.inner.lock_store();
        let Some(rt) = store.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions") else {
            return Err(ApiError::internal("CRD type missing"));
        };
        for crd in crds {
            let obj = serde_json::to_value(&crd).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let opts = WriteOpts::default();
            match store.get(&rt, None, &name) {
                Ok(old) => {
                    let mut new = obj;
                    new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
                    store.commit(&rt, old, new, None, &opts)?;
                }
                Err(_) => {
                    store.create(&rt, None, obj, &opts)?;
                }
            }
        }
        Ok(())
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.inner.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets recorded calls.
    pub fn clear_calls(&self) {
        self.inner.calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Fault knobs.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock_store().resource_version()
    }

    /// Stops serving: open watches end, the listener closes.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }

    /// Resolves when `shutdown` has been called on any clone.
    pub async fn stopped(&self) {
        let mut rx = self.inner.shutdown.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// Re-exported for the tests and stand-ins that call it from here.
pub use crate::tls::install_crypto_provider;
