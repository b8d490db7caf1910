//! Helpers for the end-to-end tests: the real `flux-sim` and `kubectl-flux_monitor` binaries of
//! this workspace (built by `make test` before the tests run), the real kubectl, and a running
//! `flux-sim serve` that stops when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod controlplane;
pub mod fixtures;

/// Where `scripts/upstream.sh` leaves the programs it builds from Go modules (the directory its
/// last line names): $FLUX_MONITOR_UPSTREAM_DIR, else the user's cache directory.
pub fn upstream_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FLUX_MONITOR_UPSTREAM_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    cache.join("flux-monitor/upstream")
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The directory holding this workspace's debug binaries.
pub fn bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from);
    target.join("debug")
}

/// A binary of this workspace; panics with what to run when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` (make test does) first", path.display());
    path
}

/// A scenario of this repository.
pub fn scenario(name: &str) -> PathBuf {
    workspace().join("scenarios").join(name)
}

/// Whether the real kubectl is on PATH.
pub fn have_kubectl() -> bool {
    Command::new("kubectl").arg("version").arg("--client").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A running `flux-sim serve`; interrupted and reaped on drop.
pub struct Sim {
    child: Child,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub endpoints: Value,
}

impl Sim {
    /// Starts `flux-sim serve --scenario SCENARIO ARGS...` and waits until it says where it listens.
    pub fn start(scenario: &Path, args: &[&str]) -> Sim {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        let endpoints_path = dir.path().join("endpoints.json");
        let mut child = Command::new(bin("flux-sim"))
            .arg("serve")
            .arg("--scenario")
            .arg(scenario)
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .arg("--endpoints-out")
            .arg(&endpoints_path)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn flux-sim serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&endpoints_path) {
                if let Ok(endpoints) = serde_json::from_str::<Value>(&text) {
                    return Sim { child, dir, kubeconfig, endpoints };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("flux-sim serve exited early ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "flux-sim serve did not write its endpoints within 30s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kubectl --kubeconfig K ARGS...`, with this workspace's binaries first on PATH (so
    /// `kubectl flux-monitor` finds the plugin).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_with(&self.kubeconfig, args)
    }

    /// Like [`Sim::kubectl`], panicking with stderr unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// `kubectl get ... -o json` parsed.
    pub fn kubectl_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("kubectl -o json output parses")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Interrupts flux-sim as Ctrl-C would and waits for it; returns its exit status.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("flux-sim did not stop within 10s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `KUBECONFIG=K kubectl ARGS...` with the workspace binaries first on PATH.
pub fn kubectl_with(kubeconfig: &Path, args: &[&str]) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin_dir()];
    paths.extend(std::env::split_paths(&path));
    // KUBECONFIG rather than --kubeconfig: kubectl refuses flags before a plugin's name.
    Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", std::env::join_paths(paths).expect("PATH"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run kubectl")
}

/// Polls `check` every 50 ms until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
