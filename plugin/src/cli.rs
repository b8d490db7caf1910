//! The command line: `kubectl flux-monitor` commands and flags, with kubectl's spellings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the cluster, as kubectl spells it.
#[derive(Debug, Clone, Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; several, comma-separated or repeated, for one view over many clusters.
    #[arg(long, global = true, value_delimiter = ',', value_name = "CONTEXT")]
    pub context: Vec<String>,
    /// Query every context of the kubeconfig in parallel (adds a CLUSTER column).
    #[arg(long, global = true, conflicts_with = "context")]
    pub all_contexts: bool,
    /// If present, the namespace scope for this request.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// How long to wait for each API request before giving up (kubectl's format: 5s, 1m; 0 waits forever).
    #[arg(long, global = true, default_value = "10s", value_parser = parse_request_timeout, value_name = "DURATION")]
    pub request_timeout: RequestTimeout,
}

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
}

#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Only print the plugin version; do not contact the cluster.
    #[arg(long)]
    pub client: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<VersionFormat>,
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
pub struct DrillArgs {
    /// Drill locally: flux-sim in-process, Prometheus and Alertmanager spawned on 127.0.0.1.
    #[arg(long, required = true)]
    pub local: bool,
    /// A scenario file, or a directory searched recursively for Scenario documents.
    #[arg(long, value_name = "FILE|DIR")]
    pub scenarios: PathBuf,
    /// Prometheus rule files or PrometheusRule objects (multi-document YAML); repeat for several.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
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
        assert_eq!(cli.kube.context, ["a", "b", "c"]);
        let Command::Status(s) = cli.command else {
            panic!()
        };
        assert_eq!(s.kinds, ["ks", "hr"]);
    }
}
