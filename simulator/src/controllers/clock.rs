//! Scenario time in real time: wall-clock elapsed since start, times the time scale, plus the
//! scenario time fast-forwarded in virtual time before the drivers started.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: Instant,
    start_at: Duration,
    scale: f64,
}

impl Clock {
    /// `start_at`: the scenario time at which real time begins; `scale`: scenario seconds per
    /// wall second (>= 1 compresses time).
    pub fn new(start_at: Duration, scale: f64) -> Self {
        Self { started: Instant::now(), start_at, scale }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn start_at(&self) -> Duration {
        self.start_at
    }

    /// The scenario time now.
    pub fn scenario_now(&self) -> Duration {
        self.start_at + self.started.elapsed().mul_f64(self.scale)
    }

    /// How long to wait in wall time for `d` of scenario time to pass.
    pub fn to_wall(&self, d: Duration) -> Duration {
        d.div_f64(self.scale)
    }

    /// The wall-clock instant at which scenario time `t` is reached (now if already past).
    pub fn wall_instant(&self, t: Duration) -> Instant {
        if t <= self.start_at {
            return self.started;
        }
        self.started + self.to_wall(t - self.start_at)
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
}
