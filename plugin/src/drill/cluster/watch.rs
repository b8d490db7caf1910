//! The first hop of a cluster drill: each canary's (and touched object's) status as the API
//! server streams it (watches, with the arrival instant of every change), so the moment a
//! controller writes Ready=False is known to within the watch's latency.

use std::time::Instant;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{watcher, WatchStreamExt};
use model::ObjectRef;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use crate::discovery::ServedKind;

/// One change of a watched object, stamped on arrival.
pub struct Change {
    pub at: Instant,
    pub object: Value,
}

/// Watchers running until dropped.
pub struct Watches {
    tasks: JoinSet<()>,
    pub changes: mpsc::UnboundedReceiver<Change>,
}

/// What to watch: a kind in a namespace, by label selector or by name.
pub enum Target {
    Labelled {
        kind: ServedKind,
        namespace: String,
        selector: String,
    },
    Named {
        kind: ServedKind,
        object: ObjectRef,
    },
}

impl Watches {
    pub fn start(cluster: &Cluster, targets: Vec<Target>) -> Watches {
        let (tx, changes) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for t in targets {
            let (kind, namespace, config) = match t {
                Target::Labelled {
                    kind,
                    namespace,
                    selector,
                } => (kind, namespace, watcher::Config::default().labels(&selector)),
                Target::Named { kind, object } => {
                    let config = watcher::Config::default().fields(&format!("metadata.name={}", object.name));
                    (kind, object.namespace, config)
                }
            };
            let api: Api<DynamicObject> =
                Api::namespaced_with(cluster.watch_client.clone(), &namespace, &kind.api_resource());
            let tx = tx.clone();
            tasks.spawn(async move {
                let mut stream = watcher(api, config).default_backoff().applied_objects().boxed();
                while let Some(item) = stream.next().await {
                    if let Ok(obj) = item {
                        let at = Instant::now();
                        if let Ok(object) = serde_json::to_value(&obj) {
                            if tx.send(Change { at, object }).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        Watches { tasks, changes }
    }

    pub fn stop(mut self) {
        self.tasks.abort_all();
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}
