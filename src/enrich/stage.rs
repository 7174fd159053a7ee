//! Enrichment of stored leads, one at a time: the lead seen as a waterfall
//! [`Subject`], the waterfall run through a [`Session`], and its outcome turned into
//! the [`Enriched`] item the single writer applies — the address found as a record
//! carrying the lead's own keys, so it lands on that lead.

use crate::enrich::local;
use crate::enrich::session::{Ledger, Session};
use crate::enrich::waterfall::{self, Outcome, Policy, Subject};
use crate::http::FetchError;
use crate::lead::{self, Lead, Millis, RawLead, Source, Suppression};
use crate::pipeline::{Enriched, Item};
use crate::store::{EmailCheck, LeadEnrichment};

/// The lead as the waterfall sees it; the company domain reduced to its registrable part.
pub fn subject(lead: &Lead) -> Subject {
    let email_domain = lead.email.as_deref().and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_owned());
    let domain =
        lead.company.domain.as_deref().or(email_domain.as_deref()).and_then(local::registrable_domain);
    Subject {
        first_name: lead.first_name.clone(),
        last_name: lead.last_name.clone(),
        email: lead.email.clone(),
        status: lead.email_status,
        domain,
        company: lead.company.name.clone(),
    }
}

/// Runs the email waterfall for `lead` in `session`.
pub async fn enrich_email(lead: &Lead, policy: Policy, session: &Session<'_>) -> Result<Outcome, FetchError> {
    waterfall::run(&subject(lead), policy, session, &mut session.allowance()).await
}

/// The writer's item for what the waterfall gave `lead` and what it cost.
pub fn enriched(lead: &Lead, outcome: &Outcome, ledger: Ledger, now: Millis) -> Enriched {
    let check = outcome.email.as_ref().map(|found| {
        // The sold address kept as sold: its check stays the vendor's own.
        let sold = lead.email_check.as_ref().filter(|_| found.provider == "vendor");
        EmailCheck {
            address: found.address.clone(),
            status: found.status,
            provider: sold.map_or(found.provider, |s| s.provider.as_str()).to_owned(),
            raw_status: sold.map_or(&found.raw_status, |s| &s.raw_status).clone(),
            checked_at: sold.map_or(now, |s| s.checked_at),
        }
    });
    let usable = check.as_ref().filter(|c| c.status.is_usable());
    let domain = outcome.domain.as_deref().filter(|_| lead.company.domain.is_none());
    let record = (usable.is_some() || domain.is_some()).then(|| record(lead, usable, domain, now)).flatten();
    Enriched {
        lead: lead.id,
        record,
        check: LeadEnrichment {
            email: check,
            company_source: None,
            email_tried_at: now,
            company_tried_at: 0,
            pending: outcome.pending.clone(),
            dollars: ledger.dollars,
        },
        spend: ledger.spend.into_iter().map(|(name, spend)| (name.to_owned(), spend)).collect(),
        cache: ledger.cache,
        suppress: outcome.objected.as_deref().and_then(|address| Suppression::parse(address).ok()),
    }
}

/// The address found (and the company domain the finder resolved), as a record
/// that names the lead by its own keys.
fn record(
    lead: &Lead,
    check: Option<&EmailCheck>,
    domain: Option<&str>,
    now: Millis,
) -> Option<Box<lead::Candidate>> {
    let mut raw = keyed(lead, check.map_or("hunter", |c| c.provider.as_str()), now);
    if let Some(check) = check {
        raw.emails.insert(0, check.address.clone());
        raw.email_status = Some(check.status.as_str().to_owned());
    }
    raw.company_domain = domain.map(str::to_owned);
    candidate(&raw, now)
}

/// An empty record from `provider` that names `lead` by its own keys: its LinkedIn
/// URL and profile IDs, or its email when it has neither.
pub fn keyed(lead: &Lead, provider: &str, now: Millis) -> RawLead {
    let named = lead.linkedin_url.is_some() || !lead.identity.profile_ids.is_empty();
    RawLead {
        linkedin_url: lead.linkedin_url.clone(),
        profile_ids: lead.identity.profile_ids.clone(),
        emails: if named { Vec::new() } else { lead.email.iter().cloned().collect() },
        source: Source::new(provider, "enrichment", None, now),
        ..RawLead::default()
    }
}

/// The record as the writer's candidate; `None` when it carries no key.
pub fn candidate(raw: &RawLead, now: Millis) -> Option<Box<lead::Candidate>> {
    match crate::pipeline::prepare(raw, "enrichment", String::new, Vec::new, now) {
        Item::Lead(candidate) => Some(candidate),
        _ => None,
    }
}
