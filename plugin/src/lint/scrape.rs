//! The scrape layer: which targets PodMonitors, ServiceMonitors and Prometheus `scrape_configs`
//! make of Flux's controllers, and which labels those targets carry, judged against how Flux
//! really exposes metrics (its install manifests, flux-install/ per release: pods labelled
//! `app: <controller>`, metrics on the container port `http-prom` 8080, Services that expose
//! only `http` and `http-webhook`; flux2-monitoring-example's PodMonitor).
//!
//! What lint cannot know stays unknown: pod names and IPs, labels a `flux` CLI install adds,
//! and the namespace Flux runs in (flux-system unless installed elsewhere).

use std::collections::BTreeSet;

use model::FluxVersion;

use super::flux::FluxDoc;
use super::relabel::{self, Keep, Labels, Step, Value};
use super::yaml::Node;
use super::Finding;

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

const METRICS_PORT: (&str, u16) = ("http-prom", 8080);

/// Flux's controller pods in `version` (flux-install/vX.Y.Z/*.yaml, Deployment templates).
pub fn flux_pods(version: FluxVersion) -> Vec<FluxPod> {
    let mut out = Vec::new();
    let controllers: &[(&str, bool, &[(&str, u16)])] = &[
        ("source-controller", true, &[("http", 9090), METRICS_PORT, ("healthz", 9440)]),
        ("kustomize-controller", true, &[METRICS_PORT, ("healthz", 9440)]),
        ("helm-controller", true, &[METRICS_PORT, ("healthz", 9440)]),
        (
            "notification-controller",
            true,
            &[("http", 9090), ("http-webhook", 9292), METRICS_PORT, ("healthz", 9440)],
        ),
        ("image-reflector-controller", false, &[METRICS_PORT, ("healthz", 9440)]),
        ("image-automation-controller", false, &[METRICS_PORT, ("healthz", 9440)]),
        ("source-watcher", false, &[("http", 9090), METRICS_PORT, ("healthz", 9440)]),
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

/// Flux's own Services: (name, labels, [(port name, target port name)]).
fn flux_services(version: FluxVersion) -> Vec<(&'static str, Vec<(&'static str, &'static str)>, Vec<(&'static str, &'static str)>)> {
    let mut out = vec![
        ("source-controller", vec![("app.kubernetes.io/component", "source-controller"), ("control-plane", "controller")], vec![("http", "http")]),
        ("notification-controller", vec![("app.kubernetes.io/component", "notification-controller"), ("control-plane", "controller")], vec![("http", "http")]),
        ("webhook-receiver", vec![("app.kubernetes.io/component", "notification-controller"), ("control-plane", "controller")], vec![("http", "http-webhook")]),
    ];
    if version.at_least(2, 7) {
        out.push(("source-watcher", vec![("app.kubernetes.io/component", "source-watcher"), ("control-plane", "source-watcher")], vec![("http", "http")]));
    }
    if version.at_least(2, 4) {
        for s in &mut out {
            s.1.push(("app.kubernetes.io/part-of", "flux"));
        }
    }
    out
}

/// One scrape target of a Flux controller.
#[derive(Debug, Clone)]
pub struct Target {
    /// `file:line` of the monitor or job that makes it.
    pub via: String,
    pub controller: &'static str,
    /// Whether the target serves Flux's metrics (port http-prom).
    pub serves_metrics: bool,
    pub labels: Labels,
    pub keep: Keep,
    pub honor_labels: bool,
    pub metric_steps: Vec<Step>,
}

/// The Flux targets of everything given.
#[derive(Debug, Default)]
pub struct Model {
    /// Some scrape configuration selecting Flux was given: label sets are then known.
    pub given: bool,
    pub targets: Vec<Target>,
}

impl Model {
    /// The targets that certainly or possibly exist and serve metrics.
    pub fn metric_targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.serves_metrics && t.keep != Keep::No)
    }
}

/// A selector matchLabels / matchExpressions against labels (value, certain). A requirement on
/// a label that only some installs carry makes the answer "maybe".
fn selector_matches(sel: Option<&Node>, labels: &[(&str, String, bool)]) -> Keep {
    let Some(sel) = sel else { return Keep::Yes };
    let mut reqs: Vec<(String, String, Vec<String>)> = Vec::new();
    for (k, v) in sel.get("matchLabels").map(Node::entries).unwrap_or_default() {
        reqs.push((k.scalar_text().unwrap_or_default(), "In".into(), vec![v.scalar_text().unwrap_or_default()]));
    }
    for e in sel.get("matchExpressions").map(Node::seq).unwrap_or_default() {
        reqs.push((
            e.get("key").and_then(Node::scalar_text).unwrap_or_default(),
            e.get("operator").and_then(Node::scalar_text).unwrap_or_default(),
            e.get("values").map(|v| v.seq().iter().filter_map(Node::scalar_text).collect()).unwrap_or_default(),
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

fn meet(a: Keep, b: Keep) -> Keep {
    match (a, b) {
        (Keep::No, _) | (_, Keep::No) => Keep::No,
        (Keep::Maybe, _) | (_, Keep::Maybe) => Keep::Maybe,
        _ => Keep::Yes,
    }
}

/// Whether a monitor's namespaceSelector (default: its own namespace) takes Flux's namespace.
fn namespace_matches(spec: &Node, own: Option<&str>) -> Keep {
    match spec.get("namespaceSelector") {
        Some(ns) if ns.get("any").and_then(Node::as_bool) == Some(true) => Keep::Yes,
        Some(ns) if ns.get("matchNames").is_some() => {
            let names: Vec<String> = ns.get("matchNames").map(|m| m.seq().iter().filter_map(Node::scalar_text).collect()).unwrap_or_default();
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
fn meant_for_flux(doc: &Node) -> bool {
    let text = format!("{:?}", doc.to_json()).to_lowercase();
    text.contains("flux")
        || ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"]
            .iter()
            .any(|c| text.contains(c))
}

/// The meta labels Kubernetes service discovery gives a pod's container port.
fn pod_meta(pod: &FluxPod, port: (&str, u16), version_certain: bool) -> Labels {
    let mut l = Labels::new();
    let k = |s: &str| s.to_string();
    l.insert(k("__meta_kubernetes_namespace"), Value::Known(FLUX_NAMESPACE.into()));
    l.insert(k("__meta_kubernetes_pod_name"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_ip"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_uid"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_node_name"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_host_ip"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_phase"), Value::Known("Running".into()));
    l.insert(k("__meta_kubernetes_pod_ready"), Value::Known("true".into()));
    l.insert(k("__meta_kubernetes_pod_controller_kind"), Value::Known("ReplicaSet".into()));
    l.insert(k("__meta_kubernetes_pod_controller_name"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_container_name"), Value::Known("manager".into()));
    l.insert(k("__meta_kubernetes_pod_container_init"), Value::Known("false".into()));
    l.insert(k("__meta_kubernetes_pod_container_image"), Value::Unknown);
    l.insert(k("__meta_kubernetes_pod_container_port_name"), Value::Known(port.0.into()));
    l.insert(k("__meta_kubernetes_pod_container_port_number"), Value::Known(port.1.to_string()));
    l.insert(k("__meta_kubernetes_pod_container_port_protocol"), Value::Known("TCP".into()));
    l.insert(k("__address__"), Value::Unknown);
    for (name, value, certain) in &pod.labels {
        if *certain || !version_certain {
            let s = relabel::sanitize(name);
            l.insert(format!("__meta_kubernetes_pod_label_{s}"), if *certain { Value::Known(value.clone()) } else { Value::Unknown });
            l.insert(format!("__meta_kubernetes_pod_labelpresent_{s}"), Value::Known("true".into()));
        }
    }
    for (a, v) in [("prometheus.io/scrape", "true"), ("prometheus.io/port", "8080")] {
        let s = relabel::sanitize(a);
        l.insert(format!("__meta_kubernetes_pod_annotation_{s}"), Value::Known(v.into()));
        l.insert(format!("__meta_kubernetes_pod_annotationpresent_{s}"), Value::Known("true".into()));
    }
    l
}

/// Removes the `__` labels and sets `instance`, as Prometheus does after relabelling.
fn finish(mut l: Labels) -> Labels {
    if !l.contains_key("instance") {
        let a = l.get("__address__").cloned().unwrap_or(Value::Unknown);
        l.insert("instance".into(), a);
    }
    l.retain(|k, _| !k.starts_with("__"));
    l
}

fn steps(n: Option<&Node>) -> Vec<Step> {
    n.map(|s| s.seq().iter().map(Step::read).collect()).unwrap_or_default()
}

/// Builds the model and reports monitors and jobs meant for Flux that scrape nothing useful.
pub fn model(docs: &[FluxDoc], version: FluxVersion, out: &mut Vec<Finding>) -> Model {
    let mut m = Model::default();
    let pods = flux_pods(version);
    for d in docs {
        let kind = d.node.get("kind").and_then(Node::as_str).unwrap_or("");
        let before = m.targets.len();
        match kind {
            "PodMonitor" => pod_monitor(d, &pods, &mut m),
            "ServiceMonitor" => service_monitor(d, version, docs, &pods, &mut m, out),
            _ if d.node.get("scrape_configs").is_some() => scrape_configs(d, &pods, &mut m),
            _ => continue,
        }
        let made = &m.targets[before..];
        if made.iter().any(|t| t.keep != Keep::No) {
            m.given = true;
        }
        if kind == "PodMonitor" && meant_for_flux(&d.node) && !made.is_empty() && made.iter().all(|t| t.keep == Keep::No) {
            let name = d.name();
            let (line, why) = why_no_target(d, &pods);
            out.push(Finding::new(
                &d.file,
                line,
                "FM040",
                format!("PodMonitor {name} selects no Flux controller: {why}"),
                "select the pods with app: <controller> (as flux2-monitoring-example's PodMonitor does) and scrape the port http-prom".into(),
            ));
        }
    }
    m
}

/// Where and why a PodMonitor matched no Flux pod, in words.
fn why_no_target(d: &FluxDoc, pods: &[FluxPod]) -> (u64, String) {
    let spec = d.node.get("spec");
    let ports: Vec<&Node> = spec
        .and_then(|s| s.get("podMetricsEndpoints"))
        .map(|e| e.seq().iter().filter_map(|e| e.get("port")).collect())
        .unwrap_or_default();
    for p in ports {
        let name = p.scalar_text().unwrap_or_default();
        if !pods.iter().any(|pod| pod.ports.iter().any(|(n, _)| *n == name)) {
            return (p.line, format!("no Flux container has a port named {name:?} (Flux serves metrics on http-prom, 8080)"));
        }
    }
    (
        d.line_of(&["spec", "selector"]),
        "its selector matches labels no Flux controller pod carries (Flux's pods are labelled app: <controller>)".into(),
    )
}

fn pod_monitor(d: &FluxDoc, pods: &[FluxPod], m: &mut Model) {
    let Some(spec) = d.node.get("spec") else { return };
    let own_ns = d.namespace();
    let ns_keep = namespace_matches(spec, own_ns.as_deref());
    let job_label = spec.get("jobLabel").and_then(Node::scalar_text);
    let target_labels: Vec<String> = spec.get("podTargetLabels").map(|p| p.seq().iter().filter_map(Node::scalar_text).collect()).unwrap_or_default();
    for pod in pods {
        let sel = meet(ns_keep, selector_matches(spec.get("selector"), &pod.labels));
        for ep in spec.get("podMetricsEndpoints").map(Node::seq).unwrap_or_default() {
            let port_name = ep.get("port").and_then(Node::scalar_text);
            let port_num = ep.get("portNumber").or_else(|| ep.get("targetPort")).and_then(Node::scalar_text);
            let ports: Vec<(&str, u16)> = pod
                .ports
                .iter()
                .copied()
                .filter(|(n, num)| match (&port_name, &port_num) {
                    (Some(p), _) => p == n,
                    (None, Some(t)) => t == n || t == &num.to_string(),
                    (None, None) => true,
                })
                .collect();
            if ports.is_empty() {
                m.targets.push(Target {
                    via: format!("{}:{}", d.file, ep.line),
                    controller: pod.controller,
                    serves_metrics: false,
                    labels: Labels::new(),
                    keep: Keep::No,
                    honor_labels: false,
                    metric_steps: Vec::new(),
                });
            }
            for port in ports {
                let mut l = pod_meta(pod, port, false);
                let job = match &job_label {
                    Some(j) => pod.labels.iter().find(|(k, _, _)| k == j).map_or(Value::Unknown, |(_, v, _)| Value::Known(v.clone())),
                    None => own_ns.as_ref().map_or(Value::Unknown, |ns| Value::Known(format!("{ns}/{}", d.name()))),
                };
                l.insert("job".into(), job);
                l.insert("namespace".into(), Value::Known(FLUX_NAMESPACE.into()));
                l.insert("container".into(), Value::Known("manager".into()));
                l.insert("pod".into(), Value::Unknown);
                if port_name.is_some() {
                    l.insert("endpoint".into(), Value::Known(port.0.into()));
                }
                for t in &target_labels {
                    if let Some((_, v, _)) = pod.labels.iter().find(|(k, _, _)| k == t) {
                        l.insert(relabel::sanitize(t), Value::Known(v.clone()));
                    }
                }
                let keep = meet(sel, relabel::apply(&mut l, &steps(ep.get("relabelings"))));
                m.targets.push(Target {
                    via: format!("{}:{}", d.file, ep.line),
                    controller: pod.controller,
                    serves_metrics: port.0 == METRICS_PORT.0,
                    labels: finish(l),
                    keep,
                    honor_labels: ep.get("honorLabels").and_then(Node::as_bool).unwrap_or(false),
                    metric_steps: steps(ep.get("metricRelabelings")),
                });
            }
        }
    }
}

fn service_monitor(d: &FluxDoc, version: FluxVersion, docs: &[FluxDoc], pods: &[FluxPod], m: &mut Model, out: &mut Vec<Finding>) {
    let Some(spec) = d.node.get("spec") else { return };
    let ns_keep = namespace_matches(spec, d.namespace().as_deref());
    // Flux's own Services, and any Service given in the inputs that selects a Flux pod.
    let mut services: Vec<(String, Vec<(String, String)>, Vec<(String, String)>, bool)> = flux_services(version)
        .into_iter()
        .map(|(n, l, p)| {
            (n.to_string(), l.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(), p.into_iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(), true)
        })
        .collect();
    for s in docs.iter().filter(|s| s.node.get("kind").and_then(Node::as_str) == Some("Service")) {
        let labels = s.node.at(&["metadata", "labels"]).map(|l| l.entries().iter().filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?))).collect()).unwrap_or_default();
        let ports = s.node.at(&["spec", "ports"]).map(|p| p.seq().iter().map(|p| (p.get("name").and_then(Node::scalar_text).unwrap_or_default(), p.get("targetPort").and_then(Node::scalar_text).unwrap_or_default())).collect()).unwrap_or_default();
        services.push((s.name(), labels, ports, false));
    }
    let mut any_flux_service = false;
    let mut flux_ports: BTreeSet<String> = BTreeSet::new();
    for (svc, labels, ports, flux_own) in &services {
        let as_pod_labels: Vec<(&str, String, bool)> = labels.iter().map(|(k, v)| (k.as_str(), v.clone(), true)).collect();
        let sel = meet(ns_keep, selector_matches(spec.get("selector"), &as_pod_labels));
        if sel == Keep::No {
            continue;
        }
        if *flux_own {
            any_flux_service = true;
        }
        let pod = pods.iter().find(|p| {
            *flux_own && (p.controller == svc || (svc == "webhook-receiver" && p.controller == "notification-controller"))
        });
        for ep in spec.get("endpoints").map(Node::seq).unwrap_or_default() {
            let want = ep.get("port").and_then(Node::scalar_text);
            for (pname, tport) in ports.iter().filter(|(n, _)| want.as_ref().is_none_or(|w| w == n)) {
                if *flux_own {
                    flux_ports.insert(pname.clone());
                }
                let Some(pod) = pod else { continue };
                let Some(port) = pod.ports.iter().copied().find(|(n, num)| n == tport || tport == &num.to_string()) else { continue };
                let mut l = pod_meta(pod, port, false);
                l.insert("job".into(), Value::Known(svc.clone()));
                l.insert("namespace".into(), Value::Known(FLUX_NAMESPACE.into()));
                l.insert("service".into(), Value::Known(svc.clone()));
                l.insert("container".into(), Value::Known("manager".into()));
                l.insert("pod".into(), Value::Unknown);
                l.insert("endpoint".into(), Value::Known(pname.clone()));
                let keep = meet(sel, relabel::apply(&mut l, &steps(ep.get("relabelings"))));
                m.targets.push(Target {
                    via: format!("{}:{}", d.file, ep.line),
                    controller: pod.controller,
                    serves_metrics: port.0 == METRICS_PORT.0,
                    labels: finish(l),
                    keep,
                    honor_labels: ep.get("honorLabels").and_then(Node::as_bool).unwrap_or(false),
                    metric_steps: steps(ep.get("metricRelabelings")),
                });
            }
        }
    }
    if !any_flux_service || !meant_for_flux(&d.node) {
        return;
    }
    let wanted: Vec<String> = spec.get("endpoints").map(|e| e.seq().iter().filter_map(|e| e.get("port").and_then(Node::scalar_text)).collect()).unwrap_or_default();
    let name = d.name();
    for w in &wanted {
        let line = spec.get("endpoints").and_then(|e| e.seq().iter().find(|e| e.get("port").and_then(Node::scalar_text).as_ref() == Some(w))).map_or(d.node.line, |e| e.line);
        if w == METRICS_PORT.0 && !flux_ports.contains(w) && !services.iter().any(|s| !s.3 && s.2.iter().any(|(n, _)| n == w)) {
            out.push(Finding::new(
                &d.file,
                line,
                "FM040",
                format!("ServiceMonitor {name} scrapes port {w:?} of Flux's Services, but they expose only http (and webhook-receiver): it finds no target"),
                "scrape the pods with a PodMonitor (flux2-monitoring-example), or add a Service that exposes http-prom".into(),
            ));
        } else if flux_ports.contains(w) {
            out.push(Finding::new(
                &d.file,
                line,
                "FM041",
                format!("ServiceMonitor {name} scrapes Flux's Service port {w:?}, which serves artifacts or events, not /metrics: the target is down (up == 0) and no Flux metric arrives"),
                "scrape the pods' http-prom port with a PodMonitor (flux2-monitoring-example)".into(),
            ));
        }
    }
}

fn scrape_configs(d: &FluxDoc, pods: &[FluxPod], m: &mut Model) {
    for job in d.node.get("scrape_configs").map(Node::seq).unwrap_or_default() {
        let Some(job_name) = job.get("job_name").and_then(Node::scalar_text) else { continue };
        let relabel = steps(job.get("relabel_configs"));
        let honor = job.get("honor_labels").and_then(Node::as_bool).unwrap_or(false);
        for sd in job.get("kubernetes_sd_configs").map(Node::seq).unwrap_or_default() {
            let role = sd.get("role").and_then(Node::scalar_text).unwrap_or_default();
            if role != "pod" {
                continue; // Flux's Services expose no metrics port; nodes and ingresses are not Flux.
            }
            let ns_keep = match sd.at(&["namespaces", "names"]) {
                Some(names) if !names.seq().is_empty() => {
                    if names.seq().iter().any(|n| n.as_str() == Some(FLUX_NAMESPACE)) { Keep::Yes } else { Keep::Maybe }
                }
                _ => Keep::Yes,
            };
            let sd_keep = if sd.get("selectors").is_some() { Keep::Maybe } else { Keep::Yes };
            for pod in pods {
                for port in pod.ports {
                    let mut l = pod_meta(pod, *port, false);
                    l.insert("job".into(), Value::Known(job_name.clone()));
                    let keep = meet(meet(ns_keep, sd_keep), relabel::apply(&mut l, &relabel));
                    m.targets.push(Target {
                        via: format!("{}:{}", d.file, job.line),
                        controller: pod.controller,
                        serves_metrics: port.0 == METRICS_PORT.0,
                        labels: finish(l),
                        keep,
                        honor_labels: honor,
                        metric_steps: steps(job.get("metric_relabel_configs")),
                    });
                }
            }
        }
    }
}
