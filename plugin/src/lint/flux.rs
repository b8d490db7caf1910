//! Flux Alerts and Providers (notification.toolkit.fluxcd.io): dangling providerRefs, unknown
//! kinds, name globs, regexes that do not compile, filters that hide failures, Provider types
//! and addresses.

use model::notification::{provider_needs_address, PROVIDER_TYPES};

use super::yaml::Node;
use super::Finding;

/// A Flux Alert or Provider, from a file (with lines) or from the cluster (where `file` names
/// the object and lines are 0).
#[derive(Debug, Clone)]
pub struct FluxDoc {
    pub file: String,
    pub node: Node,
}

impl FluxDoc {
    fn kind(&self) -> &str {
        self.node.get("kind").and_then(Node::as_str).unwrap_or("")
    }
    fn name(&self) -> String {
        self.node
            .at(&["metadata", "name"])
            .and_then(Node::scalar_text)
            .unwrap_or_default()
    }
    fn namespace(&self) -> Option<String> {
        self.node
            .at(&["metadata", "namespace"])
            .and_then(Node::scalar_text)
    }
    fn line_of(&self, path: &[&str]) -> u64 {
        let mut line = self.node.line;
        let mut cur = &self.node;
        for p in path {
            match cur.get(p) {
                Some(n) => {
                    line = n.line;
                    cur = n;
                }
                None => break,
            }
        }
        line
    }
}

/// Whether a document is a notification-controller Alert or Provider.
pub fn is_alert_or_provider(doc: &Node) -> bool {
    let group = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or("");
    group.starts_with("notification.toolkit.fluxcd.io/") && matches!(kind, "Alert" | "Provider")
}

/// Failure messages Flux controllers send (error events), to judge inclusion/exclusion lists.
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

pub fn lint(docs: &[FluxDoc], out: &mut Vec<Finding>) {
    let providers: Vec<&FluxDoc> = docs.iter().filter(|d| d.kind() == "Provider").collect();
    for d in docs {
        match d.kind() {
            "Provider" => lint_provider(d, out),
            "Alert" => lint_alert(d, &providers, out),
            _ => {}
        }
    }
}

fn lint_provider(d: &FluxDoc, out: &mut Vec<Finding>) {
    let name = d.name();
    let spec = d.node.get("spec");
    let type_ = spec
        .and_then(|s| s.get("type"))
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    if !PROVIDER_TYPES.contains(&type_.as_str()) {
        let hint = PROVIDER_TYPES
            .iter()
            .find(|t| {
                t.eq_ignore_ascii_case(&type_) || (type_.contains("team") && **t == "msteams")
            })
            .map_or_else(
                || format!("use one of {}", PROVIDER_TYPES.join(", ")),
                |t| format!("did you mean type: {t}?"),
            );
        out.push(Finding::new(
            &d.file,
            d.line_of(&["spec", "type"]),
            "FM035",
            format!("Provider {name}: unknown type {type_:?}"),
            hint,
        ));
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
}

fn lint_alert(d: &FluxDoc, providers: &[&FluxDoc], out: &mut Vec<Finding>) {
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
    for src in get("eventSources").map(Node::seq).unwrap_or_default() {
        let kind = src
            .get("kind")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        if model::kinds::by_kind(&kind).is_none() {
            let hint = model::kinds::lookup(&kind).map_or_else(
                || "use a Flux kind: Kustomization, HelmRelease, GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket, ...".to_string(),
                |k| format!("use kind: {} (kinds match exactly and case-sensitively)", k.kind),
            );
            out.push(Finding::new(&d.file, src.get("kind").map_or(src.line, |n| n.line), "FM031", format!("Alert {name}: eventSources kind {kind:?} is not a Flux kind, so it matches no event"), hint));
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
    }
    for list in ["inclusionList", "exclusionList"] {
        for re in get(list).map(Node::seq).unwrap_or_default() {
            let text = re.scalar_text().unwrap_or_default();
            if let Err(e) = compile(&text) {
                out.push(Finding::new(&d.file, re.line, "FM033", format!("Alert {name}: {list} entry {text:?} is not a valid regex ({e}); notification-controller skips the whole Alert"), "write a valid Go (RE2) regular expression".into()));
            }
        }
    }
    lint_hides_errors(d, &name, out);
}

/// FM034: eventSeverity other than info/error, exclusions that drop failures, inclusions that admit none.
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
            if let Some(hit) = FAILURE_MESSAGES.iter().find(|m| r.is_match(m)) {
                out.push(Finding::new(
                    &d.file,
                    re.line,
                    "FM034",
                    format!(
                        "Alert {name}: exclusionList {text:?} drops failure events such as {hit:?}"
                    ),
                    "narrow the exclusion to the noise you mean".into(),
                ));
            }
        }
    }
    let inclusions: Vec<regex::Regex> = get("inclusionList")
        .map(Node::seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| compile(&n.scalar_text()?).ok())
        .collect();
    let any_inclusion = get("inclusionList").is_some_and(|l| !l.seq().is_empty());
    if any_inclusion
        && !inclusions.is_empty()
        && !FAILURE_MESSAGES
            .iter()
            .any(|m| inclusions.iter().any(|r| r.is_match(m)))
    {
        out.push(Finding::new(
            &d.file,
            d.line_of(&["spec", "inclusionList"]),
            "FM034",
            format!("Alert {name}: inclusionList admits none of Flux's failure messages"),
            "add a pattern that admits failures (e.g. '.*failed.*') or drop the inclusionList"
                .into(),
        ));
    }
}
