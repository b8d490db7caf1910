//! The scenario file as written: serde types that mirror the YAML one to one, with the source
//! line of every node that validation may complain about. `load` turns them into the validated
//! model; `schema` describes them as JSON Schema.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

/// A whole scenario document.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "flux-sim Scenario",
    description = "Flux objects, a fault timeline and the alerts and notifications that must follow."
)]
pub struct ScenarioFile {
    /// Always `flux-sim.flux-monitor.dev/v1alpha1`.
    #[schemars(with = "String")]
    pub api_version: Spanned<String>,
    /// Always `Scenario`.
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    pub metadata: MetadataFile,
    pub spec: SpecFile,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataFile {
    /// The scenario's name, as reports and `test` print it.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// What the scenario shows.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecFile {
    /// The Flux release to imitate, `2.2` to `2.7` (default: the newest). Quote it: `"2.7"`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub flux_version: Option<Spanned<String>>,
    /// Seed for every random choice the simulator makes (default 1).
    #[serde(default)]
    pub seed: Option<u64>,
    /// How long the scenario runs, a Go duration (default `1h`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Spanned<String>>,
    /// Prometheus scrape interval in virtual time, a Go duration (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub scrape_interval: Option<Spanned<String>>,
    /// Optional controllers to install too, as `flux install --components-extra` takes them
    /// (`source-watcher`, Flux 2.7+, which reconciles ArtifactGenerators).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub components_extra: Option<Spanned<Vec<String>>>,
    /// Who serves the per-object state metrics: `kube-state-metrics` (gotk_resource_info, the
    /// default) and/or `flux-operator` (flux_resource_info).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub resource_metrics: Option<Spanned<Vec<String>>>,
    /// The Flux objects that exist at scenario time 0.
    #[serde(default)]
    #[schemars(with = "Vec<ResourceFile>")]
    pub resources: Vec<Spanned<ResourceFile>>,
    /// The fault timeline.
    #[serde(default)]
    #[schemars(with = "Vec<FaultFile>")]
    pub faults: Vec<Spanned<FaultFile>>,
    /// What must (and must not) follow.
    #[serde(default)]
    pub expectations: Option<ExpectationsFile>,
    /// Per Flux controller (`source-controller`, `kustomize-controller`, ...): how it reconciles
    /// against the API, as its flags say; unset values keep Flux's defaults.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, ControllerSettingsFile>>")]
    pub controllers: Option<Spanned<BTreeMap<String, ControllerSettingsFile>>>,
    /// A drill on a live cluster (`kubectl flux-monitor drill --cluster`): the resources are
    /// canaries the drill creates, and these faults break them the way real Flux notices.
    #[serde(default)]
    #[schemars(with = "Option<ClusterFile>")]
    pub cluster: Option<Spanned<ClusterFile>>,
}

/// One Flux controller's reconcile limits.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerSettingsFile {
    /// `--concurrent`: reconciles of one kind at once (Flux: 2 in source-controller, 4 elsewhere).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub concurrent: Option<Spanned<u32>>,
    /// `--kube-api-qps`: sustained API requests per second of the controller (Flux: 50).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub kube_api_qps: Option<Spanned<f64>>,
    /// `--kube-api-burst`: API requests above the sustained rate in a burst (Flux: 300).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub kube_api_burst: Option<Spanned<u32>>,
}

/// `spec.cluster`: how a drill breaks its canaries (or, with `--touch-existing`, suspends an
/// object it did not create) on a live cluster.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterFile {
    /// The faults, each a change real Flux reacts to by itself.
    #[serde(default)]
    #[schemars(with = "Vec<ClusterFaultFile>")]
    pub faults: Vec<Spanned<ClusterFaultFile>>,
}

/// One fault of a cluster drill.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterFaultFile {
    /// An optional name that expectations can use in `afterFault`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Wall time after the canaries are created, a Go duration (default `0s`: they are created
    /// broken).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub at: Option<Spanned<String>>,
    /// A canary: `Kind/name` or `Kind/namespace/name` of a resource of this scenario.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub target: Option<Spanned<String>>,
    /// An object the drill did not create (`Kind/namespace/name`): only `suspend` and
    /// `reconcile`, only with `--touch-existing`, restored afterwards.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub existing: Option<Spanned<String>>,
    /// `unreachable-source`, `missing-path`, `missing-chart-version`, `suspend` or `reconcile`.
    #[schemars(with = "String")]
    pub fault: Spanned<String>,
}

/// One Flux object.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceFile {
    /// The exact Flux Kind (`GitRepository`, `Kustomization`, `HelmRelease`, ...).
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Default `flux-system`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Spanned<String>>,
    /// `spec.interval`, a Go duration; default per kind. Alerts and Providers have none.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Spanned<String>>,
    /// `spec.suspend` at time 0.
    #[serde(default)]
    pub suspend: Option<bool>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Free-form overlay over the kind's default spec (url, ref, path, sourceRef, dependsOn,
    /// chart, chartRef, providerRef, eventSources, ...).
    #[serde(default)]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub spec: Option<Spanned<Value>>,
}

/// One entry of the fault timeline.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultFile {
    /// An optional name that expectations can use in `afterFault`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Scenario time the fault starts, a Go duration.
    #[schemars(with = "String")]
    pub at: Spanned<String>,
    /// `Kind/name` (namespace flux-system) or `Kind/namespace/name`, for object faults.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub target: Option<Spanned<String>>,
    /// A controller name (`kustomize-controller`, ...), for controller-down and error-rate.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub controller: Option<Spanned<String>>,
    /// The fault's name in the catalog (`build-failure`, `fetch-failure`, ...).
    #[schemars(with = "String")]
    pub fault: Spanned<String>,
    /// Overrides the Ready reason Flux would report.
    #[serde(default)]
    pub reason: Option<String>,
    /// Overrides the Ready message Flux would report.
    #[serde(default)]
    pub message: Option<String>,
    /// How long the fault lasts, a Go duration (absent: until the scenario ends).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<Spanned<String>>,
    /// `slow` only: how long each reconcile takes (default 45s).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reconcile_duration: Option<Spanned<String>>,
    /// `error-rate` only: the fraction of reconciles that end in error, 0 to 1 (default 0.5).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub rate: Option<Spanned<f64>>,
    /// `event-storm` only: how many identical events (default 50).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub count: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectationsFile {
    /// Prometheus alerts that must fire.
    #[serde(default)]
    #[schemars(with = "Vec<AlertExpectationFile>")]
    pub alerts: Vec<Spanned<AlertExpectationFile>>,
    /// Prometheus alerts that must never fire.
    #[serde(default)]
    #[schemars(with = "Vec<NotAlertExpectationFile>")]
    pub not_alerts: Vec<Spanned<NotAlertExpectationFile>>,
    /// Flux notifications a Provider must deliver.
    #[serde(default)]
    #[schemars(with = "Vec<NotificationExpectationFile>")]
    pub notifications: Vec<Spanned<NotificationExpectationFile>>,
}

/// A fault, by index into `faults` or by its `name`.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum FaultReference {
    Index(u32),
    Name(String),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertExpectationFile {
    #[schemars(with = "String")]
    pub alertname: Spanned<String>,
    /// Labels the firing alert must carry (exact values).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The fault the alert answers (index or name); absent: from the scenario's start.
    #[serde(default)]
    #[schemars(with = "Option<FaultReference>")]
    pub after_fault: Option<Spanned<String>>,
    /// Must be firing within this long of that fault's start (default: by the scenario's end).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub within: Option<Spanned<String>>,
    /// The Alertmanager receiver it must reach.
    #[serde(default)]
    pub receiver: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotAlertExpectationFile {
    #[schemars(with = "String")]
    pub alertname: Spanned<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotificationExpectationFile {
    /// The Flux Provider: `name` (in the object's namespace) or `namespace/name`.
    #[schemars(with = "String")]
    pub provider: Spanned<String>,
    /// `Kind/name` or `Kind/namespace/name` of the object the event is about.
    #[schemars(with = "String")]
    pub object: Spanned<String>,
    /// `info` or `error` (default `error`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub severity: Option<Spanned<String>>,
    /// A substring the delivered message must contain.
    #[serde(default)]
    pub text: Option<String>,
    /// Exactly this many deliveries in the window (e.g. 1: a storm is rate-limited to one).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub count: Option<Spanned<u32>>,
    #[serde(default)]
    #[schemars(with = "Option<FaultReference>")]
    pub after_fault: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub within: Option<Spanned<String>>,
}

/// Just enough of any YAML document to tell whether it is a scenario.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentKind {
    #[serde(default)]
    pub api_version: Option<Value>,
    #[serde(default)]
    pub kind: Option<Value>,
}
