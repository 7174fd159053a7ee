//! De-duplication (SPEC section 5): an in-memory index of the xxh3 hashes of every
//! identity key, and the merge policy. Pure and synchronous: the exact keys live in
//! the stored leads, reached through [`LeadStore`], and every hash hit is confirmed
//! against them, so a hash collision can never merge two people.

use std::collections::HashMap;

mod index;

pub use index::{KeyIndex, TooManyLeads};

use crate::lead::{self, Candidate, IdentityKey, Lead, LeadId, MergeEvent, Millis};

/// At most this many sources and merge events are kept per lead (the oldest merge
/// events are dropped first), so a record seen thousands of times stays small.
pub const MAX_SOURCES: usize = 64;
pub const MAX_MERGES: usize = 64;

/// The store side of de-duplication; the pipeline implements it over a store
/// write transaction, tests over a map. The exact identity keys live in the
/// stored leads: a hash hit is confirmed against them.
pub trait LeadStore {
    type Error: From<TooManyLeads>;
    fn load(&mut self, id: LeadId) -> Result<Lead, Self::Error>;
    /// Writes a new lead (`previous` is `None`) or a changed one.
    fn save(&mut self, previous: Option<&Lead>, lead: &mut Lead) -> Result<(), Self::Error>;
    /// Records durably that `id` holds a key with this hash (for the rebuild at start).
    fn bind(&mut self, hash: u64, id: LeadId) -> Result<(), Self::Error>;
    fn next_id(&mut self) -> Result<LeadId, Self::Error>;
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    New(LeadId),
    /// Merged into `into`; `changed` says whether the lead gained anything; each
    /// entry of `conflicts` is another lead that one of the record's keys named.
    Merged {
        into: LeadId,
        changed: bool,
        conflicts: Vec<LeadId>,
    },
}

/// De-duplicates one candidate against the known leads and writes the result.
pub fn ingest<S: LeadStore>(
    index: &mut KeyIndex,
    store: &mut S,
    candidate: Candidate,
    now: Millis,
) -> Result<Outcome, S::Error> {
    let (owners, mut loaded) = owners(index, store, &candidate.keys)?;
    let Some(target) = owners.iter().flatten().copied().next() else {
        return insert_new(index, store, candidate);
    };
    let mut conflicts: Vec<LeadId> = owners.iter().flatten().copied().filter(|&id| id != target).collect();
    conflicts.sort_unstable();
    conflicts.dedup();
    let unowned: Vec<&IdentityKey> =
        candidate.keys.iter().zip(&owners).filter(|(_, o)| o.is_none()).map(|(k, _)| k).collect();
    let previous = match loaded.remove(&target) {
        Some(lead) => lead,
        None => store.load(target)?,
    };
    let mut lead = previous.clone();
    let changed = merge(&mut lead, &candidate.lead, &unowned, &conflicts, now);
    if changed {
        store.save(Some(&previous), &mut lead)?;
        for key in unowned {
            bind(index, store, key, target)?;
        }
    }
    Ok(Outcome::Merged { into: target, changed, conflicts })
}

type Owners = (Vec<Option<LeadId>>, HashMap<LeadId, Lead>);

/// The lead holding each key (same order), confirmed against the stored leads'
/// exact keys; also returns the leads it loaded.
fn owners<S: LeadStore>(index: &KeyIndex, store: &mut S, keys: &[IdentityKey]) -> Result<Owners, S::Error> {
    let mut loaded: HashMap<LeadId, Lead> = HashMap::new();
    let mut owners = Vec::with_capacity(keys.len());
    for key in keys {
        let mut owner = None;
        for id in index.candidates(key.hash64()) {
            let lead = match loaded.entry(id) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(store.load(id)?),
            };
            if lead.identity.contains(key) {
                owner = Some(id);
                break;
            }
        }
        owners.push(owner);
    }
    Ok((owners, loaded))
}

fn bind<S: LeadStore>(
    index: &mut KeyIndex,
    store: &mut S,
    key: &IdentityKey,
    id: LeadId,
) -> Result<(), S::Error> {
    let hash = key.hash64();
    index.insert(hash, id)?;
    store.bind(hash, id)
}

fn insert_new<S: LeadStore>(
    index: &mut KeyIndex,
    store: &mut S,
    candidate: Candidate,
) -> Result<Outcome, S::Error> {
    let mut lead = candidate.lead;
    lead.id = store.next_id()?;
    store.save(None, &mut lead)?;
    for key in &candidate.keys {
        bind(index, store, key, lead.id)?;
    }
    Ok(Outcome::New(lead.id))
}

/// Folds `incoming` into `lead`: empty fields filled, the source recorded, `new_keys`
/// added. Returns whether anything changed (an unchanged lead is not rewritten).
pub fn merge(
    lead: &mut Lead,
    incoming: &Lead,
    new_keys: &[&IdentityKey],
    conflicts: &[LeadId],
    now: Millis,
) -> bool {
    let mut filled = Vec::new();
    fill_fields(lead, incoming, &mut filled);
    let added_keys: Vec<String> =
        new_keys.iter().filter(|k| lead.identity.add(k)).map(|k| k.encoded()).collect();
    let new_flags: Vec<_> = incoming.flags.iter().filter(|f| !lead.flags.contains(f)).cloned().collect();
    lead.flags.extend(new_flags.iter().cloned());
    let source = incoming.sources.first().cloned().unwrap_or_default();
    let new_source = !lead.sources.iter().any(|s| s.same_record(&source)) && lead.sources.len() < MAX_SOURCES;
    if new_source {
        lead.sources.push(source.clone());
    }
    let changed = !filled.is_empty()
        || !added_keys.is_empty()
        || !new_flags.is_empty()
        || new_source
        || !conflicts.is_empty();
    if changed {
        if lead.merges.len() >= MAX_MERGES {
            lead.merges.remove(0);
        }
        lead.merges.push(MergeEvent {
            at: now,
            source,
            filled,
            added_keys,
            conflicts_with: conflicts.to_vec(),
        });
        lead.updated_at = now;
        lead.quality = lead::score(lead);
    }
    changed
}

fn fill_fields(lead: &mut Lead, incoming: &Lead, filled: &mut Vec<String>) {
    let mut fill = |name: &str, slot: &mut Option<String>, value: &Option<String>| {
        if slot.is_none() && value.is_some() {
            slot.clone_from(value);
            filled.push(name.to_owned());
        }
    };
    fill("first_name", &mut lead.first_name, &incoming.first_name);
    fill("last_name", &mut lead.last_name, &incoming.last_name);
    fill("full_name", &mut lead.full_name, &incoming.full_name);
    fill("job_title", &mut lead.job_title, &incoming.job_title);
    fill("seniority", &mut lead.seniority, &incoming.seniority);
    fill("company.name", &mut lead.company.name, &incoming.company.name);
    fill("company.domain", &mut lead.company.domain, &incoming.company.domain);
    fill("company.industry", &mut lead.company.industry, &incoming.company.industry);
    fill("company.size", &mut lead.company.size, &incoming.company.size);
    fill("company.linkedin_url", &mut lead.company.linkedin_url, &incoming.company.linkedin_url);
    fill("location.city", &mut lead.location.city, &incoming.location.city);
    fill("location.region", &mut lead.location.region, &incoming.location.region);
    fill("location.country", &mut lead.location.country, &incoming.location.country);
    fill("phone", &mut lead.phone, &incoming.phone);
    fill("linkedin_url", &mut lead.linkedin_url, &incoming.linkedin_url);
    let had_email = lead.email.is_some();
    fill("email", &mut lead.email, &incoming.email);
    let same_email = had_email && lead.email == incoming.email;
    let status_news = lead.email_status == lead::EmailStatus::Unverified
        && incoming.email_status != lead::EmailStatus::Unverified;
    if (!had_email && lead.email.is_some()) || (same_email && status_news) {
        lead.email_status = incoming.email_status;
        if same_email {
            filled.push("email_status".to_owned());
        }
    }
}

#[cfg(test)]
mod tests;
