//! Keeps the search index following the store. The writer hands each committed
//! batch's changed leads to [`IndexFeed`], whose thread indexes them and commits at
//! most every [`COMMIT_EVERY`] with the store sequence covered; at start-up
//! [`open_index`] catches the index up from that sequence (or rebuilds it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lead::{Lead, LeadId};
use crate::search::{Indexer, SearchError, SearchIndex};
use crate::store::Store;

use super::PipelineError;

/// New leads become searchable within this (plus the batch wait).
pub const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// Indexing memory while collecting (tantivy's arena, one thread).
const LIVE_HEAP: usize = 64 << 20;
/// Indexing memory for rebuilds (two threads share it).
const REBUILD_HEAP: usize = 256 << 20;

/// Where the index lives in a data dir.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search")
}

/// How the index was brought up to date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Leads (re)indexed.
    pub leads: u64,
    /// Whether the index was rebuilt from every lead.
    pub rebuilt: bool,
}

/// Opens the store's index and brings it level with the store: the leads changed
/// since the sequence it covers, or all of them when it is new, of another version,
/// unreadable or ahead of the store (a store restored from a backup).
pub fn open_index(store: &Store) -> Result<(SearchIndex, CatchUp), PipelineError> {
    let dir = index_dir(store.dir());
    let mut index = SearchIndex::open(&dir)?;
    let store_seq = store.reader()?.seq()?;
    let changed = match index.covered_seq() {
        Some(covered) if covered == store_seq => return Ok((index, CatchUp::default())),
        Some(covered) if covered < store_seq => Some(store.reader()?.changed_since(covered)?),
        _ => None,
    };
    let catch_up = match changed {
        Some(ids) => reindex_ids(store, &index, &ids, store_seq)?,
        None => {
            if !index.is_empty() || index.covered_seq().is_some() {
                drop(index);
                index = SearchIndex::recreate(&dir)?;
            }
            rebuild(store, &index, store_seq)?
        }
    };
    tracing::info!(
        leads = catch_up.leads,
        rebuilt = catch_up.rebuilt,
        seq = store_seq,
        "search index caught up"
    );
    Ok((index, catch_up))
}

/// Rebuilds the index of `store` from scratch (`leadsprint reindex`).
pub fn reindex(store: &Store) -> Result<CatchUp, PipelineError> {
    let index = SearchIndex::recreate(&index_dir(store.dir()))?;
    let seq = store.reader()?.seq()?;
    rebuild(store, &index, seq)
}

fn rebuild(store: &Store, index: &SearchIndex, seq: u64) -> Result<CatchUp, PipelineError> {
    let started = Instant::now();
    let mut indexer = index.indexer(2, REBUILD_HEAP)?;
    let mut leads = 0;
    for lead in store.reader()?.leads()? {
        indexer.upsert(&lead?, true)?;
        leads += 1;
    }
    let fed = started.elapsed();
    indexer.commit(seq)?;
    let committed = started.elapsed();
    indexer.finish()?;
    tracing::info!(leads, ?fed, ?committed, total = ?started.elapsed(), "search index rebuilt");
    Ok(CatchUp { leads, rebuilt: true })
}

fn reindex_ids(
    store: &Store,
    index: &SearchIndex,
    ids: &[LeadId],
    seq: u64,
) -> Result<CatchUp, PipelineError> {
    let mut indexer = index.indexer(1, LIVE_HEAP)?;
    let reader = store.reader()?;
    for id in ids {
        match reader.lead(*id)? {
            Some(lead) => indexer.upsert(&lead, false)?,
            // Merged into another lead, or erased: its document goes.
            None => indexer.delete(*id),
        }
    }
    indexer.commit(seq)?;
    indexer.finish()?;
    Ok(CatchUp { leads: ids.len() as u64, rebuilt: false })
}

/// The leads one batch changed, each once (its last version), and whether it is
/// new; the leads it removed (merged into others, or erased); whether deleted
/// documents must leave the index files at once (an erasure).
#[derive(Default)]
pub(super) struct Changed {
    leads: Vec<(Lead, bool)>,
    position: HashMap<LeadId, usize>,
    removed: Vec<LeadId>,
    purge: bool,
}

impl Changed {
    pub(super) fn record(&mut self, lead: &Lead, is_new: bool) {
        match self.position.get(&lead.id) {
            Some(&i) => self.leads[i].0 = lead.clone(),
            None => {
                self.position.insert(lead.id, self.leads.len());
                self.leads.push((lead.clone(), is_new));
            }
        }
    }

    /// Lead `id` is gone (ids are never reused, so it cannot come back).
    pub(super) fn remove(&mut self, id: LeadId) {
        if let Some(i) = self.position.remove(&id) {
            // Keep positions valid: mark the slot instead of shifting the vector.
            self.leads[i].0.id = 0;
        }
        self.removed.push(id);
    }

    /// Deleted documents must be purged from the index files (an erasure).
    pub(super) fn purge(&mut self) {
        self.purge = true;
    }
}

struct Update {
    leads: Vec<(Lead, bool)>,
    removed: Vec<LeadId>,
    purge: bool,
    seq: u64,
}

/// The indexing thread and the channel to it. Dropping it commits what was sent and
/// waits for the thread.
pub struct IndexFeed {
    tx: Option<flume::Sender<Update>>,
    worker: Option<JoinHandle<Result<(), SearchError>>>,
    index: Arc<SearchIndex>,
}

impl IndexFeed {
    pub fn start(index: SearchIndex) -> Result<IndexFeed, PipelineError> {
        let indexer = index.indexer(1, LIVE_HEAP)?;
        let (tx, rx) = flume::bounded(64);
        let worker = std::thread::Builder::new()
            .name("search-index".into())
            .spawn(move || index_updates(indexer, &rx))
            .map_err(|e| PipelineError::IndexThread(format!("cannot start it: {e}")))?;
        Ok(IndexFeed { tx: Some(tx), worker: Some(worker), index: Arc::new(index) })
    }

    /// The index, for searching from any thread.
    pub fn index(&self) -> Arc<SearchIndex> {
        self.index.clone()
    }

    /// Hands a committed batch to the indexer. A failed indexer only costs search
    /// freshness (the store stays right and the next start catches up), so it is
    /// logged once and further batches are dropped.
    pub(super) fn send(&mut self, changed: Changed, seq: u64) {
        let Some(tx) = &self.tx else { return };
        let leads = changed.leads.into_iter().filter(|(lead, _)| lead.id != 0).collect();
        let update = Update { leads, removed: changed.removed, purge: changed.purge, seq };
        if tx.send(update).is_err() {
            self.tx = None;
            if let Some(Err(e)) = self.worker.take().map(JoinHandle::join).and_then(Result::ok) {
                tracing::error!(error = %e, "search indexing stopped; restart to catch the index up");
            }
        }
    }

    /// Commits what was sent and stops the thread, reporting an indexing failure.
    pub fn finish(mut self) -> Result<(), PipelineError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), PipelineError> {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => Ok(result?),
            Some(Err(_)) => Err(PipelineError::IndexThread("it panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for IndexFeed {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "search indexing failed; the next start catches the index up");
        }
    }
}

/// The indexing thread: index each update as it comes, commit when the oldest
/// uncommitted one is [`COMMIT_EVERY`] old, and once more when the channel closes.
fn index_updates(mut indexer: Indexer, rx: &flume::Receiver<Update>) -> Result<(), SearchError> {
    let mut pending: Option<(u64, Instant)> = None;
    loop {
        let received = match pending {
            None => rx.recv().map_err(|_| flume::RecvTimeoutError::Disconnected),
            Some((_, due)) => rx.recv_deadline(due),
        };
        match received {
            Ok(update) => {
                for id in &update.removed {
                    indexer.delete(*id);
                }
                for (lead, is_new) in &update.leads {
                    indexer.upsert(lead, *is_new)?;
                }
                let due = pending.map_or_else(|| Instant::now() + COMMIT_EVERY, |(_, due)| due);
                pending = Some((update.seq, due));
                if update.purge {
                    // An erasure: commit now and rewrite the segments it touched.
                    pending = None;
                    indexer.commit(update.seq)?;
                    indexer.purge_deleted()?;
                    continue;
                }
                // Under a steady stream the deadline never times out: commit on time anyway.
                if Instant::now() >= due {
                    pending = None;
                    indexer.commit(update.seq)?;
                }
            }
            Err(flume::RecvTimeoutError::Timeout) => {
                if let Some((seq, _)) = pending.take() {
                    indexer.commit(seq)?;
                }
            }
            Err(flume::RecvTimeoutError::Disconnected) => {
                if let Some((seq, _)) = pending.take() {
                    indexer.commit(seq)?;
                }
                return indexer.finish();
            }
        }
    }
}
