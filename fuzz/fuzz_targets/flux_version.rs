//! Flux version strings (`FluxVersion` from `--flux-version`, `spec.fluxVersion`, CRD labels):
//! no panic; a version that parses prints as one that parses to the same release.

#![no_main]

use flux_monitor_fuzz::{assert_user_words, text};
use libfuzzer_sys::fuzz_target;
use model::FluxVersion;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    if let Some(v) = FluxVersion::parse_release(text) {
        assert_eq!(FluxVersion::parse_release(&v.to_string()), Some(v), "{text:?} -> {v}");
    }
    match text.parse::<FluxVersion>() {
        Ok(v) => {
            assert!(v.is_known(), "{text:?} parsed to an unknown release {v}");
            assert_eq!(v.to_string().parse::<FluxVersion>(), Ok(v), "{text:?} -> {v}");
            assert!(v.latest_patch().is_some(), "{v} has no patch release in the catalog");
        }
        // VersionError quotes the value as given, so only a value a flag or a scenario passes
        // on as is (one short line; the scenario reader quotes others itself) is held to it.
        Err(e) if text.chars().count() <= 40 && !text.contains(char::is_control) => {
            assert_user_words(&e.to_string(), text)
        }
        Err(_) => {}
    }
});
