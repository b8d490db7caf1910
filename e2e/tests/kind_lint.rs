//! The kind CI path cannot run here (no Docker engine): its script is checked with shellcheck
//! and its GitHub Actions workflow with actionlint (both installed by scripts/setup.sh), and the
//! script's cluster steps run against flux-sim in cluster_drill.rs.

use std::process::Command;

use e2e::workspace;

fn run(tool: &str, args: &[&str]) {
    let out = Command::new(tool)
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed (scripts/setup.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kind_script_and_the_setup_scripts_pass_shellcheck() {
    run(
        "shellcheck",
        &[
            "--severity=style",
            "e2e/kind/run.sh",
            "scripts/setup.sh",
            "scripts/demo.sh",
        ],
    );
}

#[test]
fn the_kind_workflow_passes_actionlint() {
    run("actionlint", &["-shellcheck=shellcheck", "e2e/kind/workflow.yml"]);
}
