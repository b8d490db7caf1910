//! Scenario files: YAML that says which Flux objects exist, which faults strike them when, and
//! what alerts and notifications must follow.

pub mod file;
pub mod load;
pub mod model;

pub use self::load::{
    default_interval, load_dir_or_file, load_file, load_str, Diagnostic, ScenarioErrors, DEFAULT_NAMESPACE,
};
pub use self::model::*;
