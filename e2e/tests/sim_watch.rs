//! A kube-runtime watcher on flux-sim's embedded API sees the status changes a fault causes.

use std::time::Duration;

use e2e::{scenario, Sim};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_fault_driven_status_change() {
    let sim = Sim::start(&scenario("demo.yaml"), &["--start-at", "5m"]);
    let kubeconfig = kube::config::Kubeconfig::read_from(&sim.kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let ar = ApiResource {
        group: "kustomize.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        plural: "kustomizations".into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client, "flux-system", &ar);
    let mut stream = watcher(api.clone(), watcher::Config::default().fields("metadata.name=monitoring"))
        .applied_objects()
        .boxed();

    // Wait until the watcher has the healthy object, then ask for a fault by annotation.
    let healthy = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(obj)) = stream.next().await {
            if ready(&obj) == Some(("True".into(), "ReconciliationSucceeded".into())) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(healthy, Ok(true), "monitoring never became Ready");

    let patch = json!({"metadata": {"annotations": {"flux-sim.flux-monitor.dev/fault": "build-failure"}}});
    api.patch("monitoring", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(obj)) = stream.next().await {
            if ready(&obj) == Some(("False".into(), "BuildFailed".into())) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(failed, Ok(true), "the watcher did not see Ready=False BuildFailed after the fault");
}

fn ready(obj: &DynamicObject) -> Option<(String, String)> {
    let c = obj.data["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready")?;
    Some((c["status"].as_str()?.to_string(), c["reason"].as_str()?.to_string()))
}
