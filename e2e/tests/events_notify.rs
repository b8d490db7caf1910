//! Alerts and Providers judged by what notification-controller did with them, end to end: the
//! real kubectl runs `kubectl flux-monitor` against `flux-sim serve --notify`, whose emulation
//! records NotificationDispatchFailed and InvalidConfig Warning events on Alerts as
//! notification-controller does. A Provider whose endpoint answers 500 makes its Alert Failing in
//! `status` (with the dispatch error, without the webhook's secret path, exit 1) while an Alert
//! delivering to a working endpoint stays Ready; a Provider whose Secret is missing is Failing
//! before any event; `events --for` shows an object's events and `--watch` streams new ones.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::{bin_dir, eventually, have_kubectl, Sim};
use serde_json::Value;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET_PATH: &str = "T0SECRET/B0SECRET/xoxb-do-not-show";

fn status_items(sim: &Sim, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let mut all = vec!["flux-monitor", "status", "-n", "flux-system", "-o", "json"];
    all.extend(args);
    let out = sim.kubectl(&all);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let items = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default();
    (out.status.code(), items, text)
}

fn item<'a>(items: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|i| i["objectRef"]["kind"] == kind && i["objectRef"]["name"] == name)
}

fn verdict(items: &[Value], kind: &str, name: &str) -> String {
    item(items, kind, name).map_or_else(
        || format!("{kind}/{name} missing"),
        |i| i["verdict"].as_str().unwrap_or("").to_string(),
    )
}

fn path_with_bins() -> std::ffi::OsString {
    std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_fail_on_dispatch_errors_and_events_show_them() {
    if !have_kubectl() {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    }
    let failing_sink = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream broke"))
        .mount(&failing_sink)
        .await;
    let working_sink = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/ok$"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&working_sink)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("alerts.yaml");
    std::fs::write(
        &scenario,
        format!(
            r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {{name: alerts}}
spec:
  fluxVersion: "2.7"
  resources:
    - {{kind: GitRepository, name: flux-system, interval: 1m}}
    - {{kind: Kustomization, name: apps, interval: 10m, spec: {{sourceRef: {{kind: GitRepository, name: flux-system}}}}}}
    - {{kind: Provider, name: pager, spec: {{type: generic, address: "{failing}/{SECRET_PATH}", timeout: 2s}}}}
    - {{kind: Provider, name: chat, spec: {{type: generic, address: "{working}/ok"}}}}
    - kind: Alert
      name: on-call
      spec: {{providerRef: {{name: pager}}, eventSeverity: error, eventSources: [{{kind: Kustomization, name: apps}}]}}
    - kind: Alert
      name: team
      spec: {{providerRef: {{name: chat}}, eventSeverity: error, eventSources: [{{kind: Kustomization, name: apps}}]}}
"#,
            failing = failing_sink.uri(),
            working = working_sink.uri(),
        ),
    )
    .unwrap();
    let sim = tokio::task::spawn_blocking(move || {
        Sim::start(&scenario, &["--notify", "--start-at", "5m"])
    })
    .await
    .unwrap();

    // Nothing dispatched yet: every Alert and Provider is Ready, and says exactly why.
    let (code, items, text) = status_items(&sim, &["--kind", "alert,provider"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(verdict(&items, "Alert", "on-call"), "Ready", "{text}");
    assert_eq!(
        item(&items, "Alert", "on-call").unwrap()["message"],
        "no dispatch failure in the last 1h"
    );

    // A build failure: both Alerts dispatch; the pager's endpoint answers 500 until the
    // Provider's 2s timeout, the chat's answers 200.
    sim.kubectl_ok(&[
        "annotate",
        "kustomization",
        "apps",
        "-n",
        "flux-system",
        "flux-sim.flux-monitor.dev/fault=build-failure",
    ]);
    let (code, items, text) = eventually(Duration::from_secs(20), || {
        let got = status_items(&sim, &["--kind", "alert,provider"]);
        (verdict(&got.1, "Alert", "on-call") == "Failing").then_some(got)
    })
    .expect("Alert on-call never became Failing after its Provider's endpoint answered 500");
    assert_eq!(code, Some(1), "a Failing Alert is a problem: {text}");
    let on_call = item(&items, "Alert", "on-call").unwrap();
    assert_eq!(on_call["reason"], "NotificationDispatchFailed", "{on_call}");
    let message = on_call["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "failed to send notification for Kustomization/flux-system/apps: postMessage failed"
        ),
        "{message}"
    );
    assert_eq!(verdict(&items, "Provider", "pager"), "Failing", "{text}");
    assert_eq!(
        item(&items, "Provider", "pager").unwrap()["message"],
        on_call["message"]
    );
    assert_eq!(
        verdict(&items, "Alert", "team"),
        "Ready",
        "the Alert whose endpoint works: {text}"
    );
    assert_eq!(verdict(&items, "Provider", "chat"), "Ready", "{text}");
    assert!(
        working_sink
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.url.path() == "/ok"),
        "the working Provider received the notification"
    );

    // The table through kubectl says the same, and never the webhook's path.
    let table = sim.kubectl(&["flux-monitor", "status", "-n", "flux-system"]);
    let table_text = String::from_utf8_lossy(&table.stdout).into_owned();
    assert_eq!(table.status.code(), Some(1));
    let row = table_text
        .lines()
        .find(|l| l.starts_with("Alert/on-call"))
        .unwrap_or_else(|| panic!("{table_text}"));
    assert!(
        row.contains("Failing") && row.contains("failed to send notification"),
        "{row}"
    );

    // events --for: the Alert's own events, in kubectl's columns.
    let out = sim.kubectl(&[
        "flux-monitor",
        "events",
        "-n",
        "flux-system",
        "--for",
        "Alert/on-call",
    ]);
    let events = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{events}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header: Vec<&str> = events
        .lines()
        .next()
        .unwrap_or("")
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{events}"
    );
    let line = events
        .lines()
        .find(|l| l.contains("NotificationDispatchFailed"))
        .unwrap_or_else(|| panic!("{events}"));
    assert!(
        line.contains("Warning")
            && line.contains("Alert/on-call")
            && line.contains("failed to send notification"),
        "{line}"
    );
    assert!(
        events.lines().skip(1).all(|l| l.contains("Alert/on-call")),
        "only that Alert's events: {events}"
    );
    // --for a Kustomization (by short name) shows its events and its source's, as flux events does.
    let ks = sim.kubectl_ok(&[
        "flux-monitor",
        "events",
        "-n",
        "flux-system",
        "--for",
        "ks/apps",
    ]);
    assert!(
        ks.lines()
            .any(|l| l.contains("Kustomization/apps") && l.contains("BuildFailed")),
        "{ks}"
    );
    assert!(
        ks.lines()
            .skip(1)
            .all(|l| l.contains("Kustomization/apps") || l.contains("GitRepository/flux-system")),
        "{ks}"
    );
    // JSON: core/v1 Events in a List.
    let json: Value = serde_json::from_str(&sim.kubectl_ok(&[
        "flux-monitor",
        "events",
        "-n",
        "flux-system",
        "--for",
        "alert/on-call",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["kind"], "List");
    assert!(json["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["reason"] == "NotificationDispatchFailed"
            && e["involvedObject"]["kind"] == "Alert"));

    // Secrets never appear, in any output.
    let everything = [
        text,
        table_text,
        events,
        ks,
        json.to_string(),
        sim.kubectl_ok(&["flux-monitor", "events", "-A", "-o", "yaml"]),
    ]
    .join("\n");
    assert!(
        !everything.contains("SECRET") && !everything.contains("xoxb"),
        "a webhook secret leaked:\n{everything}"
    );

    // An unknown kind in --for is a usage error naming the kinds accepted.
    let bad = sim.kubectl(&["flux-monitor", "events", "--for", "deployment/web"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("not a Flux kind") && err.contains("Kustomization (ks)"),
        "{err}"
    );

    // --watch streams new events: a Provider whose Secret is missing and an Alert with a regex
    // that does not compile, created while watching.
    let mut child = Command::new("kubectl")
        .args([
            "flux-monitor",
            "events",
            "-n",
            "flux-system",
            "--types",
            "Warning",
            "--watch",
        ])
        .env("KUBECONFIG", &sim.kubeconfig)
        .env("PATH", path_with_bins())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start events --watch");
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {name: locked, namespace: flux-system}\nspec: {type: slack, secretRef: {name: slack-webhook}}\n---\n\
         apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {name: strict, namespace: flux-system}\nspec:\n  providerRef: {name: chat}\n  eventSeverity: error\n  exclusionList: ['([unclosed']\n  eventSources: [{kind: Kustomization, name: apps}]\n",
    )
    .unwrap();
    sim.kubectl_ok(&["create", "-f", broken.to_str().unwrap()]);
    // The missing Secret needs no event.
    let (_, items, text) = status_items(&sim, &["--kind", "provider"]);
    let locked = item(&items, "Provider", "locked").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(locked["verdict"], "Failing", "{locked}");
    assert_eq!(
        locked["message"],
        "Secret flux-system/slack-webhook (spec.secretRef) does not exist"
    );
    // A new error event (a new message, so not rate-limited) reaches the Alert with the bad regex.
    sim.kubectl_ok(&[
        "annotate",
        "kustomization",
        "apps",
        "-n",
        "flux-system",
        "--overwrite",
        "flux-sim.flux-monitor.dev/fault=apply-failure",
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut streamed = None;
    while Instant::now() < deadline && streamed.is_none() {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("InvalidConfig") && line.contains("Alert/strict") {
                streamed = Some(line);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = streamed.expect("events --watch did not stream the InvalidConfig event");
    assert!(
        line.contains("failed to compile exclusion regex: ([unclosed"),
        "{line}"
    );
    let (_, items, text) = status_items(&sim, &["--kind", "alert"]);
    let strict = item(&items, "Alert", "strict").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(strict["verdict"], "Failing", "{strict}");
    assert_eq!(strict["reason"], "InvalidConfig");
}
