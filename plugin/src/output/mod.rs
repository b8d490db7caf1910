//! Renderers of the status report: table and wide in kubectl's layout, json and yaml as a
//! kubectl-style List. Each reads the same `Report`; none computes anything of its own.

pub mod expectations;
pub mod list;
pub mod table;

use crate::cli::OutputFormat;
use crate::status::report::Report;

/// Whether stdout gets colours: a terminal, and neither NO_COLOR nor CLICOLOR=0 set.
pub fn stdout_wants_color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// The whole rendering of a report for stdout.
pub fn render(report: &Report, format: OutputFormat, color: bool) -> String {
    match format {
        OutputFormat::Table => table::render(report, false, color),
        OutputFormat::Wide => table::render(report, true, color),
        OutputFormat::Json => list::json(report),
        OutputFormat::Yaml => list::yaml(report),
    }
}
