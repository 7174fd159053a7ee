//! What enrichment keeps beside the leads: the result cache (in a file of its own,
//! global across campaigns, misses remembered), each provider's spend, and per lead
//! what was checked, by whom and when. Written only through [`Batch`]: spend and
//! checks in the transaction that applies the result, so spend is counted exactly
//! once; the answers to cache right after it commits.

use redb::{ReadableDatabase, ReadableTable};

use super::reader::open_or_none;
use serde::{Deserialize, Serialize};

use super::{Batch, Reader, Store, StoreError, codec};
use super::{ENRICH_KEY_TO_ENTRY, LEAD_ID_TO_ENRICHMENT, PROVIDER_TO_SPEND};
use crate::lead::{EmailStatus, LeadId, Millis};

/// One cached provider answer: `(provider, operation, normalised input)` → this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// False for a miss (remembered too, for a shorter time).
    pub found: bool,
    /// The answer, as the provider's client read it (JSON).
    pub value: String,
    pub fetched_at: Millis,
}

/// A provider's figures over the store's life.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderSpend {
    /// Requests sent (polls and retries included).
    pub calls: u64,
    /// Answers with a result, and without.
    pub hits: u64,
    pub misses: u64,
    /// Answers taken from the cache: no request, no cost.
    pub cache_hits: u64,
    pub credits: f64,
    pub dollars: f64,
}

impl ProviderSpend {
    pub fn add(&mut self, other: &ProviderSpend) {
        self.calls += other.calls;
        self.hits += other.hits;
        self.misses += other.misses;
        self.cache_hits += other.cache_hits;
        self.credits += other.credits;
        self.dollars += other.dollars;
    }
}

/// The check behind a lead's email status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailCheck {
    pub address: String,
    pub status: EmailStatus,
    /// `hunter`, `zerobounce`, `apollo` (as sold), `local` (the free steps).
    pub provider: String,
    /// The provider's own word for it.
    pub raw_status: String,
    pub checked_at: Millis,
}

/// What enrichment did for one lead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadEnrichment {
    pub email: Option<EmailCheck>,
    /// Who filled the company fields (`apollo`, `hunter`), when enrichment did.
    pub company_source: Option<String>,
    /// When the email waterfall last ran for this lead (0: never).
    pub email_tried_at: Millis,
    /// When company data was last asked for this lead's domain (0: never).
    pub company_tried_at: Millis,
    /// A verification the provider is still running: resume it, do not buy another.
    pub pending: Option<String>,
    /// Dollars spent on this lead (the per-lead ceiling applies to it).
    pub dollars: f64,
}

impl Batch<'_> {
    /// Caches `entry` under `key` once the batch commits (in the cache file).
    /// Removes cache entries once the batch commits (an erased person's answers).
    pub fn forget_cached(&mut self, keys: impl IntoIterator<Item = String>) {
        self.cache_removals.extend(keys);
    }

    pub fn put_cache_entry(&mut self, key: &str, entry: &CacheEntry) -> Result<(), StoreError> {
        self.cache_writes.push((key.to_owned(), codec::encode(entry)?));
        Ok(())
    }

    /// Adds `delta` to `provider`'s figures.
    pub fn add_spend(&mut self, provider: &str, delta: &ProviderSpend) -> Result<(), StoreError> {
        let mut spend: ProviderSpend =
            self.spend.get(provider)?.map(|v| codec::decode(v.value())).transpose()?.unwrap_or_default();
        spend.add(delta);
        self.spend.insert(provider, codec::encode(&spend)?.as_slice())?;
        Ok(())
    }

    pub fn enrichment(&self, lead: LeadId) -> Result<Option<LeadEnrichment>, StoreError> {
        let found = self.enrichments.get(lead)?;
        Ok(found.map(|v| codec::decode(v.value())).transpose()?)
    }

    pub fn put_enrichment(&mut self, lead: LeadId, record: &LeadEnrichment) -> Result<(), StoreError> {
        self.enrichments.insert(lead, codec::encode(record)?.as_slice())?;
        Ok(())
    }
}

impl Store {
    /// A cached answer, read from the cache file alone (the enrichment stage asks
    /// several per lead; a whole [`Reader`] would open the leads file too).
    pub fn cache_entry(&self, key: &str) -> Result<Option<CacheEntry>, StoreError> {
        cached(&self.cache.begin_read()?, key)
    }

    /// Removes cache entries (an erased person's), once their batch committed.
    /// Should a crash come between, the entries stay until the next erasure of
    /// the same keys; the erasure itself (leads, tombstones) is already durable.
    pub(super) fn remove_cache(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let txn = self.cache.begin_write()?;
        {
            let mut table = txn.open_table(ENRICH_KEY_TO_ENTRY)?;
            for key in keys {
                table.remove(key.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub(super) fn put_cache(&self, answers: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if answers.is_empty() {
            return Ok(());
        }
        let txn = self.cache.begin_write()?;
        {
            let mut table = txn.open_table(ENRICH_KEY_TO_ENTRY)?;
            for (key, value) in answers {
                table.insert(key.as_str(), value.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Cached answers an older build kept in the leads file move to the cache file.
    pub(super) fn move_cache_out(&self) -> Result<(), StoreError> {
        let old: Vec<(String, Vec<u8>)> = {
            let reader = self.db.begin_read()?;
            let Some(table) = open_or_none(&reader, ENRICH_KEY_TO_ENTRY)? else { return Ok(()) };
            table
                .iter()?
                .map(|e| e.map(|(k, v)| (k.value().to_owned(), v.value().to_vec())))
                .collect::<Result<_, _>>()?
        };
        self.put_cache(&old)?;
        let txn = self.db.begin_write()?;
        txn.delete_table(ENRICH_KEY_TO_ENTRY)?;
        txn.commit()?;
        Ok(())
    }
}

/// `key`'s answer in a read of the cache file.
fn cached(cache: &redb::ReadTransaction, key: &str) -> Result<Option<CacheEntry>, StoreError> {
    let Some(table) = open_or_none(cache, ENRICH_KEY_TO_ENTRY)? else { return Ok(None) };
    let found = table.get(key)?;
    Ok(found.map(|v| codec::decode(v.value())).transpose()?)
}

impl Reader {
    pub fn cache_entry(&self, key: &str) -> Result<Option<CacheEntry>, StoreError> {
        cached(&self.cache, key)
    }

    /// Every provider's figures, by name.
    pub fn spend(&self) -> Result<Vec<(String, ProviderSpend)>, StoreError> {
        let Some(table) = self.table(PROVIDER_TO_SPEND)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (name, value) = entry?;
            out.push((name.value().to_owned(), codec::decode(value.value())?));
        }
        Ok(out)
    }

    /// How many leads hold each email status (leads without an email apart, as `none`).
    pub fn email_status_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut counts = std::collections::BTreeMap::new();
        for lead in self.leads()? {
            let lead = lead?;
            let status = if lead.email.is_some() { lead.email_status.as_str() } else { "none" };
            *counts.entry(status.to_owned()).or_default() += 1;
        }
        Ok(counts)
    }

    /// Dollars enrichment has spent over the store's life, every provider's.
    pub fn enrichment_cost(&self) -> Result<f64, StoreError> {
        Ok(self.spend()?.iter().map(|(_, s)| s.dollars).sum())
    }

    pub fn enrichment(&self, lead: LeadId) -> Result<Option<LeadEnrichment>, StoreError> {
        let Some(table) = self.table(LEAD_ID_TO_ENRICHMENT)? else { return Ok(None) };
        let found = table.get(lead)?;
        Ok(found.map(|v| codec::decode(v.value())).transpose()?)
    }
}
