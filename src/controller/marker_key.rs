//! The operator's marker key: read from one Secret in the operator's own namespace, created
//! there with a random key on first start when absent (or supplied through the Helm value
//! `markerKey.existingSecret` / `markerKey.value`). Tenants cannot read it, so they cannot
//! compute markers; back it up to recognise the trunks after a cluster rebuild.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::model::MarkerKey;

/// Default name of the key Secret.
pub const DEFAULT_SECRET: &str = "siptrunk-operator-marker-key";
/// Key of the key in the Secret's data.
pub const DATA_KEY: &str = "key";

/// Where the marker key comes from.
#[derive(Clone, Debug)]
pub enum MarkerKeySource {
    /// A Secret (`namespace` None: `POD_NAMESPACE`, else the watched namespace, else `default`),
    /// created with a random key when absent.
    Secret {
        /// Namespace of the Secret.
        namespace: Option<String>,
        /// Name of the Secret.
        name: String,
    },
    /// A key given directly (demo, tests).
    Key(MarkerKey),
}

impl Default for MarkerKeySource {
    fn default() -> Self {
        MarkerKeySource::Secret { namespace: None, name: DEFAULT_SECRET.to_string() }
    }
}

/// The namespace the key Secret lives in.
pub fn secret_namespace(explicit: Option<&str>, watch_namespace: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|s| !s.is_empty()))
        .or_else(|| watch_namespace.map(str::to_string))
        .unwrap_or_else(|| "default".to_string())
}

/// Reads the key, creating its Secret with a random key when absent. A concurrent first start
/// of another replica (409) reads the key that replica stored. Messages never carry key bytes.
pub async fn load(
    client: &Client,
    source: &MarkerKeySource,
    watch_namespace: Option<&str>,
) -> Result<MarkerKey, String> {
    let (namespace, name) = match source {
        MarkerKeySource::Key(k) => return Ok(k.clone()),
        MarkerKeySource::Secret { namespace, name } => (secret_namespace(namespace.as_deref(), watch_namespace), name),
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let read = |s: Secret| -> Result<MarkerKey, String> {
        let bytes = s.data.as_ref().and_then(|d| d.get(DATA_KEY)).map(|b| b.0.clone()).unwrap_or_default();
        MarkerKey::from_bytes(&bytes).map_err(|e| format!("Secret {namespace}/{name} key {DATA_KEY:?}: {e}"))
    };
    let get = || async {
        tokio::time::timeout(std::time::Duration::from_secs(10), api.get_opt(name))
            .await
            .map_err(|_| format!("reading Secret {namespace}/{name} timed out"))?
            .map_err(|e| format!("cannot read Secret {namespace}/{name}: {e}"))
    };
    if let Some(s) = get().await? {
        return read(s);
    }
    let key = MarkerKey::generate();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some([("app.kubernetes.io/managed-by".to_string(), "siptrunk-operator".to_string())].into()),
            ..Default::default()
        },
        data: Some([(DATA_KEY.to_string(), ByteString(key.expose().to_vec()))].into()),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let created = tokio::time::timeout(std::time::Duration::from_secs(10), api.create(&PostParams::default(), &secret))
        .await
        .map_err(|_| format!("creating Secret {namespace}/{name} timed out"))?;
    match created {
        Ok(_) => Ok(key),
        Err(kube::Error::Api(e)) if e.code == 409 => match get().await? {
            Some(s) => read(s),
            None => Err(format!("Secret {namespace}/{name} vanished while it was being created")),
        },
        Err(e) => Err(format!("cannot create Secret {namespace}/{name}: {e}")),
    }
}
