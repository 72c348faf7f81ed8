//! bolna.ai routes (at the root): trunk CRUD under `/sip-trunks/trunks` and the DID sub-resource.

pub(crate) mod model;

use std::sync::Arc;

use axum::Router;
use serde_json::Value;

use super::state::{Inner, Store};

pub(crate) fn routes() -> Router<Arc<Inner>> {
    Router::new()
}

pub(crate) fn seed_trunk(_store: &mut Store, _account: &str, _v: &Value) -> String {
    String::new()
}

pub(crate) fn edit_trunk(_store: &mut Store, _account: &str, _id: &str, _patch: &Value) {}
