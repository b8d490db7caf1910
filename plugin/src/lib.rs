//! The library behind `kubectl-flux_monitor`: every command and the readers they share, so the
//! binary stays a thin front (parse arguments, run, map the outcome to an exit status) and the
//! parsers can be driven directly by tests and fuzz targets.

pub mod check;
pub mod cli;
pub mod cluster;
pub mod completion;
pub mod discovery;
pub mod drill;
pub mod error;
pub mod events;
pub mod lint;
pub mod output;
pub mod rules;
pub mod status;
pub mod test_cmd;
pub mod tools;
pub mod version;
pub mod watch;
