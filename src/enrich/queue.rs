//! Which leads the enrichment stage still owes a step, learnt by following the
//! store's changes: the company step (once per registrable domain) and the email
//! waterfall, each once per lead and run. A lead whose company domain no lead has
//! named yet waits while vendors still deliver (one of them may name it, for free);
//! a check still running at the provider is asked again later, a few times.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::config::EnrichmentSettings;
use crate::enrich::waterfall::Policy;
use crate::enrich::{local, stage};
use crate::lead::{EmailStatus, Lead, LeadId};
use crate::store::{LeadEnrichment, Reader, StoreError};

/// A check still running at the provider is asked again after this (vendor time).
const RESUME_AFTER: Duration = Duration::from_secs(30);
/// Times a lead's pending check or failed step is tried again in one run.
const RETRIES: u8 = 3;

/// Which domain a company name or company page stands for, learnt from the leads
/// that carry both (the vendors' own data): a profile without a domain gets it.
#[derive(Default)]
pub struct DomainBook {
    by_name: HashMap<String, String>,
    by_page: HashMap<String, String>,
}

impl DomainBook {
    fn len(&self) -> usize {
        self.by_name.len() + self.by_page.len()
    }

    pub fn learn(&mut self, lead: &Lead) {
        let Some(domain) = lead.company.domain.as_deref().and_then(local::registrable_domain) else { return };
        if let Some(name) = &lead.company.name {
            self.by_name.entry(name.trim().to_lowercase()).or_insert_with(|| domain.clone());
        }
        if let Some(page) = &lead.company.linkedin_url {
            self.by_page.entry(page_key(page)).or_insert(domain);
        }
    }

    /// The lead's registrable company domain: its own, its work email's, or the book's.
    pub fn domain_of(&self, lead: &Lead) -> Option<String> {
        stage::subject(lead).domain.or_else(|| self.lookup(&CompanyKeys::of(lead)))
    }

    /// The domain the book knows for a company page or name.
    fn lookup(&self, keys: &CompanyKeys) -> Option<String> {
        let by_page = keys.page.as_ref().and_then(|p| self.by_page.get(p));
        by_page.or_else(|| keys.name.as_ref().and_then(|n| self.by_name.get(n))).cloned()
    }
}

/// What the book looks a company up by, kept for a waiting lead so that looking
/// again needs no read of the store.
#[derive(Debug, Clone, Default)]
struct CompanyKeys {
    name: Option<String>,
    page: Option<String>,
}

impl CompanyKeys {
    fn of(lead: &Lead) -> CompanyKeys {
        CompanyKeys {
            name: lead.company.name.as_deref().map(|n| n.trim().to_lowercase()),
            page: lead.company.linkedin_url.as_deref().map(page_key),
        }
    }
}

/// A company page without scheme, `www.` or trailing slash.
fn page_key(url: &str) -> String {
    let url = url.trim().to_lowercase();
    let url = url.trim_start_matches("https://").trim_start_matches("http://").trim_start_matches("www.");
    url.trim_end_matches('/').to_owned()
}

/// What a lead still needs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub company: bool,
    pub email: bool,
}

/// What `lead` needs, given what enrichment already did for it.
pub fn needs(lead: &Lead, record: Option<&LeadEnrichment>, settings: &EnrichmentSettings) -> Needs {
    let policy = Policy::of(settings);
    let email_ok = lead
        .email
        .as_deref()
        .is_some_and(|e| local::email_status(e).is_none() && policy.passes(lead.email_status));
    let suppressed = lead.email_status == EmailStatus::Suppressed;
    let company_tried = record.is_some_and(|r| r.company_tried_at > 0);
    let email_owed = record.is_none_or(|r| r.email_tried_at == 0 || r.pending.is_some());
    Needs {
        company: settings.company && !lead.company.is_complete() && !company_tried,
        email: !suppressed && !email_ok && email_owed,
    }
}

/// The leads owed a step.
#[derive(Default)]
pub struct Queue {
    pub book: DomainBook,
    /// Only these leads (`leadsprint enrich --query`); all when `None`.
    pub only: Option<HashSet<LeadId>>,
    seen_seq: u64,
    /// Leads owed company data, by the domain it is asked for (`None`: unknown for good).
    companies: HashMap<LeadId, Option<String>>,
    by_domain: BTreeMap<String, BTreeSet<LeadId>>,
    emails: BTreeSet<LeadId>,
    /// Leads whose company domain no lead has named yet, what they need, and how to look it up.
    waiting: BTreeMap<LeadId, (Needs, CompanyKeys)>,
    /// The book's size when `waiting` was last looked through.
    book_seen: usize,
    /// Leads to ask again, and when.
    later: BTreeMap<LeadId, Instant>,
    tries: HashMap<LeadId, u8>,
    /// Steps taken this run (`(lead, company step?)`), not to be queued again.
    taken: HashSet<(LeadId, bool)>,
}

impl Queue {
    pub fn new(only: Option<HashSet<LeadId>>) -> Queue {
        Queue { only, ..Queue::default() }
    }

    /// Reads the leads committed since the last look: learns their domains, queues
    /// their needs (a lead without a known domain waits while `collecting`).
    pub fn follow(
        &mut self,
        reader: &Reader,
        settings: &EnrichmentSettings,
        collecting: bool,
    ) -> Result<(), StoreError> {
        let seq = reader.seq()?;
        if seq == self.seen_seq {
            return Ok(());
        }
        let mut changed = Vec::new();
        for id in reader.changed_since(self.seen_seq)? {
            match reader.lead(id)? {
                Some(lead) => {
                    self.book.learn(&lead);
                    changed.push(lead);
                }
                None => self.forget(id),
            }
        }
        for lead in changed {
            let id = lead.id;
            if self.only.as_ref().is_some_and(|only| !only.contains(&id)) || self.later.contains_key(&id) {
                continue;
            }
            let mut needs = needs(&lead, reader.enrichment(id)?.as_ref(), settings);
            needs.company &= !self.taken.contains(&(id, true));
            needs.email &= !self.taken.contains(&(id, false));
            self.forget(id);
            let domain = self.book.domain_of(&lead);
            if (needs.company || needs.email) && collecting && domain.is_none() {
                self.waiting.insert(id, (needs, CompanyKeys::of(&lead)));
            } else {
                self.queue(id, needs, domain);
            }
        }
        self.seen_seq = seq;
        Ok(())
    }

    fn forget(&mut self, id: LeadId) {
        if let Some(Some(domain)) = self.companies.remove(&id)
            && let Some(ids) = self.by_domain.get_mut(&domain)
        {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_domain.remove(&domain);
            }
        }
        self.emails.remove(&id);
        self.waiting.remove(&id);
    }

    fn queue(&mut self, id: LeadId, needs: Needs, domain: Option<String>) {
        if needs.company {
            if let Some(domain) = &domain {
                self.by_domain.entry(domain.clone()).or_default().insert(id);
            }
            self.companies.insert(id, domain);
        }
        if needs.email {
            self.emails.insert(id);
        }
    }

    /// Queues the waiting leads whose domain is known now (all once `last`), and
    /// those due to be asked again.
    pub fn release(&mut self, last: bool) {
        let now = Instant::now();
        let due: Vec<LeadId> = self.later.iter().filter(|(_, at)| **at <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.later.remove(&id);
            self.emails.insert(id);
        }
        if self.waiting.is_empty() || (!last && self.book.len() == self.book_seen) {
            return;
        }
        self.book_seen = self.book.len();
        for (id, (needs, keys)) in std::mem::take(&mut self.waiting) {
            match self.book.lookup(&keys) {
                Some(domain) => self.queue(id, needs, Some(domain)),
                None if last => self.queue(id, needs, None),
                None => {
                    self.waiting.insert(id, (needs, keys));
                }
            }
        }
    }

    /// The next lead for the email waterfall, its company domain filled from the
    /// book; a lead `busy` refuses (the same person asked for already in flight)
    /// stays queued.
    pub fn next_email(
        &mut self,
        reader: &Reader,
        busy: impl Fn(&Lead) -> bool,
    ) -> Result<Option<Lead>, StoreError> {
        // Walked in place (the queue may hold thousands; this runs per lead started).
        let mut after = None;
        while let Some(id) = self.emails.range(after.map_or(0, |a: LeadId| a + 1)..).next().copied() {
            after = Some(id);
            let Some(mut lead) = reader.lead(id)? else {
                self.emails.remove(&id);
                continue;
            };
            lead.company.domain = lead.company.domain.take().or_else(|| self.book.domain_of(&lead));
            if busy(&lead) {
                continue;
            }
            self.emails.remove(&id);
            self.taken.insert((id, false));
            return Ok(Some(lead));
        }
        Ok(None)
    }

    /// Up to `max` domains and the queued leads at each; leads whose domain stays
    /// unknown are let go (no one will name it now; a domain the finder resolves
    /// later queues them again).
    pub fn next_companies(
        &mut self,
        reader: &Reader,
        max: usize,
    ) -> Result<BTreeMap<String, Vec<Lead>>, StoreError> {
        self.companies.retain(|_, domain| domain.is_some());
        let mut batch = BTreeMap::new();
        while batch.len() < max {
            let Some((domain, ids)) = self.by_domain.pop_first() else { break };
            let mut leads = Vec::new();
            for id in ids {
                self.companies.remove(&id);
                self.taken.insert((id, true));
                leads.extend(reader.lead(id)?);
            }
            if !leads.is_empty() {
                batch.insert(domain, leads);
            }
        }
        Ok(batch)
    }

    /// Asks again later (vendor time at `speed`), a few times at most in one run.
    pub fn retry(&mut self, id: LeadId, speed: f64) {
        let tries = self.tries.entry(id).or_default();
        *tries += 1;
        if *tries <= RETRIES {
            self.later.insert(id, Instant::now() + RESUME_AFTER.div_f64(speed.max(1.0)));
        }
    }

    pub fn has_companies(&self) -> bool {
        !self.companies.is_empty()
    }

    /// Nothing left but steps that cannot run (`email`/`company` false: stopped).
    pub fn finished(&self, email: bool, company: bool) -> bool {
        let emails_left = email && (!self.emails.is_empty() || !self.later.is_empty());
        let companies_left = company && !self.companies.is_empty();
        !emails_left && !companies_left && self.waiting.is_empty()
    }

    /// Leads waiting for a step.
    pub fn waiting(&self) -> usize {
        let queued: BTreeSet<&LeadId> = self
            .companies
            .keys()
            .chain(&self.emails)
            .chain(self.waiting.keys())
            .chain(self.later.keys())
            .collect();
        queued.len()
    }
}
