//! One PromQL expression (of a rule or a dashboard panel) judged against the metrics catalog of
//! the target Flux version and, when given, the scrape configuration: metric names, labels and
//! their values, and the expression shapes that can never do what they say (rate over a gauge,
//! `time() -` a value that is not a timestamp, a histogram threshold above the top bucket,
//! `absent()` over several targets, selectors that match no Flux target).

use std::collections::HashMap;

use model::metrics::{self, MetricSource};
use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};

use super::promql::{
    all_matchers, allowed_values, closest, is_flux_name, known_elsewhere, line_in, matcher_admits,
    op_text, selector_name, Selectors,
};
use super::relabel::{Keep, Value};
use super::Finding;
use super::Inputs;

/// Where an expression is and what it belongs to.
pub struct ExprCtx<'a> {
    pub file: &'a str,
    /// The line the expression text starts on.
    pub line: u64,
    pub text: &'a str,
    /// "alert X", "recording rule Y", "dashboard panel Z".
    pub who: &'a str,
    pub inputs: &'a Inputs,
    /// An alert named for Flux (or in a Flux group).
    pub flux_alert: bool,
    /// Label values may hold dashboard variables: values are not judged.
    pub variables: bool,
}

impl ExprCtx<'_> {
    /// What a selector that selects nothing does to what the expression is for.
    fn effect(&self) -> &'static str {
        if self.variables {
            "the query returns nothing"
        } else if self.who.starts_with("recording rule") {
            "this rule records nothing"
        } else {
            "this rule never fires"
        }
    }
}

/// What one expression tells the rules around it.
#[derive(Default)]
pub struct ExprFacts {
    /// It reads a Flux metric.
    pub flux: bool,
    /// The Flux kinds it watches (empty: all or unknown).
    pub kinds: Vec<String>,
}

/// Known confusions: a label a family does not carry, and the one that was meant.
fn confusion(family: &str, label: &str) -> Option<&'static str> {
    match (family, label) {
        ("gotk_resource_info", "status") => Some("ready (the Ready condition's status: True, False or Unknown)"),
        ("gotk_resource_info", "kind" | "type") => Some("customresource_kind (the Flux kind, e.g. HelmRelease)"),
        ("flux_resource_info", "status") => Some("ready"),
        ("flux_resource_info", "customresource_kind" | "type") => Some("kind"),
        (f, "kind" | "type" | "name") if f.starts_with("controller_runtime_") => {
            Some("controller (the lowercase kind, e.g. kustomization); controller-runtime metrics are per controller, not per object")
        }
        _ => None,
    }
}

/// Labels any series may carry from elsewhere than its target (external labels of a
/// Thanos/Mimir/Cortex setup, federation): never reported as impossible.
const EXTERNAL_LIKE: &[&str] = &[
    "cluster",
    "cluster_id",
    "cluster_type",
    "prometheus",
    "prometheus_replica",
    "replica",
    "region",
    "environment",
    "env",
    "tenant",
    "installation",
    "provider",
    "organization",
    "customer",
    "team",
];

pub(super) fn has_flux_word(s: &str) -> bool {
    let s = s.to_lowercase();
    s.contains("flux")
        || [
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
            "image-reflector",
            "image-automation",
        ]
        .iter()
        .any(|c| s.contains(c))
}

pub fn lint_expr(expr: &Expr, ctx: &ExprCtx, out: &mut Vec<Finding>) -> ExprFacts {
    let mut sel = Selectors::default();
    let _ = promql_parser::util::walk_expr(&mut sel, expr);
    let mut facts = ExprFacts::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut reported_removed: Vec<String> = Vec::new();
    let version = ctx.inputs.version;
    for vs in &sel.0 {
        let Some(name) = selector_name(vs) else {
            continue;
        };
        let nth = seen.entry(name.clone()).or_default();
        let line = line_in(ctx.text, ctx.line, &name, *nth);
        *nth += 1;
        let who = ctx.who;
        let at =
            |rule, message: String, fix: String| Finding::new(ctx.file, line, rule, message, fix);
        let matchers = all_matchers(vs);
        let family = metrics::family(&name);
        if is_flux_name(&name) || family.is_some_and(|f| f.source != MetricSource::Prometheus) {
            facts.flux = true;
        }
        collect_kinds(&matchers, &mut facts.kinds);
        match family {
            Some(f) if !metrics::exists_in(f, version) => {
                // Once per metric and expression: one removal, one finding.
                if !reported_removed.contains(&f.name.to_string()) {
                    reported_removed.push(f.name.to_string());
                    out.push(at(
                        "FM002",
                        format!("{who}: metric {name} was removed in Flux 2.5 (linting for Flux {version}): it selects nothing and {}", ctx.effect()),
                        if f.name == metrics::SUSPEND_STATUS {
                            "use gotk_resource_info{suspended=\"true\"} from kube-state-metrics".into()
                        } else {
                            "use gotk_resource_info{ready=\"False\"} from kube-state-metrics (flux2-monitoring-example config)".into()
                        },
                    ));
                }
                continue;
            }
            Some(f)
                if (f.name == metrics::RECONCILE_CONDITION || f.name == metrics::SUSPEND_STATUS)
                    && matchers.iter().any(|m| m.name == "kind" && m.op == MatchOp::Equal && m.value == "HelmRelease") =>
            {
                out.push(at(
                    "FM002",
                    format!("{who}: helm-controller stopped emitting {name} in Flux 2.2: kind=\"HelmRelease\" selects nothing"),
                    "use gotk_resource_info{customresource_kind=\"HelmRelease\"} from kube-state-metrics".into(),
                ));
            }
            None if is_flux_name(&name) && !known_elsewhere(&name) => out.push(at(
                "FM003",
                format!("{who}: no Flux version exposes metric {name}"),
                closest(&name).map_or_else(
                    || "use a metric of the Flux catalog (gotk_resource_info, gotk_reconcile_duration_seconds, controller_runtime_*)".into(),
                    |c| format!("did you mean {c}?"),
                ),
            )),
            _ => {}
        }
        dropped_by_scrape(&name, family, ctx, line, out);
        glob_as_regex(&name, &matchers, ctx, line, out);
        no_flux_target(vs, &name, family, ctx, line, out);
        let Some(f) = family else {
            if name == "flux_resource_info" {
                label_checks(&name, "flux_resource_info", &matchers, ctx, line, out);
            }
            continue;
        };
        label_checks(&name, f.name, &matchers, ctx, line, out);
    }
    super::shapes::shapes(expr, ctx, out);
    facts.kinds.sort();
    facts.kinds.dedup();
    facts
}

fn collect_kinds(matchers: &[&Matcher], kinds: &mut Vec<String>) {
    for m in matchers {
        if matches!(
            m.name.as_str(),
            "kind" | "customresource_kind" | "controller"
        ) && !matches!(m.op, MatchOp::NotEqual | MatchOp::NotRe(_))
        {
            for k in model::KINDS.iter() {
                let v = if m.name == "controller" {
                    k.kind.to_lowercase()
                } else {
                    k.kind.to_string()
                };
                if matcher_admits(m, &v) {
                    kinds.push(k.kind.to_string());
                }
            }
        }
    }
}

/// FM004 and FM005: labels the family cannot carry, values it never takes.
fn label_checks(
    name: &str,
    family: &str,
    matchers: &[&Matcher],
    ctx: &ExprCtx,
    line: u64,
    out: &mut Vec<Finding>,
) {
    let who = ctx.who;
    let version = ctx.inputs.version;
    let at = |rule, message: String, fix: String| Finding::new(ctx.file, line, rule, message, fix);
    let fam = metrics::family(name);
    for m in matchers {
        if m.name == "__name__" || m.value.contains(super::helm::PLACEHOLDER) {
            continue;
        }
        let is_info = family == metrics::RESOURCE_INFO;
        // A matcher on an absent label matches only the empty value: `!= "x"` and `=~ ".*"`
        // hold anyway, so only matchers that need a value are judged.
        let needs_value = !matcher_admits(m, "");
        if let Some(meant) = confusion(family, &m.name) {
            if needs_value && !ctx.inputs.ksm_has(family, &m.name) {
                // Proven when the kube-state-metrics config given defines the family without
                // the label; otherwise a relabelling could add it: a warning.
                let proven = ctx.inputs.ksm.defines(family)
                    || fam.is_some_and(|f| {
                        f.source == MetricSource::Controller
                            && ctx.inputs.scrape.given
                            && impossible_controller_label(f, &m.name, ctx).is_some()
                    });
                let f = at(
                    "FM004",
                    format!(
                        "{who}: {name} has no label {} ({}): it selects nothing{}",
                        m.name,
                        if proven {
                            "the configuration given proves it"
                        } else {
                            "not in the catalog's label set"
                        },
                        if proven {
                            ""
                        } else {
                            " unless a relabelling adds one"
                        }
                    ),
                    format!("match {meant}"),
                );
                out.push(if proven {
                    f
                } else {
                    f.at_severity(super::rules::Severity::Warning)
                });
            }
            continue;
        }
        if is_info
            && m.name == "namespace"
            && needs_value
            && m.op == MatchOp::Equal
            && !m.value.is_empty()
            && !ctx.inputs.ksm_has(family, "namespace")
        {
            // gotk_resource_info{namespace} is the scrape target's (kube-state-metrics') own.
            if m.value != "monitoring"
                && m.value != "kube-system"
                && !m.value.contains("metrics")
                && !m.value.contains("observability")
                && !m.value.contains("prometheus")
            {
                out.push(
                    at(
                        "FM004",
                        format!("{who}: gotk_resource_info's namespace label is kube-state-metrics' own namespace, not the Flux object's (that is exported_namespace): namespace=\"{}\" selects nothing unless kube-state-metrics runs there", m.value),
                        format!("match exported_namespace{}\"{}\" instead", op_text(&m.op), m.value),
                    )
                    .at_severity(super::rules::Severity::Warning),
                );
            }
            continue;
        }
        if let Some(f) = fam {
            if needs_value
                && f.source == MetricSource::Controller
                && ctx.inputs.scrape.given
                && !EXTERNAL_LIKE.contains(&m.name.as_str())
            {
                if let Some(reason) = impossible_controller_label(f, &m.name, ctx) {
                    out.push(at(
                        "FM004",
                        format!("{who}: {name} never carries label {} {reason}", m.name),
                        format!("{} has labels {}", f.name, f.labels.join(", ")),
                    ));
                    continue;
                }
            }
        }
        if ctx.variables && (m.value.contains('$') || m.value.contains("[[")) {
            continue;
        }
        let Some(allowed) = allowed_values(family, &m.name) else {
            continue;
        };
        let positive = matches!(m.op, MatchOp::Equal | MatchOp::Re(_));
        if !positive || allowed.iter().any(|v| matcher_admits(m, v)) {
            continue;
        }
        if family == metrics::RECONCILE_CONDITION
            && m.name == "status"
            && matcher_admits(m, "Deleted")
        {
            // Flux up to 2.0 set status="Deleted" when an object was deleted (fluxcd/pkg
            // runtime before v0.42, August 2023); Flux 2.1 deletes the series instead.
            out.push(at(
                "FM005",
                format!("{who}: {}{}\"{}\": Flux 2.1 and later never set status=\"Deleted\" (fluxcd/pkg runtime v0.42 deletes a deleted object's series instead), so on Flux {version} this selects nothing", m.name, op_text(&m.op), m.value),
                "drop the status=\"Deleted\" term (the classic docs rule's `+ on(...) ... Deleted` part makes the whole expression empty)".into(),
            ));
            continue;
        }
        let suggestion = allowed
            .iter()
            .find(|v| v.eq_ignore_ascii_case(&m.value))
            .map_or_else(
                || format!("one of {}", allowed.join(", ")),
                |v| format!("\"{v}\" (values are case-sensitive)"),
            );
        out.push(at(
            "FM005",
            format!(
                "{who}: {}{}\"{}\" matches no value {name} takes",
                m.name,
                op_text(&m.op),
                m.value
            ),
            format!("use {suggestion}"),
        ));
    }
}

/// Why a Flux controller metric cannot carry `label` given the scrape configuration, or None.
/// A stored series has its target's labels and its own; an own label that clashes with a
/// target label is renamed `exported_<name>` unless the scrape honours the metric's labels.
fn impossible_controller_label(
    f: &metrics::MetricFamily,
    label: &str,
    ctx: &ExprCtx,
) -> Option<String> {
    let own: Vec<&str> = f.labels.iter().copied().chain(["le", "quantile"]).collect();
    let mut vias = Vec::new();
    for t in ctx.inputs.scrape.metric_targets() {
        // Metric relabelling that writes labels could add any name.
        if t.metric_steps.iter().any(|s| {
            !matches!(
                s.action.as_str(),
                "keep" | "drop" | "labeldrop" | "labelkeep"
            )
        }) {
            return None;
        }
        let on_target = t.labels.contains_key(label);
        let is_own = own.contains(&label);
        let renamed = !t.honor_labels
            && label
                .strip_prefix("exported_")
                .is_some_and(|l| own.contains(&l) && t.labels.contains_key(l));
        if on_target || is_own || renamed {
            return None;
        }
        vias.push(t.via.clone());
    }
    if vias.is_empty() {
        return None;
    }
    vias.sort();
    vias.dedup();
    Some(format!(
        "as scraped by {} (neither the metric nor its target has it)",
        vias.join(", ")
    ))
}

/// FM019: a metric the scrape configuration drops before storage.
fn dropped_by_scrape(
    name: &str,
    family: Option<&metrics::MetricFamily>,
    ctx: &ExprCtx,
    line: u64,
    out: &mut Vec<Finding>,
) {
    let Some(f) = family else { return };
    if f.source != MetricSource::Controller {
        return;
    }
    let targets: Vec<_> = ctx.inputs.scrape.metric_targets().collect();
    if targets.is_empty() {
        return;
    }
    let mut drop_at = None;
    for t in &targets {
        match super::relabel::metric_kept(name, &t.metric_steps) {
            (Keep::No, l) => drop_at = drop_at.or(l.map(|l| (t.via.clone(), l))),
            _ => return,
        }
    }
    if let Some((via, l)) = drop_at {
        let file = via.rsplit_once(':').map_or(via.as_str(), |(f, _)| f);
        out.push(Finding::new(
            ctx.file,
            line,
            "FM019",
            format!("{}: {name} is dropped at scrape time by the metric relabelling at {file}:{l}: it is never stored, so this selects nothing", ctx.who),
            "keep the series the rules and dashboards read (narrow the drop regex), or stop reading them".into(),
        ));
    }
}

/// FM018, without scrape configuration: a glob written where a regex is read (`pod=~"x-*"`).
fn glob_as_regex(
    name: &str,
    matchers: &[&Matcher],
    ctx: &ExprCtx,
    line: u64,
    out: &mut Vec<Finding>,
) {
    let flux_selector = name == "up" || is_flux_name(name) || metrics::family(name).is_some();
    for m in matchers {
        if !matches!(m.op, MatchOp::Re(_))
            || !matches!(
                m.name.as_str(),
                "pod"
                    | "job"
                    | "container"
                    | "instance"
                    | "service"
                    | "namespace"
                    | "kubernetes_pod_name"
            )
        {
            continue;
        }
        let v = &m.value;
        let glob_star = v.char_indices().any(|(i, c)| {
            c == '*' && i > 0 && !matches!(v.as_bytes()[i - 1], b'.' | b')' | b']' | b'}' | b'\\')
        });
        let other_meta = v.chars().any(|c| {
            matches!(
                c,
                '.' | '(' | '[' | '+' | '?' | '|' | '^' | '$' | '\\' | '{'
            )
        });
        if glob_star && !other_meta && (flux_selector || has_flux_word(v)) {
            let meant = v.replace('*', ".*");
            out.push(Finding::new(
                ctx.file,
                line,
                "FM018",
                format!("{}: {}=~\"{v}\" reads as a regex, where `*` repeats the character before it: it matches only values such as \"{}\", never a name that goes on (pod names end in generated suffixes)", ctx.who, m.name, v.replace('*', "")),
                format!("write the regex {}=~\"{meant}\"", m.name),
            ));
        }
    }
}

/// FM018, with scrape configuration: a selector for Flux's targets that no target matches.
fn no_flux_target(
    vs: &VectorSelector,
    name: &str,
    family: Option<&metrics::MetricFamily>,
    ctx: &ExprCtx,
    line: u64,
    out: &mut Vec<Finding>,
) {
    let scrape = &ctx.inputs.scrape;
    if !scrape.given {
        return;
    }
    let controller_metric = family.is_some_and(|f| f.source == MetricSource::Controller);
    let matchers = all_matchers(vs);
    let target_label_names: Vec<&str> = [
        "job",
        "instance",
        "namespace",
        "pod",
        "container",
        "endpoint",
        "service",
    ]
    .to_vec();
    let on_targets: Vec<&&Matcher> = matchers
        .iter()
        .filter(|m| {
            target_label_names.contains(&m.name.as_str())
                || scrape
                    .metric_targets()
                    .any(|t| t.labels.contains_key(&m.name))
        })
        .filter(|m| !(ctx.variables && m.value.contains('$')))
        .collect();
    if on_targets.is_empty() {
        return;
    }
    let meant_for_flux = controller_metric
        || (name == "up" && (ctx.flux_alert || on_targets.iter().any(|m| has_flux_word(&m.value))));
    if !meant_for_flux {
        return;
    }
    let mut any = false;
    for t in scrape.metric_targets() {
        let all = on_targets.iter().all(|m| {
            // The metric's own namespace label wins over the target's with honor_labels.
            if controller_metric && m.name == "namespace" && t.honor_labels {
                return true;
            }
            match t.labels.get(&m.name) {
                Some(Value::Known(v)) => matcher_admits(m, v),
                Some(Value::Unknown) => true,
                None => {
                    controller_metric && family.is_some_and(|f| f.labels.contains(&m.name.as_str()))
                        || matcher_admits(m, "")
                }
            }
        });
        if all {
            any = true;
            break;
        }
    }
    if !any && scrape.metric_targets().next().is_some() {
        let text: Vec<String> = on_targets
            .iter()
            .map(|m| format!("{}{}\"{}\"", m.name, op_text(&m.op), m.value))
            .collect();
        let jobs: Vec<String> = scrape
            .metric_targets()
            .filter_map(|t| match t.labels.get("job") {
                Some(Value::Known(j)) => Some(format!("job=\"{j}\"")),
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        out.push(Finding::new(
            ctx.file,
            line,
            "FM018",
            format!("{}: {name}{{{}}} matches no Flux controller target of the scrape configuration given ({})", ctx.who, text.join(", "), if jobs.is_empty() { "their labels differ".to_string() } else { jobs.join(", ") }),
            "match the labels the targets carry (see `lint --explain FM018`)".into(),
        ));
    }
}
