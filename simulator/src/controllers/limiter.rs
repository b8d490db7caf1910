//! A Flux controller's Kubernetes API client limit: a token bucket as client-go's (`qps`
//! tokens a second, at most `burst` saved), shared by every kind the controller reconciles, so
//! a start-up storm is paced as `--kube-api-qps`/`--kube-api-burst` pace Flux's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::scenario::ControllerSettings;

#[derive(Debug)]
pub struct Limiter {
    qps: f64,
    burst: f64,
    /// Tokens left (negative: reserved by waiting callers) and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl Limiter {
    pub fn new(settings: &ControllerSettings) -> Limiter {
        let qps = settings.kube_api_qps.max(f64::MIN_POSITIVE);
        let burst = f64::from(settings.kube_api_burst.max(1));
        Limiter {
            qps,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// How long the next request must wait, taking its token now (a reservation, as Go's
    /// `rate.Limiter.Wait` makes one: callers queue in order).
    pub fn reserve(&self) -> Duration {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, counted) = *state;
        let refilled =
            (tokens + now.duration_since(counted).as_secs_f64() * self.qps).min(self.burst);
        let left = refilled - 1.0;
        *state = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-left / self.qps).unwrap_or(Duration::MAX)
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_at_qps() {
        let limiter = Limiter::new(&ControllerSettings {
            concurrent: 1,
            kube_api_qps: 10.0,
            kube_api_burst: 3,
        });
        let waits: Vec<Duration> = (0..5).map(|_| limiter.reserve()).collect();
        assert!(waits[..3].iter().all(|w| w.is_zero()), "{waits:?}");
        // The 4th and 5th request wait about 1/qps and 2/qps.
        assert!(
            waits[3] > Duration::from_millis(80) && waits[3] <= Duration::from_millis(100),
            "{waits:?}"
        );
        assert!(
            waits[4] > Duration::from_millis(180) && waits[4] <= Duration::from_millis(200),
            "{waits:?}"
        );
    }
}
