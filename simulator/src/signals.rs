//! SIGINT, SIGTERM and SIGHUP watched on a thread of its own, with a runtime of its own, so that
//! a busy main runtime (seeding 100k objects, a start-up storm, a blocking child process) cannot
//! delay them. Used by `flux-sim serve` and by the plugin's `test`.

use std::future::Future;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The stop signals, registered.
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Waits for the next stop signal and names it.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// Starts the thread `name`, registers the signals on its runtime before returning (no signal
/// goes unseen once this has returned), then runs `on_signals` there.
pub fn spawn<F, Fut>(name: &str, on_signals: F) -> std::io::Result<()>
where
    F: FnOnce(StopSignals) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let registered = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .and_then(|runtime| {
                    let signals = runtime.block_on(async {
                        Ok::<_, std::io::Error>(StopSignals {
                            int: signal(SignalKind::interrupt())?,
                            term: signal(SignalKind::terminate())?,
                            hup: signal(SignalKind::hangup())?,
                        })
                    })?;
                    Ok((runtime, signals))
                });
            match registered {
                Ok((runtime, signals)) => {
                    let _ = ready_tx.send(Ok(()));
                    runtime.block_on(on_signals(signals));
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })?;
    ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the signal thread ended"))?
}
