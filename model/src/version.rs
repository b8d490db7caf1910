//! Flux release versions (`2.4`, `v2.9.4`) and the releases this build knows (model/data/flux.yaml).

use std::fmt;
use std::str::FromStr;

use crate::catalog;

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

    /// The oldest release the catalog describes.
    pub fn oldest() -> FluxVersion {
        catalog::releases()[0]
    }

    /// The newest release the catalog describes.
    pub fn newest() -> FluxVersion {
        *catalog::releases()
            .last()
            .expect("the catalog describes at least one release")
    }

    /// Every release the catalog describes, oldest first.
    pub fn all() -> Vec<FluxVersion> {
        catalog::releases().to_vec()
    }

    pub fn is_known(self) -> bool {
        catalog::releases().contains(&self)
    }

    /// True when this release is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= FluxVersion::new(major, minor)
    }

    /// The newest patch of this release the catalog describes (`2.9.4`).
    pub fn latest_patch(self) -> Option<&'static str> {
        catalog::release_data(self).map(|r| r.flux.as_str())
    }

    /// `MAJOR.MINOR`, optionally with a `v`, a patch level and a pre-release or build suffix
    /// (`v2.9.4`, `2.7.3-rc.1`), whether or not the catalog knows the release.
    pub fn parse_release(s: &str) -> Option<FluxVersion> {
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let t = t.split(['-', '+']).next().unwrap_or("");
        let mut parts = t.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        match (parts.next(), parts.next()) {
            (None, None) => {}
            (Some(patch), None) if patch.parse::<u32>().is_ok() => {}
            _ => return None,
        }
        Some(FluxVersion::new(major, minor))
    }
}

impl fmt::Display for FluxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid Flux version {0:?}: expected MAJOR.MINOR such as 2.9 or v2.9.4")]
    Syntax(String),
    #[error("unsupported Flux version {0}: this release knows Flux {old} to {new}", old = FluxVersion::oldest(), new = FluxVersion::newest())]
    Unsupported(String),
}

impl FromStr for FluxVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = FluxVersion::parse_release(s).ok_or_else(|| VersionError::Syntax(s.to_string()))?;
        if v.is_known() {
            Ok(v)
        } else {
            Err(VersionError::Unsupported(s.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_spellings() {
        assert_eq!(
            "2.4".parse::<FluxVersion>().unwrap(),
            FluxVersion::new(2, 4)
        );
        assert_eq!(
            "v2.5.0".parse::<FluxVersion>().unwrap(),
            FluxVersion::new(2, 5)
        );
        assert_eq!(
            "v2.7.3-rc.1".parse::<FluxVersion>().unwrap(),
            FluxVersion::new(2, 7)
        );
        assert_eq!(
            "v2.9.4".parse::<FluxVersion>().unwrap(),
            FluxVersion::new(2, 9)
        );
        assert_eq!(
            "2.8".parse::<FluxVersion>().unwrap(),
            FluxVersion::new(2, 8)
        );
    }

    #[test]
    fn knows_2_2_to_2_9() {
        assert_eq!(FluxVersion::oldest(), FluxVersion::new(2, 2));
        assert_eq!(FluxVersion::newest(), FluxVersion::new(2, 9));
        assert_eq!(FluxVersion::all().len(), 8);
        assert_eq!(FluxVersion::new(2, 9).latest_patch(), Some("2.9.4"));
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        assert!(matches!(
            "1.9".parse::<FluxVersion>(),
            Err(VersionError::Unsupported(_))
        ));
        let err = "2.10".parse::<FluxVersion>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unsupported Flux version 2.10: this release knows Flux 2.2 to 2.9"
        );
        assert!(matches!(
            "2.x".parse::<FluxVersion>(),
            Err(VersionError::Syntax(_))
        ));
        assert!(matches!(
            "2.4.1.1".parse::<FluxVersion>(),
            Err(VersionError::Syntax(_))
        ));
        assert!(matches!(
            "".parse::<FluxVersion>(),
            Err(VersionError::Syntax(_))
        ));
    }
}
