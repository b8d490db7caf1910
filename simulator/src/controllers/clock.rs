//! Scenario time in real time: wall-clock elapsed since start, times the time scale, plus the
//! scenario time fast-forwarded in virtual time before the drivers started.

use std::time::{Duration, Instant};

/// The time scales the real-time drivers accept (scenario seconds per wall second): beyond them
/// a wall-clock wait can no longer be represented or a reconcile interval shrinks below a
/// scheduler tick.
pub const TIME_SCALE_RANGE: (f64, f64) = (0.001, 100_000.0);

/// A duration from seconds, saturating instead of panicking on what cannot be represented.
fn saturating_secs(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: Instant,
    start_at: Duration,
    scale: f64,
}

impl Clock {
    /// `start_at`: the scenario time at which real time begins; `scale`: scenario seconds per
    /// wall second (>= 1 compresses time).
    /// A scale outside [`TIME_SCALE_RANGE`] is clamped into it (callers validate user input).
    pub fn new(start_at: Duration, scale: f64) -> Self {
        let (min, max) = TIME_SCALE_RANGE;
        let scale = if scale.is_finite() {
            scale.clamp(min, max)
        } else {
            1.0
        };
        Self {
            started: Instant::now(),
            start_at,
            scale,
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn start_at(&self) -> Duration {
        self.start_at
    }

    /// The scenario time now.
    pub fn scenario_now(&self) -> Duration {
        self.start_at.saturating_add(saturating_secs(
            self.started.elapsed().as_secs_f64() * self.scale,
        ))
    }

    /// How long to wait in wall time for `d` of scenario time to pass.
    pub fn to_wall(&self, d: Duration) -> Duration {
        saturating_secs(d.as_secs_f64() / self.scale)
    }

    /// The wall-clock instant at which scenario time `t` is reached (now if already past).
    pub fn wall_instant(&self, t: Duration) -> Instant {
        if t <= self.start_at {
            return self.started;
        }
        // A time too far ahead to represent as an Instant is, in practice, never.
        let never = self.started + Duration::from_secs(100 * 365 * 86_400);
        self.started
            .checked_add(self.to_wall(t - self.start_at))
            .map_or(never, |at| at.min(never))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_time() {
        let c = Clock::new(Duration::from_secs(3600), 60.0);
        assert_eq!(c.to_wall(Duration::from_secs(120)), Duration::from_secs(2));
        assert!(c.scenario_now() >= Duration::from_secs(3600));
        assert!(c.scenario_now() < Duration::from_secs(3660));
        assert_eq!(c.wall_instant(Duration::from_secs(10)), c.started);
    }

    #[test]
    fn extreme_scales_and_durations_do_not_panic() {
        for scale in [1e300, 1e-300, f64::INFINITY, f64::NAN, 0.0, -1.0] {
            let c = Clock::new(Duration::from_secs(1), scale);
            let _ = c.to_wall(Duration::MAX);
            let _ = c.scenario_now();
            let _ = c.wall_instant(Duration::MAX);
            assert!((TIME_SCALE_RANGE.0..=TIME_SCALE_RANGE.1).contains(&c.scale()));
        }
    }
}
