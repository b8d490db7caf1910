//! Validation of `spec.cluster`, the form of a drill on a live cluster: the resources become
//! canaries the drill creates, and the faults are changes real Flux reacts to by itself (a source
//! under `.invalid`, a path or chart version that does not exist, `spec.suspend`, a reconcile
//! request), never the simulator's own faults.

use std::collections::HashMap;
use std::time::Duration;

use model::ObjectRef;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::file::{ClusterFaultFile, ClusterFile, FaultFile};
use super::model::*;
use super::validate::{a, line, parse_object_ref, Validator};

/// Longest canary name: the drill appends `-<run id><scenario index>` (at most 11 characters)
/// and a HelmRelease's name
/// must stay within Helm's 53.
pub const MAX_CANARY_NAME: usize = 40;

/// Provider types whose payload is the event itself, so the drill's sink can tell which object
/// and reason it is about.
pub const CANARY_PROVIDER_TYPES: [&str; 2] = ["generic", "generic-hmac"];

impl Validator<'_> {
    /// Validates `spec.cluster` against the scenario's resources; returns the drill and its fault
    /// names (for `afterFault`).
    pub(super) fn cluster(
        &mut self,
        raw: &Spanned<ClusterFile>,
        simulator_faults: &[Spanned<FaultFile>],
        resources: &[&Resource],
        index: &HashMap<ObjectRef, usize>,
        duration: Duration,
    ) -> (ClusterDrill, HashMap<String, usize>) {
        if let Some(first) = simulator_faults.first() {
            self.error(
                line(first),
                "spec.faults cannot be used with spec.cluster: a cluster drill breaks its canaries with \
                 spec.cluster.faults (changes real Flux reacts to); the simulator's faults do not exist on a cluster",
            );
        }
        if raw.value.faults.is_empty() {
            self.error(
                line(raw),
                format!(
                    "spec.cluster.faults is empty: a cluster drill needs at least one fault ({})",
                    fault_names()
                ),
            );
        }
        for r in resources {
            self.canary(r);
        }
        let names = self.fault_names(raw.value.faults.iter().map(|f| f.value.name.as_ref()));
        let faults = raw
            .value
            .faults
            .iter()
            .filter_map(|f| self.cluster_fault(f, resources, index, duration))
            .collect();
        let drill = ClusterDrill {
            faults,
            line: self.file_line(line(raw)),
        };
        (drill, names)
    }

    /// A resource as a canary: a kind the drill may create, a name that leaves room for the run
    /// id, Providers whose payload the drill's sink can read.
    fn canary(&mut self, r: &Resource) {
        let at = r.line;
        if !CANARY_KINDS.contains(&r.kind.kind) {
            self.error(
                at,
                format!(
                    "a cluster drill cannot create {} as a canary (canary kinds: {})",
                    a(r.kind.kind),
                    CANARY_KINDS.join(", ")
                ),
            );
        }
        if r.name.len() > MAX_CANARY_NAME {
            self.error(
                at,
                format!(
                    "name {:?} is too long for a canary ({} characters, at most {MAX_CANARY_NAME}): the drill \
                     appends -<run id><index>, and a HelmRelease's name must stay within 53",
                    r.name,
                    r.name.len()
                ),
            );
        }
        if r.kind.kind == "Provider" {
            let t = r.spec.get("type").and_then(Value::as_str).unwrap_or("");
            if !CANARY_PROVIDER_TYPES.contains(&t) {
                self.error(
                    at,
                    format!(
                        "canary Provider {}: type {t:?} cannot be read by the drill's sink; use type generic \
                         (the drill points its address at the sink, which reads the event it carries)",
                        r.name
                    ),
                );
            }
        }
    }

    fn cluster_fault(
        &mut self,
        raw: &Spanned<ClusterFaultFile>,
        resources: &[&Resource],
        index: &HashMap<ObjectRef, usize>,
        duration: Duration,
    ) -> Option<ClusterFault> {
        let f = &raw.value;
        let at_line = line(raw);
        let at = match &f.at {
            None => Some(Duration::ZERO),
            Some(at) => {
                let d = self.duration(at, "at");
                if let Some(d) = d.filter(|d| *d >= duration) {
                    self.error(
                        line(at),
                        format!(
                            "fault starts at {}, when the drill has ended (duration {})",
                            model::format_go_duration(d),
                            model::format_go_duration(duration)
                        ),
                    );
                    return None;
                }
                d
            }
        };
        let fault = CanaryFault::from_name(&f.fault.value);
        if fault.is_none() {
            let hint = match super::model::Fault::from_name(&f.fault.value) {
                Some(_) => " (that is a simulator fault; a cluster drill uses changes real Flux reacts to)",
                None => "",
            };
            self.error(
                line(&f.fault),
                format!(
                    "unknown cluster fault {:?}{hint}; cluster faults: {}",
                    f.fault.value,
                    fault_names()
                ),
            );
        }
        let target = match (&f.target, &f.existing) {
            (Some(t), Some(e)) => {
                self.error(
                    line(e),
                    format!(
                        "give `target:` (a canary) or `existing:` (an object the drill did not create), not both ({} and {})",
                        t.value, e.value
                    ),
                );
                None
            }
            (None, None) => {
                self.error(
                    at_line,
                    "a cluster fault needs `target: Kind/name` (a canary) or `existing: Kind/namespace/name`",
                );
                None
            }
            (Some(t), None) => match parse_object_ref(&t.value) {
                Err(e) => {
                    self.error(line(t), format!("target: {e}"));
                    None
                }
                Ok(o) if !index.contains_key(&o) => {
                    self.error(
                        line(t),
                        format!("target {o} is not a resource of this scenario (use `existing:` for an object the drill did not create)"),
                    );
                    None
                }
                Ok(o) => Some(ClusterTarget::Canary(o)),
            },
            (None, Some(e)) => match parse_object_ref(&e.value) {
                Err(err) => {
                    self.error(line(e), format!("existing: {err}"));
                    None
                }
                Ok(o) if index.contains_key(&o) => {
                    self.error(
                        line(e),
                        format!("{o} is a canary of this scenario: name it with `target:`"),
                    );
                    None
                }
                Ok(o) => {
                    if let Some(fault) = fault.filter(|f| !f.may_touch_existing()) {
                        self.error(
                            line(&f.fault),
                            format!(
                                "{} cannot be put on an object the drill did not create: only suspend and reconcile \
                                 (undone exactly by restoring them) may touch existing objects",
                                fault.name()
                            ),
                        );
                        return None;
                    }
                    Some(ClusterTarget::Existing(o))
                }
            },
        };
        let (fault, target, at) = (fault?, target?, at?);
        let kind = target.object().kind.as_str();
        if !fault.applies_to().contains(&kind) {
            self.error(
                line(&f.fault),
                format!(
                    "{} does not apply to {} (it applies to {})",
                    fault.name(),
                    a(kind),
                    fault.applies_to().join(", ")
                ),
            );
            return None;
        }
        if let ClusterTarget::Canary(o) = &target {
            let chart_from_ref = resources
                .iter()
                .find(|r| r.object_ref() == *o)
                .is_some_and(|r| r.kind.kind == "HelmRelease" && r.spec.pointer("/chart/spec").is_none());
            if fault == CanaryFault::MissingChartVersion && chart_from_ref {
                self.error(
                    line(&f.fault),
                    format!("{o} has no spec.chart.spec (a chartRef release): missing-chart-version changes spec.chart.spec.version"),
                );
                return None;
            }
        }
        Some(ClusterFault {
            name: f.name.as_ref().map(|n| n.value.clone()),
            at,
            target,
            fault,
            line: self.file_line(at_line),
        })
    }
}

fn fault_names() -> String {
    CanaryFault::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::scenario::{load_str, CanaryFault, ClusterTarget};

    const HEAD: &str = "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: c}\nspec:\n  resources:\n    - {kind: GitRepository, name: src, spec: {url: https://example.com/x}}\n    - {kind: Kustomization, name: app, spec: {path: ./a, sourceRef: {kind: GitRepository, name: src}}}\n";

    fn errors(tail: &str) -> String {
        match load_str(&format!("{HEAD}{tail}"), Path::new("c.yaml")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_cluster_section_loads_with_its_faults_and_expectations() {
        let s = load_str(
            &format!(
                "{HEAD}  cluster:\n    faults:\n      - {{name: broken, target: Kustomization/app, fault: missing-path}}\n      - {{at: 1m, existing: Kustomization/flux-system/apps, fault: suspend}}\n  expectations:\n    alerts:\n      - {{alertname: FluxReconciliationFailure, labels: {{name: app}}, afterFault: broken}}\n"
            ),
            Path::new("c.yaml"),
        )
        .unwrap();
        let c = s.cluster.unwrap();
        assert_eq!(c.faults.len(), 2);
        assert_eq!(c.faults[0].fault, CanaryFault::MissingPath);
        assert!(matches!(c.faults[1].target, ClusterTarget::Existing(_)));
        assert_eq!(c.faults[1].at.as_secs(), 60);
        assert_eq!(s.expectations.alerts[0].after_fault, Some(0));
        assert!(s.faults.is_empty());
    }

    #[test]
    fn every_mistake_is_named_at_its_line() {
        let e = errors("  cluster:\n    faults:\n      - {target: Kustomization/app, fault: build-failure}\n");
        assert!(e.contains("c.yaml:10: unknown cluster fault \"build-failure\" (that is a simulator fault"), "{e}");
        let e = errors("  cluster:\n    faults:\n      - {target: GitRepository/src, fault: missing-path}\n");
        assert!(e.contains("missing-path does not apply to a GitRepository"), "{e}");
        let e = errors("  cluster:\n    faults:\n      - {existing: Kustomization/flux-system/apps, fault: missing-path}\n");
        assert!(e.contains("cannot be put on an object the drill did not create"), "{e}");
        let e = errors("  cluster:\n    faults:\n      - {target: Kustomization/nope, fault: suspend}\n");
        assert!(e.contains("target Kustomization/flux-system/nope is not a resource of this scenario"), "{e}");
        let e = errors("  faults:\n    - {at: 1m, target: Kustomization/app, fault: build-failure}\n  cluster:\n    faults:\n      - {target: Kustomization/app, fault: suspend}\n");
        assert!(e.contains("spec.faults cannot be used with spec.cluster"), "{e}");
        let e = errors("  cluster:\n    faults: []\n");
        assert!(e.contains("spec.cluster.faults is empty"), "{e}");
    }
}
