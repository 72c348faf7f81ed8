//! Per-request pipeline around every provider route: auth, rate limit, faults, latency and call counting.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::calls::CallCounts;
use super::faults::{Action, Hostile, Plan};
use super::net::ConnKill;
use super::ratelimit::{self, Verdict};
use super::state::{AccountName, Inner};
use super::{Flavor, wire};

/// The documented route template: the matched path without the `/api` prefix of autocalls/famulor.
fn route_template(flavor: Flavor, matched: &str) -> String {
    match flavor {
        Flavor::Autocalls | Flavor::Famulor => matched.strip_prefix("/api").unwrap_or(matched).to_owned(),
        Flavor::Bolna => matched.to_owned(),
    }
}

/// The bearer token, or `Err(header_missing)`.
fn bearer(headers: &HeaderMap) -> Result<&str, bool> {
    let value = headers.get(header::AUTHORIZATION).ok_or(true)?;
    let value = value.to_str().map_err(|_| false)?;
    let (scheme, token) = value.split_once(' ').ok_or(false)?;
    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() { Ok(token.trim()) } else { Err(false) }
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"))
}

pub(crate) async fn pipeline(State(inner): State<Arc<Inner>>, mut req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let route = route_template(inner.flavor, &matched);
    let endpoint = format!("{method} {route}");
    let wants_json = accepts_json(req.headers());
    let kill = req.extensions().get::<ConnectInfo<ConnKill>>().map(|c| c.0.clone());

    let account = match bearer(req.headers()) {
        Ok(token) => inner.authenticate(token).ok_or(false),
        Err(missing) => Err(missing),
    };
    let (mut resp, dropped) = match account {
        Err(header_missing) => (wire::unauthorized(inner.flavor, header_missing), false),
        Ok(account) => {
            req.extensions_mut().insert(AccountName(account.clone()));
            authenticated(&inner, &account, &endpoint, req, next).await
        }
    };
    if inner.flavor.is_autocalls_family() && inner.behaviour().redirect_without_accept_json && !wants_json {
        resp = laravel_redirect(resp);
    }
    if dropped {
        match kill {
            Some(k) => k.kill(),
            // Without a killable connection (e.g. the router driven in-process), fail the body instead.
            None => resp = failing_body(),
        }
    }
    inner.record_call(&method, &route, if dropped { CallCounts::DROPPED } else { resp.status().as_u16() });
    resp
}

/// Rate limit, faults, the handler itself, latency. Returns the response and whether to drop it.
async fn authenticated(inner: &Inner, account: &str, endpoint: &str, req: Request, next: Next) -> (Response, bool) {
    let verdict = inner.limiter.check(account);
    // A throttled call never reaches the fault rules, so counted faults are not used up by it.
    let plan = match verdict {
        Verdict::Limited { .. } => Plan::default(),
        _ => inner.faults.plan(endpoint),
    };
    let delay = inner.latency + plan.delay;
    let (mut resp, dropped) = match (&verdict, plan.action) {
        (Verdict::Limited { retry_after, retry_after_header, .. }, _) => {
            (wire::rate_limited(inner.flavor, *retry_after, *retry_after_header), false)
        }
        (_, Some(Action::Status { status, after_commit: false })) => (injected(inner, endpoint, status), false),
        (_, Some(Action::Throttle { retry_after, header })) => {
            (wire::rate_limited(inner.flavor, retry_after, header), false)
        }
        (_, Some(Action::Hostile(Hostile::Html { status }))) => (html_page(status), false),
        (_, Some(Action::BlackHole)) => std::future::pending().await,
        (_, Some(Action::Hostile(Hostile::EchoRequest { status }))) => (echo(inner.flavor, status, req).await, false),
        (_, action) => {
            let resp = next.run(req).await;
            match action {
                Some(Action::Status { status, after_commit: true }) => (injected(inner, endpoint, status), false),
                Some(Action::Drop) => (resp, true),
                Some(Action::Hostile(kind)) => (mangle(resp, kind).await, false),
                _ => (resp, false),
            }
        }
    };
    match verdict {
        Verdict::Allowed(h) | Verdict::Limited { headers: h, .. } => add_rate_headers(&mut resp, h),
        Verdict::Off => {}
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (resp, dropped)
}

fn injected(inner: &Inner, endpoint: &str, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    wire::injected(inner.flavor, endpoint, status)
}

/// A validation error that quotes the request back: the Authorization header in the message, and
/// every string field of the JSON body in a per-field error (Laravel `errors` for autocalls/famulor,
/// FastAPI `detail` for bolna), as a careless provider might.
async fn echo(flavor: Flavor, status: u16, req: Request) -> Response {
    let auth = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<(String, String)> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
    let message = format!("invalid request (Authorization: {auth})");
    let body = match flavor {
        Flavor::Autocalls | Flavor::Famulor => {
            let errors: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!([format!("The value {v} is invalid.")])))
                .collect();
            serde_json::json!({"message": message, "errors": errors})
        }
        Flavor::Bolna => {
            let mut detail: Vec<Value> = fields
                .iter()
                .map(|(k, v)| serde_json::json!({"loc": ["body", k], "msg": format!("bad value {v}"), "type": "value_error"}))
                .collect();
            detail.push(serde_json::json!({"loc": ["header", "authorization"], "msg": message, "type": "value_error"}));
            serde_json::json!({"detail": detail})
        }
    };
    wire::json_response(status, body)
}

fn add_rate_headers(resp: &mut Response, h: ratelimit::Headers) {
    let headers = resp.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(h.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(h.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(h.reset));
}

fn html_page(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

/// A Laravel backend answering a non-JSON client: 401 → redirect to login, 422 → redirect back.
fn laravel_redirect(resp: Response) -> Response {
    let target = match resp.status() {
        StatusCode::UNAUTHORIZED => "/login",
        StatusCode::UNPROCESSABLE_ENTITY => "/",
        _ => return resp,
    };
    let body = format!(
        "<!DOCTYPE html>\n<html>\n<head><meta http-equiv=\"refresh\" content=\"0;url='{target}'\" /><title>Redirecting to {target}</title></head>\n<body>Redirecting to <a href=\"{target}\">{target}</a>.</body>\n</html>"
    );
    (StatusCode::FOUND, [(header::LOCATION, target), (header::CONTENT_TYPE, "text/html; charset=UTF-8")], body)
        .into_response()
}

fn failing_body() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped"))
    });
    Response::new(Body::from_stream(stream))
}

fn stringify(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Bool(b) => *v = Value::String(b.to_string()),
        Value::Array(items) => items.iter_mut().for_each(stringify),
        Value::Object(map) => map.values_mut().for_each(stringify),
        Value::Null | Value::String(_) => {}
    }
}

/// Rewrite a processed response into a hostile one.
async fn mangle(resp: Response, kind: Hostile) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let out: Vec<u8> = match kind {
        Hostile::TruncatedJson => bytes[..bytes.len() / 2].to_vec(),
        Hostile::WrongTypes => match serde_json::from_slice::<Value>(&bytes) {
            Ok(mut v) => {
                stringify(&mut v);
                serde_json::to_vec(&v).unwrap_or_default()
            }
            Err(_) => bytes.to_vec(),
        },
        Hostile::EmptyBody => Vec::new(),
        Hostile::NullField { field, nth } => match serde_json::from_slice::<Value>(&bytes) {
            Ok(mut v) => {
                let list = if v.get("data").is_some_and(Value::is_array) { &mut v["data"] } else { &mut v };
                if let Some(item) = list.as_array_mut().and_then(|a| a.get_mut(nth)).and_then(Value::as_object_mut) {
                    item.insert(field.to_owned(), Value::Null);
                }
                serde_json::to_vec(&v).unwrap_or_default()
            }
            Err(_) => bytes.to_vec(),
        },
        Hostile::HugeList { bytes: size } => {
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from_stream(huge_list(bytes, size)));
        }
        Hostile::Html { .. } | Hostile::EchoRequest { .. } => bytes.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

/// The items of a real list response followed by `{"id": n}` items until about `size` bytes, in
/// 64 KiB chunks generated on demand.
fn huge_list(real: Bytes, size: usize) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    use futures::StreamExt as _;
    let v: Value = serde_json::from_slice(&real).unwrap_or(Value::Array(vec![]));
    let envelope = v.get("data").is_some_and(Value::is_array);
    let items = if envelope { v["data"].clone() } else { v };
    let mut head = if envelope { b"{\"data\":[".to_vec() } else { b"[".to_vec() };
    let listed =
        items.as_array().map(|a| a.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")).unwrap_or_default();
    head.extend_from_slice(listed.as_bytes());
    let tail: &'static [u8] = if envelope { b"],\"next_page_url\":null}" } else { b"]" };
    let first = !listed.is_empty();
    let state = (0usize, head.len(), 9_000_000u64, first);
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) });
    let body = futures::stream::unfold(state, move |(sent, base, id, first)| async move {
        if base + sent >= size {
            return None;
        }
        let mut chunk = Vec::with_capacity(64 * 1024 + 64);
        let (mut id, mut first) = (id, first);
        while chunk.len() < 64 * 1024 && base + sent + chunk.len() < size {
            if first {
                chunk.push(b',');
            }
            first = true;
            chunk.extend_from_slice(format!("{{\"id\":{id}}}").as_bytes());
            id += 1;
        }
        let n = chunk.len();
        Some((Ok(Bytes::from(chunk)), (sent + n, base, id, first)))
    });
    head.chain(body).chain(futures::stream::once(async move { Ok(Bytes::from_static(tail)) }))
}

/// Unknown paths: counted as `<unmatched>`, answered 404 in the flavor's error shape.
pub(crate) async fn fallback(State(inner): State<Arc<Inner>>, method: Method, uri: Uri) -> Response {
    let is_inspect = uri.path().starts_with("/_emulator");
    if !is_inspect {
        inner.record_call(method.as_str(), "<unmatched>", 404);
    }
    wire::error(inner.flavor, StatusCode::NOT_FOUND, "Not found.")
}
