//! The in-memory identity index: xxh3-64 hash of every known key → the lead that
//! holds it. A sorted array of packed 12-byte entries (hash, lead) holds the bulk,
//! with a directory of bucket starts (one `u32` per four keys, indexed by the
//! hash's top bits) so a lookup reads one directory slot and scans about four
//! entries. Keys added since the last fold sit in a small hash map and are folded
//! in when it reaches an eighth of the array. About 13 bytes per key. A lead merged
//! into another keeps its entries: an alias map (absorbed → survivor, kept flat)
//! redirects them, so a merge rewrites nothing here.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::lead::LeadId;

/// Lead numbers are kept as `u32` in memory (4 billion leads per data dir).
#[derive(Debug, thiserror::Error)]
#[error("lead number {0} is past the 4,294,967,295 leads one data dir can hold")]
pub struct TooManyLeads(pub LeadId);

/// The keys are xxh3 hashes already: hashing them again would waste time.
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One (hash, lead) pair, packed to 12 bytes (4-byte alignment).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    hash_hi: u32,
    hash_lo: u32,
    lead: u32,
}

impl Entry {
    fn new(hash: u64, lead: u32) -> Self {
        Entry { hash_hi: (hash >> 32) as u32, hash_lo: hash as u32, lead }
    }

    fn hash(&self) -> u64 {
        (u64::from(self.hash_hi) << 32) | u64::from(self.hash_lo)
    }
}

/// Recent keys: hash → leads (nearly always one).
type Recent = HashMap<u64, Vec<u32>, BuildHasherDefault<PassThroughHasher>>;

/// Folding starts once this many recent keys are waiting, or an eighth of the array.
const MIN_FOLD: usize = 1 << 16;

/// Hash of every known identity key → the leads holding a key with that hash.
/// Two keys with one hash (astronomically rare) are both kept, so lookups stay exact.
#[derive(Default)]
pub struct KeyIndex {
    sorted: Vec<Entry>,
    /// `directory[b]` is the first position of bucket `b` (hashes whose top bits are `b`).
    directory: Vec<u32>,
    shift: u32,
    recent: Recent,
    recent_len: usize,
    /// Absorbed lead → the lead it was merged into (never a chain).
    aliases: HashMap<u32, u32>,
}

impl KeyIndex {
    /// Builds the index from every (hash, lead) pair at once: one sort, no folding.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (u64, LeadId)>,
        expected: usize,
    ) -> Result<Self, TooManyLeads> {
        let mut sorted = Vec::with_capacity(expected);
        for (hash, lead) in pairs {
            sorted.push(Entry::new(hash, lead32(lead)?));
        }
        sorted.sort_unstable();
        sorted.dedup();
        sorted.shrink_to_fit();
        let mut index = KeyIndex { sorted, ..KeyIndex::default() };
        index.build_directory();
        Ok(index)
    }

    /// Records that `lead` holds a key hashing to `hash`.
    pub fn insert(&mut self, hash: u64, lead: LeadId) -> Result<(), TooManyLeads> {
        let lead = lead32(lead)?;
        if self.sorted_leads(hash).any(|l| l == lead) {
            return Ok(());
        }
        let leads = self.recent.entry(hash).or_default();
        if !leads.contains(&lead) {
            leads.push(lead);
            self.recent_len += 1;
        }
        if self.recent_len >= MIN_FOLD.max(self.sorted.len() / 8) {
            self.fold();
        }
        Ok(())
    }

    /// The leads that may hold a key with this hash (to be confirmed by its exact
    /// keys), aliases resolved (a lead may then appear twice).
    pub fn candidates(&self, hash: u64) -> impl Iterator<Item = LeadId> + '_ {
        let recent = self.recent.get(&hash).into_iter().flatten().copied();
        self.sorted_leads(hash).chain(recent).map(|l| LeadId::from(self.resolve32(l)))
    }

    /// Records that lead `from` was merged into `to` (which must not be an alias).
    pub fn alias(&mut self, from: LeadId, to: LeadId) -> Result<(), TooManyLeads> {
        self.aliases.insert(lead32(from)?, lead32(to)?);
        Ok(())
    }

    /// Drops the alias of `from` (its survivor was erased).
    pub fn unalias(&mut self, from: LeadId) {
        if let Ok(from) = lead32(from) {
            self.aliases.remove(&from);
        }
    }

    /// The lead `id` is now: itself, or the lead it was merged into.
    pub fn resolve(&self, id: LeadId) -> LeadId {
        lead32(id).map_or(id, |l| LeadId::from(self.resolve32(l)))
    }

    fn resolve32(&self, lead: u32) -> u32 {
        if self.aliases.is_empty() {
            return lead;
        }
        self.aliases.get(&lead).copied().unwrap_or(lead)
    }

    fn sorted_leads(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let start = self.lower_bound(hash);
        self.sorted[start..].iter().take_while(move |e| e.hash() == hash).map(|e| e.lead)
    }

    /// The first position whose hash is not below `hash`: its bucket's bounds come
    /// from the directory, then a search of the few entries in between.
    fn lower_bound(&self, hash: u64) -> usize {
        if self.directory.is_empty() {
            return 0;
        }
        let bucket = (hash >> self.shift) as usize;
        let (lo, hi) = (self.directory[bucket] as usize, self.directory[bucket + 1] as usize);
        lo + self.sorted[lo..hi].partition_point(|e| e.hash() < hash)
    }

    /// One bucket per four entries (a power of two), each slot the bucket's start.
    fn build_directory(&mut self) {
        let n = self.sorted.len();
        if n == 0 {
            self.directory = Vec::new();
            return;
        }
        let bits = (n / 4).max(2).ilog2().min(32);
        self.shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut directory = Vec::with_capacity(buckets + 1);
        let mut pos = 0usize;
        for bucket in 0..buckets {
            while pos < n && ((self.sorted[pos].hash() >> self.shift) as usize) < bucket {
                pos += 1;
            }
            directory.push(pos as u32);
        }
        directory.push(n as u32);
        self.directory = directory;
    }

    /// Moves the recent keys into the sorted array (one merge pass).
    fn fold(&mut self) {
        let mut fresh: Vec<Entry> = self
            .recent
            .drain()
            .flat_map(|(hash, leads)| leads.into_iter().map(move |l| Entry::new(hash, l)))
            .collect();
        fresh.sort_unstable();
        let old = std::mem::take(&mut self.sorted);
        let mut merged = Vec::with_capacity(old.len() + fresh.len() + old.len() / 8);
        let (mut a, mut b) = (old.into_iter().peekable(), fresh.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (_, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.sorted = merged;
        self.recent_len = 0;
        self.build_directory();
    }

    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held on the heap: the array and directory plus the recent map's buckets.
    pub fn heap_bytes(&self) -> usize {
        let array = self.sorted.capacity() * std::mem::size_of::<Entry>() + self.directory.capacity() * 4;
        let cap = self.recent.capacity();
        let buckets = if cap == 0 { 0 } else { (cap * 8 / 7).next_power_of_two() };
        let recent = buckets * (std::mem::size_of::<(u64, Vec<u32>)>() + 1) + self.recent_len * 4;
        let aliases = self.aliases.capacity() * 9;
        array + recent + aliases
    }
}

fn lead32(lead: LeadId) -> Result<u32, TooManyLeads> {
    u32::try_from(lead).map_err(|_| TooManyLeads(lead))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_before_and_after_folding() {
        let mut index = KeyIndex::default();
        let n = MIN_FOLD as u64 * 3 + 17;
        for i in 0..n {
            index.insert(crate::lead::identity::hash_encoded(&i.to_string()), i / 3).unwrap();
        }
        assert_eq!(index.len() as u64, n);
        for i in (0..n).step_by(97) {
            let got: Vec<LeadId> =
                index.candidates(crate::lead::identity::hash_encoded(&i.to_string())).collect();
            assert_eq!(got, [i / 3]);
        }
        assert_eq!(index.candidates(12345).count(), 0);
        assert_eq!(index.candidates(0).count(), 0);
        assert_eq!(index.candidates(u64::MAX).count(), 0);
        // Inserting a known pair again changes nothing.
        index.insert(crate::lead::identity::hash_encoded("5"), 1).unwrap();
        assert_eq!(index.len() as u64, n);
    }

    #[test]
    fn same_hash_for_two_leads_keeps_both() {
        let mut index = KeyIndex::from_pairs([(7, 1), (9, 2)], 2).unwrap();
        index.insert(7, 3).unwrap();
        assert_eq!(index.candidates(7).collect::<Vec<_>>(), [1, 3]);
        index.fold();
        assert_eq!(index.candidates(7).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn memory_is_about_thirteen_bytes_a_key_after_rebuild() {
        let pairs = (0..300_000u64).map(|i| (crate::lead::identity::hash_encoded(&i.to_string()), i / 3));
        let index = KeyIndex::from_pairs(pairs, 300_000).unwrap();
        // 12 bytes an entry plus a 4-byte directory slot per 4 to 8 entries.
        assert_eq!(index.heap_bytes(), 300_000 * 12 + ((1 << 16) + 1) * 4);
    }

    #[test]
    fn lower_bound_agrees_with_a_plain_search() {
        let pairs = (0..5000u64).map(|i| (crate::lead::identity::hash_encoded(&i.to_string()) & !0xff, i));
        let index = KeyIndex::from_pairs(pairs, 5000).unwrap();
        let probes = index.sorted.iter().map(|e| e.hash()).chain([0, 1, u64::MAX, u64::MAX / 2, 0xff]);
        for probe in probes.flat_map(|h| [h.wrapping_sub(1), h, h.wrapping_add(1)]) {
            let want = index.sorted.partition_point(|e| e.hash() < probe);
            assert_eq!(index.lower_bound(probe), want, "probe {probe:#x}");
        }
    }

    #[test]
    fn aliases_redirect_candidates() {
        let mut index = KeyIndex::from_pairs([(7, 1), (9, 2), (11, 3)], 3).unwrap();
        index.alias(2, 1).unwrap();
        index.alias(3, 1).unwrap();
        assert_eq!(index.candidates(9).collect::<Vec<_>>(), [1]);
        assert_eq!(index.candidates(11).collect::<Vec<_>>(), [1]);
        assert_eq!((index.resolve(3), index.resolve(1), index.resolve(8)), (1, 1, 8));
        index.unalias(3);
        assert_eq!(index.candidates(11).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn refuses_lead_numbers_past_u32() {
        let mut index = KeyIndex::default();
        assert!(index.insert(1, u64::from(u32::MAX) + 1).is_err());
        assert!(index.insert(1, u64::from(u32::MAX)).is_ok());
    }
}
