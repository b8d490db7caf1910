//! Scenario files: YAML that says which Flux objects exist, which faults strike them when, and
//! what alerts and notifications must follow.

mod cluster;
pub mod file;
pub mod generate;
pub mod load;
pub mod model;
pub mod schema;
mod timeline;
mod validate;

pub use self::generate::generate;
pub use self::load::{load_dir_or_file, load_file, load_str, Diagnostic, ScenarioErrors};
pub use self::model::*;
pub use self::schema::json_schema;
pub use self::cluster::{CANARY_PROVIDER_TYPES, MAX_CANARY_NAME};
pub use self::validate::{default_interval, has_interval, DEFAULT_NAMESPACE};
