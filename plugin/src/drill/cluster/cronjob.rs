//! `drill --print-cronjob`: the manifests of a scheduled drill run from inside the cluster. A
//! ServiceAccount with a Role per canary namespace granting only what the drill does there
//! (create, watch, patch and delete the canary kinds its scenarios use, read events; get and
//! patch the existing objects a scenario touches), the scenarios (and --rules) as a ConfigMap,
//! and a CronJob (concurrencyPolicy Forbid, a starting deadline, an active deadline, history
//! limits) whose pod first removes what a killed run left, then drills, serving its sink on the
//! pod's IP so notification-controller reaches it. Every document is checked against its
//! k8s-openapi type before it is printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use simulator::scenario::{ClusterTarget, Scenario};

use crate::cli::DrillArgs;

pub const NAME: &str = "flux-monitor-drill";
const SINK_PORT: u16 = 9095;
const SCENARIOS_DIR: &str = "/etc/flux-monitor/scenarios";
const RULES_DIR: &str = "/etc/flux-monitor/rules";

/// Kind -> (API group, plural).
fn resource(kind: &str) -> Option<(&'static str, &'static str)> {
    let info = model::kinds::by_kind(kind)?;
    Some((info.group, info.plural))
}

/// The manifests, as YAML documents.
pub fn manifests(
    args: &DrillArgs,
    scenarios: &[Scenario],
    files: &[(String, String)],
    rules: &[(String, String)],
) -> Result<String, String> {
    let c = &args.cluster;
    if c.prometheus_token_file.is_some() || c.alertmanager_token_file.is_some() || c.ca_file.is_some() {
        return Err("--print-cronjob does not embed tokens or CA files: print without them, then mount a Secret and add the flags to the CronJob".into());
    }
    let prometheus = match (&c.prometheus_url, &c.prometheus_service) {
        (Some(u), _) => u.clone(),
        (None, Some(s)) => s.in_cluster_url(),
        (None, None) => return Err("--print-cronjob needs --prometheus-url or --prometheus-service (the CronJob reaches it from inside the cluster)".into()),
    };
    let alertmanager = match (&c.alertmanager_url, &c.alertmanager_service) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(s)) => Some(s.in_cluster_url()),
        (None, None) => None,
    };
    let home = c.kube.namespace.clone().unwrap_or_else(|| "flux-system".to_string());
    let labels = json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "flux-monitor"});

    // What the drill does, per namespace: the canary kinds it creates there, the existing
    // objects it touches.
    let mut creates: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let mut touches: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for s in scenarios {
        for r in &s.resources {
            let ns = c.kube.namespace.clone().unwrap_or_else(|| r.namespace.clone());
            creates.entry(ns).or_default().push(r.kind.kind);
            if r.kind.kind == "HelmRelease" {
                // helm-controller's HelmChart for it, deleted with it.
                let ns = c.kube.namespace.clone().unwrap_or_else(|| r.namespace.clone());
                creates.entry(ns).or_default().push("HelmChart");
            }
        }
        for f in s.cluster.iter().flat_map(|d| &d.faults) {
            if let ClusterTarget::Existing(o) = &f.target {
                touches
                    .entry(o.namespace.clone())
                    .or_default()
                    .push((o.kind.clone(), o.name.clone()));
            }
        }
    }
    let mut docs: Vec<Value> = vec![json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": home, "labels": labels},
    })];
    let namespaces: Vec<String> = creates
        .keys()
        .chain(touches.keys())
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for ns in &namespaces {
        let mut rules = Vec::new();
        let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for kind in creates.get(ns).into_iter().flatten() {
            if let Some((group, plural)) = resource(kind) {
                let list = by_group.entry(group).or_default();
                if !list.contains(&plural) {
                    list.push(plural);
                }
            }
        }
        for (group, plurals) in &by_group {
            rules.push(json!({
                "apiGroups": [group], "resources": plurals,
                "verbs": ["get", "list", "watch", "create", "patch", "delete"],
            }));
        }
        let mut touched: BTreeMap<&str, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
        for (kind, name) in touches.get(ns).into_iter().flatten() {
            if let Some((group, plural)) = resource(kind) {
                let e = touched.entry(group).or_default();
                if !e.0.contains(&plural) {
                    e.0.push(plural);
                }
                e.1.push(name);
            }
        }
        for (group, (plurals, names)) in &touched {
            // Listing cannot be narrowed to names: the clean-up lists these kinds (read only)
            // to find what a killed run left changed.
            rules.push(json!({"apiGroups": [group], "resources": plurals, "verbs": ["list", "watch"]}));
            rules.push(json!({
                "apiGroups": [group], "resources": plurals, "resourceNames": names,
                "verbs": ["get", "patch"],
            }));
        }
        // NotificationDispatchFailed events on Alerts, as notification-controller records them.
        rules.push(json!({"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}));
        rules.push(json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["list"]}));
        docs.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels},
            "rules": rules,
        }));
        docs.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": NAME, "namespace": ns, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": home}],
        }));
    }
    let mut data = BTreeMap::new();
    for (key, text) in files {
        data.insert(key.clone(), text.clone());
    }
    docs.push(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{NAME}-scenarios"), "namespace": home, "labels": labels},
        "data": data,
    }));
    if !rules.is_empty() {
        let data: BTreeMap<&String, &String> = rules.iter().map(|(k, v)| (k, v)).collect();
        docs.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{NAME}-rules"), "namespace": home, "labels": labels},
            "data": data,
        }));
    }
    let timeout = args.timeout.unwrap_or(Duration::from_secs(3600));
    let mut drill_args: Vec<String> = vec![
        "drill".into(),
        "--cluster".into(),
        "--scenarios".into(),
        SCENARIOS_DIR.into(),
        "--prometheus-url".into(),
        prometheus,
        "--sink-listen".into(),
        format!("0.0.0.0:{SINK_PORT}"),
        "--sink-address".into(),
        format!("http://$(POD_IP):{SINK_PORT}"),
        "--timeout".into(),
        model::format_go_duration(timeout),
    ];
    if let Some(am) = alertmanager {
        drill_args.extend(["--alertmanager-url".into(), am]);
    }
    if let Some(pg) = &c.pushgateway_url {
        drill_args.extend(["--pushgateway-url".into(), pg.clone()]);
    }
    for (key, _) in rules {
        drill_args.extend(["--rules".into(), format!("{RULES_DIR}/{key}")]);
    }
    if let Some(ns) = &c.kube.namespace {
        drill_args.extend(["-n".into(), ns.clone()]);
    }
    if c.touch_existing {
        drill_args.push("--touch-existing".into());
    }
    // One -n only: clean each namespace the canaries use with its own container.
    let init: Vec<Value> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            container(
                &format!("cleanup-{i}"),
                &c.image,
                vec![
                    "drill".into(),
                    "--cluster".into(),
                    "--cleanup".into(),
                    "-n".into(),
                    ns.clone(),
                ],
                false,
            )
        })
        .collect();
    let mut main = container("drill", &c.image, drill_args, true);
    main["ports"] = json!([{"name": "sink", "containerPort": SINK_PORT, "protocol": "TCP"}]);
    main["env"] = json!([{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]);
    let mut volumes = vec![json!({"name": "scenarios", "configMap": {"name": format!("{NAME}-scenarios")}})];
    let mut mounts = vec![json!({"name": "scenarios", "mountPath": SCENARIOS_DIR, "readOnly": true})];
    if !rules.is_empty() {
        volumes.push(json!({"name": "rules", "configMap": {"name": format!("{NAME}-rules")}}));
        mounts.push(json!({"name": "rules", "mountPath": RULES_DIR, "readOnly": true}));
    }
    main["volumeMounts"] = json!(mounts);
    docs.push(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": NAME, "namespace": home, "labels": labels},
        "spec": {
            "schedule": c.schedule,
            "concurrencyPolicy": "Forbid",
            // A run missed by more than 10 minutes (controller down, cluster busy) is skipped.
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 0,
                    // The drill's own --timeout, plus time to clean up.
                    "activeDeadlineSeconds": timeout.as_secs() + 300,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": NAME,
                            "restartPolicy": "Never",
                            // SIGTERM (deadline, eviction) starts the clean-up: give it time.
                            "terminationGracePeriodSeconds": 120,
                            "securityContext": {
                                "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "initContainers": init,
                            "containers": [main],
                            "volumes": volumes,
                        },
                    },
                },
            },
        },
    }));
    let mut out = String::new();
    for d in &docs {
        checked(d)?;
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(d).map_err(|e| format!("cannot print a manifest: {e}"))?);
    }
    Ok(out)
}

fn container(name: &str, image: &str, args: Vec<String>, main: bool) -> Value {
    let (cpu, memory) = if main { ("100m", "128Mi") } else { ("50m", "64Mi") };
    json!({
        "name": name,
        "image": image,
        "args": args,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
        },
    })
}

/// A document survives the trip through its k8s-openapi type unchanged: every field exists
/// where it is written, with its type. (Tests check the printed YAML the same way.)
pub fn checked(doc: &Value) -> Result<(), String> {
    use k8s_openapi::api::{
        batch::v1::CronJob, core::v1::ConfigMap, core::v1::ServiceAccount, rbac::v1::Role, rbac::v1::RoleBinding,
    };
    fn trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<(), String> {
        let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
        let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
        if back != *doc {
            return Err(format!("fields lost in the round trip: printed {doc}, typed {back}"));
        }
        Ok(())
    }
    let kind = doc["kind"].as_str().unwrap_or_default();
    match kind {
        "ServiceAccount" => trip::<ServiceAccount>(doc),
        "Role" => trip::<Role>(doc),
        "RoleBinding" => trip::<RoleBinding>(doc),
        "ConfigMap" => trip::<ConfigMap>(doc),
        "CronJob" => trip::<CronJob>(doc),
        other => Err(format!("unexpected kind {other}")),
    }
    .map_err(|e| format!("{kind} {}: {e}", doc["metadata"]["name"]))
}

/// A ConfigMap key for a file: its path relative to `root` with `/` turned into `_`.
pub fn key_for(root: &Path, file: &Path) -> String {
    let rel: PathBuf = file
        .strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| file.file_name().map(PathBuf::from).unwrap_or_default());
    rel.to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
