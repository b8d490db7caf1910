//! `kubectl-flux_monitor`, run by kubectl as `kubectl flux-monitor`: parse, run the command,
//! map the outcome to the exit status (0 healthy, 1 problems, 2 could not tell).

use std::process::ExitCode;

use flux_monitor::cli::{self, Command};
use flux_monitor::{check, completion, drill, events, lint, rules, status, test_cmd, version};

fn main() -> ExitCode {
    let cli = cli::parse();
    // One TLS provider for kube and reqwest: ring. Fails only if one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Command::Completion(args) = &cli.command {
        completion::write(args.shell, &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    // Offline commands: no cluster, no async runtime.
    match &cli.command {
        Command::Rules(args) => return ExitCode::from(rules::run(args, &mut std::io::stdout()).unwrap_or(2)),
        Command::Test(args) => return ExitCode::from(test_cmd::run(args)),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Status(args) => status::run(&args.kube, args).await.map(|h| h.code()),
            Command::Version(args) => version::run(&args.kube, args).await,
            Command::Completion(_) | Command::Rules(_) | Command::Test(_) => Ok(0),
            Command::Check(args) => check::run(&args.kube, args).await,
            Command::Lint(args) => lint::run(&args.kube.to_kube_args(), args).await,
            Command::Drill(args) => Ok(drill::run(args).await),
            Command::Events(args) => events::run(&args.kube, args).await,
        }
    });
    // Watchers and pooled connections may still be running; do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
