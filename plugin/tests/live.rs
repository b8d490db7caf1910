//! The plugin as users run it: `status --watch` seeing a change, `version`, and through the
//! real kubectl's plugin mechanism when kubectl is on PATH.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Kills the child when the test ends, pass or fail.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_line(
    rx: &mpsc::Receiver<String>,
    within: Duration,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let left = within
            .checked_sub(started.elapsed())
            .unwrap_or_else(|| panic!("no {what} within {within:?}"));
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return started.elapsed(),
            Ok(_) => {}
            Err(_) => panic!("no {what} within {within:?}"),
        }
    }
}

#[test]
fn watch_shows_a_change_within_two_seconds() {
    let c = TestCluster::start();
    seed_demo(&c);
    for output in ["wide", "json"] {
        let mut cmd = plugin(&["status", "-A", "--watch", "-o", output]);
        cmd.arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = KillOnDrop(cmd.spawn().unwrap());
        let out = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let platform_is = |verdict: &'static str| {
            move |l: &str| l.contains("Kustomization/platform") && l.contains(verdict)
        };
        // First frame.
        wait_for_line(&rx, Duration::from_secs(10), "first frame", |l| {
            if output == "wide" {
                l.contains("Kustomization/platform")
            } else {
                l.contains("\"kind\": \"List\"")
            }
        });
        // Drain what the first frame still has to say.
        while rx.recv_timeout(Duration::from_millis(300)).is_ok() {}
        c.patch_status(
            "kustomize.toolkit.fluxcd.io",
            "kustomizations",
            "flux-system",
            "platform",
            json!({"conditions": [ready("False", "HealthCheckFailed", &format!("health check failed ({output})"))]}),
        );
        let took = wait_for_line(&rx, Duration::from_secs(2), "Failing platform", |l| {
            l.contains(&format!("health check failed ({output})"))
                && (output != "wide" || platform_is("Failing")(l))
        });
        eprintln!("-o {output}: change shown after {took:?}");
    }
}

#[test]
fn version_reads_flux_crd_labels() {
    let c = TestCluster::start();
    let o = c.run(&["version"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains(&format!("Plugin:  v{}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("Server:  v"), "{out}");
    assert!(
        out.contains("Flux:    2.9 (guessed from served API versions)"),
        "{out}"
    );

    let older = TestCluster::start_release("2.5".parse().unwrap());
    let out = stdout(&older.run(&["version"]));
    assert!(
        out.contains("Flux:    2.5 (guessed"),
        "2.5 serves OCIRepository only as v1beta2: {out}"
    );

    for crd in [
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    ] {
        c.api
            .store()
            .merge_patch(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                None,
                crd,
                &json!({"metadata": {"labels": {"app.kubernetes.io/part-of": "flux", "app.kubernetes.io/version": "v2.7.2"}}}),
                None,
            )
            .unwrap();
    }
    let o = c.run(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["clusters"][0]["flux"],
        json!({"version": "v2.7.2", "source": "crdLabels"})
    );
    assert_eq!(v["plugin"]["version"], env!("CARGO_PKG_VERSION"));

    let o = common::plugin(&["version", "--client"]).output().unwrap();
    assert_eq!(
        stdout(&o),
        format!("Plugin:  v{}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn through_kubectl_on_path() {
    let Some(kubectl) = on_path("kubectl") else {
        eprintln!("kubectl not on PATH: skipped");
        return;
    };
    let c = TestCluster::start();
    seed_demo(&c);
    let path = std::env::join_paths(
        std::iter::once(bin_dir().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(&kubectl)
            .args(args)
            .env("PATH", &path)
            .env("KUBECONFIG", &c.kubeconfig)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let o = run(&["flux-monitor", "status", "-A"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains("Kustomization/apps"), "{out}");
    assert!(
        out.contains("GitRepository/flux-system/flux-system"),
        "{out}"
    );

    let o = run(&["flux-monitor", "status", "-A", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().unwrap().len(), 7);

    let o = run(&["plugin", "list"]);
    assert!(
        stdout(&o).contains("kubectl-flux_monitor"),
        "{}",
        stdout(&o)
    );
    let o = run(&["flux-monitor", "--help"]);
    assert!(
        stdout(&o).contains("Usage: kubectl flux-monitor"),
        "{}",
        stdout(&o)
    );
}

/// A stand-in Prometheus answering every instant query: the last-reconcile query with `last`
/// (unix seconds) for Kustomization flux-system/platform, the duration query with 2.5 s.
fn fake_prometheus(last: i64) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let value = if request.contains("timestamp") {
                last.to_string()
            } else {
                "2.5".to_string()
            };
            let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"kind": "Kustomization", "name": "platform", "exported_namespace": "flux-system", "namespace": "flux-system"},
                 "value": [1_700_000_000.0, value]}]}})
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn prometheus_enrichment_marks_objects_without_recent_reconciles_stale() {
    let c = TestCluster::start();
    seed_demo(&c);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // platform reconciles every 10m; none for 2h is more than 3 intervals.
    let prom = fake_prometheus(now - 7200);
    let o = c.run(&["status", "-A", "-o", "json", "--prometheus-url", &prom]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let platform = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["objectRef"]["name"] == "platform" && i["objectRef"]["kind"] == "Kustomization")
        .unwrap();
    assert_eq!(platform["verdict"], "Stale", "{platform}");
    assert_eq!(platform["reason"], "NoRecentReconcile");
    assert_eq!(platform["reconcileDurationSeconds"], 2.5);
    assert!(platform["lastReconcileAt"].is_string());

    let o = c.run(&[
        "status",
        "-A",
        "-o",
        "wide",
        "--prometheus-url",
        &prom,
        "--stale-factor",
        "20",
    ]);
    let out = stdout(&o);
    let header = out.lines().next().unwrap();
    assert!(
        header.ends_with("LAST RECONCILE   AVG DURATION"),
        "{header}"
    );
    let line = out
        .lines()
        .find(|l| l.contains("Kustomization/platform"))
        .unwrap();
    assert!(
        line.contains("Ready") && line.ends_with("2h               2.50s"),
        "k=20 keeps it fresh: {line}"
    );

    let o = c.run(&["status", "-A", "--prometheus-url", "http://127.0.0.1:1"]);
    assert!(
        stderr(&o).starts_with("warning: cannot query Prometheus at http://127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("Kustomization/platform"),
        "status still shown without metrics"
    );
}

#[test]
fn watch_warns_once_about_a_forbidden_kind() {
    let c = TestCluster::start();
    seed_demo(&c);
    c.api.deny("helmreleases", 403);
    let mut cmd = plugin(&["status", "-A", "--watch"]);
    cmd.arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let err = child.0.stderr.take().unwrap();
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (otx, orx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = otx.send(line);
        }
    });
    wait_for_line(&orx, Duration::from_secs(10), "first frame", |l| {
        l.contains("Kustomization/apps")
    });
    std::thread::sleep(Duration::from_secs(2));
    let lines: Vec<String> = rx.try_iter().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("warning: cannot read HelmRelease"),
        "{lines:?}"
    );
}
