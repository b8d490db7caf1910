//! The notification path end to end on loopback: events posted as Flux's recorder posts them,
//! notification-controller emulated (rate limiting, Alert matching, metadata merge), and one
//! wiremock receiver per Provider type whose body must equal the golden file checked against
//! notification-controller's source (see tests/golden/notify/README.md for file and tag).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Controller, ObjectRef};
use serde_json::{json, Value};
use simulator::core::{Severity, SimEvent};
use simulator::notify::{
    self, event_v1, load_manifests, Config, EventSender, EventV1, NotificationController,
    NotifyOptions, ObjectReference, Outcome, PostOutcome, RetryWaits, SenderRetry,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SHA: &str = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
const TOKEN: &str = "s3cr3t-t0ken";

fn at(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

/// The live Kustomization the events are about.
fn webapp() -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": "webapp", "namespace": "apps",
            "uid": "7d0c2f6e-1f7b-4c1e-9d8a-3f2b1c0d9e8f", "resourceVersion": "4242",
            "labels": {"team": "web", "tier": "frontend"},
            "annotations": {"event.toolkit.fluxcd.io/owner": "web-team", "unrelated": "dropped"}
        },
        "spec": {"interval": "10m"}
    })
}

fn sim_event(severity: Severity, reason: &str, message: &str, meta: &[(&str, &str)]) -> SimEvent {
    SimEvent {
        object: ObjectRef::new("Kustomization", "apps", "webapp"),
        controller: Controller::Kustomize,
        severity,
        reason: reason.into(),
        message: message.into(),
        metadata: meta
            .iter()
            .map(|(k, v)| (format!("kustomize.toolkit.fluxcd.io/{k}"), v.to_string()))
            .collect(),
        timestamp: at("2025-01-01T10:00:00Z"),
    }
}

/// Success: what kustomize-controller posts after applying a revision.
fn succeeded() -> EventV1 {
    let ev = sim_event(
        Severity::Info,
        "ReconciliationSucceeded",
        "Reconciliation finished in 436ms, next run in 10m0s",
        &[
            ("revision", &format!("main@sha1:{SHA}")),
            ("commit_status", "update"),
        ],
    );
    event_v1(&ev, &webapp(), "kustomize-controller-7c7b47f5f-8bhrp")
}

/// Failure: a health check that timed out (multi-line message, `<`/`>` for Go's escaping).
fn failed() -> EventV1 {
    let ev = sim_event(
        Severity::Error,
        "HealthCheckFailed",
        "Health check failed after 5m0s: timeout waiting for: [Deployment/apps/webapp status: 'InProgress']\n<details> & more",
        &[("revision", &format!("main@sha1:{SHA}"))],
    );
    event_v1(&ev, &webapp(), "kustomize-controller-7c7b47f5f-8bhrp")
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/notify")
        .join(name)
}

/// Compares with the golden JSON; `UPDATE_GOLDEN=1` writes it (review the diff against the
/// Flux source named in the README before committing).
fn assert_golden(name: &str, actual: &Value) {
    let p = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&p, serde_json::to_string_pretty(actual).unwrap() + "\n").unwrap();
    }
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(actual, &expected, "{name} differs from the golden file");
}

/// Manifests with `SINK` replaced by the receiver's address, read through `load_manifests`.
fn config(yaml: &str, sink: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notify.yaml");
    std::fs::write(&file, yaml.replace("SINK", sink)).unwrap();
    load_manifests(&[file]).unwrap()
}

fn fast() -> NotifyOptions {
    NotifyOptions {
        retry: RetryWaits {
            min: Duration::from_millis(5),
            max: Duration::from_millis(20),
            max_retries: 4,
        },
        ..Default::default()
    }
}

fn lookup() -> Arc<dyn notify::ObjectLookup> {
    Arc::new(|o: &ObjectReference| {
        (o.kind == "Kustomization" && o.name == "webapp" && o.namespace == "apps").then(webapp)
    })
}

/// An NC emulation over `config`, served on loopback, and a sender pointed at it.
async fn start(config: Config, opts: NotifyOptions) -> (notify::Running, EventSender) {
    let nc = NotificationController::new(Arc::new(config), lookup(), opts);
    let running = notify::serve("127.0.0.1:0".parse().unwrap(), nc)
        .await
        .unwrap();
    let sender = EventSender::new(&running.url).unwrap();
    (running, sender)
}

async fn post_and_settle(
    running: &notify::Running,
    sender: &EventSender,
    e: &EventV1,
) -> PostOutcome {
    let out = sender.post(e).await.unwrap();
    running.controller.settle().await;
    out
}

fn alert(name: &str, provider: &str, extra_spec: &str) -> String {
    format!(
        r#"---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: apps}}
spec:
  providerRef: {{name: {provider}}}
  eventSources:
    - kind: Kustomization
      name: '*'
  eventMetadata:
    env: production
    summary: Production web apps
{extra_spec}
"#
    )
}

fn provider(name: &str, type_: &str, extra_spec: &str) -> String {
    format!(
        r#"---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: apps, uid: 0b5d2a4e-9c1f-4d8e-a7b6-1e2f3a4b5c6d}}
spec:
  type: {type_}
  secretRef: {{name: {name}-secret}}
{extra_spec}
---
apiVersion: v1
kind: Secret
metadata: {{name: {name}-secret, namespace: apps}}
stringData:
  address: SINK
  token: {TOKEN}
  headers: |
    X-Team: web
"#
    )
}

async fn sink() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn header(r: &Request, name: &str) -> Option<String> {
    r.headers.get(name).map(|v| v.to_str().unwrap().to_string())
}

// Checked against: fluxcd/pkg apis/event/v1beta1/event.go (apis/event/v0.27.1), runtime/events/recorder.go (runtime/v0.110.1), client-go tools/record/event.go.
#[tokio::test]
async fn eventv1_and_core_event_match_goldens() {
    let e = succeeded();
    assert_golden(
        "eventv1.json",
        &serde_json::from_slice(&notify::go_json(&e)).unwrap(),
    );
    let ev = sim_event(
        Severity::Error,
        "HealthCheckFailed",
        "Health check failed",
        &[("revision", "main@sha1:abc")],
    );
    let core = notify::core_event(&ev, &webapp());
    assert_golden("core-event.json", &core);
    // Go escapes <, > and & in JSON strings.
    let bytes = String::from_utf8(notify::go_json(&failed())).unwrap();
    assert!(
        bytes.contains("\\u003cdetails\\u003e \\u0026 more"),
        "{bytes}"
    );
}

// Checked against: notification-controller v1.9.3 internal/notifier/slack.go, client.go.
#[tokio::test]
async fn slack_gets_nc_payload_with_bearer_token() {
    let server = sink().await;
    let yaml = alert("chat", "slack", "") + &provider("slack", "slack", "  channel: '#flux'");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    assert_eq!(
        post_and_settle(&running, &sender, &failed()).await,
        PostOutcome::Accepted {
            status: 202,
            attempts: 1
        }
    );
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_golden("slack.json", &body(&reqs[0]));
    assert_eq!(
        header(&reqs[0], "authorization").as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        header(&reqs[0], "content-type").as_deref(),
        Some("application/json")
    );
    let d = running.controller.deliveries();
    assert_eq!(d[0].outcome, Outcome::Delivered { status: 200 });
}

// Checked against: notification-controller v1.9.3 internal/notifier/discord.go.
#[tokio::test]
async fn discord_gets_slack_payload_on_slack_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/123/abc/slack"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let yaml = alert("chat", "discord", "") + &provider("discord", "discord", "");
    let (running, sender) = start(
        config(&yaml, &format!("{}/api/webhooks/123/abc", server.uri())),
        fast(),
    )
    .await;
    post_and_settle(&running, &sender, &failed()).await;
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1, "{:?}", running.controller.deliveries());
    assert_golden("discord.json", &body(&reqs[0]));
}

// Checked against: notification-controller v1.9.3 internal/notifier/teams.go (buildMSTeamsAdaptiveCardPayload).
#[tokio::test]
async fn msteams_gets_adaptive_card() {
    let server = sink().await;
    let yaml = alert("chat", "teams", "") + &provider("teams", "msteams", "");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_golden("msteams-adaptive.json", &body(&reqs[0]));
}

// Checked against: notification-controller v1.9.3 internal/notifier/teams.go (NewMSTeams, buildMSTeamsDeprecatedConnectorPayload).
#[test]
fn msteams_legacy_card_for_webhook_office_com_hosts() {
    // No loopback host ends in .webhook.office.com: the request NC would build is checked as is.
    let opts = notify::NotifierOptions {
        url: "https://example.webhook.office.com/webhookb2/x".into(),
        ..Default::default()
    };
    let n = notify::Notifier::build("msteams", &opts).unwrap();
    let mut e = failed();
    let alert = notify::Alert {
        event_metadata: BTreeMap::from([("env".into(), "production".into())]),
        ..Default::default()
    };
    notify::combine_metadata(&mut e, &alert);
    let req = n.request(&e).unwrap();
    assert_golden(
        "msteams-legacy.json",
        &serde_json::from_slice(&req.body).unwrap(),
    );
}

// Checked against: notification-controller v1.9.3 internal/notifier/forwarder.go, internal/server/event_handlers.go (combineEventMetadata).
#[tokio::test]
async fn generic_forwards_the_event_with_headers() {
    let server = sink().await;
    let yaml = alert("hook", "generic", "") + &provider("generic", "generic", "");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    post_and_settle(&running, &sender, &succeeded()).await;
    let reqs = received(&server).await;
    assert_eq!(
        reqs.len(),
        1,
        "commit_status=update events reach generic providers"
    );
    assert_golden("generic.json", &body(&reqs[0]));
    assert_eq!(
        header(&reqs[0], "gotk-component").as_deref(),
        Some("kustomize-controller")
    );
    assert_eq!(header(&reqs[0], "x-team").as_deref(), Some("web"));
    assert!(header(&reqs[0], "x-signature").is_none());
}

// Checked against: notification-controller v1.9.3 internal/notifier/forwarder.go (sign), factory.go.
#[tokio::test]
async fn generic_hmac_signature_verifies_with_the_secret_token() {
    let server = sink().await;
    let yaml = alert("hook", "hmac", "") + &provider("hmac", "generic-hmac", "");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_golden("generic-hmac.json", &body(&reqs[0]));
    let sig = header(&reqs[0], "x-signature").unwrap();
    assert_eq!(
        sig,
        format!("sha256={}", hmac_sha256(TOKEN.as_bytes(), &reqs[0].body))
    );
    assert_ne!(
        sig,
        format!("sha256={}", hmac_sha256(b"wrong", &reqs[0].body))
    );
}

/// HMAC-SHA256 written out from RFC 2104 with sha2, independent of the code under test.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let ih = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(ih.iter().copied())
        .collect();
    hex::encode(Sha256::digest(&outer))
}

// Checked against: notification-controller v1.9.3 internal/notifier/github.go, github_helpers.go, internal/server/provider_commit_status.go.
#[tokio::test]
async fn github_commit_status_is_created_on_the_enterprise_api() {
    let server = MockServer::start().await;
    let statuses = format!("/api/v3/repos/acme/webapp/commits/{SHA}/statuses");
    Mock::given(method("GET"))
        .and(path(statuses.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let create = format!("/api/v3/repos/acme/webapp/statuses/{SHA}");
    Mock::given(method("POST"))
        .and(path(create.as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    let yaml = alert("commits", "github", "") + &provider("github", "github", "");
    let (running, sender) = start(
        config(&yaml, &format!("{}/acme/webapp", server.uri())),
        fast(),
    )
    .await;
    post_and_settle(&running, &sender, &succeeded()).await;
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 2, "{:?}", running.controller.deliveries());
    assert_eq!(reqs[0].url.query(), Some("per_page=50"));
    assert_golden("github.json", &body(&reqs[1]));
    assert_eq!(
        header(&reqs[1], "authorization").as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        header(&reqs[1], "accept").as_deref(),
        Some("application/vnd.github.v3+json")
    );
}

// Checked against: notification-controller v1.9.3 internal/notifier/alertmanager.go.
#[tokio::test]
async fn alertmanager_gets_one_firing_alert() {
    let server = sink().await;
    let yaml = alert("am", "am", "") + &provider("am", "alertmanager", "");
    let (running, sender) = start(
        config(&yaml, &format!("{}/api/v2/alerts", server.uri())),
        fast(),
    )
    .await;
    post_and_settle(&running, &sender, &failed()).await;
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    assert_golden("alertmanager.json", &body(&reqs[0]));
}

/// Sends `e` through an Alert with `extra_spec` and returns how many requests reached the sink.
async fn deliveries_with(extra_spec: &str, e: EventV1) -> (usize, NotificationController) {
    let server = sink().await;
    let yaml = alert("chat", "slack", extra_spec) + &provider("slack", "slack", "");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    post_and_settle(&running, &sender, &e).await;
    (received(&server).await.len(), running.controller.clone())
}

#[tokio::test]
async fn exclusion_list_match_delivers_nothing() {
    let (n, _) = deliveries_with("  exclusionList: ['timeout waiting']", failed()).await;
    assert_eq!(n, 0);
    // Exclusion wins over inclusion.
    let (n, _) = deliveries_with(
        "  inclusionList: ['Health']\n  exclusionList: ['^Health']",
        failed(),
    )
    .await;
    assert_eq!(n, 0);
    let (n, _) = deliveries_with("  inclusionList: ['no such text']", failed()).await;
    assert_eq!(n, 0);
    let (n, _) = deliveries_with("  inclusionList: ['check failed']", failed()).await;
    assert_eq!(n, 1, "inclusion regexes are unanchored");
}

#[tokio::test]
async fn non_matching_kind_delivers_nothing() {
    let yaml = alert("chat", "slack", "").replace("kind: Kustomization", "kind: kustomization");
    let server = sink().await;
    let (running, sender) = start(
        config(&(yaml + &provider("slack", "slack", "")), &server.uri()),
        fast(),
    )
    .await;
    assert_eq!(
        post_and_settle(&running, &sender, &failed()).await,
        PostOutcome::Accepted {
            status: 202,
            attempts: 1
        }
    );
    assert_eq!(
        received(&server).await.len(),
        0,
        "kind is matched case-sensitively"
    );
}

#[tokio::test]
async fn severity_below_the_alerts_delivers_nothing() {
    let mut info = failed();
    info.severity = "info".into();
    let (n, _) = deliveries_with("  eventSeverity: error", info).await;
    assert_eq!(n, 0);
    let (n, _) = deliveries_with("  eventSeverity: error", failed()).await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn suspended_alert_delivers_nothing() {
    let (n, nc) = deliveries_with("  suspend: true", failed()).await;
    assert_eq!(n, 0);
    assert!(nc.deliveries().is_empty() && nc.events().is_empty());
}

#[tokio::test]
async fn match_labels_are_checked_on_the_live_object() {
    let spec = "  eventSources:\n    - kind: Kustomization\n      name: '*'\n      matchLabels: {team: web}\n";
    let yaml = alert("chat", "slack", "").replace(
        "  eventSources:\n    - kind: Kustomization\n      name: '*'\n",
        spec,
    );
    let server = sink().await;
    let (running, sender) = start(
        config(
            &(yaml.clone() + &provider("slack", "slack", "")),
            &server.uri(),
        ),
        fast(),
    )
    .await;
    post_and_settle(&running, &sender, &failed()).await;
    assert_eq!(received(&server).await.len(), 1);
    let other = yaml.replace("{team: web}", "{team: payments}");
    let server = sink().await;
    let (running, sender) = start(
        config(&(other + &provider("slack", "slack", "")), &server.uri()),
        fast(),
    )
    .await;
    post_and_settle(&running, &sender, &failed()).await;
    assert_eq!(received(&server).await.len(), 0);
}

#[tokio::test]
async fn duplicate_inside_the_window_is_answered_429_and_delivered_once() {
    let server = sink().await;
    let yaml = alert("chat", "slack", "") + &provider("slack", "slack", "");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    assert!(matches!(
        post_and_settle(&running, &sender, &failed()).await,
        PostOutcome::Accepted { .. }
    ));
    assert_eq!(
        post_and_settle(&running, &sender, &failed()).await,
        PostOutcome::RateLimited { attempts: 1 }
    );
    assert_eq!(received(&server).await.len(), 1);
    // Another revision is another key.
    let mut next = failed();
    next.metadata.insert(
        "kustomize.toolkit.fluxcd.io/revision".into(),
        "main@sha1:1111111111111111111111111111111111111111".into(),
    );
    assert!(matches!(
        post_and_settle(&running, &sender, &next).await,
        PostOutcome::Accepted { .. }
    ));
    assert_eq!(received(&server).await.len(), 2);
    assert_eq!(running.controller.stats().rate_limited, 1);
}

#[tokio::test]
async fn rate_limit_window_is_configurable() {
    let server = sink().await;
    let yaml = alert("chat", "slack", "") + &provider("slack", "slack", "");
    let opts = NotifyOptions {
        rate_limit_interval: Duration::from_millis(200),
        ..fast()
    };
    let (running, sender) = start(config(&yaml, &server.uri()), opts).await;
    post_and_settle(&running, &sender, &failed()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        post_and_settle(&running, &sender, &failed()).await,
        PostOutcome::Accepted { .. }
    ));
    assert_eq!(received(&server).await.len(), 2);
}

// Checked against: notification-controller v1.9.3 internal/server/event_server.go (eventKeyFunc).
#[test]
fn rate_limit_key_is_ncs() {
    let mut e = succeeded();
    e.metadata
        .insert("kustomize.toolkit.fluxcd.io/token".into(), "gen-3".into());
    let text = format!(
        "event/name=webapp/namespace=apps/kind=Kustomization/message=Reconciliation finished in 436ms, next run in 10m0s/revision=main@sha1:{SHA}/token=gen-3"
    );
    use sha2::{Digest, Sha256};
    assert_eq!(
        notify::rate_limit_key(&e),
        hex::encode(Sha256::digest(text))
    );
}

#[tokio::test]
async fn invalid_json_is_answered_400() {
    let (running, _) = start(Config::default(), fast()).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(&running.url)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = client
        .post(&running.url)
        .body(notify::go_json(&failed()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        202,
        "202 even when no Alert matches"
    );
}

#[tokio::test]
async fn missing_provider_gives_notification_dispatch_failed() {
    let (running, sender) = start(
        config(&alert("orphan", "nowhere", ""), "http://127.0.0.1:9"),
        fast(),
    )
    .await;
    assert!(matches!(
        post_and_settle(&running, &sender, &failed()).await,
        PostOutcome::Accepted { .. }
    ));
    let events = running.controller.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, "NotificationDispatchFailed");
    assert_eq!(events[0].alert.name, "orphan");
    assert_eq!(
        events[0].message,
        "failed to dispatch notification for Kustomization/apps/webapp: failed to read provider: providers.notification.toolkit.fluxcd.io \"nowhere\" not found"
    );
    let core = events[0].to_core_event();
    assert_eq!(core["type"], "Warning");
    assert_eq!(core["involvedObject"]["kind"], "Alert");
    assert_eq!(core["source"]["component"], "notification-controller");
}

#[tokio::test]
async fn unknown_provider_type_is_not_supported() {
    let yaml = alert("chat", "pigeon", "") + &provider("pigeon", "carrier-pigeon", "");
    let (running, sender) = start(config(&yaml, "http://127.0.0.1:9"), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    let events = running.controller.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].message,
        "failed to dispatch notification for Kustomization/apps/webapp: failed to initialize notifier for provider 'pigeon': failed to initialize notifier: provider carrier-pigeon not supported"
    );
}

#[tokio::test]
async fn invalid_regex_is_skipped_with_invalid_config() {
    let (n, nc) =
        deliveries_with("  exclusionList: ['([unclosed', 'never matches']", failed()).await;
    assert_eq!(n, 1, "an exclusion that does not compile excludes nothing");
    let events = nc.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].reason.as_str(), events[0].message.as_str()),
        (
            "InvalidConfig",
            "failed to compile exclusion regex: ([unclosed"
        )
    );
    let (n, nc) = deliveries_with("  inclusionList: ['([unclosed']", failed()).await;
    assert_eq!(
        n, 0,
        "an inclusion list whose only entry does not compile includes nothing"
    );
    assert_eq!(
        nc.events()[0].message,
        "failed to compile inclusion regex: ([unclosed"
    );
}

#[tokio::test]
async fn commit_status_updates_skip_chat_but_reach_generic() {
    let (n, nc) = deliveries_with("", succeeded()).await;
    assert_eq!(n, 0);
    assert!(matches!(
        nc.deliveries()[0].outcome,
        Outcome::Skipped { .. }
    ));
}

#[tokio::test]
async fn suspended_provider_is_skipped_silently() {
    let server = sink().await;
    let yaml = alert("chat", "slack", "") + &provider("slack", "slack", "  suspend: true");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    assert_eq!(received(&server).await.len(), 0);
    assert!(running.controller.events().is_empty());
}

// Checked against: notification-controller v1.9.3 internal/notifier/client.go (RetryMax 4, waits 2s..30s), event_handlers.go (masktoken).
#[tokio::test]
async fn failed_delivery_is_retried_then_reported_without_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("down"))
        .mount(&server)
        .await;
    let hook = format!("{}/services/T000/B000/{TOKEN}", server.uri());
    let yaml = alert("chat", "slack", "") + &provider("slack", "slack", "");
    let (running, sender) = start(config(&yaml, &hook), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    assert_eq!(
        received(&server).await.len(),
        5,
        "4 retries after the first attempt"
    );
    let events = running.controller.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "NotificationDispatchFailed");
    assert!(events[0].message.starts_with("failed to send notification for Kustomization/apps/webapp: postMessage failed: failed to execute request: POST http://127.0.0.1:"), "{}", events[0].message);
    assert!(
        events[0].message.ends_with("giving up after 5 attempt(s)"),
        "{}",
        events[0].message
    );
    let all = format!(
        "{:?} {:?} {:?}",
        running.controller.deliveries(),
        events,
        config(&yaml, &hook)
    );
    assert!(
        !all.contains(TOKEN) && !all.contains("B000"),
        "a secret leaked: {all}"
    );
}

// Checked against: fluxcd/pkg runtime/events/recorder.go (checkRetry) on go-retryablehttp v0.7.8 client.go.
#[tokio::test]
async fn sender_retries_5xx_but_not_429() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let retry = SenderRetry {
        waits: RetryWaits {
            min: Duration::from_millis(5),
            ..SenderRetry::default().waits
        },
        ..Default::default()
    };
    let sender = EventSender::new(&server.uri()).unwrap().with_retry(retry);
    assert_eq!(
        sender.post(&failed()).await.unwrap(),
        PostOutcome::Accepted {
            status: 202,
            attempts: 3
        }
    );

    let limited = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&limited)
        .await;
    let sender = EventSender::new(&limited.uri()).unwrap().with_retry(retry);
    assert_eq!(
        sender.post(&failed()).await.unwrap(),
        PostOutcome::RateLimited { attempts: 1 }
    );
    assert_eq!(received(&limited).await.len(), 1);

    let dead = EventSender::new("http://127.0.0.1:9/")
        .unwrap()
        .with_retry(retry);
    let err = dead.post(&failed()).await.unwrap_err().to_string();
    assert!(err.contains("giving up after 5 attempt(s)"), "{err}");
}

#[tokio::test]
async fn manifests_read_v1beta2_alerts_and_base64_secrets() {
    let yaml = r#"
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {name: old, namespace: flux-system}
spec:
  providerRef: {name: p}
  eventSources: [{kind: GitRepository, name: '*'}]
---
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: flux-system}
data: {address: aHR0cDovLzEyNy4wLjAuMTo5LyAg}
stringData: {token: t}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
"#;
    let c = config(yaml, "");
    assert_eq!(c.alerts[0].event_severity, "info");
    assert_eq!(
        c.secrets[0].string("address").as_deref(),
        Some("http://127.0.0.1:9/  ")
    );
    assert_eq!(c.secrets[0].string("token").as_deref(), Some("t"));
    let secret_debug = format!("{:?}", c.secrets[0]);
    assert!(!secret_debug.contains("127.0.0.1"), "{secret_debug}");
    let bad = config_err("apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\nmetadata: {name: a}\nspec: {eventSources: []}\n");
    assert!(
        bad.contains("Alert default/a: spec.providerRef.name is required"),
        "{bad}"
    );
}

fn config_err(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, yaml).unwrap();
    load_manifests(&[file]).unwrap_err().to_string()
}

/// Events per second through the emulation (sender -> event server -> Alert -> generic
/// Provider -> local sink). Prints the figure; performance is judged by benchmarks, not here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_per_second_through_the_emulation() {
    let server = sink().await;
    let yaml = alert("hook", "generic", "") + &provider("generic", "generic", "");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    let n = 1000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let sender = sender.clone();
        let mut e = failed();
        e.message = format!("event {i}");
        tasks.push(tokio::spawn(async move { sender.post(&e).await.unwrap() }));
        if tasks.len() >= 32 {
            for t in tasks.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    running.controller.settle().await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(received(&server).await.len(), n);
    println!(
        "notify: {n} events in {secs:.2}s = {:.0} events/s delivered to a local sink",
        n as f64 / secs
    );
}

// Checked against: notification-controller v1.9.3 internal/notifier/util.go (splitCamelcase),
// alertmanager.go (cases.Title), discord.go (path.Join), teams.go (host suffix).
#[test]
fn helpers_follow_ncs_go_functions() {
    use notify::payloads::{split_camel_case, title_case};
    assert_eq!(
        split_camel_case("ReconciliationSucceeded"),
        ["Reconciliation", "Succeeded"]
    );
    assert_eq!(split_camel_case("PDFLoader"), ["PDF", "Loader"]);
    assert_eq!(
        split_camel_case("HealthCheckFailed")
            .join(" ")
            .to_lowercase(),
        "health check failed"
    );
    assert_eq!(
        title_case("ReconciliationSucceeded"),
        "Reconciliationsucceeded"
    );
    let build = |t: &str, url: &str| {
        let o = notify::NotifierOptions {
            url: url.into(),
            token: "t".into(),
            ..Default::default()
        };
        notify::Notifier::build(t, &o)
    };
    let d = build("discord", "https://discord.com/api/webhooks/1/abc").unwrap();
    let req = d.request(&failed()).unwrap();
    assert_eq!(req.url, "https://discord.com/api/webhooks/1/abc/slack");
    let err = build("slack", "hooks.slack.com/services/T/B/secret").unwrap_err();
    assert!(!err.contains("secret"), "{err}");
    assert!(err.starts_with("invalid Slack hook URL"), "{err}");
    assert_eq!(
        build("generic-hmac", "http://127.0.0.1:9/").map(|_| ()),
        Ok(())
    );
    let o = notify::NotifierOptions {
        url: "http://127.0.0.1:9/".into(),
        ..Default::default()
    };
    assert_eq!(
        notify::Notifier::build("generic-hmac", &o).unwrap_err(),
        "HMAC key is empty"
    );
}

// Checked against: notification-controller v1.9.3 internal/server/event_handlers.go (dispatchNotification's
// goroutine: "failed to send notification for %s: %s"), internal/notifier/client.go (postMessage).
#[tokio::test]
async fn provider_whose_sink_answers_500_gives_notification_dispatch_failed_on_the_alert() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .mount(&server)
        .await;
    let hook = format!("{}/hooks/{TOKEN}", server.uri());
    let yaml = alert("chat", "pager", "") + &provider("pager", "generic", "");
    let (sink_tx, mut written) = tokio::sync::mpsc::unbounded_channel();
    let opts = NotifyOptions {
        event_sink: Some(sink_tx),
        ..fast()
    };
    let (running, sender) = start(config(&yaml, &hook), opts).await;
    post_and_settle(&running, &sender, &failed()).await;
    assert_eq!(received(&server).await.len(), 5, "500 is retried 4 times");
    let events = running.controller.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].type_.as_str(), events[0].reason.as_str()),
        ("Warning", "NotificationDispatchFailed")
    );
    assert_eq!(events[0].alert.kind, "Alert");
    assert_eq!(events[0].alert.name, "chat");
    assert!(
        events[0].message.starts_with("failed to send notification for Kustomization/apps/webapp: postMessage failed: failed to execute request: POST http://127.0.0.1:")
            && events[0].message.ends_with("/*** giving up after 5 attempt(s)"),
        "{}",
        events[0].message
    );
    // What is written to the API: the same event, as a core/v1 Event about the Alert.
    let core = written
        .try_recv()
        .expect("the event reaches the API writer")
        .to_core_event();
    assert_eq!(core["involvedObject"]["kind"], "Alert");
    assert_eq!(core["reason"], "NotificationDispatchFailed");
    assert_eq!(core["source"]["component"], "notification-controller");
    assert!(!core.to_string().contains(TOKEN), "{core}");
}

// Checked against: notification-controller v1.9.3 internal/server/event_handlers.go (createNotifier's
// getSecret: "failed to get secret '%s': %w", wrapped by getNotificationParams and handleEvent).
#[tokio::test]
async fn provider_with_a_missing_secret_gives_notification_dispatch_failed() {
    let yaml = alert("chat", "slack", "")
        + "---\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {name: slack, namespace: apps}\nspec: {type: slack, secretRef: {name: slack-webhook}}\n";
    let (running, sender) = start(config(&yaml, "http://127.0.0.1:9"), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    let events = running.controller.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, "NotificationDispatchFailed");
    assert_eq!(
        events[0].message,
        "failed to dispatch notification for Kustomization/apps/webapp: failed to initialize notifier for provider 'slack': failed to get secret 'apps/slack-webhook': secrets \"slack-webhook\" not found"
    );
}

fn warning(message: &str) -> notify::AlertEvent {
    notify::AlertEvent {
        alert: ObjectReference {
            kind: "Alert".into(),
            namespace: "apps".into(),
            name: "chat".into(),
            uid: "u".into(),
            ..Default::default()
        },
        type_: "Warning".into(),
        reason: "NotificationDispatchFailed".into(),
        message: message.into(),
        annotations: BTreeMap::new(),
        timestamp: at("2025-01-01T10:00:00Z"),
    }
}

// Checked against: client-go tools/record/events_cache.go (defaultSpamBurst 25, defaultSpamQPS 1/300,
// defaultAggregateMaxEvents 10, defaultAggregateIntervalInSeconds 600, EventAggregatorByReasonMessageFunc).
#[test]
fn the_recorder_drops_past_25_events_per_alert_and_refills_one_per_5_minutes() {
    let c = notify::EventCorrelator::new();
    let t0 = Instant::now();
    let passed = (0..30)
        .filter(|_| c.correlate(warning("same failure"), t0).is_some())
        .count();
    assert_eq!(passed, 25);
    assert!(c
        .correlate(warning("same failure"), t0 + Duration::from_secs(299))
        .is_none());
    assert!(
        c.correlate(warning("same failure"), t0 + Duration::from_secs(301))
            .is_some(),
        "one token back after 5 minutes"
    );
    assert!(c
        .correlate(warning("same failure"), t0 + Duration::from_secs(302))
        .is_none());
}

#[test]
fn ten_different_messages_within_10_minutes_are_combined() {
    let c = notify::EventCorrelator::new();
    let t0 = Instant::now();
    let written: Vec<String> = (0..12)
        .filter_map(|i| {
            c.correlate(
                warning(&format!("failed for Kustomization/apps/app-{i}")),
                t0 + Duration::from_secs(i * 30),
            )
        })
        .map(|e| e.message)
        .collect();
    assert_eq!(written.len(), 12);
    assert!(
        written[..9]
            .iter()
            .all(|m| !m.starts_with(notify::COMBINED_PREFIX)),
        "{written:?}"
    );
    assert_eq!(
        written[9],
        "(combined from similar events): failed for Kustomization/apps/app-9"
    );
    assert!(written[10].starts_with(notify::COMBINED_PREFIX));
    // Quiet for longer than 10 minutes: a new message stands alone again.
    let later = c
        .correlate(
            warning("failed for Kustomization/apps/later"),
            t0 + Duration::from_secs(12 * 30 + 601),
        )
        .unwrap();
    assert_eq!(later.message, "failed for Kustomization/apps/later");
}

// ---- Where notification-controller's behaviour depends on its version or on Go ----

/// A Provider whose Secret sets headers the forwarder also sets.
fn provider_with_headers(name: &str, type_: &str, headers: &str) -> String {
    format!(
        "---\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\nmetadata: {{name: {name}, namespace: apps}}\nspec:\n  type: {type_}\n  secretRef: {{name: {name}-secret}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-secret, namespace: apps}}\nstringData:\n  address: SINK\n  headers: |\n{headers}"
    )
}

// Checked against: notification-controller v1.9.3 internal/notifier/forwarder.go (req.Header.Set).
#[tokio::test]
async fn generic_secret_headers_replace_the_forwarders_own() {
    let server = sink().await;
    let yaml = alert("hook", "hook", "")
        + &provider_with_headers("hook", "generic", "    content-type: application/cloudevents+json\n    Gotk-Component: relabelled\n");
    let (running, sender) = start(config(&yaml, &server.uri()), fast()).await;
    post_and_settle(&running, &sender, &failed()).await;
    let reqs = received(&server).await;
    assert_eq!(reqs.len(), 1);
    let values = |name: &str| reqs[0].headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(values("content-type"), ["application/cloudevents+json"]);
    assert_eq!(values("gotk-component"), ["relabelled"]);
}

// Checked against: sethvargo/go-limiter httplimit/middleware.go (headers on every take,
// Retry-After and http.Error on a refusal), as notification-controller's event server uses it.
#[tokio::test]
async fn the_event_server_answers_with_rate_limit_headers() {
    let (running, _) = start(config(&alert("hook", "hook", ""), "http://127.0.0.1:9"), fast()).await;
    let client = reqwest::Client::new();
    let body = notify::go_json(&failed());
    let first = client.post(&running.url).body(body.clone()).send().await.unwrap();
    assert_eq!(first.status(), 202);
    let h = |r: &reqwest::Response, n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(h(&first, "x-ratelimit-limit").as_deref(), Some("1"));
    assert_eq!(h(&first, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(h(&first, "x-ratelimit-reset").is_some_and(|r| r.ends_with(" UTC")));
    assert!(h(&first, "retry-after").is_none());
    let second = client.post(&running.url).body(body).send().await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(h(&second, "retry-after").is_some());
    assert_eq!(h(&second, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(second.text().await.unwrap(), "Too Many Requests\n");
}

// Checked against: Go's encoding/json (null leaves a field at its zero value), which
// notification-controller's event server decodes with.
#[tokio::test]
async fn null_fields_decode_as_go_decodes_them() {
    let e = EventV1::decode_go(br#"{"involvedObject": {"kind": "Kustomization", "name": "webapp", "namespace": null}, "severity": "info", "message": null, "reason": "Progressing", "metadata": {"kustomize.toolkit.fluxcd.io/revision": null}, "reportingController": null}"#).unwrap();
    assert_eq!(e.message, "");
    assert_eq!(e.involved_object.namespace, "");
    assert_eq!(e.metadata.get("kustomize.toolkit.fluxcd.io/revision").map(String::as_str), Some(""));
    assert_eq!(EventV1::decode_go(b"null").unwrap(), EventV1::default());
    assert!(EventV1::decode_go(br#"{"message": 7}"#).is_err(), "a wrong type is still an error");
}

// Checked against: notification-controller internal/notifier/teams.go at v1.3.0 (MessageCard
// only) and v1.4.0 (Adaptive Cards unless the host is *.webhook.office.com).
#[tokio::test]
async fn msteams_gets_message_cards_before_flux_2_4() {
    for (version, want) in [("2.3", "MessageCard"), ("2.4", "message")] {
        let server = sink().await;
        let yaml = alert("teams", "teams", "") + &provider("teams", "msteams", "");
        let opts = NotifyOptions { flux_version: version.parse().unwrap(), ..fast() };
        let (running, sender) = start(config(&yaml, &server.uri()), opts).await;
        post_and_settle(&running, &sender, &failed()).await;
        let reqs = received(&server).await;
        assert_eq!(reqs.len(), 1, "Flux {version}");
        let b = body(&reqs[0]);
        let got = b.get("@type").or_else(|| b.get("type")).and_then(Value::as_str).unwrap_or("");
        assert_eq!(got, want, "Flux {version}: {b}");
    }
}

// Checked against: notification-controller internal/server/event_handlers.go at v1.7.5 (each
// chat notifier skips commit status updates, generic forwards them), v1.8.0 (dropped for every
// non-Git provider) and v1.9.3 (generic forwards them again).
#[tokio::test]
async fn commit_status_updates_reach_generic_providers_except_in_flux_2_8() {
    for (version, delivered) in [("2.7", 1), ("2.8", 0), ("2.9", 1)] {
        let server = sink().await;
        let yaml = alert("hook", "hook", "") + &provider("hook", "generic", "");
        let opts = NotifyOptions { flux_version: version.parse().unwrap(), ..fast() };
        let (running, sender) = start(config(&yaml, &server.uri()), opts).await;
        post_and_settle(&running, &sender, &succeeded()).await;
        assert_eq!(received(&server).await.len(), delivered, "Flux {version}");
    }
}
