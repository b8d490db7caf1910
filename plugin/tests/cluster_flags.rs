//! Which commands take kubectl's cluster flags: those that read a cluster list them in their
//! help, those that never touch one do not (nor accept them).

use assert_cmd::Command;

const CLUSTER_FLAGS: [&str; 5] = [
    "--kubeconfig",
    "--context",
    "--namespace",
    "--all-contexts",
    "--request-timeout",
];

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("kubectl-flux_monitor")
        .unwrap()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn commands_that_never_touch_a_cluster_list_no_cluster_flag() {
    for cmd in [&["test"][..], &["rules"], &["drill", "--local"], &["completion"]] {
        let text = help(cmd);
        for flag in CLUSTER_FLAGS {
            assert!(!text.contains(flag), "{cmd:?} --help lists {flag}:\n{text}");
        }
    }
    let out = Command::cargo_bin("kubectl-flux_monitor")
        .unwrap()
        .args(["rules", "--kubeconfig", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn commands_that_read_a_cluster_list_theirs() {
    for cmd in ["status", "check", "events", "version"] {
        let text = help(&[cmd]);
        for flag in CLUSTER_FLAGS {
            assert!(text.contains(flag), "{cmd} --help lacks {flag}");
        }
    }
    // lint reads one context's Alerts and Providers when no manifests are given.
    let lint = help(&["lint"]);
    for flag in ["--kubeconfig", "--context", "--request-timeout"] {
        assert!(lint.contains(flag), "lint lacks {flag}");
    }
    assert!(
        !lint.contains("--all-contexts") && !lint.contains("--namespace"),
        "{lint}"
    );
    // drill --cluster takes one context and the canaries' namespace, not the local flags.
    let drill = help(&["drill", "--cluster"]);
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "--request-timeout",
        "--prometheus-service",
        "--cleanup",
    ] {
        assert!(drill.contains(flag), "drill --cluster lacks {flag}");
    }
    assert!(!drill.contains("--time-scale"), "{drill}");
}
