//! `kubectl flux-monitor check`: built-in health checks for CI and cron.

pub mod install;

use crate::cli::{CheckArgs, KubeArgs};
use crate::error::Error;

pub async fn run(_kube: &KubeArgs, _args: &CheckArgs) -> Result<u8, Error> {
    Ok(2)
}
