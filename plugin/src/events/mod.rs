//! `kubectl flux-monitor events`: the Kubernetes events of Flux objects, newest last, in the
//! columns `kubectl events` and `flux events` use; `--for Kind/name` adds the objects it reads
//! from, as `flux events --for` does; `--watch` streams new ones. Messages about Alerts and
//! Providers lose webhook addresses and tokens in every output.

pub mod read;
pub mod redact;
pub mod render;
mod watch;

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use jiff::Timestamp;
use model::kinds::KindInfo;
use model::object::RefRole;
use model::{FluxObject, ObjectRef};
use serde_json::Value;

use crate::cli::{EventsArgs, EventsFormat, KubeArgs};
use crate::cluster::{self, CallError, Cluster};
use crate::discovery;
use crate::error::Error;
use read::{EventRecord, Query};

/// What `--for` names: a Flux kind, and an object of it when a name is given.
#[derive(Debug, Clone)]
pub struct ForObject {
    pub info: &'static KindInfo,
    pub name: Option<String>,
}

/// Every Flux kind as `--for` accepts it: `Kind (short names)`.
fn kinds_accepted() -> String {
    model::KINDS
        .iter()
        .map(|k| {
            if k.short_names.is_empty() {
                k.kind.to_string()
            } else {
                format!("{} ({})", k.kind, k.short_names.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `--for KIND[/NAME]`; the kind as kubectl resolves it (Kind, plural, singular, short name).
pub fn parse_for(text: &str) -> Result<ForObject, Error> {
    let text = text.trim();
    let (kind, name) = match text.split_once('/') {
        Some((k, n)) => (k, Some(n)),
        None => (text, None),
    };
    if kind.is_empty() || name.is_some_and(|n| n.is_empty() || n.contains('/')) {
        return Err(Error::Usage(format!(
            "--for {text:?}: expected KIND or KIND/NAME, such as Kustomization/apps or hr/podinfo"
        )));
    }
    let info = model::kinds::lookup(kind).ok_or_else(|| {
        Error::Usage(format!(
            "--for {text:?}: {kind:?} is not a Flux kind; the kinds accepted (with their short names; plurals work too) are: {}",
            kinds_accepted()
        ))
    })?;
    Ok(ForObject {
        info,
        name: name.map(str::to_string),
    })
}

/// `--types`: Normal and Warning, in any case, as kubectl and flux accept them.
pub fn parse_types(types: &[String]) -> Result<Vec<String>, Error> {
    types
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| match t.to_ascii_lowercase().as_str() {
            "normal" => Ok("Normal".to_string()),
            "warning" => Ok("Warning".to_string()),
            _ => Err(Error::Usage(format!(
                "--types {t:?}: the event types are Normal and Warning"
            ))),
        })
        .collect()
}

/// Which events are shown.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Objects asked for (`--for` and what it reads from); empty: every Flux object.
    pub objects: Vec<ObjectRef>,
    /// `--for Kind` without a name: every object of this kind.
    pub kind: Option<&'static str>,
    pub types: Vec<String>,
    /// Events last seen before this are left out (`--since`).
    pub not_before: Option<Timestamp>,
}

impl Filter {
    pub fn keep(&self, e: &EventRecord) -> bool {
        let object = if !self.objects.is_empty() {
            self.objects.iter().any(|o| {
                o.kind == e.object.kind
                    && o.name == e.object.name
                    && (o.namespace.is_empty() || o.namespace == e.object.namespace)
            }) && e.is_about_flux()
        } else if let Some(kind) = self.kind {
            e.object.kind == kind && e.is_about_flux()
        } else {
            e.is_about_flux()
        };
        object
            && (self.types.is_empty() || self.types.contains(&e.type_))
            && self
                .not_before
                .is_none_or(|t| e.last_seen().is_none_or(|seen| seen >= t))
    }
}

fn call_error(e: CallError) -> Error {
    match e {
        CallError::Cluster(e) => Error::Cluster(e),
        CallError::Api { message, .. } => Error::Input(format!("cannot list events: {message}")),
    }
}

fn kind_name_fields(kind: &str, name: Option<&str>) -> Vec<(String, String)> {
    let mut f = vec![("involvedObject.kind".to_string(), kind.to_string())];
    if let Some(n) = name {
        f.push(("involvedObject.name".to_string(), n.to_string()));
    }
    f
}

/// The objects an object reads from whose events `flux events --for` shows with its own: its
/// source, chart (a HelmRelease's generated HelmChart), image repository and Provider. A missing
/// or unreadable object simply adds nothing.
async fn upstreams(cluster: &Cluster, target: &ObjectRef) -> Vec<ObjectRef> {
    let Ok(discovered) = discovery::discover(cluster).await else {
        return Vec::new();
    };
    let Some(kind) = discovered.get(&target.kind) else {
        return Vec::new();
    };
    let path = format!(
        "{}/{}",
        kind.list_path(Some(&target.namespace)),
        target.name
    );
    let Ok(req) = http::Request::get(path).body(Vec::new()) else {
        return Vec::new();
    };
    let Ok(obj) = cluster
        .call("get", cluster.client.request::<Value>(req))
        .await
    else {
        return Vec::new();
    };
    let obj = crate::status::collect::with_type(obj, kind);
    FluxObject::new(&obj)
        .references()
        .into_iter()
        .filter(|r| r.role != RefRole::DependsOn)
        .map(|r| r.target)
        .collect()
}

/// The lists to make and the filter over what they return.
async fn plan(
    cluster: &Cluster,
    args: &EventsArgs,
    namespace: Option<&str>,
    types: Vec<String>,
) -> Result<(Vec<Query>, Filter), Error> {
    let not_before = args.since.map(|d| {
        Timestamp::now() - jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::ZERO)
    });
    let mut filter = Filter {
        types,
        not_before,
        ..Default::default()
    };
    let whole = |fields: Vec<(String, String)>| Query {
        namespace: namespace.map(str::to_string),
        fields,
    };
    let Some(target) = &args.for_object else {
        return Ok((vec![whole(Vec::new())], filter));
    };
    let f = parse_for(target)?;
    let Some(name) = &f.name else {
        filter.kind = Some(f.info.kind);
        return Ok((vec![whole(kind_name_fields(f.info.kind, None))], filter));
    };
    let Some(ns) = namespace else {
        // -A: that name in every namespace; which namespace's references to follow is unknown.
        filter
            .objects
            .push(ObjectRef::new(f.info.kind, "", name.as_str()));
        return Ok((
            vec![whole(kind_name_fields(f.info.kind, Some(name)))],
            filter,
        ));
    };
    let own = ObjectRef::new(f.info.kind, ns, name.as_str());
    let mut objects = vec![own.clone()];
    for r in upstreams(cluster, &own).await {
        if !objects.contains(&r) {
            objects.push(r);
        }
    }
    let queries = objects
        .iter()
        .map(|o| Query {
            namespace: Some(o.namespace.clone()),
            fields: kind_name_fields(&o.kind, Some(&o.name)),
        })
        .collect();
    filter.objects = objects;
    Ok((queries, filter))
}

pub async fn run(kube: &KubeArgs, args: &EventsArgs) -> Result<u8, Error> {
    let types = parse_types(&args.types)?;
    if let Some(target) = &args.for_object {
        parse_for(target)?;
    }
    let mut clusters = cluster::clusters(kube).await?;
    if clusters.len() != 1 {
        return Err(Error::Usage(
            "events reads one cluster at a time: pass a single --context".into(),
        ));
    }
    let cluster = clusters.remove(0).map_err(|(_, e)| e)?;
    let namespace = if args.all_namespaces {
        None
    } else {
        Some(
            kube.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
        )
    };
    let apis = read::served_apis(&cluster).await?;
    if apis.is_empty() {
        return Err(Error::Input(format!(
            "the Kubernetes API at {} serves no events (neither v1 nor events.k8s.io/v1)",
            cluster.server
        )));
    }
    let (queries, filter) = plan(&cluster, args, namespace.as_deref(), types).await?;
    let mut api = apis[0];
    let mut events: Vec<EventRecord> = Vec::new();
    let mut seen_uids = HashSet::new();
    for q in &queries {
        let (used, items) = read::list_any(&cluster, &apis, q)
            .await
            .map_err(call_error)?;
        api = used;
        events.extend(
            items.into_iter().filter(|e| {
                filter.keep(e) && (e.uid.is_empty() || seen_uids.insert(e.uid.clone()))
            }),
        );
    }
    events.sort_by_key(EventRecord::last_seen);
    let show_namespace = namespace.is_none()
        || events
            .iter()
            .any(|e| Some(&e.namespace) != namespace.as_ref());
    let mut printer = watch::Printer::new(args.output, show_namespace);
    let now = Timestamp::now();
    let mut out = std::io::stdout().lock();
    if events.is_empty() && args.output == EventsFormat::Table {
        match &namespace {
            Some(ns) => eprintln!("No events found in {ns} namespace."),
            None => eprintln!("No events found."),
        }
    } else {
        out.write_all(printer.initial(&events, now).as_bytes())?;
    }
    out.flush()?;
    drop(out);
    if args.watch {
        let seen = events
            .iter()
            .map(|e| (e.uid.clone(), e.resource_version.clone()))
            .collect();
        watch::run(&cluster, api, &queries, &filter, seen, printer).await?;
    }
    Ok(0)
}

/// Warning events about Alerts in `namespaces` (None: all), last seen within `window` of `now`:
/// what notification-controller recorded about failed deliveries.
pub async fn alert_warnings(
    cluster: &Cluster,
    namespaces: Option<&[String]>,
    window: Duration,
    now: Timestamp,
) -> Result<Vec<EventRecord>, String> {
    let apis = read::served_apis(cluster)
        .await
        .map_err(|e| e.to_string())?;
    if apis.is_empty() {
        return Err("the API serves no events".into());
    }
    let fields = vec![
        ("involvedObject.kind".to_string(), "Alert".to_string()),
        ("type".to_string(), "Warning".to_string()),
    ];
    let queries: Vec<Query> = match namespaces {
        None => vec![Query {
            namespace: None,
            fields,
        }],
        Some(list) => list
            .iter()
            .map(|ns| Query {
                namespace: Some(ns.clone()),
                fields: fields.clone(),
            })
            .collect(),
    };
    let since = now - jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::ZERO);
    let mut out = Vec::new();
    for q in &queries {
        let (_, items) = read::list_any(cluster, &apis, q)
            .await
            .map_err(|e| e.to_string())?;
        out.extend(items.into_iter().filter(|e| {
            e.object.kind == "Alert"
                && e.type_ == "Warning"
                && e.is_about_flux()
                && e.last_seen().is_some_and(|t| t >= since)
        }));
    }
    out.sort_by_key(EventRecord::last_seen);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_takes_flux_kinds_as_kubectl_spells_them() {
        let f = parse_for("ks/apps").unwrap();
        assert_eq!(
            (f.info.kind, f.name.as_deref()),
            ("Kustomization", Some("apps"))
        );
        assert_eq!(
            parse_for("helmreleases/podinfo").unwrap().info.kind,
            "HelmRelease"
        );
        assert_eq!(parse_for("Alert").unwrap().name, None);
        let e = parse_for("pod/web").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let text = e.to_string();
        assert!(text.contains("\"pod\" is not a Flux kind"), "{text}");
        assert!(
            text.contains("Kustomization (ks)")
                && text.contains("HelmRelease (hr)")
                && text.contains("Alert"),
            "{text}"
        );
        assert!(parse_for("ks/").is_err());
        assert_eq!(
            parse_types(&["warning".into(), "Normal".into()]).unwrap(),
            ["Warning", "Normal"]
        );
        assert!(parse_types(&["Error".into()]).is_err());
    }

    #[test]
    fn filter_keeps_flux_objects_types_and_recent_ones() {
        let ev = |kind: &str, name: &str, type_: &str, last: &str| {
            EventRecord::from_core(
                serde_json::json!({"metadata": {"name": "e", "namespace": "flux-system"},
                "involvedObject": {"kind": kind, "name": name, "namespace": "flux-system"},
                "type": type_, "lastTimestamp": last}),
            )
            .unwrap()
        };
        let pod = ev("Pod", "web", "Normal", "2025-01-01T11:00:00Z");
        let ks = ev("Kustomization", "apps", "Warning", "2025-01-01T11:00:00Z");
        let git = ev("GitRepository", "apps", "Normal", "2025-01-01T09:00:00Z");
        let all = Filter::default();
        assert!(!all.keep(&pod) && all.keep(&ks) && all.keep(&git));
        let warnings = Filter {
            types: vec!["Warning".into()],
            ..Default::default()
        };
        assert!(warnings.keep(&ks) && !warnings.keep(&git));
        let recent = Filter {
            not_before: Some("2025-01-01T10:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        assert!(recent.keep(&ks) && !recent.keep(&git));
        let one = Filter {
            objects: vec![ObjectRef::new("Kustomization", "flux-system", "apps")],
            ..Default::default()
        };
        assert!(one.keep(&ks) && !one.keep(&git));
        let kind = Filter {
            kind: Some("GitRepository"),
            ..Default::default()
        };
        assert!(kind.keep(&git) && !kind.keep(&ks));
    }
}
