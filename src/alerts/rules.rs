//! The rules: which alerts fire, given the sprint's figures now and over the last
//! few minutes. Windowed rules (error rate, 429 storm, yield below plan) read
//! the samples the evaluator keeps; the rest read the figures as they are.

use std::collections::{BTreeMap, VecDeque};

use crate::config::AlertSettings;
use crate::engine::stats::{RunStats, WorkflowState};

use super::{Alert, Severity};
use crate::stats::human_duration;

/// What the rules look at, once per tick.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub campaign: String,
    pub target: u64,
    pub run: RunStats,
    /// Store figures: unique leads, records received, duplicates merged.
    pub unique_leads: u64,
    pub records: u64,
    pub duplicates: u64,
    pub vendor_spend: f64,
    pub vendor_cap: f64,
    pub enrichment_spend: f64,
    pub enrichment_cap: f64,
    /// The sprint's plan: what should have arrived by when (vendor time).
    pub plan: Option<std::sync::Arc<crate::plan::Forecast>>,
    /// KPIs the forecast at the ETA says will fail, with why.
    pub kpis_at_risk: Vec<String>,
}

/// One vendor's cumulative figures at a sample.
#[derive(Debug, Clone, Copy, Default)]
struct VendorSample {
    requests: u64,
    failed: u64,
    throttled: u64,
    new_leads: u64,
    /// Some workflow of the vendor was fetching.
    active: bool,
}

#[derive(Debug, Clone)]
struct Sample {
    /// Vendor-time seconds since the run started.
    at: f64,
    unique: u64,
    vendors: BTreeMap<String, VendorSample>,
}

/// Keeps the recent samples the windowed rules need.
#[derive(Debug, Default)]
pub struct Evaluator {
    samples: VecDeque<Sample>,
}

fn vendor_samples(run: &RunStats) -> BTreeMap<String, VendorSample> {
    let mut out: BTreeMap<String, VendorSample> = BTreeMap::new();
    for w in &run.workflows {
        let v = out.entry(w.vendor.clone()).or_default();
        v.requests += w.requests;
        v.failed += w.requests.saturating_sub(w.successes);
        v.throttled += w.throttled;
        v.new_leads += w.new_leads;
        v.active |= matches!(w.state, WorkflowState::Running | WorkflowState::Waiting);
    }
    out
}

impl Evaluator {
    /// The alerts firing at this observation. `vendor_now` is vendor-time seconds
    /// since the run started.
    pub fn evaluate(&mut self, obs: &Observation, vendor_now: f64, rules: &AlertSettings) -> Vec<Alert> {
        let keep = rules.error_rate_window.max(rules.throttle_window).max(rules.below_plan_for).as_secs_f64();
        self.samples.push_back(Sample {
            at: vendor_now,
            unique: obs.run.unique_leads,
            vendors: vendor_samples(&obs.run),
        });
        while self.samples.len() > 2 && self.samples.get(1).is_some_and(|s| vendor_now - s.at >= keep) {
            self.samples.pop_front();
        }
        let mut alerts = Vec::new();
        self.vendor_states(obs, &mut alerts);
        self.windowed(obs, vendor_now, rules, &mut alerts);
        campaign_rules(obs, rules, &mut alerts);
        alerts.retain(|a| rules.enabled(&a.rule));
        alerts
    }

    /// The sample at least `window` seconds older than the newest, if the run is that old.
    fn since(&self, window: f64) -> Option<(&Sample, &Sample)> {
        let newest = self.samples.back()?;
        let older = self.samples.iter().rev().find(|s| newest.at - s.at >= window)?;
        Some((older, newest))
    }

    fn vendor_states(&self, obs: &Observation, alerts: &mut Vec<Alert>) {
        let mut by_vendor: BTreeMap<&str, Vec<(&str, &WorkflowState)>> = BTreeMap::new();
        for w in &obs.run.workflows {
            by_vendor.entry(w.vendor.as_str()).or_default().push((w.name.as_str(), &w.state));
        }
        for (vendor, workflows) in by_vendor {
            let named = |pick: &dyn Fn(&WorkflowState) -> Option<String>| -> Vec<String> {
                workflows.iter().filter_map(|(name, s)| pick(s).map(|why| format!("{name}: {why}"))).collect()
            };
            let quota = named(&|s| match s {
                WorkflowState::Failed(why) if why.contains("quota") => Some(why.clone()),
                _ => None,
            });
            let down = named(&|s| match s {
                WorkflowState::Failed(why) if !why.contains("quota") => Some(why.clone()),
                _ => None,
            });
            let breaker = named(&|s| match s {
                WorkflowState::Paused(why) if why.starts_with("breaker") => Some(why.clone()),
                _ => None,
            });
            let alert = |rule: &str, severity, what: &str, lines: Vec<String>| {
                Alert::new(
                    rule,
                    severity,
                    &obs.campaign,
                    Some(vendor),
                    format!("{vendor} {what}: {}", lines.join("; ")),
                )
            };
            if !quota.is_empty() {
                alerts.push(alert("quota_exhausted", Severity::Page, "quota exhausted", quota));
            }
            if !down.is_empty() {
                alerts.push(alert("vendor_down", Severity::Page, "stopped", down));
            }
            if !breaker.is_empty() {
                alerts.push(alert("breaker_open", Severity::Warn, "breaker open", breaker));
            }
        }
    }

    fn windowed(&self, obs: &Observation, _now: f64, rules: &AlertSettings, alerts: &mut Vec<Alert>) {
        if let Some((old, new)) =
            self.since(rules.throttle_window.as_secs_f64()).or_else(|| self.first_and_last())
        {
            for (vendor, now) in &new.vendors {
                let before = old.vendors.get(vendor).copied().unwrap_or_default();
                let throttled = now.throttled.saturating_sub(before.throttled);
                if throttled >= rules.throttle_storm {
                    let summary = format!(
                        "{vendor} answered 429 to {throttled} requests within {} (threshold {})",
                        human_duration(rules.throttle_window.as_secs_f64()),
                        rules.throttle_storm
                    );
                    alerts.push(Alert::new(
                        "throttling_storm",
                        Severity::Warn,
                        &obs.campaign,
                        Some(vendor),
                        summary,
                    ));
                }
            }
        }
        let window = rules.error_rate_window.as_secs_f64();
        if let Some((old, new)) = self.since(window).or_else(|| self.first_and_last()) {
            for (vendor, now) in &new.vendors {
                let before = old.vendors.get(vendor).copied().unwrap_or_default();
                let requests = now.requests.saturating_sub(before.requests);
                let failed = now.failed.saturating_sub(before.failed);
                let percent = failed as f64 * 100.0 / requests.max(1) as f64;
                if requests >= 20 && percent > rules.error_rate_percent {
                    let summary = format!(
                        "{vendor}: {percent:.1}% of {requests} requests failed within {} (threshold {}%)",
                        human_duration(window),
                        rules.error_rate_percent
                    );
                    alerts.push(Alert::new(
                        "error_rate",
                        Severity::Warn,
                        &obs.campaign,
                        Some(vendor),
                        summary,
                    ));
                }
            }
        }
        let span = rules.below_plan_for.as_secs_f64();
        let (Some((old, new)), Some(plan)) = (self.since(span), obs.plan.as_deref()) else { return };
        let share = rules.below_plan_share;
        let planned = plan.unique_at(new.at) - plan.unique_at(old.at);
        let got = new.unique.saturating_sub(old.unique) as f64;
        if new.unique < obs.target && planned >= 1.0 && got < planned * share {
            let summary = format!(
                "{got:.0} unique leads over the last {}, under {:.0}% of the {planned:.0} planned",
                human_duration(span),
                share * 100.0
            );
            alerts.push(Alert::new("rate_below_plan", Severity::Warn, &obs.campaign, None, summary));
        }
        for (vendor, now) in &new.vendors {
            let Some(before) = old.vendors.get(vendor) else { continue };
            let planned = plan.vendor_unique_at(vendor, new.at) - plan.vendor_unique_at(vendor, old.at);
            let got = now.new_leads.saturating_sub(before.new_leads) as f64;
            if !now.active || !before.active || planned < 1.0 || got >= planned * share {
                continue;
            }
            let summary = format!(
                "{vendor} gave {got:.0} new leads over the last {}, under {:.0}% of the {planned:.0} planned",
                human_duration(span),
                share * 100.0
            );
            alerts.push(Alert::new("vendor_yield_low", Severity::Warn, &obs.campaign, Some(vendor), summary));
        }
    }

    /// The whole run so far, when it is younger than a window (a storm in the
    /// first minutes still counts).
    fn first_and_last(&self) -> Option<(&Sample, &Sample)> {
        Some((self.samples.front()?, self.samples.back()?))
    }
}

fn campaign_rules(obs: &Observation, rules: &AlertSettings, alerts: &mut Vec<Alert>) {
    let campaign = obs.campaign.as_str();
    if obs.records >= 500 {
        let percent = obs.duplicates as f64 * 100.0 / obs.records as f64;
        if percent > rules.duplicate_rate_percent {
            let summary = format!(
                "{percent:.1}% of {} records were duplicates (threshold {}%)",
                obs.records, rules.duplicate_rate_percent
            );
            alerts.push(Alert::new("duplicate_rate", Severity::Warn, campaign, None, summary));
        }
    }
    for (what, spent, cap) in [
        ("vendors", obs.vendor_spend, obs.vendor_cap),
        ("enrichment", obs.enrichment_spend, obs.enrichment_cap),
    ] {
        if cap <= 0.0 {
            continue;
        }
        let percent = spent * 100.0 / cap;
        let summary = format!("{what} spent ${spent:.2} of ${cap:.2} ({percent:.0}%)");
        if percent >= 100.0 {
            alerts.push(Alert::new("budget_100", Severity::Page, campaign, None, summary).once(what));
        } else if percent >= rules.budget_warn_percent {
            alerts.push(Alert::new("budget_80", Severity::Warn, campaign, None, summary).once(what));
        }
    }
    if !obs.kpis_at_risk.is_empty() {
        let summary = format!("at the ETA: {}", obs.kpis_at_risk.join("; "));
        alerts.push(Alert::new("kpi_at_risk", Severity::Warn, campaign, None, summary));
    }
    let target = obs.target.max(1);
    for (rule, share) in [("milestone_50", 50), ("milestone_100", 100)] {
        if obs.unique_leads * 100 >= target * share {
            let summary = format!("{} unique leads: {share}% of the {target} target", obs.unique_leads);
            alerts.push(
                Alert::new(rule, Severity::Info, campaign, None, summary).once(&format!("target={target}")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::WorkflowView;
    use crate::store::WorkflowRecord;

    fn settings() -> AlertSettings {
        let text = "[campaign]\nname = \"c\"\ntarget = 1000\n";
        crate::config::load(crate::config::Source { origin: "t", text }, &|_| None, &Default::default())
            .expect("settings")
            .alerts
    }

    fn run(requests: u64, successes: u64, throttled: u64, state: WorkflowState) -> RunStats {
        let mut w = WorkflowView::recorded("perf", "apollo", &WorkflowRecord::default());
        (w.requests, w.successes, w.throttled, w.state) = (requests, successes, throttled, state);
        RunStats { workflows: vec![w], ..RunStats::default() }
    }

    fn rules(alerts: &[Alert]) -> Vec<&str> {
        alerts.iter().map(|a| a.rule.as_str()).collect()
    }

    #[test]
    fn error_rate_and_429_storms_are_judged_over_their_window() {
        let rules_set = settings();
        let mut e = Evaluator::default();
        let obs = |run| Observation { campaign: "c".into(), target: 1000, run, ..Observation::default() };
        assert!(e.evaluate(&obs(run(0, 0, 0, WorkflowState::Running)), 0.0, &rules_set).is_empty());
        // 100 requests, 4 failed (4%): under 5%.
        assert!(e.evaluate(&obs(run(100, 96, 0, WorkflowState::Running)), 60.0, &rules_set).is_empty());
        // 100 more, 10 of them failed: 14 of 200 (7%) within the 5-minute window.
        let fired = e.evaluate(&obs(run(200, 186, 25, WorkflowState::Running)), 120.0, &rules_set);
        assert_eq!(rules(&fired), ["throttling_storm", "error_rate"]);
        // Ten minutes on, clean: the window no longer holds the failures.
        e.evaluate(&obs(run(300, 286, 25, WorkflowState::Running)), 400.0, &rules_set);
        let later = e.evaluate(&obs(run(600, 586, 25, WorkflowState::Running)), 720.0, &rules_set);
        assert!(later.is_empty(), "{later:?}");
    }

    #[test]
    fn a_pace_under_the_plans_for_the_window_fires_for_the_campaign_and_the_vendor() {
        let text = "[campaign]\nname = \"c\"\ntarget = 100000\n[vendors.apollo]\napi_key_env = \"K\"\n\
                    [[workflow]]\nname = \"perf\"\nvendor = \"apollo\"\nquery = { person_titles = [\"x\"] }\n";
        let settings =
            crate::config::load(crate::config::Source { origin: "t", text }, &|_| None, &Default::default())
                .unwrap();
        let plan = std::sync::Arc::new(crate::plan::forecast(&settings, &Default::default()));
        let planned = plan.unique_at(900.0) - plan.unique_at(0.0);
        assert!(planned > 1000.0, "{planned}");
        let run_with = |new_leads: u64| {
            let mut r = run(10, 10, 0, WorkflowState::Running);
            r.workflows[0].new_leads = new_leads;
            r.unique_leads = new_leads;
            r
        };
        let obs = |new_leads: u64| Observation {
            campaign: "c".into(),
            target: 100_000,
            run: run_with(new_leads),
            plan: Some(plan.clone()),
            ..Observation::default()
        };
        let mut slow = Evaluator::default();
        slow.evaluate(&obs(0), 0.0, &settings.alerts);
        let fired = slow.evaluate(&obs((planned * 0.5) as u64), 900.0, &settings.alerts);
        assert_eq!(rules(&fired), ["rate_below_plan", "vendor_yield_low"], "{fired:?}");
        let mut on_plan = Evaluator::default();
        on_plan.evaluate(&obs(0), 0.0, &settings.alerts);
        assert!(on_plan.evaluate(&obs((planned * 0.9) as u64), 900.0, &settings.alerts).is_empty());
    }

    #[test]
    fn vendor_states_budget_and_milestones() {
        let rules_set = settings();
        let mut e = Evaluator::default();
        let failed = run(10, 0, 0, WorkflowState::Failed("quota exhausted: daily limit".into()));
        let obs = Observation {
            campaign: "c".into(),
            target: 1000,
            run: failed,
            unique_leads: 500,
            vendor_spend: 85.0,
            vendor_cap: 100.0,
            ..Observation::default()
        };
        let fired = e.evaluate(&obs, 0.0, &rules_set);
        assert_eq!(rules(&fired), ["quota_exhausted", "budget_80", "milestone_50"]);
        assert!(fired.iter().filter(|a| a.rule != "quota_exhausted").all(|a| a.once));
    }
}
