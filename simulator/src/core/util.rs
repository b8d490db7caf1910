//! Shared pieces of the reconcilers: deterministic hashing, the reconcile context, metav1
//! conditions that keep their lastTransitionTime, and event construction.

use std::time::Duration;

use jiff::Timestamp;
use model::{kinds::KindInfo, FluxObject, ObjectRef};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{ActiveFault, ReconcileInput, Severity, SimEvent};

/// A 64-bit hash of the seed and some strings: FNV-1a, then a splitmix64 finish.
pub(crate) fn h64(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A number in [0, 1) from the seed and some strings.
pub(crate) fn unit(seed: u64, parts: &[&str]) -> f64 {
    (h64(seed, parts) >> 11) as f64 / (1u64 << 53) as f64
}

/// `len` hex digits of sha256(seed, parts): commit ids and digests.
pub(crate) fn hex(seed: u64, parts: &[&str], len: usize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update([0xff]);
    }
    let mut out = hex::encode(hasher.finalize());
    while out.len() < len {
        let more = hex::encode(Sha256::digest(out.as_bytes()));
        out.push_str(&more);
    }
    out.truncate(len);
    out
}

/// Kubernetes time: RFC 3339, whole seconds, UTC.
pub(crate) fn k8s_time(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second()).map_or_else(|_| t.to_string(), |s| s.to_string())
}

pub(crate) fn add(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(t)
}

/// The API server's NotFound message for an object of `kind`: `gitrepositories.source.toolkit.fluxcd.io "x" not found`.
pub(crate) fn not_found(kind: &str, name: &str) -> String {
    let resource = model::kinds::by_kind(kind).map_or_else(|| kind.to_lowercase(), |k| k.resource_name());
    format!("{resource} \"{name}\" not found")
}

/// The address kube-dns answers on in a kind cluster: where a lookup of an unresolvable host
/// fails (`lookup x.invalid on 10.96.0.10:53: no such host`).
pub(crate) const CLUSTER_DNS: &str = "10.96.0.10:53";

/// The host of a URL (`https://git.example.invalid/org/repo` -> `git.example.invalid`), for
/// URLs with or without a scheme.
pub(crate) fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    host_port.split(':').next().unwrap_or("")
}

/// Whether a URL's host is under the `.invalid` top-level domain, reserved by RFC 6761 never to
/// resolve: canary drills point sources there to make fetching fail for real.
pub(crate) fn unresolvable(url: &str) -> bool {
    let host = url_host(url).trim_end_matches('.');
    host == "invalid" || host.ends_with(".invalid")
}

pub(crate) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Go's `%v` of a duration with millisecond precision, as Flux prints elapsed times.
pub(crate) fn go_elapsed(d: Duration) -> String {
    model::format_go_duration(Duration::from_millis(d.as_millis() as u64))
}

/// Everything a kind's reconciler works with; it edits `status` in place.
pub(crate) struct Ctx<'a> {
    pub input: &'a ReconcileInput<'a>,
    pub obj: FluxObject<'a>,
    pub info: &'static KindInfo,
    pub oref: ObjectRef,
    pub generation: i64,
    /// When the reconcile ends: the time written into conditions and artifacts.
    pub finish: Timestamp,
    pub duration: Duration,
    pub interval: Duration,
    /// The object fault in force that applies to this kind, if any.
    pub fault: Option<&'a ActiveFault>,
    pub status: Map<String, Value>,
    pub events: Vec<SimEvent>,
    /// Set when the controller writes an in-progress status at the start of this reconcile:
    /// (Ready=Unknown message, Reconciling message).
    pub progress: Option<(String, String)>,
}

impl<'a> Ctx<'a> {
    pub fn seed(&self) -> u64 {
        self.input.seed
    }
    pub fn ns(&self) -> &str {
        &self.oref.namespace
    }
    pub fn name(&self) -> &str {
        &self.oref.name
    }
    pub fn spec_str(&self, pointer: &str) -> Option<&'a str> {
        self.obj.json.get("spec").and_then(|s| str_at(s, pointer))
    }
    /// A deterministic hash of this object's identity and `salt`.
    pub fn hash(&self, salt: &str) -> u64 {
        h64(
            self.seed(),
            &[&self.oref.kind, &self.oref.namespace, &self.oref.name, salt],
        )
    }
    pub fn hex(&self, salt: &str, len: usize) -> String {
        hex(
            self.seed(),
            &[&self.oref.kind, &self.oref.namespace, &self.oref.name, salt],
            len,
        )
    }

    /// Which upstream revision is current: upstreams move on every 2 to 8 hours per object.
    pub fn revision_epoch(&self) -> u64 {
        let period = 3600 * (2 + self.hash("revision-period") % 7);
        let created = self.obj.creation_timestamp().unwrap_or(self.finish);
        let age = self.finish.as_second().saturating_sub(created.as_second()).max(0) as u64;
        age / period
    }

    /// The fault's reason and message, or Flux's defaults for it.
    pub fn failure(&self, reason: &str, message: String) -> (String, String) {
        let f = self.fault;
        (
            f.and_then(|f| f.reason.clone()).unwrap_or_else(|| reason.to_string()),
            f.and_then(|f| f.message.clone()).unwrap_or(message),
        )
    }

    fn conditions_mut(&mut self) -> &mut Vec<Value> {
        let entry = self
            .status
            .entry("conditions")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !entry.is_array() {
            *entry = Value::Array(Vec::new());
        }
        entry.as_array_mut().expect("conditions is an array")
    }

    pub fn condition(&self, type_: &str) -> Option<&Value> {
        self.status
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|c| c["type"] == type_))
    }

    pub fn condition_is(&self, type_: &str, status: &str) -> bool {
        self.condition(type_).is_some_and(|c| c["status"] == status)
    }

    /// Sets a condition; lastTransitionTime only moves when the status changes (as kstatus does).
    pub fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let gen = self.generation;
        let now = k8s_time(self.finish);
        let list = self.conditions_mut();
        let ltt = list
            .iter()
            .find(|c| c["type"] == type_ && c["status"] == status)
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or(Value::String(now));
        let cond = json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": gen, "lastTransitionTime": ltt,
        });
        match list.iter_mut().find(|c| c["type"] == type_) {
            Some(c) => *c = cond,
            None => list.push(cond),
        }
        // Flux keeps Ready first; the rest in a stable order.
        list.sort_by_key(|c| {
            let t = c["type"].as_str().unwrap_or("").to_string();
            (t != "Ready", t)
        });
    }

    pub fn set_true(&mut self, type_: &str, reason: &str, message: &str) {
        self.set(type_, "True", reason, message);
    }
    pub fn set_false(&mut self, type_: &str, reason: &str, message: &str) {
        self.set(type_, "False", reason, message);
    }

    pub fn delete(&mut self, type_: &str) {
        if let Some(list) = self.status.get_mut("conditions").and_then(Value::as_array_mut) {
            list.retain(|c| c["type"] != type_);
        }
    }

    /// On failure Flux turns an existing Reconciling condition into ProgressingWithRetry.
    pub fn reconciling_with_retry(&mut self, default_message: &str) {
        let message = self
            .condition("Reconciling")
            .and_then(|c| c["message"].as_str())
            .unwrap_or(default_message)
            .to_string();
        self.set_true("Reconciling", "ProgressingWithRetry", &message);
    }

    /// The controller patches Ready=Unknown/Progressing before doing the work.
    pub fn mark_progressing(&mut self, ready_message: &str, reconciling_message: &str) {
        self.progress = Some((ready_message.to_string(), reconciling_message.to_string()));
    }

    /// The status written at the start of the reconcile, when the kind writes one.
    pub fn progress_status(&mut self, original: Map<String, Value>) -> Option<Value> {
        let (ready, reconciling) = self.progress.take()?;
        let (finish, status) = (self.finish, std::mem::replace(&mut self.status, original));
        self.finish = self.input.now;
        self.set("Reconciling", "True", "Progressing", &reconciling);
        self.set("Ready", "Unknown", "Progressing", &ready);
        self.finish = finish;
        Some(Value::Object(std::mem::replace(&mut self.status, status)))
    }

    pub fn observe_generation(&mut self) {
        self.status.insert("observedGeneration".into(), json!(self.generation));
    }

    /// Whether Ready was False before this reconcile (for recovery events).
    pub fn was_failing(&self) -> bool {
        self.obj.ready().is_some_and(|c| c.is_false())
    }

    /// Queues an event; metadata keys get the kind's API group as prefix.
    pub fn event(&mut self, severity: Severity, reason: &str, message: &str, meta: &[(&str, &str)]) {
        let group = self.info.group;
        let metadata = meta
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (format!("{group}/{k}"), (*v).to_string()))
            .collect();
        self.events.push(SimEvent {
            object: self.oref.clone(),
            controller: self.info.controller,
            severity,
            reason: reason.to_string(),
            message: message.to_string(),
            metadata,
            timestamp: self.finish,
        });
    }
}

/// Human size the way Flux prints artifact sizes (`44.05 KiB` style is not used: Go's
/// `units.HumanSize` gives `1.2MB`).
pub(crate) fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let digits: String = s.chars().take(if s.contains('.') { 5 } else { 4 }).collect();
    format!("{}{}", digits.trim_end_matches('.'), units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_spread() {
        assert_eq!(h64(1, &["a"]), h64(1, &["a"]));
        assert_ne!(h64(1, &["a"]), h64(2, &["a"]));
        assert_ne!(h64(1, &["ab", "c"]), h64(1, &["a", "bc"]));
        assert_eq!(hex(7, &["x"], 40).len(), 40);
        assert_eq!(hex(7, &["x"], 100).len(), 100);
        let mean: f64 = (0..1000).map(|i| unit(3, &[&i.to_string()])).sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }

    #[test]
    fn sizes_read_like_go() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1_234_567), "1.234MB");
        assert_eq!(human_size(44_050), "44.05kB");
    }

    #[test]
    fn kubernetes_times_drop_fractions() {
        let t: Timestamp = "2025-01-01T00:00:01.5Z".parse().unwrap();
        assert_eq!(k8s_time(t), "2025-01-01T00:00:01Z");
    }
}
