//! The validated scenario: what the simulator core and drivers consume. Parsing, validation with
//! file:line errors, the JSON schema and the generator produce or describe these types.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use model::{kinds::KindInfo, Controller, FluxVersion, ObjectRef};
use serde_json::Value;

/// The `apiVersion` of scenario files.
pub const API_VERSION: &str = "flux-sim.flux-monitor.dev/v1alpha1";

/// A scenario after parsing and validation. Every reference in it resolves.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The file it came from (for messages); empty for generated scenarios.
    pub source: PathBuf,
    pub flux_version: FluxVersion,
    pub seed: u64,
    /// How long the scenario runs in scenario time.
    pub duration: Duration,
    /// Prometheus scrape interval used for sampling in virtual time (default 30s).
    pub scrape_interval: Duration,
    /// Optional controllers installed too (`flux install --components-extra`): source-watcher.
    pub components_extra: Vec<Controller>,
    /// Who serves the per-object resource metrics Prometheus scrapes.
    pub resource_metrics: Vec<ResourceMetrics>,
    pub resources: Vec<Resource>,
    pub faults: Vec<FaultSpec>,
    pub expectations: Expectations,
    /// The controllers whose reconcile limits the scenario sets (the others keep Flux's).
    pub controllers: Vec<(Controller, ControllerSettings)>,
    /// `spec.cluster`: the scenario is a drill on a live cluster, its resources are canaries and
    /// `afterFault` indexes these faults (`faults` is then empty).
    pub cluster: Option<ClusterDrill>,
}

impl Scenario {
    /// How `controller` reconciles: the scenario's settings, else Flux's defaults.
    pub fn controller_settings(&self, controller: Controller) -> ControllerSettings {
        self.controllers
            .iter()
            .find(|(c, _)| *c == controller)
            .map_or_else(|| ControllerSettings::flux_default(controller), |(_, s)| *s)
    }
}

/// How a Flux controller reconciles against the Kubernetes API: its `--concurrent`,
/// `--kube-api-qps` and `--kube-api-burst` flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerSettings {
    /// Reconciles of one kind at once.
    pub concurrent: u32,
    /// Sustained API requests per second (a token bucket shared by the controller's kinds).
    pub kube_api_qps: f64,
    /// Requests the bucket holds for a burst.
    pub kube_api_burst: u32,
}

impl ControllerSettings {
    /// Flux's defaults: `--concurrent` 2 in source-controller and 4 in the others (their
    /// main.go), `--kube-api-qps` 50 and `--kube-api-burst` 300 (fluxcd/pkg runtime/client).
    pub fn flux_default(controller: Controller) -> Self {
        let concurrent = if controller == Controller::Source { 2 } else { 4 };
        ControllerSettings { concurrent, kube_api_qps: 50.0, kube_api_burst: 300 }
    }
}

/// Where per-object state metrics come from: kube-state-metrics with flux2-monitoring-example's
/// config (`gotk_resource_info`) or the Flux Operator's reporter (`flux_resource_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceMetrics {
    KubeStateMetrics,
    FluxOperator,
}

impl ResourceMetrics {
    pub const ALL: [ResourceMetrics; 2] = [ResourceMetrics::KubeStateMetrics, ResourceMetrics::FluxOperator];

    /// The name scenario files and flags use.
    pub fn name(self) -> &'static str {
        match self {
            ResourceMetrics::KubeStateMetrics => "kube-state-metrics",
            ResourceMetrics::FluxOperator => "flux-operator",
        }
    }

    pub fn from_name(name: &str) -> Option<ResourceMetrics> {
        ResourceMetrics::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl Scenario {
    /// Runs the scenario as another Flux release and/or with other resource metrics than it
    /// declares (`--flux-version`, `--resource-metrics` of test and drill); objects keep only
    /// the fields that release has.
    pub fn retarget(&mut self, flux_version: Option<FluxVersion>, resource_metrics: &[ResourceMetrics]) {
        if let Some(v) = flux_version {
            self.flux_version = v;
        }
        if !resource_metrics.is_empty() {
            self.resource_metrics = resource_metrics.to_vec();
        }
    }

    /// The controllers this scenario's installation runs.
    pub fn controllers(&self) -> Vec<Controller> {
        Controller::in_release(self.flux_version, &self.components_extra)
    }

    /// The kinds this scenario's installation serves.
    pub fn kinds(&self) -> impl Iterator<Item = &'static KindInfo> + '_ {
        model::kinds::KINDS.iter().filter(|k| self.has_kind(k))
    }

    /// Whether the installation has a kind (its release serves it and, for kinds of optional
    /// controllers, the controller is installed).
    pub fn has_kind(&self, kind: &KindInfo) -> bool {
        kind.exists_in(self.flux_version) && (!kind.is_optional() || self.components_extra.contains(&kind.controller))
    }
}

/// One Flux object the scenario creates at scenario time 0.
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: &'static KindInfo,
    pub name: String,
    pub namespace: String,
    /// `spec.interval` (Alerts and Providers have none: zero).
    pub interval: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Initially suspended (`spec.suspend: true`).
    pub suspend: bool,
    /// The user's spec overlay (url, path, sourceRef, dependsOn, chart, ...), merged over the
    /// defaults the core fills in for the kind. Always a JSON object.
    pub spec: Value,
    /// 1-based line of this resource in the scenario file (0 when generated).
    pub line: usize,
}

impl Resource {
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new(self.kind.kind, self.namespace.clone(), self.name.clone())
    }
}

/// The fault catalog. Names (kebab-case in files) are stable: scenario files rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Sources: fetching the artifact fails (GitOperationFailed, HelmRepository index fetch,
    /// OCIArtifactPullFailed, BucketOperationFailed).
    FetchFailure,
    /// Sources: authentication fails (AuthenticationFailed).
    AuthFailure,
    /// Kustomization: kustomize build fails (BuildFailed).
    BuildFailure,
    /// Kustomization: server-side apply fails (ReconciliationFailed).
    ApplyFailure,
    /// Kustomization, HelmRelease: health checks time out (HealthCheckFailed).
    HealthCheckFailure,
    /// Kustomization: garbage collection fails (PruneFailed).
    PruneFailure,
    /// HelmRelease: install fails (InstallFailed).
    InstallFailure,
    /// HelmRelease: upgrade fails (UpgradeFailed).
    UpgradeFailure,
    /// HelmRelease: helm test fails (TestFailed).
    TestFailure,
    /// HelmRelease: remediation retries exhausted; Stalled=True RetriesExceeded.
    RetriesExhausted,
    /// Any kind: spec.suspend set for the fault's duration (resumed after).
    Suspend,
    /// Any kind: reconciles take `reconcileDuration` (default 45s) instead of well under a second.
    Slow,
    /// Any kind: the controller stops reconciling the object but keeps serving metrics; a spec
    /// change made at the fault's start is never observed (observedGeneration lags).
    Stale,
    /// A controller: its metrics endpoint stops answering and its objects stop reconciling.
    ControllerDown,
    /// A controller: a fraction `rate` (default 0.5) of its reconciles end in error
    /// (controller_runtime_reconcile_errors_total), objects otherwise healthy.
    ErrorRate,
    /// Any kind: the object emits `count` (default 50) identical events in a burst.
    EventStorm,
}

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::FetchFailure,
        Fault::AuthFailure,
        Fault::BuildFailure,
        Fault::ApplyFailure,
        Fault::HealthCheckFailure,
        Fault::PruneFailure,
        Fault::InstallFailure,
        Fault::UpgradeFailure,
        Fault::TestFailure,
        Fault::RetriesExhausted,
        Fault::Suspend,
        Fault::Slow,
        Fault::Stale,
        Fault::ControllerDown,
        Fault::ErrorRate,
        Fault::EventStorm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::FetchFailure => "fetch-failure",
            Fault::AuthFailure => "auth-failure",
            Fault::BuildFailure => "build-failure",
            Fault::ApplyFailure => "apply-failure",
            Fault::HealthCheckFailure => "health-check-failure",
            Fault::PruneFailure => "prune-failure",
            Fault::InstallFailure => "install-failure",
            Fault::UpgradeFailure => "upgrade-failure",
            Fault::TestFailure => "test-failure",
            Fault::RetriesExhausted => "retries-exhausted",
            Fault::Suspend => "suspend",
            Fault::Slow => "slow",
            Fault::Stale => "stale",
            Fault::ControllerDown => "controller-down",
            Fault::ErrorRate => "error-rate",
            Fault::EventStorm => "event-storm",
        }
    }

    pub fn from_name(name: &str) -> Option<Fault> {
        // `stalled` is accepted as the DESIGN.md alias of retries-exhausted.
        if name == "stalled" {
            return Some(Fault::RetriesExhausted);
        }
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the fault targets a controller (`controller:`) rather than an object (`target:`).
    pub fn targets_controller(self) -> bool {
        matches!(self, Fault::ControllerDown | Fault::ErrorRate)
    }

    /// The kinds an object fault applies to; empty means every kind with a status.
    pub fn applies_to(self) -> &'static [&'static str] {
        match self {
            Fault::FetchFailure | Fault::AuthFailure => {
                &["GitRepository", "HelmRepository", "OCIRepository", "Bucket", "HelmChart", "ImageRepository"]
            }
            Fault::BuildFailure => &["Kustomization", "HelmChart"],
            Fault::ApplyFailure | Fault::PruneFailure => &["Kustomization"],
            Fault::HealthCheckFailure => &["Kustomization", "HelmRelease"],
            Fault::InstallFailure | Fault::UpgradeFailure | Fault::TestFailure | Fault::RetriesExhausted => {
                &["HelmRelease"]
            }
            _ => &[],
        }
    }
}

/// What a fault acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    Object(ObjectRef),
    Controller(Controller),
}

/// One entry of the fault timeline.
#[derive(Debug, Clone)]
pub struct FaultSpec {
    /// The fault's optional `name:` (expectations refer to it; reports show it).
    pub name: Option<String>,
    /// Scenario time the fault starts.
    pub at: Duration,
    pub target: FaultTarget,
    pub fault: Fault,
    /// Overrides the Ready reason Flux would report for this fault.
    pub reason: Option<String>,
    /// Overrides the Ready message Flux would report for this fault.
    pub message: Option<String>,
    /// How long it lasts; `None` = until the scenario ends.
    pub duration: Option<Duration>,
    /// `slow`: how long each reconcile takes.
    pub reconcile_duration: Option<Duration>,
    /// `error-rate`: fraction of reconciles that error, 0..=1.
    pub rate: Option<f64>,
    /// `event-storm`: how many identical events.
    pub count: Option<u32>,
    /// 1-based line in the scenario file (0 when generated).
    pub line: usize,
}

impl FaultSpec {
    /// Whether the fault is in force at scenario time `t`.
    pub fn active_at(&self, t: Duration) -> bool {
        t >= self.at && self.duration.is_none_or(|d| t < self.at + d)
    }
}

/// What must (and must not) happen. Parsed and validated now; used by `test` and `drill`.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub alerts: Vec<AlertExpectation>,
    pub not_alerts: Vec<NotAlertExpectation>,
    pub notifications: Vec<NotificationExpectation>,
}

#[derive(Debug, Clone)]
pub struct AlertExpectation {
    pub alertname: String,
    /// Labels the firing alert must carry (exact values).
    pub labels: BTreeMap<String, String>,
    /// Index into `Scenario::faults` of the fault the alert answers; `None` = from scenario start.
    pub after_fault: Option<usize>,
    /// Must be firing no later than this long after that fault starts.
    pub within: Duration,
    /// The Alertmanager receiver it must reach, when an Alertmanager config is given.
    pub receiver: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct NotAlertExpectation {
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct NotificationExpectation {
    /// The Flux Provider (`namespace/name` or `name` in the object's namespace).
    pub provider: String,
    /// The object the event is about.
    pub object: ObjectRef,
    /// `info` or `error`.
    pub severity: String,
    /// A substring the delivered message must contain.
    pub text: Option<String>,
    /// Exactly this many matching deliveries in the window, when given.
    pub count: Option<u32>,
    pub after_fault: Option<usize>,
    pub within: Duration,
    pub line: usize,
}

/// A drill on a live cluster (`spec.cluster`). The scenario's resources are canaries: the drill
/// creates them (named `<name>-<run id>`, labelled as its own), breaks them with these faults,
/// follows the alerts hop by hop and deletes them again.
#[derive(Debug, Clone, Default)]
pub struct ClusterDrill {
    pub faults: Vec<ClusterFault>,
    /// 1-based line of `cluster:` in the file.
    pub line: usize,
}

/// A fault real Flux reacts to by itself; names are stable (scenario files rely on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CanaryFault {
    /// A source's URL (a Bucket's endpoint) under the reserved `.invalid` domain (RFC 6761):
    /// the controller's DNS lookup fails.
    UnreachableSource,
    /// A Kustomization's `spec.path` that does not exist in its source.
    MissingPath,
    /// A HelmRelease's (or HelmChart's) chart version that does not exist.
    MissingChartVersion,
    /// `spec.suspend: true`.
    Suspend,
    /// `reconcile.fluxcd.io/requestedAt`: reconcile now (as `flux reconcile` does).
    Reconcile,
}

impl CanaryFault {
    pub const ALL: [CanaryFault; 5] = [
        CanaryFault::UnreachableSource,
        CanaryFault::MissingPath,
        CanaryFault::MissingChartVersion,
        CanaryFault::Suspend,
        CanaryFault::Reconcile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CanaryFault::UnreachableSource => "unreachable-source",
            CanaryFault::MissingPath => "missing-path",
            CanaryFault::MissingChartVersion => "missing-chart-version",
            CanaryFault::Suspend => "suspend",
            CanaryFault::Reconcile => "reconcile",
        }
    }

    pub fn from_name(name: &str) -> Option<CanaryFault> {
        CanaryFault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The kinds the fault applies to.
    pub fn applies_to(self) -> &'static [&'static str] {
        match self {
            CanaryFault::UnreachableSource => &["GitRepository", "HelmRepository", "OCIRepository", "Bucket"],
            CanaryFault::MissingPath => &["Kustomization"],
            CanaryFault::MissingChartVersion => &["HelmRelease", "HelmChart"],
            CanaryFault::Suspend | CanaryFault::Reconcile => &CANARY_KINDS,
        }
    }

    /// Whether the fault makes the object fail (Ready=False), as opposed to pausing it or only
    /// asking for a reconcile.
    pub fn fails(self) -> bool {
        matches!(self, CanaryFault::UnreachableSource | CanaryFault::MissingPath | CanaryFault::MissingChartVersion)
    }

    /// Whether the fault may be put on an object the drill did not create (`--touch-existing`):
    /// only what is undone exactly by restoring one field.
    pub fn may_touch_existing(self) -> bool {
        matches!(self, CanaryFault::Suspend | CanaryFault::Reconcile)
    }
}

/// The kinds a cluster drill may create as canaries.
pub const CANARY_KINDS: [&str; 9] = [
    "GitRepository",
    "HelmRepository",
    "OCIRepository",
    "Bucket",
    "HelmChart",
    "Kustomization",
    "HelmRelease",
    "Alert",
    "Provider",
];

/// What a cluster fault acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterTarget {
    /// A canary: a resource of the scenario (its name in the cluster gets the run id).
    Canary(ObjectRef),
    /// An object the drill did not create.
    Existing(ObjectRef),
}

impl ClusterTarget {
    pub fn object(&self) -> &ObjectRef {
        match self {
            ClusterTarget::Canary(o) | ClusterTarget::Existing(o) => o,
        }
    }
}

/// One fault of a cluster drill.
#[derive(Debug, Clone)]
pub struct ClusterFault {
    pub name: Option<String>,
    /// Wall time after the canaries are created (zero: they are created with the fault).
    pub at: Duration,
    pub target: ClusterTarget,
    pub fault: CanaryFault,
    /// 1-based line in the scenario file.
    pub line: usize,
}
