//! Scale figures (ignored by default; run with `--ignored --nocapture` on a release build):
//! `status -A -o json` against `kubectl get <every Flux kind> -A -o json` on 10,000 objects in
//! the embedded API. Prints wall time and peak memory of both; asserts nothing about speed.

mod common;

use std::process::Command;
use std::time::Instant;

use common::*;
use serde_json::json;

fn timed(mut cmd: Command) -> (f64, String, usize) {
    let time = on_path("time").filter(|_| std::path::Path::new("/usr/bin/time").exists());
    let started = Instant::now();
    let o = if time.is_some() {
        let mut t = Command::new("/usr/bin/time");
        t.arg("-f")
            .arg("%M")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => t.env(k, v),
                None => t.env_remove(k),
            };
        }
        t.output().unwrap()
    } else {
        cmd.output().unwrap()
    };
    let secs = started.elapsed().as_secs_f64();
    let kib = String::from_utf8_lossy(&o.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<u64>().ok());
    let items = serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .ok()
        .and_then(|v| v["items"].as_array().map(Vec::len))
        .unwrap_or(0);
    (
        secs,
        kib.map_or("?".into(), |k| format!("{} MiB", k / 1024)),
        items,
    )
}

#[test]
#[ignore = "scale figures, run by hand"]
fn ten_thousand_objects() {
    let objects: usize = std::env::var("BENCH_OBJECTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let c = TestCluster::start();
    let seeded = Instant::now();
    for i in 0..objects {
        let ns = format!("team-{}", i % 100);
        if i < 100 {
            c.api
                .store()
                .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                .unwrap();
        }
        let name = format!("obj-{i}");
        let cond = if i % 17 == 0 {
            ready("False", "GitOperationFailed", "authentication required")
        } else {
            ready(
                "True",
                "Succeeded",
                "stored artifact for revision 'main@sha1:0123'",
            )
        };
        match i % 2 {
            0 => c.create(git_repository(&ns, &name, cond)),
            _ => c.create(kustomization(
                &ns,
                &name,
                json!({"kind": "GitRepository", "name": format!("obj-{}", i - 1)}),
                json!([]),
                cond,
            )),
        }
    }
    println!(
        "seeded {objects} objects in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );
    let Some(kubectl) = on_path("kubectl") else {
        println!("kubectl not on PATH");
        return;
    };
    let kinds: Vec<String> = model::KINDS.iter().map(|k| k.resource_name()).collect();
    let mut k = Command::new(&kubectl);
    k.args(["get", &kinds.join(","), "-A", "-o", "json"])
        .env("KUBECONFIG", &c.kubeconfig);
    let (k_secs, k_mem, k_items) = timed(k);
    let mut p = Command::new(BIN);
    p.args(["status", "-A", "-o", "json"])
        .env("KUBECONFIG", &c.kubeconfig);
    let (p_secs, p_mem, p_items) = timed(p);
    println!(
        "kubectl get <every Flux kind> -A -o json: {k_secs:.2}s, peak {k_mem}, {k_items} objects"
    );
    println!(
        "kubectl-flux_monitor status -A -o json:   {p_secs:.2}s, peak {p_mem}, {p_items} objects"
    );
    println!(
        "wall-time ratio status/kubectl: {:.2} (goal <= 0.50)",
        p_secs / k_secs
    );
}
