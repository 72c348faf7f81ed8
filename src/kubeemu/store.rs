//! In-memory object storage: one global resourceVersion, CRUD semantics, watch history.

use super::apply;
use super::builtins;
use super::patch::{self, PatchKind};
use super::registry::{Registry, ResKey, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, Cause};
use super::validate;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Watch event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the bounded history and broadcast to open watches.
#[derive(Debug)]
pub struct Change {
    /// resourceVersion of this change.
    pub rv: u64,
    /// Which resource.
    pub key: ResKey,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Event type.
    pub kind: EventType,
    /// Object after the change (for DELETED: the last state).
    pub object: Arc<Value>,
    /// Object before the change (MODIFIED only), for selector transitions.
    pub old: Option<Arc<Value>>,
}

/// How to treat unknown fields (`fieldValidation` query parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Reject unknown fields with 400.
    Strict,
    /// Drop them (the server default here).
    #[default]
    Prune,
}

/// Per-request write options.
#[derive(Clone, Debug, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
}

/// (resource, namespace, name) of one object.
type ObjKey = (ResKey, String, String);

/// Everything the server keeps, guarded by one mutex.
#[derive(Debug)]
pub struct Store {
    /// Served types.
    pub registry: Registry,
    rv: u64,
    objects: HashMap<ResKey, BTreeMap<(String, String), Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    history_floor: u64,
    history_limit: usize,
    applied: HashMap<ObjKey, BTreeMap<(String, bool), Value>>,
    tx: broadcast::Sender<Arc<Change>>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn random_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5).map(|_| ALPHA[rand::random_range(0..ALPHA.len())] as char).collect()
}

/// DNS-1123 subdomain check (names of most objects).
fn valid_name(name: &str, label: bool) -> bool {
    let max = if label { 63 } else { 253 };
    !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!label && c == '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn meta(obj: &Value) -> &Value {
    &obj["metadata"]
}

fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let o = obj.as_object_mut().ok_or_else(|| ApiError::bad_request("the body is not a JSON object"))?;
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut().ok_or_else(|| ApiError::bad_request("metadata is not an object"))
}

fn str_at<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)[field].as_str().filter(|s| !s.is_empty())
}

fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The object without metadata (and without status when `drop_status`), for generation comparisons.
fn body_of(obj: &Value, drop_status: bool) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if drop_status {
            m.remove("status");
        }
    }
    o
}

impl Store {
    /// An empty store with the built-in types and namespaces `default` and `kube-system`.
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let mut s = Store {
            registry: Registry::with_builtins(),
            rv: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_floor: 0,
            history_limit: history_limit.max(16),
            applied: HashMap::new(),
            tx,
        };
        if let Some(rt) = s.registry.get("", "v1", "namespaces") {
            for ns in ["default", "kube-system", "kube-public"] {
                let _ = s.create(&rt, None, json!({"metadata": {"name": ns}}), &WriteOpts::default());
            }
        }
        s
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Subscribe to future changes (call under the same lock as reading history).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Changes strictly after `rv` for one resource, or Err(410) when the history no longer reaches back.
    pub fn changes_since(&self, key: &ResKey, rv: u64) -> Result<Vec<Arc<Change>>, ApiError> {
        if rv < self.history_floor {
            return Err(ApiError::expired(format!("too old resource version: {rv} ({})", self.history_floor + 1)));
        }
        Ok(self.history.iter().filter(|c| c.rv > rv && &c.key == key).cloned().collect())
    }

    fn emit(&mut self, key: ResKey, namespace: String, kind: EventType, object: Arc<Value>, old: Option<Arc<Value>>) {
        let c = Arc::new(Change { rv: self.rv, key, namespace, kind, object, old });
        self.history.push_back(c.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.rv;
            }
        }
        let _ = self.tx.send(c);
    }

    fn ns_key(rt: &ResourceType, ns: Option<&str>) -> String {
        if rt.namespaced { ns.unwrap_or_default().to_string() } else { String::new() }
    }

    /// Reads one object.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Arc<Value>, ApiError> {
        self.objects
            .get(&rt.key())
            .and_then(|m| m.get(&(Self::ns_key(rt, ns), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    /// All objects of a type (optionally one namespace) with keys, sorted by namespace and name.
    pub fn iter_objects<'a>(
        &'a self,
        rt: &ResourceType,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a (String, String), &'a Arc<Value>)> + 'a {
        self.objects
            .get(&rt.key())
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((n, _), _)| ns.is_none_or(|want| want == n))
    }

    /// A list answer with paging: `continue` tokens are `rv:namespace/name` of the last returned item.
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Value, ApiError> {
        let (list_rv, after) = match cont.filter(|c| !c.is_empty()) {
            Some(c) => {
                let (rv, key) = c.split_once(':').ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                let (n, name) = key.split_once('/').ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                let rv: u64 = rv.parse().map_err(|_| ApiError::bad_request("invalid continue token"))?;
                (rv, Some((n.to_string(), name.to_string())))
            }
            None => (self.rv, None),
        };
        let mut items = Vec::new();
        let mut remaining = 0usize;
        let mut next: Option<String> = None;
        for (k, obj) in self.iter_objects(rt, ns) {
            if after.as_ref().is_some_and(|a| k <= a) {
                continue;
            }
            // Selectors see the object as the request's version shows it (regarding.name on
            // events.k8s.io/v1, involvedObject.name on core/v1).
            let converted = super::events::is_events_v1(rt).then(|| self.for_version(obj, rt));
            let seen = converted.as_ref().unwrap_or(obj);
            if !labels.matches(seen) || !fields.matches(seen) {
                continue;
            }
            if limit.is_some_and(|l| l > 0 && items.len() >= l) {
                if next.is_none()
                    && let Some(Value::Object(last)) = items.last()
                {
                    let m = &last["metadata"];
                    next = Some(format!(
                        "{list_rv}:{}/{}",
                        m["namespace"].as_str().unwrap_or_default(),
                        m["name"].as_str().unwrap_or_default()
                    ));
                }
                remaining += 1;
                continue;
            }
            items.push(self.for_version(obj, rt));
        }
        let mut md = json!({ "resourceVersion": list_rv.to_string() });
        if let Some(n) = next {
            md["continue"] = json!(n);
            md["remainingItemCount"] = json!(remaining);
        }
        Ok(json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": md,
            "items": items,
        }))
    }

    /// The stored object as seen through `rt`'s version (apiVersion rewritten; no conversion but
    /// for events.k8s.io/v1 Events, stored in the core shape).
    pub fn for_version(&self, obj: &Value, rt: &ResourceType) -> Value {
        super::events::view(obj, rt)
    }

    fn check_namespace(&self, rt: &ResourceType, ns: Option<&str>) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns = ns.ok_or_else(|| ApiError::bad_request("a namespace is required for a namespaced resource"))?;
        let exists = self
            .objects
            .get(&(String::new(), "namespaces".to_string()))
            .is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())));
        if exists { Ok(()) } else { Err(ApiError::not_found("", "namespaces", ns)) }
    }

    /// POST.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        if let Some(k) = obj["kind"].as_str()
            && k != rt.kind
        {
            return Err(ApiError::bad_request(format!("the kind {k:?} does not match the resource {}", rt.plural)));
        }
        self.check_namespace(rt, ns)?;
        let api_version = rt.api_version();
        let kind = rt.kind.clone();
        let m = meta_mut(&mut obj)?;
        if rt.namespaced {
            let url_ns = ns.unwrap_or_default();
            match m.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && b != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(url_ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        if m.get("resourceVersion").and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
        }
        let name = match m.get("name").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(n) => n.to_string(),
            None => match m.get("generateName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(g) => format!("{g}{}", random_suffix()),
                None => {
                    return Err(ApiError::invalid(
                        &kind,
                        &rt.group,
                        "",
                        vec![Cause {
                            reason: "FieldValueRequired".into(),
                            message: "Required value: name or generateName is required".into(),
                            field: "metadata.name".into(),
                        }],
                    ));
                }
            },
        };
        if !valid_name(&name, rt.plural == "namespaces") {
            return Err(ApiError::invalid(
                &kind,
                &rt.group,
                &name,
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                    ),
                    field: "metadata.name".into(),
                }],
            ));
        }
        let ns_key = Self::ns_key(rt, ns);
        if self.objects.get(&rt.key()).is_some_and(|o| o.contains_key(&(ns_key.clone(), name.clone()))) {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        m.insert("name".into(), json!(name));
        m.insert("uid".into(), json!(new_uid()));
        m.insert("creationTimestamp".into(), json!(now()));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("managedFields");
        if rt.custom {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
        obj["apiVersion"] = json!(api_version);
        obj["kind"] = json!(kind);
        if rt.custom
            && rt.status_subresource
            && let Some(o) = obj.as_object_mut()
        {
            o.remove("status");
        }
        if rt.plural == "namespaces" && rt.group.is_empty() {
            obj["status"] = json!({"phase": "Active"});
        }
        if !rt.custom {
            builtins::default(&rt.kind, &mut obj);
        }
        if rt.custom {
            validate::admit(rt, &mut obj, None, opts.field_validation)?;
        }
        if rt.plural == "customresourcedefinitions" {
            validate::check_crd(&obj)?;
            obj["status"] = crd_status(&obj);
        }
        if opts.dry_run {
            return Ok(obj);
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if rt.plural == "customresourcedefinitions" {
            self.registry.register_crd(&obj);
        }
        let obj = Arc::new(obj);
        self.objects.entry(rt.key()).or_default().insert((ns_key.clone(), name), obj.clone());
        self.emit(rt.key(), ns_key, EventType::Added, obj.clone(), None);
        Ok((*obj).clone())
    }

    /// PUT (main resource or `status`).
    pub fn update(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get(rt, ns, name)?;
        if let Some(n) = str_at(&obj, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        match str_at(&obj, "resourceVersion") {
            Some(rv) if Some(rv) != str_at(&old, "resourceVersion") => {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
            None if rt.custom => {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    name,
                    vec![Cause {
                        reason: "FieldValueInvalid".into(),
                        message: "Invalid value: 0x0: must be specified for an update".into(),
                        field: "metadata.resourceVersion".into(),
                    }],
                ));
            }
            _ => {}
        }
        self.commit(rt, old, obj, sub, opts)
    }

    /// Writes `new` over `old` with real-server rules: immutable metadata, status subresource split,
    /// generation, validation, no-op detection, finalizer-driven removal.
    pub fn commit(
        &mut self,
        rt: &ResourceType,
        old: Arc<Value>,
        mut new: Value,
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let name = str_at(&old, "name").unwrap_or_default().to_string();
        if sub == Some("status") {
            let status = new.get("status").cloned();
            new = (*old).clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        } else {
            let m = meta_mut(&mut new)?;
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "generation",
            ] {
                match old["metadata"].get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
            m.insert("name".into(), json!(name));
            m.remove("managedFields");
            if rt.status_subresource {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
        }
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        if !rt.custom {
            builtins::default(&rt.kind, &mut new);
        }
        if str_at(&old, "deletionTimestamp").is_some() {
            let before = finalizers(&old);
            let added: Vec<String> = finalizers(&new).into_iter().filter(|f| !before.contains(f)).collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    &name,
                    vec![Cause {
                        reason: "FieldValueForbidden".into(),
                        message: format!(
                            "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                        ),
                        field: "metadata.finalizers".into(),
                    }],
                ));
            }
        }
        if rt.custom {
            validate::admit(rt, &mut new, Some(&old), opts.field_validation)?;
            let changed = body_of(&new, rt.status_subresource) != body_of(&old, rt.status_subresource);
            if changed && sub != Some("status") {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
        }
        if rt.plural == "customresourcedefinitions" {
            validate::check_crd(&new)?;
            new["status"] = crd_status(&new);
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        let gone = str_at(&new, "deletionTimestamp").is_some() && finalizers(&new).is_empty();
        if new == *old && !gone {
            return Ok((*old).clone());
        }
        if opts.dry_run {
            return Ok(new);
        }
        let ns_key = Self::ns_key(rt, str_at(&old, "namespace"));
        self.rv += 1;
        new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let new = Arc::new(new);
        if gone {
            self.remove(rt, &ns_key, &name, new.clone());
        } else {
            if rt.plural == "customresourcedefinitions" {
                self.registry.register_crd(&new);
            }
            self.objects.entry(rt.key()).or_default().insert((ns_key.clone(), name), new.clone());
            self.emit(rt.key(), ns_key, EventType::Modified, new.clone(), Some(old));
        }
        Ok((*new).clone())
    }

    fn remove(&mut self, rt: &ResourceType, ns_key: &str, name: &str, last: Arc<Value>) {
        if let Some(m) = self.objects.get_mut(&rt.key()) {
            m.remove(&(ns_key.to_string(), name.to_string()));
        }
        self.applied.remove(&(rt.key(), ns_key.to_string(), name.to_string()));
        let crd_key = (rt.plural == "customresourcedefinitions").then(|| {
            self.registry.unregister_crd(&last);
            let group = last["spec"]["group"].as_str().unwrap_or_default().to_string();
            let plural = last["spec"]["names"]["plural"].as_str().unwrap_or_default().to_string();
            (group, plural)
        });
        self.emit(rt.key(), ns_key.to_string(), EventType::Deleted, last, None);
        // Deleting a CRD deletes every object of its kind.
        if let Some(key) = crd_key
            && let Some(objs) = self.objects.remove(&key)
        {
            for ((ns, name), obj) in objs {
                self.rv += 1;
                let mut o = (*obj).clone();
                o["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                self.applied.remove(&(key.clone(), ns.clone(), name));
                self.emit(key.clone(), ns, EventType::Deleted, Arc::new(o), None);
            }
        }
    }

    /// DELETE: finalizers present → deletionTimestamp; absent → removed. Namespaces take their objects along.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        preconditions: &Value,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let old = self.get(rt, ns, name)?;
        for (f, what) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
            if let Some(want) = preconditions[f].as_str()
                && Some(want) != str_at(&old, f)
            {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: {what} in precondition: {want}, {what} in object meta: {}",
                        str_at(&old, f).unwrap_or_default()
                    ),
                ));
            }
        }
        if opts.dry_run {
            return Ok((*old).clone());
        }
        if !finalizers(&old).is_empty() {
            if str_at(&old, "deletionTimestamp").is_some() {
                return Ok((*old).clone());
            }
            let mut new = (*old).clone();
            new["metadata"]["deletionTimestamp"] = json!(now());
            new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if rt.custom {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
            let ns_key = Self::ns_key(rt, ns);
            self.rv += 1;
            new["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            let new = Arc::new(new);
            self.objects.entry(rt.key()).or_default().insert((ns_key.clone(), name.to_string()), new.clone());
            self.emit(rt.key(), ns_key, EventType::Modified, new.clone(), Some(old));
            return Ok((*new).clone());
        }
        if rt.plural == "namespaces" && rt.group.is_empty() {
            let victims: Vec<(ResKey, String)> = self
                .objects
                .iter()
                .flat_map(|(k, m)| m.keys().filter(|(n, _)| n == name).map(move |(_, o)| (k.clone(), o.clone())))
                .collect();
            for (key, obj_name) in victims {
                let rt2 = self.registry.all().find(|t| t.key() == key).cloned();
                if let Some(rt2) = rt2
                    && let Ok(o) = self.get(&rt2, Some(name), &obj_name)
                {
                    self.rv += 1;
                    let mut last = (*o).clone();
                    last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                    self.remove(&rt2, name, &obj_name, Arc::new(last));
                }
            }
        }
        let ns_key = Self::ns_key(rt, ns);
        self.rv += 1;
        let mut last = (*old).clone();
        last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let last = Arc::new(last);
        self.remove(rt, &ns_key, name, last.clone());
        Ok((*last).clone())
    }

    /// PATCH with a merge, JSON or strategic body. A resourceVersion in the patched result acts as a precondition.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let current = self.get(rt, ns, name)?;
        let mut doc = (*current).clone();
        patch::apply_patch(kind, &mut doc, body)?;
        if let Some(rv) = str_at(&doc, "resourceVersion")
            && Some(rv) != str_at(&current, "resourceVersion")
        {
            return Err(ApiError::conflict(
                &rt.group,
                &rt.plural,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        self.commit(rt, current, doc, sub, opts)
    }

    /// Server-side apply (`application/apply-patch+yaml`), see apply.rs for the merge rules.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        config: Value,
        manager: &str,
        force: bool,
        sub: Option<&str>,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        if !config.is_object() {
            return Err(ApiError::bad_request("the apply configuration is not an object"));
        }
        if let Some(n) = str_at(&config, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let is_status = sub == Some("status");
        let ns_key = Self::ns_key(rt, ns);
        let akey = (rt.key(), ns_key.clone(), name.to_string());
        let config = apply::sanitize(&config);
        let current = match self.get(rt, ns, name) {
            Ok(c) => c,
            Err(e) if is_status => return Err(e),
            Err(_) => {
                let mut obj = config.clone();
                obj["metadata"]["name"] = json!(name);
                let created = self.create(rt, ns, obj, opts)?;
                if !opts.dry_run {
                    self.applied.entry(akey).or_default().insert((manager.to_string(), false), config);
                }
                return Ok(created);
            }
        };
        let managers = self.applied.get(&akey).cloned().unwrap_or_default();
        let others: Vec<(&str, &Value)> = managers
            .iter()
            .filter(|((m, s), _)| m != manager && *s == is_status)
            .map(|((m, _), v)| (m.as_str(), v))
            .collect();
        if !force {
            let conflicts = apply::conflicts(&current, &config, &others);
            if !conflicts.is_empty() {
                let list: Vec<String> = conflicts.iter().map(|(m, p)| format!("conflict with {m:?}: {p}")).collect();
                let mut e = ApiError::conflict(&rt.group, &rt.plural, name, "");
                e.message = format!(
                    "Apply failed with {} conflict{}: {}",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    list.join("\n")
                );
                return Err(e);
            }
        }
        let last = managers.get(&(manager.to_string(), is_status));
        let merged = apply::merge(&current, &config, last, &others);
        let out = self.commit(rt, current, merged, sub, opts)?;
        if !opts.dry_run {
            let entry = self.applied.entry(akey).or_default();
            if force {
                for ((m, s), v) in entry.iter_mut() {
                    if m != manager && *s == is_status {
                        *v = apply::without_paths_of(v, &config);
                    }
                }
            }
            entry.insert((manager.to_string(), is_status), config);
        }
        Ok(out)
    }
}

fn crd_status(crd: &Value) -> Value {
    let t = now();
    json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "storedVersions": crd["spec"]["versions"].as_array().map(|vs| vs.iter().filter(|v| v["storage"].as_bool() == Some(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()).unwrap_or_default(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
        ]
    })
}
