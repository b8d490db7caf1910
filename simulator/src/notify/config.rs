//! Alerts, Providers and their Secrets (notification.toolkit.fluxcd.io v1beta3 and v1beta2,
//! core/v1 Secret), where the emulation reads them from (manifest files, the live API through
//! [`ConfigSource`]) and how it looks up the involved object ([`ObjectLookup`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine;
use futures::future::BoxFuture;
use serde_json::Value;

use super::event::ObjectReference;

pub const NOTIFICATION_GROUP: &str = "notification.toolkit.fluxcd.io";
/// `Provider.GetTimeout()` without `spec.timeout`.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

/// An Alert `spec.eventSources[]` entry (`CrossNamespaceObjectReference`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventSource {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Empty: the Alert's namespace.
    pub namespace: String,
    /// `None` when absent (no lookup of the object at all).
    pub match_labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alert {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub provider_ref: String,
    /// `info` (the CRD default) or `error`.
    pub event_severity: String,
    pub event_sources: Vec<EventSource>,
    pub inclusion_list: Vec<String>,
    pub exclusion_list: Vec<String>,
    pub event_metadata: BTreeMap<String, String>,
    pub summary: String,
    pub suspend: bool,
}

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Provider {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub type_: String,
    /// Secret for most types (a webhook URL); never printed.
    pub address: String,
    pub channel: String,
    pub username: String,
    pub timeout: Option<Duration>,
    pub secret_ref: Option<String>,
    pub suspend: bool,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("type", &self.type_)
            .field("address", &super::redact_url(&self.address))
            .field("channel", &self.channel)
            .field("timeout", &self.timeout)
            .field("secret_ref", &self.secret_ref)
            .field("suspend", &self.suspend)
            .finish()
    }
}

impl Provider {
    /// `GetTimeout()`.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_PROVIDER_TIMEOUT)
    }
}

/// A Secret's data, decoded; `Debug` shows the keys only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret {
    pub namespace: String,
    pub name: String,
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secret {
    pub fn string(&self, key: &str) -> Option<String> {
        self.data
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Why a manifest or an API object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path}: {kind} {namespace}/{name}: {message}")]
    Invalid {
        path: PathBuf,
        kind: String,
        namespace: String,
        name: String,
        message: String,
    },
}

/// Alerts, Providers and Secrets held in memory (from files, or filled by the caller).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub alerts: Vec<Alert>,
    pub providers: Vec<Provider>,
    pub secrets: Vec<Secret>,
}

impl Config {
    /// Adds one object (an Alert, Provider or Secret; other kinds are ignored).
    pub fn add_object(&mut self, obj: &Value) -> Result<(), String> {
        let kind = obj["kind"].as_str().unwrap_or_default();
        let api = obj["apiVersion"].as_str().unwrap_or_default();
        let in_group = api.starts_with(&format!("{NOTIFICATION_GROUP}/"));
        match kind {
            "Alert" if in_group => self.alerts.push(Alert::from_object(obj)?),
            "Provider" if in_group => self.providers.push(Provider::from_object(obj)?),
            "Secret" if api == "v1" => self.secrets.push(Secret::from_object(obj)?),
            _ => {}
        }
        Ok(())
    }

    pub fn provider(&self, namespace: &str, name: &str) -> Option<&Provider> {
        self.providers
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }
}

/// Reads multi-document YAML files; Alerts, Providers (v1beta3, v1beta2) and Secrets are kept,
/// other documents skipped. Objects without a namespace go to `default`, as `kubectl apply` does.
pub fn load_manifests<P: AsRef<Path>>(paths: &[P]) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| ConfigError::Yaml {
                path: path.into(),
                message: e.to_string(),
            })?;
        for doc in docs.into_iter().filter(|d| d.is_object()) {
            config
                .add_object(&doc)
                .map_err(|message| ConfigError::Invalid {
                    path: path.into(),
                    kind: doc["kind"].as_str().unwrap_or_default().into(),
                    namespace: namespace_of(&doc),
                    name: doc["metadata"]["name"].as_str().unwrap_or_default().into(),
                    message,
                })?;
        }
    }
    Ok(config)
}

fn namespace_of(obj: &Value) -> String {
    obj["metadata"]["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// A UID for objects read from files (the API server would assign one); derived from the
/// namespace and name so runs are reproducible. Only its first segment shows (GitHub context).
fn uid_of(obj: &Value) -> String {
    if let Some(uid) = obj["metadata"]["uid"].as_str().filter(|s| !s.is_empty()) {
        return uid.to_string();
    }
    use sha2::{Digest, Sha256};
    let kind = obj["kind"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let h = hex::encode(Sha256::digest(format!(
        "{kind}/{}/{name}",
        namespace_of(obj)
    )));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what}: every entry must be a string"))
            })
            .collect(),
        _ => Err(format!("{what} must be a list of strings")),
    }
}

fn string_map(v: &Value, what: &str) -> Result<BTreeMap<String, String>, String> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(format!("{what}.{k} must be a string")),
            })
            .collect(),
        _ => Err(format!("{what} must be a map of strings")),
    }
}

fn opt_str(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(format!("{what} must be a string")),
    }
}

impl Alert {
    pub fn from_object(obj: &Value) -> Result<Self, String> {
        let spec = &obj["spec"];
        let provider_ref = opt_str(&spec["providerRef"]["name"], "spec.providerRef.name")?;
        if provider_ref.is_empty() {
            return Err("spec.providerRef.name is required".into());
        }
        let mut event_severity = opt_str(&spec["eventSeverity"], "spec.eventSeverity")?;
        if event_severity.is_empty() {
            event_severity = "info".into(); // +kubebuilder:default:=info
        }
        if event_severity != "info" && event_severity != "error" {
            return Err(format!(
                "spec.eventSeverity: Unsupported value: \"{event_severity}\": supported values: \"info\", \"error\""
            ));
        }
        let sources = match &spec["eventSources"] {
            Value::Array(items) => items,
            _ => return Err("spec.eventSources is required".into()),
        };
        let mut event_sources = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let at = format!("spec.eventSources[{i}]");
            let kind = opt_str(&s["kind"], &format!("{at}.kind"))?;
            let name = opt_str(&s["name"], &format!("{at}.name"))?;
            if kind.is_empty() || name.is_empty() {
                return Err(format!("{at}: kind and name are required"));
            }
            event_sources.push(EventSource {
                api_version: opt_str(&s["apiVersion"], &format!("{at}.apiVersion"))?,
                kind,
                name,
                namespace: opt_str(&s["namespace"], &format!("{at}.namespace"))?,
                match_labels: match &s["matchLabels"] {
                    Value::Null => None,
                    m => Some(string_map(m, &format!("{at}.matchLabels"))?),
                },
            });
        }
        Ok(Alert {
            namespace: namespace_of(obj),
            name: obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            uid: uid_of(obj),
            provider_ref,
            event_severity,
            event_sources,
            inclusion_list: string_list(&spec["inclusionList"], "spec.inclusionList")?,
            exclusion_list: string_list(&spec["exclusionList"], "spec.exclusionList")?,
            event_metadata: string_map(&spec["eventMetadata"], "spec.eventMetadata")?,
            summary: opt_str(&spec["summary"], "spec.summary")?,
            suspend: spec["suspend"].as_bool().unwrap_or(false),
        })
    }

    /// The reference NC's events about this Alert carry.
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            kind: "Alert".into(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            api_version: format!("{NOTIFICATION_GROUP}/v1beta3"),
            ..Default::default()
        }
    }
}

impl Provider {
    pub fn from_object(obj: &Value) -> Result<Self, String> {
        let spec = &obj["spec"];
        let type_ = opt_str(&spec["type"], "spec.type")?;
        if type_.is_empty() {
            return Err("spec.type is required".into());
        }
        let timeout = match opt_str(&spec["timeout"], "spec.timeout")? {
            t if t.is_empty() => None,
            t => Some(model::parse_go_duration(&t).map_err(|e| format!("spec.timeout: {e}"))?),
        };
        let secret_ref = opt_str(&spec["secretRef"]["name"], "spec.secretRef.name")?;
        Ok(Provider {
            namespace: namespace_of(obj),
            name: obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            uid: uid_of(obj),
            type_,
            address: opt_str(&spec["address"], "spec.address")?,
            channel: opt_str(&spec["channel"], "spec.channel")?,
            username: opt_str(&spec["username"], "spec.username")?,
            timeout,
            secret_ref: Some(secret_ref).filter(|s| !s.is_empty()),
            suspend: spec["suspend"].as_bool().unwrap_or(false),
        })
    }
}

impl Secret {
    /// `data` (base64) and `stringData` (which wins, as the API server merges it).
    pub fn from_object(obj: &Value) -> Result<Self, String> {
        let mut data = BTreeMap::new();
        if let Some(m) = obj["data"].as_object() {
            for (k, v) in m {
                let text = v
                    .as_str()
                    .ok_or_else(|| format!("data.{k} must be a base64 string"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| format!("data.{k}: illegal base64 data: {e}"))?;
                data.insert(k.clone(), bytes);
            }
        }
        if let Some(m) = obj["stringData"].as_object() {
            for (k, v) in m {
                let text = v
                    .as_str()
                    .ok_or_else(|| format!("stringData.{k} must be a string"))?;
                data.insert(k.clone(), text.as_bytes().to_vec());
            }
        }
        Ok(Secret {
            namespace: namespace_of(obj),
            name: obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            data,
        })
    }
}

/// Where the emulation reads Alerts, Providers and Secrets (NC lists Alerts and gets the
/// Provider and Secret per event, so changes apply to the next event). Errors are messages
/// in the words of a failed API call (`providers.notification.toolkit.fluxcd.io "x" not found`).
pub trait ConfigSource: Send + Sync {
    fn alerts(&self) -> BoxFuture<'_, Result<Vec<Alert>, String>>;
    fn provider<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Provider, String>>;
    fn secret<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Secret, String>>;
}

fn not_found(resource: &str, name: &str) -> String {
    format!("{resource} \"{name}\" not found")
}

impl ConfigSource for Config {
    fn alerts(&self) -> BoxFuture<'_, Result<Vec<Alert>, String>> {
        Box::pin(async move { Ok(self.alerts.clone()) })
    }
    fn provider<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Provider, String>> {
        let found = Config::provider(self, namespace, name).cloned();
        Box::pin(async move {
            found.ok_or_else(|| not_found("providers.notification.toolkit.fluxcd.io", name))
        })
    }
    fn secret<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Secret, String>> {
        let found = Config::secret(self, namespace, name).cloned();
        Box::pin(async move { found.ok_or_else(|| not_found("secrets", name)) })
    }
}

/// A [`Config`] the caller can replace while the emulation runs (drills editing Alerts).
#[derive(Debug, Default)]
pub struct SharedConfig(RwLock<Config>);

impl SharedConfig {
    pub fn new(config: Config) -> Self {
        Self(RwLock::new(config))
    }
    pub fn replace(&self, config: Config) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = config;
    }
    pub fn update(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.0.write().unwrap_or_else(|e| e.into_inner()));
    }
    fn snapshot(&self) -> std::sync::RwLockReadGuard<'_, Config> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl ConfigSource for SharedConfig {
    fn alerts(&self) -> BoxFuture<'_, Result<Vec<Alert>, String>> {
        let alerts = self.snapshot().alerts.clone();
        Box::pin(async move { Ok(alerts) })
    }
    fn provider<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Provider, String>> {
        let found = self.snapshot().provider(namespace, name).cloned();
        Box::pin(async move {
            found.ok_or_else(|| not_found("providers.notification.toolkit.fluxcd.io", name))
        })
    }
    fn secret<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Secret, String>> {
        let found = self.snapshot().secret(namespace, name).cloned();
        Box::pin(async move { found.ok_or_else(|| not_found("secrets", name)) })
    }
}

/// Gets the involved object of an event (for `matchLabels`, which NC checks on the live
/// object). `Ok(None)`: it does not exist.
pub trait ObjectLookup: Send + Sync {
    fn get<'a>(
        &'a self,
        object: &'a ObjectReference,
    ) -> BoxFuture<'a, Result<Option<Value>, String>>;
}

/// Any synchronous closure over the reference works as a lookup.
impl<F> ObjectLookup for F
where
    F: Fn(&ObjectReference) -> Option<Value> + Send + Sync,
{
    fn get<'a>(
        &'a self,
        object: &'a ObjectReference,
    ) -> BoxFuture<'a, Result<Option<Value>, String>> {
        let found = self(object);
        Box::pin(async move { Ok(found) })
    }
}

/// A lookup that finds nothing (Alerts with `matchLabels` then never match, as in NC when the
/// object cannot be read).
pub struct NoObjects;

impl ObjectLookup for NoObjects {
    fn get<'a>(&'a self, _: &'a ObjectReference) -> BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async { Ok(None) })
    }
}
