//! `drill --cluster` end to end: flux-sim serve is the cluster (time scale 60), Debian's
//! Prometheus runs the project's rule pack (each `for` in seconds instead of minutes, matching
//! the time scale) and scrapes flux-sim's listeners and a Debian Pushgateway, Debian's
//! Alertmanager routes to a capture sink. Drills must pass hop by hop in order with times, a
//! wrong route must fail naming the receiver reached, no canary may survive (normal exit,
//! SIGINT, `--cleanup` after SIGKILL), the Pushgateway must hold the results and the
//! meta-alerts must fire when a drill fails and when drills stop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e::{bin, eventually, fixtures, workspace, Sim};
use serde_json::Value;

/// A spawned server, killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `GET` over plain HTTP/1.0; the body.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

fn spawn(program: &str, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(program)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} (make setup installs it): {e}"));
    Proc(child)
}

fn wait_ready(addr: SocketAddr, path: &str, what: &str) {
    assert!(
        eventually(Duration::from_secs(30), || get(addr, path)).is_some(),
        "{what} not ready on {addr}"
    );
}

struct Env {
    sim: Sim,
    dir: tempfile::TempDir,
    prometheus: SocketAddr,
    alertmanager: SocketAddr,
    pushgateway: SocketAddr,
    received: fixtures::Received,
    _sink: fixtures::Server,
    _procs: Vec<Proc>,
}

impl Env {
    fn start() -> Env {
        let sim = Sim::start(
            &workspace().join("e2e/kind/flux-sim-cluster.yaml"),
            &["--notify", "--time-scale", "60"],
        );
        let dir = tempfile::tempdir().unwrap();
        let (sink, received) = fixtures::sink();
        let (prometheus, alertmanager, pushgateway) = (free_addr(), free_addr(), free_addr());
        let am_config = std::fs::read_to_string(workspace().join("e2e/kind/alertmanager.yaml"))
            .unwrap()
            .replace("SINK", &sink.url())
            .replace("GROUP_WAIT", "1s")
            .replace("GROUP_INTERVAL", "5s");
        std::fs::write(dir.path().join("alertmanager.yml"), am_config).unwrap();
        // The pack as `rules` prints it, each `for` in seconds (time scale 60); drills stop
        // counting as running 15s after their last push.
        let out = Command::new(bin("kubectl-flux_monitor"))
            .args(["rules", "-o", "rule-file", "--drill-stale-after", "15s"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rules: String = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(
                |l| match l.trim_start().strip_prefix("for: ").and_then(|v| v.strip_suffix('m')) {
                    Some(n) if n.chars().all(|c| c.is_ascii_digit()) => {
                        format!("{}for: {n}s\n", &l[..l.len() - l.trim_start().len()])
                    }
                    _ => format!("{l}\n"),
                },
            )
            .collect();
        std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
        let scrape = sim.endpoints["prometheusScrapeConfigs"].as_str().unwrap().to_string();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [\"{rules}\"]\n\
             alerting:\n  alertmanagers:\n    - static_configs: [{{targets: [\"{alertmanager}\"]}}]\n{scrape}\
             \n  - job_name: pushgateway\n    honor_labels: true\n    static_configs: [{{targets: [\"{pushgateway}\"]}}]\n",
            rules = dir.path().join("rules.yml").display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let d = |n: &str| dir.path().join(n).display().to_string();
        let procs = vec![
            spawn(
                "prometheus-alertmanager",
                &[
                    format!("--config.file={}", d("alertmanager.yml")),
                    format!("--storage.path={}", d("am-data")),
                    format!("--web.listen-address={alertmanager}"),
                    "--cluster.listen-address=".into(),
                ],
                &dir.path().join("alertmanager.log"),
            ),
            spawn(
                "prometheus-pushgateway",
                &[format!("--web.listen-address={pushgateway}")],
                &dir.path().join("pushgateway.log"),
            ),
            spawn(
                "prometheus",
                &[
                    format!("--config.file={}", d("prometheus.yml")),
                    format!("--storage.tsdb.path={}", d("prom-data")),
                    format!("--web.listen-address={prometheus}"),
                ],
                &dir.path().join("prometheus.log"),
            ),
        ];
        wait_ready(alertmanager, "/-/ready", "Alertmanager");
        wait_ready(pushgateway, "/-/ready", "Pushgateway");
        wait_ready(prometheus, "/-/ready", "Prometheus");
        // Prometheus scraped kube-state-metrics once: as a running cluster's is.
        let scraped = eventually(Duration::from_secs(30), || {
            get(prometheus, "/api/v1/query?query=count(gotk_resource_info)").filter(|b| b.contains("\"value\""))
        });
        assert!(scraped.is_some(), "Prometheus never scraped gotk_resource_info");
        Env {
            sim,
            dir,
            prometheus,
            alertmanager,
            pushgateway,
            received,
            _sink: sink,
            _procs: procs,
        }
    }

    fn drill(&self, scenarios: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(bin("kubectl-flux_monitor"));
        c.args(["drill", "--cluster", "--scenarios"])
            .arg(scenarios)
            .arg("--kubeconfig")
            .arg(&self.sim.kubeconfig)
            .args(["--prometheus-url", &format!("http://{}", self.prometheus)])
            .args(["--alertmanager-url", &format!("http://{}", self.alertmanager)])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Every object labelled as a drill's canary, across the Flux kinds canaries use.
    fn canaries(&self) -> Vec<String> {
        let v = self.sim.kubectl_json(&[
            "get",
            "gitrepositories,helmrepositories,helmcharts,kustomizations,helmreleases,alerts,providers",
            "-A",
            "-l",
            "app.kubernetes.io/managed-by=flux-monitor",
        ]);
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    i["kind"].as_str().unwrap(),
                    i["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn firing(&self, alertname: &str) -> Vec<Value> {
        let body = get(self.prometheus, "/api/v1/alerts").unwrap_or_default();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v.pointer("/data/alerts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == alertname && a["state"] == "firing")
            .cloned()
            .collect()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A cluster scenario whose alert expects the wrong receiver (FluxSourceFetchFailure is a
/// warning: the routes send it to flux-warnings).
const WRONG_ROUTE: &str = r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {name: wrong-route}
spec:
  duration: 5m
  resources:
    - kind: GitRepository
      name: canary-source
      interval: 1m
      spec: {url: https://github.com/stefanprodan/podinfo, ref: {tag: "6.7.1"}}
  cluster:
    faults:
      - {name: unreachable, target: GitRepository/canary-source, fault: unreachable-source}
  expectations:
    alerts:
      - alertname: FluxSourceFetchFailure
        labels: {kind: GitRepository, name: canary-source}
        afterFault: unreachable
        within: 2m
        receiver: flux-critical
"#;

/// Suspends the cluster's own flux-system Kustomization (an object the drill did not create).
const TOUCH_EXISTING: &str = r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {name: touch-existing}
spec:
  duration: 5m
  cluster:
    faults:
      - {name: paused, existing: Kustomization/flux-system/flux-system, fault: suspend}
  expectations:
    alerts:
      - alertname: FluxResourceSuspended
        labels: {kind: Kustomization, name: flux-system}
        afterFault: paused
        within: 2m
        receiver: flux-warnings
"#;

/// The chain of hops, in the order they must happen.
const CHAIN: [&str; 6] = [
    "(watch)",
    "scraped",
    "pending in Prometheus",
    "firing in Prometheus",
    "in Alertmanager",
    "Alertmanager notified",
];

#[test]
fn cluster_drills_follow_each_alert_hop_by_hop_and_leave_nothing_behind() {
    let env = Env::start();
    let scenarios = workspace().join("scenarios/cluster");
    let wrong = env.dir.path().join("wrong-route.yaml");
    std::fs::write(&wrong, WRONG_ROUTE).unwrap();
    let pushgateway = format!("http://{}", env.pushgateway);

    // The canary drills (reconciliation failure, source fetch failure, dependency cascade; the
    // suspension drill too) and the wrong route, side by side.
    let started = Instant::now();
    let good = env
        .drill(
            &scenarios,
            &[
                "-o",
                "json",
                "--run-id",
                "good",
                "--pushgateway-url",
                &pushgateway,
                "--rules",
                env.dir.path().join("rules.yml").to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap();
    let bad = env
        .drill(&wrong, &["--run-id", "bad", "--pushgateway-url", &pushgateway])
        .spawn()
        .unwrap();
    let good = good.wait_with_output().unwrap();
    let bad = bad.wait_with_output().unwrap();
    eprintln!(
        "drills took {:.1}s\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&good.stderr)
    );
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    let report: Value = serde_json::from_slice(&good.stdout).unwrap();
    let reports = report["scenarios"].as_array().unwrap();
    assert_eq!(reports.len(), 4, "{report:#}");
    for r in reports {
        for case in r["cases"].as_array().unwrap() {
            assert_eq!(case["verdict"], "passed", "{case:#}");
            let hops = case["hops"].as_array().unwrap();
            assert!(
                hops.iter().all(|h| h["sinceFault"].is_f64()),
                "every hop has a time: {case:#}"
            );
            if !case["name"].as_str().unwrap().starts_with("alert ") {
                continue;
            }
            // Every hop of the chain, in order, each at or after the one before.
            let mut last = 0.0;
            let mut at = 0;
            for step in CHAIN {
                let i = hops.iter().position(|h| h["hop"].as_str().unwrap().contains(step));
                let i = i.unwrap_or_else(|| panic!("no hop {step:?} in {case:#}"));
                assert!(i > at || at == 0, "hop {step:?} out of order in {case:#}");
                at = i;
                let t = hops[i]["sinceFault"].as_f64().unwrap();
                assert!(
                    t + 0.001 >= last,
                    "hop {step:?} at {t}s before the previous at {last}s: {case:#}"
                );
                last = t;
                // Measured against theory: printed for the record.
                eprintln!(
                    "{} / {}: {t:.2}s (theory {})",
                    r["name"].as_str().unwrap(),
                    hops[i]["hop"].as_str().unwrap(),
                    hops[i]["theory"]
                );
            }
        }
        eprintln!("{}: cleanup {}s", r["name"], r["cleanup"]["took"]);
        assert!(r["cleanup"]["left"].as_array().unwrap().is_empty(), "{r:#}");
    }
    // Flux's own notification reached the canary Provider in the failure drills.
    let notifications: Vec<&Value> = reports
        .iter()
        .flat_map(|r| r["cases"].as_array().unwrap())
        .filter(|c| c["name"].as_str().unwrap().starts_with("notification "))
        .collect();
    assert_eq!(notifications.len(), 2, "{report:#}");
    // The real Alertmanager posted to the receivers the routes name.
    let got = env.received.lock().unwrap().clone();
    let to = |receiver: &str, name: &str| {
        got.iter()
            .any(|(path, body)| path == &format!("/alertmanager/{receiver}") && body.to_string().contains(name))
    };
    assert!(to("flux-critical", "canary-app-good"), "{got:?}");
    assert!(to("flux-warnings", "canary-source-good"), "{got:?}");

    // The wrong route fails, naming the receiver reached.
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let bad_text = text(&bad);
    assert!(bad_text.contains("FAIL alert FluxSourceFetchFailure"), "{bad_text}");
    assert!(
        bad_text.contains("reached receiver flux-warnings instead of flux-critical"),
        "{bad_text}"
    );
    assert!(env.canaries().is_empty(), "canaries left: {:?}", env.canaries());

    // The Pushgateway holds each scenario's result.
    let metrics = get(env.pushgateway, "/metrics").unwrap();
    for line in [
        r#"flux_monitor_drill_success{cluster="flux-sim",instance="",job="flux-monitor-drill",scenario="cluster-reconciliation-failure"} 1"#,
        r#"flux_monitor_drill_success{cluster="flux-sim",instance="",job="flux-monitor-drill",scenario="wrong-route"} 0"#,
    ] {
        assert!(
            metrics.contains(line),
            "{line} missing from the Pushgateway:\n{metrics}"
        );
    }
    assert!(metrics.contains("flux_monitor_drill_hop_seconds{"), "{metrics}");
    assert!(
        metrics.contains("flux_monitor_drill_last_success_timestamp_seconds{cluster=\"flux-sim\""),
        "{metrics}"
    );

    // The meta-alerts: the failed drill at once, and every drill once none has run for 15s.
    let failing = eventually(Duration::from_secs(30), || {
        let f = env.firing("FluxMonitorDrillFailing");
        (!f.is_empty()).then_some(f)
    })
    .expect("FluxMonitorDrillFailing never fired");
    assert!(
        failing.iter().all(|a| a["labels"]["scenario"] == "wrong-route"),
        "{failing:?}"
    );
    let stopped = eventually(Duration::from_secs(60), || {
        let f = env.firing("FluxMonitorDrillNotRunning");
        (f.len() == 5).then_some(f)
    });
    assert!(
        stopped.is_some(),
        "FluxMonitorDrillNotRunning did not fire for the 5 scenarios: {:?}",
        env.firing("FluxMonitorDrillNotRunning")
    );
}

#[test]
fn canaries_are_removed_after_sigint_and_by_cleanup_after_sigkill() {
    let env = Env::start();
    let scenario = workspace().join("scenarios/cluster/suspension.yaml");
    let signal = |pid: u32, sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    let wait_for_canaries = |env: &Env| {
        assert!(
            eventually(Duration::from_secs(30), || (env.canaries().len() == 2).then_some(())).is_some(),
            "the drill never created its canaries"
        );
    };

    // SIGINT mid-drill: the drill deletes its canaries, then exits 2.
    let child = env.drill(&scenario, &["--run-id", "int"]).spawn().unwrap();
    let pid = child.id();
    wait_for_canaries(&env);
    let interrupted = Instant::now();
    signal(pid, "-INT");
    let out = child.wait_with_output().unwrap();
    eprintln!("exited {:.2}s after SIGINT", interrupted.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("interrupted; every canary it created is deleted"),
        "{}",
        text(&out)
    );
    assert!(env.canaries().is_empty(), "left after SIGINT: {:?}", env.canaries());

    // SIGTERM likewise.
    let child = env.drill(&scenario, &["--run-id", "term"]).spawn().unwrap();
    let pid = child.id();
    wait_for_canaries(&env);
    signal(pid, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(env.canaries().is_empty(), "left after SIGTERM: {:?}", env.canaries());

    // SIGKILL leaves them; --cleanup removes them by label.
    let mut child = env.drill(&scenario, &["--run-id", "kill"]).spawn().unwrap();
    wait_for_canaries(&env);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env.canaries().len(), 2, "{:?}", env.canaries());
    let out = Command::new(bin("kubectl-flux_monitor"))
        .args(["drill", "--cluster", "--cleanup", "--kubeconfig"])
        .arg(&env.sim.kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 object(s) deleted"), "{}", text(&out));
    eprintln!("{}", text(&out));
    assert!(env.canaries().is_empty(), "left after --cleanup: {:?}", env.canaries());

    // An existing object: refused without --touch-existing; suspended and restored with it,
    // also by --cleanup after SIGKILL (from what the drill recorded on the object).
    let touch = env.dir.path().join("touch.yaml");
    std::fs::write(&touch, TOUCH_EXISTING).unwrap();
    let suspended = || {
        env.sim.kubectl_json(&["get", "kustomization", "flux-system", "-n", "flux-system"])["spec"]["suspend"].as_bool()
            == Some(true)
    };
    let out = env.drill(&touch, &["--run-id", "refuse"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --touch-existing"), "{}", text(&out));
    let out = env.drill(&touch, &["--run-id", "touch", "--touch-existing"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 restored"), "{}", text(&out));
    assert!(!suspended(), "flux-system stayed suspended");
    let mut child = env.drill(&touch, &["--run-id", "tkill", "--touch-existing"]).spawn().unwrap();
    assert!(eventually(Duration::from_secs(30), || suspended().then_some(())).is_some(), "never suspended");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = Command::new(bin("kubectl-flux_monitor"))
        .args(["drill", "--cluster", "--cleanup", "--kubeconfig"])
        .arg(&env.sim.kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("restored Kustomization/flux-system/flux-system"), "{}", text(&out));
    assert!(!suspended(), "flux-system stayed suspended after --cleanup");

    // --timeout: judged, cleaned up, exit 1.
    let out = env
        .drill(&scenario, &["--run-id", "tmo", "--timeout", "3s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("stopped by --timeout"), "{}", text(&out));
    assert!(env.canaries().is_empty(), "left after --timeout: {:?}", env.canaries());
}

#[test]
fn the_kind_script_runs_its_cluster_steps_against_flux_sim() {
    let dir = tempfile::tempdir().unwrap();
    let junit: PathBuf = dir.path().join("junit.xml");
    let out = Command::new("bash")
        .arg(workspace().join("e2e/kind/run.sh"))
        .args(["--flux-sim", "--scenarios"])
        .arg(workspace().join("scenarios/cluster/source-fetch-failure.yaml"))
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("0"), "{xml}");
    assert!(xml.contains("FluxSourceFetchFailure"), "{xml}");
}
