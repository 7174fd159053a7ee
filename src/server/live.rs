//! The dashboard's live view. Once a second — whatever the number of open pages —
//! one snapshot of the campaign is built (store figures, the sprint's progress,
//! KPIs, the leads/hour series, recent events) and published to every event
//! stream; nothing is computed per watcher.

use crate::enrich::runner::{EnrichStats, StageState};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{AppState, Campaign};
use crate::engine::stats::{RunStats, WorkflowState, WorkflowView};
use crate::lead::Millis;
use crate::pipeline::now_millis;
use crate::stats::{KpiLine, Stats, kpis};
use crate::store::StoreError;

/// How often the snapshot is rebuilt.
pub const TICK: Duration = Duration::from_secs(1);
/// Points kept in the series; when full, every other old point is dropped, so the
/// chart keeps the whole sprint at a coarser grain.
const SERIES_MAX: usize = 720;
const EVENTS_MAX: usize = 100;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    pub t: Millis,
    pub unique: u64,
    pub leads_per_hour: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: Millis,
    pub level: Level,
    pub workflow: Option<String>,
    pub message: String,
}

/// The dashboard's state between ticks.
pub struct Live {
    campaign: Campaign,
    inner: Mutex<Inner>,
    snapshot: watch::Sender<Arc<str>>,
    closing: CancellationToken,
}

#[derive(Default)]
struct Inner {
    series: VecDeque<Point>,
    events: VecDeque<Event>,
    /// Each workflow's last seen state label and error, to report changes once.
    seen: BTreeMap<String, (String, Option<String>)>,
    finished: bool,
    /// The writer's failure was reported as an event.
    writer_failure_noted: bool,
    /// The last alert notice shown as an event (`None`: not looked yet).
    notices_seen: Option<u64>,
}

/// What `GET /api/dashboard` and each `snapshot` event carry.
#[derive(Serialize)]
struct Snapshot<'a> {
    mode: &'static str,
    stats: Stats,
    run: Option<&'a RunStats>,
    target: u64,
    kpis: Vec<KpiLine>,
    series: &'a VecDeque<Point>,
    events: &'a VecDeque<Event>,
    /// Set once new leads can no longer be stored (the page shows it as a banner).
    writer_error: Option<String>,
    /// The enrichment stage's progress, when the sprint runs one.
    enrichment: Option<EnrichStats>,
    /// Alert sinks turned off (a dead webhook): the page shows them as a banner.
    alert_sinks_off: Vec<crate::alerts::SinkStatus>,
    /// The plan the sprint started with (the report sets it beside the actual).
    plan: Option<crate::plan::PlanSummary>,
}

impl Live {
    pub fn new(campaign: Campaign) -> Live {
        let (snapshot, _) = watch::channel(Arc::from("{}"));
        Live { campaign, inner: Mutex::default(), snapshot, closing: CancellationToken::new() }
    }

    pub fn campaign(&self) -> &Campaign {
        &self.campaign
    }

    /// The latest snapshot (JSON), and its changes.
    pub fn subscribe(&self) -> watch::Receiver<Arc<str>> {
        self.snapshot.subscribe()
    }

    /// Resolves when the server is shutting down (event streams end then).
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Records an event for the dashboard's list.
    pub fn note(&self, level: Level, workflow: Option<&str>, message: impl Into<String>) {
        let event =
            Event { at: now_millis(), level, workflow: workflow.map(str::to_owned), message: message.into() };
        push_event(&mut self.lock(), event);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the snapshot, records what changed since the last one, and publishes
    /// it if it differs.
    pub fn refresh(&self, state: &AppState) -> Result<Arc<str>, StoreError> {
        let reader = state.store.reader()?;
        let stats = Stats::from(&reader.counters()?);
        let run = running(state);
        let writer_error = state.writer_failure();
        let mut inner = self.lock();
        if let Some(run) = &run {
            observe(&mut inner, run);
        }
        if let Some(error) = &writer_error {
            note_writer_failure(&mut inner, error);
        }
        note_alerts(&mut inner, &reader)?;
        let alert_sinks_off: Vec<crate::alerts::SinkStatus> =
            crate::alerts::sinks(&reader)?.into_iter().filter(|s| s.disabled.is_some()).collect();
        let point = match &run {
            Some(run) => {
                Point { t: now_millis(), unique: run.unique_leads, leads_per_hour: run.leads_per_hour }
            }
            None => idle_point(inner.series.back(), stats.unique_leads),
        };
        push_point(&mut inner.series, point);
        let (vendor_cost, per_hour) = match &run {
            Some(run) => (run.cost, run.leads_per_hour),
            None => (reader.workflows()?.values().map(|w| w.cost).sum(), point.leads_per_hour),
        };
        // The KPI counts what vendors and enrichment cost together.
        let cost = vendor_cost + reader.enrichment_cost()?;
        let snapshot = Snapshot {
            mode: state.sprint.as_ref().map_or("serve", |s| s.mode),
            kpis: kpis(&stats, &self.campaign.kpi, cost, per_hour),
            stats,
            run: run.as_ref(),
            target: run.as_ref().map_or(self.campaign.target, |r| r.target),
            series: &inner.series,
            events: &inner.events,
            writer_error,
            enrichment: enrichment(state),
            alert_sinks_off,
            plan: crate::report::planned(&reader)?,
        };
        let json: Arc<str> = Arc::from(serde_json::to_string(&snapshot).unwrap_or_default());
        drop(inner);
        self.snapshot.send_if_modified(|old| {
            let changed = **old != *json;
            if changed {
                *old = json.clone();
            }
            changed
        });
        Ok(json)
    }
}

/// Alert notices sent since the last look become events (the first look starts
/// from the last ten).
fn note_alerts(inner: &mut Inner, reader: &crate::store::Reader) -> Result<(), StoreError> {
    use crate::store::Log;
    let entries = match inner.notices_seen {
        Some(seen) => reader.log_after(Log::AlertNotices, seen, EVENTS_MAX)?,
        None => reader.log_tail(Log::AlertNotices, 10)?,
    };
    for (seq, bytes) in entries {
        inner.notices_seen = Some(seq);
        let Ok(logged) = serde_json::from_slice::<crate::alerts::LoggedNotice>(&bytes) else { continue };
        let level = match logged.notice.severity() {
            _ if logged.notice.firing.is_empty() => Level::Info,
            crate::alerts::Severity::Page => Level::Error,
            crate::alerts::Severity::Warn => Level::Warn,
            crate::alerts::Severity::Info => Level::Info,
        };
        let message = format!("alert {}", crate::alerts::slack::headline(&logged.notice));
        let event = Event { at: logged.at_ms, level, workflow: logged.notice.group.vendor.clone(), message };
        push_event(inner, event);
    }
    if inner.notices_seen.is_none() {
        inner.notices_seen = Some(0);
    }
    Ok(())
}

/// The enrichment stage's progress, when the sprint has one that is not off.
fn enrichment(state: &AppState) -> Option<EnrichStats> {
    let (stats, _) = state.sprint.as_ref()?.enrichment.as_ref()?;
    let stats = stats.borrow().clone();
    (stats.state != StageState::Off).then_some(stats)
}

/// The sprint's progress, once its workflows are planned.
pub fn running(state: &AppState) -> Option<RunStats> {
    let sprint = state.sprint.as_ref()?;
    let run = sprint.stats.borrow().clone();
    (!run.workflows.is_empty()).then_some(run)
}

/// Every workflow: the sprint's live figures, or the store's record of each.
pub fn workflows(state: &AppState) -> Result<(Vec<WorkflowView>, bool), StoreError> {
    if let Some(run) = running(state) {
        return Ok((run.workflows, !run.finished));
    }
    let records = state.store.reader()?.workflows()?;
    let campaign = &state.live.campaign.workflows;
    let mut views: Vec<WorkflowView> = campaign
        .iter()
        .map(|(name, vendor)| {
            WorkflowView::recorded(name, vendor, &records.get(name).cloned().unwrap_or_default())
        })
        .collect();
    for (name, record) in records.iter().filter(|(n, _)| !campaign.iter().any(|(c, _)| c == *n)) {
        views.push(WorkflowView::recorded(name, "", record));
    }
    Ok((views, false))
}

/// Without a sprint the series only moves when leads arrive (an import): the rate
/// is the growth since the previous point.
fn idle_point(previous: Option<&Point>, unique: u64) -> Point {
    let t = now_millis();
    let per_hour = previous
        .filter(|p| t > p.t && unique > p.unique)
        .map_or(0.0, |p| (unique - p.unique) as f64 * 3_600_000.0 / (t - p.t) as f64);
    Point { t, unique, leads_per_hour: per_hour }
}

fn push_point(series: &mut VecDeque<Point>, point: Point) {
    if let Some(last) = series.back()
        && last.unique == point.unique
        && last.leads_per_hour == point.leads_per_hour
        && series.len() > 1
    {
        return;
    }
    if series.len() >= SERIES_MAX {
        let kept: VecDeque<Point> = series.iter().step_by(2).copied().collect();
        *series = kept;
    }
    series.push_back(point);
}

/// The writer's failure, as one error event however many snapshots carry it.
fn note_writer_failure(inner: &mut Inner, error: &str) {
    if !std::mem::replace(&mut inner.writer_failure_noted, true) {
        let event =
            Event { at: now_millis(), level: Level::Error, workflow: None, message: error.to_owned() };
        push_event(inner, event);
    }
}

fn push_event(inner: &mut Inner, event: Event) {
    if inner.events.len() >= EVENTS_MAX {
        inner.events.pop_front();
    }
    inner.events.push_back(event);
}

/// Turns what changed in the sprint since the last look into events: state
/// changes (with their reason), new errors, the end of the sprint.
fn observe(inner: &mut Inner, run: &RunStats) {
    let now = now_millis();
    for w in &run.workflows {
        let label = w.state.label().to_owned();
        let (old_label, old_error) = inner.seen.get(&w.name).cloned().unwrap_or_default();
        if label != old_label
            && let Some((level, message)) = state_event(&w.state, &old_label)
        {
            push_event(inner, Event { at: now, level, workflow: Some(w.name.clone()), message });
        }
        if w.last_error.is_some() && w.last_error != old_error {
            let message = w.last_error.clone().unwrap_or_default();
            push_event(inner, Event { at: now, level: Level::Warn, workflow: Some(w.name.clone()), message });
        }
        inner.seen.insert(w.name.clone(), (label, w.last_error.clone()));
    }
    if run.finished && !inner.finished {
        inner.finished = true;
        let message = format!("sprint finished: {} unique leads of {} target", run.unique_leads, run.target);
        push_event(inner, Event { at: now, level: Level::Info, workflow: None, message });
    }
}

fn state_event(state: &WorkflowState, before: &str) -> Option<(Level, String)> {
    Some(match state {
        WorkflowState::Running if before == "paused" => (Level::Info, "resumed".to_owned()),
        WorkflowState::Running => (Level::Info, "running".to_owned()),
        WorkflowState::Paused(why) => (Level::Warn, format!("paused: {why}")),
        WorkflowState::Failed(why) => (Level::Error, format!("failed: {why}")),
        WorkflowState::Done => (Level::Info, "query exhausted".to_owned()),
        WorkflowState::Stopped => (Level::Info, "stopped".to_owned()),
        WorkflowState::Idle | WorkflowState::Waiting => return None,
    })
}

/// Rebuilds the snapshot every [`TICK`] until the server stops.
pub async fn run(state: AppState) {
    let closing = state.live.closing();
    loop {
        let s = state.clone();
        match tokio::task::spawn_blocking(move || s.live.refresh(&s)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "dashboard snapshot failed"),
            Err(e) => tracing::warn!(error = %e, "dashboard snapshot task failed"),
            Ok(Ok(_)) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = closing.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, state: WorkflowState, error: Option<&str>) -> WorkflowView {
        let mut v = WorkflowView::recorded(name, "apollo", &Default::default());
        v.state = state;
        v.last_error = error.map(str::to_owned);
        v
    }

    fn messages(inner: &Inner) -> Vec<(Level, String)> {
        inner
            .events
            .iter()
            .map(|e| (e.level, format!("{}: {}", e.workflow.clone().unwrap_or_default(), e.message)))
            .collect()
    }

    #[test]
    fn state_changes_and_new_errors_become_events_once() {
        let mut inner = Inner::default();
        let mut run =
            RunStats { workflows: vec![view("a", WorkflowState::Running, None)], ..RunStats::default() };
        observe(&mut inner, &run);
        observe(&mut inner, &run);
        run.workflows[0] =
            view("a", WorkflowState::Paused("paused by the user".into()), Some("throttled (429)"));
        observe(&mut inner, &run);
        run.workflows[0] = view("a", WorkflowState::Running, Some("throttled (429)"));
        observe(&mut inner, &run);
        run.workflows[0] = view("a", WorkflowState::Failed("bad key".into()), Some("bad key"));
        run.finished = true;
        observe(&mut inner, &run);
        observe(&mut inner, &run);
        assert_eq!(
            messages(&inner),
            [
                (Level::Info, "a: running".to_owned()),
                (Level::Warn, "a: paused: paused by the user".to_owned()),
                (Level::Warn, "a: throttled (429)".to_owned()),
                (Level::Info, "a: resumed".to_owned()),
                (Level::Error, "a: failed: bad key".to_owned()),
                (Level::Warn, "a: bad key".to_owned()),
                (Level::Info, ": sprint finished: 0 unique leads of 0 target".to_owned()),
            ]
        );
    }

    #[test]
    fn the_series_keeps_the_whole_sprint_at_a_coarser_grain() {
        let mut series = VecDeque::new();
        for i in 0..2_000i64 {
            push_point(&mut series, Point { t: i, unique: i as u64, leads_per_hour: 1.0 });
        }
        assert!(series.len() <= SERIES_MAX);
        assert_eq!(series.front().map(|p| p.t), Some(0), "the start stays");
        assert_eq!(series.back().map(|p| p.t), Some(1_999), "the newest point is there");
        assert!(series.iter().zip(series.iter().skip(1)).all(|(a, b)| a.t < b.t));
    }

    #[test]
    fn an_idle_server_rates_growth_between_points() {
        let earlier = Point { t: now_millis() - 3_600_000, unique: 100, leads_per_hour: 0.0 };
        let p = idle_point(Some(&earlier), 1_100);
        assert!((p.leads_per_hour - 1_000.0).abs() < 5.0, "{}", p.leads_per_hour);
        assert_eq!(idle_point(Some(&earlier), 100).leads_per_hour, 0.0);
    }
}
