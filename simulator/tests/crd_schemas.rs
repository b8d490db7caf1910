//! Every object flux-sim writes validates against its release's CRD schema: the
//! `openAPIV3Schema` of Flux's own install manifests (../shared/reference/flux-install), checked
//! with a JSON Schema validator over the demo, the scenario library and a generated scenario,
//! each run as Flux 2.4, 2.7 and 2.9 for its whole duration in virtual time.
//!
//! The API server prunes unknown fields silently unless a client asks for strict field
//! validation (kubectl does by default), so unknown fields are errors here: an object schema that
//! lists properties and does not preserve unknown fields admits no others. OpenAPI's `nullable`
//! becomes a JSON Schema type union. CEL rules (`x-kubernetes-validations`) are not evaluated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::FluxVersion;
use serde_json::{json, Map, Value};
use simulator::core::Simulation;
use simulator::scenario::{generate, load_dir_or_file, load_file, load_str, Scenario};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The reference manifests of the newest patch of `release` (`v2.7.5` for 2.7).
fn release_dir(release: FluxVersion) -> PathBuf {
    let root = workspace().join("../shared/reference/flux-install");
    assert!(root.is_dir(), "{} is missing: the schema test needs Flux's install manifests", root.display());
    let patch = release.latest_patch().expect("a known release");
    root.join(format!("v{patch}"))
}

/// OpenAPI v3 (Kubernetes' structural schema) to JSON Schema, strict about unknown fields.
fn json_schema(openapi: &Value) -> Value {
    match openapi {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match k.as_str() {
                    "properties" | "patternProperties" => {
                        Value::Object(v.as_object().unwrap().iter().map(|(p, s)| (p.clone(), json_schema(s))).collect())
                    }
                    "items" | "additionalProperties" | "not" if v.is_object() => json_schema(v),
                    "allOf" | "anyOf" | "oneOf" => Value::Array(v.as_array().unwrap().iter().map(json_schema).collect()),
                    _ => v.clone(),
                };
                out.insert(k.clone(), v);
            }
            if m.get("nullable") == Some(&json!(true)) {
                if let Some(t) = m.get("type").and_then(Value::as_str) {
                    out.insert("type".into(), json!([t, "null"]));
                }
            }
            let preserves = m.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserves {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// `apiVersion/kind` -> compiled validator, for every CRD version of a release.
struct Schemas {
    validators: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn load(release: FluxVersion) -> Schemas {
        let dir = release_dir(release);
        let mut validators = HashMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for crd in docs.iter().filter(|d| d["kind"] == "CustomResourceDefinition") {
                let group = crd["spec"]["group"].as_str().unwrap();
                let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
                for v in crd["spec"]["versions"].as_array().unwrap() {
                    let schema = json_schema(&v["schema"]["openAPIV3Schema"]);
                    let validator = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft4)
                        .should_validate_formats(true)
                        .build(&schema)
                        .unwrap_or_else(|e| panic!("{kind} {}: schema does not compile: {e}", v["name"]));
                    validators.insert(format!("{group}/{}/{kind}", v["name"].as_str().unwrap()), validator);
                }
            }
        }
        Schemas { validators }
    }

    /// Every schema violation of `object`, as readable lines.
    fn violations(&self, object: &Value) -> Vec<String> {
        let key = format!("{}/{}", object["apiVersion"].as_str().unwrap_or(""), object["kind"].as_str().unwrap_or(""));
        let Some(validator) = self.validators.get(&key) else {
            return vec![format!("no CRD schema for {key}")];
        };
        validator
            .iter_errors(object)
            .map(|e| format!("{} at {}: {e}", key, e.instance_path()))
            .collect()
    }
}

/// Runs `scenario` as `release` for its whole duration and validates every object each time it
/// changes; returns (objects validated, violations).
fn check(scenario: &Scenario, release: FluxVersion, schemas: &Schemas) -> (usize, Vec<String>) {
    let mut s = scenario.clone();
    s.flux_version = release;
    let mut sim = Simulation::new(&s);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut validated = 0;
    let mut problems: BTreeMap<String, String> = BTreeMap::new();
    let step = Duration::from_secs(60);
    let mut t = Duration::ZERO;
    loop {
        sim.run_until(t);
        for o in sim.objects() {
            let text = o.to_string();
            if !seen.insert(hash(&text)) {
                continue;
            }
            validated += 1;
            for v in schemas.violations(&o) {
                let who = format!("{}/{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["namespace"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""));
                problems.entry(v).or_insert(format!("{who} at {}s", t.as_secs()));
            }
        }
        if t >= s.duration {
            break;
        }
        t = (t + step).min(s.duration);
    }
    let lines = problems
        .into_iter()
        .map(|(v, first)| format!("{} (Flux {release}, first {first}): {v}", s.name))
        .collect();
    (validated, lines)
}

fn hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn scenarios() -> Vec<Scenario> {
    let mut out = vec![load_file(&workspace().join("scenarios/demo.yaml")).expect("demo.yaml")];
    out.extend(load_dir_or_file(&workspace().join("scenarios/library")).expect("the library"));
    out.push(load_str(&generate(600, 7), Path::new("generated.yaml")).expect("a generated scenario"));
    out
}

#[test]
fn every_object_validates_against_its_releases_crd_schema() {
    let scenarios = scenarios();
    let mut all = Vec::new();
    let mut counts = Vec::new();
    for release in [FluxVersion::new(2, 4), FluxVersion::new(2, 7), FluxVersion::new(2, 9)] {
        let schemas = Schemas::load(release);
        let mut n = 0;
        for scenario in scenarios.iter().filter(|s| s.resources.iter().all(|r| r.kind.exists_in(release))) {
            let (validated, problems) = check(scenario, release, &schemas);
            n += validated;
            all.extend(problems);
        }
        counts.push(format!("Flux {release}: {n} object states validated"));
    }
    eprintln!("{}", counts.join("\n"));
    assert!(all.is_empty(), "{} schema violations:\n{}", all.len(), all.join("\n"));
}

#[test]
fn the_check_catches_what_the_api_server_rejects() {
    let schemas = Schemas::load(FluxVersion::new(2, 9));
    let good = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"interval": "10m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "fleet"}}});
    assert_eq!(schemas.violations(&good), Vec::<String>::new());
    let mut unknown = good.clone();
    unknown["spec"]["intervall"] = json!("5m");
    assert!(!schemas.violations(&unknown).is_empty(), "an unknown field is rejected");
    let mut bad_reason = good.clone();
    bad_reason["status"] = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "not a reason!",
        "message": "x", "lastTransitionTime": "2025-01-01T00:00:00Z"}]});
    assert!(!schemas.violations(&bad_reason).is_empty(), "a reason outside the pattern is rejected");
    let mut bad_time = good;
    bad_time["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
        "message": "x", "lastTransitionTime": "yesterday"}]});
    assert!(!schemas.violations(&bad_time).is_empty(), "a time that is not RFC 3339 is rejected");
    let removed = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2", "kind": "Kustomization", "metadata": {"name": "x"}});
    assert!(!schemas.violations(&removed).is_empty(), "2.9 serves no v1beta2");
}
