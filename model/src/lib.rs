//! Flux domain model shared by `kubectl flux-monitor` and `flux-sim`: the kinds catalog per Flux
//! version, Go durations, and a read-only view over any Flux object. Nothing here does I/O.

pub mod catalog;
pub mod duration;
pub mod kinds;
pub mod managed_fields;
pub mod metrics;
pub mod notification;
pub mod object;
pub mod verdict;
pub mod version;

pub use duration::{format_go_duration, parse_go_duration, DurationError};
pub use kinds::{Controller, KindInfo, RevisionSource, KINDS};
pub use object::{Condition, FluxObject, ObjectRef};
pub use verdict::{judge, Judgement, NotificationEvidence, NotificationWarning, Verdict, VerdictInput};
pub use version::FluxVersion;
