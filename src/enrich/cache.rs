//! The enrichment cache's keys and lifetimes. A key is `provider|operation|input`,
//! the input normalised (trimmed, lower-case, inner spaces folded), so the same
//! question asked twice — by another campaign, another lead at the same company —
//! is answered from the store at no cost. Misses are remembered too, for less time.

use std::time::Duration;

use crate::lead::Millis;
use crate::store::CacheEntry;

/// What was asked of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// An address for a name at a domain.
    Find,
    Verify,
    /// How many addresses the provider knows at a domain.
    Count,
    /// A company's data by its domain.
    Company,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Find => "find",
            Op::Verify => "verify",
            Op::Count => "count",
            Op::Company => "company",
        }
    }

    /// How long an answer stays good: a verification 90 days (addresses decay 2–3 %
    /// a month), a found address or company data 180 days, a count 30 days, and
    /// any miss 30 days (not paying twice for nothing, yet looking again).
    pub fn lifetime(self, found: bool) -> Duration {
        const DAY: u64 = 24 * 60 * 60;
        let days = match (self, found) {
            (_, false) | (Op::Count, _) => 30,
            (Op::Verify, true) => 90,
            (Op::Find | Op::Company, true) => 180,
        };
        Duration::from_secs(days * DAY)
    }
}

/// The cache key for `op` at `provider` on `input` (its parts in order).
pub fn key(provider: &str, op: Op, input: &[&str]) -> String {
    let parts: Vec<String> = input.iter().map(|part| normalise(part)).collect();
    format!("{provider}|{}|{}", op.name(), parts.join("|"))
}

fn normalise(part: &str) -> String {
    part.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether `entry` still answers `op` at `now`.
pub fn fresh(entry: &CacheEntry, op: Op, now: Millis) -> bool {
    let age = now.saturating_sub(entry.fetched_at).max(0) as u128;
    age < op.lifetime(entry.found).as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_spelling_and_lifetimes_follow_the_answer() {
        assert_eq!(
            key("hunter", Op::Find, &[" Dana ", "WILLS", "Acme.com"]),
            "hunter|find|dana|wills|acme.com"
        );
        assert_eq!(
            key("hunter", Op::Find, &["Mary  Ann", "Lee", "x.io"]),
            key("hunter", Op::Find, &["mary ann", "lee", "X.io"])
        );
        assert_ne!(key("hunter", Op::Verify, &["a@x.io"]), key("zerobounce", Op::Verify, &["a@x.io"]));
        let day: Millis = 24 * 60 * 60 * 1000;
        let hit = CacheEntry { found: true, value: String::new(), fetched_at: 0 };
        let miss = CacheEntry { found: false, ..hit.clone() };
        assert!(fresh(&hit, Op::Verify, 89 * day) && !fresh(&hit, Op::Verify, 90 * day));
        assert!(fresh(&hit, Op::Find, 179 * day));
        assert!(!fresh(&miss, Op::Find, 30 * day), "a miss is looked at again after 30 days");
        assert!(fresh(&miss, Op::Company, 29 * day));
    }
}
