//! flux-sim serves exactly the CRDs of a Flux release: for every release of
//! ../shared/reference/flux-install (Flux's own install manifests, 2.2 to 2.9), what the real
//! kubectl shows through `get crd -o json` and `api-resources` equals what those manifests declare:
//! groups, kinds, names, scope, served/storage versions, deprecated flags and warnings, the status
//! subresource, short names, categories and printer columns; and kubectl reads each kind at the
//! version a real API server would choose (Kubernetes' version priority).

use std::collections::BTreeMap;
use std::path::PathBuf;

use e2e::{have_kubectl, workspace, Sim};
use serde_json::{json, Value};

/// Flux's install manifests, one directory per release; tests read them from ../shared.
fn reference_dir() -> PathBuf {
    let dir = workspace().join("../shared/reference/flux-install");
    assert!(
        dir.is_dir(),
        "{} is missing: the CRD comparison needs Flux's install manifests (../shared/reference beside the project)",
        dir.display()
    );
    dir
}

/// `(release "2.7", directory)` for every release in the reference, oldest first.
fn releases() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(Vec<u32>, String, PathBuf)> = std::fs::read_dir(reference_dir())
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().to_string();
            let numbers: Vec<u32> = name.strip_prefix('v')?.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
            Some((numbers.clone(), format!("{}.{}", numbers[0], numbers[1]), e.path()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, r, p)| (r, p)).collect()
}

/// Every CustomResourceDefinition of a release's manifests, by name.
fn reference_crds(dir: &PathBuf) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in docs.into_iter().filter(|d| d["kind"] == "CustomResourceDefinition") {
            out.insert(doc["metadata"]["name"].as_str().unwrap().to_string(), doc);
        }
    }
    out
}

/// What a CRD declares that clients see, as flat `path = value` facts. The schema itself is
/// compared by the schema validation test, not here.
fn facts(crd: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let spec = &crd["spec"];
    let names = &spec["names"];
    out.insert("group".into(), spec["group"].clone());
    out.insert("scope".into(), spec["scope"].clone());
    for key in ["kind", "listKind", "plural", "singular"] {
        out.insert(format!("names.{key}"), names[key].clone());
    }
    let mut short: Vec<Value> = names["shortNames"].as_array().cloned().unwrap_or_default();
    short.sort_by_key(ToString::to_string);
    out.insert("names.shortNames".into(), Value::Array(short));
    out.insert("names.categories".into(), names["categories"].as_array().cloned().map_or(json!([]), Value::Array));
    let mut versions: Vec<&Value> = spec["versions"].as_array().unwrap().iter().collect();
    versions.sort_by_key(|v| v["name"].as_str().unwrap().to_string());
    out.insert(
        "versions".into(),
        Value::Array(versions.iter().map(|v| v["name"].clone()).collect()),
    );
    for v in versions {
        let at = format!("versions[{}]", v["name"].as_str().unwrap());
        out.insert(format!("{at}.served"), v["served"].clone());
        out.insert(format!("{at}.storage"), v["storage"].clone());
        out.insert(format!("{at}.deprecated"), json!(v["deprecated"].as_bool().unwrap_or(false)));
        out.insert(format!("{at}.deprecationWarning"), v["deprecationWarning"].clone());
        out.insert(format!("{at}.subresources.status"), json!(v.pointer("/subresources/status").is_some()));
        let columns = v["additionalPrinterColumns"].as_array().cloned().unwrap_or_default();
        out.insert(format!("{at}.additionalPrinterColumns.count"), json!(columns.len()));
        for (i, c) in columns.iter().enumerate() {
            for key in ["name", "type", "jsonPath", "description"] {
                out.insert(format!("{at}.additionalPrinterColumns[{i}].{key}"), c[key].clone());
            }
            out.insert(format!("{at}.additionalPrinterColumns[{i}].priority"), json!(c["priority"].as_i64().unwrap_or(0)));
        }
    }
    out
}

/// Kubernetes' version priority (GA, then beta, then alpha; higher first).
fn priority(v: &str) -> (u8, i64, i64) {
    let rest = &v[1..];
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let major: i64 = rest[..digits].parse().unwrap();
    match &rest[digits..] {
        "" => (0, -major, 0),
        t if t.starts_with("beta") => (1, -major, -t[4..].parse::<i64>().unwrap()),
        t => (2, -major, -t[5..].parse::<i64>().unwrap()),
    }
}

/// What `kubectl api-resources -o wide` must list for a release: per resource name, the
/// version kubectl picks (the highest-priority version of the group that serves the kind),
/// short names, kind and categories.
fn expected_api_resources(crds: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    let mut group_versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for crd in crds.values() {
        let g = crd["spec"]["group"].as_str().unwrap().to_string();
        for v in crd["spec"]["versions"].as_array().unwrap().iter().filter(|v| v["served"] == true) {
            let list = group_versions.entry(g.clone()).or_default();
            let name = v["name"].as_str().unwrap().to_string();
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
    let mut out = BTreeMap::new();
    for crd in crds.values() {
        let spec = &crd["spec"];
        let g = spec["group"].as_str().unwrap();
        let mut served: Vec<&str> = spec["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["served"] == true)
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        served.sort_by_key(|v| priority(v));
        let names = &spec["names"];
        let list = |v: &Value| {
            v.as_array().map_or(String::new(), |a| a.iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(","))
        };
        out.insert(
            names["plural"].as_str().unwrap().to_string(),
            format!("{} {g}/{} {} {}", list(&names["shortNames"]), served[0], names["kind"].as_str().unwrap(), list(&names["categories"])),
        );
    }
    out
}

/// `kubectl api-resources -o wide` rows for the Flux groups: name -> "shortnames apiversion kind categories".
fn actual_api_resources(sim: &Sim) -> BTreeMap<String, String> {
    let text = sim.kubectl_ok(&["api-resources", "-o", "wide", "--no-headers=false"]);
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    let col = |name: &str| header.find(name).unwrap_or_else(|| panic!("no {name} column in {header}"));
    let starts = [col("NAME"), col("SHORTNAMES"), col("APIVERSION"), col("NAMESPACED"), col("KIND"), col("VERBS"), col("CATEGORIES")];
    let field = |line: &str, i: usize| -> String {
        let from = starts[i].min(line.len());
        let to = starts.get(i + 1).copied().unwrap_or(line.len()).min(line.len());
        line[from..to].trim().to_string()
    };
    let mut out = BTreeMap::new();
    for line in lines {
        let api_version = field(line, 2);
        if !api_version.contains("fluxcd.io") {
            continue;
        }
        out.insert(field(line, 0), format!("{} {api_version} {} {}", field(line, 1), field(line, 4), field(line, 6)));
    }
    out
}

fn scenario_for(release: &str, dir: &std::path::Path) -> PathBuf {
    let minor: u32 = release.split('.').nth(1).unwrap().parse().unwrap();
    // source-watcher is optional; the reference installs it from 2.7, so the scenario does too.
    let extra = if minor >= 7 { "  componentsExtra: [source-watcher]\n" } else { "" };
    let path = dir.join(format!("flux-{release}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: crds-{}\nspec:\n  fluxVersion: \"{release}\"\n{extra}  duration: 10m\n",
            release.replace('.', "-")
        ),
    )
    .unwrap();
    path
}

#[test]
fn flux_sim_serves_each_releases_crds_as_flux_installs_them() {
    if !have_kubectl() {
        panic!("kubectl is not on PATH (make setup installs it)");
    }
    let work = tempfile::tempdir().unwrap();
    let mut differences = Vec::new();
    let mut summary = Vec::new();
    for (release, dir) in releases() {
        let want = reference_crds(&dir);
        let sim = Sim::start(&scenario_for(&release, work.path()), &[]);
        let listed: Value = serde_json::from_str(&sim.kubectl_ok(&["get", "crd", "-o", "json"])).unwrap();
        let got: BTreeMap<String, Value> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["spec"]["group"].as_str().is_some_and(|g| g.ends_with("fluxcd.io")))
            .map(|c| (c["metadata"]["name"].as_str().unwrap().to_string(), c.clone()))
            .collect();
        let (mut matched, mut total) = (0usize, 0usize);
        for name in want.keys().chain(got.keys().filter(|n| !want.contains_key(*n))) {
            let (w, g) = (want.get(name).map(facts).unwrap_or_default(), got.get(name).map(facts).unwrap_or_default());
            for key in w.keys().chain(g.keys().filter(|k| !w.contains_key(*k))) {
                total += 1;
                let (wv, gv) = (w.get(key).unwrap_or(&Value::Null), g.get(key).unwrap_or(&Value::Null));
                if wv == gv {
                    matched += 1;
                } else {
                    differences.push(format!("Flux {release} {name} {key}: Flux has {wv}, flux-sim {gv}"));
                }
            }
        }
        let (want_ar, got_ar) = (expected_api_resources(&want), actual_api_resources(&sim));
        for name in want_ar.keys().chain(got_ar.keys().filter(|n| !want_ar.contains_key(*n))) {
            total += 1;
            match (want_ar.get(name), got_ar.get(name)) {
                (Some(w), Some(g)) if w == g => matched += 1,
                (w, g) => differences.push(format!("Flux {release} api-resources {name}: Flux has {w:?}, flux-sim {g:?}")),
            }
        }
        summary.push(format!("Flux {release}: {matched}/{total} CRD facts match ({} CRDs)", want.len()));
    }
    eprintln!("{}", summary.join("\n"));
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

#[test]
fn kubectl_reads_each_kind_at_the_version_a_real_api_server_prefers() {
    if !have_kubectl() {
        panic!("kubectl is not on PATH (make setup installs it)");
    }
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("objects.yaml");
    std::fs::write(
        &path,
        "apiVersion: flux-sim.flux-monitor.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: versions\nspec:\n  fluxVersion: \"2.7\"\n  duration: 10m\n  resources:\n    - {kind: GitRepository, name: fleet}\n    - {kind: Provider, name: slack, spec: {type: slack, channel: ops, secretRef: {name: slack}}}\n    - {kind: Alert, name: on-call, spec: {providerRef: {name: slack}, eventSources: [{kind: GitRepository, name: '*'}]}}\n",
    )
    .unwrap();
    let sim = Sim::start(&path, &[]);
    for (resource, want) in [
        ("alerts", "notification.toolkit.fluxcd.io/v1beta3"),
        ("providers", "notification.toolkit.fluxcd.io/v1beta3"),
        ("gitrepositories", "source.toolkit.fluxcd.io/v1"),
    ] {
        let got = sim.kubectl_ok(&["get", resource, "-A", "-o", "jsonpath={.items[0].apiVersion}"]);
        assert_eq!(got.trim(), want, "kubectl get {resource}");
    }
    // Asking for a deprecated version works, with the API server's deprecation warning.
    let o = sim.kubectl(&["get", "alerts.v1beta2.notification.toolkit.fluxcd.io", "-A"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("v1beta2 Alert is deprecated, upgrade to v1beta3"),
        "no deprecation warning: {err}"
    );
}
