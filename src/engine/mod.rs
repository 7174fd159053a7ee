//! The collection engine (SPEC section 4): one tokio task per workflow, a shared
//! client (rate limiter) per vendor account, the single writer on its own thread
//! behind a bounded channel, progress published as [`RunStats`], and a stop at
//! the campaign target. Resumes every workflow from its committed cursor.

pub mod stats;
mod workflow;
pub use workflow::PAUSE_GRACE;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Query, Settings, VendorKind, VendorSettings, WorkflowSettings};
use crate::http::{RequestMetrics, VendorClient};
use crate::pipeline::{Intake, PipelineError, Writer};
use crate::sources::apollo::Apollo;
use crate::sources::brightdata::BrightData;
use crate::sources::salesnav::SalesNav;
use crate::sources::spend::Budget;
use crate::sources::zoominfo::ZoomInfo;
use crate::sources::{Connector, Link};
use crate::store::{Store, StoreError, WorkflowRecord};
use stats::{LiveWorkflow, RunStats, WorkflowState, WorkflowView};
pub use workflow::{BREAKER_COOL_DOWN, BREAKER_PAGES, BREAKER_TRIPS, PAGE_RETRY};

/// Bright Data's LinkedIn people-profiles dataset.
const DEFAULT_DATASET: &str = "gd_l1viktl72bvl7bjuj0";

/// How often progress is published.
const STATS_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the writer thread stopped unexpectedly")]
    WriterLost,
}

/// Run-wide choices that are not campaign settings.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Vendor time per real time (the sandbox's clock speed; 1 against real vendors).
    pub speed: f64,
    /// The sprint's plan, when the caller made one (else the engine plans).
    pub plan: Option<Arc<crate::plan::Forecast>>,
}

/// Handles to steer a running engine.
#[derive(Clone)]
pub struct Control {
    pub cancel: CancellationToken,
    pause: Arc<BTreeMap<String, watch::Sender<bool>>>,
}

impl Control {
    /// Pauses (`true`) or resumes a workflow; false if there is no such workflow.
    pub fn set_paused(&self, workflow: &str, paused: bool) -> bool {
        self.pause.get(workflow).map(|tx| tx.send_replace(paused)).is_some()
    }
}

/// A workflow ready to run, or the reason it cannot.
struct Planned {
    live: Arc<LiveWorkflow>,
    start: Result<Connector, WorkflowState>,
    cursor: Option<String>,
}

/// Runs the campaign over `store` with a writer of its own (see [`run_on`]).
pub async fn run(
    settings: &Settings,
    store: Store,
    options: RunOptions,
    stats: watch::Sender<RunStats>,
    control_out: impl FnOnce(Control),
) -> Result<RunStats, EngineError> {
    let intake = Intake::start(Writer::new(store)?);
    let result = run_on(settings, &intake, options, stats, control_out).await;
    // The writer's own failure says more than the engine's "writer lost".
    intake.finish()?;
    result
}

/// Runs the campaign until its target, exhaustion of every query, or `control`'s
/// cancellation, sending its pages to `intake`'s writer; publishes progress on
/// `stats`. Returns the final figures once every page sent is committed.
pub async fn run_on(
    settings: &Settings,
    intake: &Intake,
    options: RunOptions,
    stats: watch::Sender<RunStats>,
    control_out: impl FnOnce(Control),
) -> Result<RunStats, EngineError> {
    let shared = intake.store();
    let unique = intake.unique_leads();
    let committed = intake.committed_records();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let at_start = unique.load(Ordering::Relaxed);
    let records = shared.reader()?.workflows()?;
    let records_at_start = shared.reader()?.counters()?.records_received;
    let forecast = match &options.plan {
        Some(plan) => plan.clone(),
        None => Arc::new(crate::plan::forecast(settings, &crate::plan::inbox_rows(shared.dir(), settings))),
    };
    let plans = plan(settings, &records, &options, shared.dir())?;
    let workflows_at_start = records;
    let tx = intake.sender();
    let cancel = CancellationToken::new();
    // Whatever way this function ends (an error included), no workflow keeps fetching.
    let _stop_on_exit = cancel.clone().drop_guard();
    let mut pause = BTreeMap::new();
    let mut lives = Vec::new();
    let mut ready = Vec::new();
    let stopped: BTreeMap<VendorKind, Arc<Mutex<Option<String>>>> =
        VendorKind::ALL.iter().map(|v| (*v, Arc::default())).collect();
    for plan in plans {
        let (pause_tx, pause_rx) = watch::channel(false);
        pause.insert(plan.live.name.clone(), pause_tx);
        lives.push(plan.live.clone());
        match plan.start {
            Err(state) => plan.live.set_state(state),
            Ok(connector) => {
                let vendor = vendor_of(settings, &plan.live.name);
                let task = workflow::WorkflowTask {
                    live: plan.live,
                    connector,
                    cursor: plan.cursor,
                    writer: tx.clone(),
                    unique: unique.clone(),
                    sent: sent.clone(),
                    committed: committed.clone(),
                    target: settings.target,
                    cancel: cancel.clone(),
                    vendor_stopped: stopped[&vendor].clone(),
                    paused: pause_rx,
                    speed: options.speed,
                    store: shared.clone(),
                    retries_reported: 0,
                    requests_reported: 0,
                };
                ready.push(task);
            }
        }
    }
    drop(tx);
    // Handed out before any task runs, so a pause set now holds from the first page.
    control_out(Control { cancel: cancel.clone(), pause: Arc::new(pause) });
    let tasks: Vec<_> = ready.into_iter().map(|task| tokio::spawn(task.run())).collect();
    let started = Instant::now();
    let snapshot = |finished_tasks: bool| -> Result<RunStats, EngineError> {
        let records = shared.reader()?.workflows()?;
        let counters = shared.reader()?.counters()?;
        let views = lives
            .iter()
            .map(|l| {
                WorkflowView::new(
                    l,
                    records.get(&l.name).unwrap_or(&WorkflowRecord::default()),
                    started.elapsed(),
                )
            })
            .collect();
        let now = unique.load(Ordering::Relaxed);
        let mut s = RunStats::build(
            settings.target,
            now,
            counters.records_received,
            now.saturating_sub(at_start),
            started.elapsed(),
            options.speed,
            views,
        );
        s.finished = finished_tasks;
        s.eta_seconds = measured_eta(&forecast, &s, &workflows_at_start, at_start, records_at_start)
            .map(|t| t / options.speed);
        Ok(s)
    };
    while !tasks.iter().all(|t| t.is_finished()) {
        stats.send_replace(snapshot(false)?);
        // Once cancelled, keep the same pace: the tasks are finishing their last pages.
        if cancel.is_cancelled() {
            tokio::time::sleep(STATS_EVERY).await;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(STATS_EVERY) => {}
                _ = cancel.cancelled() => {}
            }
        }
        if unique.load(Ordering::Relaxed) >= settings.target {
            cancel.cancel();
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    if !intake.flush().await {
        return Err(EngineError::WriterLost);
    }
    let last = snapshot(true)?;
    stats.send_replace(last.clone());
    Ok(last)
}

/// The ETA (vendor seconds) by the plan's model fed with this run's measures.
fn measured_eta(
    forecast: &crate::plan::Forecast,
    run: &RunStats,
    at_start: &BTreeMap<String, WorkflowRecord>,
    unique_at_start: u64,
    records_at_start: u64,
) -> Option<f64> {
    let workflows: Vec<crate::plan::MeasuredWorkflow> = run
        .workflows
        .iter()
        .map(|w| crate::plan::MeasuredWorkflow {
            name: w.name.clone(),
            finished: w.state.is_final() || matches!(w.state, WorkflowState::Failed(_)),
            records_at_start: at_start.get(&w.name).map_or(0, |r| r.records),
            records_now: w.records,
        })
        .collect();
    let records = run.records_received.saturating_sub(records_at_start);
    let unique = run.unique_leads.saturating_sub(unique_at_start);
    let share = if records >= 100 { unique as f64 / records as f64 } else { forecast.unique_share };
    crate::plan::eta(forecast, run.vendor_elapsed_seconds, &workflows, run.unique_leads, share)
}

fn vendor_of(settings: &Settings, workflow: &str) -> VendorKind {
    settings.workflows.iter().find(|w| w.name == workflow).map_or(VendorKind::Apollo, |w| w.vendor)
}

/// Builds each enabled workflow's connector (one client per vendor account, or
/// per workflow with a limit of its own), resuming from its committed cursor.
fn plan(
    settings: &Settings,
    records: &BTreeMap<String, WorkflowRecord>,
    options: &RunOptions,
    data_dir: &std::path::Path,
) -> Result<Vec<Planned>, EngineError> {
    let mut shared: BTreeMap<VendorKind, VendorClient> = BTreeMap::new();
    let budget = budget(settings, records);
    let mut plans = Vec::new();
    for wf in settings.workflows.iter().filter(|w| w.enabled) {
        let Some(vendor) = settings.vendors.get(&wf.vendor) else { continue };
        let record = records.get(&wf.name).cloned().unwrap_or_default();
        let rate = wf.rate.unwrap_or(vendor.rate);
        let metrics = Arc::new(RequestMetrics::default());
        let live = Arc::new(LiveWorkflow {
            name: wf.name.clone(),
            vendor: wf.vendor.name(),
            allowed_rate: f64::from(rate.requests) / rate.per.as_secs_f64() * options.speed,
            metrics: metrics.clone(),
            state: Mutex::new(WorkflowState::Waiting),
            last_error: Mutex::new(None),
        });
        // A file inbox is never done for good: new exports may have arrived.
        let start = if record.done && wf.vendor != VendorKind::Salesnav {
            Err(WorkflowState::Done)
        } else {
            let client = match (wf.rate, shared.get(&wf.vendor)) {
                (Some(own), _) => client_for(wf.vendor, vendor, own, options.speed)?,
                (None, Some(c)) => c.clone(),
                (None, None) => {
                    let c = client_for(wf.vendor, vendor, vendor.rate, options.speed)?;
                    shared.insert(wf.vendor, c.clone());
                    c
                }
            };
            let link = Link {
                client,
                workflow: wf.name.clone(),
                page_size: vendor.page_size,
                costs: vendor.costs.clone(),
                metrics,
                spend: budget.for_vendor(wf.vendor),
            };
            connector(wf, vendor, link, settings.target, data_dir)
        };
        plans.push(Planned { live, start, cursor: record.cursor });
    }
    Ok(plans)
}

/// The campaign's spend ledger: its caps, and what each vendor's workflows have
/// already committed in the store.
fn budget(settings: &Settings, records: &BTreeMap<String, WorkflowRecord>) -> Budget {
    let caps = settings.vendors.iter().filter_map(|(kind, v)| Some((*kind, v.spend_cap?))).collect();
    let mut spent: BTreeMap<VendorKind, f64> = BTreeMap::new();
    let mut elsewhere = 0.0;
    for (name, record) in records {
        match settings.workflows.iter().find(|w| &w.name == name) {
            Some(wf) => *spent.entry(wf.vendor).or_default() += record.cost,
            // A workflow no longer in the campaign still spent the campaign's money.
            None => elsewhere += record.cost,
        }
    }
    Budget::new(settings.spend_cap, caps, spent, elsewhere)
}

/// A vendor account's client; Bright Data's also holds back before its IP block
/// (25 responses 429 within 5 minutes): at 20 it waits for the window to clear.
fn client_for(
    kind: VendorKind,
    vendor: &VendorSettings,
    rate: crate::config::Rate,
    speed: f64,
) -> Result<VendorClient, EngineError> {
    let client = VendorClient::new(kind.name(), &vendor.base_url, rate, vendor.timeout, speed)?;
    Ok(match kind {
        VendorKind::Brightdata => client.with_throttle_guard(20, Duration::from_secs(300)),
        VendorKind::Zoominfo => client.with_auth_limit(crate::sources::zoominfo::AUTH_RATE),
        _ => client,
    })
}

fn connector(
    wf: &WorkflowSettings,
    vendor: &VendorSettings,
    link: Link,
    target: u64,
    data_dir: &std::path::Path,
) -> Result<Connector, WorkflowState> {
    let missing = vendor.missing_credentials();
    if !missing.is_empty() {
        let (verb, pronoun) = if missing.len() == 1 { ("is", "it") } else { ("are", "them") };
        let names = missing.join(" and ");
        return Err(WorkflowState::Failed(format!(
            "{names} {verb} not set: export {pronoun} before the run"
        )));
    }
    let secret = |i: usize| vendor.credentials.get(i).and_then(|c| c.value.clone());
    match &wf.query {
        Query::Apollo(query) => {
            let key = secret(0).ok_or_else(|| WorkflowState::Failed("apollo needs api_key_env".into()))?;
            Ok(Connector::Apollo(Apollo::new(link, key, query.clone())))
        }
        Query::BrightData(query) => {
            let key =
                secret(0).ok_or_else(|| WorkflowState::Failed("brightdata needs api_key_env".into()))?;
            let dataset = vendor.dataset_id.clone().unwrap_or_else(|| DEFAULT_DATASET.to_owned());
            // A filter never needs more records than the campaign's target.
            let default_limit = u32::try_from(target).unwrap_or(u32::MAX);
            Ok(Connector::BrightData(BrightData::new(link, key, dataset, query.clone(), default_limit)))
        }
        Query::ZoomInfo(query) => {
            let (Some(user), Some(password)) = (secret(0), secret(1)) else {
                return Err(WorkflowState::Failed("zoominfo needs username_env and password_env".into()));
            };
            Ok(Connector::ZoomInfo(ZoomInfo::new(link, user, password, query.clone())))
        }
        Query::SalesNav(query) => {
            let inbox = data_dir.join(vendor.inbox.clone().unwrap_or_else(|| "inbox".into()));
            let folder = inbox.join(&query.inbox);
            let reader = SalesNav::new(folder.clone())
                .map_err(|e| WorkflowState::Failed(format!("cannot use inbox {}: {e}", folder.display())))?;
            Ok(Connector::SalesNav(reader, wf.name.clone()))
        }
    }
}
