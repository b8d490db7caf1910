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
use super::install::{
    flux_pods, flux_services, meant_for_flux, meet, namespace_matches, pod_meta, selector_matches,
    FluxPod, Service, FLUX_NAMESPACE, METRICS_PORT,
};
use super::relabel::{self, Keep, Labels, Step, Value};
use super::yaml::Node;
use super::Finding;

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
        self.targets
            .iter()
            .filter(|t| t.serves_metrics && t.keep != Keep::No)
    }
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
    n.map(|s| s.seq().iter().map(Step::read).collect())
        .unwrap_or_default()
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
        if kind == "PodMonitor"
            && meant_for_flux(&d.node)
            && !made.is_empty()
            && made.iter().all(|t| t.keep == Keep::No)
        {
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
        if !pods
            .iter()
            .any(|pod| pod.ports.iter().any(|(n, _)| *n == name))
        {
            return (p.line, format!("no Flux container has a port named {name:?} (Flux serves metrics on http-prom, 8080)"));
        }
    }
    (
        d.line_of(&["spec", "selector"]),
        "its selector matches labels no Flux controller pod carries (Flux's pods are labelled app: <controller>)".into(),
    )
}

fn pod_monitor(d: &FluxDoc, pods: &[FluxPod], m: &mut Model) {
    let Some(spec) = d.node.get("spec") else {
        return;
    };
    let own_ns = d.namespace();
    let ns_keep = namespace_matches(spec, own_ns.as_deref());
    let job_label = spec.get("jobLabel").and_then(Node::scalar_text);
    let target_labels: Vec<String> = spec
        .get("podTargetLabels")
        .map(|p| p.seq().iter().filter_map(Node::scalar_text).collect())
        .unwrap_or_default();
    for pod in pods {
        let sel = meet(ns_keep, selector_matches(spec.get("selector"), &pod.labels));
        for ep in spec
            .get("podMetricsEndpoints")
            .map(Node::seq)
            .unwrap_or_default()
        {
            let port_name = ep.get("port").and_then(Node::scalar_text);
            let port_num = ep
                .get("portNumber")
                .or_else(|| ep.get("targetPort"))
                .and_then(Node::scalar_text);
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
                    Some(j) => pod
                        .labels
                        .iter()
                        .find(|(k, _, _)| k == j)
                        .map_or(Value::Unknown, |(_, v, _)| Value::Known(v.clone())),
                    None => own_ns.as_ref().map_or(Value::Unknown, |ns| {
                        Value::Known(format!("{ns}/{}", d.name()))
                    }),
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
                    honor_labels: ep
                        .get("honorLabels")
                        .and_then(Node::as_bool)
                        .unwrap_or(false),
                    metric_steps: steps(ep.get("metricRelabelings")),
                });
            }
        }
    }
}

fn service_monitor(
    d: &FluxDoc,
    version: FluxVersion,
    docs: &[FluxDoc],
    pods: &[FluxPod],
    m: &mut Model,
    out: &mut Vec<Finding>,
) {
    let Some(spec) = d.node.get("spec") else {
        return;
    };
    let ns_keep = namespace_matches(spec, d.namespace().as_deref());
    // Flux's own Services, and any Service given in the inputs that selects a Flux pod.
    let mut services = flux_services(version);
    for s in docs
        .iter()
        .filter(|s| s.node.get("kind").and_then(Node::as_str) == Some("Service"))
    {
        let labels = s
            .node
            .at(&["metadata", "labels"])
            .map(|l| {
                l.entries()
                    .iter()
                    .filter_map(|(k, v)| Some((k.scalar_text()?, v.scalar_text()?)))
                    .collect()
            })
            .unwrap_or_default();
        let ports = s
            .node
            .at(&["spec", "ports"])
            .map(|p| {
                p.seq()
                    .iter()
                    .map(|p| {
                        (
                            p.get("name")
                                .and_then(Node::scalar_text)
                                .unwrap_or_default(),
                            p.get("targetPort")
                                .and_then(Node::scalar_text)
                                .unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        services.push(Service {
            name: s.name(),
            labels,
            ports,
            flux_own: false,
        });
    }
    let mut any_flux_service = false;
    let mut flux_ports: BTreeSet<String> = BTreeSet::new();
    for Service {
        name: svc,
        labels,
        ports,
        flux_own,
    } in &services
    {
        let as_pod_labels: Vec<(&str, String, bool)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone(), true))
            .collect();
        let sel = meet(
            ns_keep,
            selector_matches(spec.get("selector"), &as_pod_labels),
        );
        if sel == Keep::No {
            continue;
        }
        if *flux_own {
            any_flux_service = true;
        }
        let pod = pods.iter().find(|p| {
            *flux_own
                && (p.controller == svc
                    || (svc == "webhook-receiver" && p.controller == "notification-controller"))
        });
        for ep in spec.get("endpoints").map(Node::seq).unwrap_or_default() {
            let want = ep.get("port").and_then(Node::scalar_text);
            for (pname, tport) in ports
                .iter()
                .filter(|(n, _)| want.as_ref().is_none_or(|w| w == n))
            {
                if *flux_own {
                    flux_ports.insert(pname.clone());
                }
                let Some(pod) = pod else { continue };
                let Some(port) = pod
                    .ports
                    .iter()
                    .copied()
                    .find(|(n, num)| n == tport || tport == &num.to_string())
                else {
                    continue;
                };
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
                    honor_labels: ep
                        .get("honorLabels")
                        .and_then(Node::as_bool)
                        .unwrap_or(false),
                    metric_steps: steps(ep.get("metricRelabelings")),
                });
            }
        }
    }
    if !any_flux_service || !meant_for_flux(&d.node) {
        return;
    }
    let wanted: Vec<String> = spec
        .get("endpoints")
        .map(|e| {
            e.seq()
                .iter()
                .filter_map(|e| e.get("port").and_then(Node::scalar_text))
                .collect()
        })
        .unwrap_or_default();
    let name = d.name();
    for w in &wanted {
        let line = spec
            .get("endpoints")
            .and_then(|e| {
                e.seq()
                    .iter()
                    .find(|e| e.get("port").and_then(Node::scalar_text).as_ref() == Some(w))
            })
            .map_or(d.node.line, |e| e.line);
        if w == METRICS_PORT.0
            && !flux_ports.contains(w)
            && !services
                .iter()
                .any(|s| !s.flux_own && s.ports.iter().any(|(n, _)| n == w))
        {
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
    for job in d
        .node
        .get("scrape_configs")
        .map(Node::seq)
        .unwrap_or_default()
    {
        let Some(job_name) = job.get("job_name").and_then(Node::scalar_text) else {
            continue;
        };
        let relabel = steps(job.get("relabel_configs"));
        let honor = job
            .get("honor_labels")
            .and_then(Node::as_bool)
            .unwrap_or(false);
        for sd in job
            .get("kubernetes_sd_configs")
            .map(Node::seq)
            .unwrap_or_default()
        {
            let role = sd
                .get("role")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            if role != "pod" {
                continue; // Flux's Services expose no metrics port; nodes and ingresses are not Flux.
            }
            let ns_keep = match sd.at(&["namespaces", "names"]) {
                Some(names) if !names.seq().is_empty() => {
                    if names
                        .seq()
                        .iter()
                        .any(|n| n.as_str() == Some(FLUX_NAMESPACE))
                    {
                        Keep::Yes
                    } else {
                        Keep::Maybe
                    }
                }
                _ => Keep::Yes,
            };
            let sd_keep = if sd.get("selectors").is_some() {
                Keep::Maybe
            } else {
                Keep::Yes
            };
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
