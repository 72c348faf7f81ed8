//! Read-only inspection routes for humans (`/_emulator/trunks`, `/_emulator/calls`); passwords appear only as sha256 hex.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::state::Inner;
use super::wire::json_response;

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new().route("/_emulator/trunks", get(trunks)).route("/_emulator/calls", get(calls))
}

async fn trunks(State(inner): State<Arc<Inner>>) -> Response {
    json_response(StatusCode::OK, json!({ "flavor": inner.flavor.as_str(), "accounts": inner.all_trunks_json() }))
}

async fn calls(State(inner): State<Arc<Inner>>) -> Response {
    json_response(StatusCode::OK, inner.calls_snapshot().to_json())
}
