//! The Flux kinds catalog as data: API groups, versions served per Flux release, plurals, short
//! names, printer columns, owning controller, and where each kind keeps its revision and references.
//! Code that lists, judges or prints Flux objects loops over this table instead of naming kinds.

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
}

impl Controller {
    pub const ALL: [Controller; 6] = [
        Controller::Source,
        Controller::Kustomize,
        Controller::Helm,
        Controller::Notification,
        Controller::ImageReflector,
        Controller::ImageAutomation,
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
        }
    }

    pub fn from_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Where a kind keeps the revision it last reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionSource {
    /// `status.artifact.revision` (sources).
    Artifact,
    /// `status.lastAppliedRevision` (Kustomization).
    LastApplied,
    /// `status.history[0].chartVersion`, falling back to `status.lastAppliedRevision` (HelmRelease).
    HelmHistory,
    /// `status.latestRef.tag` (v1) or the tag of `status.latestImage` (v1beta2) (ImagePolicy).
    LatestImage,
    /// `status.lastPushCommit` (ImageUpdateAutomation).
    LastPushCommit,
    /// `status.lastScanResult.latestTags[0]` (ImageRepository).
    LatestTag,
    /// No revision (Alert, Provider, Receiver).
    None,
}

/// How one kind refers to another object it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefField {
    /// `spec.sourceRef {kind, name, namespace?}`.
    SourceRef,
    /// `spec.chart.spec.sourceRef`: the HelmRelease's chart template; source-controller makes a
    /// HelmChart named `<release namespace>-<release name>` in the source's namespace.
    ChartTemplateSourceRef,
    /// `spec.chartRef {kind: OCIRepository|HelmChart, name, namespace?}`.
    ChartRef,
    /// `spec.dependsOn[] {name, namespace?}`, same kind.
    DependsOn,
    /// `spec.imageRepositoryRef {name, namespace?}` (ImagePolicy).
    ImageRepositoryRef,
    /// `spec.providerRef {name}` (Alert), same namespace.
    ProviderRef,
}

/// The versions a release serves for a kind, from `since` until the next span. Preferred first.
#[derive(Debug, Clone, Copy)]
pub struct VersionSpan {
    pub since: FluxVersion,
    pub served: &'static [&'static str],
}

/// A CRD additionalPrinterColumn, as Flux's CRDs declare it.
#[derive(Debug, Clone, Copy)]
pub struct PrinterColumn {
    pub name: &'static str,
    pub type_: &'static str,
    pub json_path: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub kind: &'static str,
    pub group: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub controller: Controller,
    pub versions: &'static [VersionSpan],
    /// False for kinds with no status at all (Alert and Provider v1beta3).
    pub has_status: bool,
    pub revision: RevisionSource,
    pub refs: &'static [RefField],
    /// Source kinds produce artifacts that other kinds consume.
    pub is_source: bool,
    pub printer_columns: &'static [PrinterColumn],
}

const fn v(minor: u32) -> FluxVersion {
    FluxVersion::new(2, minor)
}

const AGE: PrinterColumn = PrinterColumn { name: "Age", type_: "date", json_path: ".metadata.creationTimestamp" };
const READY: PrinterColumn = PrinterColumn {
    name: "Ready",
    type_: "string",
    json_path: ".status.conditions[?(@.type==\"Ready\")].status",
};
const STATUS: PrinterColumn = PrinterColumn {
    name: "Status",
    type_: "string",
    json_path: ".status.conditions[?(@.type==\"Ready\")].message",
};
const URL: PrinterColumn = PrinterColumn { name: "URL", type_: "string", json_path: ".spec.url" };

const SOURCE: &str = "source.toolkit.fluxcd.io";
const IMAGE: &str = "image.toolkit.fluxcd.io";
const NOTIFICATION: &str = "notification.toolkit.fluxcd.io";

/// Every Flux kind, in the order `flux get all` prints them.
pub static KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "OCIRepository",
        group: SOURCE,
        plural: "ocirepositories",
        singular: "ocirepository",
        short_names: &["ocirepo"],
        controller: Controller::Source,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta2"] },
            VersionSpan { since: v(6), served: &["v1", "v1beta2"] },
        ],
        has_status: true,
        revision: RevisionSource::Artifact,
        refs: &[],
        is_source: true,
        printer_columns: &[URL, READY, STATUS, AGE],
    },
    KindInfo {
        kind: "Bucket",
        group: SOURCE,
        plural: "buckets",
        singular: "bucket",
        short_names: &[],
        controller: Controller::Source,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta2", "v1beta1"] },
            VersionSpan { since: v(4), served: &["v1", "v1beta2", "v1beta1"] },
        ],
        has_status: true,
        revision: RevisionSource::Artifact,
        refs: &[],
        is_source: true,
        printer_columns: &[
            PrinterColumn { name: "Endpoint", type_: "string", json_path: ".spec.endpoint" },
            AGE,
            READY,
            STATUS,
        ],
    },
    KindInfo {
        kind: "GitRepository",
        group: SOURCE,
        plural: "gitrepositories",
        singular: "gitrepository",
        short_names: &["gitrepo"],
        controller: Controller::Source,
        versions: &[VersionSpan { since: v(2), served: &["v1", "v1beta2", "v1beta1"] }],
        has_status: true,
        revision: RevisionSource::Artifact,
        refs: &[],
        is_source: true,
        printer_columns: &[URL, AGE, READY, STATUS],
    },
    KindInfo {
        kind: "HelmRepository",
        group: SOURCE,
        plural: "helmrepositories",
        singular: "helmrepository",
        short_names: &["helmrepo"],
        controller: Controller::Source,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta2", "v1beta1"] },
            VersionSpan { since: v(3), served: &["v1", "v1beta2", "v1beta1"] },
        ],
        has_status: true,
        revision: RevisionSource::Artifact,
        refs: &[],
        is_source: true,
        printer_columns: &[URL, AGE, READY, STATUS],
    },
    KindInfo {
        kind: "HelmChart",
        group: SOURCE,
        plural: "helmcharts",
        singular: "helmchart",
        short_names: &["hc"],
        controller: Controller::Source,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta2", "v1beta1"] },
            VersionSpan { since: v(3), served: &["v1", "v1beta2", "v1beta1"] },
        ],
        has_status: true,
        revision: RevisionSource::Artifact,
        refs: &[RefField::SourceRef],
        is_source: true,
        printer_columns: &[
            PrinterColumn { name: "Chart", type_: "string", json_path: ".spec.chart" },
            PrinterColumn { name: "Version", type_: "string", json_path: ".spec.version" },
            PrinterColumn { name: "Source Kind", type_: "string", json_path: ".spec.sourceRef.kind" },
            PrinterColumn { name: "Source Name", type_: "string", json_path: ".spec.sourceRef.name" },
            AGE,
            READY,
            STATUS,
        ],
    },
    KindInfo {
        kind: "ExternalArtifact",
        group: SOURCE,
        plural: "externalartifacts",
        singular: "externalartifact",
        short_names: &[],
        controller: Controller::Source,
        versions: &[VersionSpan { since: v(7), served: &["v1"] }],
        has_status: true,
        revision: RevisionSource::Artifact,
        refs: &[],
        is_source: true,
        printer_columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "ImageRepository",
        group: IMAGE,
        plural: "imagerepositories",
        singular: "imagerepository",
        short_names: &[],
        controller: Controller::ImageReflector,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta2", "v1beta1"] },
            VersionSpan { since: v(7), served: &["v1", "v1beta2"] },
        ],
        has_status: true,
        revision: RevisionSource::LatestTag,
        refs: &[],
        is_source: false,
        printer_columns: &[
            PrinterColumn { name: "Last scan", type_: "string", json_path: ".status.lastScanResult.scanTime" },
            PrinterColumn { name: "Tags", type_: "string", json_path: ".status.lastScanResult.tagCount" },
            READY,
            STATUS,
            AGE,
        ],
    },
    KindInfo {
        kind: "ImagePolicy",
        group: IMAGE,
        plural: "imagepolicies",
        singular: "imagepolicy",
        short_names: &[],
        controller: Controller::ImageReflector,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta2", "v1beta1"] },
            VersionSpan { since: v(7), served: &["v1", "v1beta2"] },
        ],
        has_status: true,
        revision: RevisionSource::LatestImage,
        refs: &[RefField::ImageRepositoryRef],
        is_source: false,
        printer_columns: &[
            PrinterColumn { name: "LatestImage", type_: "string", json_path: ".status.latestImage" },
            READY,
            STATUS,
            AGE,
        ],
    },
    KindInfo {
        kind: "ImageUpdateAutomation",
        group: IMAGE,
        plural: "imageupdateautomations",
        singular: "imageupdateautomation",
        short_names: &[],
        controller: Controller::ImageAutomation,
        versions: &[
            VersionSpan { since: v(2), served: &["v1beta1"] },
            VersionSpan { since: v(3), served: &["v1beta2", "v1beta1"] },
            VersionSpan { since: v(7), served: &["v1", "v1beta2"] },
        ],
        has_status: true,
        revision: RevisionSource::LastPushCommit,
        refs: &[RefField::SourceRef],
        is_source: false,
        printer_columns: &[
            PrinterColumn { name: "Last run", type_: "string", json_path: ".status.lastAutomationRunTime" },
            READY,
            STATUS,
            AGE,
        ],
    },
    KindInfo {
        kind: "HelmRelease",
        group: "helm.toolkit.fluxcd.io",
        plural: "helmreleases",
        singular: "helmrelease",
        short_names: &["hr"],
        controller: Controller::Helm,
        versions: &[
            VersionSpan { since: v(2), served: &["v2beta2", "v2beta1"] },
            VersionSpan { since: v(3), served: &["v2", "v2beta2", "v2beta1"] },
        ],
        has_status: true,
        revision: RevisionSource::HelmHistory,
        refs: &[RefField::ChartTemplateSourceRef, RefField::ChartRef, RefField::DependsOn],
        is_source: false,
        printer_columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "Kustomization",
        group: "kustomize.toolkit.fluxcd.io",
        plural: "kustomizations",
        singular: "kustomization",
        short_names: &["ks"],
        controller: Controller::Kustomize,
        versions: &[VersionSpan { since: v(2), served: &["v1", "v1beta2", "v1beta1"] }],
        has_status: true,
        revision: RevisionSource::LastApplied,
        refs: &[RefField::SourceRef, RefField::DependsOn],
        is_source: false,
        printer_columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "Receiver",
        group: NOTIFICATION,
        plural: "receivers",
        singular: "receiver",
        short_names: &[],
        controller: Controller::Notification,
        versions: &[VersionSpan { since: v(2), served: &["v1", "v1beta2", "v1beta1"] }],
        has_status: true,
        revision: RevisionSource::None,
        refs: &[],
        is_source: false,
        printer_columns: &[AGE, READY, STATUS],
    },
    KindInfo {
        kind: "Provider",
        group: NOTIFICATION,
        plural: "providers",
        singular: "provider",
        short_names: &[],
        controller: Controller::Notification,
        versions: &[VersionSpan { since: v(2), served: &["v1beta3", "v1beta2", "v1beta1"] }],
        has_status: false,
        revision: RevisionSource::None,
        refs: &[],
        is_source: false,
        printer_columns: &[AGE],
    },
    KindInfo {
        kind: "Alert",
        group: NOTIFICATION,
        plural: "alerts",
        singular: "alert",
        short_names: &[],
        controller: Controller::Notification,
        versions: &[VersionSpan { since: v(2), served: &["v1beta3", "v1beta2", "v1beta1"] }],
        has_status: false,
        revision: RevisionSource::None,
        refs: &[RefField::ProviderRef],
        is_source: false,
        printer_columns: &[AGE],
    },
];

impl KindInfo {
    /// The versions `release` serves for this kind, preferred first; empty when the kind does not
    /// exist in that release.
    pub fn served_versions(&self, release: FluxVersion) -> &'static [&'static str] {
        self.versions
            .iter()
            .rev()
            .find(|span| span.since <= release)
            .map_or(&[], |span| span.served)
    }

    /// The preferred (storage) version in `release`.
    pub fn preferred_version(&self, release: FluxVersion) -> Option<&'static str> {
        self.served_versions(release).first().copied()
    }

    pub fn exists_in(&self, release: FluxVersion) -> bool {
        !self.served_versions(release).is_empty()
    }

    /// `group/version` for the preferred version of `release`.
    pub fn api_version(&self, release: FluxVersion) -> Option<String> {
        self.preferred_version(release).map(|v| format!("{}/{v}", self.group))
    }

    /// Whether `version` is served but not preferred in `release` (a deprecated API).
    pub fn is_deprecated_version(&self, release: FluxVersion, version: &str) -> bool {
        let served = self.served_versions(release);
        served.first() != Some(&version) && served.contains(&version)
    }

    /// `kustomizations.kustomize.toolkit.fluxcd.io`, as kubectl and RBAC spell a resource.
    pub fn resource_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

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

/// The kinds that exist in `release`, in `flux get all` order.
pub fn kinds_in(release: FluxVersion) -> impl Iterator<Item = &'static KindInfo> {
    KINDS.iter().filter(move |k| k.exists_in(release))
}

/// Kinds a `spec.sourceRef` of `kind` may name, as Flux's API validation allows.
pub fn allowed_source_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        "Kustomization" => &["GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"],
        "HelmChart" => &["GitRepository", "HelmRepository", "Bucket"],
        "HelmRelease" => &["GitRepository", "HelmRepository", "Bucket"],
        "ImageUpdateAutomation" => &["GitRepository"],
        _ => &[],
    }
}

/// Kinds a HelmRelease `spec.chartRef` may name.
pub const CHART_REF_KINDS: &[&str] = &["OCIRepository", "HelmChart", "ExternalArtifact"];

/// The kinds whose artifacts (or scan results) `kind` consumes: a new revision there makes
/// Flux reconcile the consumer at once.
pub fn upstream_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        "Kustomization" | "HelmChart" | "ImageUpdateAutomation" => allowed_source_kinds(kind),
        // The chart template's generated HelmChart, or a chartRef.
        "HelmRelease" => CHART_REF_KINDS,
        "ImagePolicy" => &["ImageRepository"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_flux_releases() {
        let oci = by_kind("OCIRepository").unwrap();
        assert_eq!(oci.preferred_version(v(4)), Some("v1beta2"));
        assert_eq!(oci.preferred_version(v(6)), Some("v1"));
        let hr = by_kind("HelmRelease").unwrap();
        assert_eq!(hr.preferred_version(v(2)), Some("v2beta2"));
        assert_eq!(hr.preferred_version(v(7)), Some("v2"));
        assert!(hr.is_deprecated_version(v(4), "v2beta1"));
        assert!(!hr.is_deprecated_version(v(4), "v2"));
        let ea = by_kind("ExternalArtifact").unwrap();
        assert!(!ea.exists_in(v(6)));
        assert!(ea.exists_in(v(7)));
        assert_eq!(by_kind("ImagePolicy").unwrap().preferred_version(v(7)), Some("v1"));
        assert_eq!(by_kind("Bucket").unwrap().preferred_version(v(3)), Some("v1beta2"));
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
        assert_eq!(lookup("kustomizations.kustomize.toolkit.fluxcd.io").unwrap().kind, "Kustomization");
        assert!(lookup("deployments").is_none());
    }

    #[test]
    fn every_release_has_the_core_kinds() {
        for release in FluxVersion::all() {
            let kinds: Vec<_> = kinds_in(release).map(|k| k.kind).collect();
            for must in ["GitRepository", "Kustomization", "HelmRelease", "Alert", "Provider"] {
                assert!(kinds.contains(&must), "{must} missing in {release}");
            }
        }
    }
}
