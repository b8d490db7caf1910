//! Which Flux kinds, at which versions, a cluster serves: `/apis`, then each Flux group's
//! versions in parallel. A kind with no CRD is skipped; a group that fails marks its kinds unreadable.

use futures::future::join_all;
use kube::discovery::ApiResource;
use model::kinds::{KindInfo, KINDS};

use crate::cluster::{CallError, Cluster, ClusterError};

/// A Flux kind the cluster serves, at the version we read it with.
#[derive(Debug, Clone)]
pub struct ServedKind {
    pub info: &'static KindInfo,
    /// The highest-priority version serving this kind.
    pub version: String,
    /// Every version serving it, in Kubernetes' priority order.
    pub served: Vec<String>,
}

impl PartialEq for ServedKind {
    fn eq(&self, other: &Self) -> bool {
        self.info.kind == other.info.kind && self.version == other.version
    }
}

impl ServedKind {
    pub fn kind(&self) -> &'static str {
        self.info.kind
    }

    pub fn api_version(&self) -> String {
        format!("{}/{}", self.info.group, self.version)
    }

    /// The collection path, in one namespace or across all.
    pub fn list_path(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!(
                "/apis/{}/{}/namespaces/{ns}/{}",
                self.info.group, self.version, self.info.plural
            ),
            None => format!(
                "/apis/{}/{}/{}",
                self.info.group, self.version, self.info.plural
            ),
        }
    }

    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.info.group.to_string(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.info.kind.to_string(),
            plural: self.info.plural.to_string(),
        }
    }
}

/// A kind that exists but could not be read, with the error to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub kind: String,
    pub error: String,
}

#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Served kinds in catalog (`flux get all`) order.
    pub kinds: Vec<ServedKind>,
    pub unreadable: Vec<Unreadable>,
}

impl Discovered {
    pub fn get(&self, kind: &str) -> Option<&ServedKind> {
        self.kinds.iter().find(|k| k.info.kind == kind)
    }
}

fn flux_groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = KINDS.iter().map(|k| k.group).collect();
    groups.dedup();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Discovers the served Flux kinds. Fails only when the cluster cannot be reached at all.
pub async fn discover(cluster: &Cluster) -> Result<Discovered, ClusterError> {
    let groups = match cluster
        .call("API discovery", cluster.client.list_api_groups())
        .await
    {
        Ok(g) => g,
        Err(CallError::Cluster(e)) => return Err(e),
        Err(CallError::Api { message, .. }) => {
            return Err(ClusterError::Refused {
                server: cluster.server.clone(),
                what: "API discovery (/apis)".into(),
                reason: message,
            })
        }
    };
    let wanted = flux_groups();
    // (group, versions preferred first)
    let mut group_versions: Vec<(String, Vec<String>)> = Vec::new();
    for g in groups
        .groups
        .into_iter()
        .filter(|g| wanted.contains(&g.name.as_str()))
    {
        // Per kind, the highest-priority version serving it, as the API server itself orders a
        // group's CRD versions (the group's preferredVersion may not serve every kind).
        let mut versions: Vec<String> = g.versions.into_iter().map(|v| v.version).collect();
        versions.sort_by_key(|v| model::kinds::version_priority(v));
        group_versions.push((g.name, versions));
    }

    let lookups = group_versions.iter().flat_map(|(group, versions)| {
        versions.iter().map(move |v| async move {
            let gv = format!("{group}/{v}");
            let res = cluster
                .call(
                    "API discovery",
                    cluster.client.list_api_group_resources(&gv),
                )
                .await;
            (group.as_str(), v.as_str(), res)
        })
    });
    let answers = join_all(lookups).await;

    let mut out = Discovered::default();
    for info in KINDS.iter() {
        let Some((_, versions)) = group_versions.iter().find(|(g, _)| g == info.group) else {
            continue;
        };
        let mut failure = None;
        let served: Vec<String> = versions
            .iter()
            .filter(|v| {
                answers.iter().any(|(g, ver, res)| {
                    *g == info.group
                        && ver == v
                        && match res {
                            Ok(list) => list
                                .resources
                                .iter()
                                .any(|r| r.name == info.plural && r.kind == info.kind),
                            Err(e) => {
                                failure.get_or_insert_with(|| e.to_string());
                                false
                            }
                        }
                })
            })
            .cloned()
            .collect();
        match (served.first(), failure) {
            (Some(v), _) => out.kinds.push(ServedKind {
                info,
                version: v.clone(),
                served,
            }),
            (None, Some(error)) => out.unreadable.push(Unreadable {
                kind: info.kind.to_string(),
                error,
            }),
            (None, None) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_api_layout() {
        let k = ServedKind {
            info: model::kinds::by_kind("Kustomization").unwrap(),
            version: "v1".into(),
            served: vec!["v1".into()],
        };
        assert_eq!(
            k.list_path(None),
            "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"
        );
        assert_eq!(
            k.list_path(Some("apps")),
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations"
        );
        // source, source.extensions (ArtifactGenerator), image, helm, kustomize, notification
        assert_eq!(flux_groups().len(), 6);
    }
}
