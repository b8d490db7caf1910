//! The checks file of `check --checks` (`check::config::parse`): no panic, no hang, errors as
//! FILE:LINE: message in user words; a file that reads is usable on any object.

#![no_main]

use flux_monitor_fuzz::{assert_file_error, text, FILE};
use libfuzzer_sys::fuzz_target;
use plugin::check::config::{self, CheckId};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    match config::parse(FILE, text) {
        Err(message) => assert_file_error(&message, FILE, text),
        Ok(config) => {
            let objects = [
                json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                       "metadata": {"name": "apps", "namespace": "flux-system",
                                    "labels": {"team": "web", "tier": "apps"}}}),
                json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                       "metadata": {"name": "flux-system", "namespace": "apps"}}),
            ];
            for id in CheckId::ALL {
                let _ = config.settings(id);
                for o in &objects {
                    let _ = config.for_object(id, o);
                }
            }
        }
    }
});
