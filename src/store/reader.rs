//! The read-only view everyone but the writer uses: one consistent snapshot of the
//! leads file and of the enrichment cache file.

use std::collections::BTreeMap;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{
    ALIAS_LEAD_ID_TO_LEAD_ID, COUNTER_TO_VALUE, Counter, Counters, LEAD_ID_TO_LEAD, META_NAME_TO_VALUE,
    META_SEQ, QUARANTINE_ID_TO_ENTRY, QuarantineEntry, SEQ_TO_LEAD_ID, StoreError, WORKFLOW_TO_RECORD,
    WorkflowRecord, decode_lead,
};
use crate::codec;
use crate::lead::{Lead, LeadId};

/// A consistent read-only view of the store.
pub struct Reader {
    pub(super) txn: redb::ReadTransaction,
    /// A read of the enrichment cache file.
    pub(super) cache: redb::ReadTransaction,
}

impl Reader {
    pub(super) fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
        open_or_none(&self.txn, def)
    }
}

/// `def` in `txn`, or `None` when nothing was ever written to it.
pub(super) fn open_or_none<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Reader {
    pub fn counters(&self) -> Result<Counters, StoreError> {
        let mut out = Counters::default();
        if let Some(table) = self.table(COUNTER_TO_VALUE)? {
            for counter in Counter::ALL {
                *counter.slot(&mut out) = table.get(counter.name())?.map_or(0, |v| v.value());
            }
        }
        out.aliases = self.table(ALIAS_LEAD_ID_TO_LEAD_ID)?.map(|t| t.len()).transpose()?.unwrap_or(0);
        Ok(out)
    }

    /// A meta value (0 when unset).
    pub fn meta(&self, name: &str) -> Result<u64, StoreError> {
        let Some(table) = self.table(META_NAME_TO_VALUE)? else { return Ok(0) };
        Ok(table.get(name)?.map_or(0, |v| v.value()))
    }

    pub fn lead(&self, id: LeadId) -> Result<Option<Lead>, StoreError> {
        let Some(table) = self.table(LEAD_ID_TO_LEAD)? else {
            return Ok(None);
        };
        let found = table.get(id)?;
        found.map(|v| decode_lead(v.value())).transpose()
    }

    pub fn lead_count(&self) -> Result<u64, StoreError> {
        Ok(self.table(LEAD_ID_TO_LEAD)?.map(|t| t.len()).transpose()?.unwrap_or(0))
    }

    /// Every lead in id order.
    pub fn leads(&self) -> Result<impl Iterator<Item = Result<Lead, StoreError>> + use<>, StoreError> {
        self.leads_after(None)
    }

    /// Every lead with an id above `after` (all with `None`), in id order.
    pub fn leads_after(
        &self,
        after: Option<LeadId>,
    ) -> Result<impl Iterator<Item = Result<Lead, StoreError>> + use<>, StoreError> {
        let from = after.map_or(0, |id| id.saturating_add(1));
        let range = self.table(LEAD_ID_TO_LEAD)?.map(|t| t.range::<u64>(from..)).transpose()?;
        Ok(range.into_iter().flatten().map(|entry| {
            let (_, v) = entry?;
            decode_lead(v.value())
        }))
    }

    /// The store sequence of the last committed change.
    pub fn seq(&self) -> Result<u64, StoreError> {
        let Some(table) = self.table(META_NAME_TO_VALUE)? else {
            return Ok(0);
        };
        Ok(table.get(META_SEQ)?.map_or(0, |v| v.value()))
    }

    /// The leads changed after store sequence `after`, each once, in id order (what
    /// the search index must re-read to catch up).
    pub fn changed_since(&self, after: u64) -> Result<Vec<LeadId>, StoreError> {
        let Some(table) = self.table(SEQ_TO_LEAD_ID)? else { return Ok(Vec::new()) };
        let mut ids = Vec::new();
        for entry in table.range((after.saturating_add(1))..)? {
            ids.push(entry?.1.value());
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Every workflow's (and imported file's) record, by name.
    pub fn workflows(&self) -> Result<BTreeMap<String, WorkflowRecord>, StoreError> {
        let Some(table) = self.table(WORKFLOW_TO_RECORD)? else { return Ok(BTreeMap::new()) };
        let mut out = BTreeMap::new();
        for entry in table.iter()? {
            let (name, value) = entry?;
            out.insert(name.value().to_owned(), codec::decode(value.value())?);
        }
        Ok(out)
    }

    /// Quarantined records, oldest first.
    pub fn quarantine(
        &self,
    ) -> Result<impl Iterator<Item = Result<QuarantineEntry, StoreError>> + use<>, StoreError> {
        let range = self.table(QUARANTINE_ID_TO_ENTRY)?.map(|t| t.range::<u64>(..)).transpose()?;
        Ok(range.into_iter().flatten().map(|entry| {
            let (_, v) = entry?;
            Ok(codec::decode(v.value())?)
        }))
    }
}
