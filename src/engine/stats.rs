//! What the engine reports while it runs: each workflow's state and figures, and
//! the campaign's progress, published as a [`RunStats`] snapshot on a watch channel
//! (the terminal progress bars read it; the web UI will too).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::http::RequestMetrics;
use crate::store::WorkflowRecord;

/// Where a workflow is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum WorkflowState {
    /// No sprint runs in this process (a server over a data dir); figures as stored.
    Idle,
    Waiting,
    Running,
    /// Paused by the user, or by its breaker until it cools down.
    Paused(String),
    /// Stopped for good: bad credentials, quota exhausted, breaker tripped too often.
    Failed(String),
    /// Its query is exhausted.
    Done,
    /// The campaign reached its target, or the run was stopped.
    Stopped,
}

impl WorkflowState {
    pub fn label(&self) -> &'static str {
        match self {
            WorkflowState::Idle => "idle",
            WorkflowState::Waiting => "waiting",
            WorkflowState::Running => "running",
            WorkflowState::Paused(_) => "paused",
            WorkflowState::Failed(_) => "failed",
            WorkflowState::Done => "done",
            WorkflowState::Stopped => "stopped",
        }
    }

    /// No more pages will come from this workflow in this run.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            WorkflowState::Idle | WorkflowState::Failed(_) | WorkflowState::Done | WorkflowState::Stopped
        )
    }
}

/// A workflow's live state, shared between its task and the stats publisher.
#[derive(Debug)]
pub struct LiveWorkflow {
    pub name: String,
    pub vendor: &'static str,
    /// Allowed requests per second (real time).
    pub allowed_rate: f64,
    pub metrics: std::sync::Arc<RequestMetrics>,
    pub state: Mutex<WorkflowState>,
    pub last_error: Mutex<Option<String>>,
}

impl LiveWorkflow {
    pub fn set_state(&self, state: WorkflowState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    pub fn state(&self) -> WorkflowState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_error(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }
}

/// One workflow's figures, as shown.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowView {
    pub name: String,
    pub vendor: String,
    #[serde(flatten)]
    pub state: WorkflowState,
    pub requests: u64,
    pub successes: u64,
    pub retries: u64,
    pub failed_requests: u64,
    /// Answers 429 this run.
    pub throttled: u64,
    pub records: u64,
    pub new_leads: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub cost: f64,
    pub credits: u64,
    pub errors: BTreeMap<String, u64>,
    pub last_error: Option<String>,
    /// Mean request latency, milliseconds.
    pub latency_ms: f64,
    /// Requests the rate limiter held back, and the seconds they waited in all.
    pub rate_limit_waits: u64,
    pub rate_limit_wait_seconds: f64,
    /// Requests per second this run, and what the limit allows.
    pub achieved_rate: f64,
    pub allowed_rate: f64,
}

impl WorkflowView {
    /// A workflow as the store last recorded it, when no sprint runs here.
    pub fn recorded(name: &str, vendor: &str, record: &WorkflowRecord) -> Self {
        WorkflowView {
            name: name.to_owned(),
            vendor: vendor.to_owned(),
            state: if record.done { WorkflowState::Done } else { WorkflowState::Idle },
            requests: record.requests,
            successes: 0,
            retries: record.retries,
            failed_requests: 0,
            throttled: 0,
            records: record.records,
            new_leads: record.new_leads,
            duplicates: record.duplicates,
            quarantined: record.quarantined,
            cost: record.cost,
            credits: record.credits,
            errors: record.errors.clone(),
            last_error: record.last_error.clone(),
            latency_ms: 0.0,
            rate_limit_waits: 0,
            rate_limit_wait_seconds: 0.0,
            achieved_rate: 0.0,
            allowed_rate: 0.0,
        }
    }

    /// A running workflow: its live request figures over the store's record.
    pub fn new(live: &LiveWorkflow, record: &WorkflowRecord, elapsed: Duration) -> Self {
        let m = &live.metrics;
        let requests = m.requests.load(Ordering::Relaxed);
        let latency = m.latency_micros.load(Ordering::Relaxed) as f64 / requests.max(1) as f64 / 1000.0;
        let last_error = live.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        WorkflowView {
            state: live.state(),
            requests,
            successes: m.successes.load(Ordering::Relaxed),
            retries: m.retries.load(Ordering::Relaxed),
            failed_requests: m.failures.load(Ordering::Relaxed),
            throttled: m.throttled.load(Ordering::Relaxed),
            last_error: last_error.or_else(|| record.last_error.clone()),
            latency_ms: latency,
            rate_limit_waits: m.limiter_waits.load(Ordering::Relaxed),
            rate_limit_wait_seconds: m.limiter_wait_micros.load(Ordering::Relaxed) as f64 / 1e6,
            achieved_rate: requests as f64 / elapsed.as_secs_f64().max(1e-3),
            allowed_rate: live.allowed_rate,
            ..WorkflowView::recorded(&live.name, live.vendor, record)
        }
    }
}

/// The campaign at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    pub target: u64,
    pub unique_leads: u64,
    pub records_received: u64,
    pub elapsed_seconds: f64,
    /// The same in vendor time (the sandbox's clock when sped up).
    pub vendor_elapsed_seconds: f64,
    /// Unique leads per hour of this run, in sandbox time when the clock is sped up.
    pub leads_per_hour: f64,
    pub eta_seconds: Option<f64>,
    pub progress_percent: f64,
    pub cost: f64,
    pub workflows: Vec<WorkflowView>,
    pub finished: bool,
}

impl RunStats {
    /// Builds the campaign figures from the workflows' and the store's.
    pub fn build(
        target: u64,
        unique: u64,
        records: u64,
        new_this_run: u64,
        elapsed: Duration,
        speed: f64,
        workflows: Vec<WorkflowView>,
    ) -> Self {
        let hours = elapsed.as_secs_f64() * speed / 3600.0;
        let per_hour = if hours > 0.0 { new_this_run as f64 / hours } else { 0.0 };
        let remaining = target.saturating_sub(unique);
        let eta = (per_hour > 0.0 && remaining > 0).then(|| remaining as f64 / per_hour * 3600.0 / speed);
        RunStats {
            target,
            unique_leads: unique,
            records_received: records,
            elapsed_seconds: elapsed.as_secs_f64(),
            vendor_elapsed_seconds: elapsed.as_secs_f64() * speed,
            leads_per_hour: per_hour,
            eta_seconds: eta,
            progress_percent: (unique as f64 * 100.0 / target.max(1) as f64).min(100.0),
            cost: workflows.iter().map(|w| w.cost).sum(),
            finished: workflows.iter().all(|w| w.state.is_final()),
            workflows,
        }
    }
}
