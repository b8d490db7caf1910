//! Watch streams: newline-delimited WatchEvents, flushed one by one, with bookmarks, timeouts and
//! the ADDED/DELETED transitions a selector-filtered watch sees.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::error::ApiError;
use super::http::{list_options, AppState, Format, Query, Target};
use super::inner::{parse_stored, Change};
use super::object::at_version;
use super::selector::FieldSelector;
use super::store::{EventType, ListOptions, WatchStart};
use super::table::{object_metadata, TableBuilder};
use super::types::ResourceType;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// The watch length when the client names no timeoutSeconds.
const DEFAULT_TIMEOUT: u64 = 1800;

/// Everything needed to turn store events into this watch's lines.
struct Encoder {
    rt: Arc<ResourceType>,
    version: String,
    options: ListOptions,
    format: Format,
    table: Option<TableBuilder>,
    first_table: bool,
}

impl Encoder {
    /// Whether events can be judged and encoded from the stored JSON alone: no selector looks
    /// inside objects, and they are sent as stored.
    fn passes_through(&self) -> bool {
        self.options.label_selector.is_empty()
            && self.options.field_selector.is_empty()
            && self.format == Format::Json
            && self.version == self.rt.version
    }

    fn namespace_ok(&self, namespace: &str) -> bool {
        match (&self.options.namespace, self.rt.namespaced) {
            (Some(ns), true) => ns == namespace,
            _ => true,
        }
    }

    fn visible(&self, object: &Value) -> bool {
        let ns_ok = match (&self.options.namespace, self.rt.namespaced) {
            (Some(ns), true) => {
                object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    == Some(ns.as_str())
            }
            _ => true,
        };
        ns_ok
            && self.options.label_selector.matches(object)
            && self.options.field_selector.matches(object)
    }

    fn encode(&mut self, event: &Change) -> Option<Bytes> {
        if *event.group != self.rt.group || *event.plural != self.rt.plural {
            return None;
        }
        if !self.namespace_ok(&event.namespace) {
            return None;
        }
        if self.passes_through() {
            return Some(raw_line(event.event_type.as_str(), &event.object));
        }
        let object = parse_stored(&event.object);
        let now = self.visible(&object);
        let kind = match event.event_type {
            EventType::Added if now => "ADDED",
            EventType::Deleted if now => "DELETED",
            EventType::Modified => match (
                event
                    .previous
                    .as_deref()
                    .is_some_and(|p| self.visible(&parse_stored(p))),
                now,
            ) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            },
            _ => return None,
        };
        Some(self.encode_value(kind, &object))
    }

    /// A current object as an initial ADDED event (namespace already matched).
    fn encode_initial(&mut self, stored: &Bytes) -> Option<Bytes> {
        if self.passes_through() {
            return Some(raw_line("ADDED", stored));
        }
        let object = parse_stored(stored);
        self.visible(&object)
            .then(|| self.encode_value("ADDED", &object))
    }

    fn encode_value(&mut self, kind: &str, object: &Value) -> Bytes {
        let object = at_version(object, &self.rt, &self.version);
        let object = match (self.format, &self.table) {
            (Format::Table(_), Some(builder)) => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(json!(""));
                let table = builder.table(
                    vec![builder.row(&object)],
                    json!({"resourceVersion": rv}),
                    self.first_table,
                );
                self.first_table = false;
                table
            }
            (Format::Metadata, _) => object_metadata(&object),
            _ => object,
        };
        line(kind, object)
    }

    fn bookmark(&self, resource_version: u64, initial_events_end: bool) -> Bytes {
        let mut metadata =
            json!({"resourceVersion": resource_version.to_string(), "creationTimestamp": null});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version_for(&self.version), "metadata": metadata});
        line("BOOKMARK", object)
    }
}

/// `{"type":KIND,"object":STORED}` and a newline, from the stored JSON as it is.
fn raw_line(kind: &str, stored: &[u8]) -> Bytes {
    let mut text = Vec::with_capacity(stored.len() + 40);
    text.extend_from_slice(b"{\"type\":\"");
    text.extend_from_slice(kind.as_bytes());
    text.extend_from_slice(b"\",\"object\":");
    text.extend_from_slice(stored);
    text.extend_from_slice(b"}\n");
    Bytes::from(text)
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn streaming(receiver: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<Bytes, Infallible>(chunk), receiver))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .expect("a streaming response is valid")
}

/// Starts a watch: ADDED for current objects (no resourceVersion, `0`, or sendInitialEvents) or the
/// retained events after the given resourceVersion, then live events until timeout or disconnect.
pub(crate) fn serve(
    state: &Arc<AppState>,
    target: &Target,
    query: &Query,
    format: Format,
) -> Result<Response, ApiError> {
    let rt = target.rt.clone();
    let mut options = list_options(&rt, target.namespace.as_deref(), query)?;
    if let Some(name) = &target.name {
        let mut fields = query.get("fieldSelector").cloned().unwrap_or_default();
        if !fields.is_empty() {
            fields.push(',');
        }
        fields.push_str(&format!("metadata.name={name}"));
        options.field_selector = FieldSelector::parse(&fields, &rt)?;
    }
    let flag = |key: &str| query.get(key).is_some_and(|v| v == "true" || v == "1");
    let send_initial = flag("sendInitialEvents");
    let bookmarks = flag("allowWatchBookmarks");
    let since = match query.get("resourceVersion").map(String::as_str) {
        _ if send_initial => None,
        None | Some("" | "0") => None,
        Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid resourceVersion {rv:?}: must be an integer"
            ))
        })?),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    let table = match format {
        Format::Table(include) => Some(TableBuilder::new(&rt, include)),
        _ => None,
    };
    let mut encoder = Encoder {
        rt: rt.clone(),
        version: target.version.clone(),
        options,
        format,
        table,
        first_table: true,
    };
    let (sender, receiver) = mpsc::channel::<Bytes>(256);
    let namespace = encoder.options.namespace.clone();
    let (initial, events, now) =
        match state
            .server
            .store()
            .watch_from(&rt, namespace.as_deref(), since)
        {
            Ok(start) => start,
            Err(error @ ApiError::Gone { .. }) => {
                // The real API server accepts the watch and then reports 410 Expired as an ERROR event.
                let _ = sender.try_send(line("ERROR", error.status()));
                return Ok(streaming(receiver));
            }
            Err(error) => return Err(error),
        };
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let send_initial_end = send_initial && bookmarks;
        match initial {
            WatchStart::Objects(objects) => {
                for object in &objects {
                    if let Some(chunk) = encoder.encode_initial(object) {
                        if sender.send(chunk).await.is_err() {
                            return;
                        }
                    }
                }
            }
            WatchStart::Changes(changes) => {
                for change in &changes {
                    if let Some(chunk) = encoder.encode(change) {
                        if sender.send(chunk).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        if send_initial_end && sender.send(encoder.bookmark(now, true)).await.is_err() {
            return;
        }
        pump(
            &mut encoder,
            &sender,
            events,
            now,
            bookmarks,
            Duration::from_secs(timeout),
            &mut shutdown,
        )
        .await;
    });
    Ok(streaming(receiver))
}

async fn pump(
    encoder: &mut Encoder,
    sender: &mpsc::Sender<Bytes>,
    mut events: broadcast::Receiver<Arc<Change>>,
    mut last_seen: u64,
    bookmarks: bool,
    timeout: Duration,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
    if *shutdown.borrow() {
        return;
    }
    loop {
        let chunk = tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    last_seen = event.resource_version;
                    match encoder.encode(&event) {
                        Some(chunk) => chunk,
                        None => continue,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let gone = ApiError::Gone { message: format!("too old resource version: {last_seen} ({})", last_seen + 1) };
                    let _ = sender.send(line("ERROR", gone.status())).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick(), if bookmarks => encoder.bookmark(last_seen, false),
            () = &mut deadline => {
                if bookmarks {
                    let _ = sender.send(encoder.bookmark(last_seen, false)).await;
                }
                return;
            }
            _ = shutdown.changed() => return,
            () = sender.closed() => return,
        };
        if sender.send(chunk).await.is_err() {
            return;
        }
    }
}
