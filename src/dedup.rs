//! De-duplication (SPEC section 5): an in-memory index of the xxh3 hashes of every
//! identity key, and the merge policy. Leads are the connected components of the
//! key graph: a record whose keys name two or more leads bridges them, and they
//! become one (the lowest id survives, the others become its aliases), unless a
//! split made by hand keeps them apart ([`Splits`]). Pure and synchronous: the
//! exact keys live in the stored leads, reached through [`LeadStore`], and every
//! hash hit is confirmed against them, so a hash collision can never merge two people.

use std::collections::{BTreeMap, HashMap, HashSet};

mod index;

pub use index::{KeyIndex, TooManyLeads};

use crate::lead::{self, Candidate, Identity, IdentityKey, Lead, LeadId, MergeEvent, Millis};

/// At most this many sources and merge events are kept per lead (the oldest merge
/// events are dropped first), so a record seen thousands of times stays small.
pub const MAX_SOURCES: usize = 64;
pub const MAX_MERGES: usize = 64;

/// The store side of de-duplication; the pipeline implements it over a store
/// write transaction, tests over a map. The exact identity keys live in the
/// stored leads: a hash hit is confirmed against them.
pub trait LeadStore {
    type Error: From<TooManyLeads>;
    /// The lead, or `None` when there is none (it was erased).
    fn load(&mut self, id: LeadId) -> Result<Option<Lead>, Self::Error>;
    /// Writes a new lead (`previous` is `None`) or a changed one.
    fn save(&mut self, previous: Option<&Lead>, lead: &mut Lead) -> Result<(), Self::Error>;
    /// Removes `absorbed`, merged into lead `into`: it and the leads it had
    /// absorbed become aliases of `into`.
    fn absorb(&mut self, absorbed: &Lead, into: LeadId) -> Result<(), Self::Error>;
    /// Records durably that `id` holds a key with this hash (for the rebuild at start).
    fn bind(&mut self, hash: u64, id: LeadId) -> Result<(), Self::Error>;
    fn next_id(&mut self) -> Result<LeadId, Self::Error>;
}

/// Key sets split apart by hand: no automatic merge joins a lead holding a key of
/// one side with a lead holding a key of the other.
#[derive(Debug, Clone, Default)]
pub struct Splits {
    pairs: Vec<(HashSet<String>, HashSet<String>)>,
}

impl Splits {
    /// Remembers that `moved` and `kept` (encoded keys) are not to join again.
    pub fn add(&mut self, moved: &[String], kept: &[String]) {
        self.pairs.push((moved.iter().cloned().collect(), kept.iter().cloned().collect()));
    }

    /// Whether joining leads holding `a` and `b` would undo a split.
    pub fn forbids(&self, a: &Identity, b: &Identity) -> bool {
        if self.pairs.is_empty() {
            return false;
        }
        let (a, b): (Vec<String>, Vec<String>) =
            (a.keys().map(|k| k.encoded()).collect(), b.keys().map(|k| k.encoded()).collect());
        let touches = |keys: &[String], side: &HashSet<String>| keys.iter().any(|k| side.contains(k));
        self.pairs.iter().any(|(moved, kept)| {
            (touches(&a, moved) && touches(&b, kept)) || (touches(&a, kept) && touches(&b, moved))
        })
    }
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    New(LeadId),
    /// Merged into `into`; `changed` says whether the lead gained anything;
    /// `absorbed` are the leads the record bridged into it; `kept_apart` the leads
    /// its keys also named that a split keeps apart.
    Merged {
        into: LeadId,
        changed: bool,
        absorbed: Vec<LeadId>,
        kept_apart: Vec<LeadId>,
    },
}

/// De-duplicates one candidate against the known leads and writes the result.
pub fn ingest<S: LeadStore>(
    index: &mut KeyIndex,
    splits: &Splits,
    store: &mut S,
    candidate: Candidate,
    now: Millis,
) -> Result<Outcome, S::Error> {
    let Owners { per_key, leads } = owners(index, store, &candidate.keys)?;
    let mut leads = leads.into_values();
    let Some(previous) = leads.next() else {
        return insert_new(index, store, candidate);
    };
    let target = previous.id;
    let mut lead = previous.clone();
    let mut note = Note::default();
    for other in leads {
        if splits.forbids(&lead.identity, &other.identity) {
            note.kept_apart.push(other.id);
            continue;
        }
        note.filled.extend(absorb(&mut lead, &other, now));
        store.absorb(&other, target)?;
        for id in std::iter::once(other.id).chain(other.absorbed_ids()) {
            index.alias(id, target)?;
        }
        note.absorbed.push(other.id);
    }
    let unowned: Vec<&IdentityKey> =
        candidate.keys.iter().zip(&per_key).filter(|(_, o)| o.is_none()).map(|(k, _)| k).collect();
    let changed = merge(&mut lead, &candidate.lead, &unowned, note.clone(), now);
    if changed {
        store.save(Some(&previous), &mut lead)?;
        for key in unowned {
            bind(index, store, key, target)?;
        }
    }
    Ok(Outcome::Merged { into: target, changed, absorbed: note.absorbed, kept_apart: note.kept_apart })
}

/// Each key's confirmed owner (same order) and the owning leads, by id.
struct Owners {
    per_key: Vec<Option<LeadId>>,
    leads: BTreeMap<LeadId, Lead>,
}

/// The lead holding each key, confirmed against the stored leads' exact keys.
fn owners<S: LeadStore>(index: &KeyIndex, store: &mut S, keys: &[IdentityKey]) -> Result<Owners, S::Error> {
    let mut loaded: HashMap<LeadId, Option<Lead>> = HashMap::new();
    let mut per_key = Vec::with_capacity(keys.len());
    for key in keys {
        let mut owner = None;
        for id in index.candidates(key.hash64()) {
            let lead = match loaded.entry(id) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(store.load(id)?),
            };
            if lead.as_ref().is_some_and(|l| l.identity.contains(key)) {
                owner = Some(id);
                break;
            }
        }
        per_key.push(owner);
    }
    let mut leads = BTreeMap::new();
    for id in per_key.iter().flatten() {
        if let Some(Some(lead)) = loaded.remove(id) {
            leads.insert(*id, lead);
        }
    }
    Ok(Owners { per_key, leads })
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

/// What a record did beside filling fields, for its merge event.
#[derive(Debug, Clone, Default)]
pub struct Note {
    /// Fields the leads it bridged filled.
    pub filled: Vec<String>,
    pub absorbed: Vec<LeadId>,
    pub kept_apart: Vec<LeadId>,
}

/// Folds lead `other` into `lead` (the survivor): its empty fields filled, every
/// key, flag, source and merge event moved over, `other` and its aliases listed as
/// absorbed. Returns the fields it filled. The quality is left to the caller.
pub fn absorb(lead: &mut Lead, other: &Lead, now: Millis) -> Vec<String> {
    let mut filled = Vec::new();
    fill_fields(lead, other, &mut filled);
    for key in other.identity.keys() {
        lead.identity.add(&key);
    }
    for flag in &other.flags {
        if !lead.flags.contains(flag) {
            lead.flags.push(flag.clone());
        }
    }
    for source in &other.sources {
        if lead.sources.len() < MAX_SOURCES && !lead.sources.iter().any(|s| s.same_record(source)) {
            lead.sources.push(source.clone());
        }
    }
    lead.merges.extend(other.merges.iter().cloned());
    lead.merges.sort_by_key(|m| m.at);
    let excess = lead.merges.len().saturating_sub(MAX_MERGES);
    lead.merges.drain(..excess);
    lead.absorbed.push(lead::Absorbed { id: other.id, email: other.email.clone() });
    lead.absorbed.extend(other.absorbed.iter().cloned());
    lead.absorbed.sort_by_key(|a| a.id);
    lead.absorbed.dedup_by_key(|a| a.id);
    lead.created_at = lead.created_at.min(other.created_at);
    lead.updated_at = now;
    filled
}

/// Folds `incoming` into `lead`: empty fields filled, the source recorded, `new_keys`
/// added, and what `note` says the record did beside. Returns whether anything
/// changed (an unchanged lead is not rewritten).
pub fn merge(lead: &mut Lead, incoming: &Lead, new_keys: &[&IdentityKey], note: Note, now: Millis) -> bool {
    let mut filled = note.filled;
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
        || !note.kept_apart.is_empty()
        || !note.absorbed.is_empty();
    if changed {
        if lead.merges.len() >= MAX_MERGES {
            lead.merges.remove(0);
        }
        lead.merges.push(MergeEvent {
            at: now,
            source,
            filled,
            added_keys,
            conflicts_with: note.kept_apart,
            absorbed: note.absorbed,
            ..MergeEvent::default()
        });
        lead.updated_at = now;
        lead.quality = lead::score(lead);
    }
    changed
}

fn fill_fields(lead: &mut Lead, incoming: &Lead, filled: &mut Vec<String>) {
    // A personal address outranks a shared one, whichever arrived first.
    if lead.email.as_deref().is_some_and(lead::identity::is_role_email)
        && incoming.email.as_deref().is_some_and(|e| !lead::identity::is_role_email(e))
    {
        lead.email.clone_from(&incoming.email);
        take_status(lead, incoming);
        filled.push("email".to_owned());
    }
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
    let status_news = lead.email_status == lead::EmailStatus::Unknown
        && incoming.email_status != lead::EmailStatus::Unknown;
    if (!had_email && lead.email.is_some()) || (same_email && status_news) {
        take_status(lead, incoming);
        if same_email {
            filled.push("email_status".to_owned());
        }
    }
}

/// The incoming record's status of its address, with who gave it.
fn take_status(lead: &mut Lead, incoming: &Lead) {
    lead.email_status = incoming.email_status;
    lead.email_check.clone_from(&incoming.email_check);
}

#[cfg(test)]
pub(crate) mod generated;
#[cfg(test)]
mod tests;
