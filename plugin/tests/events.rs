//! `events` and the Alert/Provider verdicts against the embedded Kubernetes API, with Events
//! written as notification-controller v1.9.3 writes them (its "giving up" message carries the
//! whole webhook address): addresses withheld in every output, kubectl's repeat counts, only Flux
//! objects' events, the window, and what happens when events cannot be read.

mod common;

use common::*;
use serde_json::{json, Value};

const HOOK: &str = "https://hooks.slack.com/services/T0ACME/B0FLUX/s3cr3tW3bh00k";

fn ago(minutes: i64) -> String {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(minutes);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An Event first seen `first` and last seen `last` minutes ago, `count` times.
fn event(
    name: &str,
    involved: Value,
    (type_, reason, message): (&str, &str, &str),
    (first, last, count): (i64, i64, i64),
) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "flux-system"},
        "involvedObject": involved, "type": type_, "reason": reason, "message": message,
        "source": {"component": "notification-controller"},
        "firstTimestamp": ago(first), "lastTimestamp": ago(last), "count": count})
}

fn alert_ref(name: &str) -> Value {
    json!({"kind": "Alert", "namespace": "flux-system", "name": name, "apiVersion": "notification.toolkit.fluxcd.io/v1beta3"})
}

/// Two Alerts on one Provider; NotificationDispatchFailed on on-call 5 times
/// over the last 20 minutes, and noise the command must leave out.
fn seed(c: &TestCluster) {
    c.create(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "slack-webhook", "namespace": "flux-system"},
        "data": {"address": "aHR0cHM6Ly9ob29rcy5zbGFjay5jb20="}}));
    c.create(
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "slack", "namespace": "flux-system", "creationTimestamp": ago(120)},
        "spec": {"type": "slack", "secretRef": {"name": "slack-webhook"}}}),
    );
    for (name, provider) in [("on-call", "slack"), ("old-failure", "slack")] {
        c.create(
            json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": name, "namespace": "flux-system", "creationTimestamp": ago(120)},
            "spec": {"providerRef": {"name": provider}, "eventSeverity": "error",
                     "eventSources": [{"kind": "Kustomization", "name": "*"}]}}),
        );
    }
    let giving_up = format!(
        "failed to send notification for Kustomization/flux-system/apps: postMessage failed: failed to execute request: POST {HOOK} giving up after 5 attempt(s)"
    );
    for e in [
        event(
            "on-call.1",
            alert_ref("on-call"),
            ("Warning", "NotificationDispatchFailed", &giving_up),
            (20, 3, 5),
        ),
        // Older than the default window of 1h.
        event(
            "old-failure.1",
            alert_ref("old-failure"),
            ("Warning", "NotificationDispatchFailed", &giving_up),
            (150, 120, 1),
        ),
        event(
            "apps.1",
            json!({"kind": "Kustomization", "namespace": "flux-system", "name": "apps", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"}),
            (
                "Warning",
                "BuildFailed",
                "kustomize build failed: accumulating resources",
            ),
            (30, 2, 3),
        ),
        event(
            "web.1",
            json!({"kind": "Pod", "namespace": "flux-system", "name": "web", "apiVersion": "v1"}),
            ("Normal", "Pulled", "image pulled"),
            (5, 5, 1),
        ),
        event(
            "foreign.1",
            json!({"kind": "Alert", "namespace": "flux-system", "name": "on-call", "apiVersion": "monitoring.example.com/v1"}),
            ("Warning", "Firing", "another project's Alert kind"),
            (5, 5, 1),
        ),
    ] {
        c.create(e);
    }
}

fn status_items(c: &TestCluster, extra: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let mut args = vec![
        "status",
        "-n",
        "flux-system",
        "--kind",
        "alert,provider",
        "-o",
        "json",
    ];
    args.extend(extra);
    let o = c.run(&args);
    let items = serde_json::from_slice::<Value>(&o.stdout)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default();
    (
        o.status.code(),
        items,
        format!("{}{}", stdout(&o), stderr(&o)),
    )
}

fn find<'a>(items: &'a [Value], kind: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["objectRef"]["kind"] == kind && i["objectRef"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in {items:?}"))
}

#[test]
fn events_show_flux_objects_with_counts_and_without_webhook_addresses() {
    let c = TestCluster::start();
    seed(&c);
    let o = c.run(&["events", "-n", "flux-system"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("LAST SEEN "), "{out}");
    assert_eq!(
        lines.len(),
        4,
        "header + three Flux events; the Pod's and another group's Alert left out:\n{out}"
    );
    // Newest last, kubectl's repeat counts.
    assert!(lines[1].contains("Alert/old-failure"), "{out}");
    assert!(
        lines[2].starts_with("3m")
            && lines[2].contains(" (x5 over 20m) ")
            && lines[2].contains("Alert/on-call"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("2m")
            && lines[3].contains(" (x3 over 30m) ")
            && lines[3].contains("Kustomization/apps"),
        "{out}"
    );
    assert!(
        lines[2].contains("POST https://hooks.slack.com/*** giving up after 5 attempt(s)"),
        "{}",
        lines[2]
    );

    let json = stdout(&c.run(&[
        "events",
        "-n",
        "flux-system",
        "--for",
        "Alert/on-call",
        "-o",
        "json",
    ]));
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(v["items"][0]["count"], 5);
    let yaml = stdout(&c.run(&["events", "-A", "-o", "yaml"]));
    let all = format!("{out}{json}{yaml}");
    assert!(
        !all.contains("s3cr3t") && !all.contains("T0ACME"),
        "the webhook path leaked:\n{all}"
    );

    let recent = stdout(&c.run(&[
        "events",
        "-n",
        "flux-system",
        "--since",
        "10m",
        "--types",
        "warning",
    ]));
    assert_eq!(
        recent.lines().count(),
        3,
        "old-failure's event is older than 10m:\n{recent}"
    );
    let none = c.run(&["events", "-n", "apps"]);
    assert_eq!(none.status.code(), Some(0));
    assert_eq!(stderr(&none), "No events found in apps namespace.\n");
}

#[test]
fn alerts_and_providers_fail_on_recent_dispatch_failures_only() {
    let c = TestCluster::start();
    seed(&c);
    let (code, items, text) = status_items(&c, &[]);
    assert_eq!(code, Some(1), "{text}");
    let on_call = find(&items, "Alert", "on-call");
    assert_eq!(on_call["verdict"], "Failing");
    assert_eq!(on_call["reason"], "NotificationDispatchFailed");
    assert_eq!(
        on_call["message"],
        "failed to send notification for Kustomization/flux-system/apps: postMessage failed: failed to execute request: POST https://hooks.slack.com/*** giving up after 5 attempt(s)"
    );
    assert_eq!(
        find(&items, "Provider", "slack")["verdict"],
        "Failing",
        "the Provider's POST failed"
    );
    let old = find(&items, "Alert", "old-failure");
    assert_eq!(
        (old["verdict"].as_str(), old["message"].as_str()),
        (Some("Ready"), Some("no dispatch failure in the last 1h"))
    );
    assert!(!text.contains("s3cr3t"), "{text}");

    let (_, items, _) = status_items(&c, &["--notification-window", "3h"]);
    assert_eq!(
        find(&items, "Alert", "old-failure")["verdict"],
        "Failing",
        "a wider window sees the older failure"
    );
    let bad = c.run(&["status", "--notification-window", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn unreadable_events_leave_alerts_unknown_and_events_exit_2() {
    let c = TestCluster::start();
    seed(&c);
    c.api.deny("events", 403);
    let (code, items, text) = status_items(&c, &[]);
    assert_eq!(code, Some(1), "{text}");
    let a = find(&items, "Alert", "on-call");
    assert_eq!(a["verdict"], "Unknown", "{a}");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read its events"),
        "{a}"
    );
    assert!(
        text.contains("warning: cannot read events, so Alerts and Providers cannot be judged"),
        "{text}"
    );
    let o = c.run(&["events", "-n", "flux-system"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).starts_with("error: cannot list events:"),
        "{}",
        stderr(&o)
    );
}
