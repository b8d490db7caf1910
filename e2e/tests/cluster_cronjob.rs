//! `drill --print-cronjob`: every printed manifest is what its Kubernetes type (k8s-openapi)
//! reads, field for field, and the CronJob and Role are what a scheduled drill needs and no more.

use std::process::Command;

use e2e::{bin, workspace};
use k8s_openapi::api::{
    batch::v1::CronJob, core::v1::ConfigMap, core::v1::ServiceAccount, rbac::v1::Role, rbac::v1::RoleBinding,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The document read as `T` and written back is the document: no field unknown, misplaced or
/// of the wrong type.
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> T {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc:#}"));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        doc,
        "fields lost reading {}",
        doc["kind"]
    );
    typed
}

fn print(extra: &[&str]) -> std::process::Output {
    Command::new(bin("kubectl-flux_monitor"))
        .args(["drill", "--print-cronjob", "--scenarios"])
        .arg(workspace().join("scenarios/cluster"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn printed_manifests_validate_and_grant_only_what_the_drill_does() {
    let pack = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(bin("kubectl-flux_monitor"))
        .args(["rules", "-o", "rule-file"])
        .output()
        .unwrap();
    std::fs::write(pack.path(), &out.stdout).unwrap();
    let out = print(&[
        "--prometheus-service",
        "monitoring/prometheus-operated:9090",
        "--alertmanager-service",
        "monitoring/alertmanager-operated:9093",
        "--pushgateway-url",
        "http://pushgateway.monitoring.svc:9091",
        "--rules",
        pack.path().to_str().unwrap(),
        "--schedule",
        "0 5 * * 1",
        "--image",
        "registry.example.com/flux-monitor:test",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = text
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "ConfigMap",
            "CronJob"
        ],
        "{text}"
    );
    for d in &docs {
        match d["kind"].as_str().unwrap() {
            "ServiceAccount" => drop(round_trip::<ServiceAccount>(d)),
            "RoleBinding" => drop(round_trip::<RoleBinding>(d)),
            "ConfigMap" => drop(round_trip::<ConfigMap>(d)),
            "Role" => {
                let role = round_trip::<Role>(d);
                for rule in role.rules.unwrap() {
                    let verbs = rule.verbs.join(",");
                    assert!(
                        !verbs.contains('*') && !rule.resources.clone().unwrap_or_default().contains(&"*".to_string()),
                        "{rule:?}"
                    );
                    assert!(!verbs.contains("update") && !verbs.contains("escalate"), "{rule:?}");
                    for r in rule.resources.unwrap_or_default() {
                        // The canary kinds the scenarios use, and events: nothing else.
                        assert!(
                            [
                                "gitrepositories",
                                "helmrepositories",
                                "helmcharts",
                                "kustomizations",
                                "helmreleases",
                                "alerts",
                                "providers",
                                "events"
                            ]
                            .contains(&r.as_str()),
                            "{r}"
                        );
                    }
                }
            }
            "CronJob" => {
                let cj = round_trip::<CronJob>(d);
                let spec = cj.spec.unwrap();
                assert_eq!(spec.schedule, "0 5 * * 1");
                assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
                assert!(spec.starting_deadline_seconds.is_some());
                assert_eq!(spec.successful_jobs_history_limit, Some(3));
                assert_eq!(spec.failed_jobs_history_limit, Some(3));
                let job = spec.job_template.spec.unwrap();
                assert_eq!(job.backoff_limit, Some(0));
                assert!(job.active_deadline_seconds.unwrap() > 3600);
                let pod = job.template.spec.unwrap();
                assert_eq!(pod.service_account_name.as_deref(), Some("flux-monitor-drill"));
                assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
                let main = &pod.containers[0];
                assert_eq!(main.image.as_deref(), Some("registry.example.com/flux-monitor:test"));
                let args = main.args.clone().unwrap().join(" ");
                assert!(
                    args.starts_with("drill --cluster --scenarios /etc/flux-monitor/scenarios"),
                    "{args}"
                );
                assert!(
                    args.contains("--prometheus-url http://prometheus-operated.monitoring.svc:9090"),
                    "{args}"
                );
                assert!(
                    args.contains("--alertmanager-url http://alertmanager-operated.monitoring.svc:9093"),
                    "{args}"
                );
                assert!(
                    args.contains("--pushgateway-url http://pushgateway.monitoring.svc:9091"),
                    "{args}"
                );
                assert!(args.contains("--sink-address http://$(POD_IP):9095"), "{args}");
                let sc = main.security_context.clone().unwrap();
                assert_eq!(sc.read_only_root_filesystem, Some(true));
                assert_eq!(sc.allow_privilege_escalation, Some(false));
                // A killed run's leftovers go first.
                let init = pod.init_containers.unwrap();
                assert_eq!(
                    init[0].args.clone().unwrap().join(" "),
                    "drill --cluster --cleanup -n flux-system"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    let scenarios = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "flux-monitor-drill-scenarios")
        .unwrap();
    assert_eq!(scenarios["data"].as_object().unwrap().len(), 4, "{scenarios:#}");
}

#[test]
fn print_cronjob_needs_prometheus_and_keeps_secrets_out() {
    let out = print(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--print-cronjob needs --prometheus-url or --prometheus-service")
    );
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "s3cr3t-token").unwrap();
    let out = print(&[
        "--prometheus-url",
        "https://prom.example.com",
        "--prometheus-token-file",
        token.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("s3cr3t-token"), "{all}");
}
