//! `flux-sim serve`: a scenario brought to life. Starts the embedded Kubernetes API (or uses a
//! cluster from a kubeconfig), seeds it with the scenario's objects, runs the fake controllers in
//! real time with their metrics listeners, kube-state-metrics and events (and, with `--notify`,
//! the notification-controller emulation), says where everything listens, and stops cleanly on
//! Ctrl-C or SIGTERM.

mod events;
mod notify_api;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use kube::Client;
use model::kinds::KindInfo;
use model::FluxVersion;
use serde_json::{json, Value};

use crate::apiserver::{self, ApiServer, PrinterColumn, ResourceType, VersionDetail};
use crate::controllers::{self, Clock};
use crate::notify;
use crate::scenario::Scenario;
use crate::telemetry::Telemetry;

pub struct ServeOptions {
    pub scenario: Scenario,
    pub api_addr: SocketAddr,
    pub kubeconfig_out: Option<PathBuf>,
    pub endpoints_out: Option<PathBuf>,
    pub time_scale: f64,
    pub start_at: Duration,
    /// Drive a real cluster instead of the embedded API.
    pub kubeconfig: Option<PathBuf>,
    /// Fault injection on the embedded API: resources that answer every request with an error.
    pub deny: Vec<(String, u16)>,
    /// Run the notification-controller emulation and post events to it.
    pub notify: bool,
    /// Post events to this notification-controller address (an external one).
    pub event_address: Option<String>,
    /// notification-controller's `--rate-limit-interval`.
    pub rate_limit_interval: Duration,
}

/// The embedded API's resource type for a Flux kind at a Flux version: what that release's CRD
/// declares (model/data/flux.yaml).
pub fn resource_type(info: &KindInfo, version: FluxVersion) -> Option<ResourceType> {
    let storage = info.storage_version(version)?;
    let columns = |v: &str| -> Vec<PrinterColumn> {
        info.printer_columns(version, v)
            .iter()
            .map(|c| PrinterColumn { priority: c.priority, ..PrinterColumn::new(c.name, c.type_, c.json_path) })
            .collect()
    };
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    Some(ResourceType {
        group: info.group.to_string(),
        version: storage.to_string(),
        other_versions: strings(info.served_versions(version)).into_iter().filter(|v| v != storage).collect(),
        kind: info.kind.to_string(),
        plural: info.plural.to_string(),
        singular: info.singular.to_string(),
        short_names: strings(info.short_names_in(version)),
        categories: strings(info.categories_in(version)),
        namespaced: true,
        status_subresource: info.has_status_subresource(version, storage),
        printer_columns: columns(storage),
        version_details: info
            .served_versions(version)
            .iter()
            .map(|v| VersionDetail {
                name: (*v).to_string(),
                deprecated: info.is_deprecated_version(version, v),
                deprecation_warning: info.deprecation_warning(version, v),
                printer_columns: columns(v),
                status_subresource: info.has_status_subresource(version, v),
            })
            .collect(),
    })
}

/// Every Flux kind the scenario's installation serves, as embedded API resource types.
pub fn flux_resource_types(scenario: &Scenario) -> Vec<ResourceType> {
    scenario.kinds().filter_map(|k| resource_type(k, scenario.flux_version)).collect()
}

/// Every resource (plural) the embedded API serves for `scenario`: the built-in types and the
/// Flux kinds of its installation; what `--deny` accepts.
pub fn served_plurals(scenario: &Scenario) -> Vec<String> {
    let mut plurals: Vec<String> = ResourceType::builtin()
        .into_iter()
        .chain(flux_resource_types(scenario))
        .map(|t| t.plural)
        .collect();
    plurals.sort();
    plurals.dedup();
    plurals
}

/// Why a kubeconfig could not be read, never quoting it: the YAML parser's message and
/// snippet can carry the line it failed on, which may hold a token or a password.
fn kubeconfig_error(path: &std::path::Path, e: &kube::config::KubeconfigError) -> anyhow::Error {
    match e {
        kube::config::KubeconfigError::Parse(parse) => {
            let at = parse
                .location()
                .map(|l| format!(" (YAML error at line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            anyhow!("reading kubeconfig {}: not a valid kubeconfig{at}; check it with `kubectl config view --kubeconfig {}`", path.display(), path.display())
        }
        other => anyhow!("reading kubeconfig {}: {other}", path.display()),
    }
}

/// The objects a Flux installation has besides the Flux objects: namespaces, CRDs labelled with
/// the Flux version, and the controllers' Deployments.
fn installation_objects(scenario: &Scenario) -> Vec<Value> {
    let flux_label = flux_version_label(scenario.flux_version);
    let mut namespaces: Vec<&str> = scenario.resources.iter().map(|r| r.namespace.as_str()).collect();
    namespaces.push("flux-system");
    namespaces.sort_unstable();
    namespaces.dedup();
    let mut out: Vec<Value> = namespaces
        .into_iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .collect();
    for controller in scenario.controllers() {
        let name = controller.name();
        let image = format!("ghcr.io/fluxcd/{name}:{}", controller.version_in(scenario.flux_version).unwrap_or("latest"));
        out.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "flux-system", "labels": {
                "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/component": name,
                "app.kubernetes.io/instance": "flux-system", "app.kubernetes.io/version": flux_label, "control-plane": "controller"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "manager", "image": image,
                                           "ports": [{"containerPort": 8080, "name": "http-prom", "protocol": "TCP"}]}]}}},
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1,
                       "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}]}
        }));
    }
    out
}

/// `v2.9.4`: the label `flux install` gives everything it installs.
fn flux_version_label(version: FluxVersion) -> String {
    format!("v{}", version.latest_patch().map_or_else(|| format!("{version}.0"), str::to_string))
}

/// Labels the Flux CRDs as a Flux installation does, so the Flux version can be read off them.
fn label_crds(store: &apiserver::Store, types: &[ResourceType], version: FluxVersion) -> anyhow::Result<()> {
    for rt in types {
        let component = model::kinds::by_kind(&rt.kind).map_or("", |k| k.controller.name());
        let labels = json!({"metadata": {"labels": {
            "app.kubernetes.io/part-of": "flux",
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/instance": "flux-system",
            "app.kubernetes.io/version": flux_version_label(version),
        }}});
        store
            .merge_patch(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                None,
                &rt.qualified_plural(),
                &labels,
                None,
            )
            .map_err(|e| anyhow!("labelling CRD {}: {e}", rt.qualified_plural()))?;
    }
    Ok(())
}

/// The scenario as the running parts need it once its objects are in the API: timeline,
/// expectations and settings, without a second copy of every resource's spec (at 100k
/// objects, a few hundred MB).
fn without_resources(scenario: Arc<Scenario>) -> Arc<Scenario> {
    let mut scenario = Arc::try_unwrap(scenario).unwrap_or_else(|shared| (*shared).clone());
    scenario.resources = Vec::new();
    Arc::new(scenario)
}

/// Everything `flux-sim serve` runs, started; [`Serving::stop`] ends it all. Drills and tests use
/// this in-process.
pub struct Serving {
    /// The scenario served, without its `resources` (they are objects in the API now).
    pub scenario: Arc<Scenario>,
    pub client: Client,
    pub api_url: String,
    pub kubeconfig: PathBuf,
    pub metrics: crate::telemetry::Endpoints,
    pub clock: Clock,
    /// The notification-controller emulation's address, with `--notify`.
    pub notification_controller: Option<String>,
    /// Where events are posted (redacted for display), if anywhere.
    pub event_address: Option<String>,
    nc: Option<notify::Running>,
    metrics_running: crate::telemetry::Running,
    tasks: tokio::task::JoinSet<()>,
    api: Option<apiserver::Running>,
    _kubeconfig_dir: Option<tempfile::TempDir>,
}

impl Serving {
    /// The JSON `--endpoints-out` writes: every address.
    pub fn endpoints(&self) -> Value {
        json!({
            "api": self.api_url,
            "kubeconfig": self.kubeconfig,
            "scenario": self.scenario.name,
            "fluxVersion": self.scenario.flux_version.to_string(),
            "metrics": self.metrics,
            "prometheusScrapeConfigs": self.metrics.scrape_configs(Duration::from_secs(1)),
            "notificationController": self.notification_controller,
            "eventAddress": self.event_address.as_deref().map(notify::redact_url),
        })
    }

    /// The notification-controller emulation, with `--notify` (its deliveries, its events).
    pub fn notifications(&self) -> Option<&notify::NotificationController> {
        self.nc.as_ref().map(|r| &r.controller)
    }

    /// Stops controllers, listeners and the embedded API.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.metrics_running.shutdown().await;
        if let Some(nc) = self.nc.take() {
            nc.shutdown().await;
        }
        if let Some(api) = self.api.take() {
            api.shutdown().await;
        }
    }
}

/// Starts everything `serve` runs and returns once it all listens.
pub async fn start(opts: ServeOptions) -> anyhow::Result<Serving> {
    let scenario = Arc::new(opts.scenario);
    let clock = Clock::new(opts.start_at, opts.time_scale);
    let mut keep_dir = None;
    let (client, api_url, kubeconfig_path, running) = match &opts.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| kubeconfig_error(path, &e))?;
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?;
            let url = config.cluster_url.to_string();
            let client = Client::try_from(config)?;
            crate::seed::into_cluster(&client, &scenario, opts.start_at).await?;
            (client, url, path.clone(), None)
        }
        None => {
            let types = flux_resource_types(&scenario);
            let server = ApiServer::new(types.clone());
            for obj in installation_objects(&scenario) {
                server
                    .store()
                    .create_with_status(obj)
                    .map_err(|e| anyhow!("seeding the embedded API: {e}"))?;
            }
            label_crds(server.store(), &types, scenario.flux_version)?;
            // Seeding 100k objects takes seconds of CPU: off the async workers.
            let (store, seeded, start_at) =
                (server.store().clone(), scenario.clone(), opts.start_at);
            tokio::task::spawn_blocking(move || crate::seed::into_store(&store, &seeded, start_at))
                .await
                .context("seeding the embedded API")??;
            for (plural, code) in &opts.deny {
                server.deny(plural, *code);
            }
            let running = server
                .serve(opts.api_addr)
                .await
                .with_context(|| format!("binding the embedded API on {}", opts.api_addr))?;
            let path = match &opts.kubeconfig_out {
                Some(p) => p.clone(),
                None => {
                    let dir = tempfile::tempdir()?;
                    let p = dir.path().join("kubeconfig");
                    keep_dir = Some(dir);
                    p
                }
            };
            apiserver::write_kubeconfig(&path, &running.url, "flux-sim")
                .with_context(|| format!("writing kubeconfig {}", path.display()))?;
            let mut config = kube::Config::new(running.url.parse()?);
            let (name, value) = server.internal_header();
            config.headers.push((
                axum::http::HeaderName::from_static(name),
                axum::http::HeaderValue::from_str(&value)?,
            ));
            (
                Client::try_from(config)?,
                running.url.clone(),
                path,
                Some(running),
            )
        }
    };

    let telemetry = Telemetry::for_scenario(&scenario);
    let scenario = without_resources(scenario);

    // notification-controller: the emulation (reading Alerts, Providers and Secrets from the
    // API), or an external address, or nobody (events are still recorded in the API).
    let nc = if opts.notify {
        let source = Arc::new(notify_api::ApiSource::new(
            client.clone(),
            scenario.flux_version,
        ));
        let (sink, mut warnings) = tokio::sync::mpsc::unbounded_channel();
        let options = notify::NotifyOptions {
            flux_version: scenario.flux_version,
            rate_limit_interval: opts.rate_limit_interval,
            event_sink: Some(sink),
            ..Default::default()
        };
        let controller = notify::NotificationController::new(source.clone(), source, options);
        let running = notify::serve(SocketAddr::from(([127, 0, 0, 1], 0)), controller, Some(telemetry.request_observer()))
            .await
            .context("binding the notification-controller event server")?;
        let events_client = client.clone();
        tokio::spawn(async move {
            while let Some(warning) = warnings.recv().await {
                events::record(events_client.clone(), warning.to_core_event(), None).await;
            }
        });
        Some(running)
    } else {
        None
    };
    let event_address = nc
        .as_ref()
        .map(|r| r.url.clone())
        .or(opts.event_address.clone());
    let sender = match &event_address {
        Some(address) => Some(Arc::new(
            notify::EventSender::new(address)
                .map_err(|e| anyhow!("event address {address}: {e}"))?,
        )),
        None => None,
    };

    let observer = events::fan_out(vec![
        telemetry.observer(),
        events::observer(client.clone(), sender),
    ]);
    let tasks = controllers::start(
        client.clone(),
        controllers::Options {
            scenario: scenario.clone(),
            clock,
            observer: Some(observer),
        },
    )
    .await;
    let metrics = telemetry
        .serve_scenario(
            &client,
            scenario.clone(),
            clock,
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .context("starting the metrics listeners")?;
    Ok(Serving {
        scenario,
        client,
        api_url,
        kubeconfig: kubeconfig_path,
        metrics: metrics.endpoints.clone(),
        clock,
        notification_controller: nc.as_ref().map(|r| r.url.clone()),
        event_address,
        nc,
        metrics_running: metrics,
        tasks,
        api: running,
        _kubeconfig_dir: keep_dir,
    })
}

/// How long an orderly stop may take after a stop signal before flux-sim leaves anyway.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs until Ctrl-C, SIGTERM or SIGHUP, which are honoured at every stage of start-up too:
/// nothing is left behind (the temporary kubeconfig, a half-written endpoints file).
pub async fn serve(mut opts: ServeOptions) -> anyhow::Result<()> {
    let (time_scale, start_at, endpoints_out) =
        (opts.time_scale, opts.start_at, opts.endpoints_out.clone());
    // The temporary kubeconfig's directory belongs to this frame (not to `start`), so that it
    // goes however start-up ends; the signal thread removes it if an orderly stop stalls.
    let temporary = match (&opts.kubeconfig, &opts.kubeconfig_out) {
        (None, None) => {
            let dir =
                tempfile::tempdir().context("creating a temporary directory for the kubeconfig")?;
            opts.kubeconfig_out = Some(dir.path().join("kubeconfig"));
            Some(dir)
        }
        _ => None,
    };
    let mut leftovers: Vec<PathBuf> = temporary.iter().map(|d| d.path().to_path_buf()).collect();
    leftovers.extend(endpoints_out.as_ref().map(|p| p.with_extension("tmp")));
    let mut stop = stop_signals(leftovers).context("installing signal handlers")?;

    let mut starting = tokio::spawn(start(opts));
    let serving = tokio::select! {
        started = &mut starting => started.context("start-up failed")??,
        signal = stop.wait_for(Option::is_some) => {
            let name = signal.map(|s| s.unwrap_or("signal")).unwrap_or("signal");
            starting.abort();
            eprintln!("flux-sim: {name} during start-up: stopping");
            return Ok(());
        }
    };
    let scenario = &serving.scenario;
    println!(
        "flux-sim: scenario {} (Flux {}, seed {}), time scale {}x, started at scenario time {}",
        scenario.name,
        scenario.flux_version,
        scenario.seed,
        time_scale,
        model::format_go_duration(start_at)
    );
    println!("  Kubernetes API:          {}", serving.api_url);
    println!(
        "  kubeconfig:              {}",
        serving.kubeconfig.display()
    );
    for (controller, addr) in &serving.metrics.controllers {
        println!("  metrics {controller:<27} http://{addr}/metrics");
    }
    if let Some(ksm) = serving.metrics.kube_state_metrics {
        println!("  kube-state-metrics:          http://{ksm}/metrics");
    }
    if let Some(op) = serving.metrics.flux_operator {
        println!("  flux-operator:               http://{op}/metrics");
    }
    match (&serving.notification_controller, &serving.event_address) {
        (Some(nc), _) => println!("  notification-controller:     {nc} (events are posted here)"),
        (None, Some(address)) => println!("  events posted to:            {}", notify::redact_url(address)),
        (None, None) => println!("  events: recorded in the API only (--notify runs the notification-controller emulation)"),
    }
    println!(
        "  try: kubectl --kubeconfig {} get kustomizations -A",
        serving.kubeconfig.display()
    );
    if let Some(path) = &endpoints_out {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&serving.endpoints())?)
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("writing endpoints file {}", path.display()))?;
    }
    let _ = stop.wait_for(Option::is_some).await;
    eprintln!("flux-sim: stopping");
    serving.stop().await;
    drop(temporary);
    Ok(())
}

/// Watches SIGINT, SIGTERM and SIGHUP on a thread of its own, so that a busy runtime (seeding,
/// a start-up storm) cannot delay them: the receiver turns to the signal's name. If the
/// orderly stop has not ended the process within [`STOP_GRACE`] (or a second signal comes),
/// the thread removes `leftovers` and exits.
fn stop_signals(
    leftovers: Vec<PathBuf>,
) -> std::io::Result<tokio::sync::watch::Receiver<Option<&'static str>>> {
    let (tx, rx) = tokio::sync::watch::channel(None);
    crate::signals::spawn("flux-sim-signals", move |mut signals| async move {
        let name = signals.next().await;
        let _ = tx.send(Some(name));
        tokio::select! {
            () = tokio::time::sleep(STOP_GRACE) => {
                eprintln!("flux-sim: not stopped within {STOP_GRACE:?} of {name}: leaving now");
            }
            _ = signals.next() => {}
        }
        for path in &leftovers {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
        std::process::exit(130);
    })?;
    Ok(rx)
}
