//! Precision on real-world files: `lint` over every directory of tests/fixtures/lint-corpus/
//! (public rule packs, home-lab and company repositories, dashboards, scrape and notification
//! manifests; sources in its README.md) must report exactly the findings pinned in
//! expected.yaml, each judged by hand, with precision (true findings / all findings above info)
//! of at least 95%, no crash and no unreadable file, and must read every format the corpus holds.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{plugin, stderr, stdout};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Expected {
    corpus: Vec<Dir>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dir {
    dir: String,
    flux_version: String,
    findings: Vec<Pinned>,
}

#[derive(Deserialize)]
struct Pinned {
    at: String,
    rule: String,
    severity: String,
    verdict: bool,
    why: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint-corpus")
}

/// lint -o json over one directory, run from the corpus so files are named relative to it.
fn lint(dir: &str, version: &str) -> Value {
    let o = plugin(&[
        "lint",
        dir,
        "-o",
        "json",
        "--flux-version",
        version,
        "--flux-manifests",
        "/dev/null",
    ])
    .current_dir(corpus())
    .output()
    .unwrap();
    let code = o.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "{dir}: exit {code:?}: {}",
        stderr(&o)
    );
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{dir}: not JSON ({e}): {}", stdout(&o)));
    assert!(
        v["errors"].as_array().unwrap().is_empty(),
        "{dir}: {:#}",
        v["errors"]
    );
    v
}

#[test]
fn the_corpus_findings_are_the_pinned_ones_and_precision_is_at_least_95_percent() {
    let text = std::fs::read_to_string(corpus().join("expected.yaml")).unwrap();
    let expected: Expected = serde_saphyr::from_str(&text).unwrap();
    let dirs: BTreeSet<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let pinned_dirs: BTreeSet<String> = expected.corpus.iter().map(|d| d.dir.clone()).collect();
    assert_eq!(
        dirs, pinned_dirs,
        "every corpus directory is pinned in expected.yaml"
    );
    let files = walk(&corpus());
    assert!(files >= 20, "at least 20 public files: {files}");

    let (mut true_findings, mut all_findings) = (0usize, 0usize);
    let mut read = BTreeSet::new();
    for d in &expected.corpus {
        let v = lint(&d.dir, &d.flux_version);
        let got: BTreeSet<(String, String, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let file = f["file"].as_str().unwrap();
                let rel = file.strip_prefix(&format!("{}/", d.dir)).unwrap_or(file);
                (
                    format!("{rel}:{}", f["line"]),
                    f["rule"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String, String)> = d
            .findings
            .iter()
            .map(|p| (p.at.clone(), p.rule.clone(), p.severity.clone()))
            .collect();
        assert_eq!(
            got, want,
            "{}: the findings changed; judge the new ones by hand and pin them in expected.yaml\nreported: {:#}",
            d.dir, v["findings"]
        );
        for p in &d.findings {
            assert!(
                !p.why.trim().is_empty(),
                "{} {}: every verdict has a reason",
                d.dir,
                p.at
            );
            if p.severity != "info" {
                all_findings += 1;
                true_findings += usize::from(p.verdict);
            }
        }
        for r in v["read"].as_array().unwrap() {
            read.insert(r["what"].as_str().unwrap().to_string());
        }
    }
    assert!(
        all_findings >= 10,
        "the corpus exercises the rules: {all_findings} findings above info"
    );
    let precision = true_findings as f64 / all_findings as f64;
    eprintln!(
        "corpus precision: {true_findings}/{all_findings} = {:.1}%",
        precision * 100.0
    );
    assert!(
        precision >= 0.95,
        "precision {:.1}% ({true_findings}/{all_findings})",
        precision * 100.0
    );
    for what in [
        "rules",
        "rules (MetricsQL)",
        "alertmanager",
        "flux",
        "scrape",
        "dashboard",
        "kube-state-metrics",
    ] {
        assert!(
            read.contains(what),
            "no corpus file read as {what}: {read:?}"
        );
    }
}

#[test]
fn helm_templated_and_other_formats_of_the_corpus_are_read_not_skipped() {
    let v = lint("giantswarm-prometheus-rules", "2.7");
    let read: Vec<&str> = v["read"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        read,
        ["rules", "rules"],
        "both Helm templates are read: {:#}",
        v["read"]
    );
    for (dir, what) in [
        ("grafana-mimir", "rules"),
        ("thanos", "rules"),
        ("kasuboski-k8s-gitops", "rules (MetricsQL)"),
        ("prometheus", "scrape"),
    ] {
        let v = lint(dir, "2.7");
        assert!(
            v["read"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["what"] == what),
            "{dir}: {:#}",
            v["read"]
        );
    }
}

fn walk(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            n += walk(&p);
        } else if p.parent() != Some(corpus().as_path()) {
            n += 1;
        }
    }
    n
}
