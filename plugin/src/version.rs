//! `kubectl flux-monitor version`: the plugin's version, the API server's (/version), and the
//! Flux version installed, from the CRDs' `app.kubernetes.io/version` labels or, failing that,
//! guessed from the API versions the cluster serves.

use std::collections::BTreeMap;
use std::io::Write as _;

use model::kinds::KINDS;
use model::FluxVersion;
use serde_json::{json, Value};

use crate::cli::{KubeArgs, VersionArgs, VersionFormat};
use crate::cluster::{self, CallError, Cluster};
use crate::discovery::{self, Discovered};
use crate::error::Error;

pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How the Flux version was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FluxDetected {
    /// The most common `app.kubernetes.io/version` on CRDs labelled `app.kubernetes.io/part-of=flux`.
    Labels(String),
    /// The newest catalog release whose kinds are all served at its preferred versions.
    Guessed(FluxVersion),
    NotInstalled,
    Unknown,
}

impl FluxDetected {
    fn text(&self) -> String {
        match self {
            FluxDetected::Labels(v) => v.clone(),
            FluxDetected::Guessed(v) => format!("{v} (guessed from served API versions)"),
            FluxDetected::NotInstalled => "not installed".into(),
            FluxDetected::Unknown => "unknown".into(),
        }
    }

    fn json(&self) -> Value {
        match self {
            FluxDetected::Labels(v) => json!({"version": v, "source": "crdLabels"}),
            FluxDetected::Guessed(v) => {
                json!({"version": v.to_string(), "source": "servedVersions"})
            }
            FluxDetected::NotInstalled => json!({"version": null, "source": "notInstalled"}),
            FluxDetected::Unknown => json!({"version": null, "source": "unknown"}),
        }
    }
}

/// The version most Flux CRDs are labelled with.
pub fn version_from_crds(crds: &Value) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for crd in crds
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = crd
            .pointer("/metadata/labels/app.kubernetes.io~1version")
            .and_then(Value::as_str)
        {
            *counts.entry(v).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(v, _)| v.to_string())
}

/// The newest release whose every kind is served at exactly that release's versions (kinds of
/// optional controllers, such as source-watcher's ArtifactGenerator, may be absent).
pub fn guess_from_served(discovered: &Discovered) -> Option<FluxVersion> {
    FluxVersion::all().into_iter().rev().find(|release| {
        KINDS.iter().filter(|k| k.exists_in(*release)).all(|k| match discovered.get(k.kind) {
            Some(s) => s.served.iter().map(String::as_str).eq(k.served_versions(*release).iter().copied()),
            None => k.is_optional(),
        }) && discovered.kinds.iter().all(|s| s.info.exists_in(*release))
    })
}

async fn detect_flux(cluster: &Cluster) -> Result<FluxDetected, Error> {
    let req = http::Request::get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions?labelSelector=app.kubernetes.io%2Fpart-of%3Dflux",
    )
    .body(Vec::new())
    .expect("static request");
    match cluster
        .call("list CRDs", cluster.client.request::<Value>(req))
        .await
    {
        Ok(crds) => {
            if let Some(v) = version_from_crds(&crds) {
                return Ok(FluxDetected::Labels(v));
            }
        }
        Err(CallError::Cluster(e)) => return Err(e.into()),
        Err(CallError::Api { .. }) => {}
    }
    let discovered = discovery::discover(cluster).await?;
    if discovered.kinds.is_empty() {
        return Ok(FluxDetected::NotInstalled);
    }
    Ok(guess_from_served(&discovered).map_or(FluxDetected::Unknown, FluxDetected::Guessed))
}

async fn cluster_versions(cluster: &Cluster) -> Result<Value, Error> {
    let server = cluster
        .call("/version", cluster.client.apiserver_version())
        .await
        .map_err(|e| match e {
            CallError::Cluster(e) => Error::Cluster(e),
            CallError::Api { message, .. } => Error::Cluster(cluster::ClusterError::Refused {
                server: cluster.server.clone(),
                what: "/version".into(),
                reason: message,
            }),
        })?;
    let flux = detect_flux(cluster).await?;
    Ok(json!({
        "context": cluster.context,
        "server": {"gitVersion": server.git_version, "platform": server.platform},
        "flux": flux.json(),
        "fluxText": flux.text(),
    }))
}

pub async fn run(kube: &KubeArgs, args: &VersionArgs) -> Result<u8, Error> {
    let mut doc = json!({"plugin": {"version": PLUGIN_VERSION}});
    let mut code = 0;
    if !args.client {
        let clusters = cluster::clusters(kube).await?;
        let single = clusters.len() == 1;
        let mut out = Vec::new();
        for c in clusters {
            let res = match c {
                Ok(cluster) => cluster_versions(&cluster)
                    .await
                    .map_err(|e| (cluster.context.clone(), e)),
                Err((context, e)) => Err((context, e.into())),
            };
            match res {
                Ok(v) => out.push(v),
                Err((_, e)) if single => return Err(e),
                Err((context, e)) => {
                    eprintln!("error: context {context}: {e}");
                    code = 2;
                }
            }
        }
        doc["clusters"] = Value::Array(out);
    }
    let text = match args.output {
        Some(VersionFormat::Json) => {
            strip_text(&mut doc);
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
        }
        Some(VersionFormat::Yaml) => {
            strip_text(&mut doc);
            serde_saphyr::to_string(&doc).unwrap_or_default()
        }
        None => plain(&doc),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    Ok(code)
}

fn strip_text(doc: &mut Value) {
    for c in doc
        .get_mut("clusters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(m) = c.as_object_mut() {
            m.remove("fluxText");
        }
    }
}

fn plain(doc: &Value) -> String {
    let mut s = format!("Plugin:  v{PLUGIN_VERSION}\n");
    let clusters = doc
        .get("clusters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let many = clusters.len() > 1;
    for c in clusters {
        if many {
            s.push_str(&format!(
                "Context: {}\n",
                c["context"].as_str().unwrap_or("")
            ));
        }
        s.push_str(&format!(
            "Server:  {}\n",
            c["server"]["gitVersion"].as_str().unwrap_or("unknown")
        ));
        s.push_str(&format!(
            "Flux:    {}\n",
            c["fluxText"].as_str().unwrap_or("unknown")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::ServedKind;

    fn served(release: FluxVersion) -> Discovered {
        Discovered {
            kinds: KINDS
                .iter()
                .filter_map(|k| {
                    Some(ServedKind {
                        info: k,
                        version: k.preferred_version(release)?.to_string(),
                        served: k.served_versions(release).iter().map(|v| v.to_string()).collect(),
                    })
                })
                .collect(),
            unreadable: vec![],
        }
    }

    #[test]
    fn guesses_the_release_from_served_versions() {
        for minor in [2, 3, 4, 5, 6, 7, 8, 9] {
            let r = FluxVersion::new(2, minor);
            let guess = guess_from_served(&served(r)).unwrap();
            // Releases with the same API surface are indistinguishable; the guess is the newest of them.
            assert!(guess >= r, "{r} guessed as {guess}");
            assert_eq!(served(guess).kinds, served(r).kinds);
        }
        for minor in [7, 8, 9] {
            let r = FluxVersion::new(2, minor);
            assert_eq!(guess_from_served(&served(r)), Some(r));
        }
    }

    #[test]
    fn reads_the_version_label_of_flux_crds() {
        let crds = json!({"items": [
            {"metadata": {"labels": {"app.kubernetes.io/version": "v2.6.4"}}},
            {"metadata": {"labels": {"app.kubernetes.io/version": "v2.6.4"}}},
            {"metadata": {"labels": {"app.kubernetes.io/version": "v2.5.0"}}},
            {"metadata": {}}
        ]});
        assert_eq!(version_from_crds(&crds).as_deref(), Some("v2.6.4"));
        assert_eq!(version_from_crds(&json!({"items": []})), None);
    }
}
