//! The catalog of resource types the embedded API serves: group, versions, names, scope, printer columns.

use serde_json::{json, Value};


/// One served resource type, the way a CustomResourceDefinition (or a built-in kind) describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// The storage version: objects are kept at it.
    pub version: String,
    /// Further served versions, in Kubernetes' priority order: same objects, `apiVersion`
    /// rewritten on read.
    pub other_versions: Vec<String>,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Whether `/status` is a subresource (writes to the main resource then ignore `.status`).
    pub status_subresource: bool,
    /// CRD `additionalPrinterColumns` of the storage version, used for Table responses.
    pub printer_columns: Vec<PrinterColumn>,
    /// What a CRD declares per served version (deprecation, printer columns, status
    /// subresource); empty when every version is like the storage version (built-in types).
    pub version_details: Vec<VersionDetail>,
}

/// One served version of a CRD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionDetail {
    pub name: String,
    pub deprecated: bool,
    /// Sent as a `Warning` header with every request at this version.
    pub deprecation_warning: Option<String>,
    pub printer_columns: Vec<PrinterColumn>,
    pub status_subresource: bool,
}

/// A CRD `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub json_path: String,
    pub priority: i32,
    pub description: String,
}

impl PrinterColumn {
    /// A column with priority 0 and no description.
    pub fn new(name: &str, type_: &str, json_path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.to_string(),
            type_: type_.to_string(),
            json_path: json_path.to_string(),
            priority: 0,
            description: String::new(),
        }
    }

    /// The column the API server adds to a CRD that defines none.
    pub(crate) fn age() -> PrinterColumn {
        PrinterColumn {
            description: "CreationTimestamp is a timestamp representing the server time when this object was created."
                .to_string(),
            ..PrinterColumn::new("Age", "date", ".metadata.creationTimestamp")
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

impl ResourceType {
    /// The built-in types every embedded API serves: Namespaces, Events (core and events.k8s.io, which
    /// kube-runtime's event Recorder writes), Secrets, ConfigMaps, Deployments and
    /// CustomResourceDefinitions.
    pub fn builtin() -> Vec<ResourceType> {
        let base = |group: &str, kind: &str, plural: &str, short: &[&str], namespaced: bool| {
            ResourceType {
                group: group.to_string(),
                version: "v1".to_string(),
                other_versions: Vec::new(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                singular: kind.to_lowercase(),
                short_names: strings(short),
                categories: Vec::new(),
                namespaced,
                status_subresource: false,
                printer_columns: Vec::new(),
                version_details: Vec::new(),
            }
        };
        vec![
            ResourceType {
                status_subresource: true,
                printer_columns: vec![
                    PrinterColumn::new("Status", "string", ".status.phase"),
                    PrinterColumn::age(),
                ],
                ..base("", "Namespace", "namespaces", &["ns"], false)
            },
            ResourceType {
                printer_columns: vec![
                    PrinterColumn::new("Last Seen", "date", ".lastTimestamp"),
                    PrinterColumn::new("Type", "string", ".type"),
                    PrinterColumn::new("Reason", "string", ".reason"),
                    PrinterColumn::new("Object", "string", ".involvedObject.name"),
                    PrinterColumn::new("Message", "string", ".message"),
                ],
                ..base("", "Event", "events", &["ev"], true)
            },
            ResourceType {
                printer_columns: vec![
                    PrinterColumn::new("Type", "string", ".type"),
                    PrinterColumn::new("Reason", "string", ".reason"),
                    PrinterColumn::new("Object", "string", ".regarding.name"),
                    PrinterColumn::new("Message", "string", ".note"),
                ],
                ..base("events.k8s.io", "Event", "events", &["ev"], true)
            },
            // Secrets and ConfigMaps: Flux Providers and Receivers read their Secrets.
            ResourceType {
                printer_columns: vec![
                    PrinterColumn::new("Type", "string", ".type"),
                    PrinterColumn::age(),
                ],
                ..base("", "Secret", "secrets", &[], true)
            },
            ResourceType { printer_columns: vec![PrinterColumn::age()], ..base("", "ConfigMap", "configmaps", &["cm"], true) },
            ResourceType {
                status_subresource: true,
                categories: strings(&["all"]),
                printer_columns: vec![
                    PrinterColumn::new("Up-to-date", "integer", ".status.updatedReplicas"),
                    PrinterColumn::new("Available", "integer", ".status.availableReplicas"),
                    PrinterColumn::age(),
                ],
                ..base("apps", "Deployment", "deployments", &["deploy"], true)
            },
            ResourceType {
                status_subresource: true,
                printer_columns: vec![PrinterColumn::new(
                    "Created At",
                    "date",
                    ".metadata.creationTimestamp",
                )],
                ..base(
                    "apiextensions.k8s.io",
                    "CustomResourceDefinition",
                    "customresourcedefinitions",
                    &["crd", "crds"],
                    false,
                )
            },
        ]
    }

    /// `kustomizations.kustomize.toolkit.fluxcd.io`, or `namespaces` for the core group.
    pub fn qualified_plural(&self) -> String {
        qualify(&self.plural, &self.group)
    }

    /// `Kustomization.kustomize.toolkit.fluxcd.io`, or `Namespace` for the core group.
    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }

    /// `group/version` (or `version` for the core group) for a served version.
    pub fn api_version_for(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// The storage `apiVersion`.
    pub fn api_version(&self) -> String {
        self.api_version_for(&self.version)
    }

    /// Every served version, storage version first.
    pub fn served_versions(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.version).chain(&self.other_versions)
    }

    /// The deprecation warning of a served version, if the CRD marks it deprecated.
    pub fn deprecation_warning(&self, version: &str) -> Option<&str> {
        self.version_details
            .iter()
            .find(|d| d.name == version)
            .and_then(|d| d.deprecation_warning.as_deref())
    }

    /// The details of every served version: the CRD's own, or the storage version's defaults.
    fn details(&self) -> Vec<VersionDetail> {
        self.served_versions()
            .map(|v| {
                self.version_details.iter().find(|d| &d.name == v).cloned().unwrap_or_else(|| VersionDetail {
                    name: v.clone(),
                    deprecated: false,
                    deprecation_warning: None,
                    printer_columns: self.printer_columns.clone(),
                    status_subresource: self.status_subresource,
                })
            })
            .collect()
    }

    /// Whether this version of the type is served.
    pub fn serves(&self, version: &str) -> bool {
        self.version == version || self.other_versions.iter().any(|v| v == version)
    }

    /// Whether `apiVersion` names a served version of this type's group.
    pub(crate) fn serves_api_version(&self, api_version: &str) -> bool {
        let (group, version) = split_api_version(api_version);
        group == self.group && self.serves(version)
    }

    /// Whether this is one of the built-in (non-custom) types, which have kind-specific field selectors.
    pub(crate) fn is_builtin(&self) -> bool {
        matches!(
            self.group.as_str(),
            "" | "apps" | "apiextensions.k8s.io" | "events.k8s.io"
        )
    }

    /// Columns of a Table for this type, after the Name column: the CRD rules
    /// (additionalPrinterColumns in order, or Age when none are defined).
    pub(crate) fn table_columns(&self) -> Vec<PrinterColumn> {
        if self.printer_columns.is_empty() {
            vec![PrinterColumn::age()]
        } else {
            self.printer_columns.clone()
        }
    }

    /// The CustomResourceDefinition object that describes this type.
    pub fn to_crd(&self) -> Value {
        let column_json = |c: &PrinterColumn| {
            let mut col = json!({"name": c.name, "type": c.type_, "jsonPath": c.json_path});
            if c.priority != 0 {
                col["priority"] = json!(c.priority);
            }
            if !c.description.is_empty() {
                col["description"] = json!(c.description);
            }
            col
        };
        let versions: Vec<Value> = self
            .details()
            .iter()
            .map(|d| {
                let mut version = json!({
                    "name": d.name,
                    "served": true,
                    "storage": d.name == self.version,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                });
                if d.deprecated {
                    version["deprecated"] = json!(true);
                }
                if let Some(w) = &d.deprecation_warning {
                    version["deprecationWarning"] = json!(w);
                }
                if d.status_subresource {
                    version["subresources"] = json!({"status": {}});
                }
                if !d.printer_columns.is_empty() {
                    version["additionalPrinterColumns"] = d.printer_columns.iter().map(column_json).collect();
                }
                version
            })
            .collect();
        let mut names = json!({"kind": self.kind, "listKind": format!("{}List", self.kind),
            "plural": self.plural, "singular": self.singular});
        if !self.short_names.is_empty() {
            names["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            names["categories"] = json!(self.categories);
        }
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.qualified_plural()},
            "spec": {
                "group": self.group,
                "names": names,
                "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
                "versions": versions,
            },
            "status": {
                "acceptedNames": names,
                "storedVersions": [self.version],
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
            },
        })
    }

    /// Reads a CustomResourceDefinition object back into a type (the storage version is kept,
    /// the other served versions follow in Kubernetes' priority order).
    pub fn from_crd(crd: &Value) -> Option<ResourceType> {
        let spec = crd.get("spec")?;
        let names = spec.get("names")?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let list = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let versions = spec.get("versions")?.as_array()?;
        let mut served: Vec<&Value> = versions
            .iter()
            .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
            .collect();
        served.sort_by_key(|v| model::kinds::version_priority(v.get("name").and_then(Value::as_str).unwrap_or("")));
        let storage = served
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .or(served.first())?;
        let version = text(storage.get("name"))?;
        let kind = text(names.get("kind"))?;
        let columns = |v: &Value| -> Vec<PrinterColumn> {
            v.get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .filter_map(|c| {
                            Some(PrinterColumn {
                                name: text(c.get("name"))?,
                                type_: text(c.get("type")).unwrap_or_else(|| "string".to_string()),
                                json_path: text(c.get("jsonPath"))?,
                                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                                description: text(c.get("description")).unwrap_or_default(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let version_details = served
            .iter()
            .filter_map(|v| {
                Some(VersionDetail {
                    name: text(v.get("name"))?,
                    deprecated: v.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
                    deprecation_warning: text(v.get("deprecationWarning")),
                    printer_columns: columns(v),
                    status_subresource: v.pointer("/subresources/status").is_some(),
                })
            })
            .collect();
        Some(ResourceType {
            group: text(spec.get("group"))?,
            other_versions: served
                .iter()
                .filter_map(|v| text(v.get("name")))
                .filter(|v| *v != version)
                .collect(),
            version,
            plural: text(names.get("plural"))?,
            singular: text(names.get("singular")).unwrap_or_else(|| kind.to_lowercase()),
            kind,
            short_names: list(names.get("shortNames")),
            categories: list(names.get("categories")),
            namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            status_subresource: storage.pointer("/subresources/status").is_some(),
            printer_columns: columns(storage),
            version_details,
        })
    }
}

/// `plural.group`, or just `plural` in the core group.
pub(crate) fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

/// Splits `group/version` (or a bare core `version`) into `(group, version)`.
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}
