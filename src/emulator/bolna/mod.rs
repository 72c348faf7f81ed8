//! bolna.ai routes (at the root): trunk CRUD under `/sip-trunks/trunks` and the DID sub-resource.

pub(crate) mod model;
mod validate;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::Flavor;
use super::state::{Account, AccountName, Inner, Store, TrunkStats, sha256_hex};
use super::wire::{self, json_response, ulid_like};
use model::{PhoneNumber, Trunk};
use validate::{Bad, Common, NewNumber};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/sip-trunks/trunks", get(list).post(create))
        .route("/sip-trunks/trunks/{trunk_id}", get(show).patch(update).delete(remove))
        .route("/sip-trunks/trunks/{trunk_id}/numbers", get(list_numbers).post(add_number))
        .route("/sip-trunks/trunks/{trunk_id}/numbers/{phone_number_id}", delete(remove_number))
}

/// A refused request: status and message of a bolna Error body.
#[derive(Debug)]
struct Reject(StatusCode, String);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        wire::error(Flavor::Bolna, self.0, &self.1)
    }
}

impl From<Bad> for Reject {
    fn from(b: Bad) -> Self {
        Reject(StatusCode::BAD_REQUEST, b.0)
    }
}

type Answer = Result<Response, Reject>;

fn trunk_not_found() -> Reject {
    Reject(StatusCode::NOT_FOUND, "Trunk not found".into())
}

fn name_taken(name: &str) -> Reject {
    Reject(StatusCode::CONFLICT, format!("A trunk named '{name}' already exists"))
}

/// Why `number` cannot be added to trunk `target`: it is active on this trunk or on another active one.
/// `status` is 409, or 422 in `bolna_did_conflict_422` mode (the guide says "409 / 422").
fn number_conflict(acct: &Account, target: Option<&str>, number: &str, status: StatusCode) -> Option<Reject> {
    let clash = acct
        .bolna
        .iter()
        .filter(|t| t.has_active_number(number))
        .find(|t| Some(t.id.as_str()) == target || t.is_active)?;
    let place = if Some(clash.id.as_str()) == target { "this trunk" } else { "another active trunk" };
    Some(Reject(status, format!("Phone number '{number}' is already registered on {place}")))
}

fn new_phone_number(rng: &mut impl Rng, trunk_id: &str, n: NewNumber, now: DateTime<Utc>) -> PhoneNumber {
    PhoneNumber {
        id: ulid_like(rng, now),
        phone_number: n.phone_number,
        name: n.name,
        byot_trunk_id: trunk_id.to_owned(),
        telephony_provider: "sip-trunk",
        deleted: false,
        created_at: now,
        updated_at: now,
    }
}

async fn list(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let filter = match q.get("is_active").map(|v| v.to_ascii_lowercase()) {
        None => None,
        Some(v) if matches!(v.as_str(), "true" | "1") => Some(true),
        Some(v) if matches!(v.as_str(), "false" | "0") => Some(false),
        Some(_) => return Err(Bad("is_active must be a boolean".into()).into()),
    };
    let store = inner.store();
    let trunks: Vec<Value> = store
        .accounts
        .get(&acct.0)
        .map(|a| {
            a.bolna.iter().filter(|t| filter.is_none_or(|f| t.is_active == f)).map(|t| partial(&inner, t)).collect()
        })
        .unwrap_or_default();
    Ok(json_response(StatusCode::OK, Value::Array(trunks)))
}

/// The status of a refused DID: 409, or 422 in `bolna_did_conflict_422` mode.
fn did_conflict_status(inner: &Inner) -> StatusCode {
    if inner.behaviour().bolna_did_conflict_422 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::CONFLICT }
}

/// Fields a list item or PATCH response leaves out in `bolna_hide_unreliable_fields` mode.
const UNRELIABLE: [&str; 4] = ["media_encryption", "media_encryption_optimistic", "transport", "auth_type"];

/// Fields of the newer schema the list reference page does not show.
const NOT_IN_BRIEF_LIST: [&str; 2] = ["media_encryption", "media_encryption_optimistic"];

/// A trunk as a list item shows it.
fn partial(inner: &Inner, t: &Trunk) -> Value {
    let mut v = t.to_json();
    hide_unreliable(inner, &mut v);
    if inner.behaviour().bolna_list_as_brief
        && let Some(o) = v.as_object_mut()
    {
        for k in NOT_IN_BRIEF_LIST {
            o.remove(k);
        }
    }
    v
}

/// Removes the unreliably shown fields from a list item or PATCH response, in that mode.
fn hide_unreliable(inner: &Inner, v: &mut Value) {
    if inner.behaviour().bolna_hide_unreliable_fields
        && let Some(o) = v.as_object_mut()
    {
        for k in UNRELIABLE {
            o.remove(k);
        }
    }
}

async fn show(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
) -> Answer {
    let store = inner.store();
    let trunk = store.accounts.get(&acct.0).and_then(|a| model::find(a, &id)).ok_or_else(trunk_not_found)?;
    Ok(json_response(StatusCode::OK, trunk.to_json()))
}

fn build(rng: &mut impl Rng, c: validate::Create, now: DateTime<Utc>) -> Trunk {
    let id = ulid_like(rng, now);
    let Common {
        description,
        auth_username,
        auth_password,
        ip_identifiers,
        allow,
        disallow,
        transport,
        direct_media,
        rtp_symmetric,
        force_rport,
        ice_support,
        media_encryption,
        media_encryption_optimistic,
        qualify_frequency,
        inbound_enabled,
        outbound_leading_plus_enabled,
        is_active,
        gateways: _,
    } = c.common;
    let userpass = c.auth_type == "userpass";
    let phone_numbers = c.phone_numbers.into_iter().map(|n| new_phone_number(rng, &id, n, now)).collect();
    Trunk {
        id,
        name: c.name,
        provider: c.provider,
        description: description.flatten(),
        auth_username: auth_username.filter(|_| userpass),
        auth_password_sha256: auth_password.filter(|_| userpass).as_deref().map(sha256_hex),
        auth_type: c.auth_type,
        gateways: c.gateways,
        ip_identifiers: ip_identifiers.unwrap_or_default(),
        phone_numbers,
        allow: allow.unwrap_or_else(|| "ulaw,alaw".into()),
        disallow: disallow.unwrap_or_else(|| "all".into()),
        transport: transport.unwrap_or_else(|| "transport-udp".into()),
        direct_media: direct_media.unwrap_or(false),
        rtp_symmetric: rtp_symmetric.unwrap_or(true),
        force_rport: force_rport.unwrap_or(true),
        ice_support: ice_support.unwrap_or(true),
        media_encryption: media_encryption.unwrap_or_else(|| "no".into()),
        media_encryption_optimistic: media_encryption_optimistic.unwrap_or(false),
        qualify_frequency: qualify_frequency.unwrap_or(60),
        inbound_enabled: inbound_enabled.unwrap_or(false),
        outbound_leading_plus_enabled: outbound_leading_plus_enabled.unwrap_or(true),
        is_active: is_active.unwrap_or(true),
        created_at: now,
        updated_at: now,
        stats: TrunkStats::default(),
    }
}

/// Validate and store a new trunk, or say why not.
fn insert_new(
    store: &mut Store,
    account: &str,
    body: &serde_json::Map<String, Value>,
    did_status: StatusCode,
) -> Result<Trunk, Reject> {
    let c = validate::create(body)?;
    let acct = store.accounts.entry(account.to_owned()).or_default();
    if acct.bolna.iter().any(|t| t.name == c.name) {
        return Err(name_taken(&c.name));
    }
    for (i, n) in c.phone_numbers.iter().enumerate() {
        let repeated = c.phone_numbers[..i].iter().any(|m| m.phone_number == n.phone_number);
        if let Some(resp) = number_conflict(acct, None, &n.phone_number, did_status) {
            return Err(resp);
        }
        if repeated {
            return Err(Reject(StatusCode::CONFLICT, format!("Phone number '{}' is listed twice", n.phone_number)));
        }
    }
    let trunk = build(&mut store.rng, c, Utc::now());
    store.accounts.entry(account.to_owned()).or_default().bolna.push(trunk.clone());
    Ok(trunk)
}

async fn create(State(inner): State<Arc<Inner>>, Extension(acct): Extension<AccountName>, body: Bytes) -> Answer {
    let mut body = validate::body_object(&body)?;
    if inner.behaviour().bolna_create_ignores_is_active {
        body.remove("is_active");
    }
    let trunk = insert_new(&mut inner.store(), &acct.0, &body, did_conflict_status(&inner))?;
    Ok(json_response(StatusCode::CREATED, trunk.to_json()))
}

/// Apply a validated patch to `trunk`; `count` records it in the trunk's stats.
fn apply_patch(trunk: &mut Trunk, p: validate::Patch, count: bool) -> Result<(), Bad> {
    let c = p.common;
    validate::check_encryption(
        c.media_encryption.as_deref().unwrap_or(&trunk.media_encryption),
        c.transport.as_deref().unwrap_or(&trunk.transport),
    )?;
    if matches!(&c.gateways, Some(g) if g.is_empty()) {
        return Err(Bad("At least one gateway is required".into()));
    }
    if trunk.auth_type == "ip-based" && matches!(&c.ip_identifiers, Some(i) if i.is_empty()) {
        return Err(Bad("At least one IP identifier is required for ip-based authentication".into()));
    }
    let userpass = trunk.auth_type == "userpass";
    if count {
        trunk.stats.updates += 1;
        trunk.stats.password_writes += u32::from(c.auth_password.is_some());
    }
    fn set<T>(slot: &mut T, v: Option<T>) {
        if let Some(v) = v {
            *slot = v;
        }
    }
    set(&mut trunk.name, p.name);
    set(&mut trunk.description, c.description);
    // Username and password take effect only on userpass trunks.
    if userpass {
        set(&mut trunk.auth_username, c.auth_username.map(Some));
        set(&mut trunk.auth_password_sha256, c.auth_password.as_deref().map(|p| Some(sha256_hex(p))));
    }
    // Lists are replaced wholesale.
    set(&mut trunk.gateways, c.gateways);
    set(&mut trunk.ip_identifiers, c.ip_identifiers);
    set(&mut trunk.allow, c.allow);
    set(&mut trunk.disallow, c.disallow);
    set(&mut trunk.transport, c.transport);
    set(&mut trunk.direct_media, c.direct_media);
    set(&mut trunk.rtp_symmetric, c.rtp_symmetric);
    set(&mut trunk.force_rport, c.force_rport);
    set(&mut trunk.ice_support, c.ice_support);
    set(&mut trunk.media_encryption, c.media_encryption);
    set(&mut trunk.media_encryption_optimistic, c.media_encryption_optimistic);
    set(&mut trunk.qualify_frequency, c.qualify_frequency);
    set(&mut trunk.inbound_enabled, c.inbound_enabled);
    set(&mut trunk.outbound_leading_plus_enabled, c.outbound_leading_plus_enabled);
    set(&mut trunk.is_active, c.is_active);
    trunk.updated_at = Utc::now();
    Ok(())
}

/// Validate and apply a PATCH body to trunk `id` of `account`.
fn patch_trunk(
    store: &mut Store,
    account: &str,
    id: &str,
    body: &serde_json::Map<String, Value>,
    count: bool,
) -> Result<Value, Reject> {
    let acct = store.accounts.get_mut(account).ok_or_else(trunk_not_found)?;
    if !acct.bolna.iter().any(|t| t.id == id) {
        return Err(trunk_not_found());
    }
    let p = validate::patch(body)?;
    if let Some(name) = &p.name
        && acct.bolna.iter().any(|t| &t.name == name && t.id != id)
    {
        return Err(name_taken(name));
    }
    let trunk = acct.bolna.iter_mut().find(|t| t.id == id).ok_or_else(trunk_not_found)?;
    apply_patch(trunk, p, count)?;
    Ok(trunk.to_json())
}

async fn update(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let body = validate::body_object(&body)?;
    let mut trunk = patch_trunk(&mut inner.store(), &acct.0, &id, &body, true)?;
    hide_unreliable(&inner, &mut trunk);
    Ok(json_response(StatusCode::OK, trunk))
}

async fn remove(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
) -> Answer {
    let mut store = inner.store();
    let acct = store.accounts.get_mut(&acct.0).ok_or_else(trunk_not_found)?;
    let pos = acct.bolna.iter().position(|t| t.id == id).ok_or_else(trunk_not_found)?;
    let n = acct.bolna.remove(pos).active_numbers();
    let message = format!("Trunk deleted successfully. {n} phone number(s) removed.");
    Ok(json_response(StatusCode::OK, json!({ "message": message })))
}

async fn list_numbers(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
) -> Answer {
    let store = inner.store();
    let trunk = store.accounts.get(&acct.0).and_then(|a| model::find(a, &id)).ok_or_else(trunk_not_found)?;
    Ok(json_response(StatusCode::OK, serde_json::to_value(&trunk.phone_numbers).unwrap_or(Value::Null)))
}

async fn add_number(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let mut guard = inner.store();
    let store = &mut *guard;
    let account =
        store.accounts.get_mut(&acct.0).filter(|a| model::find(a, &id).is_some()).ok_or_else(trunk_not_found)?;
    let n = validate::body_object(&body).and_then(|b| validate::new_number(&b))?;
    if let Some(reject) = number_conflict(account, Some(&id), &n.phone_number, did_conflict_status(&inner)) {
        return Err(reject);
    }
    let trunk = account.bolna.iter_mut().find(|t| t.id == id).ok_or_else(trunk_not_found)?;
    let now = Utc::now();
    let pn = new_phone_number(&mut store.rng, &id, n, now);
    let out = serde_json::to_value(&pn).unwrap_or(Value::Null);
    trunk.phone_numbers.push(pn);
    trunk.updated_at = now;
    Ok(json_response(StatusCode::CREATED, out))
}

/// Soft delete: the number stays on the trunk with `deleted: true`.
async fn remove_number(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path((id, pn_id)): Path<(String, String)>,
) -> Answer {
    let mut store = inner.store();
    let trunk = store
        .accounts
        .get_mut(&acct.0)
        .and_then(|a| a.bolna.iter_mut().find(|t| t.id == id))
        .ok_or_else(trunk_not_found)?;
    let pn = trunk
        .phone_numbers
        .iter_mut()
        .find(|p| p.id == pn_id && !p.deleted)
        .ok_or_else(|| Reject(StatusCode::NOT_FOUND, "Phone number not found".into()))?;
    let now = Utc::now();
    pn.deleted = true;
    pn.updated_at = now;
    trunk.updated_at = now;
    Ok(json_response(StatusCode::OK, json!({ "message": "Phone number removed successfully" })))
}

/// Insert a trunk for tests: missing required fields get defaults, then the create rules apply.
/// Returns the id, or an empty string (with a warning) when the merged trunk is still invalid.
pub(crate) fn seed_trunk(store: &mut Store, account: &str, v: &Value) -> String {
    let mut body = v.as_object().cloned().unwrap_or_default();
    let n = store.accounts.get(account).map_or(0, |a| a.bolna.len()) + 1;
    let defaults = [
        ("name", json!(format!("seeded-trunk-{n}"))),
        ("provider", json!("custom")),
        ("auth_type", json!("userpass")),
        ("gateways", json!([{ "gateway_address": "sip.example.net", "port": 5060, "priority": 1 }])),
    ];
    for (k, d) in defaults {
        body.entry(k).or_insert(d);
    }
    if body.get("auth_type").and_then(Value::as_str) == Some("userpass") {
        body.entry("auth_username").or_insert(json!("seeded_user"));
        body.entry("auth_password").or_insert(json!("seeded-password"));
    } else {
        body.entry("ip_identifiers").or_insert(json!([{ "ip_address": "203.0.113.1" }]));
    }
    match insert_new(store, account, &body, StatusCode::CONFLICT) {
        Ok(t) => t.id,
        Err(Reject(status, msg)) => {
            tracing::warn!(%status, %msg, "emulator: seeded bolna trunk rejected");
            String::new()
        }
    }
}

/// A dashboard edit: the PATCH rules apply, but it is not counted in stats.
pub(crate) fn edit_trunk(store: &mut Store, account: &str, id: &str, patch: &Value) {
    let body = patch.as_object().cloned().unwrap_or_default();
    if let Err(Reject(status, msg)) = patch_trunk(store, account, id, &body, false) {
        tracing::warn!(%status, %msg, "emulator: dashboard edit of bolna trunk rejected");
    }
}
