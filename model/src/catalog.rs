//! The per-release data of `data/flux.yaml`, read once: releases and their controllers, kinds with
//! their versions, names and printer columns, Provider types, Alert event source kinds and metric
//! families. `kinds`, `metrics`, `notification` and `version` answer questions from it; adding a
//! Flux release is an edit of the data file, not of this code.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::version::FluxVersion;

const DATA: &str = include_str!("../data/flux.yaml");

/// A set of releases written as in the data file: `2.3-`, `2.2-2.6`, `2.2`, or several
/// comma-separated. An open end takes in every later release, known or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Releases(Vec<(FluxVersion, Option<FluxVersion>)>);

impl Releases {
    pub fn parse(text: &str) -> Result<Releases, String> {
        let mut spans = Vec::new();
        for part in text.split(',').map(str::trim) {
            let parse = |s: &str| {
                FluxVersion::parse_release(s).ok_or_else(|| format!("{s:?} is not MAJOR.MINOR"))
            };
            let span = match part.split_once('-') {
                Some((from, "")) => (parse(from)?, None),
                Some((from, to)) => (parse(from)?, Some(parse(to)?)),
                None => (parse(part)?, Some(parse(part)?)),
            };
            if span.1.is_some_and(|to| to < span.0) {
                return Err(format!("release range {part:?} ends before it starts"));
            }
            spans.push(span);
        }
        Ok(Releases(spans))
    }

    pub fn contains(&self, release: FluxVersion) -> bool {
        self.0
            .iter()
            .any(|(from, to)| release >= *from && to.is_none_or(|to| release <= to))
    }

    /// The first release of the set.
    pub fn first(&self) -> Option<FluxVersion> {
        self.0.iter().map(|(from, _)| *from).min()
    }
}

impl<'de> Deserialize<'de> for Releases {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Releases::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A value that changes from release to release: `{2.2-2.6: a, 2.7-: b}`.
#[derive(Debug, Clone)]
pub struct ByRelease<T>(Vec<(Releases, T)>);

impl<T> ByRelease<T> {
    /// The value for `release`, when one range holds it.
    pub fn at(&self, release: FluxVersion) -> Option<&T> {
        self.0
            .iter()
            .find(|(r, _)| r.contains(release))
            .map(|(_, v)| v)
    }

    /// Every value whose range holds `release`, in order of the ranges' first release.
    pub fn all_at(&self, release: FluxVersion) -> impl Iterator<Item = &T> {
        self.0
            .iter()
            .filter(move |(r, _)| r.contains(release))
            .map(|(_, v)| v)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&Releases, &T)> {
        self.0.iter().map(|(r, v)| (r, v))
    }
}

impl<T> Default for ByRelease<T> {
    fn default() -> Self {
        ByRelease(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ByRelease<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, T>::deserialize(d)?;
        let mut entries = Vec::with_capacity(map.len());
        for (k, v) in map {
            entries.push((Releases::parse(&k).map_err(serde::de::Error::custom)?, v));
        }
        entries.sort_by_key(|(r, _)| r.first());
        Ok(ByRelease(entries))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseData {
    /// The newest patch described, e.g. `2.9.4`.
    pub flux: String,
    pub controller_runtime: String,
    pub controllers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerData {
    pub name: String,
    pub releases: Releases,
    pub concurrent: u32,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ColumnData {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub json_path: String,
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindVersionData {
    pub name: String,
    pub served: Releases,
    #[serde(default)]
    pub storage: Option<Releases>,
    #[serde(default)]
    pub deprecated: Option<Releases>,
    /// The status subresource (default true).
    #[serde(default)]
    pub status: Option<bool>,
    pub columns: ByRelease<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindData {
    pub kind: String,
    pub group: String,
    pub plural: String,
    pub controller: String,
    pub revision: String,
    #[serde(default)]
    pub refs: Vec<String>,
    #[serde(default)]
    pub source: bool,
    #[serde(default)]
    pub short_names: ByRelease<Vec<String>>,
    #[serde(default)]
    pub categories: ByRelease<Vec<String>>,
    pub versions: Vec<KindVersionData>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricData {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub help: String,
    pub labels: Vec<String>,
    /// kube-state-metrics, flux-operator or prometheus; absent for the controllers' own families.
    #[serde(default)]
    pub source: Option<String>,
    /// Emitting controller (or `all`) -> releases.
    #[serde(default)]
    pub controllers: BTreeMap<String, Releases>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CatalogData {
    pub releases: Vec<ReleaseData>,
    pub controllers: Vec<ControllerData>,
    pub columns: BTreeMap<String, ColumnData>,
    pub kinds: Vec<KindData>,
    pub alert_event_source_kinds: ByRelease<Vec<String>>,
    pub provider_types: ByRelease<Vec<String>>,
    pub metrics: Vec<MetricData>,
}

/// The data file, parsed. A malformed file is a build defect, caught by this module's tests.
pub static DATA_FILE: LazyLock<CatalogData> = LazyLock::new(|| {
    serde_saphyr::from_str(DATA).unwrap_or_else(|e| panic!("model/data/flux.yaml is invalid: {e}"))
});

/// Every release the data describes, oldest first.
pub fn releases() -> &'static [FluxVersion] {
    static RELEASES: LazyLock<Vec<FluxVersion>> = LazyLock::new(|| {
        let mut out: Vec<FluxVersion> = DATA_FILE
            .releases
            .iter()
            .map(|r| {
                FluxVersion::parse_release(&r.flux)
                    .unwrap_or_else(|| panic!("release {:?} in model/data/flux.yaml", r.flux))
            })
            .collect();
        out.sort();
        out
    });
    &RELEASES
}

/// The data of one release.
pub fn release_data(release: FluxVersion) -> Option<&'static ReleaseData> {
    DATA_FILE
        .releases
        .iter()
        .find(|r| FluxVersion::parse_release(&r.flux) == Some(release))
}

/// The version of `controller` that `release` ships (`v1.9.4`).
pub fn controller_version(release: FluxVersion, controller: &str) -> Option<&'static str> {
    release_data(release)?
        .controllers
        .get(controller)
        .map(String::as_str)
}

/// A printer column by its id in the data file.
pub fn column(id: &str) -> &'static ColumnData {
    DATA_FILE
        .columns
        .get(id)
        .unwrap_or_else(|| panic!("column {id:?} is not defined in model/data/flux.yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> FluxVersion {
        FluxVersion::new(2, minor)
    }

    #[test]
    fn ranges_read_as_written() {
        let r = Releases::parse("2.2-2.4,2.7-").unwrap();
        assert!(
            r.contains(v(2))
                && r.contains(v(4))
                && !r.contains(v(5))
                && r.contains(v(7))
                && r.contains(v(12))
        );
        assert!(Releases::parse("2.5").unwrap().contains(v(5)));
        assert!(!Releases::parse("2.5").unwrap().contains(v(6)));
        assert!(Releases::parse("2.6-2.4").is_err());
        assert!(Releases::parse("two").is_err());
    }

    #[test]
    fn the_data_file_is_consistent() {
        let data = &*DATA_FILE;
        assert!(!releases().is_empty());
        for r in &data.releases {
            for c in r.controllers.keys() {
                assert!(
                    data.controllers.iter().any(|d| &d.name == c),
                    "release {}: unknown controller {c}",
                    r.flux
                );
            }
        }
        for k in &data.kinds {
            assert!(
                data.controllers.iter().any(|c| c.name == k.controller),
                "{}: controller {}",
                k.kind,
                k.controller
            );
            for release in releases() {
                let served: Vec<_> = k
                    .versions
                    .iter()
                    .filter(|v| v.served.contains(*release))
                    .collect();
                if served.is_empty() {
                    continue;
                }
                let storage = served
                    .iter()
                    .filter(|v| v.storage.as_ref().is_some_and(|s| s.contains(*release)))
                    .count();
                assert_eq!(
                    storage, 1,
                    "{} in {release}: exactly one storage version",
                    k.kind
                );
                for ver in &served {
                    let cols = ver.columns.all_at(*release).count();
                    assert_eq!(
                        cols, 1,
                        "{} {} in {release}: one column list",
                        k.kind, ver.name
                    );
                    for id in ver.columns.at(*release).unwrap() {
                        column(id);
                    }
                }
                assert!(
                    k.short_names.all_at(*release).count() <= 1,
                    "{}: overlapping shortNames",
                    k.kind
                );
                assert!(
                    k.categories.all_at(*release).count() <= 1,
                    "{}: overlapping categories",
                    k.kind
                );
            }
        }
        for m in &data.metrics {
            assert!(
                m.source.is_some() == m.controllers.is_empty(),
                "{}: a source or controllers, not both",
                m.name
            );
            for c in m.controllers.keys() {
                assert!(
                    c == "all" || data.controllers.iter().any(|d| &d.name == c),
                    "{}: controller {c}",
                    m.name
                );
            }
        }
    }
}
