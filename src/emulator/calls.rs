//! Call counts by (method, route template, status), as returned by `ProviderEmulator::calls`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// One counted bucket. `route` is the documented path template relative to the API base
/// (`/user/phone-numbers/sip-trunks/{id}`, `/sip-trunks/trunks/{trunk_id}`); unknown paths count as `<unmatched>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallKey {
    pub method: String,
    pub route: String,
    /// The HTTP status sent, or [`CallCounts::DROPPED`] when the connection was dropped instead.
    pub status: u16,
}

/// A snapshot of the emulator's call counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub by_key: BTreeMap<CallKey, u64>,
}

impl CallCounts {
    /// Status recorded for "committed, then dropped the connection" responses.
    pub const DROPPED: u16 = 0;

    pub(crate) fn record(&mut self, method: &str, route: &str, status: u16) {
        let key = CallKey { method: method.to_owned(), route: route.to_owned(), status };
        *self.by_key.entry(key).or_insert(0) += 1;
    }

    fn matching<'a>(&'a self, endpoint: &'a str) -> impl Iterator<Item = (&'a CallKey, &'a u64)> + 'a {
        let (method, route) = endpoint.split_once(' ').unwrap_or(("", endpoint));
        self.by_key.iter().filter(move |(k, _)| k.method == method && k.route == route)
    }

    /// Calls to `endpoint` ("GET /user/phone-numbers/sip-trunks") with any status.
    pub fn endpoint(&self, endpoint: &str) -> u64 {
        self.matching(endpoint).map(|(_, n)| n).sum()
    }

    /// Calls to `endpoint` answered with `status`.
    pub fn get(&self, endpoint: &str, status: u16) -> u64 {
        self.matching(endpoint).filter(|(k, _)| k.status == status).map(|(_, n)| n).sum()
    }

    /// Calls answered with `status`, any endpoint.
    pub fn status(&self, status: u16) -> u64 {
        self.by_key.iter().filter(|(k, _)| k.status == status).map(|(_, n)| n).sum()
    }

    /// Calls with this method, any route and status (e.g. all writes: POST + PUT + PATCH + DELETE).
    pub fn method(&self, method: &str) -> u64 {
        self.by_key.iter().filter(|(k, _)| k.method == method).map(|(_, n)| n).sum()
    }

    pub fn total(&self) -> u64 {
        self.by_key.values().sum()
    }

    pub fn to_json(&self) -> Value {
        let calls: Vec<Value> = self
            .by_key
            .iter()
            .map(|(k, n)| json!({ "method": k.method, "route": k.route, "status": k.status, "count": n }))
            .collect();
        json!({ "total": self.total(), "calls": calls })
    }
}
