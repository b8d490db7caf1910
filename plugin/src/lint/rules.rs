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
    /// What the finding is decided from, and what would make it wrong.
    pub evidence: &'static str,
    pub example: &'static str,
    pub fix: &'static str,
}

use Severity::{Error, Info, Warning};

pub static RULES: &[Rule] = &[
    // Prometheus rules
    Rule { id: "FM001", severity: Error, title: "PromQL expression does not parse",
        why: "Prometheus refuses to load the whole rule file, so none of its alerts exist.",
        evidence: "promql-parser, which follows Prometheus' grammar. VictoriaMetrics (VMRule) and Loki expressions that PromQL does not read are reported as skipped, not as errors.",
        example: "expr: sum(rate(gotk_reconcile_duration_seconds_count[5m]) by (kind)",
        fix: "Correct the expression (check it with promtool check rules)." },
    Rule { id: "FM002", severity: Error, title: "metric removed in the target Flux version",
        why: "gotk_reconcile_condition and gotk_suspend_status were deprecated in Flux 2.1, dropped by helm-controller in 2.2 and removed everywhere in 2.5 (flux2#5083). A rule on them never fires and no one notices.",
        evidence: "The metrics catalog of the Flux version linted for (--flux-version, or the cluster's): which controller emits which family in which release (flux-facts 1). Reported once per metric and expression.",
        example: "expr: max(gotk_reconcile_condition{status=\"False\",type=\"Ready\"}) by (namespace, name, kind) == 1",
        fix: "Use kube-state-metrics' gotk_resource_info (flux2-monitoring-example config): gotk_resource_info{ready=\"False\"} for failures, gotk_resource_info{suspended=\"true\"} for suspensions." },
    Rule { id: "FM003", severity: Error, title: "metric no Flux version exposes",
        why: "A misspelt or invented gotk_*/flux_*/controller_runtime_* name selects nothing, so the alert can never fire.",
        evidence: "The catalog of every family any Flux release, kube-state-metrics with the example config, or the Flux Operator exposes; only names with Flux's prefixes (gotk_, flux_, controller_runtime_) are judged.",
        example: "expr: gotk_reconcile_duration_second_count > 0",
        fix: "Use a metric of the catalog (the finding suggests the closest name)." },
    Rule { id: "FM004", severity: Error, title: "label the metric does not carry",
        why: "A matcher on a label the series never has only matches the empty value: the alert never fires (or always does). gotk_resource_info has ready, not status; its object namespace is exported_namespace, while namespace is kube-state-metrics' own.",
        evidence: "Known confusions (gotk_resource_info has ready, not status; customresource_kind, not kind; its namespace is kube-state-metrics' own; controller_runtime_* are per controller), and labels neither a Flux controller metric nor any Flux target of the scrape configuration given can carry. An error only when a configuration given proves it (the kube-state-metrics config defines the family without the label, or the scrape configuration); otherwise a warning, as a relabelling may add the label. Target labels added by scrape configs (cluster, team, ...) are never reported without that configuration.",
        example: "expr: gotk_resource_info{status=\"False\", namespace=\"apps\"} == 1",
        fix: "Match a label the metric has (gotk_resource_info: ready, suspended, exported_namespace, name, customresource_kind, ...)." },
    Rule { id: "FM005", severity: Error, title: "label value the metric never takes",
        why: "Label values are case-sensitive: ready is True/False/Unknown, suspended is true/false, kinds are spelt as Flux spells them. A wrong value selects nothing.",
        evidence: "Closed value sets of the catalog (ready, suspended, kinds, results). status=\"Deleted\" is judged per release: Flux 2.1 and later never set it.",
        example: "expr: gotk_resource_info{ready=\"false\", customresource_kind=\"kustomization\"}",
        fix: "Use the exact value (ready=\"False\", customresource_kind=\"Kustomization\")." },
    Rule { id: "FM006", severity: Warning, title: "alert on Flux state without `for`, or `for` shorter than the interval it watches",
        why: "Flux retries a failed reconcile within its interval; an alert that fires at once (or sooner than one interval, at least 1m) pages people for failures the next retry fixes, and they learn to ignore it.",
        evidence: "The alert reads a Flux metric; the interval comes from the Flux objects given (else 1m).",
        example: "- alert: FluxReconciliationFailure\n  expr: gotk_resource_info{ready=\"False\"} == 1",
        fix: "Add `for:` of at least the interval of the objects watched (at least 1m), e.g. for: 10m." },
    Rule { id: "FM007", severity: Info, title: "alert without a severity label",
        why: "Alertmanager configurations usually route on severity; without it the alert may fall to the default receiver, and the notification cannot say how urgent it is.",
        evidence: "Flux alerts only (named or grouped for Flux, or reading a Flux metric): the rule's labels.",
        example: "labels: {team: platform}",
        fix: "Add labels: {severity: critical|warning|info}." },
    Rule { id: "FM008", severity: Warning, title: "alert without a summary annotation",
        why: "The notification then says only the alert name; the person paged does not know which object failed.",
        evidence: "Flux alerts only: none of the annotations summary, description or message is set.",
        example: "annotations: {description: ...}",
        fix: "Add annotations.summary naming the object, e.g. \"{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/{{ $labels.name }} is not ready\"." },
    Rule { id: "FM009", severity: Info, title: "alert without a runbook_url annotation",
        why: "A runbook link tells the person paged what to do first.",
        evidence: "Flux alerts only: the annotations.",
        example: "annotations: {summary: ...}",
        fix: "Add annotations.runbook_url." },
    Rule { id: "FM010", severity: Warning, title: "duplicate alert",
        why: "Two alerting rules with the same name and the same labels notify twice for one problem (usually a copy-paste left over). Same name with different severity labels is a legitimate tiering and is not reported.",
        evidence: "Name and static labels across all rule files given; alternatives of a Helm if/else are not compared.",
        example: "two rules `alert: FluxReconciliationFailure` with labels {severity: critical}",
        fix: "Remove one, or tell them apart with labels." },
    Rule { id: "FM011", severity: Error, title: "duplicate rule group name in a file",
        why: "Prometheus refuses to load a rule file with two groups of the same name.",
        evidence: "Group names within one file (Helm templates excepted).",
        example: "groups: [{name: flux, ...}, {name: flux, ...}]",
        fix: "Rename or merge the groups." },
    Rule { id: "FM012", severity: Warning, title: "rate(), irate() or increase() over a gauge",
        why: "These functions assume a counter that only goes up: every decrease of a gauge reads as a counter reset, so the result is noise (and for a 0/1 gauge mostly zero).",
        evidence: "The catalog's metric types (gauges and kube-state-metrics Info metrics).",
        example: "expr: rate(gotk_reconcile_condition{status=\"False\"}[5m]) > 0",
        fix: "Compare the gauge itself (== 1), or use delta()/deriv()/changes() for its changes." },
    Rule { id: "FM013", severity: Error, title: "time() minus a value that is not a timestamp",
        why: "`time() - x` is an age only when x is a Unix timestamp; Flux's gauges are 0/1 and counts, so the result is the current time and the threshold always holds (or never).",
        evidence: "The catalog: no Flux metric is a timestamp.",
        example: "expr: time() - max(gotk_reconcile_condition{type=\"Ready\"}) by (name) > 3600",
        fix: "Alert on reconciles that stopped: increase(gotk_reconcile_duration_seconds_count[2h]) == 0." },
    Rule { id: "FM014", severity: Warning, title: "annotation reads a label the query dropped",
        why: "An aggregation keeps only its `by` labels; `{{ $labels.name }}` of a dropped label renders empty, and the page says nothing about which object failed.",
        evidence: "The query's result labels when they are a closed set (aggregations with by(...) or without grouping, absent(), literals); rule labels are not counted as missing.",
        example: "expr: sum by (kind) (gotk_resource_info{ready=\"False\"}) > 0\nannotations: {summary: '{{ $labels.name }} failed'}",
        fix: "Keep the label in the aggregation (by (kind, name)) or drop it from the annotation." },
    Rule { id: "FM015", severity: Error, title: "threshold unreachable given the histogram's buckets",
        why: "histogram_quantile never returns more than the top finite bucket's bound (past it Prometheus returns that bound), so a threshold at or above it never holds.",
        evidence: "The buckets Flux records: gotk_reconcile_duration_seconds tops at 1800s (ExponentialBucketsRange(0.01, 1800, 10)), controller_runtime_reconcile_time_seconds at 60s.",
        example: "expr: histogram_quantile(0.99, sum by (le) (rate(gotk_reconcile_duration_seconds_bucket[5m]))) > 3600",
        fix: "Use a threshold below the top bucket, or count observations in the +Inf bucket." },
    Rule { id: "FM016", severity: Warning, title: "\"Flux\" alert on controller_runtime_* without a selector for Flux",
        why: "Every controller-runtime operator exposes controller_runtime_*; without a matcher that limits the selector to Flux's controllers the alert fires for any of them, and is soon ignored.",
        evidence: "The alert or its group is named for Flux, every selector of the expression is a controller_runtime_* one, and none has a matcher on controller or a value naming Flux or its controllers.",
        example: "- alert: FluxReconcileErrors\n  expr: rate(controller_runtime_reconcile_errors_total[5m]) > 0",
        fix: "Add {namespace=\"flux-system\"} or {controller=~\"kustomization|helmrelease|...\"}." },
    Rule { id: "FM017", severity: Warning, title: "absent(up{...}) over several targets",
        why: "absent() returns a series only when the selector matches nothing: over several targets it fires only when all of them are down, so one controller down goes unnoticed.",
        evidence: "The scrape configuration given (PodMonitor, ServiceMonitor or scrape_configs): the Flux targets whose labels the selector matches, counted only when certain.",
        example: "expr: absent(up{job=~\".*flux-system.*\"} == 1)",
        fix: "Alert per target: up{job=\"flux-system/flux-system\"} == 0 with `for:`." },
    Rule { id: "FM018", severity: Error, title: "selector for Flux that matches no Flux target",
        why: "A job, pod or namespace matcher that no Flux target satisfies selects nothing: the alert fires forever (absent) or never.",
        evidence: "With a scrape configuration for Flux: the labels each Flux target gets (job, namespace, pod, container, endpoint after relabelling). Without one: only a glob written as a regex (pod=~\"source-controller-*\"), which anchored RE2 proves cannot match a pod name that goes on.",
        example: "expr: up{pod=~\"source-controller-*\"} == 0",
        fix: "Match the labels the targets carry (pod=~\"source-controller-.*\")." },
    Rule { id: "FM019", severity: Error, title: "metric dropped by the scrape configuration",
        why: "metric_relabel_configs (metricRelabelings) that drop a family remove it before storage: every rule and panel on it selects nothing.",
        evidence: "The scrape configuration given for Flux: drop/keep steps on __name__ applied to the family's name, for every Flux target.",
        example: "metricRelabelings: [{sourceLabels: [__name__], regex: gotk_reconcile_duration_seconds_bucket, action: drop}]",
        fix: "Keep what rules and dashboards read, or stop reading it." },
    // Alertmanager
    Rule { id: "FM020", severity: Error, title: "Alertmanager `match` value written as a regex",
        why: "`match` (and `=` in matchers) compares literally: a value such as '=~\"Flux.*\"' or 'Flux.*' only matches an alertname spelt that way, so the route never matches and the alerts go elsewhere.",
        evidence: "The value of a `match` entry or `=` matcher contains regex syntax (=~, .*, .+, |, ^, $, [..]).",
        example: "match: {alertname: '=~\"Flux.*\"'}",
        fix: "Use a regex matcher: matchers: ['alertname=~\"Flux.*\"'] (or the deprecated match_re: {alertname: 'Flux.*'})." },
    Rule { id: "FM021", severity: Error, title: "Alertmanager matcher or regex with invalid syntax",
        why: "Alertmanager refuses the whole configuration, and keeps running the previous one.",
        evidence: "The matcher grammar and RE2 as Alertmanager reads them (the regex crate follows RE2).",
        example: "matchers: ['severity=~critical(']",
        fix: "Write matchers as name op \"value\" with op one of = != =~ !~ and a valid RE2 regex." },
    Rule { id: "FM022", severity: Warning, title: "route shadowed by an earlier sibling without continue",
        why: "Alertmanager takes the first matching child route; a later sibling whose alerts all match an earlier one (without continue: true) is never reached.",
        evidence: "Matcher sets of siblings: the later one's matchers include all of an earlier one's without continue.",
        example: "routes: [{matchers: ['severity=\"critical\"'], receiver: a}, {matchers: ['severity=\"critical\"', 'team=\"flux\"'], receiver: b}]",
        fix: "Move the more specific route first, or set continue: true on the earlier one." },
    Rule { id: "FM023", severity: Warning, title: "Flux alert reaches only the default receiver",
        why: "The routing tree sends the alert to the root route's receiver, usually a catch-all nobody watches: the routes meant for Flux never match it.",
        evidence: "Routes whose matchers name Flux; the alert's name and its rule's static labels are the only labels taken as known, so a route on labels from the query or external labels (cluster, ...) counts as possibly matching.",
        example: "route: {receiver: default, routes: [{match: {alertname: '=~\"Flux.*\"'}, receiver: flux-pager}]}",
        fix: "Add a route that matches the Flux alerts (e.g. matchers: ['alertname=~\"Flux.*\"'])." },
    Rule { id: "FM024", severity: Error, title: "Flux alert reaches no one",
        why: "Every receiver the alert can reach is undefined or has no integrations (a black hole).",
        evidence: "Receivers defined without any *_configs, and receivers that are not defined.",
        example: "receivers: [{name: 'null'}] with route {receiver: 'null'}",
        fix: "Route the alert to a receiver with slack_configs, pagerduty_configs, webhook_configs, ..." },
    Rule { id: "FM025", severity: Error, title: "Alertmanager configuration key that Alertmanager does not know",
        why: "Alertmanager reads its file strictly: an unknown key anywhere (a typo, a field of another section) makes it refuse the whole configuration and keep the previous one.",
        evidence: "The fields of Alertmanager's configuration structs from v0.25 to the current release, united; sections from other modules (http_config, tls_config, time intervals) are not checked.",
        example: "route: {receiver: default, group_wiat: 30s}",
        fix: "Correct the key (the finding suggests the closest one) or remove it." },
    Rule { id: "FM026", severity: Error, title: "Alertmanager route whose matchers can never all hold",
        why: "A child route only sees alerts its parents matched; two matchers on one label that no value satisfies together (severity=\"critical\" under severity=\"warning\") make the route and its children dead.",
        evidence: "Equality matchers and regexes that are alternations of literals, along the route's path from the root.",
        example: "routes: [{matchers: ['severity=\"warning\"'], routes: [{matchers: ['severity=\"critical\"'], receiver: pager}]}]",
        fix: "Fix the values, or move the route to where its parent matches." },
    // Flux Alerts and Providers
    Rule { id: "FM030", severity: Error, title: "Alert with a dangling providerRef",
        why: "notification-controller finds no Provider in the Alert's namespace and drops every event, with only a log line and a Warning event (Alerts have no status).",
        evidence: "The Providers given (files or cluster) in the Alert's namespace.",
        example: "providerRef: {name: slak}",
        fix: "Name an existing Provider in the Alert's namespace." },
    Rule { id: "FM031", severity: Error, title: "eventSources kind that is not a Flux kind",
        why: "Kinds match exactly and case-sensitively; an unknown kind matches no event.",
        evidence: "The Alert CRD's kind enum per Flux release (flux-install/). Typos of Flux kinds are errors; kinds other projects patch into the enum (Flux Operator, tf-controller) are info; other kinds a version-qualified warning.",
        example: "eventSources: [{kind: Kustomizations, name: '*'}]",
        fix: "Use the kind as Flux spells it (Kustomization, HelmRelease, GitRepository, ...)." },
    Rule { id: "FM032", severity: Error, title: "eventSources name glob other than `*`",
        why: "notification-controller compares names exactly; only a lone `*` means any. 'apps-*' matches only an object literally named apps-*.",
        evidence: "notification-controller's matching: only a lone `*` is a wildcard.",
        example: "eventSources: [{kind: Kustomization, name: 'apps-*'}]",
        fix: "Use name: '*' with matchLabels to select a group of objects, or list each name." },
    Rule { id: "FM033", severity: Error, title: "inclusionList/exclusionList regex that does not compile",
        why: "notification-controller skips the Alert with an InvalidConfig Warning event: no events are delivered.",
        evidence: "The regex crate (RE2), as notification-controller compiles the lists with Go's regexp.",
        example: "exclusionList: ['*.health']",
        fix: "Write a valid Go (RE2) regular expression, e.g. '.*health'." },
    Rule { id: "FM034", severity: Warning, title: "Alert filters hide failure events",
        why: "An Alert meant to tell someone about failures must pass error events: eventSeverity must be info or error (the API knows no other value), an exclusionList pattern must not match Flux's failure messages, and a non-empty inclusionList must admit them.",
        evidence: "eventSeverity's enum; an exclusion pattern is reported only when it matches real failure messages of two or more kinds (quoted from Flux controllers).",
        example: "eventSeverity: error\nexclusionList: ['.*failed.*']",
        fix: "Narrow the exclusion to the noise you mean (e.g. '^Dependencies do not meet ready condition'), or drop it." },
    Rule { id: "FM035", severity: Error, title: "Provider of an unknown type",
        why: "The API rejects an unknown type, or the Provider never delivers.",
        evidence: "The Provider CRD's type enum per Flux release (flux-install/). A type that a newer release knows is a version-qualified warning.",
        example: "type: teams",
        fix: "Use a type notification-controller knows (msteams, slack, discord, generic, generic-hmac, github, ...)." },
    Rule { id: "FM036", severity: Error, title: "Provider without an address",
        why: "With neither spec.address nor a secretRef (whose `address` key may hold it) notification-controller has nowhere to post.",
        evidence: "Provider types that need an address (all but telegram and googlepubsub).",
        example: "spec: {type: slack, channel: alerts}",
        fix: "Set spec.secretRef to a Secret with an `address` key (keeps webhook URLs out of Git), or spec.address." },
    Rule { id: "FM037", severity: Error, title: "eventSources namespace '*'",
        why: "notification-controller compares an event source's namespace literally with the object's; no namespace is called `*`, so the source matches no event.",
        evidence: "notification-controller's event matching (namespace defaults to the Alert's, then must be equal).",
        example: "eventSources: [{kind: Kustomization, name: '*', namespace: '*'}]",
        fix: "List one source per namespace." },
    Rule { id: "FM038", severity: Warning, title: "Provider field or Secret key the type ignores or mis-encodes",
        why: "Each Provider type reads only some fields (notification-controller's notifier factory): a channel, username or Secret key the type never reads does nothing, and a Matrix room alias in channel breaks the send URL.",
        evidence: "The fields each type's notifier takes (internal/notifier/factory.go); Secret keys are checked when the Secret is among the inputs.",
        example: "spec: {type: msteams, channel: alerts}",
        fix: "Remove the field, or put the destination where the type reads it." },
    Rule { id: "FM039", severity: Warning, title: "inclusionList/exclusionList pattern that is an event reason",
        why: "notification-controller matches the lists against the event's message only; a reason such as ReconciliationSucceeded never occurs in a message, so the inclusion admits nothing (or the exclusion excludes nothing).",
        evidence: "The pattern is exactly one of Flux's event reasons (with optional anchors and .*).",
        example: "inclusionList: ['.*ReconciliationSucceeded.*']",
        fix: "Match words of the message (for success: 'Applied revision', 'Helm upgrade succeeded')." },
    // Scrape configuration
    Rule { id: "FM040", severity: Error, title: "monitor meant for Flux that scrapes no Flux controller",
        why: "Flux serves metrics on each controller pod's container port http-prom (8080); its Services expose only http and webhook-receiver. A PodMonitor on another port or on labels Flux's pods do not carry, or a ServiceMonitor for http-prom, finds no target, and every Flux alert is silent.",
        evidence: "Flux's install manifests per release (flux-install/: pod labels app: <controller>, and app.kubernetes.io/component and part-of from 2.7; Services and their ports). Labels only some installs carry make the answer unknown, and a monitor is judged only when it names Flux or its controllers.",
        example: "podMetricsEndpoints: [{port: metrics}]",
        fix: "Use flux2-monitoring-example's PodMonitor: selector app in (...controllers), port http-prom." },
    Rule { id: "FM041", severity: Error, title: "monitor that scrapes a Flux port that does not serve metrics",
        why: "Flux's Services expose source-controller's artifact server and notification-controller's event and webhook receivers; /metrics is not there, so the target is down (up == 0) and no Flux metric arrives.",
        evidence: "Flux's Services and container ports per release (flux-install/).",
        example: "ServiceMonitor on source-controller with endpoints: [{port: http}]",
        fix: "Scrape the pods' http-prom port with a PodMonitor." },
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
        "{} ({}): {}\n\nWhy:\n{}\nEvidence:\n{}\nExample:\n{}\nFix:\n{}",
        r.id,
        r.severity.as_str(),
        r.title,
        indent(r.why),
        indent(r.evidence),
        indent(r.example),
        indent(r.fix)
    )
}
