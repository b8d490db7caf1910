//! What blocks an object: follow its references (sourceRef, chart, chartRef, dependsOn,
//! imageRepositoryRef) to the first upstream that blocks dependents, and from there on to the
//! deepest one, the root. Pure: works on judged nodes and a set of references known missing.

use std::collections::{HashMap, HashSet};

use model::{ObjectRef, Verdict};

/// A judged object as the root-cause walk sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub verdict: Verdict,
    pub reason: String,
    pub message: String,
    /// Upstream references in the order the object declares them.
    pub refs: Vec<ObjectRef>,
}

/// The root of what blocks an object: an unhealthy upstream, or one that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootCause {
    pub object: ObjectRef,
    /// `None` when the object does not exist.
    pub verdict: Option<Verdict>,
    pub reason: String,
    pub message: String,
}

impl RootCause {
    /// The verdict as printed and serialised: a verdict, or `Missing`.
    pub fn verdict_text(&self) -> &'static str {
        self.verdict.map_or("Missing", Verdict::as_str)
    }
}

/// Every judged object of one cluster, and the references found not to exist.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: HashMap<ObjectRef, Node>,
    pub missing: HashSet<ObjectRef>,
}

enum Step<'a> {
    Blocked(&'a ObjectRef),
    Missing(&'a ObjectRef),
}

/// Whether an object with this verdict gets a root cause. Ready objects are not blocked, and a
/// suspended object is its own cause.
pub fn may_be_blocked(verdict: Verdict) -> bool {
    !matches!(verdict, Verdict::Ready | Verdict::Suspended)
}

impl Graph {
    /// The first upstream of `node` that blocks it: a missing reference or one whose verdict blocks
    /// dependents. References neither judged nor known missing (unreadable) are passed over.
    fn first_blocker<'a>(&'a self, node: &'a Node) -> Option<Step<'a>> {
        node.refs.iter().find_map(|r| {
            if self.missing.contains(r) {
                Some(Step::Missing(r))
            } else {
                self.nodes
                    .get(r)
                    .filter(|n| n.verdict.blocks_dependents())
                    .map(|_| Step::Blocked(r))
            }
        })
    }

    /// The root cause of `start`, or `None` when nothing upstream blocks it. Cycles stop the walk
    /// at the last object not yet visited.
    pub fn root_cause(&self, start: &ObjectRef) -> Option<RootCause> {
        let node = self.nodes.get(start)?;
        if !may_be_blocked(node.verdict) {
            return None;
        }
        let mut visited: HashSet<&ObjectRef> = HashSet::from([start]);
        let mut current = node;
        let mut root = None;
        while let Some(step) = self.first_blocker(current) {
            match step {
                Step::Missing(r) => {
                    root = Some(RootCause {
                        object: r.clone(),
                        verdict: None,
                        reason: "NotFound".into(),
                        message: format!("{} {}/{} does not exist", r.kind, r.namespace, r.name),
                    });
                    break;
                }
                Step::Blocked(r) => {
                    if !visited.insert(r) {
                        break;
                    }
                    let n = &self.nodes[r];
                    root = Some(RootCause {
                        object: r.clone(),
                        verdict: Some(n.verdict),
                        reason: n.reason.clone(),
                        message: n.message.clone(),
                    });
                    current = n;
                }
            }
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: &str, name: &str) -> ObjectRef {
        ObjectRef::new(kind, "flux-system", name)
    }
    fn node(verdict: Verdict, refs: Vec<ObjectRef>) -> Node {
        Node {
            verdict,
            reason: format!("{verdict}Reason"),
            message: "m".into(),
            refs: refs.to_vec(),
        }
    }

    #[test]
    fn follows_a_chain_to_the_deepest_unhealthy_upstream() {
        let git = r("GitRepository", "flux-system");
        let infra = r("Kustomization", "infra");
        let apps = r("Kustomization", "apps");
        let mut g = Graph::default();
        g.nodes.insert(git.clone(), node(Verdict::Failing, vec![]));
        g.nodes
            .insert(infra.clone(), node(Verdict::Failing, vec![git.clone()]));
        g.nodes.insert(
            apps.clone(),
            node(Verdict::Failing, vec![git.clone(), infra.clone()]),
        );
        assert_eq!(g.root_cause(&apps).unwrap().object, git);
        assert_eq!(g.root_cause(&infra).unwrap().object, git);
        assert_eq!(
            g.root_cause(&git),
            None,
            "a failing source with nothing upstream is its own root"
        );
    }

    #[test]
    fn skips_healthy_upstreams_and_stops_at_the_first_blocker() {
        let git = r("GitRepository", "ok");
        let dep = r("Kustomization", "dep");
        let dep_src = r("GitRepository", "broken");
        let app = r("Kustomization", "app");
        let mut g = Graph::default();
        g.nodes.insert(git.clone(), node(Verdict::Ready, vec![]));
        g.nodes
            .insert(dep_src.clone(), node(Verdict::Stalled, vec![]));
        g.nodes
            .insert(dep.clone(), node(Verdict::Failing, vec![dep_src.clone()]));
        g.nodes
            .insert(app.clone(), node(Verdict::Failing, vec![git, dep]));
        let root = g.root_cause(&app).unwrap();
        assert_eq!(root.object, dep_src);
        assert_eq!(root.verdict, Some(Verdict::Stalled));
    }

    #[test]
    fn suspended_and_stale_upstreams_do_not_block() {
        let git = r("GitRepository", "paused");
        let app = r("Kustomization", "app");
        let mut g = Graph::default();
        g.nodes
            .insert(git.clone(), node(Verdict::Suspended, vec![]));
        g.nodes
            .insert(app.clone(), node(Verdict::Failing, vec![git]));
        assert_eq!(g.root_cause(&app), None);
    }

    #[test]
    fn a_cycle_ends_the_walk() {
        let a = r("Kustomization", "a");
        let b = r("Kustomization", "b");
        let mut g = Graph::default();
        g.nodes
            .insert(a.clone(), node(Verdict::Failing, vec![b.clone()]));
        g.nodes
            .insert(b.clone(), node(Verdict::Failing, vec![a.clone()]));
        assert_eq!(g.root_cause(&a).unwrap().object, b);
        assert_eq!(g.root_cause(&b).unwrap().object, a);
        let c = r("Kustomization", "c");
        g.nodes
            .insert(c.clone(), node(Verdict::Failing, vec![a.clone()]));
        let root = g.root_cause(&c).unwrap().object;
        assert!(root == a || root == b);
    }

    #[test]
    fn a_missing_upstream_is_the_root() {
        let gone = r("GitRepository", "gone");
        let mid = r("Kustomization", "mid");
        let app = r("Kustomization", "app");
        let mut g = Graph::default();
        g.missing.insert(gone.clone());
        g.nodes
            .insert(mid.clone(), node(Verdict::Failing, vec![gone.clone()]));
        g.nodes
            .insert(app.clone(), node(Verdict::Unknown, vec![mid]));
        let root = g.root_cause(&app).unwrap();
        assert_eq!(root.object, gone);
        assert_eq!(root.verdict_text(), "Missing");
        assert_eq!(root.reason, "NotFound");
    }

    #[test]
    fn ready_and_suspended_objects_have_no_root_cause() {
        let git = r("GitRepository", "bad");
        let ok = r("Kustomization", "ok");
        let paused = r("Kustomization", "paused");
        let mut g = Graph::default();
        g.nodes.insert(git.clone(), node(Verdict::Failing, vec![]));
        g.nodes
            .insert(ok.clone(), node(Verdict::Ready, vec![git.clone()]));
        g.nodes
            .insert(paused.clone(), node(Verdict::Suspended, vec![git]));
        assert_eq!(g.root_cause(&ok), None);
        assert_eq!(g.root_cause(&paused), None);
    }

    #[test]
    fn unreadable_upstreams_are_not_blamed() {
        let app = r("Kustomization", "app");
        let mut g = Graph::default();
        g.nodes.insert(
            app.clone(),
            node(Verdict::Failing, vec![r("GitRepository", "forbidden")]),
        );
        assert_eq!(g.root_cause(&app), None);
    }
}
