//! The lint rules, documented in one place: id, severity, what it finds, why it matters, an
//! example and the fix. `kubectl flux-monitor lint --explain [ID]` prints from here.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// What it finds, in one line.
    pub title: &'static str,
    pub why: &'static str,
    pub example: &'static str,
    pub fix: &'static str,
}

use Severity::{Error, Info, Warning};

pub static RULES: &[Rule] = &[
    // Prometheus rules
    Rule { id: "FM001", severity: Error, title: "PromQL expression does not parse",
        why: "Prometheus refuses to load the whole rule file, so none of its alerts exist.",
        example: "expr: sum(rate(gotk_reconcile_duration_seconds_count[5m]) by (kind)",
        fix: "Correct the expression (check it with promtool check rules)." },
    Rule { id: "FM002", severity: Error, title: "metric removed in the target Flux version",
        why: "gotk_reconcile_condition and gotk_suspend_status were deprecated in Flux 2.1, dropped by helm-controller in 2.2 and removed everywhere in 2.5 (flux2#5083). A rule on them never fires and no one notices.",
        example: "expr: max(gotk_reconcile_condition{status=\"False\",type=\"Ready\"}) by (namespace, name, kind) == 1",
        fix: "Use kube-state-metrics' gotk_resource_info (flux2-monitoring-example config): gotk_resource_info{ready=\"False\"} for failures, gotk_resource_info{suspended=\"true\"} for suspensions." },
    Rule { id: "FM003", severity: Error, title: "metric no Flux version exposes",
        why: "A misspelt or invented gotk_*/flux_*/controller_runtime_* name selects nothing, so the alert can never fire.",
        example: "expr: gotk_reconcile_duration_second_count > 0",
        fix: "Use a metric of the catalog (the finding suggests the closest name)." },
    Rule { id: "FM004", severity: Error, title: "label the metric does not carry",
        why: "A matcher on a label the series never has only matches the empty value: the alert never fires (or always does). gotk_resource_info has ready, not status; its object namespace is exported_namespace, while namespace is kube-state-metrics' own.",
        example: "expr: gotk_resource_info{status=\"False\", namespace=\"apps\"} == 1",
        fix: "Match a label the metric has (gotk_resource_info: ready, suspended, exported_namespace, name, customresource_kind, ...)." },
    Rule { id: "FM005", severity: Error, title: "label value the metric never takes",
        why: "Label values are case-sensitive: ready is True/False/Unknown, suspended is true/false, kinds are spelt as Flux spells them. A wrong value selects nothing.",
        example: "expr: gotk_resource_info{ready=\"false\", customresource_kind=\"kustomization\"}",
        fix: "Use the exact value (ready=\"False\", customresource_kind=\"Kustomization\")." },
    Rule { id: "FM006", severity: Warning, title: "alert on Flux state without `for`, or `for` shorter than the interval it watches",
        why: "Flux retries a failed reconcile within its interval; an alert that fires at once (or sooner than one interval, at least 1m) pages people for failures the next retry fixes, and they learn to ignore it.",
        example: "- alert: FluxReconciliationFailure\n  expr: gotk_resource_info{ready=\"False\"} == 1",
        fix: "Add `for:` of at least the interval of the objects watched (at least 1m), e.g. for: 10m." },
    Rule { id: "FM007", severity: Warning, title: "alert without a severity label",
        why: "Alertmanager routes on severity; without it the alert falls to the default receiver.",
        example: "labels: {team: platform}",
        fix: "Add labels: {severity: critical|warning|info}." },
    Rule { id: "FM008", severity: Warning, title: "alert without a summary annotation",
        why: "The notification then says only the alert name; the person paged does not know which object failed.",
        example: "annotations: {description: ...}",
        fix: "Add annotations.summary naming the object, e.g. \"{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} is not ready\"." },
    Rule { id: "FM009", severity: Info, title: "alert without a runbook_url annotation",
        why: "A runbook link tells the person paged what to do first.",
        example: "annotations: {summary: ...}",
        fix: "Add annotations.runbook_url." },
    Rule { id: "FM010", severity: Warning, title: "duplicate alert",
        why: "Two alerting rules with the same name and the same labels notify twice for one problem (usually a copy-paste left over). Same name with different severity labels is a legitimate tiering and is not reported.",
        example: "two rules `alert: FluxReconciliationFailure` with labels {severity: critical}",
        fix: "Remove one, or tell them apart with labels." },
    Rule { id: "FM011", severity: Error, title: "duplicate rule group name in a file",
        why: "Prometheus refuses to load a rule file with two groups of the same name.",
        example: "groups: [{name: flux, ...}, {name: flux, ...}]",
        fix: "Rename or merge the groups." },
    // Alertmanager
    Rule { id: "FM020", severity: Error, title: "Alertmanager `match` value written as a regex",
        why: "`match` (and `=` in matchers) compares literally: a value such as '=~\"Flux.*\"' or 'Flux.*' only matches an alertname spelt that way, so the route never matches and the alerts go elsewhere.",
        example: "match: {alertname: '=~\"Flux.*\"'}",
        fix: "Use a regex matcher: matchers: ['alertname=~\"Flux.*\"'] (or the deprecated match_re: {alertname: 'Flux.*'})." },
    Rule { id: "FM021", severity: Error, title: "Alertmanager matcher or regex with invalid syntax",
        why: "Alertmanager refuses the whole configuration, and keeps running the previous one.",
        example: "matchers: ['severity=~critical(']",
        fix: "Write matchers as name op \"value\" with op one of = != =~ !~ and a valid RE2 regex." },
    Rule { id: "FM022", severity: Warning, title: "route shadowed by an earlier sibling without continue",
        why: "Alertmanager takes the first matching child route; a later sibling whose alerts all match an earlier one (without continue: true) is never reached.",
        example: "routes: [{matchers: ['severity=\"critical\"'], receiver: a}, {matchers: ['severity=\"critical\"', 'team=\"flux\"'], receiver: b}]",
        fix: "Move the more specific route first, or set continue: true on the earlier one." },
    Rule { id: "FM023", severity: Warning, title: "Flux alert reaches only the default receiver",
        why: "The routing tree sends the alert to the root route's receiver, usually a catch-all nobody watches: the routes meant for Flux never match it.",
        example: "route: {receiver: default, routes: [{match: {alertname: '=~\"Flux.*\"'}, receiver: flux-pager}]}",
        fix: "Add a route that matches the Flux alerts (e.g. matchers: ['alertname=~\"Flux.*\"'])." },
    Rule { id: "FM024", severity: Error, title: "Flux alert reaches no one",
        why: "Every receiver the alert can reach is undefined or has no integrations (a black hole).",
        example: "receivers: [{name: 'null'}] with route {receiver: 'null'}",
        fix: "Route the alert to a receiver with slack_configs, pagerduty_configs, webhook_configs, ..." },
    // Flux Alerts and Providers
    Rule { id: "FM030", severity: Error, title: "Alert with a dangling providerRef",
        why: "notification-controller finds no Provider in the Alert's namespace and drops every event, with only a log line and a Warning event (Alerts have no status).",
        example: "providerRef: {name: slak}",
        fix: "Name an existing Provider in the Alert's namespace." },
    Rule { id: "FM031", severity: Error, title: "eventSources kind that is not a Flux kind",
        why: "Kinds match exactly and case-sensitively; an unknown kind matches no event.",
        example: "eventSources: [{kind: Kustomizations, name: '*'}]",
        fix: "Use the kind as Flux spells it (Kustomization, HelmRelease, GitRepository, ...)." },
    Rule { id: "FM032", severity: Error, title: "eventSources name glob other than `*`",
        why: "notification-controller compares names exactly; only a lone `*` means any. 'apps-*' matches only an object literally named apps-*.",
        example: "eventSources: [{kind: Kustomization, name: 'apps-*'}]",
        fix: "Use name: '*' with matchLabels to select a group of objects, or list each name." },
    Rule { id: "FM033", severity: Error, title: "inclusionList/exclusionList regex that does not compile",
        why: "notification-controller skips the Alert with an InvalidConfig Warning event: no events are delivered.",
        example: "exclusionList: ['*.health']",
        fix: "Write a valid Go (RE2) regular expression, e.g. '.*health'." },
    Rule { id: "FM034", severity: Warning, title: "Alert filters hide failure events",
        why: "An Alert meant to tell someone about failures must pass error events: eventSeverity must be info or error (the API knows no other value), an exclusionList pattern must not match Flux's failure messages, and a non-empty inclusionList must admit them.",
        example: "eventSeverity: error\nexclusionList: ['.*failed.*']",
        fix: "Narrow the exclusion to the noise you mean (e.g. '^Dependencies do not meet ready condition'), or drop it." },
    Rule { id: "FM035", severity: Error, title: "Provider of an unknown type",
        why: "The API rejects an unknown type, or the Provider never delivers.",
        example: "type: teams",
        fix: "Use a type notification-controller knows (msteams, slack, discord, generic, generic-hmac, github, ...)." },
    Rule { id: "FM036", severity: Error, title: "Provider without an address",
        why: "With neither spec.address nor a secretRef (whose `address` key may hold it) notification-controller has nowhere to post.",
        example: "spec: {type: slack, channel: alerts}",
        fix: "Set spec.secretRef to a Secret with an `address` key (keeps webhook URLs out of Git), or spec.address." },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// `lint --explain`: one line per rule.
pub fn list() -> String {
    let mut out = String::from("ID     SEVERITY  FINDS\n");
    for r in RULES {
        out.push_str(&format!(
            "{:<6} {:<9} {}\n",
            r.id,
            r.severity.as_str(),
            r.title
        ));
    }
    out.push_str("\nkubectl flux-monitor lint --explain ID shows why, an example and the fix.\n");
    out
}

/// `lint --explain ID`: the whole entry.
pub fn explain(r: &Rule) -> String {
    let indent = |s: &str| s.lines().map(|l| format!("  {l}\n")).collect::<String>();
    format!(
        "{} ({}): {}\n\nWhy:\n{}\nExample:\n{}\nFix:\n{}",
        r.id,
        r.severity.as_str(),
        r.title,
        indent(r.why),
        indent(r.example),
        indent(r.fix)
    )
}
