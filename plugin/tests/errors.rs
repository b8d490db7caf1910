//! Could-not-tell cases: no kubeconfig, a missing context, an unreachable or silent server.
//! Each prints one line on stderr and exits 2 within --request-timeout.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn one_error_line(o: &std::process::Output) -> String {
    let err = stderr(o);
    assert_eq!(
        err.lines().count(),
        1,
        "exactly one line on stderr: {err:?}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(stdout(o), "");
    err
}

#[test]
fn no_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let o = plugin(&["status", "-A"])
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(err.contains("no kubeconfig found"), "{err}");

    let o = plugin(&["status", "--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(
        err.contains("/nonexistent/kubeconfig does not exist"),
        "{err}"
    );
}

#[test]
fn missing_context() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    simulator::apiserver::write_kubeconfig(&kc, "http://127.0.0.1:1", "only").unwrap();
    let o = plugin(&[
        "status",
        "--context",
        "nope",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = one_error_line(&o);
    assert_eq!(
        err,
        "error: context \"nope\" not found in kubeconfig (available: only)\n"
    );
}

#[test]
fn unreachable_server_fails_fast() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    simulator::apiserver::write_kubeconfig(&kc, &url, "down").unwrap();
    for command in [vec!["status", "-A"], vec!["version"]] {
        let mut cmd = plugin(&command);
        cmd.arg("--kubeconfig")
            .arg(&kc)
            .args(["--request-timeout", "5s"]);
        let started = Instant::now();
        let o = cmd.output().unwrap();
        let err = one_error_line(&o);
        assert_eq!(
            err,
            format!("error: cannot reach the Kubernetes API at {url}: connection refused\n")
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn silent_server_times_out_within_request_timeout() {
    // Accepts connections and never answers: only the timeout can end the wait.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    simulator::apiserver::write_kubeconfig(&kc, &url, "silent").unwrap();
    let started = Instant::now();
    let o = plugin(&[
        "status",
        "-A",
        "--request-timeout",
        "1s",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let elapsed = started.elapsed();
    let err = one_error_line(&o);
    // Whether the timeout strikes while connecting (the kernel's backlog is full or slow) or
    // while waiting for an answer, the one line names the server and the timeout.
    assert!(
        err.contains(&format!(
            "no answer from the Kubernetes API at {url} within 1s"
        )) || err.contains(&format!(
            "cannot reach the Kubernetes API at {url}: connection timed out"
        )),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    drop(listener);
}

#[test]
fn help_documents_exit_codes_and_kubectl_usage() {
    let o = plugin(&["status", "--help"]).output().unwrap();
    let out = stdout(&o);
    assert!(out.contains("Usage: kubectl flux-monitor status"), "{out}");
    assert!(out.contains("Exit status:"));
    assert!(out.contains("2  could not tell"));
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "--all-namespaces",
        "--selector",
        "--request-timeout",
        "--output",
        "--kind",
        "--problems",
        "--stale-factor",
        "--prometheus-url",
        "--watch",
        "--all-contexts",
    ] {
        assert!(out.contains(flag), "{flag} missing from help");
    }
}

#[test]
fn completion_scripts() {
    for shell in ["bash", "zsh", "fish"] {
        let o = plugin(&["completion", shell]).output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("kubectl-flux_monitor"), "{shell}");
    }
}

/// A kubeconfig that holds credentials and fails to parse right where they are.
const BROKEN_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: s3cr3t-t0ken-value\n    password: [hunter2-password\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n";

#[test]
fn a_kubeconfig_that_fails_to_parse_is_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, BROKEN_KUBECONFIG).unwrap();
    for command in [vec!["status", "-A"], vec!["check"]] {
        let mut args = command.clone();
        args.extend(["--kubeconfig", kc.to_str().unwrap()]);
        let o = plugin(&args).output().unwrap();
        let err = one_error_line(&o);
        for secret in ["s3cr3t-t0ken-value", "hunter2-password"] {
            assert!(
                !err.contains(secret),
                "{command:?} echoes a credential: {err}"
            );
        }
        assert!(
            err.contains(&kc.display().to_string()) && err.contains("line "),
            "names the file and the line: {err}"
        );
    }
    // The same file through $KUBECONFIG.
    let o = plugin(&["status", "-A"])
        .env("KUBECONFIG", &kc)
        .output()
        .unwrap();
    let err = one_error_line(&o);
    assert!(!err.contains("s3cr3t") && !err.contains("hunter2"), "{err}");
}

#[test]
fn out_of_range_numbers_and_bad_urls_are_usage_errors() {
    let cases: [&[&str]; 4] = [
        &["status", "--prometheus-url", "not a url"],
        &["status", "--prometheus-url", "ftp://example.com"],
        &["status", "--stale-factor", "1e300"],
        &["status", "--stale-factor", "inf"],
    ];
    for args in cases {
        let o = plugin(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("error: invalid value"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn drill_rejects_a_time_scale_it_cannot_represent() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, "groups: []\n").unwrap();
    let am = dir.path().join("am.yaml");
    std::fs::write(&am, "route: {receiver: r}\nreceivers: [{name: r}]\n").unwrap();
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/drill/controller-down.yaml");
    for scale in ["1e300", "inf", "0.5"] {
        let o = plugin(&[
            "drill",
            "--local",
            "--scenarios",
            scenarios.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--alertmanager-config",
            am.to_str().unwrap(),
            "--time-scale",
            scale,
        ])
        .output()
        .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "--time-scale {scale}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("--time-scale"), "{err}");
    }
}

#[test]
fn test_refuses_a_provider_whose_address_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(
        &scenario,
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {name: p}\nspec:\n  duration: 10m\n  resources:\n    - {kind: GitRepository, name: repo, spec: {url: https://github.com/acme/fleet}}\n",
    )
    .unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, "groups: []\n").unwrap();
    let manifests = dir.path().join("providers.yaml");
    std::fs::write(
        &manifests,
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {name: hook, namespace: flux-system}\nspec: {type: generic, address: \"not a url\"}\n",
    )
    .unwrap();
    let o = plugin(&[
        "test",
        "--scenarios",
        scenario.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--flux-manifests",
        manifests.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}{}", stdout(&o));
    assert!(
        err.contains("providers.yaml")
            && err.contains("Provider flux-system/hook")
            && err.contains("spec.address"),
        "{err}"
    );
}

#[test]
fn test_leaves_no_temporary_files_when_stopped() {
    if on_path("promtool").is_none() {
        eprintln!("skipped: promtool not installed (make setup)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Many scenarios, so that the run lasts long enough to be stopped half-way.
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    for i in 0..40 {
        std::fs::write(
            scenarios.join(format!("{i}.yaml")),
            format!("apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: s{i}}}\nspec:\n  duration: 6h\n  resources:\n    - {{kind: GitRepository, name: repo, interval: 1m, spec: {{url: https://github.com/acme/fleet}}}}\n  expectations:\n    alerts:\n      - {{alertname: Never, within: 6h}}\n"),
        )
        .unwrap();
    }
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: Never\n        expr: gotk_resource_info{ready=\"Unknown\"} == 1\n        for: 1m\n",
    )
    .unwrap();
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut child = plugin(&[
            "test",
            "--scenarios",
            scenarios.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
        // Wait (bounded) for the temporary directory, then stop the run.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_dir(&tmp).unwrap().next().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let created = std::fs::read_dir(&tmp).unwrap().next().is_some();
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert!(created, "the run made no temporary directory in time");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(
            left.is_empty(),
            "signal {signal}: left {left:?} (exit {status:?})"
        );
    }
}
