//! kube-state-metrics custom-resource-state configurations: which metric families they make
//! (`<metricNamePrefix>_<name>`, e.g. gotk_resource_info) and with which labels, so that rules
//! are judged against the configuration actually deployed rather than the example's.

use std::collections::{BTreeMap, BTreeSet};

use super::yaml::Node;

/// family -> labels, from every configuration given.
#[derive(Debug, Default, Clone)]
pub struct Families(pub BTreeMap<String, BTreeSet<String>>);

impl Families {
    pub fn read(configs: &[(String, Node)]) -> Families {
        let mut f = Families::default();
        for (_, resources) in configs {
            for r in resources.seq() {
                let prefix = r
                    .get("metricNamePrefix")
                    .and_then(Node::scalar_text)
                    .unwrap_or_else(|| "kube_customresource".into());
                let common: Vec<String> = label_names(r.get("labelsFromPath"));
                for m in r.get("metrics").map(Node::seq).unwrap_or_default() {
                    let Some(name) = m.get("name").and_then(Node::scalar_text) else {
                        continue;
                    };
                    let family = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}_{name}")
                    };
                    let set = f.0.entry(family).or_default();
                    set.extend(common.iter().cloned());
                    set.extend(label_names(m.get("labelsFromPath")));
                    set.extend(label_names(m.at(&["each", "info", "labelsFromPath"])));
                    set.extend(label_names(m.at(&["each", "gauge", "labelsFromPath"])));
                    set.extend(label_names(m.at(&["each", "stateSet", "labelsFromPath"])));
                    if let Some(l) = m
                        .at(&["each", "stateSet", "labelName"])
                        .and_then(Node::scalar_text)
                    {
                        set.insert(l);
                    }
                    // kube-state-metrics adds these to every custom-resource family.
                    for l in [
                        "customresource_group",
                        "customresource_kind",
                        "customresource_version",
                    ] {
                        set.insert(l.into());
                    }
                }
            }
        }
        f
    }

    /// Whether a configuration given makes `family` (its label set is then known).
    pub fn defines(&self, family: &str) -> bool {
        self.0.contains_key(family)
    }

    /// Whether the configuration given makes `family` with `label`.
    pub fn has(&self, family: &str, label: &str) -> bool {
        self.0.get(family).is_some_and(|l| l.contains(label))
    }
}

fn label_names(n: Option<&Node>) -> Vec<String> {
    n.map(|n| {
        n.entries()
            .iter()
            .filter_map(|(k, _)| k.scalar_text())
            .collect()
    })
    .unwrap_or_default()
}
