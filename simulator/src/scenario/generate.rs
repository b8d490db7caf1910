//! A generator of large, realistic scenarios: a platform in `flux-system` and many tenant
//! namespaces, each with its sources, Kustomizations and HelmReleases (dependsOn chains, no
//! cycles), image automation, and Alerts, Providers and Receivers, plus a handful of faults.
//! Deterministic per seed; used for load tests and benchmarks.

use std::fmt::Write as _;

use model::FluxVersion;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::API_VERSION;

const TEAMS: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "catalog",
    "identity",
    "billing",
    "ledger",
    "mobile",
    "web",
    "data",
    "ml",
    "platform-apps",
    "growth",
    "ads",
    "support",
    "media",
    "maps",
    "messaging",
    "risk",
    "edge",
];
const APPS: &[&str] = &[
    "frontend",
    "backend",
    "api",
    "worker",
    "gateway",
    "auth",
    "cache",
    "queue",
    "scheduler",
    "notifier",
    "reporting",
    "indexer",
    "ingest",
    "export",
    "admin",
    "webhooks",
    "cron",
    "metrics",
    "profile",
    "orders",
];
const CHARTS: &[(&str, &str)] = &[
    ("podinfo", "6.x"),
    ("redis", "19.x"),
    ("postgresql", "15.x"),
    ("rabbitmq", "14.x"),
    ("memcached", "7.x"),
    ("kafka", "29.x"),
    ("nginx", "18.x"),
    ("mongodb", "15.x"),
];
const PROVIDERS: &[&str] = &["slack", "msteams", "discord", "generic", "alertmanager"];
const INTERVALS_SOURCE: &[&str] = &["1m", "1m", "5m", "10m"];
const INTERVALS_APPLY: &[&str] = &["5m", "10m", "10m", "30m", "1h"];

/// The fewest objects `generate` makes: the platform in flux-system and one tenant.
pub const MIN_OBJECTS: usize = 11;
/// The most objects `generate` makes: twice the 100k that `make bench` serves.
pub const MAX_OBJECTS: usize = 200_000;

/// One object as the generator knows it: enough to aim faults.
struct Made {
    kind: &'static str,
    namespace: String,
    name: String,
    suspended: bool,
}

struct Gen {
    rng: ChaCha8Rng,
    out: String,
    made: Vec<Made>,
}

impl Gen {
    /// Writes one resource list item; `spec` is a YAML flow mapping.
    fn resource(&mut self, kind: &'static str, namespace: &str, name: &str, interval: Option<&str>, spec: &str) {
        let out = &mut self.out;
        let _ = write!(
            out,
            "    - kind: {kind}\n      name: {name}\n      namespace: {namespace}\n"
        );
        if let Some(i) = interval {
            let _ = writeln!(out, "      interval: {i}");
        }
        let suspended = interval.is_some() && self.rng.random_bool(0.01);
        if suspended {
            out.push_str("      suspend: true\n");
        }
        let _ = writeln!(out, "      labels: {{app.kubernetes.io/part-of: {namespace}}}");
        let _ = writeln!(out, "      spec: {spec}");
        self.made.push(Made {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
            suspended,
        });
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from.choose(&mut self.rng).copied().unwrap_or_default()
    }

    fn platform(&mut self) {
        let ns = "flux-system";
        self.resource(
            "GitRepository",
            ns,
            "flux-system",
            Some("1m"),
            "{url: ssh://git@github.com/acme/fleet, ref: {branch: main}, secretRef: {name: flux-system}}",
        );
        self.resource(
            "Kustomization",
            ns,
            "flux-system",
            Some("10m"),
            "{path: ./clusters/production, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}",
        );
        self.resource(
            "Kustomization",
            ns,
            "infra-controllers",
            Some("1h"),
            "{path: ./infrastructure/controllers, prune: true, wait: true, sourceRef: {kind: GitRepository, name: flux-system}}",
        );
        self.resource(
            "Kustomization",
            ns,
            "infra-configs",
            Some("1h"),
            "{path: ./infrastructure/configs, prune: true, sourceRef: {kind: GitRepository, name: flux-system}, dependsOn: [{name: infra-controllers}]}",
        );
        self.resource(
            "HelmRepository",
            ns,
            "jetstack",
            Some("1h"),
            "{url: https://charts.jetstack.io}",
        );
        self.resource(
            "HelmRepository",
            ns,
            "ingress-nginx",
            Some("1h"),
            "{url: https://kubernetes.github.io/ingress-nginx}",
        );
        self.resource(
            "HelmRelease",
            ns,
            "cert-manager",
            Some("30m"),
            "{releaseName: cert-manager, targetNamespace: cert-manager, chart: {spec: {chart: cert-manager, version: \"1.x\", sourceRef: {kind: HelmRepository, name: jetstack}}}}",
        );
        self.resource(
            "HelmRelease",
            ns,
            "ingress-nginx",
            Some("30m"),
            "{targetNamespace: ingress-nginx, chart: {spec: {chart: ingress-nginx, version: \"4.x\", sourceRef: {kind: HelmRepository, name: ingress-nginx}}}, dependsOn: [{name: cert-manager}]}",
        );
        self.resource(
            "Provider",
            ns,
            "on-call",
            None,
            "{type: slack, channel: flux-alerts, address: https://hooks.slack.com/services/T000/B000/XXXX, secretRef: {name: slack-token}}",
        );
        self.resource(
            "Alert",
            ns,
            "on-call",
            None,
            "{providerRef: {name: on-call}, eventSeverity: error, eventSources: [{kind: Kustomization, name: '*'}, {kind: HelmRelease, name: '*'}, {kind: GitRepository, name: '*'}]}",
        );
        self.resource(
            "Receiver",
            ns,
            "github",
            Some("10m"),
            "{type: github, events: [push, ping], secretRef: {name: webhook-token}, resources: [{kind: GitRepository, name: flux-system}]}",
        );
    }

    /// One tenant namespace. `full` forces every optional feature, so each kind appears.
    fn tenant(&mut self, index: usize, full: bool) {
        let team = TEAMS[index % TEAMS.len()];
        let ns = if index < TEAMS.len() {
            format!("team-{team}")
        } else {
            format!("team-{team}-{}", index / TEAMS.len())
        };
        let git_interval = self.pick(INTERVALS_SOURCE);
        self.resource(
            "GitRepository",
            &ns,
            "apps",
            Some(git_interval),
            &format!("{{url: https://github.com/acme/{ns}, ref: {{branch: main}}, secretRef: {{name: git-auth}}}}"),
        );
        let helm_interval = self.pick(&["10m", "30m", "1h"]);
        self.resource(
            "HelmRepository",
            &ns,
            "charts",
            Some(helm_interval),
            "{url: https://charts.bitnami.com/bitnami}",
        );
        let oci = full || self.rng.random_bool(0.6);
        if oci {
            let interval = self.pick(INTERVALS_SOURCE);
            self.resource(
                "OCIRepository",
                &ns,
                "manifests",
                Some(interval),
                &format!("{{url: oci://ghcr.io/acme/{ns}/manifests, ref: {{tag: latest}}}}"),
            );
        }
        let bucket = full || self.rng.random_bool(0.2);
        if bucket {
            self.resource(
                "Bucket",
                &ns,
                "artifacts",
                Some("5m"),
                &format!(
                    "{{provider: aws, bucketName: {ns}-artifacts, endpoint: s3.amazonaws.com, region: eu-west-1}}"
                ),
            );
        }
        let external = full || self.rng.random_bool(0.1);
        if external {
            // source-watcher builds ExternalArtifact `generated` from the tenant's repository.
            self.resource(
                "ArtifactGenerator",
                &ns,
                "bundle",
                None,
                "{sources: [{alias: apps, kind: GitRepository, name: apps}], artifacts: [{name: generated, copy: [{from: '@apps/deploy/**', to: '@artifact/'}]}]}",
            );
        }

        // Kustomizations: an infra base, then apps that depend on earlier ones (never later: no cycles).
        let ks_count = self.rng.random_range(4..=9);
        let mut ks_names: Vec<String> = vec!["infra".to_string()];
        self.resource(
            "Kustomization",
            &ns,
            "infra",
            Some("1h"),
            "{path: ./infra, prune: true, sourceRef: {kind: GitRepository, name: apps}}",
        );
        for i in 1..ks_count {
            let app = APPS[(index * 7 + i) % APPS.len()];
            let name = if ks_names.iter().any(|n| n == app) {
                format!("{app}-{i}")
            } else {
                app.to_string()
            };
            let source = match self.rng.random_range(0..10) {
                0..=1 if oci => "{kind: OCIRepository, name: manifests}",
                2 if bucket => "{kind: Bucket, name: artifacts}",
                3 if external => "{kind: ExternalArtifact, name: generated}",
                _ => "{kind: GitRepository, name: apps}",
            };
            let dep = ks_names[self.rng.random_range(0..ks_names.len())].clone();
            let interval = self.pick(INTERVALS_APPLY);
            let wait = if self.rng.random_bool(0.3) {
                ", wait: true, timeout: 5m"
            } else {
                ""
            };
            self.resource(
                "Kustomization",
                &ns,
                &name,
                Some(interval),
                &format!(
                    "{{path: ./apps/{app}, prune: true{wait}, targetNamespace: {ns}, sourceRef: {source}, dependsOn: [{{name: {dep}}}]}}"
                ),
            );
            ks_names.push(name);
        }

        // HelmReleases: mostly from the tenant's HelmRepository (the HelmChart is generated),
        // some from an OCI chart (chartRef); later ones may depend on earlier ones.
        let hr_count = self.rng.random_range(3..=9);
        let mut hr_names: Vec<String> = Vec::new();
        for i in 0..hr_count {
            let (chart, version) = CHARTS[(index + i) % CHARTS.len()];
            let name = if hr_names.iter().any(|n| n == chart) {
                format!("{chart}-{i}")
            } else {
                chart.to_string()
            };
            let deps = if !hr_names.is_empty() && self.rng.random_bool(0.4) {
                let dep = hr_names[self.rng.random_range(0..hr_names.len())].clone();
                format!(", dependsOn: [{{name: {dep}}}]")
            } else {
                String::new()
            };
            let interval = self.pick(INTERVALS_APPLY);
            let use_chart_ref = (full && i == 0) || self.rng.random_bool(0.15);
            if use_chart_ref {
                let chart_repo = format!("{name}-chart");
                self.resource(
                    "OCIRepository",
                    &ns,
                    &chart_repo,
                    Some("10m"),
                    &format!(
                        "{{url: oci://ghcr.io/acme/charts/{chart}, ref: {{semver: \"{version}\"}}, layerSelector: {{mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip, operation: copy}}}}"
                    ),
                );
                self.resource(
                    "HelmRelease",
                    &ns,
                    &name,
                    Some(interval),
                    &format!("{{chartRef: {{kind: OCIRepository, name: {chart_repo}}}{deps}}}"),
                );
            } else {
                self.resource(
                    "HelmRelease",
                    &ns,
                    &name,
                    Some(interval),
                    &format!(
                        "{{chart: {{spec: {{chart: {chart}, version: \"{version}\", sourceRef: {{kind: HelmRepository, name: charts}}}}}}, install: {{remediation: {{retries: 3}}}}, upgrade: {{remediation: {{retries: 3}}}}{deps}}}"
                    ),
                );
            }
            hr_names.push(name);
        }
        if full || self.rng.random_bool(0.2) {
            // A standalone HelmChart, as teams use to pre-fetch a chart.
            self.resource(
                "HelmChart",
                &ns,
                "prefetch-redis",
                Some("30m"),
                "{chart: redis, version: \"19.x\", sourceRef: {kind: HelmRepository, name: charts}}",
            );
        }

        if full || self.rng.random_bool(0.5) {
            let images = self.rng.random_range(1..=3);
            for i in 0..images {
                let app = APPS[(index + i) % APPS.len()];
                self.resource(
                    "ImageRepository",
                    &ns,
                    app,
                    Some("5m"),
                    &format!("{{image: ghcr.io/acme/{ns}/{app}, secretRef: {{name: registry-auth}}}}"),
                );
                self.resource(
                    "ImagePolicy",
                    &ns,
                    app,
                    Some("10m"),
                    &format!("{{imageRepositoryRef: {{name: {app}}}, policy: {{semver: {{range: \">=1.0.0\"}}}}}}"),
                );
            }
            self.resource(
                "ImageUpdateAutomation",
                &ns,
                "apps",
                Some("30m"),
                "{sourceRef: {kind: GitRepository, name: apps}, git: {checkout: {ref: {branch: main}}, commit: {author: {name: fluxbot, email: flux@acme.dev}}, push: {branch: main}}, update: {path: ./apps, strategy: Setters}}",
            );
        }

        let provider_type = self.pick(PROVIDERS);
        self.resource(
            "Provider",
            &ns,
            "team",
            None,
            &format!("{{type: {provider_type}, address: https://hooks.example.com/{ns}, secretRef: {{name: notify}}}}"),
        );
        self.resource(
            "Alert",
            &ns,
            "team-errors",
            None,
            "{providerRef: {name: team}, eventSeverity: error, eventSources: [{kind: Kustomization, name: '*'}, {kind: HelmRelease, name: '*'}]}",
        );
        if self.rng.random_bool(0.5) {
            self.resource(
                "Alert",
                &ns,
                "team-deploys",
                None,
                "{providerRef: {name: team}, eventSeverity: info, eventSources: [{kind: HelmRelease, name: '*'}], inclusionList: ['.*upgrade.*succeeded.*']}",
            );
        }
        if full || self.rng.random_bool(0.3) {
            self.resource(
                "Receiver",
                &ns,
                "webhook",
                Some("10m"),
                "{type: generic, secretRef: {name: webhook-token}, resources: [{kind: GitRepository, name: apps}]}",
            );
        }
    }

    /// A random object of `kind` from tenant namespaces, if any.
    fn target(&mut self, kind: &str) -> Option<String> {
        let candidates: Vec<&Made> = self
            .made
            .iter()
            .filter(|m| m.kind == kind && m.namespace != "flux-system" && !m.suspended)
            .collect();
        let m = candidates.choose(&mut self.rng)?;
        Some(format!("{}/{}/{}", m.kind, m.namespace, m.name))
    }

    fn faults(&mut self) {
        self.out.push_str("  faults:\n");
        let mut wrote = 0;
        let object_faults: &[(&str, &str, &str)] = &[
            ("broken-build", "Kustomization", "build-failure"),
            ("git-outage", "GitRepository", "fetch-failure"),
            ("bad-upgrade", "HelmRelease", "upgrade-failure"),
            ("stuck-release", "HelmRelease", "retries-exhausted"),
            ("slow-apply", "Kustomization", "slow"),
            ("frozen", "Kustomization", "suspend"),
            ("noisy", "HelmRelease", "event-storm"),
        ];
        for (name, kind, fault) in object_faults {
            let Some(target) = self.target(kind) else { continue };
            let at = self.rng.random_range(2..40);
            let duration = self.rng.random_range(5..15);
            let _ = writeln!(
                self.out,
                "    - {{name: {name}, at: {at}m, target: {target}, fault: {fault}, duration: {duration}m}}"
            );
            wrote += 1;
        }
        self.out.push_str(
            "    - {name: source-down, at: 45m, controller: source-controller, fault: controller-down, duration: 5m}\n",
        );
        self.out.push_str("    - {name: flaky-kustomize, at: 10m, controller: kustomize-controller, fault: error-rate, rate: 0.2, duration: 20m}\n");
        let _ = wrote;
    }
}

/// A realistic scenario of about `objects` Flux objects of every kind the newest Flux release
/// serves, as scenario YAML that [`super::load_str`] accepts. Same seed, same text.
pub fn generate(objects: usize, seed: u64) -> String {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        out: String::with_capacity(objects * 330 + 4096),
        made: Vec::new(),
    };
    let _ = write!(
        g.out,
        "# Generated by flux-sim (seed {seed}): a platform and many tenant namespaces.\n\
         apiVersion: {API_VERSION}\nkind: Scenario\nmetadata:\n  name: generated-{objects}-seed-{seed}\n  \
         description: \"{objects} Flux objects across tenant namespaces, with a handful of faults\"\n\
         spec:\n  fluxVersion: \"{}\"\n  componentsExtra: [source-watcher]\n  seed: {seed}\n  duration: 1h\n  scrapeInterval: 30s\n  resources:\n",
        FluxVersion::newest()
    );
    g.platform();
    let mut tenant = 0;
    while g.made.len() < objects {
        g.tenant(tenant, tenant == 0);
        tenant += 1;
    }
    g.faults();
    // The build failure must reach the tenant's Provider through its error Alert.
    let broken = g.out.lines().find(|l| l.contains("name: broken-build")).and_then(|l| {
        let target = l.split("target: ").nth(1)?.split(',').next()?;
        let ns = target.split('/').nth(1)?.to_string();
        Some((target.to_string(), ns))
    });
    if let Some((target, _ns)) = broken {
        let _ = write!(
            g.out,
            "  expectations:\n    notifications:\n      - provider: team\n        object: {target}\n        \
             severity: error\n        afterFault: broken-build\n        within: 15m\n"
        );
    }
    g.out
}
