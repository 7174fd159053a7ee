//! Faults the sandbox injects, and its enforcement of each vendor's rate limit:
//! what a real vendor does to a client on a bad day, on purpose and replayable.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::population::SplitMix;

/// Per-request chances, in percent (0–100, fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRates {
    /// 429 with a `Retry-After` header.
    pub throttle: f64,
    /// 429 without `Retry-After`.
    pub throttle_bare: f64,
    pub server_error: f64,
    pub unavailable: f64,
    /// No answer until well past the client's timeout.
    pub timeout: f64,
    /// 200 with a body that is not JSON at all.
    pub malformed: f64,
    /// 200 with JSON cut off half way.
    pub truncated: f64,
    /// 200 with an HTML page (a proxy's error page).
    pub html: f64,
}

impl FaultRates {
    pub const NONE: FaultRates = FaultRates {
        throttle: 0.0,
        throttle_bare: 0.0,
        server_error: 0.0,
        unavailable: 0.0,
        timeout: 0.0,
        malformed: 0.0,
        truncated: 0.0,
        html: 0.0,
    };

    /// The demo's bad day: about one request in twenty goes wrong somehow.
    pub const DEMO: FaultRates = FaultRates {
        throttle: 1.0,
        throttle_bare: 0.5,
        server_error: 1.0,
        unavailable: 0.5,
        timeout: 0.3,
        malformed: 0.3,
        truncated: 0.3,
        html: 0.3,
    };
}

/// A fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ThrottleBare,
    ServerError,
    Unavailable,
    Timeout,
    Malformed,
    Truncated,
    Html,
}

impl Fault {
    /// Draws at most one fault from `rng` by the given rates.
    pub fn draw(rates: &FaultRates, rng: &mut SplitMix) -> Option<Fault> {
        let table = [
            (rates.throttle, Fault::Throttle),
            (rates.throttle_bare, Fault::ThrottleBare),
            (rates.server_error, Fault::ServerError),
            (rates.unavailable, Fault::Unavailable),
            (rates.timeout, Fault::Timeout),
            (rates.malformed, Fault::Malformed),
            (rates.truncated, Fault::Truncated),
            (rates.html, Fault::Html),
        ];
        // Hundredths of a percent, so rates like 0.3 % work.
        let mut roll = rng.below(10_000) as f64 / 100.0;
        for (rate, fault) in table {
            if roll < rate {
                return Some(fault);
            }
            roll -= rate;
        }
        None
    }
}

/// A sliding-window limit, checked the way a vendor's gateway does: at most
/// `requests` accepted in any window of `per`. Requests over it are refused and
/// counted as violations.
#[derive(Debug)]
pub struct Window {
    requests: usize,
    per: Duration,
    accepted: VecDeque<Instant>,
    pub violations: u64,
}

impl Window {
    pub fn new(requests: u32, per: Duration) -> Self {
        Window { requests: requests as usize, per, accepted: VecDeque::new(), violations: 0 }
    }

    /// Accepts a request arriving `now`, or says how long until a slot frees.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        while self.accepted.front().is_some_and(|t| now.duration_since(*t) >= self.per) {
            self.accepted.pop_front();
        }
        if self.accepted.len() < self.requests {
            self.accepted.push_back(now);
            return Ok(());
        }
        self.violations += 1;
        let oldest = self.accepted.front().copied().unwrap_or(now);
        Err(self.per.saturating_sub(now.duration_since(oldest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_admits_the_limit_and_counts_the_rest() {
        let start = Instant::now();
        let mut w = Window::new(2, Duration::from_secs(1));
        assert!(w.admit(start).is_ok());
        assert!(w.admit(start + Duration::from_millis(100)).is_ok());
        let wait = w.admit(start + Duration::from_millis(200)).unwrap_err();
        assert_eq!(wait, Duration::from_millis(800));
        assert_eq!(w.violations, 1);
        assert!(w.admit(start + Duration::from_millis(1000)).is_ok(), "the first slot is free again");
    }

    #[test]
    fn fault_rates_are_honoured() {
        let mut rng = SplitMix::new(9);
        let rates = FaultRates { server_error: 10.0, html: 5.0, ..FaultRates::NONE };
        let draws: Vec<Option<Fault>> = (0..20_000).map(|_| Fault::draw(&rates, &mut rng)).collect();
        let count = |f: Fault| draws.iter().filter(|d| **d == Some(f)).count();
        assert!((1800..2200).contains(&count(Fault::ServerError)), "{}", count(Fault::ServerError));
        assert!((850..1150).contains(&count(Fault::Html)), "{}", count(Fault::Html));
        assert_eq!(count(Fault::Timeout), 0);
        assert!(draws.iter().all(|d| Fault::draw(&FaultRates::NONE, &mut rng).is_none() || d.is_some()));
    }
}
