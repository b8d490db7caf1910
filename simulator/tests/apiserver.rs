//! Tests of the embedded Kubernetes API: through the real kubectl, kube-rs clients, kube-runtime
//! watchers, raw HTTP for exact Status shapes, and the in-process Store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, ListParams, Patch as KubePatch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::{json, Value};
use simulator::apiserver::{
    write_kubeconfig, ApiServer, Patch, PrinterColumn, ResourceType, Running,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const KS_GROUP: &str = "kustomize.toolkit.fluxcd.io";
const SRC_GROUP: &str = "source.toolkit.fluxcd.io";

fn custom(
    group: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    columns: Vec<PrinterColumn>,
) -> ResourceType {
    ResourceType {
        group: group.to_string(),
        version: "v1".to_string(),
        other_versions: vec!["v1beta2".to_string()],
        kind: kind.to_string(),
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec!["fluxcd".to_string()],
        namespaced: true,
        status_subresource: true,
        printer_columns: columns,
        version_details: Vec::new(),
    }
}

fn ready_columns() -> Vec<PrinterColumn> {
    vec![
        PrinterColumn::new("Age", "date", ".metadata.creationTimestamp"),
        PrinterColumn::new(
            "Ready",
            "string",
            r#".status.conditions[?(@.type=="Ready")].status"#,
        ),
        PrinterColumn::new(
            "Status",
            "string",
            r#".status.conditions[?(@.type=="Ready")].message"#,
        ),
    ]
}

fn flux_types() -> Vec<ResourceType> {
    let mut git_columns = vec![PrinterColumn::new("URL", "string", ".spec.url")];
    git_columns.extend(ready_columns());
    vec![
        custom(
            KS_GROUP,
            "Kustomization",
            "kustomizations",
            &["ks"],
            ready_columns(),
        ),
        custom(
            SRC_GROUP,
            "GitRepository",
            "gitrepositories",
            &["gitrepo"],
            git_columns,
        ),
    ]
}

fn ready(status: &str, message: &str) -> Value {
    json!({"conditions": [{"type": "Ready", "status": status, "reason": if status == "True" { "ReconciliationSucceeded" } else { "BuildFailed" },
        "message": message, "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1}]})
}

fn kustomization(ns: &str, name: &str) -> Value {
    json!({"apiVersion": format!("{KS_GROUP}/v1"), "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"interval": "10m", "path": "./", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}})
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

async fn start() -> (ApiServer, Running) {
    let server = ApiServer::new(flux_types());
    let running = server
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1:0");
    (server, running)
}

fn client(running: &Running) -> kube::Client {
    let mut config = kube::Config::new(running.url.parse().expect("url"));
    config.default_retry = false;
    config.read_timeout = Some(Duration::from_secs(30));
    kube::Client::try_from(config).expect("client")
}

fn ks_resource() -> ApiResource {
    ApiResource {
        group: KS_GROUP.to_string(),
        version: "v1".to_string(),
        api_version: format!("{KS_GROUP}/v1"),
        kind: "Kustomization".to_string(),
        plural: "kustomizations".to_string(),
    }
}

/// kubectl with its own kubeconfig and discovery cache.
struct Kubectl {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    fn new(running: &Running) -> Option<Kubectl> {
        if which("kubectl").is_none() {
            eprintln!("skipping: kubectl is not on PATH");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, &running.url, "flux-sim").expect("kubeconfig");
        let cache = dir.path().join("cache");
        Some(Kubectl {
            _dir: dir,
            kubeconfig,
            cache,
        })
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        command.kill_on_drop(true);
        command
    }

    /// Runs kubectl, returns stdout; panics with stderr on failure.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.expect("run kubectl");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {stderr}\n{stdout}"
        );
        stdout.into_owned()
    }

    /// Runs kubectl expecting failure, returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.expect("run kubectl");
        assert!(!output.status.success(), "kubectl {args:?} should fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn seed(server: &ApiServer) {
    let store = server.store().with_manager("kustomize-controller");
    store.create(namespace("flux-system")).unwrap();
    store.create(namespace("apps")).unwrap();
    let mut ok = kustomization("flux-system", "infra");
    ok["status"] = ready("True", "Applied revision: main@sha1:0123abcd");
    store.create_with_status(ok).unwrap();
    let mut failing = kustomization("apps", "podinfo");
    failing["status"] = ready("False", "kustomize build failed: missing resources");
    store.create_with_status(failing).unwrap();
    let repo = json!({"apiVersion": format!("{SRC_GROUP}/v1"), "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"url": "https://github.com/example/fleet", "interval": "1m"},
        "status": ready("True", "stored artifact for revision 'main@sha1:0123abcd'")});
    store
        .with_manager("source-controller")
        .create_with_status(repo)
        .unwrap();
}

fn managed_entry<'v>(object: &'v Value, manager: &str) -> &'v Value {
    object["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .unwrap_or_else(|| panic!("no managedFields entry for {manager}: {object:#}"))
}

fn ready_status(object: &Value) -> &Value {
    &object["status"]["conditions"][0]["status"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_patch_annotate_label_delete() {
    let (server, running) = start().await;
    let Some(kubectl) = Kubectl::new(&running) else {
        return;
    };
    seed(&server);
    let store = server.store();

    let table = kubectl.ok(&["get", "ks", "-A"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAMESPACE", "NAME", "AGE", "READY", "STATUS"]);
    assert!(
        table.lines().any(|l| l.starts_with("apps")
            && l.contains("podinfo")
            && l.contains("False")
            && l.contains("kustomize build failed: missing resources")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("infra") && l.contains("True")),
        "{table}"
    );
    let one = kubectl
        .ok(&[
            "get",
            "kustomization",
            "infra",
            "-n",
            "flux-system",
            "--no-headers",
        ])
        .await;
    assert!(one.starts_with("infra") && one.contains("True"), "{one}");

    let json_list: Value = serde_json::from_str(
        &kubectl
            .ok(&["get", "gitrepositories", "-A", "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(json_list["kind"], "List");
    assert_eq!(
        json_list["items"][0]["spec"]["url"],
        "https://github.com/example/fleet"
    );
    assert_eq!(ready_status(&json_list["items"][0]), "True");
    let yaml_list: Value =
        serde_saphyr::from_str(&kubectl.ok(&["get", "gitrepo", "-A", "-o", "yaml"]).await).unwrap();
    assert_eq!(
        yaml_list["items"][0]["status"]["conditions"][0]["type"],
        "Ready"
    );
    assert_eq!(
        yaml_list["items"][0]["apiVersion"],
        format!("{SRC_GROUP}/v1")
    );
    let wide = kubectl
        .ok(&["get", "gitrepositories", "-n", "flux-system", "-o", "wide"])
        .await;
    assert!(
        wide.contains("URL") && wide.contains("https://github.com/example/fleet"),
        "{wide}"
    );

    let patched = kubectl
        .ok(&[
            "patch",
            "ks",
            "podinfo",
            "-n",
            "apps",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ])
        .await;
    assert!(patched.contains("patched"), "{patched}");
    let object = store
        .get(KS_GROUP, "kustomizations", Some("apps"), "podinfo")
        .unwrap();
    assert_eq!(object["spec"]["suspend"], true);
    assert_eq!(object["metadata"]["generation"], 2);
    let entry = managed_entry(&object, "kubectl-patch");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["fieldsV1"], json!({"f:spec": {"f:suspend": {}}}));
    assert!(
        entry["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok(),
        "{entry}"
    );
    assert!(
        managed_entry(&object, "kustomize-controller")["fieldsV1"]["f:spec"]
            .get("f:suspend")
            .is_none()
    );

    kubectl
        .ok(&[
            "annotate",
            "ks",
            "podinfo",
            "-n",
            "apps",
            "reconcile.fluxcd.io/requestedAt=2025-06-01T10:00:00Z",
        ])
        .await;
    kubectl
        .ok(&["label", "ks", "podinfo", "-n", "apps", "team=payments"])
        .await;
    let object = store
        .get(KS_GROUP, "kustomizations", Some("apps"), "podinfo")
        .unwrap();
    assert_eq!(
        object["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"],
        "2025-06-01T10:00:00Z"
    );
    assert_eq!(object["metadata"]["labels"]["team"], "payments");
    assert_eq!(
        object["metadata"]["generation"], 2,
        "metadata changes leave generation alone"
    );
    assert_eq!(
        managed_entry(&object, "kubectl-annotate")["fieldsV1"],
        json!({"f:metadata": {"f:annotations": {"f:reconcile.fluxcd.io/requestedAt": {}}}})
    );
    let selected = kubectl
        .ok(&["get", "ks", "-A", "-l", "team=payments", "-o", "name"])
        .await;
    assert_eq!(
        selected.trim(),
        "kustomization.kustomize.toolkit.fluxcd.io/podinfo"
    );

    let deleted = kubectl.ok(&["delete", "ks", "podinfo", "-n", "apps"]).await;
    assert!(deleted.contains("deleted"), "{deleted}");
    assert!(store
        .get(KS_GROUP, "kustomizations", Some("apps"), "podinfo")
        .is_err());
    let missing = kubectl.fails(&["get", "ks", "podinfo", "-n", "apps"]).await;
    assert!(
        missing.contains(r#"kustomizations.kustomize.toolkit.fluxcd.io "podinfo" not found"#),
        "{missing}"
    );

    let resources = kubectl.ok(&["api-resources"]).await;
    let ks_line = resources
        .lines()
        .find(|l| l.starts_with("kustomizations"))
        .expect(&resources);
    let columns: Vec<&str> = ks_line.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "kustomizations",
            "ks",
            "kustomize.toolkit.fluxcd.io/v1",
            "true",
            "Kustomization"
        ]
    );
    assert!(
        resources
            .lines()
            .any(|l| l.starts_with("namespaces") && l.contains(" ns ")),
        "{resources}"
    );
    let categories = kubectl.ok(&["get", "fluxcd", "-A", "-o", "name"]).await;
    assert!(
        categories.contains("gitrepository.source.toolkit.fluxcd.io/flux-system"),
        "{categories}"
    );
    assert!(
        categories.contains("kustomization.kustomize.toolkit.fluxcd.io/infra"),
        "{categories}"
    );
    let namespaces = kubectl.ok(&["get", "ns"]).await;
    assert!(
        namespaces.contains("flux-system") && namespaces.contains("Active"),
        "{namespaces}"
    );
    let crds = kubectl.ok(&["get", "crds", "-o", "name"]).await;
    assert!(crds.contains("customresourcedefinition.apiextensions.k8s.io/kustomizations.kustomize.toolkit.fluxcd.io"), "{crds}");

    // create/apply from files (kubectl reads the OpenAPI v3 documents to leave validation to the server)
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ks.yaml");
    let manifest = |interval: &str| {
        format!("apiVersion: {KS_GROUP}/v1\nkind: Kustomization\nmetadata:\n  name: from-file\n  namespace: apps\nspec:\n  interval: {interval}\n")
    };
    std::fs::write(&file, manifest("5m")).unwrap();
    let file_arg = file.to_str().unwrap();
    assert!(kubectl
        .ok(&["create", "-f", file_arg])
        .await
        .contains("created"));
    std::fs::write(&file, manifest("7m")).unwrap();
    assert!(kubectl
        .ok(&["apply", "-f", file_arg])
        .await
        .contains("configured"));
    let applied = store
        .get(KS_GROUP, "kustomizations", Some("apps"), "from-file")
        .unwrap();
    assert_eq!(applied["spec"]["interval"], "7m");
    assert!(kubectl
        .ok(&["create", "namespace", "made-by-kubectl"])
        .await
        .contains("created"));
    assert!(store.get("", "namespaces", None, "made-by-kubectl").is_ok());

    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_prints_changes() {
    let (server, running) = start().await;
    let Some(kubectl) = Kubectl::new(&running) else {
        return;
    };
    seed(&server);
    let mut child = kubectl
        .command(&["get", "ks", "-A", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn kubectl get -w");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut changed = false;
    while Instant::now() < deadline {
        let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await
        else {
            break;
        };
        seen.push(line.clone());
        if !changed && seen.len() >= 3 {
            // the header and both rows are out: change a status while kubectl watches
            server
                .store()
                .merge_patch(
                    KS_GROUP,
                    "kustomizations",
                    Some("apps"),
                    "podinfo",
                    &json!({"status": ready("True", "Applied revision: v2")}),
                    Some("status"),
                )
                .unwrap();
            changed = true;
        }
        if line.contains("Applied revision: v2") {
            break;
        }
    }
    child.kill().await.ok();
    assert_eq!(
        seen.iter().filter(|l| l.contains("NAMESPACE")).count(),
        1,
        "{seen:#?}"
    );
    let last = seen.last().cloned().unwrap_or_default();
    assert!(
        last.contains("podinfo") && last.contains("True") && last.contains("Applied revision: v2"),
        "{seen:#?}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_lists_ten_thousand_objects_quickly() {
    let (server, running) = start().await;
    let Some(kubectl) = Kubectl::new(&running) else {
        return;
    };
    seed_many(&server, 10_000);
    kubectl.ok(&["api-resources"]).await; // warm the discovery cache
    let started = Instant::now();
    let out = kubectl.ok(&["get", "ks", "-A", "--no-headers"]).await;
    let took = started.elapsed();
    println!("kubectl get ks -A of 10,000 objects took {took:?}");
    assert_eq!(out.lines().count(), 10_000);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    running.shutdown().await;
}

fn seed_many(server: &ApiServer, count: usize) {
    let store = server.store();
    for ns in 0..10 {
        store.create(namespace(&format!("team-{ns}"))).unwrap();
    }
    for i in 0..count {
        let mut object = kustomization(&format!("team-{}", i % 10), &format!("app-{i:05}"));
        object["metadata"]["labels"]["shard"] = json!(format!("s{}", i % 4));
        store.create(object).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_list_returns_each_object_once() {
    let (server, running) = start().await;
    seed_many(&server, 10_000);
    let api: Api<DynamicObject> = Api::all_with(client(&running), &ks_resource());
    let mut names = std::collections::BTreeSet::new();
    let mut params = ListParams::default().limit(500);
    let mut pages = 0;
    loop {
        let page = api.list(&params).await.expect("list page");
        pages += 1;
        let count = page.items.len();
        for item in page.items {
            assert!(
                names.insert(item.metadata.name.clone().unwrap()),
                "duplicate {:?}",
                item.metadata.name
            );
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => {
                assert_eq!(count, 500);
                assert_eq!(
                    page.metadata.remaining_item_count,
                    Some(10_000 - 500 * pages as i64)
                );
                params = params.continue_token(&token);
            }
            None => break,
        }
    }
    assert_eq!(pages, 20);
    assert_eq!(names.len(), 10_000);
    // selectors page too, without remainingItemCount
    let shard = api
        .list(&ListParams::default().labels("shard=s1").limit(1000))
        .await
        .unwrap();
    assert_eq!(shard.items.len(), 1000);
    assert_eq!(shard.metadata.remaining_item_count, None);
    assert!(shard.metadata.continue_.is_some());
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_runtime_watcher_sees_status_changes() {
    let (server, running) = start().await;
    seed(&server);
    let api: Api<DynamicObject> = Api::all_with(client(&running), &ks_resource());
    let config = watcher::Config::default();
    let mut stream = watcher(api, config).applied_objects().boxed();
    let mut initial = std::collections::BTreeSet::new();
    while initial.len() < 2 {
        let object = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        initial.insert(object.metadata.name.clone().unwrap());
    }
    assert_eq!(initial, ["infra".to_string(), "podinfo".to_string()].into());
    server
        .store()
        .with_manager("kustomize-controller")
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"status": ready("True", "fixed")}),
            Some("status"),
        )
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let object = stream.try_next().await.unwrap().unwrap();
            if object.metadata.name.as_deref() == Some("podinfo") {
                return object;
            }
        }
    })
    .await
    .expect("the watcher sees the change");
    assert_eq!(seen.data["status"]["conditions"][0]["message"], "fixed");
    assert_eq!(seen.data["status"]["conditions"][0]["status"], "True");

    // the streaming-list mode (sendInitialEvents + initial-events-end bookmark) works too
    let api: Api<DynamicObject> = Api::namespaced_with(client(&running), "apps", &ks_resource());
    let mut streaming = watcher(api, watcher::Config::default().streaming_lists())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), streaming.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("podinfo"));
    server
        .store()
        .delete(KS_GROUP, "kustomizations", Some("apps"), "podinfo")
        .unwrap();
    server
        .store()
        .create(kustomization("apps", "podinfo-2"))
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), streaming.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.metadata.name.as_deref(), Some("podinfo-2"));
    running.shutdown().await;
}

/// A raw HTTP/1.1 exchange, to assert exact Status shapes and headers.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let body = if chunked {
        body.lines().next().unwrap_or_default().to_string()
    } else {
        body
    };
    (
        code,
        serde_json::from_str(&body).unwrap_or(Value::String(body.clone())),
    )
}

/// Decodes a chunked HTTP/1.1 body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn ks_path(ns: &str, name: &str) -> String {
    format!("/apis/{KS_GROUP}/v1/namespaces/{ns}/kustomizations/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_kubernetes_status_objects() {
    let (server, running) = start().await;
    seed(&server);
    let addr = running.addr;
    let json_type = [("Content-Type", "application/json")];

    let (code, status) = http(addr, "GET", &ks_path("apps", "nope"), &[], "").await;
    assert_eq!(code, 404);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "kustomizations.kustomize.toolkit.fluxcd.io \"nope\" not found", "reason": "NotFound",
            "details": {"name": "nope", "group": KS_GROUP, "kind": "kustomizations"}, "code": 404})
    );
    let (code, status) = http(addr, "GET", "/apis/example.com/v1/widgets", &[], "").await;
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
    assert_eq!(
        status["message"],
        "the server could not find the requested resource"
    );

    let mut ghost = kustomization("ghost", "x");
    let (code, status) = http(
        addr,
        "POST",
        &format!("/apis/{KS_GROUP}/v1/namespaces/ghost/kustomizations"),
        &json_type,
        &ghost.to_string(),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(status["message"], "namespaces \"ghost\" not found");
    assert_eq!(
        status["details"],
        json!({"name": "ghost", "kind": "namespaces"})
    );

    ghost["metadata"]["namespace"] = json!("apps");
    ghost["metadata"]["name"] = json!("podinfo");
    let (code, status) = http(
        addr,
        "POST",
        &format!("/apis/{KS_GROUP}/v1/namespaces/apps/kustomizations"),
        &json_type,
        &ghost.to_string(),
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    assert_eq!(
        status["message"],
        "kustomizations.kustomize.toolkit.fluxcd.io \"podinfo\" already exists"
    );

    let mut stale = server
        .store()
        .get(KS_GROUP, "kustomizations", Some("apps"), "podinfo")
        .unwrap();
    server
        .store()
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"spec": {"prune": false}}),
            None,
        )
        .unwrap();
    stale["spec"]["path"] = json!("./other");
    let (code, status) = http(
        addr,
        "PUT",
        &ks_path("apps", "podinfo"),
        &json_type,
        &stale.to_string(),
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")));
    assert_eq!(
        status["message"],
        "Operation cannot be fulfilled on kustomizations.kustomize.toolkit.fluxcd.io \"podinfo\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let nameless =
        json!({"apiVersion": format!("{KS_GROUP}/v1"), "kind": "Kustomization", "metadata": {}});
    let (code, status) = http(
        addr,
        "POST",
        &format!("/apis/{KS_GROUP}/v1/namespaces/apps/kustomizations"),
        &json_type,
        &nameless.to_string(),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "Kustomization.kustomize.toolkit.fluxcd.io \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
    assert_eq!(
        status["details"]["causes"][0],
        json!({"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"})
    );
    let wrong_kind = json!({"apiVersion": format!("{SRC_GROUP}/v1"), "kind": "GitRepository", "metadata": {"name": "x"}});
    let (code, status) = http(
        addr,
        "POST",
        &format!("/apis/{KS_GROUP}/v1/namespaces/apps/kustomizations"),
        &json_type,
        &wrong_kind.to_string(),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(status["message"], "Kustomization.kustomize.toolkit.fluxcd.io \"x\" is invalid: kind: Invalid value: \"GitRepository\": must be Kustomization");

    let (code, status) = http(
        addr,
        "PATCH",
        &ks_path("apps", "podinfo"),
        &[("Content-Type", "application/strategic-merge-patch+json")],
        "{}",
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, status) = http(
        addr,
        "PUT",
        &format!("/apis/{KS_GROUP}/v1/namespaces/apps/kustomizations"),
        &json_type,
        "{}",
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let (code, status) = http(
        addr,
        "POST",
        &format!("/apis/{KS_GROUP}/v1/namespaces/apps/kustomizations"),
        &json_type,
        "{not json",
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let (code, status) = http(
        addr,
        "GET",
        &format!("/apis/{KS_GROUP}/v1/kustomizations?labelSelector=a%20in%20b"),
        &[],
        "",
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let (code, status) = http(
        addr,
        "GET",
        &format!("/apis/{KS_GROUP}/v1/kustomizations?fieldSelector=spec.path%3Dx"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (400, Some("field label not supported: spec.path"))
    );

    // 410: a watch from a resourceVersion that has left the history ends with an ERROR event
    for i in 0..10_050 {
        server
            .store()
            .merge_patch(
                KS_GROUP,
                "kustomizations",
                Some("apps"),
                "podinfo",
                &json!({"status": {"n": i}}),
                Some("status"),
            )
            .unwrap();
    }
    let (code, event) = http(
        addr,
        "GET",
        &format!("/apis/{KS_GROUP}/v1/kustomizations?watch=true&resourceVersion=2"),
        &[],
        "",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    assert!(
        event["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too old resource version: 2 ("),
        "{event}"
    );
    let api: Api<DynamicObject> = Api::all_with(client(&running), &ks_resource());
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 2, "a fresh list still works");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_and_field_selectors_filter_lists() {
    let (server, running) = start().await;
    seed_many(&server, 40);
    let api: Api<DynamicObject> = Api::all_with(client(&running), &ks_resource());
    let count = |selector: &'static str| {
        let api = api.clone();
        async move {
            api.list(&ListParams::default().labels(selector))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(count("shard=s1").await, 10);
    assert_eq!(count("shard==s1").await, 10);
    assert_eq!(count("shard!=s1").await, 30);
    assert_eq!(count("shard in (s1,s2)").await, 20);
    assert_eq!(count("shard notin (s1, s2)").await, 20);
    assert_eq!(count("shard").await, 40);
    assert_eq!(count("!shard").await, 0);
    assert_eq!(count("shard=s1,app=app-00001").await, 1);
    assert_eq!(count("shard=s1,app=app-00002").await, 0);
    let by_field = api
        .list(&ListParams::default().fields("metadata.namespace=team-3"))
        .await
        .unwrap();
    assert_eq!(by_field.items.len(), 4);
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=app-00007,metadata.namespace!=team-1"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let namespaced: Api<DynamicObject> =
        Api::namespaced_with(client(&running), "team-2", &ks_resource());
    let in_ns = namespaced
        .list(&ListParams::default().labels("shard in (s0,s2)"))
        .await
        .unwrap();
    assert_eq!(in_ns.items.len(), 4);
    assert!(in_ns
        .items
        .iter()
        .all(|o| o.metadata.namespace.as_deref() == Some("team-2")));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_forbids_one_resource_and_leaves_others() {
    let (server, running) = start().await;
    seed(&server);
    server.deny("kustomizations", 403);
    let client = client(&running);
    let ks: Api<DynamicObject> = Api::all_with(client.clone(), &ks_resource());
    let error = ks
        .list(&ListParams::default())
        .await
        .expect_err("kustomizations are denied");
    let kube::Error::Api(status) = error else {
        panic!("expected a Status, got {error:?}")
    };
    assert_eq!(status.code, 403);
    assert_eq!(status.reason, "Forbidden");
    assert_eq!(
        status.message,
        "kustomizations.kustomize.toolkit.fluxcd.io is forbidden: User \"system:anonymous\" cannot list resource \"kustomizations\" in API group \"kustomize.toolkit.fluxcd.io\" at the cluster scope"
    );
    let in_ns: Api<DynamicObject> = Api::namespaced_with(client.clone(), "apps", &ks_resource());
    let kube::Error::Api(status) = in_ns.get("podinfo").await.expect_err("denied") else {
        panic!()
    };
    assert_eq!(
        status.message,
        "kustomizations.kustomize.toolkit.fluxcd.io \"podinfo\" is forbidden: User \"system:anonymous\" cannot get resource \"kustomizations\" in API group \"kustomize.toolkit.fluxcd.io\" in the namespace \"apps\""
    );
    let repos: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource {
            group: SRC_GROUP.into(),
            version: "v1".into(),
            api_version: format!("{SRC_GROUP}/v1"),
            kind: "GitRepository".into(),
            plural: "gitrepositories".into(),
        },
    );
    assert_eq!(
        repos
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    server.deny("kustomizations", 500);
    let kube::Error::Api(status) = ks.list(&ListParams::default()).await.expect_err("denied")
    else {
        panic!()
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (500, "InternalError")
    );
    // The simulator's own controllers send the server's internal header: spared, as Flux's
    // controllers are by a user's RBAC; a wrong token is denied like any client.
    let (name, value) = server.internal_header();
    let (code, list) = http(
        running.addr,
        "GET",
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
        &[(name, value.as_str())],
        "",
    )
    .await;
    assert_eq!(
        (code, list["items"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let (code, _) = http(
        running.addr,
        "GET",
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
        &[(name, "guess")],
        "",
    )
    .await;
    assert_eq!(code, 500);
    server.allow("kustomizations");
    assert_eq!(
        ks.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );

    if let Some(kubectl) = Kubectl::new(&running) {
        server.deny("kustomizations", 403);
        let stderr = kubectl.fails(&["get", "ks", "-A"]).await;
        assert!(stderr.contains("cannot list resource \"kustomizations\" in API group \"kustomize.toolkit.fluxcd.io\" at the cluster scope"), "{stderr}");
        let repos = kubectl
            .ok(&["get", "gitrepositories", "-A", "-o", "name"])
            .await;
        assert_eq!(
            repos.trim(),
            "gitrepository.source.toolkit.fluxcd.io/flux-system"
        );
    }
    running.shutdown().await;
}

#[tokio::test]
async fn status_subresource_semantics() {
    let server = ApiServer::new(flux_types());
    let store = server.store().with_manager("test");
    store.create(namespace("apps")).unwrap();
    let mut object = kustomization("apps", "podinfo");
    object["status"] = ready("True", "ignored on create");
    let created = store.create(object).unwrap();
    assert!(
        created.get("status").is_none(),
        "create drops status: {created:#}"
    );
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["uid"].as_str().unwrap().len() == 36);
    let rv1: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let main = store
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"status": {"x": 1}, "metadata": {"labels": {"a": "b"}}}),
            None,
        )
        .unwrap();
    assert!(
        main.get("status").is_none(),
        "main resource writes ignore status"
    );
    assert_eq!(main["metadata"]["labels"]["a"], "b");
    assert_eq!(
        main["metadata"]["generation"], 1,
        "metadata changes keep generation"
    );

    let status = store
        .with_manager("kustomize-controller")
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"spec": {"path": "./x"}, "status": ready("False", "broken")}),
            Some("status"),
        )
        .unwrap();
    assert_eq!(status["spec"]["path"], "./", "status writes ignore spec");
    assert_eq!(ready_status(&status), "False");
    assert_eq!(
        status["metadata"]["generation"], 1,
        "status writes keep generation"
    );
    let entry = managed_entry(&status, "kustomize-controller");
    assert_eq!(entry["subresource"], "status");
    assert!(
        entry["fieldsV1"]["f:status"]["f:conditions"]
            .get(r#"k:{"type":"Ready"}"#)
            .is_some(),
        "{entry}"
    );

    let spec = store
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"spec": {"path": "./y"}}),
            None,
        )
        .unwrap();
    assert_eq!(spec["metadata"]["generation"], 2);
    assert_eq!(ready_status(&spec), "False", "spec writes keep status");
    let rv2: u64 = spec["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let unchanged = store
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"spec": {"path": "./y"}}),
            None,
        )
        .unwrap();
    assert_eq!(
        unchanged["metadata"]["resourceVersion"], spec["metadata"]["resourceVersion"],
        "no-op writes keep the resourceVersion"
    );

    // PUT of the status subresource and a JSON patch
    let mut replaced = spec.clone();
    replaced["status"] = ready("True", "ok again");
    replaced["spec"]["path"] = json!("./ignored");
    let replaced = store.update(replaced, Some("status")).unwrap();
    assert_eq!(
        (ready_status(&replaced), &replaced["spec"]["path"]),
        (&json!("True"), &json!("./y"))
    );
    let suspended = store
        .patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            Patch::Json(json!([{"op": "add", "path": "/spec/suspend", "value": true}])),
            None,
        )
        .unwrap();
    assert_eq!(suspended["spec"]["suspend"], true);
    assert_eq!(suspended["metadata"]["generation"], 3);

    // a later writer of spec.suspend takes the field over
    let resumed = store
        .with_manager("flux")
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("apps"),
            "podinfo",
            &json!({"spec": {"suspend": false}}),
            None,
        )
        .unwrap();
    assert_eq!(
        managed_entry(&resumed, "flux")["fieldsV1"],
        json!({"f:spec": {"f:suspend": {}}})
    );
    assert!(managed_entry(&resumed, "test")["fieldsV1"]["f:spec"]
        .get("f:suspend")
        .is_none());

    // deletes are immediate and announced
    let mut events = store.subscribe();
    store
        .delete(KS_GROUP, "kustomizations", Some("apps"), "podinfo")
        .unwrap();
    let event = events.recv().await.unwrap();
    assert_eq!(
        (
            event.event_type.as_str(),
            event.object["metadata"]["name"].as_str()
        ),
        ("DELETED", Some("podinfo"))
    );
    assert!(matches!(
        store.get(KS_GROUP, "kustomizations", Some("apps"), "podinfo"),
        Err(simulator::apiserver::ApiError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_follow_printer_columns() {
    let (server, running) = start().await;
    seed(&server);
    let accept = [(
        "Accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )];
    let (code, table) = http(
        running.addr,
        "GET",
        &format!("/apis/{SRC_GROUP}/v1/gitrepositories"),
        &accept,
        "",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        (table["kind"].as_str(), table["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "URL", "Age", "Ready", "Status"]);
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "flux-system");
    assert_eq!(cells[1], "https://github.com/example/fleet");
    assert!(
        cells[2].as_str().unwrap().ends_with('s'),
        "age is rendered as a duration: {cells}"
    );
    assert_eq!(cells[3], "True");
    let object = &table["rows"][0]["object"];
    assert_eq!(object["kind"], "PartialObjectMetadata");
    assert_eq!(object["metadata"]["namespace"], "flux-system");
    let (_, full) = http(running.addr, "GET", &format!("/apis/{SRC_GROUP}/v1/namespaces/flux-system/gitrepositories/flux-system?includeObject=Object"), &accept, "").await;
    assert_eq!(
        full["rows"][0]["object"]["spec"]["url"],
        "https://github.com/example/fleet"
    );
    // a type without printer columns gets Name and Age; protobuf falls back to JSON
    let (_, plain) = http(
        running.addr,
        "GET",
        "/api/v1/namespaces/flux-system",
        &[("Accept", "application/vnd.kubernetes.protobuf")],
        "",
    )
    .await;
    assert_eq!(plain["kind"], "Namespace");
    let (_, beta) = http(
        running.addr,
        "GET",
        &format!("/apis/{KS_GROUP}/v1beta2/namespaces/apps/kustomizations/podinfo"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        beta["apiVersion"],
        format!("{KS_GROUP}/v1beta2"),
        "other served versions rewrite apiVersion"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_version_documents() {
    let (_server, running) = start().await;
    let (code, version) = http(running.addr, "GET", "/version", &[], "").await;
    assert_eq!(
        (code, version["major"].as_str(), version["minor"].as_str()),
        (200, Some("1"), Some("33"))
    );
    let (_, groups) = http(running.addr, "GET", "/apis", &[], "").await;
    let ks_group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == KS_GROUP)
        .unwrap();
    assert_eq!(
        ks_group["preferredVersion"]["groupVersion"],
        format!("{KS_GROUP}/v1")
    );
    assert_eq!(ks_group["versions"].as_array().unwrap().len(), 2);
    let (_, resources) = http(
        running.addr,
        "GET",
        &format!("/apis/{KS_GROUP}/v1"),
        &[],
        "",
    )
    .await;
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kustomizations", "kustomizations/status"]);
    assert_eq!(resources["resources"][0]["shortNames"], json!(["ks"]));
    assert_eq!(resources["resources"][0]["singularName"], "kustomization");
    let (_, core) = http(running.addr, "GET", "/api/v1", &[], "").await;
    assert!(core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "events"));
    let (_, api) = http(running.addr, "GET", "/api", &[], "").await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (code, _) = http(running.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(code, 200);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_client_round_trip() {
    let (server, running) = start().await;
    server.store().create(namespace("apps")).unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client(&running), "apps", &ks_resource());
    let object: DynamicObject = serde_json::from_value(kustomization("apps", "podinfo")).unwrap();
    let created = api.create(&PostParams::default(), &object).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let mut fetched = api.get("podinfo").await.unwrap();
    fetched.data["spec"]["path"] = json!("./changed");
    let replaced = api
        .replace("podinfo", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.generation, Some(2));
    let stale = api
        .replace("podinfo", &PostParams::default(), &fetched)
        .await
        .expect_err("stale resourceVersion");
    assert!(
        matches!(&stale, kube::Error::Api(s) if s.code == 409),
        "{stale:?}"
    );
    let status = json!({"status": ready("True", "done")});
    let patched = api
        .patch_status(
            "podinfo",
            &PatchParams::default(),
            &KubePatch::Merge(&status),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["conditions"][0]["message"], "done");
    let applied = json!({"apiVersion": format!("{KS_GROUP}/v1"), "kind": "Kustomization", "spec": {"suspend": true}});
    let applied = api
        .patch(
            "podinfo",
            &PatchParams::apply("flux-cli").force(),
            &KubePatch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["spec"]["suspend"], true);
    assert_eq!(applied.data["spec"]["path"], "./changed");
    let applied_twice = json!({"apiVersion": format!("{KS_GROUP}/v1"), "kind": "Kustomization", "spec": {"timeout": "1m"}});
    let applied_twice = api
        .patch(
            "podinfo",
            &PatchParams::apply("flux-cli").force(),
            &KubePatch::Apply(&applied_twice),
        )
        .await
        .unwrap();
    assert_eq!(applied_twice.data["spec"]["timeout"], "1m");
    assert!(
        applied_twice.data["spec"].get("suspend").is_none(),
        "fields the applier dropped are removed"
    );
    assert_eq!(
        applied_twice.data["spec"]["path"], "./changed",
        "fields of other managers stay"
    );
    let fields = applied.metadata.managed_fields.unwrap();
    assert!(fields.iter().any(
        |f| f.manager.as_deref() == Some("flux-cli") && f.operation.as_deref() == Some("Apply")
    ));
    // kube-runtime's Recorder writes events.k8s.io/v1 Events (create, then merge-patch the series)
    let recorder =
        kube::runtime::events::Recorder::new(client(&running), "kustomize-controller".into());
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(format!("{KS_GROUP}/v1")),
        kind: Some("Kustomization".into()),
        name: Some("podinfo".into()),
        namespace: Some("apps".into()),
        ..Default::default()
    };
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: "BuildFailed".into(),
        note: Some("kustomize build failed".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events = server
        .store()
        .list("events.k8s.io", "events", Some("apps"))
        .unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["reason"], "BuildFailed");
    assert_eq!(events[0]["regarding"]["name"], "podinfo");
    assert_eq!(events[0]["series"]["count"], 2, "{:#}", events[0]);

    api.delete("podinfo", &Default::default()).await.unwrap();
    assert!(matches!(api.get("podinfo").await, Err(kube::Error::Api(s)) if s.code == 404));
    running.shutdown().await;
}

#[tokio::test]
async fn restore_keeps_history() {
    let server = ApiServer::new(flux_types());
    let store = server.store();
    let mut object = kustomization("restored-ns", "podinfo");
    object["spec"]["suspend"] = json!(true);
    object["status"] = ready("True", "from the past");
    object["metadata"]["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    object["metadata"]["generation"] = json!(4);
    object["metadata"]["managedFields"] = json!([
        {"manager": "flux-sim", "operation": "Update", "apiVersion": format!("{KS_GROUP}/v1"), "time": "2025-01-01T00:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:interval": {}, "f:path": {}}}},
        {"manager": "flux", "operation": "Update", "apiVersion": format!("{KS_GROUP}/v1"), "time": "2025-01-02T03:04:05Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:suspend": {}}}},
    ]);
    let restored = store.restore(object).unwrap();
    assert_eq!(
        restored["metadata"]["creationTimestamp"],
        "2025-01-01T00:00:00Z"
    );
    assert_eq!(restored["metadata"]["generation"], 4);
    assert_eq!(ready_status(&restored), "True", "restore keeps status");
    assert_eq!(
        managed_entry(&restored, "flux")["time"],
        "2025-01-02T03:04:05Z"
    );
    assert!(
        store.get("", "namespaces", None, "restored-ns").is_ok(),
        "restore creates the namespace"
    );

    let resumed = store
        .with_manager("kubectl-patch")
        .merge_patch(
            KS_GROUP,
            "kustomizations",
            Some("restored-ns"),
            "podinfo",
            &json!({"spec": {"suspend": false}}),
            None,
        )
        .unwrap();
    assert_eq!(resumed["metadata"]["generation"], 5);
    assert!(
        resumed["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["manager"] != "flux"),
        "flux owned nothing else"
    );
    assert_eq!(
        managed_entry(&resumed, "kubectl-patch")["fieldsV1"],
        json!({"f:spec": {"f:suspend": {}}})
    );
    assert_eq!(
        managed_entry(&resumed, "flux-sim")["time"],
        "2025-01-01T00:00:00Z",
        "untouched entries keep their time"
    );
}
