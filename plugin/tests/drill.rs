//! `kubectl flux-monitor drill --local` against the real Prometheus and Alertmanager: three short
//! scenarios pass with their hops in order; a route to the wrong receiver fails naming the one
//! reached; SIGINT mid-drill leaves no process, port or temporary directory behind (and while it
//! runs, the directory is 0700 and the Alertmanager configuration 0600). Each runs against
//! Debian's Prometheus/Alertmanager (2.42/0.25) and the current ones built by `make upstream`.

mod common;
#[path = "common/upstream.rs"]
mod upstream;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{stderr, stdout, BIN};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drill")
}

fn library_alertmanager() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/library/alertmanager.yaml")
}

/// The recommended rule pack for Flux 2.7, as a plain rule file.
fn pack(dir: &Path) -> PathBuf {
    let o = Command::new(BIN)
        .args(["rules", "--flux-version", "2.7", "-o", "rule-file"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let path = dir.join("pack.yaml");
    std::fs::write(&path, &o.stdout).unwrap();
    path
}

/// The drill command; with a family, its Prometheus and Alertmanager are passed as flags,
/// without one the drill finds them itself.
fn drill(
    family: Option<&upstream::Family>,
    tmp: &Path,
    scenarios: &Path,
    rules: &Path,
    am: &Path,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["drill", "--local", "--scenarios"])
        .arg(scenarios)
        .arg("--rules")
        .arg(rules)
        .arg("--alertmanager-config")
        .arg(am)
        .args(
            family
                .map(upstream::Family::drill_flags)
                .unwrap_or_default(),
        )
        .args(extra)
        .env("TMPDIR", tmp);
    cmd
}

fn dir_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn three_scenarios_fire_route_and_notify_with_hops_in_order() {
    for family in upstream::families() {
        three_scenarios_on(&family);
    }
}

fn three_scenarios_on(family: &upstream::Family) {
    let inputs = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rules = pack(inputs.path());
    let junit = inputs.path().join("drill.xml");
    let o = drill(
        Some(family),
        tmp.path(),
        &fixtures(),
        &rules,
        &library_alertmanager(),
        &["-o", "json", "--junit"],
    )
    .arg(&junit)
    .output()
    .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    let report: Value = serde_json::from_str(&out).unwrap();
    // The report names what it ran against.
    assert_eq!(report["tools"][0]["program"], "prometheus", "{out}");
    assert_eq!(
        report["tools"][0]["path"],
        family.prometheus.display().to_string(),
        "{out}"
    );
    assert_eq!(
        report["tools"][1]["path"],
        family.alertmanager.display().to_string(),
        "{out}"
    );
    let prom_major = if family.is_current() { "3." } else { "2." };
    assert!(
        report["tools"][0]["version"]
            .as_str()
            .unwrap()
            .starts_with(prom_major),
        "{out}"
    );
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 3, "{out}");
    for s in scenarios {
        let cases = s["cases"].as_array().unwrap();
        assert!(cases.iter().all(|c| c["passed"] == true), "{out}");
        for c in cases
            .iter()
            .filter(|c| c["name"].as_str().unwrap().starts_with("alert "))
        {
            let hops = c["hops"].as_array().unwrap();
            let names: Vec<&str> = hops.iter().map(|h| h["hop"].as_str().unwrap()).collect();
            assert_eq!(
                names.len(),
                5,
                "fault, pending, firing, Alertmanager, receiver: {names:?}"
            );
            assert!(names[0].starts_with("fault "), "{names:?}");
            assert_eq!(
                &names[1..4],
                [
                    "pending in Prometheus",
                    "firing in Prometheus",
                    "in Alertmanager"
                ]
            );
            assert!(names[4].starts_with("delivered to flux-"), "{names:?}");
            for pair in hops.windows(2) {
                for key in ["scenario", "wall"] {
                    assert!(
                        pair[0][key].as_f64() <= pair[1][key].as_f64(),
                        "{key} out of order: {pair:?}"
                    );
                }
            }
            // Scenario time is wall time times the scale.
            for h in hops {
                let (sc, wall) = (h["scenario"].as_f64().unwrap(), h["wall"].as_f64().unwrap());
                assert!((sc - wall * 60.0).abs() < 0.5, "{h}");
            }
        }
        let notes = s["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"].as_str().unwrap().starts_with("notification "));
        for n in notes {
            assert_eq!(n["hops"].as_array().unwrap().len(), 2, "{n}");
        }
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("drill-controller-down"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<property name=\"alertmanager.version\" value=\"{}\"/>",
            report["tools"][1]["version"].as_str().unwrap()
        )),
        "{xml}"
    );
    assert!(
        dir_entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(tmp.path())
    );
}

#[test]
fn a_route_to_another_receiver_fails_naming_the_receiver_reached() {
    for family in upstream::families() {
        wrong_route_on(&family);
    }
}

/// Also proves the lookup: no flags, and the family's programs (linked into a directory put
/// first on PATH) are the ones run, ahead of /usr/bin.
fn wrong_route_on(family: &upstream::Family) {
    let inputs = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rules = pack(inputs.path());
    // The critical route is gone: critical Flux alerts fall through to flux-warnings.
    let am = inputs.path().join("alertmanager.yaml");
    std::fs::write(
        &am,
        "route:\n  receiver: default\n  group_by: [alertname]\n  group_wait: 10s\n  routes:\n    - matchers: ['alertname=~\"Flux.+\"']\n      receiver: flux-warnings\n\
receivers:\n  - name: default\n    webhook_configs: [{url: 'http://alert-sink.example/default'}]\n  - name: flux-critical\n    slack_configs: [{api_url: 'https://hooks.slack.com/x', channel: '#oncall'}]\n  - name: flux-warnings\n    slack_configs: [{api_url: 'https://hooks.slack.com/y', channel: '#platform'}]\n",
    )
    .unwrap();
    let bin = inputs.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(&family.prometheus, bin.join("prometheus")).unwrap();
    std::os::unix::fs::symlink(&family.alertmanager, bin.join("alertmanager")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = drill(
        None,
        tmp.path(),
        &fixtures().join("controller-down.yaml"),
        &rules,
        &am,
        &[],
    )
    .env("PATH", path)
    .env_remove("PROMETHEUS")
    .env_remove("ALERTMANAGER")
    .output()
    .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    let against = out.lines().next().unwrap();
    assert!(
        against.starts_with("against prometheus ")
            && against.contains(&format!("({})", bin.join("prometheus").display()))
            && against.contains(&format!("({})", bin.join("alertmanager").display())),
        "{}: {against}",
        family.name
    );
    assert!(out.contains("FAIL alert FluxControllerDown"), "{out}");
    assert!(
        out.contains("reached receiver flux-warnings instead of flux-critical"),
        "{out}"
    );
    assert!(out.contains("delivered to flux-warnings"), "{out}");
    assert!(
        dir_entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(tmp.path())
    );
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purposes only once reaped; /proc/<pid> disappears then.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn sigint_mid_drill_leaves_no_process_port_or_directory() {
    for family in upstream::families() {
        sigint_on(&family);
    }
}

fn sigint_on(family: &upstream::Family) {
    let inputs = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rules = pack(inputs.path());
    let mut child = drill(
        Some(family),
        tmp.path(),
        &fixtures().join("controller-down.yaml"),
        &rules,
        &library_alertmanager(),
        &[],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut pids = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let started = Instant::now();
    // Read until the scenario clock runs (flux-sim is up) and the fault has started.
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "pid") {
            pids.push(words[i + 1].parse::<u32>().unwrap());
        }
        for w in &words {
            if let Ok(a) = w
                .trim_start_matches("http://")
                .trim_end_matches(',')
                .parse::<SocketAddr>()
            {
                addrs.push(a);
            }
        }
        if line.contains("fault controller-down starts") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{log}");
    }
    assert_eq!(pids.len(), 2, "prometheus and alertmanager pids: {log}");
    assert!(
        addrs.len() >= 5,
        "prometheus, alertmanager, sink, stand-ins, API: {log}"
    );
    assert!(pids.iter().all(|p| alive(*p)), "{log}");
    assert!(
        !dir_entries(tmp.path()).is_empty(),
        "the drill works under TMPDIR"
    );
    // The Alertmanager configuration holds the receivers' secrets: owner-only, in an owner-only
    // directory.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let work: Vec<PathBuf> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        assert!(!work.is_empty(), "{log}");
        for dir in &work {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
            let am = dir.join("alertmanager.yml");
            assert!(am.is_file(), "{}", am.display());
            assert_eq!(mode(&am), 0o600, "{}", am.display());
        }
    }

    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{log}{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("interrupted")),
        "{}",
        rest.join("\n")
    );
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} outlived the drill");
    }
    for a in &addrs {
        assert!(
            TcpStream::connect_timeout(a, Duration::from_millis(200)).is_err(),
            "{a} still accepts connections"
        );
    }
    assert!(
        dir_entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(tmp.path())
    );
}

/// An Alertmanager configuration of today: the critical route is chosen with a UTF-8 matcher (a
/// dotted label name, Alertmanager 0.27) and pages through Teams workflows (msteamsv2, 0.28).
const CURRENT_ALERTMANAGER: &str = "route:\n  receiver: default\n  group_by: [alertname]\n  group_wait: 10s\n  routes:\n    - matchers: ['alertname=~\"Flux.+\"', 'severity=\"critical\"', 'k8s.cluster.name!=\"staging\"']\n      receiver: flux-critical\n\
receivers:\n  - name: default\n    webhook_configs: [{url: 'http://alert-sink.example/default'}]\n  - name: flux-critical\n    msteamsv2_configs:\n      - webhook_url: 'https://example.invalid/workflows/flux-oncall'\n";

#[test]
fn msteamsv2_and_utf8_matchers_drill_on_the_current_alertmanager_and_name_the_field_on_debians() {
    let inputs = tempfile::tempdir().unwrap();
    let rules = pack(inputs.path());
    let am = inputs.path().join("alertmanager.yaml");
    std::fs::write(&am, CURRENT_ALERTMANAGER).unwrap();
    if let Some(current) = upstream::upstream() {
        let tmp = tempfile::tempdir().unwrap();
        let o = drill(
            Some(&current),
            tmp.path(),
            &fixtures().join("controller-down.yaml"),
            &rules,
            &am,
            &[],
        )
        .output()
        .unwrap();
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
        assert!(out.contains("PASS alert FluxControllerDown"), "{out}");
        assert!(out.contains("delivered to flux-critical"), "{out}");
        assert!(!out.contains("msteamsv2_configs dropped"), "{out}");
        assert!(
            dir_entries(tmp.path()).is_empty(),
            "left behind: {:?}",
            dir_entries(tmp.path())
        );
    }
    if let Some(debian) = upstream::debian() {
        let tmp = tempfile::tempdir().unwrap();
        let o = drill(
            Some(&debian),
            tmp.path(),
            &fixtures().join("controller-down.yaml"),
            &rules,
            &am,
            &[],
        )
        .output()
        .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}\n{err}", stdout(&o));
        let want = format!(
            "error: {}: alertmanager 0.25.0 ({}) cannot load this configuration:",
            am.display(),
            debian.alertmanager.display()
        );
        assert!(err.contains(&want), "want {want:?} in {err}");
        assert!(err.contains("receivers[1] (flux-critical).msteamsv2_configs: the msteamsv2 integration needs Alertmanager 0.28.0 or newer"), "{err}");
        assert!(err.contains("route.routes[0].matchers: the UTF-8 matcher k8s.cluster.name!=\"staging\" (label name k8s.cluster.name) needs Alertmanager 0.27.0 or newer"), "{err}");
        assert!(
            dir_entries(tmp.path()).is_empty(),
            "nothing is started: {:?}",
            dir_entries(tmp.path())
        );
    }
}
