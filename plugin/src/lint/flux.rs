//! Flux Alerts and Providers (notification.toolkit.fluxcd.io): dangling providerRefs, event
//! source kinds and namespaces, name globs, regexes that do not compile, filters that hide
//! failures or can never match, Provider types (per notification-controller release), addresses,
//! and Provider fields or Secret keys the type never reads.
//!
//! Regexes are compiled with the `regex` crate as notification-controller compiles them with Go's
//! `regexp` (RE2). They agree on everything these lists use; Go accepts a few constructs the
//! crate refuses (`\C`, `\z` inside classes) and the crate's `\d`/`\w` are Unicode-aware where
//! Go's are ASCII, which only widens what a pattern matches here.

use model::notification::provider_needs_address;
use model::FluxVersion;

use super::rules::Severity;
use super::yaml::Node;
use super::Finding;

pub use super::input::Doc as FluxDoc;

/// Whether a document is a notification-controller Alert or Provider.
pub fn is_alert_or_provider(doc: &Node) -> bool {
    let group = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or("");
    group.starts_with("notification.toolkit.fluxcd.io/") && matches!(kind, "Alert" | "Provider")
}

/// The kinds the Alert CRD's `eventSources[].kind` enum allows in a Flux release.
pub fn alert_source_kinds(version: FluxVersion) -> Vec<&'static str> {
    model::notification::alert_event_source_kinds(version)
}

/// Kinds of other projects that patch the Alert CRD's enum to send Flux-style events: the Flux
/// Operator adds its three (internal/builder), tf-controller documents adding Terraform.
const PATCHED_IN: &[(&str, &str)] = &[
    ("FluxInstance", "the Flux Operator"),
    ("ResourceSet", "the Flux Operator"),
    ("ResourceSetInputProvider", "the Flux Operator"),
    ("Terraform", "tf-controller (its docs patch the Alert CRD)"),
];

/// Provider types of the notification-controller a Flux release ships (its CRD's `type` enum).
pub fn provider_types(version: FluxVersion) -> Vec<&'static str> {
    model::notification::provider_types(version)
}

/// The release whose notification-controller first knows a Provider type.
fn type_since(type_: &str) -> Option<String> {
    model::notification::provider_type_since(type_).map(|v| v.to_string())
}

/// Which of spec.channel, spec.username and the Secret keys token, username, password and
/// headers a Provider type reads (notification-controller internal/notifier/factory.go). None
/// for types whose notifier takes the whole option set (Git hosts with app auth, Pub/Sub).
fn reads(type_: &str) -> Option<&'static [&'static str]> {
    Some(match type_ {
        "generic" => &["headers"],
        "generic-hmac" => &["token", "headers"],
        "slack" => &["channel", "username", "token"],
        "discord" | "rocket" => &["channel", "username"],
        "msteams" | "googlechat" | "lark" => &[],
        "webex" | "azureeventhub" | "telegram" | "matrix" => &["channel", "token"],
        "sentry" | "pagerduty" => &["channel"],
        "opsgenie" | "datadog" | "bitbucket" | "azuredevops" => &["token"],
        "alertmanager" | "grafana" | "bitbucketserver" => &["username", "token", "password"],
        "gitlab" | "gitlabmergerequestcomment" => &["token", "password"],
        "nats" | "zulip" => &["channel", "username", "password"],
        "otel" => &["username", "token", "password", "headers"],
        _ => return None,
    })
}

/// Failure messages Flux controllers send (error events), to judge exclusion lists.
/// Dependency waits are left out on purpose: excluding them is a common, sound choice.
const FAILURE_MESSAGES: &[&str] = &[
    "kustomize build failed: accumulating resources: accumulation err='accumulating resources from './apps'': missing Resource metadata",
    "Deployment/apps/web dry-run failed (Invalid): Deployment.apps \"web\" is invalid: spec.template.spec.containers[0].image: Required value",
    "health check failed after 5m0s: timeout waiting for: [Deployment/apps/web status: 'InProgress']",
    "Helm upgrade failed for release apps/redis with chart redis@18.6.1: context deadline exceeded",
    "Helm install failed for release apps/podinfo with chart podinfo@6.5.4: timed out waiting for the condition",
    "failed to checkout and determine revision: unable to clone 'https://github.com/acme/apps': authentication required",
    "failed to fetch Helm repository index: failed to cache index to temporary file: 401 Unauthorized",
];

/// Event reasons of Flux controllers: they are not part of an event's message, which is all
/// inclusion and exclusion lists are matched against.
const REASONS: &[&str] = &[
    "ReconciliationSucceeded",
    "ReconciliationFailed",
    "Progressing",
    "ProgressingWithRetry",
    "DependencyNotReady",
    "ArtifactFailed",
    "BuildFailed",
    "HealthCheckFailed",
    "HealthCheckCanceled",
    "PruneFailed",
    "GitOperationFailed",
    "AuthenticationFailed",
    "URLInvalid",
    "OCIArtifactPullFailed",
    "BucketOperationFailed",
    "InstallFailed",
    "InstallSucceeded",
    "UpgradeFailed",
    "UpgradeSucceeded",
    "RollbackFailed",
    "RollbackSucceeded",
    "TestFailed",
    "TestSucceeded",
    "UninstallSucceeded",
    "UninstallFailed",
    "DriftDetected",
    "RetriesExceeded",
    "NewArtifact",
    "ArtifactUpToDate",
    "ChartPullSucceeded",
    "ChartPackageSucceeded",
    "ChartPullFailed",
    "IndexationFailed",
    "IndexationSucceeded",
    "StorageOperationFailed",
    "FetchFailed",
];

fn compile(re: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(re).map_err(|e| {
        e.to_string()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string()
    })
}

pub fn lint(docs: &[FluxDoc], secrets: &[FluxDoc], version: FluxVersion, out: &mut Vec<Finding>) {
    let providers: Vec<&FluxDoc> = docs.iter().filter(|d| d.kind() == "Provider").collect();
    for d in docs {
        match d.kind() {
            "Provider" => lint_provider(d, secrets, version, out),
            "Alert" => lint_alert(d, &providers, version, out),
            _ => {}
        }
    }
}

fn lint_provider(d: &FluxDoc, secrets: &[FluxDoc], version: FluxVersion, out: &mut Vec<Finding>) {
    let name = d.name();
    let spec = d.node.get("spec");
    let type_ = spec
        .and_then(|s| s.get("type"))
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let known = provider_types(version);
    if !known.contains(&type_.as_str()) {
        let newest = provider_types(FluxVersion::newest());
        match type_since(&type_).filter(|_| newest.contains(&type_.as_str())) {
            Some(since) => out.push(
                Finding::new(
                    &d.file,
                    d.line_of(&["spec", "type"]),
                    "FM035",
                    format!("Provider {name}: type {type_:?} arrived in Flux {since}; notification-controller of Flux {version} does not know it (the API rejects it)"),
                    format!("upgrade Flux to {since} or later, or lint for the Flux you run with --flux-version"),
                )
                .at_severity(Severity::Warning),
            ),
            None => {
                let hint = known
                    .iter()
                    .find(|t| t.eq_ignore_ascii_case(&type_) || (type_.contains("team") && **t == "msteams"))
                    .map_or_else(|| format!("use one of {}", known.join(", ")), |t| format!("did you mean type: {t}?"));
                out.push(Finding::new(&d.file, d.line_of(&["spec", "type"]), "FM035", format!("Provider {name}: unknown type {type_:?}"), hint));
            }
        }
    }
    let has = |k: &str| {
        spec.and_then(|s| s.get(k))
            .is_some_and(|n| n.scalar_text().is_some_and(|v| !v.is_empty()) || n.is_map())
    };
    if provider_needs_address(&type_) && !has("address") && !has("secretRef") {
        out.push(Finding::new(
            &d.file,
            d.line_of(&["spec", "type"]),
            "FM036",
            format!("Provider {name} has neither spec.address nor spec.secretRef: notification-controller has nowhere to post"),
            "set spec.secretRef to a Secret with an `address` key (or spec.address)".into(),
        ));
    }
    provider_fields(d, &name, &type_, secrets, out);
}

/// FM038: fields the type ignores, Secret keys it never reads, a Matrix room alias.
fn provider_fields(
    d: &FluxDoc,
    name: &str,
    type_: &str,
    secrets: &[FluxDoc],
    out: &mut Vec<Finding>,
) {
    let spec = d.node.get("spec");
    if type_ == "matrix" {
        if let Some(ch) = spec
            .and_then(|s| s.get("channel"))
            .and_then(Node::scalar_text)
            .filter(|c| c.starts_with('#'))
        {
            out.push(Finding::new(
                &d.file,
                d.line_of(&["spec", "channel"]),
                "FM038",
                format!("Provider {name}: channel {ch:?} is a Matrix room alias; notification-controller puts the channel into the send URL (/rooms/<channel>/send/...), which takes a room ID, and `#` ends a URL's path: every message fails"),
                "use the room ID (!abcdef:example.org, in the room's settings)".into(),
            ).at_severity(Severity::Error));
        }
    }
    let Some(read) = reads(type_) else { return };
    for field in ["channel", "username"] {
        if let Some(v) = spec
            .and_then(|s| s.get(field))
            .and_then(Node::scalar_text)
            .filter(|v| !v.is_empty())
        {
            if !read.contains(&field) {
                out.push(Finding::new(
                    &d.file,
                    d.line_of(&["spec", field]),
                    "FM038",
                    format!("Provider {name}: type {type_} ignores spec.{field} ({v:?}): messages go where the address says"),
                    format!("remove spec.{field}, or pick the destination in the {type_} webhook itself"),
                ));
            }
        }
    }
    if spec.and_then(|s| s.get("interval")).is_some() {
        out.push(Finding::new(
            &d.file,
            d.line_of(&["spec", "interval"]),
            "FM038",
            format!("Provider {name}: spec.interval is deprecated and has no effect on v1beta3 Providers"),
            "remove spec.interval".into(),
        ).at_severity(Severity::Info));
    }
    let Some(secret_name) = spec
        .and_then(|s| s.at(&["secretRef", "name"]))
        .and_then(Node::scalar_text)
    else {
        return;
    };
    let ns = d.namespace();
    let Some(secret) = secrets.iter().find(|s| {
        s.name() == secret_name && (s.namespace().is_none() || ns.is_none() || s.namespace() == ns)
    }) else {
        return;
    };
    for section in ["data", "stringData"] {
        for (k, _) in secret
            .node
            .get(section)
            .map(Node::entries)
            .unwrap_or_default()
        {
            let key = k.scalar_text().unwrap_or_default();
            if matches!(key.as_str(), "token" | "username" | "password" | "headers")
                && !read.contains(&key.as_str())
            {
                out.push(Finding::new(
                    &secret.file,
                    k.line,
                    "FM038",
                    format!("Secret {secret_name}: key {key:?} is never read by Provider {name} of type {type_}"),
                    if key == "token" { "put the credential where the type reads it (for most chat types the webhook address itself)".into() } else { format!("remove the key {key:?}") },
                ));
            }
        }
    }
}

fn lint_alert(d: &FluxDoc, providers: &[&FluxDoc], version: FluxVersion, out: &mut Vec<Finding>) {
    let name = d.name();
    let ns = d.namespace();
    let spec = d.node.get("spec");
    let get = |k: &str| spec.and_then(|s| s.get(k));
    if let Some(p) = get("providerRef")
        .and_then(|r| r.get("name"))
        .and_then(Node::scalar_text)
    {
        let found = providers.iter().any(|pd| {
            pd.name() == p && (pd.namespace().is_none() || ns.is_none() || pd.namespace() == ns)
        });
        if !found {
            out.push(Finding::new(
                &d.file,
                d.line_of(&["spec", "providerRef", "name"]),
                "FM030",
                format!(
                    "Alert {name}: providerRef {p:?} names no Provider in namespace {}",
                    ns.as_deref().unwrap_or("(unset)")
                ),
                "create the Provider in the Alert's namespace or correct the name".into(),
            ));
        }
    }
    let allowed = alert_source_kinds(version);
    for src in get("eventSources").map(Node::seq).unwrap_or_default() {
        let kind = src
            .get("kind")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        let kind_line = src.get("kind").map_or(src.line, |n| n.line);
        if !allowed.contains(&kind.as_str()) {
            source_kind(d, &name, &kind, kind_line, version, &allowed, out);
        }
        let src_name = src
            .get("name")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        if src_name != "*" && (src_name.contains('*') || src_name.contains('?')) {
            out.push(Finding::new(
                &d.file,
                src.get("name").map_or(src.line, |n| n.line),
                "FM032",
                format!("Alert {name}: eventSources name {src_name:?} is compared literally (notification-controller expands only a lone `*`)"),
                "use name: '*' with matchLabels, or list each object by name".into(),
            ));
        }
        if let Some(n) = src
            .get("namespace")
            .filter(|n| n.scalar_text().is_some_and(|v| v.contains('*')))
        {
            out.push(Finding::new(
                &d.file,
                n.line,
                "FM037",
                format!("Alert {name}: eventSources namespace {:?} is compared literally with the object's namespace; no namespace is called that, so this source matches no event", n.scalar_text().unwrap_or_default()),
                "name the namespace, or list one source per namespace (an Alert sees other namespaces only when cross-namespace references are allowed)".into(),
            ));
        }
    }
    for list in ["inclusionList", "exclusionList"] {
        for re in get(list).map(Node::seq).unwrap_or_default() {
            let text = re.scalar_text().unwrap_or_default();
            if let Err(e) = compile(&text) {
                out.push(Finding::new(&d.file, re.line, "FM033", format!("Alert {name}: {list} entry {text:?} is not a valid regex ({e}); notification-controller skips the whole Alert"), "write a valid Go (RE2) regular expression".into()));
            } else if let Some(reason) = REASONS
                .iter()
                .find(|r| text.trim_matches(|c| "^$.*()".contains(c)) == **r)
            {
                out.push(Finding::new(
                    &d.file,
                    re.line,
                    "FM039",
                    format!("Alert {name}: {list} entry {text:?} is an event reason, but notification-controller matches the lists against the event's message, which does not contain the reason: {}", if list == "inclusionList" { "it admits nothing" } else { "it excludes nothing" }),
                    format!("match words of the message instead (e.g. for {reason}: a phrase the controller writes, such as 'Applied revision' or 'failed')"),
                ));
            }
        }
    }
    lint_hides_errors(d, &name, out);
}

/// FM031: an eventSources kind the Alert CRD of this release does not accept.
fn source_kind(
    d: &FluxDoc,
    name: &str,
    kind: &str,
    line: u64,
    version: FluxVersion,
    allowed: &[&str],
    out: &mut Vec<Finding>,
) {
    if let Some(k) = allowed.iter().find(|k| {
        k.eq_ignore_ascii_case(kind) || format!("{}s", k.to_lowercase()) == kind.to_lowercase()
    }) {
        out.push(Finding::new(&d.file, line, "FM031", format!("Alert {name}: eventSources kind {kind:?} is not a kind: kinds match exactly and case-sensitively"), format!("use kind: {k}")));
        return;
    }
    if let Some((_, who)) = PATCHED_IN.iter().find(|(k, _)| *k == kind) {
        out.push(
            Finding::new(&d.file, line, "FM031", format!("Alert {name}: eventSources kind {kind} is not in Flux {version}'s Alert CRD; it is accepted where {who} adds it to the CRD's kind enum"), "nothing to do when that patch is in place; otherwise the API server rejects this Alert".into())
                .at_severity(Severity::Info),
        );
        return;
    }
    let since = FluxVersion::all().into_iter().find(|v| alert_source_kinds(*v).contains(&kind));
    if let Some(since) = since {
        out.push(
            Finding::new(&d.file, line, "FM031", format!("Alert {name}: eventSources kind {kind} is accepted from Flux {since}; the Alert CRD of Flux {version} rejects this Alert"), "upgrade Flux, or lint for the Flux you run with --flux-version".into())
                .at_severity(Severity::Warning),
        );
        return;
    }
    out.push(
        Finding::new(&d.file, line, "FM031", format!("Alert {name}: eventSources kind {kind:?} is not one Flux {version}'s Alert CRD accepts ({}); the API server rejects this Alert unless the CRD's enum is patched for it", allowed.join(", ")), "use a Flux kind, or patch the Alert CRD's kind enum as the project sending these events documents".into())
            .at_severity(Severity::Warning),
    );
}

/// FM034: eventSeverity other than info/error, exclusions that drop failures.
fn lint_hides_errors(d: &FluxDoc, name: &str, out: &mut Vec<Finding>) {
    let spec = d.node.get("spec");
    let get = |k: &str| spec.and_then(|s| s.get(k));
    if let Some(sev) = get("eventSeverity") {
        let text = sev.scalar_text().unwrap_or_default();
        if text != "info" && text != "error" {
            out.push(Finding::new(&d.file, sev.line, "FM034", format!("Alert {name}: eventSeverity {text:?} is neither info nor error: the API rejects it, and no event passes"), "use eventSeverity: error (failures only) or info (everything)".into()));
        }
    }
    for re in get("exclusionList").map(Node::seq).unwrap_or_default() {
        let text = re.scalar_text().unwrap_or_default();
        if let Ok(r) = compile(&text) {
            let hits: Vec<&&str> = FAILURE_MESSAGES.iter().filter(|m| r.is_match(m)).collect();
            // A pattern that drops one kind of failure may be deliberate noise control; one that
            // drops failures of several controllers hides what the Alert is for.
            if hits.len() >= 2 {
                out.push(Finding::new(
                    &d.file,
                    re.line,
                    "FM034",
                    format!("Alert {name}: exclusionList {text:?} drops failure events of several kinds, such as {:?} and {:?}", hits[0], hits[1]),
                    "narrow the exclusion to the noise you mean".into(),
                ));
            }
        }
    }
}
