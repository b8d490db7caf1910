//! Scenario files: YAML that says which Flux objects exist, which faults strike them when, and
//! what alerts and notifications must follow.

pub mod model;

pub use self::model::*;
