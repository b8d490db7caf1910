//! Rule files as `test --rules` reads them (`rules_input::load_str`): plain rule files and
//! PrometheusRule objects. No panic, no hang, errors as FILE:LINE: message in user words.

#![no_main]

use flux_monitor_fuzz::{assert_file_error, text, FILE};
use libfuzzer_sys::fuzz_target;
use plugin::test_cmd::rules_input;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    match rules_input::load_str(FILE, text) {
        Err(e) => assert_file_error(&e.0, FILE, text),
        Ok(set) => {
            for a in &set.alerts {
                let _ = set.raw_metrics(a);
            }
        }
    }
});
