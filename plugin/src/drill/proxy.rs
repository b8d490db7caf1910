//! Scrape-target stand-ins. Prometheus applies new scrape targets only every 5 seconds (its
//! discovery manager's update tick), far too late at time scale 60 if it learnt flux-sim's
//! listener addresses after the scenario clock had started. So the drill binds one loopback port
//! per metrics listener first, starts Prometheus scraping those, waits until every target has been
//! scraped, and only then starts flux-sim and points each stand-in at its real listener. Until
//! then a stand-in answers an empty exposition (up = 1, no series); afterwards it forwards bytes,
//! and refuses (closes) when the real listener refuses, so a downed controller reads `up == 0`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use simulator::scenario::{ResourceMetrics, Scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const EMPTY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

type Backend = Arc<Mutex<Option<SocketAddr>>>;

pub struct Proxies {
    /// Controller name (or `kube-state-metrics`) -> the stand-in's address.
    pub addrs: BTreeMap<String, SocketAddr>,
    backends: BTreeMap<String, Backend>,
    tasks: tokio::task::JoinSet<()>,
}

pub const KSM: &str = "kube-state-metrics";
pub const FLUX_OPERATOR: &str = "flux-operator";

impl Proxies {
    /// One stand-in per metrics listener the scenario's installation has.
    pub async fn start(scenario: &Scenario) -> std::io::Result<Proxies> {
        let mut me = Proxies {
            addrs: BTreeMap::new(),
            backends: BTreeMap::new(),
            tasks: tokio::task::JoinSet::new(),
        };
        let resource_listeners = scenario.resource_metrics.iter().map(|m| match m {
            ResourceMetrics::KubeStateMetrics => KSM,
            ResourceMetrics::FluxOperator => FLUX_OPERATOR,
        });
        let names: Vec<&str> = scenario.controllers().iter().map(|c| c.name()).chain(resource_listeners).collect();
        for name in names {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            me.addrs.insert(name.to_string(), listener.local_addr()?);
            let backend = Backend::default();
            me.backends.insert(name.to_string(), backend.clone());
            me.tasks.spawn(accept(listener, backend));
        }
        Ok(me)
    }

    /// flux-sim's endpoints with the stand-ins' addresses, for `scrape_configs`.
    pub fn endpoints(&self) -> simulator::telemetry::Endpoints {
        simulator::telemetry::Endpoints {
            controllers: self
                .addrs
                .iter()
                .filter(|(n, _)| *n != KSM && *n != FLUX_OPERATOR)
                .map(|(n, a)| (n.clone(), *a))
                .collect(),
            kube_state_metrics: self.addrs.get(KSM).copied(),
            flux_operator: self.addrs.get(FLUX_OPERATOR).copied(),
        }
    }

    /// Points every stand-in at its real listener.
    pub fn connect(&self, real: &simulator::telemetry::Endpoints) {
        for (name, addr) in real
            .controllers
            .iter()
            .map(|(n, a)| (n.as_str(), *a))
            .chain(real.kube_state_metrics.map(|a| (KSM, a)))
            .chain(real.flux_operator.map(|a| (FLUX_OPERATOR, a)))
        {
            if let Some(b) = self.backends.get(name) {
                *b.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
            }
        }
    }

    pub fn stop(mut self) {
        self.tasks.abort_all();
    }
}

async fn accept(listener: TcpListener, backend: Backend) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let target = *backend.lock().unwrap_or_else(|e| e.into_inner());
        tokio::spawn(serve(client, target));
    }
}

async fn serve(mut client: TcpStream, target: Option<SocketAddr>) {
    match target {
        None => {
            // Read the request head, answer an empty exposition.
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = client.write_all(EMPTY).await;
            let _ = client.shutdown().await;
        }
        Some(addr) => {
            // A refused backend closes the client's connection: the scrape fails as it would.
            let Ok(mut upstream) = TcpStream::connect(addr).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    }
}
