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
        err.contains(&format!("no answer from the Kubernetes API at {url} within 1s"))
            || err.contains(&format!("cannot reach the Kubernetes API at {url}: connection timed out")),
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
