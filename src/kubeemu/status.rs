//! API errors rendered as `meta/v1 Status` objects, the way a real API server reports them.

use serde_json::{Value, json};

/// One `details.causes[]` entry of a Status (shared with the product's admission checks).
pub use crate::crd::admission::Cause;

/// An error answer: HTTP code plus the Status fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Status `reason` (NotFound, AlreadyExists, Conflict, Invalid, Expired, BadRequest, ...).
    pub reason: &'static str,
    /// Status `message`.
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`.
    pub details: Option<Box<(String, String, String)>>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None, causes: Vec::new() }
    }
    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    /// 404 NotFound for `resource.group "name"`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let gr = group_resource(group, plural);
        Self::new(404, "NotFound", format!("{gr} \"{name}\" not found")).with_details(name, group, plural)
    }
    /// 404 for a path that does not name any resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(404, "NotFound", format!("the server could not find the requested resource ({path})"))
    }
    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let gr = group_resource(group, plural);
        Self::new(409, "AlreadyExists", format!("{gr} \"{name}\" already exists")).with_details(name, group, plural)
    }
    /// 409 Conflict (stale resourceVersion, failed precondition, apply conflict).
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        let gr = group_resource(group, plural);
        Self::new(409, "Conflict", format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"))
            .with_details(name, group, plural)
    }
    /// 410 Expired (resourceVersion too old for watch).
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }
    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }
    /// 415 UnsupportedMediaType.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }
    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }
    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }
    /// 422 Invalid: `Kind.group "name" is invalid: cause; cause`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let kg = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let list: Vec<String> = causes
            .iter()
            .map(|c| if c.field.is_empty() { c.message.clone() } else { format!("{}: {}", c.field, c.message) })
            .collect();
        let joined = if list.len() == 1 { list.join("") } else { format!("[{}]", list.join(", ")) };
        let mut e = Self::new(422, "Invalid", format!("{kg} \"{name}\" is invalid: {joined}"));
        e.details = Some(Box::new((name.to_string(), group.to_string(), kind.to_string())));
        e.causes = causes;
        e
    }
    fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        self.details = Some(Box::new((name.to_string(), group.to_string(), kind.to_string())));
        self
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let (name, group, kind) = &**d;
            let mut d = json!({ "name": name, "kind": kind });
            if !group.is_empty() {
                d["group"] = json!(group);
            }
            if !self.causes.is_empty() {
                d["causes"] = Value::Array(
                    self.causes
                        .iter()
                        .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                        .collect(),
                );
            }
            s["details"] = d;
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `plural.group`, or `plural` for the core group.
pub fn group_resource(group: &str, plural: &str) -> String {
    if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") }
}

/// A `Status` of success (returned by some deletes).
pub fn success_status(name: &str, group: &str, plural: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": group, "kind": plural}
    })
}
