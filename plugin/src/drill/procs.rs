//! The drill's child processes (Prometheus, Alertmanager): each started in a process group of its
//! own and killed with its whole group when stopped, when dropped (a drill that panics or is
//! interrupted), and by the kernel when the drill itself dies (PR_SET_PDEATHSIG).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A free loopback address: bind port 0, read the port, let it go for the child to take.
pub fn free_addr() -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind(("127.0.0.1", 0))?;
    l.local_addr()
}

/// A running child in its own process group.
pub struct Child {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub pid: u32,
    log: PathBuf,
    child: Option<tokio::process::Child>,
}

impl Child {
    /// Starts `program` with its output in `log`; it must answer `GET /-/ready` on `addr` with
    /// 200 within `ready_within`.
    pub async fn start(
        name: &'static str,
        program: &Path,
        args: &[String],
        addr: SocketAddr,
        log: PathBuf,
        ready_within: Duration,
    ) -> Result<Child, String> {
        let out = std::fs::File::create(&log)
            .map_err(|e| format!("{}: cannot create: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
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
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let pid = child.id().unwrap_or(0);
        let mut me = Child {
            name,
            addr,
            pid,
            log,
            child: Some(child),
        };
        me.wait_ready(ready_within).await?;
        Ok(me)
    }

    async fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!("http://{}/-/ready", self.addr);
        let deadline = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{} exited ({status}) before it was ready: {}",
                        self.name,
                        self.log_tail()
                    ));
                }
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready on {} after {within:?}: {}",
                    self.name,
                    self.addr,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The last lines the child wrote (for error messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// Kills the whole group and reaps the child.
    pub async fn stop(mut self) {
        kill_group(self.pid);
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }
}

fn kill_group(pid: u32) {
    if let Ok(pgid) = i32::try_from(pid) {
        if pgid > 0 {
            // SAFETY: kill(2) with a negative pid signals the group we created for the child.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        kill_group(self.pid);
        let _ = child.start_kill();
        // Reap it here so that no zombie outlives the drill's clean-up (bounded: SIGKILL is quick).
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
