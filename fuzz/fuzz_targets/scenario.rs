//! Scenario files as `flux-sim validate|serve` and `test` read them (`scenario::load_str`): no
//! panic, no hang, and every problem reported as FILE:LINE: message in user words.

#![no_main]

use std::path::Path;

use flux_monitor_fuzz::{assert_file_error, text, FILE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    if let Err(errors) = simulator::scenario::load_str(text, Path::new(FILE)) {
        assert!(!errors.is_empty(), "an error without a diagnostic");
        for d in &errors.diagnostics {
            assert_eq!(d.file, Path::new(FILE), "a diagnostic about another file: {d}");
            assert_file_error(&d.to_string(), FILE, text);
        }
    }
});
