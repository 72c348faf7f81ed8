//! autocalls.ai / famulor routes (under `/api`): SIP-trunk CRUD, phone-number release, nickname and number list.

pub(crate) mod model;
mod validate;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Extension, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::state::{AccountName, Inner, Store, TrunkStats, sha256_hex};
use super::wire::{error, json_response, voice_trunk_id};
use super::{Behaviour, Flavor};
use model::{Changes, Number, Purchased, SipTrunk, TrunkType, View, find_sip_mut};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/api/user/phone-numbers/sip-trunks", get(list).post(create))
        .route("/api/user/phone-numbers/sip-trunks/{id}", get(show).put(update))
        .route("/api/user/phone-numbers/all", get(all_numbers))
        .route("/api/user/phone-numbers/{id}", put(set_nickname).delete(release))
}

const TRUNK_NOT_FOUND: &str = "SIP trunk not found.";
const NUMBER_NOT_FOUND: &str = "Phone number not found.";
const DUPLICATE: &str = "A SIP trunk with this phone number, SIP username and SIP address already exists.";

/// Whether `nickname` appears in a trunk rendered for `view`.
fn shows_nickname(flavor: Flavor, b: Behaviour, view: View) -> bool {
    match (flavor, view) {
        (Flavor::Famulor, View::List) => b.famulor_nickname_in_list,
        (Flavor::Famulor, View::Detail) => b.famulor_nickname_in_get,
        _ => true,
    }
}

fn render(inner: &Inner, t: &SipTrunk, view: View) -> Value {
    let with_nick = shows_nickname(inner.flavor, inner.behaviour(), view);
    serde_json::to_value(t.out(view, with_nick)).unwrap_or(Value::Null)
}

fn parse_id(raw: &str) -> Option<i64> {
    raw.parse().ok()
}

async fn list(State(inner): State<Arc<Inner>>, Extension(acct): Extension<AccountName>) -> Response {
    let store = inner.store();
    let data: Vec<Value> = store
        .accounts
        .get(&acct.0)
        .map(|a| a.numbers.values().filter_map(Number::as_sip).map(|t| render(&inner, t, View::List)).collect())
        .unwrap_or_default();
    json_response(StatusCode::OK, json!({ "data": data }))
}

async fn show(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
) -> Response {
    let store = inner.store();
    let trunk = store.accounts.get(&acct.0).and_then(|a| model::find_sip(a, &id));
    match trunk {
        Some(t) => json_response(StatusCode::OK, json!({ "data": render(&inner, t, View::Detail) })),
        None => error(inner.flavor, StatusCode::NOT_FOUND, TRUNK_NOT_FOUND),
    }
}

async fn create(State(inner): State<Arc<Inner>>, Extension(acct): Extension<AccountName>, body: Bytes) -> Response {
    let body = validate::body_object(&body);
    let req = match validate::create(&body, inner.flavor == Flavor::Autocalls) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let behaviour = inner.behaviour();
    let mut guard = inner.store();
    let store = &mut *guard;
    let duplicate = store.accounts.get(&acct.0).is_some_and(|a| {
        a.numbers
            .values()
            .filter_map(Number::as_sip)
            .any(|t| t.same_triple(&req.phone_number, &req.sip_username, &req.sip_address))
    });
    if duplicate {
        return error(inner.flavor, StatusCode::CONFLICT, DUPLICATE);
    }
    let id = store.next_id();
    let now = Utc::now();
    let country_code = match (req.trunk_type, behaviour.infer_country_from_number) {
        (TrunkType::Number, true) => {
            model::infer_country(&req.phone_number).map(str::to_owned).unwrap_or(req.country_code)
        }
        _ => req.country_code,
    };
    let trunk = SipTrunk {
        id,
        trunk_type: req.trunk_type,
        phone_number: req.phone_number,
        nickname: req.nickname,
        sip_username: req.sip_username,
        password_sha256: sha256_hex(&req.sip_password),
        sip_address: req.sip_address,
        sip_calling_format: req.sip_calling_format,
        inbound_authorization_type: req.inbound_authorization_type,
        allowed_inbound_ips: req.allowed_inbound_ips,
        outbound_proxy: req.outbound_proxy,
        country_code,
        inbound_trunk_id: voice_trunk_id(&mut store.rng),
        outbound_trunk_id: voice_trunk_id(&mut store.rng),
        created_at: now,
        updated_at: now,
        stats: TrunkStats::default(),
    };
    let data = render(&inner, &trunk, View::Detail);
    store.accounts.entry(acct.0).or_default().numbers.insert(id, Number::Sip(Box::new(trunk)));
    json_response(StatusCode::CREATED, json!({ "message": "SIP trunk created successfully.", "data": data }))
}

async fn update(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = validate::body_object(&body);
    let behaviour = inner.behaviour();
    let mut guard = inner.store();
    let store = &mut *guard;
    let Some(account) = store.accounts.get_mut(&acct.0) else {
        return error(inner.flavor, StatusCode::NOT_FOUND, TRUNK_NOT_FOUND);
    };
    let Some(current) = model::find_sip(account, &id) else {
        return error(inner.flavor, StatusCode::NOT_FOUND, TRUNK_NOT_FOUND);
    };
    let mut changes =
        match validate::update(&body, inner.flavor == Flavor::Autocalls, &current.inbound_authorization_type) {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
    let phone = changes.phone_number.as_deref().unwrap_or(&current.phone_number);
    let user = changes.sip_username.as_deref().unwrap_or(&current.sip_username);
    let address = changes.sip_address.as_deref().unwrap_or(&current.sip_address);
    let duplicate = account
        .numbers
        .values()
        .filter_map(Number::as_sip)
        .any(|t| t.id != current.id && t.same_triple(phone, user, address));
    if duplicate {
        return error(inner.flavor, StatusCode::CONFLICT, DUPLICATE);
    }
    if behaviour.infer_country_from_number
        && current.trunk_type == TrunkType::Number
        && let Some(c) = changes.phone_number.as_deref().and_then(model::infer_country)
    {
        changes.country_code = Some(c.to_owned());
    }
    let Some(trunk) = find_sip_mut(account, &id) else {
        return error(inner.flavor, StatusCode::NOT_FOUND, TRUNK_NOT_FOUND);
    };
    trunk.apply(changes, &mut store.rng, behaviour.reprovision_on_same_value, true, Utc::now());
    let data = render(&inner, trunk, View::Detail);
    json_response(StatusCode::OK, json!({ "message": "SIP trunk updated successfully.", "data": data }))
}

/// `DELETE /user/phone-numbers/{id}`: releases whatever number the id is, SIP trunk or purchased.
async fn release(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
) -> Response {
    let mut store = inner.store();
    let Some((account, id)) = store.accounts.get_mut(&acct.0).zip(parse_id(&id)) else {
        return error(inner.flavor, StatusCode::NOT_FOUND, NUMBER_NOT_FOUND);
    };
    match account.numbers.get_mut(&id) {
        None => error(inner.flavor, StatusCode::NOT_FOUND, NUMBER_NOT_FOUND),
        Some(Number::Sip(_)) => {
            account.numbers.remove(&id);
            json_response(StatusCode::OK, json!({ "message": "Phone number deleted successfully." }))
        }
        Some(Number::Purchased(p)) if p.release_scheduled => {
            error(inner.flavor, StatusCode::BAD_REQUEST, "Phone number is already scheduled for release.")
        }
        Some(Number::Purchased(p)) => {
            // The documented danger: the subscription of a purchased number is cancelled.
            p.release_scheduled = true;
            json_response(StatusCode::OK, json!({ "message": "Phone number deleted successfully." }))
        }
    }
}

/// `PUT /user/phone-numbers/{id}` with `{"nickname": ...}` on any owned number.
async fn set_nickname(
    State(inner): State<Arc<Inner>>,
    Extension(acct): Extension<AccountName>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = validate::body_object(&body);
    let mut store = inner.store();
    let Some(number) = store.accounts.get_mut(&acct.0).zip(parse_id(&id)).and_then(|(a, id)| a.numbers.get_mut(&id))
    else {
        return error(inner.flavor, StatusCode::NOT_FOUND, NUMBER_NOT_FOUND);
    };
    let mut errs = validate::Errors::default();
    let nickname = validate::nickname(&body, &mut errs);
    if !errs.is_empty() {
        return errs.into_response();
    }
    match nickname {
        Some(n) => number.set_nickname(n, Utc::now()),
        None => {
            errs.add("nickname", "The nickname field must be present.".into());
            return errs.into_response();
        }
    }
    json_response(
        StatusCode::OK,
        json!({ "message": "Phone number updated successfully.", "data": number.summary_json() }),
    )
}

async fn all_numbers(State(inner): State<Arc<Inner>>, Extension(acct): Extension<AccountName>) -> Response {
    let store = inner.store();
    let data: Vec<Value> = store
        .accounts
        .get(&acct.0)
        .map(|a| a.numbers.values().map(Number::all_item_json).collect())
        .unwrap_or_default();
    json_response(StatusCode::OK, json!({ "data": data }))
}

fn str_or<'a>(v: &'a Value, key: &str, default: &'a str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or(default)
}

/// Insert a trunk without validation (test helper); returns its id.
pub(crate) fn seed_trunk(store: &mut Store, account: &str, v: &Value) -> i64 {
    let id = store.next_id();
    let now = Utc::now();
    let phone = str_or(v, "phone_number", "1000").to_owned();
    let trunk_type = match v.get("sip_trunk_type").and_then(Value::as_str) {
        Some("number") => TrunkType::Number,
        Some(_) => TrunkType::Extension,
        None if phone.starts_with('+') => TrunkType::Number,
        None => TrunkType::Extension,
    };
    let auth = str_or(v, "inbound_authorization_type", "auth").to_owned();
    let ips = v
        .get("allowed_inbound_ips")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect());
    let trunk = SipTrunk {
        id,
        trunk_type,
        phone_number: phone,
        nickname: v.get("nickname").and_then(Value::as_str).map(str::to_owned),
        sip_username: str_or(v, "sip_username", "seeded_user").to_owned(),
        password_sha256: sha256_hex(str_or(v, "sip_password", "seeded-password")),
        sip_address: str_or(v, "sip_address", "sip.example.net").to_owned(),
        sip_calling_format: str_or(v, "sip_calling_format", "+e164").to_owned(),
        allowed_inbound_ips: if auth == "ip" { ips } else { None },
        inbound_authorization_type: auth,
        outbound_proxy: v.get("outbound_proxy").and_then(Value::as_bool).unwrap_or(false),
        country_code: str_or(v, "country_code", "US").to_owned(),
        inbound_trunk_id: voice_trunk_id(&mut store.rng),
        outbound_trunk_id: voice_trunk_id(&mut store.rng),
        created_at: now,
        updated_at: now,
        stats: TrunkStats::default(),
    };
    store.accounts.entry(account.to_owned()).or_default().numbers.insert(id, Number::Sip(Box::new(trunk)));
    id
}

pub(crate) fn seed_purchased(store: &mut Store, account: &str, number: &str) -> i64 {
    let id = store.next_id();
    let p = Purchased {
        id,
        phone_number: number.to_owned(),
        nickname: None,
        country_code: model::infer_country(number).unwrap_or("US").to_owned(),
        created_at: Utc::now(),
        release_scheduled: false,
    };
    store.accounts.entry(account.to_owned()).or_default().numbers.insert(id, Number::Purchased(p));
    id
}

/// A dashboard edit: no validation, re-provisions like an API update, not counted in stats.
pub(crate) fn edit_trunk(store: &mut Store, account: &str, id: &str, patch: &Value) {
    let s = |k: &str| patch.get(k).and_then(Value::as_str).map(str::to_owned);
    let changes = Changes {
        phone_number: s("phone_number"),
        nickname: patch.get("nickname").map(|v| v.as_str().map(str::to_owned)),
        sip_username: s("sip_username"),
        sip_password: s("sip_password"),
        sip_address: s("sip_address"),
        sip_calling_format: s("sip_calling_format"),
        inbound_authorization_type: s("inbound_authorization_type"),
        allowed_inbound_ips: patch
            .get("allowed_inbound_ips")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        country_code: s("country_code"),
        outbound_proxy: patch.get("outbound_proxy").and_then(Value::as_bool),
    };
    let Store { rng, accounts, .. } = store;
    if let Some(t) = accounts.get_mut(account).and_then(|a| find_sip_mut(a, id)) {
        t.apply(changes, rng, false, false, Utc::now());
    }
}
