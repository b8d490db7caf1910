//! Flux's controllers as its install manifests define them per release (flux-install/
//! vX.Y.Z: Deployments' pod labels, annotations and container ports; Services and their
//! ports), and how Kubernetes service discovery and prometheus-operator's selectors see them.
//! Labels only some installs carry (those the `flux` CLI adds) are marked uncertain.

use model::FluxVersion;

use super::relabel::{self, Keep, Labels, Value};
use super::yaml::Node;

/// The namespace Flux installs into unless told otherwise.
pub const FLUX_NAMESPACE: &str = "flux-system";

/// A Flux controller's pod as the install manifests of a release define it.
#[derive(Debug, Clone)]
pub struct FluxPod {
    pub controller: &'static str,
    /// Installed by `flux install` without `--components-extra`.
    pub default: bool,
    /// (label, value, certain): certain labels are in the release's manifests; the others
    /// only when the `flux` CLI or an operator adds them.
    pub labels: Vec<(&'static str, String, bool)>,
    pub ports: &'static [(&'static str, u16)],
}

pub const METRICS_PORT: (&str, u16) = ("http-prom", 8080);

/// Flux's controller pods in `version` (flux-install/vX.Y.Z/*.yaml, Deployment templates).
pub fn flux_pods(version: FluxVersion) -> Vec<FluxPod> {
    let mut out = Vec::new();
    type Ports = &'static [(&'static str, u16)];
    let controllers: &[(&str, bool, Ports)] = &[
        (
            "source-controller",
            true,
            &[("http", 9090), METRICS_PORT, ("healthz", 9440)],
        ),
        (
            "kustomize-controller",
            true,
            &[METRICS_PORT, ("healthz", 9440)],
        ),
        ("helm-controller", true, &[METRICS_PORT, ("healthz", 9440)]),
        (
            "notification-controller",
            true,
            &[
                ("http", 9090),
                ("http-webhook", 9292),
                METRICS_PORT,
                ("healthz", 9440),
            ],
        ),
        (
            "image-reflector-controller",
            false,
            &[METRICS_PORT, ("healthz", 9440)],
        ),
        (
            "image-automation-controller",
            false,
            &[METRICS_PORT, ("healthz", 9440)],
        ),
        (
            "source-watcher",
            false,
            &[("http", 9090), METRICS_PORT, ("healthz", 9440)],
        ),
    ];
    // app.kubernetes.io/component and part-of are in the pod templates from Flux 2.7; the
    // flux CLI adds them (and instance, version) to earlier releases' installs.
    let recommended = version.at_least(2, 7);
    for (name, default, ports) in controllers {
        if *name == "source-watcher" && !version.at_least(2, 7) {
            continue;
        }
        out.push(FluxPod {
            controller: name,
            default: *default,
            labels: vec![
                ("app", name.to_string(), true),
                ("app.kubernetes.io/component", name.to_string(), recommended),
                ("app.kubernetes.io/part-of", "flux".into(), recommended),
                ("app.kubernetes.io/instance", FLUX_NAMESPACE.into(), false),
            ],
            ports,
        });
    }
    out
}

/// A Service that may front a Flux controller: Flux's own, or one given in the inputs.
pub struct Service {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// (port name, target port name or number).
    pub ports: Vec<(String, String)>,
    pub flux_own: bool,
}

/// Flux's own Services in `version` (flux-install/vX.Y.Z).
pub fn flux_services(version: FluxVersion) -> Vec<Service> {
    let own = |name: &str, component: &str, plane: &str, ports: &[(&str, &str)]| {
        let mut labels = vec![
            (
                "app.kubernetes.io/component".to_string(),
                component.to_string(),
            ),
            ("control-plane".to_string(), plane.to_string()),
        ];
        if version.at_least(2, 4) {
            labels.push(("app.kubernetes.io/part-of".into(), "flux".into()));
        }
        Service {
            name: name.into(),
            labels,
            ports: ports
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            flux_own: true,
        }
    };
    let mut out = vec![
        own(
            "source-controller",
            "source-controller",
            "controller",
            &[("http", "http")],
        ),
        own(
            "notification-controller",
            "notification-controller",
            "controller",
            &[("http", "http")],
        ),
        own(
            "webhook-receiver",
            "notification-controller",
            "controller",
            &[("http", "http-webhook")],
        ),
    ];
    if version.at_least(2, 7) {
        out.push(own(
            "source-watcher",
            "source-watcher",
            "source-watcher",
            &[("http", "http")],
        ));
    }
    out
}

/// A selector matchLabels / matchExpressions against labels (value, certain). A requirement on
/// a label that only some installs carry makes the answer "maybe".
pub fn selector_matches(sel: Option<&Node>, labels: &[(&str, String, bool)]) -> Keep {
    let Some(sel) = sel else { return Keep::Yes };
    let mut reqs: Vec<(String, String, Vec<String>)> = Vec::new();
    for (k, v) in sel
        .get("matchLabels")
        .map(Node::entries)
        .unwrap_or_default()
    {
        reqs.push((
            k.scalar_text().unwrap_or_default(),
            "In".into(),
            vec![v.scalar_text().unwrap_or_default()],
        ));
    }
    for e in sel
        .get("matchExpressions")
        .map(Node::seq)
        .unwrap_or_default()
    {
        reqs.push((
            e.get("key").and_then(Node::scalar_text).unwrap_or_default(),
            e.get("operator")
                .and_then(Node::scalar_text)
                .unwrap_or_default(),
            e.get("values")
                .map(|v| v.seq().iter().filter_map(Node::scalar_text).collect())
                .unwrap_or_default(),
        ));
    }
    let mut keep = Keep::Yes;
    for (key, op, values) in reqs {
        let found = labels.iter().find(|(l, _, _)| *l == key);
        let holds = |v: Option<&String>| match op.as_str() {
            "In" => v.is_some_and(|v| values.contains(v)),
            "NotIn" => !v.is_some_and(|v| values.contains(v)),
            "Exists" => v.is_some(),
            "DoesNotExist" => v.is_none(),
            _ => false,
        };
        if !matches!(op.as_str(), "In" | "NotIn" | "Exists" | "DoesNotExist") {
            keep = Keep::Maybe;
            continue;
        }
        match found {
            Some((_, v, true)) => {
                if !holds(Some(v)) {
                    return Keep::No;
                }
            }
            // Present in some installs only: either answer is possible.
            Some((_, v, false)) => {
                if holds(Some(v)) != holds(None) {
                    keep = Keep::Maybe;
                } else if !holds(None) {
                    return Keep::No;
                }
            }
            None => {
                if !holds(None) {
                    return Keep::No;
                }
            }
        }
    }
    keep
}

pub fn meet(a: Keep, b: Keep) -> Keep {
    match (a, b) {
        (Keep::No, _) | (_, Keep::No) => Keep::No,
        (Keep::Maybe, _) | (_, Keep::Maybe) => Keep::Maybe,
        _ => Keep::Yes,
    }
}

/// Whether a monitor's namespaceSelector (default: its own namespace) takes Flux's namespace.
pub fn namespace_matches(spec: &Node, own: Option<&str>) -> Keep {
    match spec.get("namespaceSelector") {
        Some(ns) if ns.get("any").and_then(Node::as_bool) == Some(true) => Keep::Yes,
        Some(ns) if ns.get("matchNames").is_some() => {
            let names: Vec<String> = ns
                .get("matchNames")
                .map(|m| m.seq().iter().filter_map(Node::scalar_text).collect())
                .unwrap_or_default();
            if names.iter().any(|n| n == FLUX_NAMESPACE) {
                Keep::Yes
            } else {
                // Flux may be installed elsewhere: not provable.
                Keep::Maybe
            }
        }
        _ => match own {
            Some(FLUX_NAMESPACE) => Keep::Yes,
            _ => Keep::Maybe,
        },
    }
}

/// Whether a document is meant to scrape Flux (so that finding no Flux target is a defect).
pub fn meant_for_flux(doc: &Node) -> bool {
    let text = format!("{:?}", doc.to_json()).to_lowercase();
    text.contains("flux")
        || [
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
        ]
        .iter()
        .any(|c| text.contains(c))
}

/// The meta labels Kubernetes service discovery gives a pod's container port.
pub fn pod_meta(pod: &FluxPod, port: (&str, u16), version_certain: bool) -> Labels {
    let mut l = Labels::new();
    let k = |s: &str| s.to_string();
    l.insert(
        k("__meta_kubernetes_namespace"),
        Value::Known(FLUX_NAMESPACE.into()),
    );
    l.insert(k("__meta_kubernetes_pod_name"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_ip"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_uid"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_node_name"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_host_ip"), Value::Unknown);
    l.insert(
        k("__meta_kubernetes_pod_phase"),
        Value::Known("Running".into()),
    );
    l.insert(
        k("__meta_kubernetes_pod_ready"),
        Value::Known("true".into()),
    );
    l.insert(
        k("__meta_kubernetes_pod_controller_kind"),
        Value::Known("ReplicaSet".into()),
    );
    l.insert(k("__meta_kubernetes_pod_controller_name"), Value::Unknown);
    l.insert(
        k("__meta_kubernetes_pod_container_name"),
        Value::Known("manager".into()),
    );
    l.insert(
        k("__meta_kubernetes_pod_container_init"),
        Value::Known("false".into()),
    );
    l.insert(k("__meta_kubernetes_pod_container_image"), Value::Unknown);
    l.insert(
        k("__meta_kubernetes_pod_container_port_name"),
        Value::Known(port.0.into()),
    );
    l.insert(
        k("__meta_kubernetes_pod_container_port_number"),
        Value::Known(port.1.to_string()),
    );
    l.insert(
        k("__meta_kubernetes_pod_container_port_protocol"),
        Value::Known("TCP".into()),
    );
    l.insert(k("__address__"), Value::Unknown);
    for (name, value, certain) in &pod.labels {
        if *certain || !version_certain {
            let s = relabel::sanitize(name);
            l.insert(
                format!("__meta_kubernetes_pod_label_{s}"),
                if *certain {
                    Value::Known(value.clone())
                } else {
                    Value::Unknown
                },
            );
            l.insert(
                format!("__meta_kubernetes_pod_labelpresent_{s}"),
                Value::Known("true".into()),
            );
        }
    }
    for (a, v) in [
        ("prometheus.io/scrape", "true"),
        ("prometheus.io/port", "8080"),
    ] {
        let s = relabel::sanitize(a);
        l.insert(
            format!("__meta_kubernetes_pod_annotation_{s}"),
            Value::Known(v.into()),
        );
        l.insert(
            format!("__meta_kubernetes_pod_annotationpresent_{s}"),
            Value::Known("true".into()),
        );
    }
    l
}
