//! One workflow's task: page the vendor query from its committed cursor, hand
//! each page (records + checkpoint) to the writer as one chunk, stop at the
//! target, and pause itself when pages keep failing (the circuit breaker).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::stats::{LiveWorkflow, WorkflowState};
use crate::http::FetchError;
use crate::pipeline::{self, Checkpoint, IntakeSender, Item, Job};
use crate::sources::Connector;

/// Consecutive failed pages that open the breaker.
pub const BREAKER_PAGES: u32 = 5;
/// How long an open breaker waits before trying again (vendor time).
pub const BREAKER_COOL_DOWN: Duration = Duration::from_secs(60);
/// Breaker openings after which the workflow fails for this run.
pub const BREAKER_TRIPS: u32 = 3;
/// Wait before retrying a failed page (vendor time): the step after the client's 1 s, 2 s.
pub const PAGE_RETRY: Duration = Duration::from_secs(4);
/// How long a pause waits for the page in flight (real time: it is about the network).
pub const PAUSE_GRACE: Duration = Duration::from_secs(2);

/// Everything a workflow task needs.
pub struct WorkflowTask {
    pub live: Arc<LiveWorkflow>,
    pub connector: Connector,
    pub cursor: Option<String>,
    pub writer: IntakeSender,
    pub unique: Arc<AtomicU64>,
    /// Records every workflow has sent, and the writer has committed, this run: their
    /// difference is in flight, and may still become new leads.
    pub sent: Arc<AtomicU64>,
    pub committed: Arc<AtomicU64>,
    pub target: u64,
    pub cancel: CancellationToken,
    /// Set when any workflow of this vendor meets an error that stops the vendor.
    pub vendor_stopped: Arc<std::sync::Mutex<Option<String>>>,
    pub paused: watch::Receiver<bool>,
    pub speed: f64,
    /// To read the committed cursor (file-reading workflows archive what it covers).
    pub store: Arc<crate::store::Store>,
    /// Retries and requests already reported in a checkpoint.
    pub retries_reported: u64,
    pub requests_reported: u64,
}

impl WorkflowTask {
    fn real(&self, vendor_time: Duration) -> Duration {
        vendor_time.div_f64(self.speed)
    }

    /// Runs until the query is exhausted, the target is reached, the run is
    /// cancelled, or the workflow fails.
    pub async fn run(mut self) {
        let mut failures = 0;
        let mut trips = 0;
        let final_state = loop {
            if let Some(state) = self.should_stop() {
                break state;
            }
            if *self.paused.borrow() {
                self.live.set_state(WorkflowState::Paused("paused by the user".into()));
                let cancel = self.cancel.clone();
                let resumed = tokio::select! {
                    r = self.paused.wait_for(|p| !*p) => r.is_ok(),
                    _ = cancel.cancelled() => false,
                };
                if !resumed {
                    break WorkflowState::Stopped;
                }
            }
            self.live.set_state(WorkflowState::Running);
            if self.writer.is_disconnected() {
                break WorkflowState::Failed(self.writer.stopped().to_string());
            }
            if self.target_may_be_reached() {
                // Let the writer commit what is in flight before fetching more.
                if !self.sleep(Duration::from_millis(50)).await {
                    break WorkflowState::Stopped;
                }
                continue;
            }
            if self.connector.reads_files() {
                self.connector.archive(self.committed_cursor().as_deref());
            }
            let now = pipeline::now_millis();
            // Nothing of a page is committed before it returns: dropping it on cancel
            // is safe, and so on pause (the page is fetched again on resume). A pause
            // lets a page in flight land for PAUSE_GRACE — the vendor may have charged
            // for it — and drops only one that is stalled or waiting out a limit.
            let cancel = self.cancel.clone();
            let mut paused = self.paused.clone();
            let fetched = {
                let fetch = self.connector.next_page(self.cursor.as_deref(), now);
                tokio::pin!(fetch);
                tokio::select! {
                    biased;
                    page = &mut fetch => page,
                    _ = cancel.cancelled() => break WorkflowState::Stopped,
                    _ = pause_requested(&mut paused) => tokio::select! {
                        biased;
                        page = &mut fetch => page,
                        _ = cancel.cancelled() => break WorkflowState::Stopped,
                        _ = tokio::time::sleep(PAUSE_GRACE) => continue,
                    },
                }
            };
            match fetched {
                Ok(page) => {
                    failures = 0;
                    if let Some(notice) = &page.notice {
                        tracing::warn!(workflow = %self.live.name, "{notice}");
                        self.live.set_error(notice.clone());
                    }
                    let done = page.next.is_none();
                    let next = page.next.clone().or_else(|| self.cursor.clone());
                    let records = (page.records.len() + page.items.len()) as u64;
                    let chunk = self.chunk(page, next.clone(), done, now);
                    self.sent.fetch_add(records, Ordering::Relaxed);
                    if self.writer.send_async(Job::Items(chunk)).await.is_err() {
                        break WorkflowState::Failed(self.writer.stopped().to_string());
                    }
                    self.cursor = next;
                    if done {
                        break WorkflowState::Done;
                    }
                }
                Err(error) => {
                    self.live.set_error(error.to_string());
                    tracing::warn!(workflow = %self.live.name, "page failed: {error}");
                    self.record_failure(&error).await;
                    if error.stops_vendor() {
                        self.stop_vendor(&error);
                        break WorkflowState::Failed(error.to_string());
                    }
                    if error.ends_workflow() {
                        break WorkflowState::Failed(error.to_string());
                    }
                    failures += 1;
                    if failures >= BREAKER_PAGES {
                        trips += 1;
                        if trips >= BREAKER_TRIPS {
                            break WorkflowState::Failed(format!(
                                "breaker tripped {trips} times; last error: {error}"
                            ));
                        }
                        if !self.cool_down(failures, &error).await {
                            break WorkflowState::Stopped;
                        }
                        failures = 0;
                    } else if !self.sleep(self.real(PAGE_RETRY)).await {
                        break WorkflowState::Stopped;
                    }
                }
            }
        };
        if self.connector.reads_files() {
            self.archive_when_committed().await;
        }
        tracing::info!(workflow = %self.live.name, state = final_state.label(), "workflow finished");
        self.live.set_state(final_state);
    }

    fn should_stop(&self) -> Option<WorkflowState> {
        if self.cancel.is_cancelled() || self.unique.load(Ordering::Relaxed) >= self.target {
            return Some(WorkflowState::Stopped);
        }
        let stopped = self.vendor_stopped.lock().unwrap_or_else(|p| p.into_inner()).clone();
        stopped.map(|why| WorkflowState::Failed(format!("vendor stopped: {why}")))
    }

    fn committed_cursor(&self) -> Option<String> {
        let records = self.store.reader().and_then(|r| r.workflows()).unwrap_or_default();
        records.get(&self.live.name).and_then(|r| r.cursor.clone())
    }

    /// Waits (up to 10 s) for the last page to commit, then archives its file.
    async fn archive_when_committed(&self) {
        for _ in 0..200 {
            if self.committed_cursor() == self.cursor {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.connector.archive(self.committed_cursor().as_deref());
    }

    /// Committed leads plus every record in flight already reach the target.
    fn target_may_be_reached(&self) -> bool {
        let in_flight =
            self.sent.load(Ordering::Relaxed).saturating_sub(self.committed.load(Ordering::Relaxed));
        self.unique.load(Ordering::Relaxed) + in_flight >= self.target
    }

    fn stop_vendor(&self, error: &FetchError) {
        *self.vendor_stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
        tracing::error!(workflow = %self.live.name, "stopping every {} workflow: {error}", self.live.vendor);
    }

    /// The page's records, normalised here, then its checkpoint: one chunk.
    fn chunk(
        &mut self,
        page: crate::sources::Page<String>,
        cursor: Option<String>,
        done: bool,
        now: i64,
    ) -> Vec<Item> {
        let name = &self.live.name;
        let mut items: Vec<Item> = page.items;
        items.extend(page.records.iter().map(|raw| {
            let id = raw.source.record_id.clone().unwrap_or_default();
            pipeline::prepare(
                raw,
                name,
                || format!("record {id}"),
                || serde_json::to_vec(raw).unwrap_or_default(),
                now,
            )
        }));
        let checkpoint = Checkpoint {
            workflow: name.clone(),
            cursor,
            done,
            // Every request since the last checkpoint, failed attempts included.
            requests: self.unreported(|m| &m.requests, |t| &mut t.requests_reported),
            credits: u64::from(page.credits),
            cost: page.cost,
            pages: 1,
            retries: self.unreported(|m| &m.retries, |t| &mut t.retries_reported),
            last_error: page.notice,
            ..Checkpoint::default()
        };
        items.push(Item::Checkpoint(Box::new(checkpoint)));
        items
    }

    /// Retries since the last checkpoint, marked as reported.
    /// A counter's growth since the last checkpoint, marked as reported.
    fn unreported(
        &mut self,
        counter: fn(&crate::http::RequestMetrics) -> &AtomicU64,
        reported: fn(&mut Self) -> &mut u64,
    ) -> u64 {
        let total = counter(&self.live.metrics).load(Ordering::Relaxed);
        let slot = reported(self);
        let delta = total.saturating_sub(*slot);
        *slot = total;
        delta
    }

    /// A failed page still counts its error (an empty checkpoint keeps the cursor).
    async fn record_failure(&mut self, error: &FetchError) {
        let checkpoint = Checkpoint {
            workflow: self.live.name.clone(),
            cursor: self.cursor.clone(),
            requests: self.unreported(|m| &m.requests, |t| &mut t.requests_reported),
            retries: self.unreported(|m| &m.retries, |t| &mut t.retries_reported),
            errors: BTreeMap::from([(error.kind().to_owned(), 1)]),
            last_error: Some(error.to_string()),
            ..Checkpoint::default()
        };
        let _ = self.writer.send_async(Job::Items(vec![Item::Checkpoint(Box::new(checkpoint))])).await;
    }

    async fn cool_down(&self, failures: u32, error: &FetchError) -> bool {
        let reason = format!(
            "breaker open after {failures} failed pages ({error}); retrying in {BREAKER_COOL_DOWN:?}"
        );
        tracing::warn!(workflow = %self.live.name, "{reason}");
        self.live.set_state(WorkflowState::Paused(reason));
        self.sleep(self.real(BREAKER_COOL_DOWN)).await
    }

    /// Sleeps until the duration passes or the user pauses the workflow; false when
    /// the run is cancelled first.
    async fn sleep(&self, duration: Duration) -> bool {
        let mut paused = self.paused.clone();
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = pause_requested(&mut paused) => true,
            _ = self.cancel.cancelled() => false,
        }
    }
}

/// Resolves once the workflow is paused (never, if its control is gone).
async fn pause_requested(paused: &mut watch::Receiver<bool>) {
    if paused.wait_for(|p| *p).await.is_err() {
        std::future::pending::<()>().await;
    }
}
