//! Recording of every request in RBAC terms (verb, group, resource, subresource, namespace).

/// One recorded request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    /// RBAC verb: get, list, watch, create, update, patch, delete, deletecollection
    /// (non-resource requests such as discovery: "get" with an empty resource).
    pub verb: String,
    /// API group ("" for core).
    pub api_group: String,
    /// Plural resource ("" for non-resource URLs).
    pub resource: String,
    /// Subresource such as `status` or `finalizers`.
    pub subresource: Option<String>,
    /// Namespace of the request, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// Request path.
    pub path: String,
    /// `User-Agent` header.
    pub user_agent: String,
    /// `fieldManager` query parameter.
    pub field_manager: Option<String>,
    /// The request asked for metadata only (`Accept: ...;as=PartialObjectMetadata[List]`).
    pub metadata_only: bool,
    /// HTTP status answered (recorded when the response starts, so a watch records 200 at once).
    pub status: u16,
}

impl ApiCall {
    /// `verb group/resource[/sub]` for quick assertions, e.g. `patch siptrunk.dev/siptrunks/status`.
    pub fn rbac(&self) -> String {
        let mut s = format!("{} {}/{}", self.verb, self.api_group, self.resource);
        if let Some(sub) = &self.subresource {
            s.push('/');
            s.push_str(sub);
        }
        s
    }
}
