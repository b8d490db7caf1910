//! The command line: `kubectl flux-monitor` commands and flags, with kubectl's spellings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  every object read is Ready or Progressing
  1  problems found: an object is Failing, Stalled, Suspended, Stale or Unknown, or some kind
     or cluster could not be read (a warning names it), so health could not be confirmed
  2  could not tell: no kubeconfig, unknown context, unreachable or timed-out API server, no
     Flux kind served or readable at all, or a usage error";

/// Health of every Flux object: verdict, since when, and what blocks it.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl flux-monitor",
    bin_name = "kubectl flux-monitor",
    version,
    about,
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the cluster, as kubectl spells it. Only the commands that read a cluster take
/// these flags (status, version, check, events; lint and drill --cluster a subset of them).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster options")]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; several, comma-separated or repeated, for one view over many clusters.
    #[arg(long, value_delimiter = ',', value_name = "CONTEXT")]
    pub context: Vec<String>,
    /// Query every context of the kubeconfig in parallel (adds a CLUSTER column).
    #[arg(long, conflicts_with = "context")]
    pub all_contexts: bool,
    /// If present, the namespace scope for this request.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// How long to wait for each API request before giving up (kubectl's format: 5s, 1m; 0 waits forever).
    #[arg(long, default_value = "10s", value_parser = parse_request_timeout, value_name = "DURATION")]
    pub request_timeout: RequestTimeout,
}

/// `lint`'s cluster flags: it reads Alerts, Providers and objects from one cluster when no
/// manifests are given (every namespace, the first context named).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster options (read only when no manifests are given)")]
pub struct LintKubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to read Alerts, Providers and objects from.
    #[arg(long, value_delimiter = ',', value_name = "CONTEXT")]
    pub context: Vec<String>,
    /// How long to wait for each API request before giving up (kubectl's format: 5s, 1m; 0 waits forever).
    #[arg(long, default_value = "10s", value_parser = parse_request_timeout, value_name = "DURATION")]
    pub request_timeout: RequestTimeout,
}

impl LintKubeArgs {
    pub fn to_kube_args(&self) -> KubeArgs {
        KubeArgs {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            all_contexts: false,
            namespace: None,
            request_timeout: self.request_timeout,
        }
    }
}

// Parsed once per run: the size of the drill's flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every Flux object of every served kind: verdict, since when, message and what blocks it.
    #[command(after_help = EXIT_CODES_HELP)]
    Status(StatusArgs),
    /// Versions of the plugin, the API server and the Flux installed there.
    Version(VersionArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completion(CompletionArgs),
    /// Health checks for CI and cron: built-in checks, tuned and scoped by a checks file.
    #[command(after_help = CHECK_EXIT_CODES_HELP)]
    Check(CheckArgs),
    /// Static analysis of the alerting chain: Prometheus rules, Alertmanager routes, Flux Alerts and Providers.
    #[command(after_help = LINT_EXIT_CODES_HELP)]
    Lint(LintArgs),
    /// Print the recommended PrometheusRule for a Flux version (proven by scenarios/library).
    Rules(RulesArgs),
    /// Prove alerts offline: run scenarios in virtual time, test the rules with promtool, the
    /// routes with the Alertmanager config and Flux notifications with the emulation.
    #[command(after_help = TEST_EXIT_CODES_HELP)]
    Test(TestArgs),
    /// Live alert-fire drill: flux-sim, a real Prometheus and a real Alertmanager (time
    /// compressed), capture sinks for every receiver and Provider; each expectation hop by hop.
    #[command(after_help = DRILL_EXIT_CODES_HELP)]
    Drill(DrillArgs),
    /// Events of Flux objects, newest last, as `kubectl events` shows them (secrets withheld).
    #[command(after_help = EVENTS_EXIT_CODES_HELP)]
    Events(EventsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// List objects across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector to filter on (e.g. -l app=podinfo,tier!=cache).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Only these kinds (Kind, plural, singular or short name as kubectl accepts them); repeat or comma-separate.
    #[arg(long = "kind", value_delimiter = ',', value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Only show objects with a problem (not Ready and not Progressing).
    #[arg(long)]
    pub problems: bool,
    /// An object is Stale when it lags for longer than this many times its interval.
    #[arg(long, default_value_t = 3.0, value_name = "K", value_parser = parse_stale_factor)]
    pub stale_factor: f64,
    /// Prometheus base URL (e.g. http://localhost:9090) to read the last reconcile time and
    /// duration from gotk_reconcile_duration_seconds; Stale when no reconcile for K intervals.
    #[arg(long, value_name = "URL", value_parser = parse_prometheus_url)]
    pub prometheus_url: Option<String>,
    /// After listing, watch every served kind and redraw as objects change.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// How far back Warning events count against an Alert or Provider (which have no status).
    #[arg(long, default_value = "1h", value_parser = parse_notification_window, value_name = "DURATION")]
    pub notification_window: Duration,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Only print the plugin version; do not contact the cluster.
    #[arg(long)]
    pub client: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<VersionFormat>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VersionFormat {
    Json,
    Yaml,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

// ---- check and lint ----

pub const CHECK_EXIT_CODES_HELP: &str = "\
Exit status:
  0  every check passed
  1  a check failed
  2  could not tell: no kubeconfig, unreachable API server, unreadable or invalid checks file,
     or a check that could not be evaluated (and none failed)";

pub const LINT_EXIT_CODES_HELP: &str = "\
Exit status:
  0  no findings at or above --fail-on (default warning; info never fails unless asked)
  1  findings at or above --fail-on
  2  an input could not be read or parsed (the message names FILE:LINE), or a usage error";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    Junit,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// A checks file (YAML) that tunes, scopes or disables the built-in checks; see CHECKS.md.
    #[arg(long, value_name = "FILE")]
    pub checks: Option<PathBuf>,
    /// Check objects across all namespaces (the default unless -n names one).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only objects with these labels (e.g. -l tier=infra).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: CheckFormat,
    /// Also write the JUnit XML report to this file (whatever -o says).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// How far back Warning events count against an Alert or Provider (notification coverage).
    #[arg(long, default_value = "1h", value_parser = parse_notification_window, value_name = "DURATION")]
    pub notification_window: Duration,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    /// Files or directories to lint; each YAML document is recognised by its content (rule
    /// groups, an Alertmanager configuration, Flux Alerts/Providers).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// PrometheusRule objects or plain rule files (files or directories; repeatable).
    #[arg(long = "rules", value_name = "FILE|DIR", num_args = 1.., action = clap::ArgAction::Append)]
    pub rules: Vec<PathBuf>,
    /// An Alertmanager configuration file (alertmanager.yml).
    #[arg(long, value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,
    /// Flux Alert and Provider manifests (files or directories; repeatable). Without them the
    /// Alerts and Providers are read from the cluster, when one is reachable.
    #[arg(long = "flux-manifests", value_name = "FILE|DIR", num_args = 1.., action = clap::ArgAction::Append)]
    pub flux_manifests: Vec<PathBuf>,
    /// The Flux version to lint for (e.g. 2.7); default: the cluster's, else the newest known.
    #[arg(long, value_name = "VERSION", value_parser = parse_lint_flux_version)]
    pub flux_version: Option<model::FluxVersion>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: LintFormat,
    /// The lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value = "warning")]
    pub fail_on: FailOn,
    /// Explain a rule (FM001...), or list them all when no ID is given.
    #[arg(long, value_name = "ID", num_args = 0..=1, default_missing_value = "")]
    pub explain: Option<String>,
    /// Instead of findings: for every Flux object (from the manifests, else the cluster), which
    /// alert rule fires when it fails, is suspended or goes stale, the receiver it reaches, and
    /// the Flux Alerts that notify; exit 1 when some object is heard by no one.
    #[arg(long)]
    pub coverage: bool,
    #[command(flatten)]
    pub kube: LintKubeArgs,
}

fn parse_lint_flux_version(s: &str) -> Result<model::FluxVersion, String> {
    s.parse().map_err(|e: model::version::VersionError| e.to_string())
}

/// A request timeout; `None` waits forever (`--request-timeout 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// kubectl's `--request-timeout`: a bare number of seconds or a Go duration (`5s`, `1m30s`); 0 disables it.
pub fn parse_request_timeout(s: &str) -> Result<RequestTimeout, String> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => model::parse_go_duration(s.trim())
            .map_err(|e| format!("{e}; expected seconds or a duration such as 5s or 1m"))?,
    };
    Ok(RequestTimeout((!d.is_zero()).then_some(d)))
}

fn parse_stale_factor(s: &str) -> Result<f64, String> {
    // Past 1000 intervals a lookback window no longer fits a duration.
    match s.parse::<f64>() {
        Ok(k) if k.is_finite() && k > 0.0 && k <= 1000.0 => Ok(k),
        _ => Err(format!("{s:?} is not a number from 0 to 1000")),
    }
}

/// An http(s) URL with a host, as Prometheus is reached; anything else is a usage error.
fn parse_prometheus_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|_| format!("{s:?} is not a URL: give one such as http://localhost:9090"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?} is not an http(s) URL with a host: give one such as http://localhost:9090"
        )),
    }
}

// ---- rules and test ----

pub const TEST_EXIT_CODES_HELP: &str = "\
Exit status:
  0  every expectation of every scenario passed
  1  an expectation failed (each FAIL line says why)
  2  an input could not be read or parsed (FILE:LINE: message), promtool or amtool missing, or a usage error";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// A PrometheusRule object (monitoring.coreos.com/v1), for the Prometheus Operator.
    Yaml,
    /// A plain Prometheus rule file (`groups:`), for rule_files and promtool.
    RuleFile,
}

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// The Flux release the rules target (2.2 to 2.9; v2.9.4 works too).
    #[arg(long, default_value_t = model::FluxVersion::newest(), value_parser = parse_flux_version, value_name = "VERSION")]
    pub flux_version: model::FluxVersion,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: RulesFormat,
    /// Base of the runbook_url annotations (each alert appends #<alertname in lowercase>).
    #[arg(long, value_name = "URL")]
    pub runbook_url_base: Option<String>,
    /// Where the rules read each Flux object's state: kube-state-metrics (gotk_resource_info,
    /// flux2-monitoring-example's config) or the Flux Operator (flux_resource_info).
    #[arg(long, value_enum, default_value = "kube-state-metrics")]
    pub metrics_source: crate::rules::MetricsSource,
    /// FluxMonitorDrillNotRunning fires when no scheduled drill has pushed for this long (the
    /// drills' schedule plus a margin; default: weekly plus a day).
    #[arg(long, default_value = "192h", value_parser = parse_notification_window, value_name = "DURATION")]
    pub drill_stale_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    Text,
    Junit,
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// A scenario file, or a directory searched recursively for Scenario documents.
    #[arg(long, value_name = "FILE|DIR")]
    pub scenarios: PathBuf,
    /// Prometheus rule files or PrometheusRule objects (multi-document YAML); repeat for several.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Alertmanager configuration: every expected alert with a receiver is routed through it.
    #[arg(long, value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,
    /// Flux Alert/Provider manifests for notification expectations (default: the scenario's own).
    #[arg(long, num_args = 1.., value_name = "FILE|DIR")]
    pub flux_manifests: Vec<PathBuf>,
    /// Run every scenario as this Flux release instead of the one it declares.
    #[arg(long, value_parser = parse_flux_version, value_name = "VERSION")]
    pub flux_version: Option<model::FluxVersion>,
    /// Serve the per-object state metrics from these instead of what each scenario declares:
    /// kube-state-metrics (gotk_resource_info) and/or flux-operator (flux_resource_info).
    #[arg(long, value_delimiter = ',', value_parser = parse_resource_metrics, value_name = "SOURCE")]
    pub resource_metrics: Vec<simulator::scenario::ResourceMetrics>,
    /// Output format on stdout (junit: the JUnit XML report).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TestFormat,
    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Leave the generated promtool files in this directory.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// promtool to evaluate the rules with (default: PATH, then the cache of `make upstream`).
    #[arg(long, env = "PROMTOOL", value_name = "PATH")]
    pub promtool: Option<PathBuf>,
    /// amtool to route alerts with (default: PATH, then the cache of `make upstream`).
    #[arg(long, env = "AMTOOL", value_name = "PATH")]
    pub amtool: Option<PathBuf>,
}

// ---- drill ----

pub const DRILL_EXIT_CODES_HELP: &str = "\
Exit status:
  0  every expectation of every scenario passed
  1  an expectation failed (each FAIL line says why, hop by hop)
  2  an input could not be read or parsed, Prometheus or Alertmanager missing or failing to
     start, interrupted (Ctrl-C, SIGTERM: everything it started is stopped and removed first),
     or a usage error";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrillFormat {
    Text,
    Json,
    Junit,
}

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["local", "cluster", "print_cronjob"])))]
pub struct DrillArgs {
    /// Drill locally: flux-sim in-process, Prometheus and Alertmanager spawned on 127.0.0.1.
    #[arg(long)]
    pub local: bool,
    /// A scenario file, or a directory searched recursively for Scenario documents.
    #[arg(long, value_name = "FILE|DIR", required_unless_present = "cleanup")]
    pub scenarios: Option<PathBuf>,
    /// Prometheus rule files or PrometheusRule objects (multi-document YAML); repeat for several.
    /// With --cluster: the rules the cluster's Prometheus must have loaded (checked per alert).
    #[arg(long, required_if_eq("local", "true"), num_args = 1.., value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Alertmanager configuration; its receivers are pointed at the drill's capture sink.
    #[arg(long, value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,
    /// Flux Alert/Provider manifests, applied instead of the scenario's own.
    #[arg(long, num_args = 1.., value_name = "FILE|DIR")]
    pub flux_manifests: Vec<PathBuf>,
    /// Scenario seconds per wall second; `for`, range windows and Alertmanager timers are divided by it.
    #[arg(long, default_value_t = 60.0, value_name = "N")]
    pub time_scale: f64,
    /// Run every scenario as this Flux release instead of the one it declares.
    #[arg(long, value_parser = parse_flux_version, value_name = "VERSION")]
    pub flux_version: Option<model::FluxVersion>,
    /// Serve the per-object state metrics from these instead of what each scenario declares:
    /// kube-state-metrics (gotk_resource_info) and/or flux-operator (flux_resource_info).
    #[arg(long, value_delimiter = ',', value_parser = parse_resource_metrics, value_name = "SOURCE")]
    pub resource_metrics: Vec<simulator::scenario::ResourceMetrics>,
    /// Output format on stdout (progress goes to stderr).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: DrillFormat,
    /// Also write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Stop each scenario's run after this much wall time (e.g. 30s) and judge what was seen.
    #[arg(long, value_parser = parse_drill_timeout, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Prometheus to run (default: PATH, then the cache of `make upstream`).
    #[arg(long, env = "PROMETHEUS", value_name = "PATH")]
    pub prometheus: Option<PathBuf>,
    /// Alertmanager to run (default: `alertmanager` or Debian's `prometheus-alertmanager` on PATH,
    /// then the cache of `make upstream`).
    #[arg(long, env = "ALERTMANAGER", value_name = "PATH")]
    pub alertmanager: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterDrillArgs,
}

/// `drill --cluster`, `--cleanup` and `--print-cronjob`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster drills (--cluster, --print-cronjob)")]
pub struct ClusterDrillArgs {
    /// Drill the cluster of the kubeconfig: create canary Flux objects, break them the way real
    /// Flux notices, follow each alert through the cluster's own Prometheus, Alertmanager and
    /// notification-controller, then delete the canaries (also on failure, timeout and Ctrl-C).
    #[arg(long)]
    pub cluster: bool,
    /// With --cluster: run no drill; delete what earlier drills left (every object labelled
    /// app.kubernetes.io/managed-by=flux-monitor, or only --run-id's) and restore what they touched.
    #[arg(long, requires = "cluster")]
    pub cleanup: bool,
    /// Print the manifests of a scheduled drill (ServiceAccount, Role, RoleBinding, ConfigMap
    /// with the scenarios, CronJob) for `kubectl apply -f -`.
    #[arg(long)]
    pub print_cronjob: bool,
    /// Prometheus' base URL (e.g. https://prometheus.example.com).
    #[arg(long, value_name = "URL", conflicts_with = "prometheus_service")]
    pub prometheus_url: Option<String>,
    /// Prometheus' Service, reached through the API server's service proxy (no port-forward).
    #[arg(long, value_name = "NS/NAME:PORT", value_parser = parse_service_ref)]
    pub prometheus_service: Option<ServiceRef>,
    /// Alertmanager's base URL.
    #[arg(long, value_name = "URL", conflicts_with = "alertmanager_service")]
    pub alertmanager_url: Option<String>,
    /// Alertmanager's Service, reached through the API server's service proxy.
    #[arg(long, value_name = "NS/NAME:PORT", value_parser = parse_service_ref)]
    pub alertmanager_service: Option<ServiceRef>,
    /// Push each scenario's result to this Pushgateway (success, last run, last success, seconds per hop).
    #[arg(long, value_name = "URL")]
    pub pushgateway_url: Option<String>,
    /// A file holding the bearer token sent to --prometheus-url (hosted Prometheus).
    #[arg(long, value_name = "FILE")]
    pub prometheus_token_file: Option<PathBuf>,
    /// A file holding the bearer token sent to --alertmanager-url.
    #[arg(long, value_name = "FILE")]
    pub alertmanager_token_file: Option<PathBuf>,
    /// PEM certificates to trust for the URLs given (besides the system's), e.g. a private CA.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow faults on objects the drill did not create (`existing:` in spec.cluster: suspend,
    /// reconcile); they are restored afterwards.
    #[arg(long)]
    pub touch_existing: bool,
    /// The run id labelling the canaries (default: random); with --cleanup, only this run's.
    #[arg(long, value_name = "ID", value_parser = parse_run_id)]
    pub run_id: Option<String>,
    /// Where the drill's sink for canary Providers (and any receiver pointed at it) listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub sink_listen: std::net::SocketAddr,
    /// The sink's address as notification-controller reaches it (default: the listen address
    /// when the API server is on this machine, http://$POD_IP:PORT inside a pod).
    #[arg(long, value_name = "URL")]
    pub sink_address: Option<String>,
    /// --print-cronjob: when the drill runs (cron syntax, the CronJob's timezone).
    #[arg(long, value_name = "CRON", default_value = "17 6 * * 1", requires = "print_cronjob")]
    pub schedule: String,
    /// --print-cronjob: the image holding kubectl-flux_monitor (the Dockerfile builds it).
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_DRILL_IMAGE, requires = "print_cronjob")]
    pub image: String,
    #[command(flatten)]
    pub kube: DrillKubeArgs,
}

/// The image `--print-cronjob` names unless `--image` says otherwise.
pub const DEFAULT_DRILL_IMAGE: &str = concat!("ghcr.io/flux-monitor/kubectl-flux_monitor:v", env!("CARGO_PKG_VERSION"));

/// `drill --cluster`'s cluster flags: one context.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster options (--cluster)")]
pub struct DrillKubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config; in a pod, its ServiceAccount).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to drill.
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// The namespace of every canary (default: each resource's namespace in the scenario).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// How long to wait for each API request before giving up (kubectl's format: 5s, 1m; 0 waits forever).
    #[arg(long, default_value = "10s", value_parser = parse_request_timeout, value_name = "DURATION")]
    pub request_timeout: RequestTimeout,
}

impl DrillKubeArgs {
    pub fn to_kube_args(&self) -> KubeArgs {
        KubeArgs {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.iter().cloned().collect(),
            all_contexts: false,
            namespace: self.namespace.clone(),
            request_timeout: self.request_timeout,
        }
    }
}

/// A Service reached through the API server's proxy: namespace, `[scheme:]name` and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    /// `http` or `https`, when given.
    pub scheme: Option<String>,
    pub name: String,
    pub port: String,
}

impl ServiceRef {
    /// The API path of the proxy, without a trailing slash.
    pub fn proxy_path(&self) -> String {
        let scheme = self.scheme.as_ref().map(|s| format!("{s}:")).unwrap_or_default();
        format!(
            "/api/v1/namespaces/{}/services/{scheme}{}:{}/proxy",
            self.namespace, self.name, self.port
        )
    }

    /// The Service's address inside the cluster (`http://NAME.NS.svc:PORT`).
    pub fn in_cluster_url(&self) -> String {
        let scheme = self.scheme.as_deref().unwrap_or("http");
        format!("{scheme}://{}.{}.svc:{}", self.name, self.namespace, self.port)
    }
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.scheme.as_ref().map(|s| format!("{s}:")).unwrap_or_default();
        write!(f, "{}/{scheme}{}:{}", self.namespace, self.name, self.port)
    }
}

/// `NS/NAME:PORT` or `NS/https:NAME:PORT` (the port a number or a port name).
pub fn parse_service_ref(s: &str) -> Result<ServiceRef, String> {
    let bad = || format!("{s:?} is not NAMESPACE/NAME:PORT (e.g. monitoring/prometheus-operated:9090)");
    let (namespace, rest) = s.trim().split_once('/').ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (scheme, name, port) = match parts.as_slice() {
        [name, port] => (None, *name, *port),
        [scheme @ ("http" | "https"), name, port] => (Some(scheme.to_string()), *name, *port),
        _ => return Err(bad()),
    };
    let dns = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !dns(namespace) || !dns(name) || !(dns(port) || port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty()) {
        return Err(bad());
    }
    Ok(ServiceRef {
        namespace: namespace.into(),
        scheme,
        name: name.into(),
        port: port.into(),
    })
}

/// A run id: 1 to 8 lowercase letters and digits (it becomes part of object names and labels).
fn parse_run_id(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 8 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?}: a run id is 1 to 8 lowercase letters and digits"))
    }
}

/// Flags of `drill` that only `--local` uses.
const LOCAL_DRILL_ARGS: &[&str] = &["time_scale", "flux_manifests", "flux_version", "resource_metrics", "alertmanager_config", "prometheus", "alertmanager"];

/// Parses the command line. `drill --local --help` does not list the cluster flags, and
/// `drill --cluster --help` not the local ones, so each help says what that drill takes.
pub fn parse() -> Cli {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let words: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    let mut cmd = Cli::command();
    if words.contains(&"drill") {
        let local = words.contains(&"--local");
        let clustered = words.contains(&"--cluster") || words.contains(&"--print-cronjob");
        let hidden: Vec<String> = if local && !clustered {
            let drill = cmd.find_subcommand("drill").expect("drill exists");
            let mut c = clap::Command::new("x");
            c = ClusterDrillArgs::augment_args(c);
            let ids: Vec<String> = c.get_arguments().map(|a| a.get_id().to_string()).collect();
            ids.into_iter()
                .filter(|id| drill.get_arguments().any(|a| a.get_id() == id.as_str()))
                .collect()
        } else if clustered && !local {
            LOCAL_DRILL_ARGS.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        };
        cmd = cmd.mut_subcommand("drill", |mut d| {
            for id in &hidden {
                if d.get_arguments().any(|a| a.get_id() == id.as_str()) {
                    d = d.mut_arg(id.as_str(), |a| a.hide(true));
                }
            }
            d
        });
    }
    let matches = cmd.get_matches_from(argv);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn parse_drill_timeout(s: &str) -> Result<Duration, String> {
    model::parse_go_duration(s.trim()).map_err(|e| format!("{e}; expected a duration such as 30s or 2m"))
}

fn parse_resource_metrics(s: &str) -> Result<simulator::scenario::ResourceMetrics, String> {
    simulator::scenario::ResourceMetrics::from_name(s.trim())
        .ok_or_else(|| format!("{s:?} is not kube-state-metrics or flux-operator"))
}

fn parse_flux_version(s: &str) -> Result<model::FluxVersion, String> {
    s.parse::<model::FluxVersion>().map_err(|e| e.to_string())
}

// ---- events ----

pub const EVENTS_EXIT_CODES_HELP: &str = "\
Exit status:
  0  the events were listed (none found is not an error)
  2  could not list them: no kubeconfig, unreachable API server, events not readable, or a
     usage error (an unknown kind in --for, a type other than Normal or Warning)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Only the events of this object (Kind/name, or Kind for every object of a kind; Flux's short
    /// names and plurals work), and of the objects it reads from (source, chart, image
    /// repository, Provider), as `flux events --for` shows them.
    #[arg(long = "for", value_name = "KIND[/NAME]")]
    pub for_object: Option<String>,
    /// Events across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only events of these types (Normal, Warning); repeat or comma-separate.
    #[arg(long, value_delimiter = ',', value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only events seen within this long (e.g. 30m, 2h).
    #[arg(long, value_parser = parse_notification_window, value_name = "DURATION")]
    pub since: Option<Duration>,
    /// After listing, print new events as they arrive, until Ctrl-C.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: EventsFormat,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// A positive duration in Go's or kubectl's spelling (`90s`, `30m`, `1h30m`).
fn parse_notification_window(s: &str) -> Result<Duration, String> {
    match model::parse_go_duration(s.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be longer than 0s".into()),
        Err(e) => Err(format!("{e}; expected a duration such as 30m or 2h")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn request_timeout_in_kubectl_format() {
        let t = |s: &str| parse_request_timeout(s).unwrap().0;
        assert_eq!(t("5s"), Some(Duration::from_secs(5)));
        assert_eq!(t("7"), Some(Duration::from_secs(7)));
        assert_eq!(t("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(t("0"), None);
        assert!(parse_request_timeout("soon").is_err());
    }

    #[test]
    fn contexts_split_on_commas() {
        let cli = Cli::try_parse_from([
            "k",
            "status",
            "--context",
            "a,b",
            "--context",
            "c",
            "--kind",
            "ks,hr",
        ])
        .unwrap();
        let Command::Status(s) = cli.command else {
            panic!()
        };
        assert_eq!(s.kube.context, ["a", "b", "c"]);
        assert_eq!(s.kinds, ["ks", "hr"]);
    }
}
