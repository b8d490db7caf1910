//! `lint --coverage`: for every Flux object (from the manifests given, or the cluster), which
//! alerting rule fires when it fails, is suspended or goes stale, and which Alertmanager
//! receiver that reaches; which Flux Alert and Provider notify about its failures; and which
//! objects nobody hears about.
//!
//! A rule "fires" when its expression, evaluated over the series the object would have in that
//! state (per the metrics catalog of the Flux version, see `eval`), returns something; `for`
//! is assumed to have elapsed. Without a scrape configuration an object's namespace is put on
//! both `namespace` and `exported_namespace`, as either can carry it depending on the scrape.

use std::collections::BTreeMap;

use model::metrics;
use serde::Serialize;

use super::eval::{self, Series, Value};
use super::input::Gathered;
use super::prom::AlertRule;
use super::yaml::Node;
use super::Inputs;

/// The states an object is checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Failing,
    Suspended,
    Stale,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleHit {
    pub alert: String,
    pub location: String,
    /// The rule's `for`: it fires once the state has lasted that long.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// Receivers per Alertmanager configuration given ("file: a, b").
    pub receivers: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notifier {
    pub alert: String,
    pub provider: String,
    pub provider_type: String,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateCoverage {
    pub rules: Vec<RuleHit>,
    /// Rules whose answer could not be told, and why.
    pub undecided: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCoverage {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub failing: StateCoverage,
    pub suspended: StateCoverage,
    pub stale: StateCoverage,
    /// Flux Alerts (and their Providers) that pass this object's error events.
    pub notifications: Vec<Notifier>,
    /// Nothing tells anyone when it fails.
    pub unheard: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub flux_version: String,
    pub objects: Vec<ObjectCoverage>,
    pub unheard: usize,
}

/// The series one object has in a state, per the catalog of the version.
fn series(kind: &str, ns: &str, name: &str, state: State, inputs: &Inputs) -> Vec<Series> {
    let version = inputs.version;
    let info = model::kinds::by_kind(kind);
    let ready = match state {
        State::Failing => "False",
        _ => "True",
    };
    let suspended = state == State::Suspended;
    let mut out = Vec::new();
    let lbl = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // kube-state-metrics (flux2-monitoring-example config) and the Flux Operator.
    let group = info.map_or("", |i| i.group);
    let mut ksm = lbl(&[
        ("__name__", "gotk_resource_info"),
        ("customresource_kind", kind),
        ("customresource_group", group),
        ("name", name),
        ("exported_namespace", ns),
        ("suspended", if suspended { "true" } else { "false" }),
    ]);
    if metrics::resource_info_has_ready(kind) {
        ksm.insert("ready".into(), ready.into());
    }
    out.push(Series {
        labels: ksm,
        value: 1.0,
        rate: 0.0,
    });
    out.push(Series {
        labels: lbl(&[
            ("__name__", "flux_resource_info"),
            ("kind", kind),
            ("name", name),
            ("exported_namespace", ns),
            ("ready", ready),
            ("suspended", if suspended { "True" } else { "False" }),
        ]),
        value: 1.0,
        rate: 0.0,
    });
    let Some(info) = info else { return out };
    // Reconciles happen (and fail) while failing; none while suspended or stale.
    let reconciling = state == State::Failing;
    let obj = |metric: &str| {
        let mut l = lbl(&[
            ("__name__", metric),
            ("kind", kind),
            ("name", name),
            ("namespace", ns),
        ]);
        if !inputs.scrape.given || inputs.scrape.metric_targets().any(|t| !t.honor_labels) {
            l.insert("exported_namespace".into(), ns.into());
        }
        l
    };
    for suffix in ["_count", "_sum"] {
        out.push(Series {
            labels: obj(&format!("{}{suffix}", metrics::RECONCILE_DURATION)),
            value: 100.0,
            rate: if reconciling { 0.01 } else { 0.0 },
        });
    }
    if metrics::emitted_by(metrics::get(metrics::RECONCILE_CONDITION), version, info.controller) {
        for status in ["True", "False", "Unknown"] {
            let mut l = obj(metrics::RECONCILE_CONDITION);
            l.insert("type".into(), "Ready".into());
            l.insert("status".into(), status.into());
            out.push(Series {
                labels: l,
                value: f64::from(u8::from(status == ready)),
                rate: 0.0,
            });
        }
    }
    if metrics::emitted_by(metrics::get(metrics::SUSPEND_STATUS), version, info.controller)
        && metrics::records_suspend_status(kind)
    {
        out.push(Series {
            labels: obj(metrics::SUSPEND_STATUS),
            value: f64::from(u8::from(suspended)),
            rate: 0.0,
        });
    }
    let controller = kind.to_lowercase();
    for result in ["success", "error"] {
        let grows = match result {
            "error" => reconciling,
            _ => state != State::Stale && state != State::Suspended,
        };
        out.push(Series {
            labels: lbl(&[
                ("__name__", metrics::RECONCILE_TOTAL),
                ("controller", &controller),
                ("result", result),
            ]),
            value: 100.0,
            rate: if grows { 0.01 } else { 0.0 },
        });
    }
    out.push(Series {
        labels: lbl(&[
            ("__name__", metrics::RECONCILE_ERRORS_TOTAL),
            ("controller", &controller),
        ]),
        value: 10.0,
        rate: if reconciling { 0.01 } else { 0.0 },
    });
    out
}

/// Whether a result series may be about the object (labels naming another object exclude it).
fn about(l: &BTreeMap<String, String>, kind: &str, ns: &str, name: &str) -> bool {
    let is = |k: &str, want: &str| l.get(k).is_none_or(|v| v == want);
    is("name", name)
        && is("exported_namespace", ns)
        && (is("kind", kind) || l.get("kind").is_none())
        && is("customresource_kind", kind)
}

pub fn build(g: &Gathered, inputs: &Inputs) -> Report {
    let mut scratch = Vec::new();
    let mut skipped = Vec::new();
    let alerts: Vec<AlertRule> = g
        .rules
        .iter()
        .flat_map(|d| super::prom::lint(d, inputs, &mut scratch, &mut skipped))
        .collect();
    let parsed: Vec<(&AlertRule, Option<promql_parser::parser::Expr>)> = alerts
        .iter()
        .map(|a| (a, promql_parser::parser::parse(&a.expr).ok()))
        .collect();
    let mut objects = Vec::new();
    for o in g.objects.iter().filter(|o| {
        !matches!(o.kind(), "Alert" | "Provider") && model::kinds::by_kind(o.kind()).is_some()
    }) {
        let (kind, ns, name) = (
            o.kind().to_string(),
            o.namespace().unwrap_or_else(|| "flux-system".into()),
            o.name(),
        );
        let mut cov = ObjectCoverage {
            kind: kind.clone(),
            namespace: ns.clone(),
            name: name.clone(),
            failing: StateCoverage::default(),
            suspended: StateCoverage::default(),
            stale: StateCoverage::default(),
            notifications: Vec::new(),
            unheard: false,
        };
        for state in [State::Failing, State::Suspended, State::Stale] {
            let db = series(&kind, &ns, &name, state, inputs);
            let target = match state {
                State::Failing => &mut cov.failing,
                State::Suspended => &mut cov.suspended,
                State::Stale => &mut cov.stale,
            };
            for (a, expr) in &parsed {
                let Some(expr) = expr else { continue };
                match eval::eval(expr, &db) {
                    Ok(Value::Vector(v)) => {
                        let hits: Vec<_> = v
                            .into_iter()
                            .filter(|(l, _, _)| about(l, &kind, &ns, &name))
                            .collect();
                        if let Some((l, _, _)) = hits.first() {
                            let mut labels = l.clone();
                            labels.extend(a.labels.clone());
                            labels.insert("alertname".into(), a.name.clone());
                            let receivers = g
                                .alertmanager
                                .iter()
                                .map(|(file, doc)| {
                                    format!(
                                        "{file}: {}",
                                        super::alertmanager::route_alert(doc, &labels)
                                            .into_iter()
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )
                                })
                                .collect();
                            target.rules.push(RuleHit {
                                alert: a.name.clone(),
                                location: format!("{}:{}", a.file, a.line),
                                for_: a.for_.map(model::format_go_duration),
                                receivers,
                            });
                        }
                    }
                    Ok(Value::Scalar(_)) => {}
                    Err(e) => target
                        .undecided
                        .push(format!("{} ({}:{}): {}", a.name, a.file, a.line, e.0)),
                }
            }
        }
        cov.notifications = notifiers(g, o.node.to_json(), &kind);
        cov.unheard = cov.failing.rules.is_empty()
            && cov.notifications.is_empty()
            && cov.failing.undecided.is_empty();
        objects.push(cov);
    }
    objects.sort_by(|a, b| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name)));
    Report {
        flux_version: inputs.version.to_string(),
        unheard: objects.iter().filter(|o| o.unheard).count(),
        objects,
    }
}

/// Gives an object without `metadata.namespace` the namespace Flux would default it to. A
/// `metadata` that is not a mapping (the API server would refuse the object) counts as empty.
fn default_namespace(obj: &mut serde_json::Value, namespace: serde_json::Value) {
    if !obj.is_object() || obj.pointer("/metadata/namespace").is_some() {
        return;
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = serde_json::json!({});
    }
    obj["metadata"]["namespace"] = namespace;
}

/// The Flux Alerts that pass this object's error events, and their Providers.
fn notifiers(g: &Gathered, obj: serde_json::Value, kind: &str) -> Vec<Notifier> {
    let mut obj = obj;
    default_namespace(&mut obj, "flux-system".into());
    obj["kind"] = kind.into();
    let mut out = Vec::new();
    for a in g.flux.iter().filter(|d| d.kind() == "Alert") {
        let mut alert = a.node.to_json();
        default_namespace(&mut alert, obj["metadata"]["namespace"].clone());
        if !model::notification::alert_matches(&alert, &obj, "error") {
            continue;
        }
        let pname = alert
            .pointer("/spec/providerRef/name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let provider = g.flux.iter().find(|p| {
            p.kind() == "Provider"
                && p.name() == pname
                && (p.namespace().is_none() || p.namespace() == a.namespace())
        });
        let Some(p) = provider else { continue };
        if p.node.at(&["spec", "suspend"]).and_then(Node::as_bool) == Some(true) {
            continue;
        }
        out.push(Notifier {
            alert: format!("{}/{}", a.namespace().unwrap_or_default(), a.name()),
            provider: p.name(),
            provider_type: p
                .node
                .at(&["spec", "type"])
                .and_then(Node::scalar_text)
                .unwrap_or_default(),
        });
    }
    out
}

pub fn render_text(r: &Report) -> String {
    let cell = |s: &StateCoverage| -> String {
        if s.rules.is_empty() {
            if s.undecided.is_empty() {
                "-".into()
            } else {
                "?".into()
            }
        } else {
            s.rules
                .iter()
                .map(|h| {
                    let to: Vec<String> = h
                        .receivers
                        .iter()
                        .map(|r| r.rsplit(": ").next().unwrap_or("").to_string())
                        .collect();
                    if to.is_empty() {
                        h.alert.clone()
                    } else {
                        format!("{} -> {}", h.alert, to.join("|"))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let rows: Vec<[String; 5]> = r
        .objects
        .iter()
        .map(|o| {
            let notify = if o.notifications.is_empty() {
                "-".to_string()
            } else {
                o.notifications
                    .iter()
                    .map(|n| format!("{} -> {} ({})", n.alert, n.provider, n.provider_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            [
                format!("{}/{}/{}", o.kind, o.namespace, o.name),
                cell(&o.failing),
                cell(&o.suspended),
                cell(&o.stale),
                notify,
            ]
        })
        .collect();
    let head = [
        "OBJECT",
        "FAILING",
        "SUSPENDED",
        "STALE",
        "FLUX NOTIFICATIONS (errors)",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count().min(60));
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let shown: String = if c.chars().count() > 60 {
                format!("{}…", c.chars().take(59).collect::<String>())
            } else {
                c.clone()
            };
            l.push_str(&format!("{:<w$}  ", shown, w = widths[i]));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&head.map(String::from), &mut out);
    for row in &rows {
        line(row, &mut out);
    }
    out.push_str(&format!(
        "\n{} object(s), {} nobody hears about when they fail (Flux {}). `-o json` lists receivers per Alertmanager configuration and rules that could not be judged (?).\n",
        r.objects.len(),
        r.unheard,
        r.flux_version
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::input::As;

    #[test]
    fn an_object_whose_metadata_is_no_mapping_is_judged_not_a_panic() {
        // Found by fuzzing (fuzz/corpus/lint_files/crash-metadata-not-a-mapping): defaulting
        // the namespace indexed into a `metadata` that was a string, and panicked.
        let text = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: apps\nspec: {interval: 10m}\n---\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: [on-call]\nspec: {providerRef: {name: slack}, eventSeverity: error, eventSources: [{kind: Kustomization, name: '*'}]}\n---\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {name: slack}\nspec: {type: slack}\n";
        let mut g = Gathered::default();
        g.add_text("objects.yaml", text.to_string(), false, As::Any);
        assert_eq!(g.objects.len(), 1);
        let version = model::FluxVersion::newest();
        let inputs = Inputs {
            version,
            intervals: Vec::new(),
            scrape: super::super::scrape::model(&[], version, &mut Vec::new()),
            ksm: super::super::ksm::Families::read(&[]),
        };
        let report = build(&g, &inputs);
        assert_eq!(report.objects.len(), 1);
        assert_eq!(report.objects[0].namespace, "flux-system");
    }
}
