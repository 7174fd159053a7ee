//! The pipeline: the only place that knows the stage order — normalize and score
//! ([`prepare`], run by producers on their own threads), then de-duplicate and store
//! ([`Writer`], the single writer, one durable transaction per batch of up to
//! [`BATCH_RECORDS`] records or [`BATCH_WAIT`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::dedup::{self, KeyIndex, LeadStore, Outcome, TooManyLeads};
use crate::lead::{self, Candidate, Lead, LeadId, Millis, RawLead};
use crate::store::{Batch, Counter, QuarantineEntry, Store, StoreError};

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
}

/// What a producer hands the writer.
#[derive(Debug, Clone)]
pub enum Item {
    Lead(Box<Candidate>),
    Quarantine(QuarantineEntry),
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub records_received: u64,
    pub new_leads: u64,
    pub duplicates_merged: u64,
    /// Duplicates that added nothing the lead did not already hold.
    pub duplicates_unchanged: u64,
    pub conflicts: u64,
    pub quarantined: u64,
    pub quarantined_by_kind: BTreeMap<String, u64>,
}

/// The single writer: owns the store and the in-memory key set.
pub struct Writer {
    store: Store,
    keys: KeyIndex,
    totals: Totals,
}

impl Writer {
    /// Takes the store and rebuilds the key set from every stored identity key.
    pub fn new(store: Store) -> Result<Writer, PipelineError> {
        let keys = rebuild_index(&store)?;
        Ok(Writer { store, keys, totals: Totals::default() })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn key_index(&self) -> &KeyIndex {
        &self.keys
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// De-duplicates and stores `items` in one durable transaction.
    pub fn write(&mut self, items: Vec<Item>) -> Result<(), PipelineError> {
        let now = now_millis();
        let keys = &mut self.keys;
        let totals = self.store.write(|batch| -> Result<Totals, PipelineError> {
            let mut totals = Totals::default();
            for item in items {
                write_item(keys, batch, item, now, &mut totals)?;
            }
            Ok(totals)
        })?;
        self.add_totals(totals);
        Ok(())
    }

    fn add_totals(&mut self, t: Totals) {
        let all = &mut self.totals;
        all.records_received += t.records_received;
        all.new_leads += t.new_leads;
        all.duplicates_merged += t.duplicates_merged;
        all.duplicates_unchanged += t.duplicates_unchanged;
        all.conflicts += t.conflicts;
        all.quarantined += t.quarantined;
        for (kind, n) in t.quarantined_by_kind {
            *all.quarantined_by_kind.entry(kind).or_default() += n;
        }
    }

    /// Receives item chunks until every sender is gone, committing a batch whenever
    /// it reaches [`BATCH_RECORDS`] records or [`BATCH_WAIT`] has passed.
    pub fn drain(&mut self, rx: &flume::Receiver<Vec<Item>>) -> Result<(), PipelineError> {
        let mut pending: Vec<Item> = Vec::with_capacity(BATCH_RECORDS * 2);
        let mut deadline: Option<Instant> = None;
        loop {
            let received = match deadline {
                None => rx.recv().map_err(|_| flume::RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_deadline(at),
            };
            match received {
                Ok(chunk) => {
                    deadline.get_or_insert_with(|| Instant::now() + BATCH_WAIT);
                    pending.extend(chunk);
                    if pending.len() < BATCH_RECORDS {
                        continue;
                    }
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => {
                    if !pending.is_empty() {
                        self.write(std::mem::take(&mut pending))?;
                    }
                    return Ok(());
                }
            }
            self.write(std::mem::take(&mut pending))?;
            deadline = None;
        }
    }
}

/// The de-duplication index as the store's key-hash log describes it.
pub fn rebuild_index(store: &Store) -> Result<KeyIndex, PipelineError> {
    let expected = store.reader()?.counters()?.identity_keys as usize;
    let mut pairs = Vec::with_capacity(expected);
    store.for_each_key_hash(|hash, lead| pairs.push((hash, lead)))?;
    Ok(KeyIndex::from_pairs(pairs, expected)?)
}

fn write_item(
    keys: &mut KeyIndex,
    batch: &mut Batch<'_>,
    item: Item,
    now: Millis,
    totals: &mut Totals,
) -> Result<(), PipelineError> {
    totals.records_received += 1;
    batch.add(Counter::RecordsReceived, 1);
    match item {
        Item::Quarantine(entry) => {
            totals.quarantined += 1;
            *totals.quarantined_by_kind.entry(entry.kind.clone()).or_default() += 1;
            Ok(batch.add_quarantine(&entry)?)
        }
        Item::Lead(candidate) => {
            match dedup::ingest(keys, &mut BatchLeads(batch), *candidate, now)? {
                Outcome::New(_) => totals.new_leads += 1,
                Outcome::Merged { changed, conflicts, .. } => {
                    totals.duplicates_merged += 1;
                    totals.duplicates_unchanged += u64::from(!changed);
                    batch.add(Counter::DuplicatesMerged, 1);
                    if !conflicts.is_empty() {
                        totals.conflicts += 1;
                        batch.add(Counter::Conflicts, 1);
                    }
                }
            }
            Ok(())
        }
    }
}

/// The store transaction seen as de-duplication's exact-key side.
struct BatchLeads<'a, 'txn>(&'a mut Batch<'txn>);

impl LeadStore for BatchLeads<'_, '_> {
    type Error = PipelineError;
    fn load(&mut self, id: LeadId) -> Result<Lead, PipelineError> {
        Ok(self.0.lead(id)?)
    }
    fn save(&mut self, previous: Option<&Lead>, lead: &mut Lead) -> Result<(), PipelineError> {
        Ok(self.0.put_lead(previous, lead)?)
    }
    fn bind(&mut self, hash: u64, id: LeadId) -> Result<(), PipelineError> {
        self.0.bind_key_hash(hash, id);
        Ok(())
    }
    fn next_id(&mut self) -> Result<LeadId, PipelineError> {
        Ok(self.0.next_lead_id())
    }
}

/// Runs `produce` on its own thread, handing its item chunks to `writer` over a
/// bounded channel (back-pressure), and returns what `produce` returned once every
/// chunk is committed. If the writer fails, `produce`'s next send returns false.
pub fn run<R: Send>(
    writer: &mut Writer,
    produce: impl FnOnce(&mut dyn FnMut(Vec<Item>) -> bool) -> R + Send,
) -> Result<R, PipelineError> {
    let (tx, rx) = flume::bounded::<Vec<Item>>(64);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut send = |items: Vec<Item>| tx.send(items).is_ok();
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
