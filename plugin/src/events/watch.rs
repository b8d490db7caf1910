//! `events --watch`: after the list, a kube-runtime watcher per list made, printing each event
//! that is new or changed (a repeated event comes back with a higher count) until Ctrl-C.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;

use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;

use super::read::{EventRecord, EventsApi, Query};
use super::render;
use super::Filter;
use crate::cli::EventsFormat;
use crate::cluster::Cluster;
use crate::error::Error;

/// Prints the first list and then one event at a time in the same columns.
pub struct Printer {
    format: EventsFormat,
    namespace: bool,
    widths: Vec<usize>,
    header_done: bool,
}

impl Printer {
    pub fn new(format: EventsFormat, namespace: bool) -> Self {
        Printer {
            format,
            namespace,
            widths: Vec::new(),
            header_done: false,
        }
    }

    pub fn initial(&mut self, events: &[EventRecord], now: Timestamp) -> String {
        match self.format {
            EventsFormat::Json => render::json_text(&render::list(events)),
            EventsFormat::Yaml => render::yaml_text(&render::list(events)),
            EventsFormat::Table => {
                let (text, widths) = render::table(events, now, self.namespace);
                self.widths = widths;
                self.header_done = true;
                text
            }
        }
    }

    pub fn one(&mut self, e: &EventRecord, now: Timestamp) -> String {
        match self.format {
            EventsFormat::Json => render::json_text(&e.shown_object()),
            EventsFormat::Yaml => format!("---\n{}", render::yaml_text(&e.shown_object())),
            EventsFormat::Table => {
                let row = render::row(e, now, self.namespace);
                let mut out = String::new();
                let header = render::header(self.namespace);
                let fresh = render::widths(&[header.clone(), row.clone()]);
                self.widths.resize(fresh.len(), 0);
                for (w, f) in self.widths.iter_mut().zip(fresh) {
                    *w = (*w).max(f);
                }
                if !self.header_done {
                    out.push_str(&render::line(&header, &self.widths));
                    self.header_done = true;
                }
                out.push_str(&render::line(&row, &self.widths));
                out
            }
        }
    }
}

/// Watches until Ctrl-C. `seen` maps the uid of every event printed to its resourceVersion.
pub async fn run(
    cluster: &Cluster,
    api: EventsApi,
    queries: &[Query],
    filter: &Filter,
    mut seen: HashMap<String, String>,
    mut printer: Printer,
) -> Result<(), Error> {
    let ar = api.api_resource();
    let streams = queries.iter().map(|q| {
        let events: Api<DynamicObject> = match &q.namespace {
            Some(ns) => Api::namespaced_with(cluster.watch_client.clone(), ns, &ar),
            None => Api::all_with(cluster.watch_client.clone(), &ar),
        };
        let mut config = watcher::Config::default().page_size(500);
        if let Some(fields) = q.field_selector(api) {
            config = config.fields(&fields);
        }
        watcher::watcher(events, config).default_backoff().boxed()
    });
    let mut merged = futures::stream::select_all(streams);
    let mut warned: HashSet<String> = HashSet::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            n = merged.next() => n,
        };
        let Some(item) = next else { return Ok(()) };
        let obj = match item {
            Ok(Event::Apply(o) | Event::InitApply(o)) => o,
            Ok(_) => continue,
            Err(e) => {
                let text = format!("warning: watching events: {}", crate::cluster::one_line(&e));
                if warned.insert(text.clone()) {
                    eprintln!("{text}");
                }
                continue;
            }
        };
        let Some(record) = api.record(serde_json::to_value(obj).unwrap_or(Value::Null)) else {
            continue;
        };
        if !filter.keep(&record) || seen.get(&record.uid) == Some(&record.resource_version) {
            continue;
        }
        seen.insert(record.uid.clone(), record.resource_version.clone());
        let text = printer.one(&record, Timestamp::now());
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
}
