//! The Flux kinds catalog as data: API groups, versions served per Flux release, plurals, short
//! names, printer columns, owning controller, and where each kind keeps its revision and references.
//! Code that lists, judges or prints Flux objects loops over this table instead of naming kinds.

use std::sync::LazyLock;

use crate::catalog;
use crate::version::FluxVersion;

/// The Flux controller that reconciles a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Controller {
    Source,
    Kustomize,
    Helm,
    Notification,
    ImageReflector,
    ImageAutomation,
    /// Reconciles ArtifactGenerators (Flux 2.7+), installed only on request.
    SourceWatcher,
}

impl Controller {
    pub const ALL: [Controller; 7] = [
        Controller::Source,
        Controller::Kustomize,
        Controller::Helm,
        Controller::Notification,
        Controller::ImageReflector,
        Controller::ImageAutomation,
        Controller::SourceWatcher,
    ];

    /// The Deployment and `reportingController` name, as Flux installs it.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Source => "source-controller",
            Controller::Kustomize => "kustomize-controller",
            Controller::Helm => "helm-controller",
            Controller::Notification => "notification-controller",
            Controller::ImageReflector => "image-reflector-controller",
            Controller::ImageAutomation => "image-automation-controller",
            Controller::SourceWatcher => "source-watcher",
        }
    }

    pub fn from_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.name() == name)
    }

    fn data(self) -> &'static catalog::ControllerData {
        catalog::DATA_FILE
            .controllers
            .iter()
            .find(|c| c.name == self.name())
            .unwrap_or_else(|| panic!("{} is missing from model/data/flux.yaml", self.name()))
    }

    /// Whether `release` has this controller (installed by default or on request).
    pub fn exists_in(self, release: FluxVersion) -> bool {
        self.data().releases.contains(release)
    }

    /// Installed only on request (`flux install --components-extra`).
    pub fn is_optional(self) -> bool {
        self.data().optional
    }

    /// The controller's `--concurrent` default: how many objects it reconciles at once.
    pub fn concurrent(self) -> u32 {
        self.data().concurrent
    }

    /// The controllers `release` runs: the default ones, plus the optional ones when asked for.
    pub fn in_release(release: FluxVersion, optional: &[Controller]) -> Vec<Controller> {
        Controller::ALL
            .into_iter()
            .filter(|c| c.exists_in(release) && (!c.is_optional() || optional.contains(c)))
            .collect()
    }

    /// This controller's version in `release` (`v1.9.4`), as its image tag says.
    pub fn version_in(self, release: FluxVersion) -> Option<&'static str> {
        catalog::controller_version(release, self.name())
    }
}

/// Where a kind keeps the revision it last reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionSource {
    /// `status.artifact.revision` (sources).
    Artifact,
    /// `status.lastAppliedRevision` (Kustomization).
    LastApplied,
    /// `status.history[0].chartVersion`, falling back to `status.lastAttemptedRevision`
    /// (HelmRelease v2 has no lastAppliedRevision; `flux get hr` reads it this way).
    HelmHistory,
    /// `status.latestRef.tag` (v1) or the tag of `status.latestImage` (v1beta2) (ImagePolicy).
    LatestImage,
    /// `status.lastPushCommit` (ImageUpdateAutomation).
    LastPushCommit,
    /// `status.lastScanResult.latestTags[0]` (ImageRepository).
    LatestTag,
    /// `status.observedSourcesDigest` (ArtifactGenerator): what its artifacts were built from.
    SourcesDigest,
    /// No revision (Alert, Provider, Receiver).
    None,
}

impl RevisionSource {
    fn from_data(name: &str) -> RevisionSource {
        match name {
            "artifact" => RevisionSource::Artifact,
            "lastApplied" => RevisionSource::LastApplied,
            "helmHistory" => RevisionSource::HelmHistory,
            "latestImage" => RevisionSource::LatestImage,
            "lastPushCommit" => RevisionSource::LastPushCommit,
            "latestTag" => RevisionSource::LatestTag,
            "sourcesDigest" => RevisionSource::SourcesDigest,
            "none" => RevisionSource::None,
            other => panic!("model/data/flux.yaml: unknown revision source {other:?}"),
        }
    }
}

/// How one kind refers to another object it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefField {
    /// `spec.sourceRef {kind, name, namespace?}`.
    SourceRef,
    /// `spec.chart.spec.sourceRef`: the HelmRelease's chart template; source-controller makes a
    /// HelmChart named `<release namespace>-<release name>` in the source's namespace.
    ChartTemplateSourceRef,
    /// `spec.chartRef {kind: OCIRepository|HelmChart|ExternalArtifact, name, namespace?}`.
    ChartRef,
    /// `spec.dependsOn[] {name, namespace?}`, same kind.
    DependsOn,
    /// `spec.imageRepositoryRef {name, namespace?}` (ImagePolicy).
    ImageRepositoryRef,
    /// `spec.providerRef {name}` (Alert), same namespace.
    ProviderRef,
    /// `spec.sources[] {alias, kind, name, namespace?}` (ArtifactGenerator).
    Sources,
}

impl RefField {
    fn from_data(name: &str) -> RefField {
        match name {
            "sourceRef" => RefField::SourceRef,
            "chartTemplateSourceRef" => RefField::ChartTemplateSourceRef,
            "chartRef" => RefField::ChartRef,
            "dependsOn" => RefField::DependsOn,
            "imageRepositoryRef" => RefField::ImageRepositoryRef,
            "providerRef" => RefField::ProviderRef,
            "sources" => RefField::Sources,
            other => panic!("model/data/flux.yaml: unknown reference field {other:?}"),
        }
    }
}

/// A CRD additionalPrinterColumn, as Flux's CRDs declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: &'static str,
    pub type_: &'static str,
    pub json_path: &'static str,
    /// 0 for the default view, 1 for `-o wide` only.
    pub priority: i32,
}

/// What one release serves of a kind.
#[derive(Debug, Clone)]
struct ReleaseView {
    /// Served versions in Kubernetes' priority order (GA before beta before alpha, higher first):
    /// the order discovery lists them and kubectl picks from.
    served: Vec<&'static str>,
    storage: &'static str,
    deprecated: Vec<&'static str>,
    short_names: Vec<&'static str>,
    categories: Vec<&'static str>,
    /// Per served version: printer columns and whether `/status` is a subresource.
    columns: Vec<(&'static str, Vec<PrinterColumn>, bool)>,
}

/// One Flux kind and what each release serves of it.
#[derive(Debug, Clone)]
pub struct KindInfo {
    pub kind: &'static str,
    pub group: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub controller: Controller,
    /// False for kinds with no status at all (Alert and Provider v1beta3).
    pub has_status: bool,
    pub revision: RevisionSource,
    pub refs: &'static [RefField],
    /// Source kinds produce artifacts that other kinds consume.
    pub is_source: bool,
    /// Every short name any release gives the kind (kubectl resolves them).
    pub short_names: &'static [&'static str],
    releases: Vec<(FluxVersion, ReleaseView)>,
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

/// Kubernetes' version priority (apimachinery `CompareKubeAwareVersionStrings`): GA versions
/// first (higher major first), then betas, then alphas (higher major, then higher minor first),
/// then anything else alphabetically. Ascending order of this key is priority order.
pub fn version_priority(version: &str) -> (u8, i64, i64, String) {
    let parsed = version.strip_prefix('v').and_then(|rest| {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major: i64 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((0, -major, 0));
        }
        for (level, word) in [(1u8, "beta"), (2, "alpha")] {
            if let Some(n) = tail.strip_prefix(word) {
                let minor: i64 = n.parse().ok()?;
                return Some((level, -major, -minor));
            }
        }
        None
    });
    match parsed {
        Some((level, major, minor)) => (level, major, minor, String::new()),
        None => (3, 0, 0, version.to_string()),
    }
}

impl KindInfo {
    fn from_data(data: &'static catalog::KindData) -> KindInfo {
        let mut releases = Vec::new();
        for &release in catalog::releases() {
            let mut served: Vec<&catalog::KindVersionData> = data
                .versions
                .iter()
                .filter(|v| v.served.contains(release))
                .collect();
            if served.is_empty() {
                continue;
            }
            served.sort_by_key(|v| version_priority(&v.name));
            let storage = served
                .iter()
                .find(|v| v.storage.as_ref().is_some_and(|s| s.contains(release)))
                .map_or(served[0].name.as_str(), |v| v.name.as_str());
            let columns = served
                .iter()
                .map(|v| {
                    let ids = v.columns.at(release).map(Vec::as_slice).unwrap_or_default();
                    let cols = ids
                        .iter()
                        .map(|id| {
                            let c = catalog::column(id);
                            PrinterColumn {
                                name: c.name.as_str(),
                                type_: c.type_.as_str(),
                                json_path: c.json_path.as_str(),
                                priority: c.priority,
                            }
                        })
                        .collect();
                    (v.name.as_str(), cols, v.status.unwrap_or(true))
                })
                .collect();
            let names = |by: &'static catalog::ByRelease<Vec<String>>| -> Vec<&'static str> {
                by.at(release)
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect()
            };
            releases.push((
                release,
                ReleaseView {
                    served: served.iter().map(|v| v.name.as_str()).collect(),
                    storage,
                    deprecated: served
                        .iter()
                        .filter(|v| v.deprecated.as_ref().is_some_and(|d| d.contains(release)))
                        .map(|v| v.name.as_str())
                        .collect(),
                    short_names: names(&data.short_names),
                    categories: names(&data.categories),
                    columns,
                },
            ));
        }
        let mut short_names: Vec<&'static str> = data
            .short_names
            .entries()
            .flat_map(|(_, names)| names.iter().map(String::as_str))
            .collect();
        short_names.sort_unstable();
        short_names.dedup();
        let has_status = releases
            .last()
            .and_then(|(_, view)| view.columns.iter().find(|(v, _, _)| *v == view.storage))
            .is_none_or(|(_, _, status)| *status);
        KindInfo {
            kind: data.kind.as_str(),
            group: data.group.as_str(),
            plural: data.plural.as_str(),
            singular: Box::leak(data.kind.to_lowercase().into_boxed_str()),
            controller: Controller::from_name(&data.controller).unwrap_or_else(|| {
                panic!(
                    "model/data/flux.yaml: {}: unknown controller {}",
                    data.kind, data.controller
                )
            }),
            has_status,
            revision: RevisionSource::from_data(&data.revision),
            refs: leak(data.refs.iter().map(|r| RefField::from_data(r)).collect()),
            is_source: data.source,
            short_names: leak(short_names),
            releases,
        }
    }

    fn view(&self, release: FluxVersion) -> Option<&ReleaseView> {
        self.releases
            .iter()
            .find(|(r, _)| *r == release)
            .map(|(_, v)| v)
    }

    /// The versions `release` serves for this kind, in Kubernetes' priority order (the first is
    /// what kubectl reads); empty when the kind does not exist in that release.
    pub fn served_versions(&self, release: FluxVersion) -> &[&'static str] {
        self.view(release).map_or(&[], |v| v.served.as_slice())
    }

    /// The version kubectl and discovery prefer in `release` (the highest-priority served one).
    pub fn preferred_version(&self, release: FluxVersion) -> Option<&'static str> {
        self.served_versions(release).first().copied()
    }

    /// The version objects are stored at in `release`.
    pub fn storage_version(&self, release: FluxVersion) -> Option<&'static str> {
        self.view(release).map(|v| v.storage)
    }

    pub fn exists_in(&self, release: FluxVersion) -> bool {
        self.view(release).is_some()
    }

    /// The first known release that serves the kind.
    pub fn first_release(&self) -> Option<FluxVersion> {
        self.releases.first().map(|(r, _)| *r)
    }

    /// `group/version` for the preferred version of `release`.
    pub fn api_version(&self, release: FluxVersion) -> Option<String> {
        self.preferred_version(release)
            .map(|v| format!("{}/{v}", self.group))
    }

    /// Whether the CRD of `release` marks `version` deprecated.
    pub fn is_deprecated_version(&self, release: FluxVersion, version: &str) -> bool {
        self.view(release)
            .is_some_and(|v| v.deprecated.contains(&version))
    }

    /// The CRD's `deprecationWarning` for `version` in `release`, which the API server sends
    /// with every request at that version.
    pub fn deprecation_warning(&self, release: FluxVersion, version: &str) -> Option<String> {
        let view = self.view(release)?;
        view.deprecated.contains(&version).then(|| {
            format!(
                "{version} {} is deprecated, upgrade to {}",
                self.kind, view.storage
            )
        })
    }

    /// The short names the CRD of `release` declares.
    pub fn short_names_in(&self, release: FluxVersion) -> &[&'static str] {
        self.view(release).map_or(&[], |v| v.short_names.as_slice())
    }

    /// The categories (`kubectl get fluxcd`) the CRD of `release` declares.
    pub fn categories_in(&self, release: FluxVersion) -> &[&'static str] {
        self.view(release).map_or(&[], |v| v.categories.as_slice())
    }

    /// The printer columns of `version` in `release`.
    pub fn printer_columns(&self, release: FluxVersion, version: &str) -> &[PrinterColumn] {
        self.view(release)
            .and_then(|v| v.columns.iter().find(|(name, _, _)| *name == version))
            .map_or(&[], |(_, cols, _)| cols.as_slice())
    }

    /// Whether `version` of `release` has the status subresource.
    pub fn has_status_subresource(&self, release: FluxVersion, version: &str) -> bool {
        self.view(release)
            .and_then(|v| v.columns.iter().find(|(name, _, _)| *name == version))
            .is_some_and(|(_, _, status)| *status)
    }

    /// Installed only with an optional controller (ArtifactGenerator needs source-watcher).
    pub fn is_optional(&self) -> bool {
        self.controller.is_optional()
    }

    /// `kustomizations.kustomize.toolkit.fluxcd.io`, as kubectl and RBAC spell a resource.
    pub fn resource_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

/// Every Flux kind, in the order `flux get all` prints them (model/data/flux.yaml).
pub static KINDS: LazyLock<Vec<KindInfo>> = LazyLock::new(|| {
    catalog::DATA_FILE
        .kinds
        .iter()
        .map(KindInfo::from_data)
        .collect()
});

/// Looks a kind up by its Kind, plural, singular or short name (case-insensitive for the latter
/// three, as kubectl resolves them); `Kind.group` and `plural.group` forms are accepted too.
pub fn lookup(name: &str) -> Option<&'static KindInfo> {
    let (base, group) = match name.split_once('.') {
        Some((b, g)) => (b, Some(g)),
        None => (name, None),
    };
    let lower = base.to_ascii_lowercase();
    KINDS.iter().find(|k| {
        group.is_none_or(|g| g == k.group)
            && (k.kind == base
                || k.kind.eq_ignore_ascii_case(base)
                || k.plural == lower
                || k.singular == lower
                || k.short_names.contains(&lower.as_str()))
    })
}

/// Looks a kind up by its exact Kind (as written in `kind:` and in references).
pub fn by_kind(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The kinds that exist in `release`, in `flux get all` order, those of optional controllers
/// (ArtifactGenerator) included.
pub fn kinds_in(release: FluxVersion) -> impl Iterator<Item = &'static KindInfo> {
    KINDS.iter().filter(move |k| k.exists_in(release))
}

/// Kinds a `spec.sourceRef` of `kind` may name, as Flux's API validation allows.
pub fn allowed_source_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        "Kustomization" => &[
            "GitRepository",
            "OCIRepository",
            "Bucket",
            "ExternalArtifact",
        ],
        "HelmChart" => &["GitRepository", "HelmRepository", "Bucket"],
        "HelmRelease" => &["GitRepository", "HelmRepository", "Bucket"],
        "ImageUpdateAutomation" => &["GitRepository"],
        // An ExternalArtifact's spec.sourceRef names its producer.
        "ExternalArtifact" => &["ArtifactGenerator"],
        // source-watcher's ArtifactGenerator reads these sources' artifacts.
        "ArtifactGenerator" => &[
            "GitRepository",
            "OCIRepository",
            "Bucket",
            "HelmChart",
            "ExternalArtifact",
        ],
        _ => &[],
    }
}

/// Kinds a HelmRelease `spec.chartRef` may name.
pub const CHART_REF_KINDS: &[&str] = &["OCIRepository", "HelmChart", "ExternalArtifact"];

/// The kinds whose artifacts (or scan results) `kind` consumes: a new revision there makes
/// Flux reconcile the consumer at once.
pub fn upstream_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        "Kustomization" | "HelmChart" | "ImageUpdateAutomation" | "ArtifactGenerator" | "ExternalArtifact" => {
            allowed_source_kinds(kind)
        }
        // The chart template's generated HelmChart, or a chartRef.
        "HelmRelease" => CHART_REF_KINDS,
        "ImagePolicy" => &["ImageRepository"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> FluxVersion {
        FluxVersion::new(2, minor)
    }

    #[test]
    fn versions_follow_flux_releases() {
        let oci = by_kind("OCIRepository").unwrap();
        assert_eq!(oci.preferred_version(v(4)), Some("v1beta2"));
        assert_eq!(oci.preferred_version(v(6)), Some("v1"));
        assert!(oci.is_deprecated_version(v(6), "v1beta2"));
        assert_eq!(oci.served_versions(v(8)), ["v1"]);
        let hr = by_kind("HelmRelease").unwrap();
        assert_eq!(hr.preferred_version(v(2)), Some("v2beta2"));
        assert_eq!(hr.preferred_version(v(7)), Some("v2"));
        assert!(hr.is_deprecated_version(v(4), "v2beta1"));
        assert!(!hr.is_deprecated_version(v(4), "v2"));
        assert_eq!(hr.served_versions(v(8)), ["v2"]);
        let ea = by_kind("ExternalArtifact").unwrap();
        assert!(!ea.exists_in(v(6)));
        assert!(ea.exists_in(v(7)));
        assert_eq!(ea.short_names_in(v(8)), &[] as &[&str]);
        assert_eq!(ea.short_names_in(v(9)), ["ea"]);
        assert_eq!(
            by_kind("ImagePolicy").unwrap().preferred_version(v(7)),
            Some("v1")
        );
        assert_eq!(
            by_kind("Bucket").unwrap().preferred_version(v(3)),
            Some("v1beta2")
        );
        // An older version served alongside without being deprecated (image-reflector's v1beta1).
        let policy = by_kind("ImagePolicy").unwrap();
        assert!(!policy.is_deprecated_version(v(4), "v1beta1"));
        assert_eq!(policy.served_versions(v(9)), ["v1"]);
        let alert = by_kind("Alert").unwrap();
        assert_eq!(alert.served_versions(v(7)), ["v1beta3", "v1beta2"]);
        assert_eq!(alert.served_versions(v(9)), ["v1beta3"]);
        assert!(!alert.has_status);
        assert!(!alert.has_status_subresource(v(7), "v1beta3"));
        assert!(alert.has_status_subresource(v(7), "v1beta2"));
        assert_eq!(
            alert.deprecation_warning(v(7), "v1beta2").as_deref(),
            Some("v1beta2 Alert is deprecated, upgrade to v1beta3")
        );
    }

    #[test]
    fn priority_order_is_kubernetes_order() {
        let mut versions = vec![
            "v1beta1", "v1", "v2beta2", "v1beta3", "v1alpha1", "v2", "foo",
        ];
        versions.sort_by_key(|v| version_priority(v));
        assert_eq!(
            versions,
            ["v2", "v1", "v2beta2", "v1beta3", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn names_columns_and_categories_per_release() {
        let repo = by_kind("ImageRepository").unwrap();
        let names = |cols: &[PrinterColumn]| cols.iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(
            names(repo.printer_columns(v(6), "v1beta2")),
            ["Last scan", "Tags"]
        );
        assert_eq!(
            names(repo.printer_columns(v(7), "v1")),
            ["Image", "Tags", "Ready", "Status", "Last scan", "Age"]
        );
        assert_eq!(repo.printer_columns(v(7), "v1")[4].priority, 1);
        assert_eq!(repo.short_names_in(v(6)), &[] as &[&str]);
        assert_eq!(repo.short_names_in(v(7)), ["imgrepo", "imagerepo"]);
        assert_eq!(repo.categories_in(v(8)), &[] as &[&str]);
        assert_eq!(repo.categories_in(v(9)), ["all", "fluxcd", "fluxcd-images"]);
        let ag = by_kind("ArtifactGenerator").unwrap();
        assert_eq!(ag.controller, Controller::SourceWatcher);
        assert!(ag.is_optional() && ag.exists_in(v(7)) && !ag.exists_in(v(6)));
    }

    #[test]
    fn controllers_per_release() {
        assert_eq!(Controller::in_release(v(6), &[]).len(), 6);
        assert_eq!(Controller::in_release(v(7), &[]).len(), 6);
        assert_eq!(
            Controller::in_release(v(7), &[Controller::SourceWatcher]).len(),
            7
        );
        assert_eq!(
            Controller::in_release(v(6), &[Controller::SourceWatcher]).len(),
            6
        );
        assert_eq!(Controller::Helm.version_in(v(9)), Some("v1.6.3"));
        assert_eq!(Controller::Source.concurrent(), 2);
    }

    #[test]
    fn upstreams_are_what_each_kind_consumes() {
        assert!(upstream_kinds("Kustomization").contains(&"GitRepository"));
        assert!(!upstream_kinds("Kustomization").contains(&"HelmRepository"));
        assert_eq!(upstream_kinds("HelmRelease"), CHART_REF_KINDS);
        assert_eq!(upstream_kinds("ImagePolicy"), &["ImageRepository"]);
        assert!(upstream_kinds("GitRepository").is_empty());
    }

    #[test]
    fn lookup_resolves_kubectl_spellings() {
        assert_eq!(lookup("ks").unwrap().kind, "Kustomization");
        assert_eq!(lookup("helmreleases").unwrap().kind, "HelmRelease");
        assert_eq!(lookup("GitRepository").unwrap().kind, "GitRepository");
        assert_eq!(lookup("gitrepository").unwrap().kind, "GitRepository");
        assert_eq!(
            lookup("kustomizations.kustomize.toolkit.fluxcd.io")
                .unwrap()
                .kind,
            "Kustomization"
        );
        assert_eq!(lookup("imgpol").unwrap().kind, "ImagePolicy");
        assert_eq!(lookup("ag").unwrap().kind, "ArtifactGenerator");
        assert!(lookup("deployments").is_none());
    }

    #[test]
    fn every_release_has_the_core_kinds() {
        for release in FluxVersion::all() {
            let kinds: Vec<_> = kinds_in(release).map(|k| k.kind).collect();
            for must in [
                "GitRepository",
                "Kustomization",
                "HelmRelease",
                "Alert",
                "Provider",
            ] {
                assert!(kinds.contains(&must), "{must} missing in {release}");
            }
        }
    }
}
