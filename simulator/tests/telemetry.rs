//! Telemetry: controller and kube-state-metrics exposition against golden files (the Flux source
//! each was checked against is named beside it, in golden/metrics/README.md), virtual-time
//! samples, and live listeners scraped by the real promtool and a real Prometheus.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Controller, FluxObject, FluxVersion};
use serde_json::Value;
use simulator::apiserver::ApiServer;
use simulator::controllers::{self, Clock};
use simulator::core::Simulation;
use simulator::scenario::{load_file, load_str, Fault, FaultSpec, FaultTarget, Scenario};
use simulator::telemetry::{
    encode, ksm, ControllerMetrics, Endpoints, ObjectCache, Reconcile, Telemetry, VirtualScraper,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn demo(version: Option<&str>) -> Scenario {
    let mut s = load_file(&repo_root().join("scenarios/demo.yaml")).unwrap_or_else(|e| panic!("{e}"));
    if let Some(v) = version {
        s.flux_version = v.parse::<FluxVersion>().unwrap();
    }
    s
}

const SMALL: &str = r#"
apiVersion: flux-sim.flux-monitor.dev/v1alpha1
kind: Scenario
metadata: {name: small}
spec:
  fluxVersion: "2.4"
  seed: 7
  duration: 30m
  resources:
    - kind: GitRepository
      name: fleet
      interval: 1m
      spec: {url: https://github.com/acme/fleet, ref: {branch: main}}
    - kind: Kustomization
      name: apps
      interval: 5m
      spec: {path: ./apps, sourceRef: {kind: GitRepository, name: fleet}}
    - kind: Kustomization
      name: infra
      interval: 5m
      suspend: true
      spec: {path: ./infra, sourceRef: {kind: GitRepository, name: fleet}}
    - kind: HelmRepository
      name: podinfo
      interval: 10m
      spec: {url: https://stefanprodan.github.io/podinfo}
    - kind: HelmRelease
      name: podinfo
      interval: 5m
      spec: {chart: {spec: {chart: podinfo, version: "6.x", sourceRef: {kind: HelmRepository, name: podinfo}}}}
  faults:
    - {at: 0s, target: Kustomization/apps, fault: build-failure}
"#;

fn small(version: &str) -> Scenario {
    let mut s = load_str(SMALL, Path::new("small.yaml")).unwrap_or_else(|e| panic!("{e}"));
    s.flux_version = version.parse().unwrap();
    s
}

/// Runs a scenario in virtual time to `t` and encodes every controller and kube-state-metrics.
fn virtual_bodies(scenario: &Scenario, t: Duration) -> BTreeMap<String, String> {
    let mut sim = Simulation::new(scenario);
    sim.run_until(t);
    let objects = sim.objects();
    let mut out = BTreeMap::new();
    for c in Controller::ALL {
        let mut m = ControllerMetrics::new(c, scenario.flux_version);
        for r in sim.reconciles().iter().filter(|r| r.start + r.duration <= t) {
            if let Some(r) = Reconcile::from_record(r) {
                m.observe(&r);
            }
        }
        out.insert(c.name().to_string(), encode(&m.families(&objects)));
    }
    out.insert(
        "kube-state-metrics".into(),
        encode(&[ksm::resource_info(&objects, scenario.flux_version)]),
    );
    out
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/metrics")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, want, "{} differs (UPDATE_GOLDEN=1 rewrites it)", path.display());
}

/// fluxcd/pkg runtime/metrics/recorder.go, controller-runtime pkg/internal/controller/metrics.
#[test]
fn kustomize_controller_2_4_golden() {
    golden(
        "kustomize-controller-2.4.prom",
        &virtual_bodies(&small("2.4"), Duration::from_secs(600))["kustomize-controller"],
    );
}

/// Flux 2.5 removed gotk_reconcile_condition and gotk_suspend_status (kustomize-controller #1305).
#[test]
fn kustomize_controller_2_7_golden() {
    golden(
        "kustomize-controller-2.7.prom",
        &virtual_bodies(&small("2.7"), Duration::from_secs(600))["kustomize-controller"],
    );
}

/// helm-controller stopped the legacy gauges in Flux 2.2; buckets as its real output shows them.
#[test]
fn helm_controller_2_4_golden() {
    golden(
        "helm-controller-2.4.prom",
        &virtual_bodies(&small("2.4"), Duration::from_secs(600))["helm-controller"],
    );
}

/// flux2-monitoring-example kube-state-metrics-config.yaml; kube-state-metrics customresourcestate.
#[test]
fn kube_state_metrics_golden() {
    golden(
        "kube-state-metrics-2.7.prom",
        &virtual_bodies(&small("2.7"), Duration::from_secs(600))["kube-state-metrics"],
    );
}

#[test]
fn legacy_gauges_follow_the_flux_version() {
    for (version, present) in [("2.2", true), ("2.4", true), ("2.5", false), ("2.7", false)] {
        let bodies = virtual_bodies(&small(version), Duration::from_secs(300));
        let kc = &bodies["kustomize-controller"];
        assert_eq!(kc.contains("gotk_reconcile_condition{"), present, "{version}");
        assert_eq!(kc.contains("gotk_suspend_status{"), present, "{version}");
        assert!(
            !bodies["helm-controller"].contains("gotk_reconcile_condition"),
            "{version}"
        );
        assert!(kc.contains("gotk_reconcile_duration_seconds_bucket{"), "{version}");
    }
    let kc = &virtual_bodies(&small("2.4"), Duration::from_secs(300))["kustomize-controller"];
    // One series per status, 1 for the current one (RecordCondition).
    assert!(kc.contains(r#"gotk_reconcile_condition{kind="Kustomization",name="apps",namespace="flux-system",status="False",type="Ready"} 1"#));
    assert!(kc.contains(r#"gotk_reconcile_condition{kind="Kustomization",name="apps",namespace="flux-system",status="True",type="Ready"} 0"#));
    assert!(kc.contains(r#"gotk_suspend_status{kind="Kustomization",name="infra",namespace="flux-system"} 1"#));
}

#[test]
fn virtual_scraper_shows_error_rate_slow_and_controller_down() {
    let mut s = small("2.7");
    let fault = |at: u64, fault: Fault, target: FaultTarget, duration: Option<u64>| FaultSpec {
        name: None,
        at: Duration::from_secs(at),
        target,
        fault,
        reason: None,
        message: None,
        duration: duration.map(Duration::from_secs),
        reconcile_duration: (fault == Fault::Slow).then(|| Duration::from_secs(100)),
        rate: (fault == Fault::ErrorRate).then_some(1.0),
        count: None,
        line: 0,
    };
    s.faults.push(fault(
        0,
        Fault::ErrorRate,
        FaultTarget::Controller(Controller::Source),
        None,
    ));
    s.faults.push(fault(
        0,
        Fault::Slow,
        FaultTarget::Object(model::ObjectRef::new("HelmRelease", "flux-system", "podinfo")),
        None,
    ));
    s.faults.push(fault(
        600,
        Fault::ControllerDown,
        FaultTarget::Controller(Controller::Kustomize),
        Some(300),
    ));
    let value = |scrape: &simulator::telemetry::Scrape, metric: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples()
            .find(|x| {
                x.metric == metric
                    && labels
                        .iter()
                        .all(|(k, v)| x.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|x| x.value)
    };
    let scrapes: Vec<_> = VirtualScraper::with_interval(&s, Duration::from_secs(60)).collect();
    assert_eq!(scrapes.len(), 31);
    let at = |m: u64| &scrapes[m as usize];
    let errors = value(
        at(5),
        "controller_runtime_reconcile_errors_total",
        &[("controller", "gitrepository")],
    )
    .unwrap();
    assert!(
        errors >= 3.0,
        "error-rate 1.0 makes every source reconcile count: {errors}"
    );
    let slow = value(
        at(5),
        "gotk_reconcile_duration_seconds_sum",
        &[("kind", "HelmRelease"), ("exported_namespace", "flux-system")],
    )
    .unwrap();
    assert!(slow >= 100.0, "slow reconciles show in the duration: {slow}");
    let kc_up = |m| {
        value(
            at(m),
            "up",
            &[("pod", &simulator::telemetry::scrape::pod_name(Controller::Kustomize))],
        )
        .unwrap()
    };
    assert_eq!((kc_up(9), kc_up(10), kc_up(14), kc_up(15)), (1.0, 0.0, 0.0, 1.0));
    assert_eq!(
        value(
            at(12),
            "controller_runtime_reconcile_total",
            &[("controller", "kustomization")]
        ),
        None
    );
    // A restarted controller starts counting from zero.
    let before = value(
        at(9),
        "controller_runtime_reconcile_total",
        &[("controller", "kustomization"), ("result", "requeue_after")],
    )
    .unwrap();
    let after = value(
        at(15),
        "controller_runtime_reconcile_total",
        &[("controller", "kustomization"), ("result", "requeue_after")],
    )
    .unwrap();
    assert!(after < before, "counter reset after restart: {before} -> {after}");
    // Target labels as the PodMonitor gives them: the object's namespace is exported_namespace.
    let sample = at(5)
        .samples()
        .find(|x| x.metric == "gotk_reconcile_duration_seconds_count")
        .unwrap();
    assert_eq!(sample.labels["job"], "monitoring/flux-system");
    assert_eq!(sample.labels["namespace"], "flux-system");
    assert!(sample.labels.contains_key("exported_namespace"));
}

/// Time to encode `/metrics` for 10,000 objects (printed, not asserted: benchmarks own targets).
#[test]
fn encode_time_for_10000_objects() {
    let text = simulator::scenario::generate(10_000, 1);
    let s = load_str(&text, Path::new("generated.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut sim = Simulation::new(&s);
    sim.run_until(Duration::from_secs(900));
    let objects = sim.objects();
    let telemetry = Telemetry::new(s.flux_version);
    for r in sim.reconciles() {
        if let Some(r) = Reconcile::from_record(r) {
            telemetry.observe(&r);
        }
    }
    let started = Instant::now();
    let mut bytes = 0;
    for c in Controller::ALL {
        bytes += telemetry.encode_controller(c, &objects).len();
    }
    let controllers = started.elapsed();
    let started = Instant::now();
    bytes += telemetry.encode_kube_state_metrics(&objects).len();
    let ksm = started.elapsed();
    println!(
        "encode {} objects: controllers {:?}, kube-state-metrics {:?}, {} bytes",
        objects.len(),
        controllers,
        ksm,
        bytes
    );
}

// ---- live: embedded API, controllers, listeners, promtool and Prometheus ----

struct Live {
    _api: simulator::apiserver::Running,
    client: kube::Client,
    tasks: tokio::task::JoinSet<()>,
    telemetry: simulator::telemetry::Running,
}

async fn start_live(scenario: Scenario, start_at: Duration) -> Live {
    let scenario = Arc::new(scenario);
    let server = ApiServer::new(simulator::serve::flux_resource_types(&scenario));
    simulator::seed::into_store(server.store(), &scenario, start_at).unwrap();
    let api = server.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let clock = Clock::new(start_at, 1.0);
    let telemetry = Telemetry::for_scenario(&scenario);
    let tasks = controllers::start(
        client.clone(),
        controllers::Options {
            scenario: scenario.clone(),
            clock,
            observer: Some(telemetry.observer()),
        },
    )
    .await;
    let running = telemetry
        .serve_scenario(&client, scenario, clock, "127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    Live {
        _api: api,
        client,
        tasks,
        telemetry: running,
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, body.to_string()))
}

fn promtool_check(body: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool: {e}"))?;
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A real Prometheus on 127.0.0.1, killed and its directory removed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_prometheus(endpoints: &Endpoints) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{}",
        endpoints.scrape_configs(Duration::from_secs(1))
    );
    std::fs::write(dir.path().join("prometheus.yml"), &config).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("prometheus.log")).unwrap(),
        ))
        .spawn()
        .expect("prometheus (Debian package) on PATH");
    let prom = Prometheus { child, addr, _dir: dir };
    wait_for(Duration::from_secs(20), "Prometheus ready", || async {
        http_get(addr, "/-/ready").await.is_ok_and(|(code, _)| code == 200)
    })
    .await;
    prom
}

async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Instant query: (labels, value) per series.
async fn query(prom: &Prometheus, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let path = format!(
        "/api/v1/query?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("query", q)
            .finish()
    );
    let (code, body) = http_get(prom.addr, &path).await.unwrap();
    assert_eq!(code, 200, "{q}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = serde_json::from_value(r["metric"].clone()).unwrap();
            let value = r["value"][1].as_str().unwrap().parse().unwrap();
            (labels, value)
        })
        .collect()
}

/// The objects the API holds now with Ready=False, as (kind, namespace, name).
async fn failing_in_api(client: &kube::Client, version: FluxVersion) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for info in model::kinds::kinds_in(version).filter(|k| !k.is_optional()) {
        let ar = controllers::api_resource(info, version).unwrap();
        let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(client.clone(), &ar);
        for o in api.list(&Default::default()).await.unwrap() {
            let v = serde_json::to_value(&o).unwrap();
            let view = FluxObject::new(&v);
            if view.ready().is_some_and(|c| c.status == "False") {
                out.insert((
                    info.kind.to_string(),
                    view.namespace().to_string(),
                    view.name().to_string(),
                ));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_demo_at_the_newest_version() {
    let start_at = Duration::from_secs(3600);
    let mut scenario = demo(None);
    // kustomize-controller goes down 12s into the run for 5s, then comes back on the same port.
    scenario.faults.push(FaultSpec {
        name: None,
        at: start_at + Duration::from_secs(12),
        target: FaultTarget::Controller(Controller::Kustomize),
        fault: Fault::ControllerDown,
        reason: None,
        message: None,
        duration: Some(Duration::from_secs(5)),
        reconcile_duration: None,
        rate: None,
        count: None,
        line: 0,
    });
    let version = scenario.flux_version;
    let mut live = start_live(scenario, start_at).await;
    let endpoints = live.telemetry.endpoints.clone();
    assert_eq!(endpoints.controllers.len(), 6);
    let json = serde_json::to_value(&endpoints).unwrap();
    assert!(json["kubeStateMetrics"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(json["controllers"]["kustomize-controller"].is_string());

    // promtool accepts every listener's output.
    for (name, addr) in endpoints
        .controllers
        .iter()
        .map(|(n, a)| (n.as_str(), *a))
        .chain([("kube-state-metrics", endpoints.kube_state_metrics.unwrap())])
    {
        let (code, body) = http_get(addr, "/metrics").await.unwrap();
        assert_eq!(code, 200, "{name}");
        promtool_check(&body).unwrap_or_else(|e| panic!("promtool rejects {name}: {e}\n{body}"));
    }
    let (_, ksm_body) = http_get(endpoints.kube_state_metrics.unwrap(), "/metrics").await.unwrap();
    assert!(ksm_body.contains("# TYPE gotk_resource_info gauge"));

    let prom = start_prometheus(&endpoints).await;
    wait_for(Duration::from_secs(15), "every target up", || async {
        let up = query(&prom, "up").await;
        up.len() == 7 && up.iter().all(|(_, v)| *v == 1.0)
    })
    .await;

    // gotk_resource_info{ready="False"} is exactly the failing objects in the API.
    let mut last = (BTreeSet::new(), BTreeSet::new());
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let want = failing_in_api(&live.client, version).await;
        let got: BTreeSet<_> = query(&prom, r#"gotk_resource_info{ready="False"}"#)
            .await
            .into_iter()
            .map(|(l, _)| {
                (
                    l["customresource_kind"].clone(),
                    l["exported_namespace"].clone(),
                    l["name"].clone(),
                )
            })
            .collect();
        if want == got && !want.is_empty() {
            last = (want, got);
            break;
        }
        last = (want, got);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(!last.0.is_empty(), "demo has failing objects");
    assert_eq!(last.1, last.0, "Prometheus vs API");
    assert!(last
        .0
        .contains(&("GitRepository".into(), "flux-system".into(), "apps".into())));

    // Flux >= 2.5 has no legacy gauges; reconcile metrics are there.
    assert!(query(&prom, "gotk_reconcile_condition").await.is_empty());
    assert!(!query(&prom, "controller_runtime_reconcile_total").await.is_empty());

    // controller-down: the listener closes, up goes to 0; then it comes back on the same port.
    let kc = r#"up{job="monitoring/flux-system",pod=~"kustomize-controller-.*"}"#;
    wait_for(Duration::from_secs(20), "kustomize-controller down", || async {
        query(&prom, kc).await.first().is_some_and(|(_, v)| *v == 0.0)
    })
    .await;
    let addr = endpoints.controllers["kustomize-controller"];
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "connection refused while down"
    );
    wait_for(Duration::from_secs(15), "kustomize-controller back", || async {
        query(&prom, kc).await.first().is_some_and(|(_, v)| *v == 1.0)
    })
    .await;
    assert_eq!(http_get(addr, "/metrics").await.unwrap().0, 200);

    drop(prom);
    live.tasks.abort_all();
    live.telemetry.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_legacy_gauges_on_flux_2_4() {
    let start_at = Duration::from_secs(3600);
    let mut live = start_live(demo(Some("2.4")), start_at).await;
    let endpoints = live.telemetry.endpoints.clone();
    for (name, addr) in &endpoints.controllers {
        let (_, body) = http_get(*addr, "/metrics").await.unwrap();
        promtool_check(&body).unwrap_or_else(|e| panic!("promtool rejects {name}: {e}\n{body}"));
    }
    let prom = start_prometheus(&endpoints).await;
    // The PodMonitor-style scrape renames the object's namespace label.
    let failing = r#"gotk_reconcile_condition{kind="GitRepository",name="apps",type="Ready",status="False"}"#;
    wait_for(Duration::from_secs(15), "gotk_reconcile_condition scraped", || async {
        !query(&prom, failing).await.is_empty()
    })
    .await;
    let series = query(&prom, failing).await;
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].0["exported_namespace"], "flux-system");
    assert_eq!(series[0].0["namespace"], "flux-system");
    assert_eq!(series[0].1, 1.0);
    assert!(
        query(&prom, r#"gotk_reconcile_condition{kind="HelmRelease"}"#)
            .await
            .is_empty(),
        "helm-controller stopped in 2.2"
    );
    assert!(!query(&prom, "gotk_suspend_status").await.is_empty());
    drop(prom);
    live.tasks.abort_all();
    live.telemetry.shutdown().await;
}

/// The cache keeps only what the metrics read; every body must come out as from whole objects:
/// kube-state-metrics, the Flux Operator and each controller (legacy gauges on 2.4), over the
/// demo with its faults, suspensions and Helm history.
#[tokio::test]
async fn object_cache_encodes_like_the_whole_objects() {
    for version in ["2.4", "2.7", "2.9"] {
        for s in [small(version), demo(Some(version))] {
            let mut sim = Simulation::new(&s);
            sim.run_until(Duration::from_secs(3600));
            let whole = sim.objects();
            let cache = ObjectCache::from_objects(whole.clone());
            let telemetry = Telemetry::new(s.flux_version);
            let ctx = format!("{} on {version}", s.name);
            assert_eq!(
                cache.with(|o| telemetry.encode_kube_state_metrics(o)),
                telemetry.encode_kube_state_metrics(&whole),
                "kube-state-metrics, {ctx}"
            );
            cache.with(|o| telemetry.report(o));
            let slim_report = telemetry.encode_flux_operator();
            telemetry.report(&whole);
            assert!(slim_report.contains("flux_resource_info{"), "{slim_report}");
            assert_eq!(slim_report, telemetry.encode_flux_operator(), "Flux Operator, {ctx}");
            for c in s.controllers() {
                let body = cache.with(|o| telemetry.encode_controller(c, o));
                assert_eq!(body, telemetry.encode_controller(c, &whole), "{}, {ctx}", c.name());
            }
        }
    }
}
