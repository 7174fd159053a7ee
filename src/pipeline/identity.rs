//! Identity resolution on the writer's side: the key index with what guards it
//! (remembered splits, the do-not-contact list, erased keys), the check every
//! record passes before de-duplication, and the changes a user asks for — split
//! a lead, erase a person, edit the do-not-contact list. Each change is one store
//! transaction through the single writer.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::PipelineError;
use super::indexing::Changed;
use crate::dedup::{self, KeyIndex, Splits};
use crate::lead::{self, Candidate, IdentityKey, KeyKind, Lead, LeadId, MergeEvent, Millis, Source};
use crate::lead::{Suppression, SuppressionList};
use crate::store::{self, Batch, Reader, SplitRecord, SuppressionRecord, TOMBSTONE_BYTES};

/// Erased keys, as salted hashes only.
#[derive(Default)]
struct Tombstones {
    salt: Option<Vec<u8>>,
    hashes: HashSet<[u8; TOMBSTONE_BYTES]>,
}

impl Tombstones {
    fn holds_any(&self, keys: &[IdentityKey]) -> bool {
        let Some(salt) = &self.salt else { return false };
        !self.hashes.is_empty()
            && keys.iter().any(|k| self.hashes.contains(&store::tombstone_hash(salt, &k.encoded())))
    }
}

/// Why a command was refused, or that the writer failed running it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum CommandError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

impl From<PipelineError> for CommandError {
    fn from(e: PipelineError) -> CommandError {
        match e {
            PipelineError::NotFound(m) => CommandError::NotFound(m),
            PipelineError::Invalid(m) => CommandError::Invalid(m),
            other => CommandError::Failed(other.to_string()),
        }
    }
}

/// The key index and its guards, owned by the writer.
pub struct Resolver {
    pub keys: KeyIndex,
    splits: Splits,
    suppression: SuppressionList,
    tombstones: Tombstones,
}

/// Why a record was dropped before de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// It carries a key of a person erased on request.
    Erased,
    /// It matches the do-not-contact list.
    Suppressed,
}

impl Resolver {
    /// The key index with the guards stored beside the leads.
    pub fn load(keys: KeyIndex, reader: &Reader) -> Result<Resolver, PipelineError> {
        let mut keys = keys;
        for (alias, lead) in reader.aliases()? {
            keys.alias(alias, lead)?;
        }
        let mut splits = Splits::default();
        for split in reader.splits()? {
            splits.add(&split.moved, &split.kept);
        }
        let suppression = SuppressionList::new(reader.suppressions()?.into_iter().map(|(entry, _)| entry));
        let (salt, hashes) = reader.tombstones()?;
        let tombstones = Tombstones { salt, hashes: hashes.into_iter().collect() };
        Ok(Resolver { keys, splits, suppression, tombstones })
    }

    /// De-duplicates one candidate (see [`dedup::ingest`]).
    pub fn ingest<S: dedup::LeadStore>(
        &mut self,
        store: &mut S,
        candidate: Candidate,
        now: Millis,
    ) -> Result<dedup::Outcome, S::Error> {
        dedup::ingest(&mut self.keys, &self.splits, store, candidate, now)
    }

    /// Whether `candidate` must be dropped instead of stored, and why.
    pub fn screen(&self, candidate: &Candidate) -> Option<Dropped> {
        if self.tombstones.holds_any(&candidate.keys) {
            return Some(Dropped::Erased);
        }
        self.suppression.matching(&candidate.lead).map(|_| Dropped::Suppressed)
    }

    /// The stored lead holding `key`, confirmed against its exact keys.
    pub fn owner(&self, batch: &Batch<'_>, key: &IdentityKey) -> Result<Option<Lead>, PipelineError> {
        for id in self.keys.candidates(key.hash64()) {
            if let Some(lead) = batch.find_lead(id)?
                && lead.identity.contains(key)
            {
                return Ok(Some(lead));
            }
        }
        Ok(None)
    }
}

/// A change to identities a user asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Move `keys` off lead `lead` into a new lead, and keep them apart from then on.
    Split { lead: LeadId, keys: Vec<IdentityKey> },
    /// Erase every lead holding one of `keys` and keep the keys out for good.
    Forget { keys: Vec<IdentityKey> },
    /// Add entries to the do-not-contact list; `origin` says where they came from.
    Suppress { entries: Vec<Suppression>, origin: String },
    /// Remove entries from the do-not-contact list.
    Unsuppress { entries: Vec<Suppression> },
}

/// What a [`Command`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Split(SplitReport),
    Forget(ForgetReport),
    Suppress(SuppressReport),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    /// The id asked for; `lead` when it was no alias.
    pub requested: LeadId,
    pub lead: LeadId,
    pub new_lead: LeadId,
    pub moved: Vec<String>,
    pub kept: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForgetReport {
    /// The leads erased (with their sources).
    pub erased_leads: Vec<LeadId>,
    /// Keys now held only as salted hashes; records carrying any are dropped.
    pub tombstones: u64,
    /// Keys no stored lead held (tombstoned all the same).
    pub not_found: Vec<String>,
    /// Quarantined records holding one of the keys, deleted.
    pub quarantine_purged: u64,
    /// Splits that named one of the keys, forgotten.
    pub splits_purged: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuppressReport {
    pub added: Vec<String>,
    pub already_listed: Vec<String>,
    pub removed: Vec<String>,
    pub not_listed: Vec<String>,
    /// Entries on the list after the change.
    pub listed: u64,
}

impl Resolver {
    /// Runs `command` inside the writer's transaction.
    pub(super) fn apply(
        &mut self,
        batch: &mut Batch<'_>,
        changed: &mut Changed,
        command: Command,
        now: Millis,
    ) -> Result<Answer, PipelineError> {
        match command {
            Command::Split { lead, keys } => self.split(batch, changed, lead, &keys, now).map(Answer::Split),
            Command::Forget { keys } => self.forget(batch, changed, &keys, now).map(Answer::Forget),
            Command::Suppress { entries, origin } => {
                let record = SuppressionRecord { added_at: now, origin };
                let mut report = SuppressReport::default();
                for entry in entries {
                    let listed = if batch.put_suppression(&entry, &record)? {
                        &mut report.added
                    } else {
                        &mut report.already_listed
                    };
                    listed.push(entry.display());
                    self.suppression.insert(entry);
                }
                report.listed = self.suppression.len() as u64;
                Ok(Answer::Suppress(report))
            }
            Command::Unsuppress { entries } => {
                let mut report = SuppressReport::default();
                for entry in entries {
                    let listed = if batch.remove_suppression(&entry)? {
                        &mut report.removed
                    } else {
                        &mut report.not_listed
                    };
                    listed.push(entry.display());
                    self.suppression.remove(&entry);
                }
                report.listed = self.suppression.len() as u64;
                Ok(Answer::Suppress(report))
            }
        }
    }

    fn split(
        &mut self,
        batch: &mut Batch<'_>,
        changed: &mut Changed,
        requested: LeadId,
        keys: &[IdentityKey],
        now: Millis,
    ) -> Result<SplitReport, PipelineError> {
        let id = batch.resolve(requested)?;
        let previous =
            batch.find_lead(id)?.ok_or_else(|| PipelineError::NotFound(format!("no lead {requested}")))?;
        check_split(&previous, keys)?;
        let mut lead = previous.clone();
        let mut new = Lead { id: batch.next_lead_id(), created_at: now, updated_at: now, ..Lead::default() };
        for key in keys {
            lead.identity.remove(key);
            new.identity.add(key);
        }
        move_primaries(&mut lead, &mut new);
        move_sources(&mut lead, &mut new, keys);
        ensure_source(&mut new, now);
        let moved: Vec<String> = keys.iter().map(IdentityKey::encoded).collect();
        let kept: Vec<String> = lead.identity.keys().map(|k| k.encoded()).collect();
        let source = Source::new("leadsprint", "split", None, now);
        let event = |split_with, removed_keys, added_keys| MergeEvent {
            at: now,
            source: source.clone(),
            split_with: Some(split_with),
            removed_keys,
            added_keys,
            ..MergeEvent::default()
        };
        lead.merges.push(event(new.id, moved.clone(), Vec::new()));
        new.merges.push(event(lead.id, Vec::new(), moved.clone()));
        for l in [&mut lead, &mut new] {
            l.updated_at = now;
            l.quality = lead::score(l);
        }
        batch.put_lead(Some(&previous), &mut lead)?;
        batch.put_lead(None, &mut new)?;
        for key in keys {
            self.keys.insert(key.hash64(), new.id)?;
            batch.bind_key_hash(key.hash64(), new.id);
        }
        let record = SplitRecord {
            at: now,
            lead: lead.id,
            new_lead: new.id,
            moved: moved.clone(),
            kept: kept.clone(),
        };
        batch.add_split(&record)?;
        self.splits.add(&moved, &kept);
        changed.record(&lead, false);
        changed.record(&new, true);
        Ok(SplitReport { requested, lead: lead.id, new_lead: new.id, moved, kept })
    }

    fn forget(
        &mut self,
        batch: &mut Batch<'_>,
        changed: &mut Changed,
        keys: &[IdentityKey],
        now: Millis,
    ) -> Result<ForgetReport, PipelineError> {
        let mut report = ForgetReport::default();
        let mut leads: BTreeMap<LeadId, Lead> = BTreeMap::new();
        for key in keys {
            match self.owner(batch, key)? {
                Some(lead) => {
                    leads.insert(lead.id, lead);
                }
                None => report.not_found.push(key.encoded()),
            }
        }
        let mut doomed: Vec<IdentityKey> = keys.to_vec();
        doomed.extend(leads.values().flat_map(|l| l.identity.keys()));
        doomed.sort();
        doomed.dedup();
        let salt = batch.tombstone_salt()?;
        for key in &doomed {
            let hash = store::tombstone_hash(&salt, &key.encoded());
            batch.add_tombstone(&hash, now)?;
            self.tombstones.hashes.insert(hash);
            report.tombstones += 1;
        }
        self.tombstones.salt = Some(salt);
        let mut ids = HashSet::new();
        for lead in leads.values() {
            batch.erase_lead(lead, now)?;
            batch.forget_cached(crate::enrich::runner::cached_about(lead));
            changed.remove(lead.id);
            for alias in lead.absorbed_ids() {
                self.keys.unalias(alias);
            }
            ids.extend(std::iter::once(lead.id).chain(lead.absorbed_ids()));
            report.erased_leads.push(lead.id);
        }
        batch.purge_key_hashes(&ids)?;
        let encoded: HashSet<String> = doomed.iter().map(IdentityKey::encoded).collect();
        report.splits_purged = batch.remove_splits_touching(&encoded)? as u64;
        if report.splits_purged > 0 {
            self.splits = Splits::default();
            for split in batch.splits()? {
                self.splits.add(&split.moved, &split.kept);
            }
        }
        let mut needles: Vec<String> = doomed.iter().filter_map(needle).collect();
        needles.extend(leads.values().filter_map(|l| l.email.clone()));
        report.quarantine_purged = batch.purge_quarantine(&needles)?;
        changed.purge();
        Ok(report)
    }
}

/// The text a quarantined raw record would hold for `key` (lower-case): the
/// address, the profile slug, or a vendor ID long enough not to match by chance.
fn needle(key: &IdentityKey) -> Option<String> {
    let value = key.value();
    match key.kind() {
        KeyKind::Email => Some(value.to_owned()),
        KeyKind::LinkedIn => Some(value.to_owned()),
        KeyKind::ProfileId => {
            let id = value.split_once(':').map_or(value, |(_, id)| id);
            (id.len() >= 6).then(|| id.to_lowercase())
        }
    }
}

/// A split must name keys the lead holds, and leave it at least one.
fn check_split(lead: &Lead, keys: &[IdentityKey]) -> Result<(), PipelineError> {
    if keys.is_empty() {
        return Err(PipelineError::Invalid("name at least one key to split off".into()));
    }
    let held: Vec<String> = lead.identity.keys().map(|k| k.encoded()).collect();
    if let Some(stranger) = keys.iter().find(|k| !lead.identity.contains(k)) {
        return Err(PipelineError::Invalid(format!(
            "lead {} does not hold {}; its keys are {}",
            lead.id,
            stranger.encoded(),
            held.join(", ")
        )));
    }
    let mut distinct: Vec<&IdentityKey> = keys.iter().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() >= held.len() {
        return Err(PipelineError::Invalid(format!(
            "splitting off every key of lead {} would leave it empty; name only the keys that belong to someone else",
            lead.id
        )));
    }
    Ok(())
}

/// The primary LinkedIn URL and email follow their keys; the lead left behind
/// takes one of its remaining keys as its primary, if it has one.
fn move_primaries(lead: &mut Lead, new: &mut Lead) {
    let url_key = |url: &str| match lead::identity::linkedin(url) {
        Ok(lead::identity::LinkedInValue::Profile(key)) => Some(key),
        _ => None,
    };
    if lead.linkedin_url.as_deref().and_then(url_key).is_some_and(|k| new.identity.linkedin_urls.contains(&k))
    {
        new.linkedin_url = lead.linkedin_url.take();
    }
    let canonical = |keys: &[String]| keys.first().map(|k| format!("https://www.{k}"));
    lead.linkedin_url = lead.linkedin_url.take().or_else(|| canonical(&lead.identity.linkedin_urls));
    new.linkedin_url = new.linkedin_url.take().or_else(|| canonical(&new.identity.linkedin_urls));
    let email_key = |e: &str| lead::identity::email(e).ok().map(|e| e.key);
    if lead.email.as_deref().and_then(email_key).is_some_and(|k| new.identity.emails.contains(&k)) {
        new.email = lead.email.take();
        new.email_status = std::mem::take(&mut lead.email_status);
        new.email_check = lead.email_check.take();
    }
    lead.email = lead.email.take().or_else(|| lead.identity.emails.first().cloned());
    new.email = new.email.take().or_else(|| new.identity.emails.first().cloned());
}

/// Sources whose records added only split-off keys go with them.
fn move_sources(lead: &mut Lead, new: &mut Lead, keys: &[IdentityKey]) {
    let moved: HashSet<String> = keys.iter().map(IdentityKey::encoded).collect();
    for event in &lead.merges {
        let only_moved = !event.added_keys.is_empty() && event.added_keys.iter().all(|k| moved.contains(k));
        if only_moved && let Some(i) = lead.sources.iter().position(|s| s.same_record(&event.source)) {
            new.sources.push(lead.sources.remove(i));
        }
    }
}

/// A split that took no source still needs one: the split itself.
fn ensure_source(new: &mut Lead, now: Millis) {
    if new.sources.is_empty() {
        new.sources.push(Source::new("leadsprint", "split", None, now));
    }
}

/// Merges the leads schema 1 left apart: each record that named two leads
/// recorded the other in its merge event; they are one lead now, as if the
/// record had arrived today. Returns how many leads were merged away.
pub(super) fn reconcile_schema_1(
    resolver: &mut Resolver,
    batch: &mut Batch<'_>,
    changed: &mut Changed,
    now: Millis,
) -> Result<u64, PipelineError> {
    let pairs = batch.schema_1_conflicts()?;
    let mut merged = 0;
    for (a, b) in pairs {
        let (a, b) = (batch.resolve(a)?, batch.resolve(b)?);
        let (low, high) = (a.min(b), a.max(b));
        if low == high {
            continue;
        }
        let (Some(previous), Some(other)) = (batch.find_lead(low)?, batch.find_lead(high)?) else { continue };
        if resolver.splits.forbids(&previous.identity, &other.identity) {
            continue;
        }
        let mut lead = previous.clone();
        dedup::absorb(&mut lead, &other, now);
        for event in &mut lead.merges {
            // Schema 1 recorded these as conflicts; they are merges now.
            let absorbed: Vec<LeadId> = std::mem::take(&mut event.conflicts_with);
            event.absorbed.extend(absorbed);
        }
        lead.quality = lead::score(&lead);
        batch.absorb_lead(&other, low)?;
        batch.put_lead(Some(&previous), &mut lead)?;
        for id in std::iter::once(other.id).chain(other.absorbed_ids()) {
            resolver.keys.alias(id, low)?;
        }
        changed.remove(other.id);
        changed.record(&lead, false);
        merged += 1;
    }
    batch.finish_reconcile()?;
    Ok(merged)
}
