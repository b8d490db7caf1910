//! A real Kubernetes control plane for the end-to-end tests: etcd and kube-apiserver as built by
//! `scripts/upstream.sh controlplane` from their Go modules, started on 127.0.0.1 with a CA,
//! serving and client certificates made here at start-up (in a 0700 temporary directory, keys
//! 0600, all removed on drop), RBAC on, and Flux's CRDs of a release applied from
//! ../shared/reference/flux-install with the real kubectl.

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// How long etcd and the API server get to become ready on a busy 2-core machine.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The etcd and kube-apiserver binaries in the build cache, or None (with the reason) when they
/// were not built. With FLUX_MONITOR_REQUIRE_CONTROLPLANE set (as `make test` does when it
/// built them) a missing binary is a failure, not a skip.
pub fn binaries() -> Option<(PathBuf, PathBuf)> {
    let dir = crate::upstream_dir();
    let (etcd, apiserver) = (dir.join("etcd"), dir.join("kube-apiserver"));
    if etcd.is_file() && apiserver.is_file() {
        return Some((etcd, apiserver));
    }
    assert!(
        std::env::var_os("FLUX_MONITOR_REQUIRE_CONTROLPLANE").is_none(),
        "etcd and kube-apiserver are not in {}: run scripts/upstream.sh controlplane",
        dir.display()
    );
    eprintln!(
        "skipped: etcd/kube-apiserver not built in {} (scripts/upstream.sh controlplane)",
        dir.display()
    );
    None
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Writes a file only its owner may read.
fn write_private(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A child in a process group of its own, killed with its group when dropped and by the kernel
/// when the test process dies.
pub struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args` and extra `env`, its output going to `log`.
    pub fn spawn_with_env(
        name: &'static str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: PathBuf,
    ) -> Proc {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc { name, child, log }
    }

    fn spawn(name: &'static str, program: &Path, args: &[String], log: PathBuf) -> Proc {
        Self::spawn_with_env(name, program, args, &[], log)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(8).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Some(what it said last) once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "{} exited ({status}):\n{}",
                self.name,
                self.log_tail()
            )),
            _ => None,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on the process group made for this child.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running etcd + kube-apiserver; stopped and its directory removed on drop.
pub struct ControlPlane {
    // Field order is drop order: the API server stops before etcd, then the directory goes.
    apiserver: Proc,
    etcd: Proc,
    pub url: String,
    /// A kubeconfig for `admin` (group system:masters).
    pub admin: PathBuf,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    dir: tempfile::TempDir,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver and waits until the API server is ready.
    pub fn start(etcd_bin: &Path, apiserver_bin: &Path) -> ControlPlane {
        let dir = tempfile::Builder::new()
            .prefix("flux-monitor-controlplane-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("temporary directory");
        let d = dir.path();
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(d.join("etcd"))
            .expect("etcd data directory");

        // The CA, the API server's serving certificate and its service-account signing key.
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flux-monitor test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        write_private(&d.join("ca.crt"), &ca_cert.pem());

        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let serving_key = KeyPair::generate().expect("serving key");
        let mut serving = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        serving
            .subject_alt_names
            .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving
            .signed_by(&serving_key, &issuer)
            .expect("serving certificate");
        write_private(&d.join("apiserver.crt"), &serving_cert.pem());
        write_private(&d.join("apiserver.key"), &serving_key.serialize_pem());
        let sa_key = KeyPair::generate().expect("service-account key");
        write_private(&d.join("sa.key"), &sa_key.serialize_pem());
        write_private(&d.join("sa.pub"), &sa_key.public_key_pem());

        let (client_port, peer_port, api_port) = (free_port(), free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = Proc::spawn(
            "etcd",
            etcd_bin,
            &[
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls={client_url}"),
                format!("--advertise-client-urls={client_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=default={peer_url}"),
                "--listen-metrics-urls=".into(),
                // A test cluster needs no durability; fsync dominates on a shared disk.
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
            d.join("etcd.log"),
        );
        let url = format!("https://127.0.0.1:{api_port}");
        let p = |name: &str| d.join(name).display().to_string();
        let apiserver = Proc::spawn(
            "kube-apiserver",
            apiserver_bin,
            &[
                format!("--etcd-servers={client_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                // The `kubernetes` Service's endpoints may not be loopback, and nothing here
                // needs them.
                "--endpoint-reconciler-type=none".into(),
                format!("--secure-port={api_port}"),
                format!("--tls-cert-file={}", p("apiserver.crt")),
                format!("--tls-private-key-file={}", p("apiserver.key")),
                format!("--client-ca-file={}", p("ca.crt")),
                format!("--service-account-key-file={}", p("sa.pub")),
                format!("--service-account-signing-key-file={}", p("sa.key")),
                "--service-account-issuer=https://kubernetes.default.svc".into(),
                "--authorization-mode=RBAC".into(),
                // Only a setting: no Service is ever given an address that carries traffic.
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                format!("--cert-dir={}", p("certs")),
                "--v=0".into(),
            ],
            d.join("kube-apiserver.log"),
        );
        let mut cp = ControlPlane {
            apiserver,
            etcd,
            url,
            admin: d.join("admin.kubeconfig"),
            ca_params,
            ca_key,
            dir,
        };
        let admin = cp.kubeconfig_for("admin", &["system:masters"]);
        std::fs::rename(&admin, &cp.admin).expect("admin kubeconfig");
        cp.wait_ready();
        cp
    }

    /// The directory holding the certificates, keys, logs and etcd's data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A kubeconfig authenticating as `user` in `groups` with a client certificate of the CA.
    pub fn kubeconfig_for(&self, user: &str, groups: &[&str]) -> PathBuf {
        let d = self.dir.path();
        let key = KeyPair::generate().expect("client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).expect("client certificate");
        let (crt, key_path) = (d.join(format!("{user}.crt")), d.join(format!("{user}.key")));
        write_private(&crt, &cert.pem());
        write_private(&key_path, &key.serialize_pem());
        let path = d.join(format!("{user}.kubeconfig"));
        write_private(
            &path,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: {user}\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: {user}@test\n  context: {{cluster: test, user: {user}}}\ncurrent-context: {user}@test\n",
                self.url,
                d.join("ca.crt").display(),
                crt.display(),
                key_path.display()
            ),
        );
        path
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            for p in [&mut self.etcd, &mut self.apiserver] {
                if let Some(e) = p.exited() {
                    panic!("{e}");
                }
            }
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready on {} within {READY_WITHIN:?}: {}\n{}",
                self.url,
                String::from_utf8_lossy(&out.stderr),
                self.apiserver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `kubectl ARGS...` as admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.admin)
            .output()
            .expect("run kubectl")
    }

    /// Like [`ControlPlane::kubectl`], panicking with stderr unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Applies what Flux `release` (e.g. `v2.9.4`) installs, from the reference copy of its
    /// install manifests (CRDs, namespace, RBAC, the controllers' Deployments and Services;
    /// no kubelet runs here, so the Deployments never get pods), and waits for the CRDs.
    pub fn install_flux(&self, release: &str) -> PathBuf {
        let dir = flux_install_dir(release);
        self.kubectl_ok(&["create", "namespace", "flux-system"]);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        // The reference manifests leave namespaced objects' namespace to `flux install`.
        let mut args = vec!["apply", "--server-side", "-n", "flux-system"];
        let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        for f in &shown {
            args.extend(["-f", f.as_str()]);
        }
        self.kubectl_ok(&args);
        self.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd",
            "--all",
        ]);
        dir
    }
}

/// ../shared/reference/flux-install/RELEASE, read in place (never copied into the repository).
pub fn flux_install_dir(release: &str) -> PathBuf {
    let dir = crate::workspace()
        .join("../shared/reference/flux-install")
        .join(release);
    assert!(
        dir.is_dir(),
        "{} is missing: the shared reference holds Flux's install manifests",
        dir.display()
    );
    dir
}
