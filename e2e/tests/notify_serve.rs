//! `flux-sim serve --notify`: a fault on a live object becomes an error event, which the
//! notification-controller emulation matches against an Alert read from the API and delivers to
//! the Provider's address; an Alert whose Provider is missing becomes a
//! NotificationDispatchFailed Warning event, as notification-controller records it.

use std::time::Duration;

use e2e::{eventually, have_kubectl, Sim};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_event_reaches_the_provider_and_dispatch_failures_are_events() {
    if !have_kubectl() {
        eprintln!("skipped: kubectl is not on PATH");
        return;
    }
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("notify.yaml");
    std::fs::write(
        &scenario,
        format!(
            r#"apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {{name: notify}}
spec:
  resources:
    - {{kind: GitRepository, name: flux-system, interval: 1m}}
    - {{kind: Kustomization, name: apps, interval: 10m, spec: {{sourceRef: {{kind: GitRepository, name: flux-system}}}}}}
    - {{kind: Provider, name: webhook, spec: {{type: generic, address: "{}/hook"}}}}
    - kind: Alert
      name: on-call
      spec:
        providerRef: {{name: webhook}}
        eventSeverity: error
        eventSources: [{{kind: Kustomization, name: "*"}}]
"#,
            receiver.uri()
        ),
    )
    .unwrap();
    let sim = tokio::task::spawn_blocking(move || Sim::start(&scenario, &["--notify", "--start-at", "5m"])).await.unwrap();
    assert!(sim.endpoints["notificationController"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1:")));

    sim.kubectl_ok(&["annotate", "kustomization", "apps", "-n", "flux-system", "flux-sim.flux-monitor.dev/fault=build-failure"]);
    let mut delivered = None;
    for _ in 0..100 {
        let requests = receiver.received_requests().await.unwrap_or_default();
        if let Some(r) = requests.iter().find(|r| r.url.path() == "/hook") {
            delivered = Some(serde_json::from_slice::<Value>(&r.body).expect("generic provider posts JSON"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = delivered.expect("the Provider received no notification within 10s");
    assert_eq!(event["involvedObject"]["kind"], "Kustomization");
    assert_eq!(event["involvedObject"]["name"], "apps");
    assert_eq!(event["severity"], "error");
    assert_eq!(event["reason"], "BuildFailed");
    assert_eq!(event["reportingController"], "kustomize-controller");
    // fluxcd/pkg runtime/events/recorder.go: the hostname, i.e. the pod whose metrics carry the
    // same name in the `pod` target label of the controllers' PodMonitor.
    let target = simulator::telemetry::scrape::Target::controller(model::Controller::Kustomize, "127.0.0.1:0");
    assert_eq!(event["reportingInstance"].as_str(), Some(target.labels["pod"].as_str()));

    // An Alert created at run time whose Provider does not exist.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {name: broken, namespace: flux-system}\nspec:\n  providerRef: {name: missing}\n  eventSeverity: error\n  eventSources: [{kind: Kustomization, name: apps}]\n",
    )
    .unwrap();
    sim.kubectl_ok(&["create", "-f", broken.to_str().unwrap()]);
    sim.kubectl_ok(&["annotate", "kustomization", "apps", "-n", "flux-system", "--overwrite", "flux-sim.flux-monitor.dev/fault=apply-failure"]);
    let failed = eventually(Duration::from_secs(10), || {
        let events = sim.kubectl_json(&["get", "events", "-n", "flux-system"]);
        events["items"].as_array()?.iter().find(|e| e["reason"] == "NotificationDispatchFailed" && e["involvedObject"]["name"] == "broken").cloned()
    })
    .expect("no NotificationDispatchFailed event on the Alert with a missing Provider");
    assert_eq!(failed["type"], "Warning");
    assert!(failed["message"].as_str().unwrap_or("").contains("missing"), "{failed}");
}
