//! The redb store: the source of truth. Every table is declared here, once, with a
//! `KEY_TO_VALUE` name; [`Store::write`] runs one durable transaction (the single
//! writer's batch), [`Reader`] serves everyone else. Knows leads and bytes only:
//! no de-duplication policy, no search index. `identity.rs` holds what identity
//! resolution keeps beside the leads (aliases, splits, suppression, erasure);
//! `legacy.rs` reads leads in older layouts; `reader.rs` is the read-only view,
//! `lock.rs` the data dir's lock, `enrichment.rs` what enrichment keeps (its
//! cache in a file of its own).

mod enrichment;
mod identity;
mod journal;
mod legacy;
mod lock;
mod reader;

pub use enrichment::{CacheEntry, EmailCheck, LeadEnrichment, ProviderSpend};

pub use identity::{Resolved, SplitRecord, SuppressionRecord, TOMBSTONE_BYTES, tombstone_hash};
pub use journal::{Log, Named};
pub use reader::Reader;

use lock::DirLock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::lead::{Lead, LeadId, Millis};

/// Bumped whenever stored values or identity-key rules change meaning. 2: leads
/// are the connected components of the key graph (lead-to-lead merges, aliases).
pub const SCHEMA_VERSION: u64 = 2;

const META_NAME_TO_VALUE: TableDefinition<&str, u64> = TableDefinition::new("meta_name_to_value");
const LEAD_ID_TO_LEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("lead_id_to_lead");
/// Per commit, the (xxh3 key hash, lead id) pairs it bound, packed as 16-byte
/// little-endian records: append-only, read once at start to rebuild the index.
const BATCH_TO_KEY_HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("batch_to_key_hashes");
/// Store sequence → lead changed at it. Append-only; an older entry of a lead that
/// changed again is stale (its `Lead::seq` is newer) and readers skip it.
const SEQ_TO_LEAD_ID: TableDefinition<u64, u64> = TableDefinition::new("seq_to_lead_id");
const COUNTER_TO_VALUE: TableDefinition<&str, u64> = TableDefinition::new("counter_to_value");
const QUARANTINE_ID_TO_ENTRY: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine_id_to_entry");
/// Per workflow (or imported file): its cursor and figures, committed with its pages.
const WORKFLOW_TO_RECORD: TableDefinition<&str, &[u8]> = TableDefinition::new("workflow_to_record");
/// A lead merged into another → the lead it is now (flat: never a chain).
const ALIAS_LEAD_ID_TO_LEAD_ID: TableDefinition<u64, u64> = TableDefinition::new("alias_lead_id_to_lead_id");
/// Leads erased on request (and their aliases) → when: exports delete their rows.
const ERASED_LEAD_ID_TO_MILLIS: TableDefinition<u64, i64> = TableDefinition::new("erased_lead_id_to_millis");
/// Salted hash of an erased person's identity key → when it was erased.
const TOMBSTONE_HASH_TO_MILLIS: TableDefinition<&[u8], i64> =
    TableDefinition::new("tombstone_hash_to_millis");
/// Splits made by hand: the keys moved and the keys kept, never to join again by themselves.
const SPLIT_ID_TO_SPLIT: TableDefinition<u64, &[u8]> = TableDefinition::new("split_id_to_split");
/// The do-not-contact list: entry (stored form) → when and how it was added.
const SUPPRESSION_ENTRY_TO_RECORD: TableDefinition<&str, &[u8]> =
    TableDefinition::new("suppression_entry_to_record");
/// Enrichment answers by `provider|operation|normalised input` (global, misses too).
const ENRICH_KEY_TO_ENTRY: TableDefinition<&str, &[u8]> = TableDefinition::new("enrich_key_to_entry");
/// Each enrichment provider's calls, hits, cache hits, credits and dollars.
const PROVIDER_TO_SPEND: TableDefinition<&str, &[u8]> = TableDefinition::new("provider_to_spend");
/// What enrichment checked for a lead, by whom, when, and what it cost.
const LEAD_ID_TO_ENRICHMENT: TableDefinition<u64, &[u8]> = TableDefinition::new("lead_id_to_enrichment");
/// Random values the store keeps for itself (the tombstone salt).
const SECRET_NAME_TO_BYTES: TableDefinition<&str, &[u8]> = TableDefinition::new("secret_name_to_bytes");

const META_SCHEMA: &str = "schema_version";
const META_NEXT_LEAD: &str = "next_lead_id";
const META_SEQ: &str = "seq";
const META_NEXT_QUARANTINE: &str = "next_quarantine_id";
const META_NEXT_KEY_BATCH: &str = "next_key_batch";
const META_NEXT_SPLIT: &str = "next_split_id";
/// Set when a schema 1 store was opened: its bridged-but-unmerged leads still
/// have to be merged (the pipeline does it, then clears this).
pub const META_RECONCILE: &str = "reconcile_schema_1_conflicts";

/// File names inside the data dir.
pub const DB_FILE: &str = "leads.redb";
/// The enrichment cache's own file: paid answers outlive a campaign's leads
/// (`demo --fresh`, a new store in the same dir), so a second campaign over the
/// same people asks again at no cost.
pub const CACHE_FILE: &str = "enrich-cache.redb";
pub const LOCK_FILE: &str = "leadsprint.lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data dir {dir} is in use by another leadsprint process{holder}; stop that process or pass another --data-dir"
    )]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot use data dir {dir}: {source}; check that it exists and is writable")]
    Io { dir: PathBuf, source: std::io::Error },
    #[error("no store in {0}: import leads first, or pass the right --data-dir")]
    NoStore(PathBuf),
    #[error(
        "data dir was written by a newer leadsprint (schema {found}, this build reads {SCHEMA_VERSION}); upgrade leadsprint"
    )]
    NewerSchema { found: u64 },
    #[error("lead {0} is referenced but missing from the store; run `leadsprint backup` and report this")]
    MissingLead(LeadId),
    #[error("store value: {0}")]
    Codec(#[from] CodecError),
    #[error("cannot draw a random salt for erasure tombstones: the system's random source failed")]
    Random,
    #[error("store: {0}")]
    Db(#[from] redb::Error),
}

macro_rules! db_error {
    ($($t:ty),*) => {$(impl From<$t> for StoreError {
        fn from(e: $t) -> Self { StoreError::Db(e.into()) }
    })*};
}
db_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The figures kept by the writer, updated in the same transaction as the leads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub records_received: u64,
    pub unique_leads: u64,
    pub duplicates_merged: u64,
    pub conflicts: u64,
    pub quarantined: u64,
    pub quality_sum: u64,
    pub qualified: u64,
    pub with_personal_email: u64,
    pub with_linkedin: u64,
    pub company_complete: u64,
    pub identity_keys: u64,
    /// Records dropped because they match the do-not-contact list.
    pub suppressed: u64,
    /// Records dropped because they carry a key of an erased person.
    pub erased: u64,
    /// Leads whose keys contradict (flagged for review).
    pub needs_review: u64,
    /// Lead-to-lead merges (a record bridged two leads).
    pub leads_merged: u64,
    /// Leads erased on request.
    pub leads_erased: u64,
    /// Lead ids that now resolve to another lead (read from the alias table).
    pub aliases: u64,
}

/// Counter names as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    RecordsReceived,
    UniqueLeads,
    DuplicatesMerged,
    Conflicts,
    Quarantined,
    QualitySum,
    Qualified,
    WithPersonalEmail,
    WithLinkedin,
    CompanyComplete,
    IdentityKeys,
    Suppressed,
    Erased,
    NeedsReview,
    LeadsMerged,
    LeadsErased,
}

impl Counter {
    const ALL: [Counter; 16] = [
        Counter::RecordsReceived,
        Counter::UniqueLeads,
        Counter::DuplicatesMerged,
        Counter::Conflicts,
        Counter::Quarantined,
        Counter::QualitySum,
        Counter::Qualified,
        Counter::WithPersonalEmail,
        Counter::WithLinkedin,
        Counter::CompanyComplete,
        Counter::IdentityKeys,
        Counter::Suppressed,
        Counter::Erased,
        Counter::NeedsReview,
        Counter::LeadsMerged,
        Counter::LeadsErased,
    ];

    fn name(self) -> &'static str {
        match self {
            Counter::RecordsReceived => "records_received",
            Counter::UniqueLeads => "unique_leads",
            Counter::DuplicatesMerged => "duplicates_merged",
            Counter::Conflicts => "conflicts",
            Counter::Quarantined => "quarantined",
            Counter::QualitySum => "quality_sum",
            Counter::Qualified => "qualified",
            Counter::WithPersonalEmail => "with_personal_email",
            Counter::WithLinkedin => "with_linkedin",
            Counter::CompanyComplete => "company_complete",
            Counter::IdentityKeys => "identity_keys",
            Counter::Suppressed => "suppressed",
            Counter::Erased => "erased",
            Counter::NeedsReview => "needs_review",
            Counter::LeadsMerged => "leads_merged",
            Counter::LeadsErased => "leads_erased",
        }
    }

    fn slot(self, c: &mut Counters) -> &mut u64 {
        match self {
            Counter::RecordsReceived => &mut c.records_received,
            Counter::UniqueLeads => &mut c.unique_leads,
            Counter::DuplicatesMerged => &mut c.duplicates_merged,
            Counter::Conflicts => &mut c.conflicts,
            Counter::Quarantined => &mut c.quarantined,
            Counter::QualitySum => &mut c.quality_sum,
            Counter::Qualified => &mut c.qualified,
            Counter::WithPersonalEmail => &mut c.with_personal_email,
            Counter::WithLinkedin => &mut c.with_linkedin,
            Counter::CompanyComplete => &mut c.company_complete,
            Counter::IdentityKeys => &mut c.identity_keys,
            Counter::Suppressed => &mut c.suppressed,
            Counter::Erased => &mut c.erased,
            Counter::NeedsReview => &mut c.needs_review,
            Counter::LeadsMerged => &mut c.leads_merged,
            Counter::LeadsErased => &mut c.leads_erased,
        }
    }
}

/// A record that could not become a lead, kept with the reason and its raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub at: Millis,
    /// The file or workflow it came from.
    pub origin: String,
    /// Where in the origin: `line 12`, `page 3`.
    pub position: String,
    /// A short label to count by (`wrong field count`, `no identity key`, ...).
    pub kind: String,
    /// What went wrong and what to do, in full.
    pub reason: String,
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
}

/// A workflow's durable state: where it resumes and what it has done so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// The connector's cursor (its own JSON); `None` = from the start.
    pub cursor: Option<String>,
    /// The query is exhausted.
    pub done: bool,
    pub pages: u64,
    pub requests: u64,
    pub credits: u64,
    pub cost: f64,
    pub records: u64,
    pub new_leads: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub retries: u64,
    pub errors: BTreeMap<String, u64>,
    pub last_error: Option<String>,
}

/// The store of one data dir.
pub struct Store {
    db: Database,
    /// The enrichment cache ([`CACHE_FILE`]).
    cache: Database,
    dir: PathBuf,
    _lock: DirLock,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, taking the data-dir lock.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let lock = DirLock::acquire(dir)?;
        let db = Database::builder().set_cache_size(512 * 1024 * 1024).create(dir.join(DB_FILE))?;
        let cache = Database::builder().set_cache_size(64 * 1024 * 1024).create(dir.join(CACHE_FILE))?;
        let store = Store { db, cache, dir: dir.to_owned(), _lock: lock };
        store.check_schema()?;
        store.move_cache_out()?;
        Ok(store)
    }

    /// Opens the store in `dir`, refusing a dir that holds none (a mistyped
    /// `--data-dir` should not silently show an empty store).
    pub fn open_existing(dir: &Path) -> Result<Store, StoreError> {
        if !dir.join(DB_FILE).exists() {
            return Err(StoreError::NoStore(dir.to_owned()));
        }
        Store::open(dir)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        self.write(|batch| -> Result<(), StoreError> {
            match batch.meta(META_SCHEMA)? {
                0 if batch.leads.is_empty()? => batch.set_meta(META_SCHEMA, SCHEMA_VERSION)?,
                0 | 1 => batch.upgrade_from_schema_1()?,
                found if found > SCHEMA_VERSION => return Err(StoreError::NewerSchema { found }),
                _ => {}
            }
            Ok(())
        })
    }

    /// Runs `f` in one write transaction and commits it durably (two-phase commit,
    /// quick repair). Nothing of `f` is visible, or survives a crash, unless it returns `Ok`.
    pub fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Batch<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut txn = self.db.begin_write().map_err(StoreError::from)?;
        txn.set_two_phase_commit(true);
        txn.set_quick_repair(true);
        let (result, answers, removals) = {
            let mut batch = Batch::open(&txn)?;
            let result = f(&mut batch)?;
            batch.finish()?;
            (result, std::mem::take(&mut batch.cache_writes), std::mem::take(&mut batch.cache_removals))
        };
        txn.commit().map_err(StoreError::from)?;
        // After the result: an answer lost to a crash here is asked again, and the
        // providers do not bill a repeat (the spend was counted with the result).
        self.put_cache(&answers)?;
        self.remove_cache(&removals)?;
        Ok(result)
    }

    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader { txn: self.db.begin_read()?, cache: self.cache.begin_read()? })
    }

    /// Calls `f` with every (identity-key hash, lead) pair ever bound, oldest first:
    /// rebuilds the de-duplication index.
    pub fn for_each_key_hash(&self, mut f: impl FnMut(u64, LeadId)) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(BATCH_TO_KEY_HASHES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for entry in table.iter()? {
            let (_, packed) = entry?;
            for pair in packed.value().chunks_exact(16) {
                let (hash, lead) = pair.split_at(8);
                f(u64_le(hash), u64_le(lead));
            }
        }
        Ok(())
    }
}

/// Leads are written in format 3; formats 1 and 2 are read as older builds wrote them.
fn encode_lead(lead: &Lead) -> Result<Vec<u8>, StoreError> {
    Ok(codec::encode_as(codec::FORMAT_V3, lead)?)
}

fn decode_lead(bytes: &[u8]) -> Result<Lead, StoreError> {
    match codec::format_of(bytes)? {
        codec::FORMAT_V1 => Ok(codec::decode::<legacy::LeadV1>(bytes)?.into()),
        codec::FORMAT_V2 => Ok(legacy::decode_v2(bytes)?),
        _ => Ok(codec::decode_as(codec::FORMAT_V3, bytes)?),
    }
}

fn u64_le(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

/// One write transaction's tables, with the domain operations the writer needs.
pub struct Batch<'txn> {
    meta: redb::Table<'txn, &'static str, u64>,
    leads: redb::Table<'txn, u64, &'static [u8]>,
    key_hashes: redb::Table<'txn, u64, &'static [u8]>,
    bound: Vec<u8>,
    seqs: redb::Table<'txn, u64, u64>,
    counters: redb::Table<'txn, &'static str, u64>,
    quarantine: redb::Table<'txn, u64, &'static [u8]>,
    workflows: redb::Table<'txn, &'static str, &'static [u8]>,
    aliases: redb::Table<'txn, u64, u64>,
    erased: redb::Table<'txn, u64, i64>,
    tombstones: redb::Table<'txn, &'static [u8], i64>,
    splits: redb::Table<'txn, u64, &'static [u8]>,
    suppressions: redb::Table<'txn, &'static str, &'static [u8]>,
    secrets: redb::Table<'txn, &'static str, &'static [u8]>,
    /// Answers for the cache file, written once the batch commits.
    cache_writes: Vec<(String, Vec<u8>)>,
    /// Cache entries about an erased person, removed once the batch commits.
    cache_removals: Vec<String>,
    spend: redb::Table<'txn, &'static str, &'static [u8]>,
    enrichments: redb::Table<'txn, u64, &'static [u8]>,
    deltas: BTreeMap<Counter, i64>,
    next_lead: u64,
    seq: u64,
}

impl<'txn> Batch<'txn> {
    fn open(txn: &'txn redb::WriteTransaction) -> Result<Self, StoreError> {
        let meta = txn.open_table(META_NAME_TO_VALUE)?;
        let next_lead = meta.get(META_NEXT_LEAD)?.map_or(1, |v| v.value());
        let seq = meta.get(META_SEQ)?.map_or(0, |v| v.value());
        Ok(Batch {
            meta,
            leads: txn.open_table(LEAD_ID_TO_LEAD)?,
            key_hashes: txn.open_table(BATCH_TO_KEY_HASHES)?,
            bound: Vec::new(),
            seqs: txn.open_table(SEQ_TO_LEAD_ID)?,
            counters: txn.open_table(COUNTER_TO_VALUE)?,
            quarantine: txn.open_table(QUARANTINE_ID_TO_ENTRY)?,
            workflows: txn.open_table(WORKFLOW_TO_RECORD)?,
            aliases: txn.open_table(ALIAS_LEAD_ID_TO_LEAD_ID)?,
            erased: txn.open_table(ERASED_LEAD_ID_TO_MILLIS)?,
            tombstones: txn.open_table(TOMBSTONE_HASH_TO_MILLIS)?,
            splits: txn.open_table(SPLIT_ID_TO_SPLIT)?,
            suppressions: txn.open_table(SUPPRESSION_ENTRY_TO_RECORD)?,
            secrets: txn.open_table(SECRET_NAME_TO_BYTES)?,
            cache_writes: Vec::new(),
            cache_removals: Vec::new(),
            spend: txn.open_table(PROVIDER_TO_SPEND)?,
            enrichments: txn.open_table(LEAD_ID_TO_ENRICHMENT)?,
            deltas: BTreeMap::new(),
            next_lead,
            seq,
        })
    }

    fn meta(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.meta.get(name)?.map_or(0, |v| v.value()))
    }

    fn set_meta(&mut self, name: &str, value: u64) -> Result<(), StoreError> {
        self.meta.insert(name, value)?;
        Ok(())
    }

    pub fn lead(&self, id: LeadId) -> Result<Lead, StoreError> {
        self.find_lead(id)?.ok_or(StoreError::MissingLead(id))
    }

    /// The lead, or `None` when no lead has this id (merged away, erased, never was).
    pub fn find_lead(&self, id: LeadId) -> Result<Option<Lead>, StoreError> {
        let found = self.leads.get(id)?;
        found.map(|v| decode_lead(v.value())).transpose()
    }

    /// Schema 1 → 2: leads keep their layout until rewritten; the new counters are
    /// counted once, and the leads schema 1 left apart are marked to be merged.
    fn upgrade_from_schema_1(&mut self) -> Result<(), StoreError> {
        let (mut review, mut keys) = (0i64, 0i64);
        for entry in self.leads.iter()? {
            let lead = decode_lead(entry?.1.value())?;
            review += i64::from(lead.needs_review());
            keys += lead.identity.len() as i64;
        }
        let counted = self.counters.get(Counter::IdentityKeys.name())?.map_or(0, |v| v.value()) as i64;
        self.add(Counter::NeedsReview, review);
        self.add(Counter::IdentityKeys, keys - counted);
        self.set_meta(META_RECONCILE, 1)?;
        self.set_meta(META_SCHEMA, SCHEMA_VERSION)
    }

    /// The store sequence of the last change made in this batch so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn next_lead_id(&mut self) -> LeadId {
        let id = self.next_lead;
        self.next_lead += 1;
        id
    }

    /// Writes a new (`previous` = `None`) or changed lead, stamping its store sequence
    /// and keeping the KPI counters in step.
    pub fn put_lead(&mut self, previous: Option<&Lead>, lead: &mut Lead) -> Result<(), StoreError> {
        self.seq += 1;
        lead.seq = self.seq;
        if let Some(old) = previous {
            self.count_lead(old, -1);
        } else {
            self.add(Counter::UniqueLeads, 1);
        }
        self.count_lead(lead, 1);
        self.seqs.insert(lead.seq, lead.id)?;
        self.leads.insert(lead.id, encode_lead(lead)?.as_slice())?;
        Ok(())
    }

    /// Removes a lead (merged away or erased): its figures leave the counters, and
    /// a change-log entry tells the search index to drop its document.
    fn remove_lead(&mut self, lead: &Lead) -> Result<(), StoreError> {
        self.seq += 1;
        self.count_lead(lead, -1);
        self.add(Counter::UniqueLeads, -1);
        self.seqs.insert(self.seq, lead.id)?;
        self.leads.remove(lead.id)?;
        Ok(())
    }

    fn count_lead(&mut self, lead: &Lead, sign: i64) {
        self.add(Counter::QualitySum, sign * i64::from(lead.quality.score));
        self.add(Counter::Qualified, sign * i64::from(lead.quality.is_qualified()));
        self.add(Counter::WithPersonalEmail, sign * i64::from(lead.has_personal_email()));
        self.add(Counter::WithLinkedin, sign * i64::from(lead.linkedin_url.is_some()));
        self.add(Counter::CompanyComplete, sign * i64::from(lead.company.is_complete()));
        self.add(Counter::NeedsReview, sign * i64::from(lead.needs_review()));
        self.add(Counter::IdentityKeys, sign * lead.identity.len() as i64);
    }

    /// Records that lead `id` holds an identity key with this hash.
    pub fn bind_key_hash(&mut self, hash: u64, id: LeadId) {
        self.bound.extend_from_slice(&hash.to_le_bytes());
        self.bound.extend_from_slice(&id.to_le_bytes());
    }

    pub fn add_quarantine(&mut self, entry: &QuarantineEntry) -> Result<(), StoreError> {
        let id = self.meta(META_NEXT_QUARANTINE)? + 1;
        self.quarantine.insert(id, codec::encode(entry)?.as_slice())?;
        self.set_meta(META_NEXT_QUARANTINE, id)?;
        self.add(Counter::Quarantined, 1);
        Ok(())
    }

    pub fn workflow(&self, name: &str) -> Result<WorkflowRecord, StoreError> {
        let found = self.workflows.get(name)?;
        Ok(found.map(|v| codec::decode(v.value())).transpose()?.unwrap_or_default())
    }

    pub fn put_workflow(&mut self, name: &str, record: &WorkflowRecord) -> Result<(), StoreError> {
        self.workflows.insert(name, codec::encode(record)?.as_slice())?;
        Ok(())
    }

    pub fn add(&mut self, counter: Counter, delta: i64) {
        *self.deltas.entry(counter).or_default() += delta;
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if !self.bound.is_empty() {
            let batch = self.meta(META_NEXT_KEY_BATCH)? + 1;
            self.key_hashes.insert(batch, self.bound.as_slice())?;
            self.set_meta(META_NEXT_KEY_BATCH, batch)?;
            self.bound.clear();
        }
        for (counter, delta) in std::mem::take(&mut self.deltas) {
            let name = counter.name();
            let old = self.counters.get(name)?.map_or(0, |v| v.value());
            self.counters.insert(name, old.saturating_add_signed(delta))?;
        }
        let (next_lead, seq) = (self.next_lead, self.seq);
        self.set_meta(META_NEXT_LEAD, next_lead)?;
        self.set_meta(META_SEQ, seq)
    }
}

#[cfg(test)]
impl Batch<'_> {
    /// Overwrites lead `id` with raw stored bytes (an older layout, in upgrade tests).
    pub(crate) fn put_raw_lead(&mut self, id: LeadId, bytes: &[u8]) -> Result<(), StoreError> {
        self.leads.insert(id, bytes)?;
        Ok(())
    }

    /// Marks the store as written by schema `version` (upgrade tests).
    pub(crate) fn set_schema(&mut self, version: u64) -> Result<(), StoreError> {
        self.set_meta(META_SCHEMA, version)
    }
}

#[cfg(test)]
pub(crate) use legacy::encode_v1;
