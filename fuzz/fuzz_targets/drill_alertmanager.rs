//! An Alertmanager configuration as `drill --alertmanager-config` reads and rewrites it
//! (`amcfg::parse`, then `amcfg::rewrite` at a time scale of 60 against a loopback sink). No
//! panic, no hang; errors as FILE:LINE: message in user words; the rewrite sends nothing
//! anywhere but the sink.

#![no_main]

use std::path::Path;

use flux_monitor_fuzz::{assert_file_error, text, FILE};
use libfuzzer_sys::fuzz_target;
use plugin::drill::amcfg;

const SINK: &str = "http://127.0.0.1:9";

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    let config = match amcfg::parse(FILE, text) {
        Ok(c) => c,
        Err(message) => return assert_file_error(&message, FILE, text),
    };
    match amcfg::rewrite(&config, Path::new(FILE), 60.0, SINK) {
        Err(message) => assert_file_error(&message, FILE, text),
        Ok(out) => {
            let v: serde_json::Value =
                serde_json::from_str(&out.text).expect("the rewrite is JSON");
            assert_eq!(out.receivers.len(), v["receivers"].as_array().map_or(0, Vec::len));
        }
    }
});
