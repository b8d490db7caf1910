//! The errors a command can end with, each worded so the user knows what to do, and the exit
//! status they imply (always 2: could not tell).

use crate::cluster::ClusterError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("unknown kind {0:?}: expected a Flux kind as kubectl spells it, such as Kustomization, ks, helmreleases or gitrepository")]
    UnknownKind(String),
    /// An input file that cannot be read or parsed; the text names FILE[:LINE].
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// Every error means the command could not tell whether Flux is healthy.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
