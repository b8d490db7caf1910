//! Go duration strings (`model::parse_go_duration`), as Flux objects, scenarios and checks
//! files write them: no panic; what parses formats back (`format_go_duration`) to a string
//! that parses to the same duration.

#![no_main]

use flux_monitor_fuzz::{assert_user_words, text};
use libfuzzer_sys::fuzz_target;
use model::{format_go_duration, parse_go_duration};

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else { return };
    match parse_go_duration(text) {
        Err(e) => assert_user_words(&e.to_string(), text),
        Ok(d) => {
            let shown = format_go_duration(d);
            let again = parse_go_duration(&shown)
                .unwrap_or_else(|e| panic!("{text:?} parsed to {d:?}, shown as {shown:?}, which does not parse: {e}"));
            assert_eq!(again, d, "{text:?} parsed to {d:?}, shown as {shown:?}, which parses to {again:?}");
        }
    }
});
