//! flux-sim: fakes Flux controllers. See `flux-sim --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use simulator::scenario;

/// Serving 100k objects allocates and frees a lot from many threads: mimalloc keeps the
/// resident set close to what is live, where the system allocator holds on to fragments.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "flux-sim", version, about = "Fakes Flux controllers: scenarios of failing, stalled, suspended, slow and stale Flux objects behind a Kubernetes API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenario files; prints every problem as FILE:LINE: message. Exit 2 on any error.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON schema of scenario files.
    Schema,
    /// Print a realistic scenario of about N objects across all Flux kinds (for scale tests).
    Generate {
        #[arg(long, value_parser = parse_objects)]
        objects: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Serve a scenario: embedded Kubernetes API (or a cluster) and fake controllers in real time.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The scenario file.
    #[arg(long)]
    scenario: PathBuf,
    /// Where the embedded Kubernetes API listens (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    api_addr: SocketAddr,
    /// Write a kubeconfig for the embedded API here (default: a temporary file, removed on exit).
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Write a JSON object naming every address (API URL, kubeconfig path) here, once serving.
    #[arg(long)]
    endpoints_out: Option<PathBuf>,
    /// Scenario seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    time_scale: f64,
    /// Simulate the scenario's first part in virtual time and start serving at this scenario time
    /// (a Go duration such as 1h), so objects start with history.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    start_at: std::time::Duration,
    /// Drive the Flux objects of a real cluster (Flux CRDs installed) instead of the embedded API.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Fault injection on the embedded API: RESOURCE[:CODE] answers every request with CODE
    /// (default 403), e.g. --deny helmreleases:403.
    #[arg(long, value_parser = parse_deny)]
    deny: Vec<(String, u16)>,
    /// Run the notification-controller emulation: controllers post their events to it, and it
    /// delivers them to the Providers of matching Alerts read from the API.
    #[arg(long)]
    notify: bool,
    /// Post events to this notification-controller address instead (e.g. a real one).
    #[arg(long, conflicts_with = "notify")]
    event_address: Option<String>,
    /// notification-controller's --rate-limit-interval.
    #[arg(long, default_value = "5m", value_parser = parse_rate_limit_interval)]
    rate_limit_interval: std::time::Duration,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    let (min, max) = simulator::controllers::TIME_SCALE_RANGE;
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("invalid time scale {s:?}: expected a number from {min} to {max}, such as 1 or 60")),
    }
}

/// notification-controller's rate limit interval: zero (no limit) up to a day.
fn parse_rate_limit_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d > std::time::Duration::from_secs(86_400) {
        return Err(format!("{s:?} is longer than the 24h this flag accepts"));
    }
    Ok(d)
}

/// generate's --objects: within what the generator makes and the simulator serves.
fn parse_objects(s: &str) -> Result<usize, String> {
    let (min, max) = (scenario::generate::MIN_OBJECTS, scenario::generate::MAX_OBJECTS);
    match s.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) if n < min => Err(format!(
            "{n} is fewer than the {min} objects of the generated platform (flux-system and one tenant): give {min} to {max}"
        )),
        Ok(_) => Err(format!("at most {max} objects can be generated")),
        Err(_) => Err(format!("{s:?} is not a number of objects: give {min} to {max}")),
    }
}

/// What clap cannot check alone: flags that depend on the scenario.
fn check_serve_args(args: &ServeArgs, scenario: &scenario::Scenario) -> Result<(), String> {
    if args.start_at > scenario.duration {
        let end = model::format_go_duration(scenario.duration);
        return Err(format!(
            "--start-at {} is past the end of scenario {} (duration {end}): give at most {end}",
            model::format_go_duration(args.start_at),
            scenario.name,
        ));
    }
    let served = simulator::serve::served_plurals(scenario);
    for (plural, _) in &args.deny {
        if !served.iter().any(|p| p == plural) {
            return Err(format!(
                "--deny {plural}: the embedded API serves no resource {plural:?}; use a plural such as kustomizations (served: {})",
                served.join(", ")
            ));
        }
    }
    Ok(())
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    model::parse_go_duration(s).map_err(|e| e.to_string())
}

fn parse_deny(s: &str) -> Result<(String, u16), String> {
    let (resource, code) = s.split_once(':').unwrap_or((s, "403"));
    let code: u16 = code.parse().map_err(|_| format!("invalid status code in {s:?}"))?;
    if !(400..600).contains(&code) {
        return Err(format!("status code {code} in {s:?} is not an error code (400-599)"));
    }
    Ok((resource.to_string(), code))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colour only for a terminal (and never with NO_COLOR): a log file or pipe gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FLUX_SIM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&scenario::json_schema()).expect("schema serializes"));
            ExitCode::SUCCESS
        }
        Command::Generate { objects, seed } => {
            print!("{}", scenario::generate(objects, seed));
            ExitCode::SUCCESS
        }
        Command::Serve(args) => serve(args),
    }
}

fn validate(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match scenario::load_file(file) {
            Ok(s) => println!(
                "{}: ok: scenario {} (Flux {}, {} resources, {} faults)",
                file.display(),
                s.name,
                s.flux_version,
                s.resources.len(),
                s.faults.len()
            ),
            Err(errors) => {
                failed = true;
                eprintln!("{errors}");
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let scenario = match scenario::load_file(&args.scenario) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = check_serve_args(&args, &scenario) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = simulator::serve::ServeOptions {
        scenario,
        api_addr: args.api_addr,
        kubeconfig_out: args.kubeconfig_out,
        endpoints_out: args.endpoints_out,
        time_scale: args.time_scale,
        start_at: args.start_at,
        kubeconfig: args.kubeconfig,
        deny: args.deny,
        notify: args.notify,
        event_address: args.event_address,
        rate_limit_interval: args.rate_limit_interval,
    };
    let result = runtime.block_on(simulator::serve::serve(opts));
    // A start-up stopped by a signal may leave seeding running on a blocking thread: do not wait.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
