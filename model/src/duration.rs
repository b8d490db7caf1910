//! Go `time.Duration` strings as Flux writes them in `spec.interval` (`10m0s`, `1h`, `30s`, `1.5h`).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {}: {why} (expected a Go duration such as 30s, 5m, 1h30m)", quoted(.input))]
pub struct DurationError {
    pub input: String,
    pub why: &'static str,
}

/// The longest piece of an invalid duration quoted back in its message.
const QUOTE_CHARS: usize = 40;

/// The input as a message quotes it: escaped, and cut short when it is long.
fn quoted(input: &str) -> String {
    match input.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{:?}…", &input[..i]),
        None => format!("{input:?}"),
    }
}

/// The longest duration Go (and so Flux) represents: 2562047h47m16.854775807s.
const MAX_NANOS: u64 = i64::MAX as u64;

/// Parses a Go duration: a sequence of decimal numbers each with a unit (ns, us, µs, ms, s, m, h).
/// Negative durations are rejected: Flux intervals and timeouts are never negative. Read as Go's
/// `time.ParseDuration` reads it, in whole nanoseconds, and refused past Go's largest duration
/// (Flux's controllers would refuse it too).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |why| DurationError { input: input.to_string(), why };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(err("negative"));
    }
    let too_large = || err("too large: Go durations stop at 2562047h47m16.854775807s");
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        if num_end == 0 {
            return Err(err("expected a number"));
        }
        let (whole, fraction) = match rest[..num_end].split_once('.') {
            Some((w, f)) => (w, f),
            None => (&rest[..num_end], ""),
        };
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(err("bad number"));
        }
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: u64 = match &rest[..unit_end] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err("unknown unit")),
        };
        rest = &rest[unit_end..];
        let mut value = whole
            .bytes()
            .try_fold(0u64, |v, d| v.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .and_then(|v| v.checked_mul(unit))
            .filter(|v| *v <= MAX_NANOS)
            .ok_or_else(too_large)?;
        if !fraction.is_empty() {
            // As Go does: the digits that fit in 64 bits, scaled in floating point (at most
            // 3.6e12 ns, so exact to the nanosecond).
            let (mut f, mut scale) = (0u64, 1f64);
            for d in fraction.bytes() {
                match f.checked_mul(10).and_then(|x| x.checked_add(u64::from(d - b'0'))) {
                    Some(x) if x < 1 << 53 => {
                        f = x;
                        scale *= 10.0;
                    }
                    _ => break,
                }
            }
            value = value
                .checked_add((f as f64 * (unit as f64 / scale)) as u64)
                .filter(|v| *v <= MAX_NANOS)
                .ok_or_else(too_large)?;
        }
        total = total
            .checked_add(value)
            .filter(|v| *v <= MAX_NANOS)
            .ok_or_else(too_large)?;
    }
    Ok(Duration::from_nanos(total))
}

/// Formats a duration the way Go's `Duration.String()` does (`10m0s`, `1h0m0s`, `1.5s`, `250ms`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{}", trim_fraction(nanos, div), unit);
    }
    let total_secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = total_secs % 60;
    let secs = trim_fraction(s * 1_000_000_000 + frac, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

fn trim_fraction(value: u128, div: u128) -> String {
    let whole = value / div;
    let frac = value % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A short human age in kubectl's style (`45s`, `12m`, `3h`, `2d`), for SINCE columns.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flux_intervals() {
        assert_eq!(parse_go_duration("10m0s").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_go_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_go_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_go_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "10", "5 m", "1d", "-1s", "m", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn reads_as_go_does_to_the_nanosecond() {
        assert_eq!(parse_go_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_go_duration("1.s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_go_duration("1µs1ns").unwrap(), Duration::from_nanos(1001));
        assert_eq!(
            parse_go_duration("1h0m0.000000001s").unwrap(),
            Duration::from_nanos(3_600_000_000_001)
        );
        assert_eq!(
            parse_go_duration("2562047h47m16.854775807s").unwrap(),
            Duration::from_nanos(i64::MAX as u64)
        );
        for bad in [".s", "1..5s", "."] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations_past_gos_largest_are_refused_not_a_panic() {
        // Found by fuzzing (fuzz/corpus/go_duration/crash-huge-hours): a float conversion panicked.
        for huge in [
            "288888888888888888888888885647m16.854775807s",
            "2562047h47m16.854775808s",
            "9223372036854775807ns1ns",
            "99999999999999999999h",
        ] {
            let e = parse_go_duration(huge).unwrap_err().to_string();
            assert!(e.contains("too large"), "{huge}: {e}");
        }
    }

    #[test]
    fn long_inputs_are_quoted_short() {
        let e = parse_go_duration(&"x".repeat(5000)).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(600)), "10m0s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(436)), "436ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn ages_in_kubectl_style() {
        assert_eq!(format_age(Duration::from_secs(45)), "45s");
        assert_eq!(format_age(Duration::from_secs(600)), "10m");
        assert_eq!(format_age(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(format_age(Duration::from_secs(3 * 86400)), "3d");
    }
}
