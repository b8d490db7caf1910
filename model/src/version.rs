//! Flux release versions (`2.4`, `v2.5.0`) and the range this project knows.

use std::fmt;
use std::str::FromStr;

/// A Flux minor release. Patch levels do not change the API surface or the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FluxVersion {
    pub major: u32,
    pub minor: u32,
}

impl FluxVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
    /// The oldest release whose API surface the catalog describes.
    pub const OLDEST: FluxVersion = FluxVersion::new(2, 2);
    /// The newest release the catalog describes.
    pub const NEWEST: FluxVersion = FluxVersion::new(2, 7);

    /// Every release the catalog describes, oldest first.
    pub fn all() -> Vec<FluxVersion> {
        (Self::OLDEST.minor..=Self::NEWEST.minor)
            .map(|m| FluxVersion::new(2, m))
            .collect()
    }

    pub fn is_known(self) -> bool {
        self >= Self::OLDEST && self <= Self::NEWEST
    }

    /// True when this release is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= FluxVersion::new(major, minor)
    }
}

impl fmt::Display for FluxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid Flux version {0:?}: expected MAJOR.MINOR such as 2.4 or v2.5.0")]
    Syntax(String),
    #[error("unsupported Flux version {0}: this release knows Flux {old} to {new}", old = FluxVersion::OLDEST, new = FluxVersion::NEWEST)]
    Unsupported(String),
}

impl FromStr for FluxVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let t = t.split(['-', '+']).next().unwrap_or("");
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| p.parse().ok());
        let patch_ok = parts.next().is_none_or(|p| p.parse::<u32>().is_ok());
        match (major, minor, patch_ok, parts.next()) {
            (Some(major), Some(minor), true, None) => {
                let v = FluxVersion::new(major, minor);
                if v.is_known() {
                    Ok(v)
                } else {
                    Err(VersionError::Unsupported(s.to_string()))
                }
            }
            _ => Err(VersionError::Syntax(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_spellings() {
        assert_eq!("2.4".parse::<FluxVersion>().unwrap(), FluxVersion::new(2, 4));
        assert_eq!("v2.5.0".parse::<FluxVersion>().unwrap(), FluxVersion::new(2, 5));
        assert_eq!("v2.7.3-rc.1".parse::<FluxVersion>().unwrap(), FluxVersion::new(2, 7));
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        assert!(matches!("1.9".parse::<FluxVersion>(), Err(VersionError::Unsupported(_))));
        assert!(matches!("2.x".parse::<FluxVersion>(), Err(VersionError::Syntax(_))));
        assert!(matches!("2.4.1.1".parse::<FluxVersion>(), Err(VersionError::Syntax(_))));
    }
}
