//! LiveKit SIP emulator flavor: the Twirp API `POST /twirp/livekit.SIP/<Method>` with protobuf
//! bodies (what the official SDKs send) or proto3 JSON (original field names), JWT verification
//! (HS256 with the project's API secret; `unauthenticated` / `permission_denied`), an in-memory
//! project (`store`), and the emulator's fault knobs (errors, 429 `resource_exhausted`,
//! commit-then-drop, latency, hostile bodies).
//!
//! It shares the protocol's wire types and the JWT code with the client in
//! `provider::livekit`; the independent check is `tests/livekit/`, which drives it with the
//! official Python server SDK (types generated from livekit/protocol).
//!
//! Differences from a LiveKit server, as far as known:
//! - Fields outside `provider::livekit::wire` (media config, room config, timestamps,
//!   `ringing_timeout_status`, ...) are dropped on decode and never returned.
//! - JSON answers use the original (snake_case) field names; a Twirp server may answer
//!   lowerCamelCase (both are valid proto3 JSON).
//! - Ambiguous inbound trunks (same numbers, callers and addresses) and `ListUpdate` mixing `set`
//!   with `add`/`remove`/`clear` are refused with `invalid_argument`: the strict reading, the
//!   server's exact rules are not verified.
//! - Deleting a trunk leaves its id in dispatch rules that name it (hostile reading).
//! - No per-project rate limit unless injected with the fault knobs; one project for all keys;
//!   passwords are returned by get/list (whether LiveKit masks them is not verified, and the
//!   operator never relies on reading one back).

pub mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::faults::{Action, Faults, Hostile};
use super::net::{ConnKill, KillableListener};
use super::state::sha256_hex;
use crate::provider::livekit::auth;
use crate::provider::livekit::wire::snake_case_names;
use store::{Project, TwirpError};

/// Start-up configuration of a LiveKit emulator.
#[derive(Clone, Debug)]
pub struct LiveKitConfig {
    /// Listen address; `None` is `127.0.0.1:0`.
    pub addr: Option<SocketAddr>,
    /// API key → secret pairs accepted (all keys share one project, like LiveKit's).
    pub keys: BTreeMap<String, String>,
    /// Seed for ids and fault shares.
    pub seed: u64,
    /// Clock skew allowed on `nbf`/`exp`, seconds.
    pub leeway: u64,
}

impl Default for LiveKitConfig {
    fn default() -> Self {
        LiveKitConfig { addr: None, keys: BTreeMap::new(), seed: 0x5eed, leeway: 10 }
    }
}

impl LiveKitConfig {
    /// Builder: accept this key and secret.
    pub fn with_key(mut self, key: impl Into<String>, secret: impl Into<String>) -> Self {
        self.keys.insert(key.into(), secret.into());
        self
    }
}

struct Shared {
    project: Mutex<Project>,
    keys: Mutex<BTreeMap<String, String>>,
    faults: Faults,
    calls: Mutex<BTreeMap<String, u64>>,
    updates: Mutex<Vec<Update>>,
    leeway: u64,
}

/// One authorized `Update…Trunk` request in `update` form, as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The trunk id.
    pub trunk_id: String,
    /// The fields the request sets (wire names), in declaration order.
    pub fields: Vec<&'static str>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The stop switch and the task of the HTTP server.
type Server = (Option<oneshot::Sender<()>>, Option<JoinHandle<()>>);

/// A running LiveKit emulator. Cheap to clone.
#[derive(Clone)]
pub struct LiveKitEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Arc<Mutex<Server>>,
}

impl LiveKitEmulator {
    /// Binds and serves in the background. Without configured keys, one random pair is made.
    pub async fn start(mut cfg: LiveKitConfig) -> Result<Self, super::EmulatorError> {
        if cfg.keys.is_empty() {
            let r: u128 = rand::random();
            cfg.keys.insert(format!("APIemu{:08x}", (r >> 96) as u32), format!("{r:032x}"));
        }
        let addr = cfg.addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let tcp =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| super::EmulatorError::Bind { addr, source })?;
        let local = tcp.local_addr().map_err(|source| super::EmulatorError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            project: Mutex::new(Project::new(cfg.seed)),
            keys: Mutex::new(cfg.keys),
            faults: Faults::new(cfg.seed),
            calls: Mutex::new(BTreeMap::new()),
            updates: Mutex::new(Vec::new()),
            leeway: cfg.leeway,
        });
        let app = Router::new()
            .route("/twirp/livekit.SIP/{method}", axum::routing::post(twirp))
            .route("/_emulator/livekit", axum::routing::get(inspect))
            .with_state(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(KillableListener::new(tcp), app.into_make_service_with_connect_info::<ConnKill>())
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "LiveKit emulator stopped with an error");
            }
        });
        Ok(LiveKitEmulator { shared, addr: local, server: Arc::new(Mutex::new((Some(stop_tx), Some(task)))) })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (what `LIVEKIT_URL` would be).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The accepted key → secret pairs.
    pub fn keys(&self) -> BTreeMap<String, String> {
        lock(&self.shared.keys).clone()
    }

    /// Accept this key and secret too (all keys share the one project).
    pub fn add_key(&self, key: &str, secret: &str) {
        lock(&self.shared.keys).insert(key.to_string(), secret.to_string());
    }

    /// Stop accepting a key (its tokens are refused as `unauthenticated`).
    pub fn revoke_key(&self, key: &str) {
        lock(&self.shared.keys).remove(key);
    }

    /// Fault knobs; endpoints are `POST /twirp/livekit.SIP/<Method>`.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Calls per `POST /twirp/livekit.SIP/<Method> <status>` (`dropped` for dropped connections).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.calls).clone()
    }

    /// Every authorized trunk update in `update` form, in arrival order.
    pub fn updates(&self) -> Vec<Update> {
        lock(&self.shared.updates).clone()
    }

    /// Total calls.
    pub fn total_calls(&self) -> u64 {
        lock(&self.shared.calls).values().sum()
    }

    /// The project as JSON: `inbound`, `outbound`, `dispatch_rules`, passwords only as
    /// `auth_password_sha256`.
    pub fn snapshot(&self) -> serde_json::Value {
        snapshot(&lock(&self.shared.project))
    }

    /// Whether the trunk `id` (either kind) holds this password.
    pub fn password_matches(&self, id: &str, password: &str) -> bool {
        let p = lock(&self.shared.project);
        p.inbound().any(|t| t.sip_trunk_id == id && t.auth_password == password)
            || p.outbound().any(|t| t.sip_trunk_id == id && t.auth_password == password)
    }

    /// Forgets the call counts and the recorded updates.
    pub fn reset_calls(&self) {
        lock(&self.shared.calls).clear();
        lock(&self.shared.updates).clear();
    }

    /// Stores a trunk made by someone else (inbound when `inbound`), without validation: fields
    /// as in `snapshot` (wire names, enums by name or number), missing ones empty. Returns its id.
    pub fn seed_trunk(&self, inbound: bool, trunk: serde_json::Value) -> Result<String, String> {
        lock(&self.shared.project).seed_trunk(inbound, trunk).map_err(|e| e.msg)
    }

    /// Someone edits a trunk (either kind) at LiveKit: the fields of `patch` (wire names) replace
    /// the stored ones, without validation; neither counted as a call nor recorded in `updates`.
    pub fn edit_trunk(&self, id: &str, patch: serde_json::Value) -> Result<(), String> {
        lock(&self.shared.project).edit_trunk(id, &patch).map_err(|e| e.msg)
    }

    /// Someone deletes a trunk (either kind) at LiveKit; false when there was none.
    pub fn remove_trunk(&self, id: &str) -> bool {
        let req = crate::provider::livekit::wire::rpc::TrunkIdRequest { sip_trunk_id: id.to_string() };
        lock(&self.shared.project).delete_trunk(req).is_ok()
    }

    /// Stops the server and waits for it, at most two seconds.
    pub async fn shutdown(self) {
        let (stop, task) = {
            let mut s = lock(&self.server);
            (s.0.take(), s.1.take())
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

fn snapshot(p: &Project) -> serde_json::Value {
    let hide = |mut v: serde_json::Value| {
        if let Some(pw) = v.get("auth_password").and_then(|x| x.as_str()).map(str::to_string)
            && let Some(m) = v.as_object_mut()
        {
            m.remove("auth_password");
            if !pw.is_empty() {
                m.insert("auth_password_sha256".into(), sha256_hex(&pw).into());
            }
        }
        v
    };
    serde_json::json!({
        "inbound": p.inbound().map(|t| hide(to_json(t))).collect::<Vec<_>>(),
        "outbound": p.outbound().map(|t| hide(to_json(t))).collect::<Vec<_>>(),
        "dispatch_rules": p.rules().map(to_json).collect::<Vec<_>>(),
    })
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn inspect(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(snapshot(&lock(&s.project))).into_response()
}

/// Body encoding of a request (and its answer).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

fn twirp_error(e: &TwirpError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(serde_json::json!({"code": e.code, "msg": e.msg}))).into_response()
}

/// The Twirp code nearest to an HTTP status the fault knobs ask for (Twirp has no 422: a
/// request the server refuses as invalid is `invalid_argument`, answered 400).
fn code_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_argument",
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        409 => "already_exists",
        429 => "resource_exhausted",
        501 => "unimplemented",
        503 => "unavailable",
        _ => "internal",
    }
}

async fn twirp(
    State(s): State<Arc<Shared>>,
    ConnectInfo(kill): ConnectInfo<ConnKill>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = format!("POST /twirp/livekit.SIP/{method}");
    let (resp, dropped) = handle(&s, &endpoint, &method, &headers, body).await;
    if dropped {
        kill.kill();
    }
    let label = if dropped { "dropped".to_string() } else { resp.status().as_u16().to_string() };
    *lock(&s.calls).entry(format!("{endpoint} {label}")).or_default() += 1;
    resp
}

/// Content type, auth, faults, the call itself, latency. Returns the response and whether to
/// drop the connection instead.
async fn handle(s: &Shared, endpoint: &str, method: &str, headers: &HeaderMap, body: Bytes) -> (Response, bool) {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let format = match ctype.split(';').next().unwrap_or_default().trim() {
        "application/protobuf" | "application/x-protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        other => {
            let e = TwirpError::new("bad_route", format!("unexpected Content-Type: {other:?}"));
            return (twirp_error(&e), false);
        }
    };
    if let Err(e) = authorize(s, headers) {
        return (twirp_error(&e), false);
    }
    if let Some(u) = update_of(method, format, &body) {
        lock(&s.updates).push(u);
    }
    let plan = s.faults.plan(endpoint);
    let early = match plan.action {
        Some(Action::Status { status, after_commit: false }) => {
            Some(twirp_error(&TwirpError::new(code_for_status(status), "injected failure")))
        }
        Some(Action::Throttle { retry_after, header: with_header }) => {
            let mut r = twirp_error(&TwirpError::new("resource_exhausted", "rate limit exceeded"));
            if with_header && let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Some(r)
        }
        Some(Action::Hostile(Hostile::Html { status })) => Some(
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [(header::CONTENT_TYPE, "text/html")],
                format!("<html><body><h1>{status}</h1><hr>nginx</body></html>"),
            )
                .into_response(),
        ),
        // A validation error quoting the request's password first (escaped, so `Pa"ss\word`
        // comes back as `Pa\"ss\\word`), then the whole body the same way.
        Some(Action::Hostile(Hostile::EchoBody { status })) => {
            let pw = password_of(method, format, &body).unwrap_or_default();
            let msg = format!("auth_password {pw:?} is not allowed; request {:?}", String::from_utf8_lossy(&body));
            Some(twirp_error(&TwirpError { code: code_for_status(status), msg }))
        }
        Some(Action::Hostile(Hostile::EchoRequest { status })) => {
            let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let msg = format!("bad request: authorization={auth} body={}", String::from_utf8_lossy(&body));
            Some(twirp_error(&TwirpError { code: code_for_status(status), msg }))
        }
        _ => None,
    };
    if let Some(r) = early {
        return (r, false);
    }
    let result = {
        let mut p = lock(&s.project);
        dispatch(&mut p, method, format, &body)
    };
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let (resp_body, ok) = match result {
        Ok(b) => (b, true),
        Err(e) => return (twirp_error(&e), false),
    };
    let ctype = if format == Format::Json { "application/json" } else { "application/protobuf" };
    let respond = |b: Vec<u8>| (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], b).into_response();
    match plan.action {
        Some(Action::Status { status, after_commit: true }) if ok => {
            (twirp_error(&TwirpError::new(code_for_status(status), "injected failure after commit")), false)
        }
        Some(Action::Drop) => (respond(Vec::new()), true),
        Some(Action::Hostile(Hostile::TruncatedJson)) => {
            let half = resp_body.len() / 2;
            (respond(resp_body[..half].to_vec()), false)
        }
        // A length prefix longer than the body: no decoder can read it.
        Some(Action::Hostile(Hostile::WrongTypes)) => (respond(vec![0x0a, 0xff, 0xff, 0x03, 0x01]), false),
        Some(Action::Hostile(Hostile::EmptyBody)) => (respond(Vec::new()), false),
        _ => (respond(resp_body), false),
    }
}

/// The fields an `update`-form trunk update sets (independent of the operator's own naming).
fn update_of(method: &str, format: Format, body: &[u8]) -> Option<Update> {
    use crate::provider::livekit::wire::rpc::{
        UpdateInboundAction, UpdateOutboundAction, UpdateSipInboundTrunkRequest, UpdateSipOutboundTrunkRequest,
    };
    let pick = |set: &[(bool, &'static str)]| set.iter().filter(|(s, _)| *s).map(|(_, n)| *n).collect();
    match method {
        "UpdateSIPInboundTrunk" => {
            let r: UpdateSipInboundTrunkRequest = decode(format, body).ok()?;
            let Some(UpdateInboundAction::Update(u)) = r.action else { return None };
            let fields = pick(&[
                (u.numbers.is_some(), "numbers"),
                (u.allowed_addresses.is_some(), "allowed_addresses"),
                (u.allowed_numbers.is_some(), "allowed_numbers"),
                (u.auth_username.is_some(), "auth_username"),
                (u.auth_password.is_some(), "auth_password"),
                (u.name.is_some(), "name"),
                (u.metadata.is_some(), "metadata"),
                (u.media_encryption.is_some(), "media_encryption"),
            ]);
            Some(Update { trunk_id: r.sip_trunk_id, fields })
        }
        "UpdateSIPOutboundTrunk" => {
            let r: UpdateSipOutboundTrunkRequest = decode(format, body).ok()?;
            let Some(UpdateOutboundAction::Update(u)) = r.action else { return None };
            let fields = pick(&[
                (u.address.is_some(), "address"),
                (u.transport.is_some(), "transport"),
                (u.destination_country.is_some(), "destination_country"),
                (u.numbers.is_some(), "numbers"),
                (u.auth_username.is_some(), "auth_username"),
                (u.auth_password.is_some(), "auth_password"),
                (u.name.is_some(), "name"),
                (u.metadata.is_some(), "metadata"),
                (u.media_encryption.is_some(), "media_encryption"),
            ]);
            Some(Update { trunk_id: r.sip_trunk_id, fields })
        }
        _ => None,
    }
}

/// The SIP password a trunk create or update carries, if any.
fn password_of(method: &str, format: Format, body: &[u8]) -> Option<String> {
    use crate::provider::livekit::wire::rpc::{
        CreateSipInboundTrunkRequest, CreateSipOutboundTrunkRequest, UpdateInboundAction, UpdateOutboundAction,
        UpdateSipInboundTrunkRequest, UpdateSipOutboundTrunkRequest,
    };
    match method {
        "CreateSIPInboundTrunk" => {
            decode::<CreateSipInboundTrunkRequest>(format, body).ok()?.trunk.map(|t| t.auth_password)
        }
        "CreateSIPOutboundTrunk" => {
            decode::<CreateSipOutboundTrunkRequest>(format, body).ok()?.trunk.map(|t| t.auth_password)
        }
        "UpdateSIPInboundTrunk" => match decode::<UpdateSipInboundTrunkRequest>(format, body).ok()?.action? {
            UpdateInboundAction::Update(u) => u.auth_password,
            UpdateInboundAction::Replace(t) => Some(t.auth_password),
        },
        "UpdateSIPOutboundTrunk" => match decode::<UpdateSipOutboundTrunkRequest>(format, body).ok()?.action? {
            UpdateOutboundAction::Update(u) => u.auth_password,
            UpdateOutboundAction::Replace(t) => Some(t.auth_password),
        },
        _ => None,
    }
}

/// Bearer JWT signed with a known key's secret, in its validity window, with `sip.admin`.
fn authorize(s: &Shared, headers: &HeaderMap) -> Result<(), TwirpError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| TwirpError::new("unauthenticated", "no authorization header"))?;
    let keys = lock(&s.keys).clone();
    let claims = auth::verify(token, |k| keys.get(k).map(|s| s.as_bytes().to_vec()), auth::now_secs(), s.leeway)
        .map_err(|e| TwirpError::new("unauthenticated", format!("invalid token: {e}")))?;
    if !claims.sip.is_some_and(|g| g.admin) {
        return Err(TwirpError::new("permission_denied", "requires SIP admin permissions"));
    }
    Ok(())
}

fn decode<T: Message + Default + DeserializeOwned>(format: Format, body: &[u8]) -> Result<T, TwirpError> {
    match format {
        Format::Protobuf => T::decode(body)
            .map_err(|e| TwirpError::new("malformed", format!("the body is not a protobuf message: {e}"))),
        Format::Json => {
            let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
            let mut v: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| TwirpError::new("malformed", format!("the body is not JSON: {e}")))?;
            snake_case_names(&mut v);
            serde_json::from_value(v)
                .map_err(|e| TwirpError::new("malformed", format!("the body is not valid JSON for this message: {e}")))
        }
    }
}

fn encode<T: Message + Serialize>(format: Format, v: &T) -> Vec<u8> {
    match format {
        Format::Protobuf => v.encode_to_vec(),
        Format::Json => serde_json::to_vec(v).unwrap_or_default(),
    }
}

fn dispatch(p: &mut Project, method: &str, f: Format, body: &[u8]) -> Result<Vec<u8>, TwirpError> {
    match method {
        "CreateSIPInboundTrunk" => p.create_inbound(decode(f, body)?).map(|v| encode(f, &v)),
        "UpdateSIPInboundTrunk" => p.update_inbound(decode(f, body)?).map(|v| encode(f, &v)),
        "GetSIPInboundTrunk" => p.get_inbound(decode(f, body)?).map(|v| encode(f, &v)),
        "ListSIPInboundTrunk" => Ok(encode(f, &p.list_inbound(decode(f, body)?))),
        "CreateSIPOutboundTrunk" => p.create_outbound(decode(f, body)?).map(|v| encode(f, &v)),
        "UpdateSIPOutboundTrunk" => p.update_outbound(decode(f, body)?).map(|v| encode(f, &v)),
        "GetSIPOutboundTrunk" => p.get_outbound(decode(f, body)?).map(|v| encode(f, &v)),
        "ListSIPOutboundTrunk" => Ok(encode(f, &p.list_outbound(decode(f, body)?))),
        "DeleteSIPTrunk" => p.delete_trunk(decode(f, body)?).map(|v| encode(f, &v)),
        "CreateSIPDispatchRule" => p.create_rule(decode(f, body)?).map(|v| encode(f, &v)),
        "UpdateSIPDispatchRule" => p.update_rule(decode(f, body)?).map(|v| encode(f, &v)),
        "ListSIPDispatchRule" => Ok(encode(f, &p.list_rules(decode(f, body)?))),
        "DeleteSIPDispatchRule" => p.delete_rule(decode(f, body)?).map(|v| encode(f, &v)),
        other => Err(TwirpError::new("bad_route", format!("no handler for livekit.SIP/{other}"))),
    }
}

/// Runs a LiveKit emulator on 127.0.0.1:`port` until ctrl-c; prints the URL, key and secret.
pub async fn run_standalone(
    port: u16,
    key: Option<String>,
    secret: Option<String>,
) -> Result<(), super::EmulatorError> {
    let mut cfg = LiveKitConfig { addr: Some(SocketAddr::from(([127, 0, 0, 1], port))), ..Default::default() };
    if let (Some(k), Some(s)) = (key, secret) {
        cfg = cfg.with_key(k, s);
    }
    let emu = LiveKitEmulator::start(cfg).await?;
    println!("LiveKit SIP emulator listening at {} (Twirp /twirp/livekit.SIP/<Method>)", emu.base_url());
    for (k, s) in emu.keys() {
        println!("LIVEKIT_URL={} LIVEKIT_API_KEY={k} LIVEKIT_API_SECRET={s}", emu.base_url());
    }
    println!("inspect: curl {}/_emulator/livekit", emu.base_url());
    let signal = tokio::signal::ctrl_c().await.map_err(super::EmulatorError::Signal);
    emu.shutdown().await;
    signal
}
