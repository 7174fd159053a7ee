//! What identity resolution keeps beside the leads: the aliases of leads merged
//! into others, erased lead ids and the salted tombstones of erased keys, splits
//! made by hand, and the do-not-contact list. Written only through [`Batch`].

use std::collections::HashSet;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{
    ALIAS_LEAD_ID_TO_LEAD_ID, ERASED_LEAD_ID_TO_MILLIS, SECRET_NAME_TO_BYTES, SPLIT_ID_TO_SPLIT,
    SUPPRESSION_ENTRY_TO_RECORD, TOMBSTONE_HASH_TO_MILLIS,
};
use super::{Batch, Counter, Reader, StoreError, codec};
use crate::lead::{Lead, LeadId, Millis, Suppression};

/// Bytes of a tombstone: a truncated HMAC-SHA256 of one identity key.
pub const TOMBSTONE_BYTES: usize = 16;
const SALT: &str = "tombstone_salt";

/// A split made by hand: `moved` went from `lead` to `new_lead`; `moved` and
/// `kept` never join again by themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    pub at: Millis,
    pub lead: LeadId,
    pub new_lead: LeadId,
    pub moved: Vec<String>,
    pub kept: Vec<String>,
}

/// The tombstone salt (none before the first erasure) and every tombstone.
pub type Tombstones = (Option<Vec<u8>>, Vec<[u8; TOMBSTONE_BYTES]>);

/// When and how a do-not-contact entry was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionRecord {
    pub added_at: Millis,
    /// `cli`, `api`, or the file it was imported from.
    pub origin: String,
}

/// What a lead id names now.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Lead(Lead),
    /// `requested` was merged into `lead`.
    Merged {
        requested: LeadId,
        lead: Lead,
    },
    /// The lead was erased on request.
    Erased(LeadId),
    Missing(LeadId),
}

/// The tombstone of one identity key (encoded form) under this store's salt: it
/// says whether a key was erased without holding the key.
pub fn tombstone_hash(salt: &[u8], encoded_key: &str) -> [u8; TOMBSTONE_BYTES] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, salt);
    let tag = ring::hmac::sign(&key, encoded_key.as_bytes());
    let mut out = [0u8; TOMBSTONE_BYTES];
    out.copy_from_slice(&tag.as_ref()[..TOMBSTONE_BYTES]);
    out
}

impl Batch<'_> {
    /// Removes `lead`, merged into `into`: one unique lead fewer, one merge more;
    /// it and every lead it had absorbed become aliases of `into`.
    pub fn absorb_lead(&mut self, lead: &Lead, into: LeadId) -> Result<(), StoreError> {
        self.remove_lead(lead)?;
        self.add(Counter::DuplicatesMerged, 1);
        self.add(Counter::LeadsMerged, 1);
        for id in std::iter::once(lead.id).chain(lead.absorbed_ids()) {
            self.aliases.insert(id, into)?;
        }
        Ok(())
    }

    /// Removes `lead` on an erasure request; its id and its aliases' are listed
    /// as erased (exports delete their rows), no alias points at it any more, and
    /// what enrichment kept of it (the address checked) goes too.
    pub fn erase_lead(&mut self, lead: &Lead, now: Millis) -> Result<(), StoreError> {
        self.remove_lead(lead)?;
        self.add(Counter::LeadsErased, 1);
        for id in std::iter::once(lead.id).chain(lead.absorbed_ids()) {
            self.aliases.remove(id)?;
            self.erased.insert(id, now)?;
            self.enrichments.remove(id)?;
        }
        Ok(())
    }

    /// The lead `id` resolves to (itself when it is no alias).
    pub fn resolve(&self, id: LeadId) -> Result<LeadId, StoreError> {
        Ok(self.aliases.get(id)?.map_or(id, |v| v.value()))
    }

    /// The store's tombstone salt, drawn from the system's random source on first use.
    pub fn tombstone_salt(&mut self) -> Result<Vec<u8>, StoreError> {
        if let Some(salt) = self.secrets.get(SALT)? {
            return Ok(salt.value().to_vec());
        }
        let mut salt = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| StoreError::Random)?;
        self.secrets.insert(SALT, salt.as_slice())?;
        Ok(salt)
    }

    pub fn add_tombstone(&mut self, hash: &[u8; TOMBSTONE_BYTES], now: Millis) -> Result<(), StoreError> {
        self.tombstones.insert(hash.as_slice(), now)?;
        Ok(())
    }

    /// Every split made by hand, oldest first.
    pub fn splits(&self) -> Result<Vec<SplitRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in self.splits.iter()? {
            out.push(codec::decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The (lead, other lead) pairs a schema 1 store left apart, when the upgrade
    /// still has to merge them (none otherwise).
    pub fn schema_1_conflicts(&self) -> Result<Vec<(LeadId, LeadId)>, StoreError> {
        if self.meta(super::META_RECONCILE)? == 0 {
            return Ok(Vec::new());
        }
        let mut pairs = Vec::new();
        for entry in self.leads.iter()? {
            let lead = super::decode_lead(entry?.1.value())?;
            for event in &lead.merges {
                pairs.extend(event.conflicts_with.iter().map(|&other| (lead.id, other)));
            }
        }
        Ok(pairs)
    }

    /// The schema 1 conflicts are merged.
    pub fn finish_reconcile(&mut self) -> Result<(), StoreError> {
        self.meta.remove(super::META_RECONCILE)?;
        Ok(())
    }

    pub fn add_split(&mut self, split: &SplitRecord) -> Result<u64, StoreError> {
        let id = self.meta(super::META_NEXT_SPLIT)? + 1;
        self.splits.insert(id, codec::encode(split)?.as_slice())?;
        self.set_meta(super::META_NEXT_SPLIT, id)?;
        Ok(id)
    }

    /// Forgets the splits that name any of `keys` (an erased person's keys must
    /// not stay readable there); returns how many.
    pub fn remove_splits_touching(&mut self, keys: &HashSet<String>) -> Result<usize, StoreError> {
        let mut doomed = Vec::new();
        for entry in self.splits.iter()? {
            let (id, value) = entry?;
            let split: SplitRecord = codec::decode(value.value())?;
            if split.moved.iter().chain(&split.kept).any(|k| keys.contains(k)) {
                doomed.push(id.value());
            }
        }
        for id in &doomed {
            self.splits.remove(*id)?;
        }
        Ok(doomed.len())
    }

    /// Adds an entry to the do-not-contact list; false when it was there already.
    pub fn put_suppression(
        &mut self,
        entry: &Suppression,
        record: &SuppressionRecord,
    ) -> Result<bool, StoreError> {
        let key = entry.encoded();
        if self.suppressions.get(key.as_str())?.is_some() {
            return Ok(false);
        }
        self.suppressions.insert(key.as_str(), codec::encode(record)?.as_slice())?;
        Ok(true)
    }

    /// Removes an entry; false when it was not on the list.
    pub fn remove_suppression(&mut self, entry: &Suppression) -> Result<bool, StoreError> {
        Ok(self.suppressions.remove(entry.encoded().as_str())?.is_some())
    }

    /// Drops every key-hash log entry of `ids` (the unsalted xxh3 hashes of an
    /// erased person's keys); returns how many.
    pub fn purge_key_hashes(&mut self, ids: &HashSet<LeadId>) -> Result<u64, StoreError> {
        let mut rewrites = Vec::new();
        let mut purged = 0;
        for entry in self.key_hashes.iter()? {
            let (batch, packed) = entry?;
            let bytes = packed.value();
            let kept: Vec<u8> = bytes
                .chunks_exact(16)
                .filter(|pair| !ids.contains(&super::u64_le(&pair[8..])))
                .flatten()
                .copied()
                .collect();
            if kept.len() != bytes.len() {
                purged += ((bytes.len() - kept.len()) / 16) as u64;
                rewrites.push((batch.value(), kept));
            }
        }
        for (batch, kept) in rewrites {
            self.key_hashes.insert(batch, kept.as_slice())?;
        }
        Ok(purged)
    }

    /// Deletes the quarantined records whose raw bytes hold any of `needles`
    /// (lower-case); returns how many. They stay counted as quarantined.
    pub fn purge_quarantine(&mut self, needles: &[String]) -> Result<u64, StoreError> {
        let mut doomed = Vec::new();
        for entry in self.quarantine.iter()? {
            let (id, value) = entry?;
            let quarantined: super::QuarantineEntry = codec::decode(value.value())?;
            let raw = String::from_utf8_lossy(&quarantined.raw).to_lowercase();
            if needles.iter().any(|n| raw.contains(n.as_str())) {
                doomed.push(id.value());
            }
        }
        for id in &doomed {
            self.quarantine.remove(*id)?;
        }
        Ok(doomed.len() as u64)
    }
}

impl Reader {
    /// What lead `id` is now: the lead, the lead it was merged into, erased, or none.
    pub fn resolve(&self, id: LeadId) -> Result<Resolved, StoreError> {
        if let Some(lead) = self.lead(id)? {
            return Ok(Resolved::Lead(lead));
        }
        let alias = match self.table(ALIAS_LEAD_ID_TO_LEAD_ID)? {
            Some(t) => t.get(id)?.map(|v| v.value()),
            None => None,
        };
        if let Some(survivor) = alias
            && let Some(lead) = self.lead(survivor)?
        {
            return Ok(Resolved::Merged { requested: id, lead });
        }
        let erased = match self.table(ERASED_LEAD_ID_TO_MILLIS)? {
            Some(t) => t.get(id)?.is_some(),
            None => false,
        };
        Ok(if erased { Resolved::Erased(id) } else { Resolved::Missing(id) })
    }

    /// Every (alias, lead it resolves to), by alias.
    pub fn aliases(&self) -> Result<Vec<(LeadId, LeadId)>, StoreError> {
        let Some(table) = self.table(ALIAS_LEAD_ID_TO_LEAD_ID)? else { return Ok(Vec::new()) };
        table.iter()?.map(|e| e.map(|(k, v)| (k.value(), v.value())).map_err(StoreError::from)).collect()
    }

    /// Every erased lead id (an erased lead's aliases included).
    pub fn erased(&self) -> Result<Vec<LeadId>, StoreError> {
        let Some(table) = self.table(ERASED_LEAD_ID_TO_MILLIS)? else { return Ok(Vec::new()) };
        table.iter()?.map(|e| e.map(|(k, _)| k.value()).map_err(StoreError::from)).collect()
    }

    /// The tombstone salt (none before the first erasure) and every tombstone.
    pub fn tombstones(&self) -> Result<Tombstones, StoreError> {
        let salt = match self.table(SECRET_NAME_TO_BYTES)? {
            Some(t) => t.get(SALT)?.map(|v| v.value().to_vec()),
            None => None,
        };
        let mut out = Vec::new();
        if let Some(table) = self.table(TOMBSTONE_HASH_TO_MILLIS)? {
            for entry in table.iter()? {
                let (hash, _) = entry?;
                if let Ok(hash) = <[u8; TOMBSTONE_BYTES]>::try_from(hash.value()) {
                    out.push(hash);
                }
            }
        }
        Ok((salt, out))
    }

    /// Every split made by hand, oldest first.
    pub fn splits(&self) -> Result<Vec<SplitRecord>, StoreError> {
        let Some(table) = self.table(SPLIT_ID_TO_SPLIT)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in table.iter()? {
            out.push(codec::decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The do-not-contact list, by entry.
    pub fn suppressions(&self) -> Result<Vec<(Suppression, SuppressionRecord)>, StoreError> {
        let Some(table) = self.table(SUPPRESSION_ENTRY_TO_RECORD)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            out.push((Suppression::from_encoded(key.value()), codec::decode(value.value())?));
        }
        Ok(out)
    }

    /// Every lead whose keys contradict, in id order (a scan; `review` lists them).
    pub fn leads_needing_review(&self) -> Result<Vec<Lead>, StoreError> {
        let mut out = Vec::new();
        for lead in self.leads()? {
            let lead = lead?;
            if lead.needs_review() {
                out.push(lead);
            }
        }
        Ok(out)
    }
}
