//! Alerting beside a running sprint: once a tick, the sprint's figures become an
//! [`Observation`] and go through the rules; at the end, the completion alert.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::rules::Observation;
use super::{Alert, Alerting, Severity};
use crate::config::Settings;
use crate::engine::stats::RunStats;
use crate::plan::Forecast;
use crate::stats::{Stats, kpis};
use crate::store::{Reader, Store, StoreError};

/// How often the rules run.
pub const TICK: Duration = Duration::from_secs(1);

impl Observation {
    /// The sprint's figures now: the run's, the store's, the plan's.
    pub fn gather(
        settings: &Settings,
        reader: &Reader,
        run: &RunStats,
        plan: Option<&Arc<Forecast>>,
    ) -> Result<Observation, StoreError> {
        let counters = reader.counters()?;
        let vendor_spend: f64 = reader.workflows()?.values().map(|w| w.cost).sum();
        let enrichment_spend = reader.enrichment_cost()?;
        let stats = Stats::from(&counters);
        Ok(Observation {
            campaign: settings.name.clone(),
            target: settings.target,
            unique_leads: counters.unique_leads,
            records: counters.records_received,
            duplicates: counters.duplicates_merged,
            vendor_spend,
            vendor_cap: settings.spend_cap,
            enrichment_spend,
            enrichment_cap: if settings.enrichment.enabled { settings.enrichment.spend_cap } else { 0.0 },
            plan: plan.cloned(),
            kpis_at_risk: kpis_at_risk(settings, &stats, run, vendor_spend + enrichment_spend),
            run: run.clone(),
        })
    }
}

/// KPIs the sprint is on course to miss, judged once a tenth of the target is in:
/// the cost per qualified lead projected to the target, the pace reaching the
/// target after the one-day sprint, and — when no enrichment runs to raise them —
/// the average quality. With enrichment, quality and the qualified share grow as
/// it goes, so the projection takes the plan's qualified share instead.
fn kpis_at_risk(settings: &Settings, stats: &Stats, run: &RunStats, spent: f64) -> Vec<String> {
    if stats.unique_leads * 10 < settings.target || run.finished {
        return Vec::new();
    }
    let mut out = Vec::new();
    let enriching = settings.enrichment.enabled;
    if !enriching {
        for line in kpis(stats, &settings.kpi, spent, run.leads_per_hour) {
            if line.name == "average quality" && !line.pass {
                out.push(format!("average quality {:.1} (needs {})", line.value, line.threshold));
            }
        }
    }
    let measured_share = stats.qualified_leads as f64 / stats.unique_leads.max(1) as f64;
    let qualified_share = if enriching { settings.plan.qualified_share } else { measured_share };
    let projected = spent / stats.unique_leads.max(1) as f64 / qualified_share.max(1e-9);
    if qualified_share > 0.0 && projected >= settings.kpi.cost_per_qualified_lead {
        out.push(format!(
            "cost per qualified lead heads for ${projected:.2} (needs < ${})",
            settings.kpi.cost_per_qualified_lead
        ));
    }
    let remaining = settings.target.saturating_sub(run.unique_leads) as f64;
    if run.leads_per_hour > 0.0 && remaining > 0.0 {
        let finish = run.vendor_elapsed_seconds + remaining / run.leads_per_hour * 3600.0;
        if finish > crate::plan::SPRINT_DAY {
            out.push(format!(
                "unique leads: at {:.0}/hour the target comes after {}, beyond the one-day sprint",
                run.leads_per_hour,
                crate::stats::human_duration(finish)
            ));
        }
    }
    out
}

/// Runs the rules once a tick over the sprint's figures until `stop`; returns
/// the alerting for its last word ([`finish`]).
pub async fn watch(
    mut alerting: Alerting,
    settings: Settings,
    store: Arc<Store>,
    run: watch::Receiver<RunStats>,
    plan: Option<Arc<Forecast>>,
    stop: CancellationToken,
) -> Alerting {
    let mut events = EventLog::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.cancelled() => return alerting,
        }
        let snapshot = run.borrow().clone();
        if snapshot.workflows.is_empty() {
            continue;
        }
        if let Err(e) = events.record(&store, &snapshot) {
            tracing::warn!("run events not recorded: {e}");
        }
        let observation =
            store.reader().and_then(|r| Observation::gather(&settings, &r, &snapshot, plan.as_ref()));
        match observation {
            Ok(obs) => {
                if let Err(e) = alerting.observe(&obs).await {
                    tracing::warn!("alerting: {e}");
                }
            }
            Err(e) => tracing::warn!("alerting could not read the store: {e}"),
        }
    }
}

/// Turns the sprint's state changes and 429 bursts into timeline events (at most
/// one throttling line per vendor a minute).
#[derive(Default)]
struct EventLog {
    states: std::collections::BTreeMap<String, String>,
    throttled: std::collections::BTreeMap<String, (u64, std::time::Instant)>,
}

impl EventLog {
    fn record(&mut self, store: &Store, run: &RunStats) -> Result<(), StoreError> {
        use crate::engine::stats::WorkflowState;
        use crate::report::RunEvent;
        let now = crate::pipeline::now_millis();
        let mut new = Vec::new();
        let mut event = |kind: &str, vendor: &str, text: String| {
            new.push(RunEvent { at_ms: now, kind: kind.to_owned(), vendor: Some(vendor.to_owned()), text })
        };
        for w in &run.workflows {
            let label = w.state.label().to_owned();
            let before = self.states.insert(w.name.clone(), label.clone());
            if before.as_deref() == Some(label.as_str()) {
                continue;
            }
            match &w.state {
                WorkflowState::Paused(why) if why.starts_with("breaker") => {
                    event("breaker", &w.vendor, format!("{}: {why}", w.name))
                }
                WorkflowState::Paused(why) => event("paused", &w.vendor, format!("{}: {why}", w.name)),
                WorkflowState::Failed(why) => event("failed", &w.vendor, format!("{}: {why}", w.name)),
                WorkflowState::Running if before.as_deref() == Some("paused") => {
                    event("resumed", &w.vendor, format!("{} resumed", w.name))
                }
                _ => {}
            }
        }
        let mut by_vendor: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for w in &run.workflows {
            *by_vendor.entry(&w.vendor).or_default() += w.throttled;
        }
        for (vendor, total) in by_vendor {
            let (told, at) =
                self.throttled.entry(vendor.to_owned()).or_insert((0, std::time::Instant::now()));
            if total > *told && (*told == 0 || at.elapsed() >= Duration::from_secs(60)) {
                event("throttled", vendor, format!("{vendor}: {} answers 429", total - *told));
                *told = total;
                *at = std::time::Instant::now();
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        let values: Vec<Vec<u8>> = new.iter().filter_map(|e| serde_json::to_vec(e).ok()).collect();
        store.append(crate::store::Log::RunEvents, &values).map(|_| ())
    }
}

/// The sprint is over: its completion alert (once per target), everything owed
/// sent now.
pub async fn finish(
    mut alerting: Alerting,
    settings: &Settings,
    store: &Store,
    last: &RunStats,
    plan: Option<&Arc<Forecast>>,
) {
    let reader = match store.reader() {
        Ok(r) => r,
        Err(e) => return tracing::warn!("alerting could not read the store: {e}"),
    };
    let obs = Observation::gather(settings, &reader, last, plan).ok();
    let cost = obs.as_ref().map_or(0.0, |o| o.vendor_spend + o.enrichment_spend);
    let stats =
        reader.counters().map(|c| Stats::from(&c)).unwrap_or_else(|_| Stats::from(&Default::default()));
    let lines = kpis(&stats, &settings.kpi, cost, last.leads_per_hour);
    let passed = lines.iter().filter(|k| k.pass).count();
    let reached = last.unique_leads >= settings.target;
    let summary = format!(
        "{} unique leads of {} target in {}, ${cost:.2} spent; KPIs {passed}/{} pass",
        last.unique_leads,
        settings.target,
        crate::stats::human_duration(last.elapsed_seconds),
        lines.len()
    );
    let complete = if reached {
        Alert::new("run_complete", Severity::Info, &settings.name, None, summary)
            .once(&format!("target={}", settings.target))
    } else {
        Alert::new(
            "run_complete",
            Severity::Warn,
            &settings.name,
            None,
            format!("ended short of target: {summary}"),
        )
        .once(&format!("short-{}", crate::pipeline::now_millis()))
    };
    if let Err(e) = alerting.finish(obs.as_ref(), Some(complete)).await {
        tracing::warn!("alerting: {e}");
    }
}
