//! The resource types the emulator serves: built-in kinds plus those registered from CRDs.

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One additional printer column of a CRD version.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type (string, integer, number, boolean, date).
    pub type_: String,
    /// JSONPath into the object.
    pub json_path: String,
    /// Description (shown in Table columnDefinitions).
    pub description: String,
    /// 0 = always shown, >0 = only with `-o wide`.
    pub priority: i64,
    /// Optional format.
    pub format: String,
}

/// One served resource (group/version/plural).
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// API group ("" for core).
    pub group: String,
    /// Version served.
    pub version: String,
    /// Plural resource name (URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`st`).
    pub short_names: Vec<String>,
    /// Categories (`all`, `siptrunk-operator`).
    pub categories: Vec<String>,
    /// Whether the `/status` subresource exists.
    pub status_subresource: bool,
    /// The CRD's openAPIV3Schema for this version (None for built-ins).
    pub schema: Option<Value>,
    /// additionalPrinterColumns (empty for built-ins: table.rs has defaults).
    pub printer_columns: Vec<PrinterColumn>,
    /// Whether this came from a CRD.
    pub custom: bool,
}

impl ResourceType {
    /// `group/version` or `v1` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
    /// Storage key shared by all versions of a resource; core/v1 and events.k8s.io/v1 Events
    /// share one store, as on a real API server (see events.rs).
    pub fn key(&self) -> ResKey {
        if self.group == "events.k8s.io" && self.plural == "events" {
            return (String::new(), self.plural.clone());
        }
        (self.group.clone(), self.plural.clone())
    }
    /// Verbs for discovery.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }
}

/// Storage key: (group, plural).
pub type ResKey = (String, String);

/// All served resource types, by (group, version, plural).
#[derive(Default, Debug)]
pub struct Registry {
    types: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool, short: &[&str]) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource: plural == "namespaces",
        schema: None,
        printer_columns: Vec::new(),
        custom: false,
    }
}

impl Registry {
    /// The built-in kinds.
    pub fn with_builtins() -> Self {
        let mut r = Registry::default();
        for t in [
            builtin("", "v1", "namespaces", "Namespace", false, &["ns"]),
            builtin("", "v1", "secrets", "Secret", true, &[]),
            builtin("", "v1", "configmaps", "ConfigMap", true, &["cm"]),
            builtin("", "v1", "events", "Event", true, &["ev"]),
            builtin("events.k8s.io", "v1", "events", "Event", true, &["ev"]),
            builtin("coordination.k8s.io", "v1", "leases", "Lease", true, &[]),
            builtin(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
            ),
        ] {
            r.insert(t);
        }
        r
    }

    fn insert(&mut self, t: ResourceType) {
        self.types.insert((t.group.clone(), t.version.clone(), t.plural.clone()), Arc::new(t));
    }

    /// Looks up by group, version, plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types.get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    /// Every served type, sorted by group, version, plural.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }

    /// Groups with their versions (core group first as "").
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (g, v, _) in self.types.keys() {
            let vs = out.entry(g.clone()).or_default();
            if !vs.contains(v) {
                vs.push(v.clone());
            }
        }
        out
    }

    /// Registers (or re-registers) every served version of a CRD object. Returns the types.
    pub fn register_crd(&mut self, crd: &Value) -> Vec<Arc<ResourceType>> {
        self.unregister_crd(crd);
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default().to_string();
        let names = &spec["names"];
        let plural = names["plural"].as_str().unwrap_or_default().to_string();
        let kind = names["kind"].as_str().unwrap_or_default().to_string();
        let singular = names["singular"].as_str().map(str::to_string).unwrap_or_else(|| kind.to_lowercase());
        let strs = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let mut out = Vec::new();
        for v in spec["versions"].as_array().into_iter().flatten() {
            if v["served"].as_bool() == Some(false) {
                continue;
            }
            let version = v["name"].as_str().unwrap_or_default().to_string();
            let printer_columns = v["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| PrinterColumn {
                    name: c["name"].as_str().unwrap_or_default().into(),
                    type_: c["type"].as_str().unwrap_or("string").into(),
                    json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                    description: c["description"].as_str().unwrap_or_default().into(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    format: c["format"].as_str().unwrap_or_default().into(),
                })
                .collect();
            let t = ResourceType {
                group: group.clone(),
                version,
                plural: plural.clone(),
                singular: singular.clone(),
                kind: kind.clone(),
                namespaced,
                short_names: strs(&names["shortNames"]),
                categories: strs(&names["categories"]),
                status_subresource: v["subresources"]["status"].is_object(),
                schema: v["schema"]["openAPIV3Schema"].as_object().map(|m| Value::Object(m.clone())),
                printer_columns,
                custom: true,
            };
            self.insert(t.clone());
            out.push(Arc::new(t));
        }
        out
    }

    /// Removes every version of the resource a CRD defines.
    pub fn unregister_crd(&mut self, crd: &Value) {
        let group = crd["spec"]["group"].as_str().unwrap_or_default();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        self.types.retain(|(g, _, p), t| !(t.custom && g == group && p == plural));
    }
}
