//! When to tell whom: Alertmanager's model over the alerts the rules raise.
//! Alerts are grouped by campaign and vendor; a new group waits `group_wait`
//! before its first notice (to gather its alerts), a notified group waits
//! `group_interval` before telling of alerts added or resolved, and a group whose
//! alerts still fire is told again after `repeat_interval`. An alert that stops
//! firing gets a resolved notice. A down vendor mutes its own slow and noisy
//! alerts. One-shot alerts (milestones, completion, resume) are sent once, ever.
//!
//! Pure: time comes in as seconds (real, since the epoch), the intervals as real
//! durations; the state is plain data the caller keeps in the store.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Alert, Severity};

/// Alertmanager's three waits, in real seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub group_wait: f64,
    pub group_interval: f64,
    pub repeat_interval: f64,
    pub send_resolved: bool,
}

/// What is remembered of one alert (by fingerprint) between steps and restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub alert: Alert,
    /// When it started firing (this time).
    pub since: f64,
    /// When a notice last carried it as firing.
    pub last_sent: Option<f64>,
    /// When it stopped firing; `None` while it fires.
    pub resolved_at: Option<f64>,
    /// Its resolved notice went out (or none was owed).
    pub resolved_sent: bool,
}

impl AlertState {
    fn firing(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// A one-shot alert that went out: nothing more is ever owed for it.
    fn spent(&self) -> bool {
        self.alert.once && self.last_sent.is_some()
    }
}

/// The campaign and vendor an alert is grouped under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    pub campaign: String,
    pub vendor: Option<String>,
}

/// One message to the sinks: a group's firing alerts and those just resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub group: GroupKey,
    pub firing: Vec<Alert>,
    pub resolved: Vec<Alert>,
    /// Sent again because its alerts still fire (nothing new in it).
    pub repeat: bool,
    /// When it was decided (real seconds since the epoch).
    pub at: f64,
}

impl Notice {
    /// The most urgent severity in it (resolved alerts count as info).
    pub fn severity(&self) -> Severity {
        self.firing.iter().map(|a| a.severity).max().unwrap_or(Severity::Info)
    }
}

/// Rules whose alerts a down vendor mutes (for the same vendor).
const MUTED_BY_VENDOR_DOWN: [&str; 4] =
    ["vendor_yield_low", "error_rate", "throttling_storm", "breaker_open"];
/// Rules that say a vendor is down.
const VENDOR_DOWN: [&str; 2] = ["vendor_down", "quota_exhausted"];

/// The notifier's whole state: every alert it knows, every group's last notice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notifier {
    pub alerts: BTreeMap<String, AlertState>,
    /// Per group: when its last notice went out.
    pub groups: BTreeMap<GroupKey, f64>,
}

impl Notifier {
    /// Takes the alerts firing now (`active`, one-shot ones included when raised)
    /// and returns the notices due at `now`. With `flush`, every wait is over
    /// (the sprint is ending: whatever is owed goes now).
    pub fn step(&mut self, now: f64, active: Vec<Alert>, timing: &Timing, flush: bool) -> Vec<Notice> {
        self.track(now, active, timing);
        let muted = self.muted();
        let mut by_group: BTreeMap<GroupKey, Vec<String>> = BTreeMap::new();
        for (fingerprint, state) in &self.alerts {
            by_group.entry(state.alert.group()).or_default().push(fingerprint.clone());
        }
        let mut notices = Vec::new();
        for (group, members) in by_group {
            if let Some(notice) = self.group_notice(now, &group, &members, &muted, timing, flush) {
                notices.push(notice);
            }
        }
        self.forget_settled();
        notices
    }

    /// Brings each alert's state up to date with what fires now.
    fn track(&mut self, now: f64, active: Vec<Alert>, timing: &Timing) {
        let mut seen = BTreeSet::new();
        for alert in active {
            let fingerprint = alert.fingerprint();
            seen.insert(fingerprint.clone());
            match self.alerts.get_mut(&fingerprint) {
                Some(state) if state.alert.once => {}
                Some(state) if state.firing() => state.alert = alert,
                _ => {
                    let state = AlertState {
                        alert,
                        since: now,
                        last_sent: None,
                        resolved_at: None,
                        resolved_sent: false,
                    };
                    self.alerts.insert(fingerprint, state);
                }
            }
        }
        for (fingerprint, state) in &mut self.alerts {
            if state.alert.once || !state.firing() || seen.contains(fingerprint) {
                continue;
            }
            state.resolved_at = Some(now);
            // Never told, or resolved notices off: nothing to take back.
            state.resolved_sent = state.last_sent.is_none() || !timing.send_resolved;
        }
    }

    /// Fingerprints muted now: a vendor that is down mutes its own noise.
    fn muted(&self) -> BTreeSet<String> {
        let down: BTreeSet<(&str, Option<&str>)> = self
            .alerts
            .values()
            .filter(|s| s.firing() && VENDOR_DOWN.contains(&s.alert.rule.as_str()))
            .map(|s| (s.alert.campaign.as_str(), s.alert.vendor.as_deref()))
            .collect();
        self.alerts
            .iter()
            .filter(|(_, s)| {
                MUTED_BY_VENDOR_DOWN.contains(&s.alert.rule.as_str())
                    && down.contains(&(s.alert.campaign.as_str(), s.alert.vendor.as_deref()))
            })
            .map(|(f, _)| f.clone())
            .collect()
    }

    fn group_notice(
        &mut self,
        now: f64,
        group: &GroupKey,
        members: &[String],
        muted: &BTreeSet<String>,
        timing: &Timing,
        flush: bool,
    ) -> Option<Notice> {
        let states: Vec<&AlertState> =
            members.iter().filter(|f| !muted.contains(*f)).filter_map(|f| self.alerts.get(f)).collect();
        let new: Vec<&AlertState> =
            states.iter().copied().filter(|s| s.firing() && s.last_sent.is_none()).collect();
        let resolved: Vec<&AlertState> =
            states.iter().copied().filter(|s| !s.firing() && !s.resolved_sent).collect();
        let firing: Vec<&AlertState> = states.iter().copied().filter(|s| s.firing() && !s.spent()).collect();
        let last = self.groups.get(group).copied();
        let due = match last {
            // A new group: wait for its alerts to gather.
            None => {
                let oldest = new.iter().map(|s| s.since).fold(f64::INFINITY, f64::min);
                !new.is_empty() && (flush || now - oldest >= timing.group_wait)
            }
            Some(last) if !new.is_empty() || !resolved.is_empty() => {
                flush || now - last >= timing.group_interval
            }
            Some(last) => !firing.is_empty() && now - last >= timing.repeat_interval,
        };
        if !due {
            return None;
        }
        let repeat = new.is_empty() && resolved.is_empty();
        let notice = Notice {
            group: group.clone(),
            firing: firing.iter().map(|s| s.alert.clone()).collect(),
            resolved: resolved.iter().map(|s| s.alert.clone()).collect(),
            repeat,
            at: now,
        };
        for fingerprint in members.iter().filter(|f| !muted.contains(*f)) {
            if let Some(state) = self.alerts.get_mut(fingerprint) {
                if state.firing() && !state.spent() {
                    state.last_sent = Some(now);
                } else if !state.firing() {
                    state.resolved_sent = true;
                }
            }
        }
        self.groups.insert(group.clone(), now);
        Some(notice)
    }

    /// Drops alerts fully told (resolved and noticed), and groups with nothing left;
    /// one-shot alerts stay, so they are never sent twice.
    fn forget_settled(&mut self) {
        self.alerts.retain(|_, s| s.alert.once || s.firing() || !s.resolved_sent);
        let live: BTreeSet<GroupKey> =
            self.alerts.values().filter(|s| !s.alert.once || !s.spent()).map(|s| s.alert.group()).collect();
        self.groups.retain(|g, _| live.contains(g));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: Timing =
        Timing { group_wait: 30.0, group_interval: 300.0, repeat_interval: 3600.0, send_resolved: true };

    fn alert(rule: &str, vendor: Option<&str>, severity: Severity) -> Alert {
        Alert {
            rule: rule.to_owned(),
            severity,
            campaign: "c".to_owned(),
            vendor: vendor.map(str::to_owned),
            instance: String::new(),
            summary: format!("{rule} fires"),
            once: false,
        }
    }

    #[test]
    fn a_group_waits_gathers_repeats_only_after_its_interval_and_resolves() {
        let mut n = Notifier::default();
        let errors = alert("error_rate", Some("apollo"), Severity::Warn);
        let storm = alert("throttling_storm", Some("apollo"), Severity::Warn);
        assert!(n.step(0.0, vec![errors.clone()], &TIMING, false).is_empty(), "group wait");
        assert!(n.step(10.0, vec![errors.clone(), storm.clone()], &TIMING, false).is_empty());
        let first = n.step(30.0, vec![errors.clone(), storm.clone()], &TIMING, false);
        assert_eq!(first.len(), 1, "one notice for the group");
        assert_eq!(first[0].firing.len(), 2, "both alerts in it");
        for t in [60.0, 600.0, 3000.0, 3629.0] {
            assert!(
                n.step(t, vec![errors.clone(), storm.clone()], &TIMING, false).is_empty(),
                "quiet at {t}"
            );
        }
        let repeat = n.step(3630.0, vec![errors.clone(), storm.clone()], &TIMING, false);
        assert_eq!(repeat.len(), 1);
        assert!(repeat[0].repeat);
        // The storm ends: told at the next group interval, not before.
        assert!(n.step(3700.0, vec![errors.clone()], &TIMING, false).is_empty());
        let resolved = n.step(3930.0, vec![errors.clone()], &TIMING, false);
        assert_eq!(resolved[0].resolved, vec![storm]);
        assert_eq!(resolved[0].firing, vec![errors]);
        let done = n.step(4230.0, vec![], &TIMING, false);
        assert_eq!(done[0].resolved.len(), 1);
        assert!(n.alerts.is_empty() && n.groups.is_empty(), "all told, nothing kept: {n:?}");
    }

    #[test]
    fn one_shot_alerts_go_once_even_when_raised_again() {
        let mut n = Notifier::default();
        let mut milestone = alert("milestone_50", None, Severity::Info);
        milestone.once = true;
        assert_eq!(n.step(0.0, vec![milestone.clone()], &TIMING, true).len(), 1, "flush sends at once");
        for t in [1.0, 400.0, 10_000.0] {
            assert!(n.step(t, vec![milestone.clone()], &TIMING, true).is_empty());
        }
        assert!(n.step(20_000.0, vec![], &TIMING, true).is_empty(), "a one-shot never resolves");
        assert_eq!(n.alerts.len(), 1, "remembered, so never sent again");
    }

    #[test]
    fn a_down_vendor_mutes_its_own_noise_but_not_others() {
        let mut n = Notifier::default();
        let down = alert("vendor_down", Some("apollo"), Severity::Page);
        let noise = alert("error_rate", Some("apollo"), Severity::Warn);
        let other = alert("error_rate", Some("zoominfo"), Severity::Warn);
        let notices = n.step(0.0, vec![down.clone(), noise, other.clone()], &TIMING, true);
        let apollo = notices.iter().find(|x| x.group.vendor.as_deref() == Some("apollo")).expect("apollo");
        assert_eq!(apollo.firing, vec![down]);
        let zoominfo = notices.iter().find(|x| x.group.vendor.as_deref() == Some("zoominfo")).expect("zi");
        assert_eq!(zoominfo.firing, vec![other]);
    }

    #[test]
    fn an_alert_that_never_went_out_resolves_silently() {
        let mut n = Notifier::default();
        let blip = alert("error_rate", Some("apollo"), Severity::Warn);
        assert!(n.step(0.0, vec![blip], &TIMING, false).is_empty());
        assert!(n.step(5.0, vec![], &TIMING, false).is_empty());
        assert!(n.step(100.0, vec![], &TIMING, false).is_empty());
        assert!(n.alerts.is_empty());
    }
}
