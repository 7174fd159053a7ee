//! Company data for leads, once per registrable domain: Apollo's organization
//! enrichment for up to ten domains a call, then Hunter's company enrichment for the
//! domains Apollo does not know. Fresh cached answers (misses too) come first; each
//! paid call takes its price from the budget before it and gives back what it did
//! not cost. What was found becomes the writer's items, filling the leads' empty
//! company fields.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::config::ProviderKind;
use crate::enrich::apollo_org::{ApolloOrg, BATCH, Organization};
use crate::enrich::budget::Budget;
use crate::enrich::cache::{self, Op};
use crate::enrich::hunter::{COMPANY_CREDITS, Hunter};
use crate::enrich::session::Ledger;
use crate::enrich::stage;
use crate::http::FetchError;
use crate::lead::{Lead, Millis, RawLead};
use crate::pipeline::Enriched;
use crate::store::{CacheEntry, LeadEnrichment};

/// Organizations found, by domain.
pub type Found = BTreeMap<String, Organization>;

/// A fresh cached answer of `provider` for `domain` (see [`Ledger::cached`]).
fn cached(
    provider: &'static str,
    domain: &str,
    lookup: &dyn Fn(&str) -> Option<CacheEntry>,
    now: Millis,
    ledger: &mut Ledger,
) -> Option<Option<Organization>> {
    ledger.cached(provider, lookup(&cache::key(provider, Op::Company, &[domain])), Op::Company, now)
}

/// Writes `provider`'s answer for `domain` down for the cache (a miss too).
fn remember(
    provider: &'static str,
    domain: &str,
    org: Option<&Organization>,
    now: Millis,
    ledger: &mut Ledger,
) {
    ledger.keep(cache::key(provider, Op::Company, &[domain]), org, org.is_some(), now);
}

/// Up to ten domains: cached answers first, then one Apollo bulk call for the rest
/// (a credit per organization found).
pub async fn from_apollo(
    domains: &[String],
    apollo: &ApolloOrg,
    lookup: &dyn Fn(&str) -> Option<CacheEntry>,
    budget: &RefCell<Budget>,
    now: Millis,
) -> Result<(Found, Ledger), FetchError> {
    let mut found = Found::new();
    let mut ledger = Ledger::default();
    let mut ask = Vec::new();
    for domain in domains.iter().take(BATCH) {
        match cached("apollo", domain, lookup, now, &mut ledger) {
            Some(org) => found.extend(org.map(|o| (domain.clone(), o))),
            None => ask.push(domain.clone()),
        }
    }
    if ask.is_empty() {
        return Ok((found, ledger));
    }
    let wanted = ask.len() as f64;
    if let Err(refusal) = budget.borrow_mut().take_shared(ProviderKind::Apollo, wanted) {
        tracing::info!("company enrichment not taken: {refusal}");
        return Ok((found, ledger));
    }
    let answered = match apollo.enrich(&ask).await {
        Ok(answered) => answered,
        Err(e) => {
            budget.borrow_mut().refund(ProviderKind::Apollo, wanted);
            return Err(e);
        }
    };
    let hits = answered.len() as f64;
    budget.borrow_mut().refund(ProviderKind::Apollo, wanted - hits);
    let dollars = hits * budget.borrow().price(ProviderKind::Apollo);
    let misses = ask.len().saturating_sub(answered.len());
    ledger.answered("apollo", 1, answered.len() as u64, misses as u64);
    ledger.bill("apollo", hits, dollars);
    for domain in ask {
        let org = answered.get(&domain);
        remember("apollo", &domain, org, now, &mut ledger);
        found.extend(org.map(|o| (domain, o.clone())));
    }
    Ok((found, ledger))
}

/// Hunter's company enrichment for the domains Apollo did not know, one call each
/// (0.2 credit when found, nothing for a miss).
pub async fn from_hunter(
    domains: &[String],
    hunter: &Hunter,
    lookup: &dyn Fn(&str) -> Option<CacheEntry>,
    budget: &RefCell<Budget>,
    now: Millis,
) -> Result<(Found, Ledger), FetchError> {
    let mut found = Found::new();
    let mut ledger = Ledger::default();
    for domain in domains {
        if let Some(org) = cached("hunter", domain, lookup, now, &mut ledger) {
            found.extend(org.map(|o| (domain.clone(), o)));
            continue;
        }
        let Ok(dollars) = budget.borrow_mut().take_shared(ProviderKind::Hunter, COMPANY_CREDITS) else {
            break;
        };
        let answer = match hunter.company(domain).await {
            Ok(answer) => answer,
            Err(e) => {
                budget.borrow_mut().refund(ProviderKind::Hunter, COMPANY_CREDITS);
                // What was asked before the failure is kept; the rest is asked again later.
                return if ledger.spend.is_empty() { Err(e) } else { Ok((found, ledger)) };
            }
        };
        remember("hunter", domain, answer.as_ref(), now, &mut ledger);
        let hit = answer.is_some();
        ledger.answered("hunter", 1, u64::from(hit), u64::from(!hit));
        match answer {
            Some(org) => {
                ledger.bill("hunter", COMPANY_CREDITS, dollars);
                found.insert(domain.clone(), org);
            }
            None => budget.borrow_mut().refund(ProviderKind::Hunter, COMPANY_CREDITS),
        }
    }
    Ok((found, ledger))
}

/// The writer's item filling `lead`'s company from `org` (its empty fields only),
/// its domain too when the lead had none (`domain` was learnt from other leads).
pub fn enriched(lead: &Lead, org: &Organization, domain: &str, provider: &str, now: Millis) -> Enriched {
    let raw = RawLead {
        company_name: org.name.clone(),
        company_domain: lead.company.domain.is_none().then(|| domain.to_owned()),
        company_industry: org.industry.clone(),
        company_size: org.size.clone(),
        company_linkedin_url: org.linkedin_url.clone(),
        ..stage::keyed(lead, provider, now)
    };
    Enriched {
        lead: lead.id,
        record: stage::candidate(&raw, now),
        check: LeadEnrichment {
            company_source: Some(provider.to_owned()),
            company_tried_at: now,
            ..LeadEnrichment::default()
        },
        ..Enriched::default()
    }
}

/// The writer's item for a lead whose company domain no provider knows: its
/// domain (learnt from other leads) when it had none, and the step marked as tried.
pub fn missed(lead: &Lead, domain: &str, now: Millis) -> Enriched {
    let mut item = enriched(lead, &Organization::default(), domain, "apollo", now);
    item.check.company_source = None;
    if lead.company.domain.is_some() {
        item.record = None;
    }
    item
}
