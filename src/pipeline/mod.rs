//! The pipeline: the only place that knows the stage order — normalize and score
//! ([`prepare`], run by producers on their own threads), then de-duplicate and store
//! ([`Writer`], the single writer, one durable transaction per batch of up to
//! [`BATCH_RECORDS`] records or [`BATCH_WAIT`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::dedup::{KeyIndex, LeadStore, Outcome, TooManyLeads};
use crate::lead::{self, Candidate, Lead, LeadId, Millis, RawLead};
use crate::search::{SearchError, SearchIndex};
use crate::store::{Batch, Counter, QuarantineEntry, Store, StoreError, WorkflowRecord};

mod enrichment;
pub mod identity;
mod indexing;
mod intake;

pub use enrichment::Enriched;

use identity::{Answer, Command, CommandError, Dropped, Resolver};
use indexing::Changed;
pub use indexing::{COMMIT_EVERY, CatchUp, IndexFeed, index_dir, open_index, reindex};
pub use intake::{Intake, IntakeSender, Job, run_command, run_command_async, write_batch};

/// A batch commits once it holds this many records...
pub const BATCH_RECORDS: usize = 500;
/// ...or this long after its first record arrived.
pub const BATCH_WAIT: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    TooManyLeads(#[from] TooManyLeads),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("search indexing thread: {0}")]
    IndexThread(String),
    #[error("the writer thread stopped unexpectedly")]
    WriterLost,
    #[error("the writer failed: {0}")]
    WriterFailed(String),
    /// A command named something that is not there (a lead id, say).
    #[error("{0}")]
    NotFound(String),
    /// A command that cannot be carried out as asked; the message says why.
    #[error("{0}")]
    Invalid(String),
}

/// What a producer hands the writer. A workflow sends each page as one chunk: its
/// records, then its [`Checkpoint`]; a chunk is never split across transactions,
/// so a page's leads and its cursor commit together.
#[derive(Debug, Clone)]
pub enum Item {
    Lead(Box<Candidate>),
    Quarantine(QuarantineEntry),
    Checkpoint(Box<Checkpoint>),
    /// An enrichment result: not a collected record (no record counters move).
    Enriched(Box<Enriched>),
}

/// The end of a workflow's page: where to resume and what the page cost (deltas).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checkpoint {
    pub workflow: String,
    /// The cursor after this page (the connector's JSON); with `done`, the last one.
    pub cursor: Option<String>,
    pub done: bool,
    /// 1 for a fetched page, 0 for a checkpoint that only records a failure.
    pub pages: u64,
    pub requests: u64,
    pub credits: u64,
    pub cost: f64,
    pub retries: u64,
    pub errors: BTreeMap<String, u64>,
    pub last_error: Option<String>,
}

/// Now, in milliseconds since the epoch.
pub fn now_millis() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as Millis)
}

/// Normalises and scores one record, or turns it into a quarantine entry carrying
/// its raw bytes (`raw_bytes` is only called for rejected records).
pub fn prepare(
    raw: &RawLead,
    origin: &str,
    position: impl FnOnce() -> String,
    raw_bytes: impl FnOnce() -> Vec<u8>,
    now: Millis,
) -> Item {
    match lead::normalize(raw, now) {
        Ok(candidate) => Item::Lead(Box::new(candidate)),
        Err(rejection) => {
            let kind = match rejection {
                lead::Rejection::FieldTooLong { .. } => "field over 64 KiB",
                lead::Rejection::NoIdentityKey(_) => "no identity key",
            };
            Item::Quarantine(quarantine(origin, position(), kind, rejection.to_string(), raw_bytes(), now))
        }
    }
}

/// Builds a quarantine entry.
pub fn quarantine(
    origin: &str,
    position: String,
    kind: &str,
    reason: String,
    raw: Vec<u8>,
    now: Millis,
) -> QuarantineEntry {
    QuarantineEntry { at: now, origin: origin.to_owned(), position, kind: kind.to_owned(), reason, raw }
}

/// What the writer did, for a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Totals {
    pub records_received: u64,
    pub new_leads: u64,
    pub duplicates_merged: u64,
    /// Duplicates that added nothing the lead did not already hold.
    pub duplicates_unchanged: u64,
    /// Records whose keys named leads a remembered split keeps apart.
    pub conflicts: u64,
    /// Leads merged into others because a record bridged them.
    #[serde(default)]
    pub leads_merged: u64,
    /// Records dropped: they match the do-not-contact list.
    #[serde(default)]
    pub suppressed: u64,
    /// Records dropped: they carry a key of an erased person.
    #[serde(default)]
    pub erased: u64,
    pub quarantined: u64,
    pub quarantined_by_kind: BTreeMap<String, u64>,
    /// Enrichment results applied.
    #[serde(default)]
    pub enriched: u64,
}

impl Totals {
    /// Adds another batch's figures to these.
    pub fn add(&mut self, t: Totals) {
        self.records_received += t.records_received;
        self.new_leads += t.new_leads;
        self.duplicates_merged += t.duplicates_merged;
        self.duplicates_unchanged += t.duplicates_unchanged;
        self.conflicts += t.conflicts;
        self.leads_merged += t.leads_merged;
        self.suppressed += t.suppressed;
        self.enriched += t.enriched;
        self.erased += t.erased;
        self.quarantined += t.quarantined;
        for (kind, n) in t.quarantined_by_kind {
            *self.quarantined_by_kind.entry(kind).or_default() += n;
        }
    }
}

/// The single writer: owns the store and the in-memory key set.
pub struct Writer {
    store: Arc<Store>,
    resolver: Resolver,
    totals: Totals,
    /// Unique leads in the store, updated after every commit (the engine stops at its target).
    unique: Arc<AtomicU64>,
    /// Records committed from pooled chunks (sprint pages, file imports) since this writer started.
    committed: Arc<AtomicU64>,
    /// The search index following the store (declared last: dropped after the store
    /// handle is no longer written, it commits what it was sent).
    feed: IndexFeed,
}

impl Writer {
    /// Takes the store, rebuilds the key set from every stored identity key and
    /// brings the search index level with the store.
    pub fn new(store: Store) -> Result<Writer, PipelineError> {
        let resolver = Resolver::load(rebuild_index(&store)?, &store.reader()?)?;
        let unique = Arc::new(AtomicU64::new(store.reader()?.counters()?.unique_leads));
        let (index, _) = open_index(&store)?;
        let feed = IndexFeed::start(index)?;
        let committed = Arc::default();
        let store = Arc::new(store);
        let mut writer = Writer { store, resolver, totals: Totals::default(), unique, committed, feed };
        writer.reconcile()?;
        Ok(writer)
    }

    /// A store written by schema 1 left leads apart that one record named
    /// together: merge them once, before anything else is written.
    fn reconcile(&mut self) -> Result<(), PipelineError> {
        if self.store.reader()?.meta(crate::store::META_RECONCILE)? == 0 {
            return Ok(());
        }
        let (now, resolver) = (now_millis(), &mut self.resolver);
        let (merged, changed, seq) = self.store.write(|batch| -> Result<_, PipelineError> {
            let mut changed = Changed::default();
            let merged = identity::reconcile_schema_1(resolver, batch, &mut changed, now)?;
            Ok((merged, changed, batch.seq()))
        })?;
        tracing::info!(merged, "merged the leads an older version left apart");
        self.feed.send(changed, seq);
        self.refresh_unique()
    }

    /// Runs a user's identity command (split, erase, do-not-contact list) in one
    /// durable transaction.
    pub fn apply(&mut self, command: Command) -> Result<Answer, PipelineError> {
        let (now, resolver) = (now_millis(), &mut self.resolver);
        let (answer, changed, seq) = self.store.write(|batch| -> Result<_, PipelineError> {
            let mut changed = Changed::default();
            let answer = resolver.apply(batch, &mut changed, command, now)?;
            Ok((answer, changed, batch.seq()))
        })?;
        self.feed.send(changed, seq);
        self.refresh_unique()?;
        Ok(answer)
    }

    fn refresh_unique(&self) -> Result<(), PipelineError> {
        let unique = self.store.reader()?.counters()?.unique_leads;
        self.unique.store(unique, Ordering::Relaxed);
        Ok(())
    }

    /// The search index, for searching while this writer feeds it.
    pub fn search_index(&self) -> Arc<SearchIndex> {
        self.feed.index()
    }

    /// Commits the index's last updates and stops indexing, reporting a failure.
    pub fn finish(self) -> Result<(), PipelineError> {
        self.feed.finish()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for readers on other threads (the writer stays the only writer).
    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The committed unique-lead count, shared with whoever watches progress.
    pub fn unique_leads(&self) -> Arc<AtomicU64> {
        self.unique.clone()
    }

    /// Records committed since this writer started, shared.
    pub fn committed_records(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    pub fn key_index(&self) -> &KeyIndex {
        &self.resolver.keys
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// De-duplicates and stores `items` in one durable transaction; returns what
    /// this batch did.
    pub fn write(&mut self, items: Vec<Item>) -> Result<Totals, PipelineError> {
        let totals = self.store_batch(items)?;
        self.committed.fetch_add(totals.records_received, Ordering::Relaxed);
        Ok(totals)
    }

    /// [`Writer::write`] without counting the records as committed pages: an
    /// upload beside a sprint must not look like the sprint's pages having landed
    /// (the engine compares what it sent with what was committed).
    fn store_batch(&mut self, items: Vec<Item>) -> Result<Totals, PipelineError> {
        let now = now_millis();
        let resolver = &mut self.resolver;
        let (totals, changed, seq) = self.store.write(|batch| -> Result<_, PipelineError> {
            let mut totals = Totals::default();
            let mut flows = BTreeMap::new();
            let mut changed = Changed::default();
            for item in items {
                write_item(resolver, batch, &mut changed, item, now, &mut totals, &mut flows)?;
            }
            save_workflows(batch, flows)?;
            Ok((totals, changed, batch.seq()))
        })?;
        self.feed.send(changed, seq);
        self.unique.fetch_add(totals.new_leads, Ordering::Relaxed);
        self.unique.fetch_sub(totals.leads_merged, Ordering::Relaxed);
        self.totals.add(totals.clone());
        Ok(totals)
    }

    /// Receives jobs until every sender is gone. Item chunks are pooled into a batch
    /// committed when it reaches [`BATCH_RECORDS`] records or [`BATCH_WAIT`] has
    /// passed; a [`Job::Batch`] or [`Job::Flush`] commits the pool first.
    pub fn drain(&mut self, rx: &flume::Receiver<Job>) -> Result<(), PipelineError> {
        let mut pending: Vec<Item> = Vec::with_capacity(BATCH_RECORDS * 2);
        let mut deadline: Option<Instant> = None;
        loop {
            let received = match deadline {
                None => rx.recv().map_err(|_| flume::RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_deadline(at),
            };
            match received {
                Ok(Job::Items(chunk)) => {
                    deadline.get_or_insert_with(|| Instant::now() + BATCH_WAIT);
                    pending.extend(chunk);
                    if pending.len() < BATCH_RECORDS {
                        continue;
                    }
                }
                Ok(Job::Batch(items, answer)) => {
                    // The sender hears why even when what was pooled before it fails.
                    let written = self.write_pending(&mut pending).and_then(|()| self.store_batch(items));
                    deadline = None;
                    let _ = answer.send(written.as_ref().map(Totals::clone).map_err(|e| e.to_string()));
                    written?;
                    continue;
                }
                Ok(Job::Command(command, answer)) => {
                    let done = self.write_pending(&mut pending).and_then(|()| self.apply(command));
                    deadline = None;
                    match done {
                        Ok(done) => {
                            let _ = answer.send(Ok(done));
                        }
                        // Refused as asked: nothing was written, the writer goes on.
                        Err(e @ (PipelineError::NotFound(_) | PipelineError::Invalid(_))) => {
                            let _ = answer.send(Err(CommandError::from(e)));
                        }
                        Err(e) => {
                            let _ = answer.send(Err(CommandError::Failed(e.to_string())));
                            return Err(e);
                        }
                    }
                    continue;
                }
                Ok(Job::Flush(answer)) => {
                    self.write_pending(&mut pending)?;
                    deadline = None;
                    let _ = answer.send(());
                    continue;
                }
                Ok(Job::Stop) | Err(flume::RecvTimeoutError::Disconnected) => {
                    return self.write_pending(&mut pending);
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
            }
            self.write_pending(&mut pending)?;
            deadline = None;
        }
    }

    fn write_pending(&mut self, pending: &mut Vec<Item>) -> Result<(), PipelineError> {
        if !pending.is_empty() {
            self.write(std::mem::take(pending))?;
        }
        Ok(())
    }
}

/// The de-duplication index as the store's key-hash log describes it.
pub fn rebuild_index(store: &Store) -> Result<KeyIndex, PipelineError> {
    let expected = store.reader()?.counters()?.identity_keys as usize;
    let mut pairs = Vec::with_capacity(expected);
    store.for_each_key_hash(|hash, lead| pairs.push((hash, lead)))?;
    Ok(KeyIndex::from_pairs(pairs, expected)?)
}

/// A workflow's tally within one batch; saved only for workflows that checkpoint
/// in it (imports keep none).
#[derive(Default)]
struct Flow {
    records: u64,
    new_leads: u64,
    duplicates: u64,
    quarantined: u64,
    checkpoints: Vec<Checkpoint>,
}

fn write_item(
    resolver: &mut Resolver,
    batch: &mut Batch<'_>,
    changed: &mut Changed,
    item: Item,
    now: Millis,
    totals: &mut Totals,
    flows: &mut BTreeMap<String, Flow>,
) -> Result<(), PipelineError> {
    let candidate = match item {
        Item::Checkpoint(checkpoint) => {
            flows.entry(checkpoint.workflow.clone()).or_default().checkpoints.push(*checkpoint);
            return Ok(());
        }
        Item::Quarantine(entry) => {
            count_received(batch, totals, flows.entry(entry.origin.clone()).or_default());
            totals.quarantined += 1;
            *totals.quarantined_by_kind.entry(entry.kind.clone()).or_default() += 1;
            flows.entry(entry.origin.clone()).or_default().quarantined += 1;
            return Ok(batch.add_quarantine(&entry)?);
        }
        Item::Enriched(enriched) => {
            totals.enriched += 1;
            return enrichment::apply(resolver, batch, changed, *enriched, now);
        }
        Item::Lead(candidate) => candidate,
    };
    let workflow = candidate.lead.sources.first().map(|s| s.workflow.clone()).unwrap_or_default();
    let flow = flows.entry(workflow).or_default();
    count_received(batch, totals, flow);
    match resolver.screen(&candidate) {
        Some(Dropped::Erased) => {
            totals.erased += 1;
            batch.add(Counter::Erased, 1);
            return Ok(());
        }
        Some(Dropped::Suppressed) => {
            totals.suppressed += 1;
            batch.add(Counter::Suppressed, 1);
            return Ok(());
        }
        None => {}
    }
    match resolver.ingest(&mut BatchLeads { batch, changed }, *candidate, now)? {
        Outcome::New(_) => {
            totals.new_leads += 1;
            flow.new_leads += 1;
        }
        Outcome::Merged { changed, absorbed, kept_apart, .. } => {
            totals.duplicates_merged += 1;
            totals.duplicates_unchanged += u64::from(!changed);
            totals.leads_merged += absorbed.len() as u64;
            flow.duplicates += 1;
            batch.add(Counter::DuplicatesMerged, 1);
            if !kept_apart.is_empty() {
                totals.conflicts += 1;
                batch.add(Counter::Conflicts, 1);
            }
        }
    }
    Ok(())
}

fn count_received(batch: &mut Batch<'_>, totals: &mut Totals, flow: &mut Flow) {
    totals.records_received += 1;
    flow.records += 1;
    batch.add(Counter::RecordsReceived, 1);
}

/// Adds each checkpointing workflow's tally and its new cursor to its record.
fn save_workflows(batch: &mut Batch<'_>, flows: BTreeMap<String, Flow>) -> Result<(), PipelineError> {
    for (name, flow) in flows.into_iter().filter(|(_, f)| !f.checkpoints.is_empty()) {
        let mut record: WorkflowRecord = batch.workflow(&name)?;
        record.records += flow.records;
        record.new_leads += flow.new_leads;
        record.duplicates += flow.duplicates;
        record.quarantined += flow.quarantined;
        for c in flow.checkpoints {
            record.pages += c.pages;
            record.cursor = c.cursor;
            record.done = c.done;
            record.requests += c.requests;
            record.credits += c.credits;
            record.cost += c.cost;
            record.retries += c.retries;
            for (kind, n) in c.errors {
                *record.errors.entry(kind).or_default() += n;
            }
            record.last_error = c.last_error.or(record.last_error);
        }
        batch.put_workflow(&name, &record)?;
    }
    Ok(())
}

/// The store transaction seen as de-duplication's exact-key side; every saved lead
/// is also noted for the search index.
struct BatchLeads<'a, 'txn> {
    batch: &'a mut Batch<'txn>,
    changed: &'a mut Changed,
}

impl LeadStore for BatchLeads<'_, '_> {
    type Error = PipelineError;
    fn load(&mut self, id: LeadId) -> Result<Option<Lead>, PipelineError> {
        Ok(self.batch.find_lead(id)?)
    }
    fn absorb(&mut self, absorbed: &Lead, into: LeadId) -> Result<(), PipelineError> {
        self.batch.absorb_lead(absorbed, into)?;
        self.changed.remove(absorbed.id);
        Ok(())
    }
    fn save(&mut self, previous: Option<&Lead>, lead: &mut Lead) -> Result<(), PipelineError> {
        self.batch.put_lead(previous, lead)?;
        self.changed.record(lead, previous.is_none());
        Ok(())
    }
    fn bind(&mut self, hash: u64, id: LeadId) -> Result<(), PipelineError> {
        self.batch.bind_key_hash(hash, id);
        Ok(())
    }
    fn next_id(&mut self) -> Result<LeadId, PipelineError> {
        Ok(self.batch.next_lead_id())
    }
}

/// Runs `produce` on its own thread, handing its item chunks to `writer` over a
/// bounded channel (back-pressure), and returns what `produce` returned once every
/// chunk is committed. If the writer fails, `produce`'s next send returns false.
pub fn run<R: Send>(
    writer: &mut Writer,
    produce: impl FnOnce(&mut dyn FnMut(Vec<Item>) -> bool) -> R + Send,
) -> Result<R, PipelineError> {
    let (tx, rx) = flume::bounded::<Job>(64);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut send = |items: Vec<Item>| tx.send(Job::Items(items)).is_ok();
            produce(&mut send)
        });
        let drained = writer.drain(&rx);
        drop(rx);
        let produced = match producer.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        drained.map(|()| produced)
    })
}

#[cfg(test)]
mod tests;
