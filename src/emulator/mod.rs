//! Provider emulator: public API (config, handle, standalone runner) of the HTTP stand-in for autocalls.ai, famulor and bolna.ai.
//!
//! The emulator is an independent implementation of the wire behaviour described in
//! `providers/API.md`: it has its own serde types and shares nothing with the project's
//! provider clients, so it can catch their bugs. Everything is in memory.

mod autocalls;
mod bolna;
mod calls;
mod faults;
mod inspect;
pub mod livekit;
mod net;
mod pipeline;
mod ratelimit;
mod state;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use calls::{CallCounts, CallKey};
pub use faults::{Faults, Hostile};
pub use ratelimit::{RateLimitCfg, RateWindow};
pub use state::TrunkStats;

use state::Inner;

/// Which provider API the emulator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// autocalls.ai: paths under `/api`, nickname on every SIP-trunk route.
    Autocalls,
    /// Famulor: the autocalls API on another host; nickname only via the phone-number PUT.
    Famulor,
    /// bolna.ai: a different API with string ids and bare JSON.
    Bolna,
}

impl Flavor {
    /// The flavor's name as used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Autocalls => "autocalls",
            Flavor::Famulor => "famulor",
            Flavor::Bolna => "bolna",
        }
    }

    /// True for autocalls and famulor, which share one API.
    pub fn is_autocalls_family(self) -> bool {
        matches!(self, Flavor::Autocalls | Flavor::Famulor)
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Flavor {
    type Err = EmulatorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "autocalls" => Ok(Flavor::Autocalls),
            "famulor" => Ok(Flavor::Famulor),
            "bolna" => Ok(Flavor::Bolna),
            other => Err(EmulatorError::UnknownFlavor(other.to_owned())),
        }
    }
}

/// Behaviour switches where the documentation leaves room; all settable at runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// Famulor: include `nickname` in list items (the phone-number page says the list returns it). Default true.
    pub famulor_nickname_in_list: bool,
    /// Famulor: include `nickname` in get/create/update responses (no famulor page shows it there). Default false.
    pub famulor_nickname_in_get: bool,
    /// autocalls/famulor: a field sent in a PUT with its current value still re-provisions (undocumented;
    /// the hostile reading). Default true. When false only real changes re-provision.
    pub reprovision_on_same_value: bool,
    /// autocalls/famulor: for `number` trunks, overwrite `country_code` with the country inferred from the
    /// DID prefix (trap 6). Default false.
    pub infer_country_from_number: bool,
    /// autocalls/famulor: answer 401/422 with a Laravel-style 302 redirect (HTML) when the request lacks
    /// `Accept: application/json` (trap 25). Default false.
    pub redirect_without_accept_json: bool,
    /// bolna: list items carry exactly the list reference page's fields, so no
    /// `media_encryption` or `media_encryption_optimistic` (newer schema only). Default true.
    pub bolna_list_as_brief: bool,
    /// bolna: list items and PATCH responses leave out `media_encryption`,
    /// `media_encryption_optimistic`, `transport` and `auth_type` (the list page carries no media
    /// encryption; the update page's example response has no transport or auth type). Get and
    /// create responses still carry them. Default false.
    pub bolna_hide_unreliable_fields: bool,
    /// bolna: create ignores `is_active`, which the create page does not document (the trunk
    /// starts active). Default false.
    pub bolna_create_ignores_is_active: bool,
    /// bolna: a DID already on another active trunk is refused with 422 instead of 409 (the
    /// guide gives "409 / 422"). Default false.
    pub bolna_did_conflict_422: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            famulor_nickname_in_list: true,
            famulor_nickname_in_get: false,
            reprovision_on_same_value: true,
            infer_country_from_number: false,
            redirect_without_accept_json: false,
            bolna_list_as_brief: true,
            bolna_hide_unreliable_fields: false,
            bolna_create_ignores_is_active: false,
            bolna_did_conflict_422: false,
        }
    }
}

/// Start-up configuration. `EmulatorConfig::new(flavor)` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub flavor: Flavor,
    /// Listen address; `None` means `127.0.0.1:0` (an ephemeral port).
    pub addr: Option<SocketAddr>,
    /// Accepted API tokens. Each is its own account unless `token_accounts` maps it. When both are empty,
    /// one random token is generated (see [`ProviderEmulator::token`]).
    pub tokens: Vec<String>,
    /// token → account name, for tokens that share one store (and one rate limit, like a bolna organisation).
    /// Tokens listed here are accepted too.
    pub token_accounts: HashMap<String, String>,
    /// Per-account rate limit; `None` is off. `new()` sets famulor 100/min + 20/10 s, bolna 1000/min, autocalls off.
    pub rate_limit: Option<RateLimitCfg>,
    /// Added to every authenticated provider response, after the request was processed (so a write whose
    /// client timed out is still committed).
    pub latency: Duration,
    /// Seed for fault shares (reproducible failures).
    pub seed: u64,
    /// Seed for generated ids (voice trunk ids, bolna ids) and the default token. None: a new
    /// random one per run. Either way mixed with the flavor, so autocalls and famulor never
    /// hand out the same ids, as two real providers would not.
    pub id_seed: Option<u64>,
    pub behaviour: Behaviour,
}

impl EmulatorConfig {
    pub fn new(flavor: Flavor) -> Self {
        EmulatorConfig {
            flavor,
            addr: None,
            tokens: Vec::new(),
            token_accounts: HashMap::new(),
            rate_limit: RateLimitCfg::provider_default(flavor),
            latency: Duration::ZERO,
            seed: 0x5eed,
            id_seed: None,
            behaviour: Behaviour::default(),
        }
    }

    /// Builder: accept this token (its own account).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// Builder: replace the rate limit.
    pub fn with_rate_limit(mut self, rl: Option<RateLimitCfg>) -> Self {
        self.rate_limit = rl;
        self
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("unknown flavor {0:?} (expected autocalls, famulor, bolna or livekit)")]
    UnknownFlavor(String),
    #[error("waiting for ctrl-c failed: {0}")]
    Signal(std::io::Error),
}

struct Server {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A running emulator. Cheap to clone; all clones talk to the same server.
#[derive(Clone)]
pub struct ProviderEmulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: Arc<Mutex<Server>>,
}

impl ProviderEmulator {
    /// Bind and serve in the background.
    pub async fn start(cfg: EmulatorConfig) -> Result<Self, EmulatorError> {
        let addr = cfg.addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let tcp = tokio::net::TcpListener::bind(addr).await.map_err(|source| EmulatorError::Bind { addr, source })?;
        let local = tcp.local_addr().map_err(|source| EmulatorError::Bind { addr, source })?;
        let inner = Arc::new(Inner::new(&cfg));
        let app = router(inner.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                net::KillableListener::new(tcp),
                app.into_make_service_with_connect_info::<net::ConnKill>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "provider emulator server stopped with an error");
            }
        });
        Ok(ProviderEmulator {
            inner,
            addr: local,
            server: Arc::new(Mutex::new(Server { stop: Some(stop_tx), task: Some(task) })),
        })
    }

    pub fn flavor(&self) -> Flavor {
        self.inner.flavor
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// autocalls/famulor: `http://127.0.0.1:PORT/api`; bolna: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        let root = format!("http://{}", self.addr);
        if self.inner.flavor.is_autocalls_family() { format!("{root}/api") } else { root }
    }

    /// The first accepted token (the generated one when none was configured).
    pub fn token(&self) -> String {
        self.inner.tokens().into_iter().next().unwrap_or_default()
    }

    /// All accepted tokens.
    pub fn tokens(&self) -> Vec<String> {
        self.inner.tokens()
    }

    /// Accept one more token, in its own account or in a named shared one.
    pub fn add_token(&self, token: &str, account: Option<&str>) {
        self.inner.add_token(token, account);
    }

    /// Stop accepting a token (requests with it get 401); its data stays.
    pub fn revoke_token(&self, token: &str) {
        self.inner.revoke_token(token);
    }

    /// Runtime-settable faults.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn behaviour(&self) -> Behaviour {
        self.inner.behaviour()
    }

    pub fn set_behaviour(&self, b: Behaviour) {
        self.inner.set_behaviour(b);
    }

    /// Replace the rate limit at runtime (resets all windows); `None` turns it off.
    pub fn set_rate_limit(&self, rl: Option<RateLimitCfg>) {
        self.inner.limiter.configure(rl);
    }

    /// Counts by (method, route template, status); `/_emulator` routes are not counted.
    pub fn calls(&self) -> CallCounts {
        self.inner.calls_snapshot()
    }

    pub fn total_calls(&self) -> u64 {
        self.inner.calls_snapshot().total()
    }

    pub fn reset_calls(&self) {
        self.inner.reset_calls();
    }

    /// Stored trunks of the token's account, passwords only as `sip_password_sha256` / `auth_password_sha256`.
    pub fn trunks(&self, token: &str) -> Vec<serde_json::Value> {
        self.inner.trunks_json(token)
    }

    /// autocalls/famulor: every phone number of the account (SIP trunks and purchased numbers), with
    /// `type` and, for purchased ones, `release_scheduled`.
    pub fn numbers(&self, token: &str) -> Vec<serde_json::Value> {
        self.inner.numbers_json(token)
    }

    pub fn password_matches(&self, token: &str, trunk_id: &str, password: &str) -> bool {
        self.inner.password_matches(token, trunk_id, password)
    }

    /// Re-provisioning and write counters of one trunk (autocalls/famulor; bolna counts updates only).
    pub fn trunk_stats(&self, token: &str, trunk_id: &str) -> Option<TrunkStats> {
        self.inner.trunk_stats(token, trunk_id)
    }

    /// Insert a pre-existing trunk without validation (e.g. one a human made); missing fields get
    /// plausible defaults. Returns its id (an integer as a string for autocalls/famulor).
    pub fn seed_trunk(&self, token: &str, trunk: serde_json::Value) -> String {
        self.inner.seed_trunk(token, &trunk)
    }

    /// autocalls/famulor: a purchased (non-SIP) number in the same id space as trunks.
    pub fn seed_purchased_number(&self, token: &str, number: &str) -> i64 {
        self.inner.seed_purchased_number(token, number)
    }

    /// Simulate a human editing the trunk in the dashboard (drift). Unknown keys are ignored; no
    /// validation; the platform re-provisions as for an API update, but `trunk_stats` does not count it.
    pub fn edit_trunk(&self, token: &str, id: &str, patch: serde_json::Value) {
        self.inner.edit_trunk(token, id, &patch);
    }

    /// Stop the server (all clones) and wait for it, at most two seconds.
    pub async fn shutdown(self) {
        let (stop, task) = {
            let mut s = state::lock(&self.server);
            (s.stop.take(), s.task.take())
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

fn router(inner: Arc<Inner>) -> Router {
    let provider = match inner.flavor {
        Flavor::Autocalls | Flavor::Famulor => autocalls::routes(),
        Flavor::Bolna => bolna::routes(),
    }
    .route_layer(axum::middleware::from_fn_with_state(inner.clone(), pipeline::pipeline));
    Router::new().merge(provider).merge(inspect::routes()).fallback(pipeline::fallback).with_state(inner)
}

/// Run an emulator until ctrl-c: prints the base URL and the accepted token(s).
pub async fn run_standalone(cfg: EmulatorConfig) -> Result<(), EmulatorError> {
    let emu = ProviderEmulator::start(cfg).await?;
    println!("provider emulator ({}) listening at {}", emu.flavor(), emu.base_url());
    for t in emu.tokens() {
        println!("accepted API token: {t}");
    }
    println!("inspect: curl http://{}/_emulator/trunks  |  curl http://{}/_emulator/calls", emu.addr(), emu.addr());
    let signal = tokio::signal::ctrl_c().await.map_err(EmulatorError::Signal);
    emu.shutdown().await;
    signal
}
