//! `status --watch`: a kube-runtime watcher on every served kind in scope, in every cluster;
//! the report is rebuilt and redrawn whenever objects change, until Ctrl-C.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use model::kinds::KindInfo;
use model::{FluxObject, ObjectRef};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::cli::{KubeArgs, OutputFormat, StatusArgs};
use crate::cluster::{Cluster, ClusterError};
use crate::discovery::{self, Discovered, ServedKind, Unreadable};
use crate::error::Error;
use crate::output;
use crate::status::collect::{self, Scope, Snapshot};
use crate::status::report::{self, ClusterResult, Health};

/// Changes arriving within this quiet time are drawn together.
const DEBOUNCE: Duration = Duration::from_millis(100);

enum Change {
    /// A relist started: objects of this kind are replaced once it is done.
    Relist,
    Listed(Value),
    RelistDone,
    Applied(Value),
    Deleted(ObjectRef),
    Failed(String),
}

struct Msg {
    cluster: usize,
    kind: &'static str,
    change: Change,
}

/// What the watchers have shown of one cluster.
struct ClusterState {
    cluster: Cluster,
    scope: Scope,
    discovered: Discovered,
    objects: BTreeMap<ObjectRef, Value>,
    relisting: HashMap<&'static str, Vec<Value>>,
    synced: HashSet<&'static str>,
    failed: BTreeMap<&'static str, String>,
}

impl ClusterState {
    fn apply(&mut self, kind: &'static str, change: Change) {
        match change {
            Change::Relist => {
                self.relisting.insert(kind, Vec::new());
            }
            Change::Listed(v) => self.relisting.entry(kind).or_default().push(v),
            Change::RelistDone => {
                let fresh = self.relisting.remove(kind).unwrap_or_default();
                self.objects.retain(|r, _| r.kind != kind);
                for v in fresh {
                    self.objects.insert(FluxObject::new(&v).object_ref(), v);
                }
                self.synced.insert(kind);
                self.failed.remove(kind);
            }
            Change::Applied(v) => {
                self.objects.insert(FluxObject::new(&v).object_ref(), v);
            }
            Change::Deleted(r) => {
                self.objects.remove(&r);
            }
            Change::Failed(e) => {
                self.failed.insert(kind, e);
            }
        }
    }

    fn watched(&self) -> impl Iterator<Item = &ServedKind> {
        self.discovered
            .kinds
            .iter()
            .filter(|k| self.scope.includes_kind(k.info))
    }

    /// Every watched kind has listed once or failed.
    fn settled(&self) -> bool {
        self.watched()
            .all(|k| self.synced.contains(k.kind()) || self.failed.contains_key(k.kind()))
    }

    async fn snapshot(&self) -> Snapshot {
        let listed_kinds: Vec<&'static str> = self
            .watched()
            .map(ServedKind::kind)
            .filter(|k| self.synced.contains(k) && !self.failed.contains_key(k))
            .collect();
        let objects: Vec<Value> = self.objects.values().cloned().collect();
        let known: HashSet<ObjectRef> = self.objects.keys().cloned().collect();
        let (upstream, missing) = collect::follow_upstreams(
            &self.cluster,
            &self.discovered,
            &self.scope,
            &listed_kinds,
            &objects,
            &known,
        )
        .await;
        let mut unreadable: Vec<Unreadable> = self.discovered.unreadable.clone();
        unreadable.extend(self.failed.iter().map(|(k, e)| Unreadable {
            kind: (*k).to_string(),
            error: e.clone(),
        }));
        Snapshot {
            context: self.cluster.context.clone(),
            discovered: self.discovered.clone(),
            objects,
            upstream,
            missing,
            unreadable,
            not_served: Vec::new(),
            listed_kinds,
            notifications: Default::default(),
        }
    }
}

fn to_value(obj: DynamicObject, kind: &ServedKind) -> Value {
    collect::with_type(serde_json::to_value(obj).unwrap_or(Value::Null), kind)
}

/// Runs one kind's watcher, forwarding its events until the receiver is gone.
fn spawn_watcher(
    index: usize,
    cluster: &Cluster,
    scope: &Scope,
    kind: ServedKind,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let ar = kind.api_resource();
    let api: Api<DynamicObject> = match &scope.namespace {
        Some(ns) => Api::namespaced_with(cluster.watch_client.clone(), ns, &ar),
        None => Api::all_with(cluster.watch_client.clone(), &ar),
    };
    let mut config = watcher::Config::default().page_size(500);
    if let Some(sel) = &scope.selector {
        config = config.labels(sel);
    }
    let kind_name = kind.kind();
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            let change = match ev {
                Ok(Event::Init) => Change::Relist,
                Ok(Event::InitApply(o)) => Change::Listed(to_value(o, &kind)),
                Ok(Event::InitDone) => Change::RelistDone,
                Ok(Event::Apply(o)) => Change::Applied(to_value(o, &kind)),
                Ok(Event::Delete(o)) => {
                    Change::Deleted(FluxObject::new(&to_value(o, &kind)).object_ref())
                }
                Err(e) => Change::Failed(watch_error(&e)),
            };
            if tx
                .send(Msg {
                    cluster: index,
                    kind: kind_name,
                    change,
                })
                .is_err()
            {
                return;
            }
        }
    });
}

fn watch_error(e: &watcher::Error) -> String {
    let api = match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => Some(k),
        _ => None,
    };
    match api.and_then(crate::cluster::api_status) {
        Some(s) if s.message.is_empty() => format!("{} (HTTP {})", s.reason, s.code),
        Some(s) => format!("{} (HTTP {}): {}", s.reason, s.code, s.message),
        None => crate::cluster::one_line(e),
    }
}

pub async fn run(
    clusters: Vec<Result<Cluster, (String, ClusterError)>>,
    kube: &KubeArgs,
    args: &StatusArgs,
    kinds: Option<Vec<&'static KindInfo>>,
) -> Result<Health, Error> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let mut states: Vec<Result<ClusterState, (String, ClusterError)>> = Vec::new();
    let discoveries = futures::future::join_all(clusters.into_iter().map(|c| async move {
        match c {
            Ok(cluster) => match discovery::discover(&cluster).await {
                Ok(d) => Ok((cluster, d)),
                Err(e) => Err((cluster.context.clone(), e)),
            },
            Err(e) => Err(e),
        }
    }))
    .await;
    for (i, d) in discoveries.into_iter().enumerate() {
        states.push(d.map(|(cluster, discovered)| {
            let scope = crate::status::scope_for(&cluster, kube, args, &kinds);
            for k in discovered
                .kinds
                .iter()
                .filter(|k| scope.includes_kind(k.info))
            {
                spawn_watcher(i, &cluster, &scope, k.clone(), tx.clone());
            }
            ClusterState {
                cluster,
                scope,
                discovered,
                objects: BTreeMap::new(),
                relisting: HashMap::new(),
                synced: HashSet::new(),
                failed: BTreeMap::new(),
            }
        }));
    }
    drop(tx);

    let wait_first = states
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .filter_map(|s| s.cluster.timeout)
        .max();
    let first_deadline = wait_first.map(|t| tokio::time::Instant::now() + t);
    let mut shown_warnings: HashSet<String> = HashSet::new();
    let mut drawn_once = false;
    let mut health = Health::CouldNotTell;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let all_settled = states
            .iter()
            .all(|s| s.as_ref().map_or(true, ClusterState::settled));
        let deadline_passed = first_deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        if all_settled || deadline_passed || drawn_once {
            health = draw(&states, args, &mut shown_warnings, drawn_once).await?;
            drawn_once = true;
            if states.iter().all(Result::is_err) {
                return Ok(health);
            }
        }
        // Wait for the next change (or the first-draw deadline), then for a quiet moment.
        let first = tokio::select! {
            _ = &mut ctrl_c => return Ok(health),
            m = rx.recv() => m,
            _ = sleep_until(first_deadline), if !drawn_once => None,
        };
        let Some(first) = first else {
            if drawn_once {
                // Every watcher ended (no kind to watch): nothing more will change.
                return Ok(health);
            }
            continue;
        };
        let mut batch = vec![first];
        loop {
            tokio::select! {
                m = rx.recv() => match m { Some(m) => batch.push(m), None => break },
                _ = tokio::time::sleep(DEBOUNCE) => break,
            }
        }
        for m in batch {
            if let Some(Ok(state)) = states.get_mut(m.cluster) {
                state.apply(m.kind, m.change);
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => futures::future::pending().await,
    }
}

async fn draw(
    states: &[Result<ClusterState, (String, ClusterError)>],
    args: &StatusArgs,
    shown_warnings: &mut HashSet<String>,
    redraw: bool,
) -> Result<Health, Error> {
    let mut results = Vec::new();
    for s in states {
        results.push(match s {
            Ok(state) => {
                let mut snap = state.snapshot().await;
                snap.notifications = crate::status::notifications::for_snapshot(
                    &state.cluster,
                    &snap,
                    &state.scope,
                    args.notification_window,
                    jiff::Timestamp::now(),
                )
                .await;
                ClusterResult {
                    context: state.cluster.context.clone(),
                    outcome: Ok(snap),
                    metrics: None,
                }
            }
            Err((context, e)) => ClusterResult {
                context: context.clone(),
                outcome: Err(e.clone()),
                metrics: None,
            },
        });
    }
    let report = report::build(&results, &crate::status::options(args));
    for w in &report.warnings {
        if shown_warnings.insert(w.clone()) {
            eprintln!("{w}");
        }
    }
    if let Some(fatal) = &report.fatal {
        if shown_warnings.insert(fatal.clone()) {
            eprintln!("error: {fatal}");
        }
        return Ok(report.health);
    }
    let color = output::stdout_wants_color();
    let mut text = String::new();
    match args.output {
        OutputFormat::Table | OutputFormat::Wide if color => text.push_str("\x1b[H\x1b[2J"),
        OutputFormat::Table | OutputFormat::Wide if redraw => text.push('\n'),
        OutputFormat::Yaml if redraw => text.push_str("---\n"),
        _ => {}
    }
    text.push_str(&output::render(&report, args.output, color));
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(report.health)
}
