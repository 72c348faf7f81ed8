//! HTTP front: parses Kubernetes REST paths, dispatches verbs to the store, records calls, applies faults.

use super::calls::ApiCall;
use super::patch::PatchKind;
use super::registry::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{FieldValidation, WriteOpts};
use super::{Inner, discovery, events, openapi, proto, table, watch};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The axum app: every path goes through one handler.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

/// JSON response with a status code.
pub(crate) fn json_response(code: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

/// A parsed resource request.
struct Target {
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

type Q = HashMap<String, String>;

fn qbool(q: &Q, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    while inner.faults.is_partitioned(&agent) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let latency = inner.faults.latency_for(req.uri().path());
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let query: Q = Query::<Q>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let path = uri.path().trim_end_matches('/').to_string();
    let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("cannot read body: {e}"))),
    };
    let mut call = ApiCall {
        verb: String::new(),
        api_group: String::new(),
        resource: String::new(),
        subresource: None,
        namespace: None,
        name: None,
        path: path.clone(),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
        field_manager: query.get("fieldManager").cloned(),
        metadata_only: headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.split(',').next().unwrap_or_default().contains("as=PartialObjectMetadata")),
        status: 0,
    };
    let resp = route(&inner, &method, &path, &query, &headers, body, &mut call).await;
    call.status = resp.status().as_u16();
    inner.record(call);
    resp
}

async fn route(
    inner: &Arc<Inner>,
    method: &Method,
    path: &str,
    q: &Q,
    headers: &HeaderMap,
    body: Bytes,
    call: &mut ApiCall,
) -> Response {
    call.verb = match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "unknown",
    }
    .into();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return non_resource(inner, path, headers),
    };
    if rest.is_empty() {
        return non_resource(inner, path, headers);
    }
    let target = {
        let store = inner.lock_store();
        parse_target(&store.registry, group, version, rest)
    };
    let Some(t) = target else {
        return error_response(&ApiError::no_route(path));
    };
    call.api_group = t.rt.group.clone();
    call.resource = t.rt.plural.clone();
    call.subresource = t.sub.clone();
    call.namespace = t.namespace.clone();
    call.name = t.name.clone();
    if let Some(s) = &t.sub
        && !(s == "status" && t.rt.status_subresource)
    {
        return error_response(&ApiError::no_route(path));
    }
    if t.rt.namespaced && t.namespace.is_none() && t.name.is_some() {
        return error_response(&ApiError::no_route(path));
    }
    let wants_table = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().unwrap_or_default().contains("as=Table"));
    let wants_meta = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().unwrap_or_default().contains("as=PartialObjectMetadata"));
    let view = if wants_table {
        View::Table
    } else if wants_meta {
        View::Metadata
    } else {
        View::Object
    };
    match resource(inner, method, &t, q, headers, body, view, call).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn parse_target(reg: &super::registry::Registry, group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let s = |i: usize| rest.get(i).map(|x| x.to_string());
    if rest.len() >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize" {
        let rt = reg.get(group, version, rest[2])?;
        if !rt.namespaced || rest.len() > 5 {
            return None;
        }
        return Some(Target { rt, namespace: s(1), name: s(3), sub: s(4) });
    }
    if rest.len() > 3 {
        return None;
    }
    let rt = reg.get(group, version, rest[0])?;
    Some(Target { rt, namespace: None, name: s(1), sub: s(2) })
}

fn write_opts(q: &Q) -> WriteOpts {
    WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        field_validation: if q.get("fieldValidation").is_some_and(|v| v == "Strict") {
            FieldValidation::Strict
        } else {
            FieldValidation::Prune
        },
    }
}

/// The request body as JSON: JSON as is, protobuf for the few built-ins kubectl sends that way.
fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if ct.contains("protobuf") {
        return proto::decode(body);
    }
    if ct.contains("cbor") {
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct})"
        )));
    }
    parse_json(body)
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded: {e}")))
}

/// How objects are answered: whole, as a Table, or as PartialObjectMetadata (metadata only, as
/// the real server does for `Accept: ...;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Object,
    Table,
    Metadata,
}

fn partial_metadata(o: &Value) -> Value {
    serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    inner: &Arc<Inner>,
    method: &Method,
    t: &Target,
    q: &Q,
    headers: &HeaderMap,
    body: Bytes,
    view: View,
    call: &mut ApiCall,
) -> Result<Response, ApiError> {
    let wants_table = view == View::Table;
    let rt = &t.rt;
    let ns = t.namespace.as_deref();
    let opts = write_opts(q);
    let include = q.get("includeObject").cloned().unwrap_or_else(|| "Metadata".into());
    match (method.clone(), t.name.as_deref()) {
        (Method::GET, None) if qbool(q, "watch") => {
            call.verb = "watch".into();
            let render: Option<watch::Render> = if wants_table {
                let rt2 = rt.clone();
                let inc = include.clone();
                Some(Arc::new(move |o: &Value| {
                    table::table(&rt2, std::slice::from_ref(o), serde_json::json!({}), &inc)
                }))
            } else if view == View::Metadata {
                Some(Arc::new(partial_metadata))
            } else {
                None
            };
            let req = watch::WatchRequest {
                rt: rt.clone(),
                namespace: t.namespace.clone(),
                resource_version: q.get("resourceVersion").cloned(),
                labels: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or_default())?,
                fields: FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or_default())?,
                timeout: q
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse::<u64>().ok())
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs),
                bookmarks: qbool(q, "allowWatchBookmarks"),
                send_initial: qbool(q, "sendInitialEvents"),
                render,
            };
            let rx = watch::start(inner.clone(), req)?;
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
            Ok(r)
        }
        (Method::GET, None) => {
            call.verb = "list".into();
            let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or_default())?;
            let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or_default())?;
            let limit = q.get("limit").and_then(|s| s.parse::<usize>().ok());
            let list =
                inner.lock_store().list(rt, ns, &labels, &fields, limit, q.get("continue").map(String::as_str))?;
            if wants_table {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                return Ok(json_response(200, &table::table(rt, &items, list["metadata"].clone(), &include)));
            }
            if view == View::Metadata {
                let items: Vec<Value> = list["items"].as_array().into_iter().flatten().map(partial_metadata).collect();
                let out = serde_json::json!({
                    "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": list["metadata"].clone(), "items": items,
                });
                return Ok(json_response(200, &out));
            }
            Ok(json_response(200, &list))
        }
        (Method::GET | Method::HEAD, Some(name)) => {
            let store = inner.lock_store();
            let obj = store.get(rt, ns, name)?;
            let obj = store.for_version(&obj, rt);
            if wants_table {
                return Ok(json_response(200, &table::table(rt, &[obj], serde_json::json!({}), &include)));
            }
            if view == View::Metadata {
                return Ok(json_response(200, &partial_metadata(&obj)));
            }
            Ok(json_response(200, &obj))
        }
        (Method::POST, None) => {
            let obj = body_json(headers, &body)?;
            let obj = if events::is_events_v1(rt) { events::to_core(obj) } else { obj };
            let created = inner.lock_store().create(rt, ns, obj, &opts)?;
            Ok(json_response(201, &events::answer(created, rt)))
        }
        (Method::PUT, Some(name)) => {
            let obj = body_json(headers, &body)?;
            let obj = if events::is_events_v1(rt) { events::to_core(obj) } else { obj };
            if inner.faults.roll_conflict() {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again (injected by kubeemu faults)",
                ));
            }
            let updated = inner.lock_store().update(rt, ns, name, obj, t.sub.as_deref(), &opts)?;
            Ok(json_response(200, &events::answer(updated, rt)))
        }
        (Method::PATCH, Some(name)) => {
            let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let kind = PatchKind::from_content_type(ct)?;
            if inner.faults.roll_conflict() {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again (injected by kubeemu faults)",
                ));
            }
            if kind == PatchKind::Apply {
                let Some(manager) = q.get("fieldManager").filter(|m| !m.is_empty()) else {
                    return Err(ApiError::bad_request(
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    ));
                };
                let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("apply body is not UTF-8"))?;
                let config: Value = serde_yaml_ng::from_str(text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
                let config = if events::is_events_v1(rt) { events::to_core(config) } else { config };
                let out = inner.lock_store().apply(
                    rt,
                    ns,
                    name,
                    config,
                    manager,
                    qbool(q, "force"),
                    t.sub.as_deref(),
                    &opts,
                )?;
                return Ok(json_response(200, &events::answer(out, rt)));
            }
            let body = match kind {
                _ if !events::is_events_v1(rt) => body.to_vec(),
                PatchKind::Json => events::json_patch_to_core(&body)?,
                _ => events::merge_patch_to_core(&body)?,
            };
            let out = inner.lock_store().patch(rt, ns, name, kind, &body, t.sub.as_deref(), &opts)?;
            Ok(json_response(200, &events::answer(out, rt)))
        }
        (Method::DELETE, Some(name)) => {
            let delete_opts =
                if body.is_empty() { Value::Null } else { body_json(headers, &body).unwrap_or(Value::Null) };
            let opts = WriteOpts {
                dry_run: opts.dry_run || delete_opts["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
                ..opts
            };
            let out = inner.lock_store().delete(rt, ns, name, &delete_opts["preconditions"], &opts)?;
            Ok(json_response(200, &events::answer(out, rt)))
        }
        (Method::DELETE, None) => {
            call.verb = "deletecollection".into();
            let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or_default())?;
            let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or_default())?;
            let mut store = inner.lock_store();
            let list = store.list(rt, ns, &labels, &fields, None, None)?;
            let mut deleted = Vec::new();
            for item in list["items"].as_array().into_iter().flatten() {
                let (n, name) =
                    (item["metadata"]["namespace"].as_str(), item["metadata"]["name"].as_str().unwrap_or_default());
                deleted.push(store.delete(rt, n, name, &Value::Null, &opts)?);
            }
            let mut out = list;
            out["items"] = Value::Array(deleted);
            Ok(json_response(200, &out))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

fn non_resource(inner: &Arc<Inner>, path: &str, headers: &HeaderMap) -> Response {
    match path {
        "/healthz" | "/readyz" | "/livez" => (StatusCode::OK, "ok").into_response(),
        "/version" => json_response(200, &discovery::version()),
        p if p.starts_with("/openapi/") => {
            let store = inner.lock_store();
            match openapi::serve(&store.registry, p) {
                Some(v) => json_response(200, &v),
                None => error_response(&ApiError::no_route(p)),
            }
        }
        p => {
            let store = inner.lock_store();
            match discovery::serve(&store.registry, p, headers, inner.addr) {
                Some(r) => r,
                None => error_response(&ApiError::no_route(p)),
            }
        }
    }
}
