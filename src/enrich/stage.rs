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
    let check = outcome.email.as_ref().map(|found| EmailCheck {
        address: found.address.clone(),
        status: found.status,
        provider: found.provider.to_owned(),
        raw_status: found.raw_status.clone(),
        checked_at: now,
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
    let mut emails: Vec<String> = check.map(|c| c.address.clone()).into_iter().collect();
    let named = lead.linkedin_url.is_some() || !lead.identity.profile_ids.is_empty();
    if !named {
        emails.extend(lead.email.clone());
    }
    let raw = RawLead {
        linkedin_url: lead.linkedin_url.clone(),
        profile_ids: lead.identity.profile_ids.clone(),
        emails,
        email_status: check.map(|c| c.status.as_str().to_owned()),
        company_domain: domain.map(str::to_owned),
        source: Source::new(check.map_or("hunter", |c| c.provider.as_str()), "enrichment", None, now),
        ..RawLead::default()
    };
    match crate::pipeline::prepare(&raw, "enrichment", String::new, Vec::new, now) {
        Item::Lead(candidate) => Some(candidate),
        _ => None,
    }
}

/// Company data for up to ten registrable domains: a fresh cached answer first,
/// then one Apollo bulk call for the rest (a credit per organization found, taken
/// from the budget before the call, the misses' given back); misses are remembered.
pub async fn enrich_companies(
    domains: &[String],
    apollo: &crate::enrich::apollo_org::ApolloOrg,
    lookup: &dyn Fn(&str) -> Option<crate::store::CacheEntry>,
    budget: &std::cell::RefCell<crate::enrich::budget::Budget>,
    now: Millis,
) -> Result<(std::collections::BTreeMap<String, Organization>, Ledger), FetchError> {
    use crate::config::ProviderKind;
    use crate::enrich::cache::{self, Op};
    let mut found = std::collections::BTreeMap::new();
    let mut ledger = Ledger::default();
    let mut ask = Vec::new();
    for domain in domains.iter().take(crate::enrich::apollo_org::BATCH) {
        let key = cache::key("apollo", Op::Company, &[domain]);
        match lookup(&key).filter(|e| cache::fresh(e, Op::Company, now)) {
            Some(entry) => {
                ledger.spend.entry("apollo").or_default().cache_hits += 1;
                if let Some(org) = entry.found.then(|| serde_json::from_str(&entry.value).ok()).flatten() {
                    found.insert(domain.clone(), org);
                }
            }
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
    budget.borrow_mut().refund(ProviderKind::Apollo, wanted - answered.len() as f64);
    let dollars = answered.len() as f64 * budget.borrow().price(ProviderKind::Apollo);
    ledger.dollars += dollars;
    let spend = ledger.spend.entry("apollo").or_default();
    spend.calls += 1;
    spend.hits += answered.len() as u64;
    spend.misses += (ask.len() - answered.len()) as u64;
    spend.credits += answered.len() as f64;
    spend.dollars += dollars;
    for domain in ask {
        let org = answered.get(&domain);
        let value = org.and_then(|o| serde_json::to_string(o).ok()).unwrap_or_default();
        let entry = crate::store::CacheEntry { found: org.is_some(), value, fetched_at: now };
        ledger.cache.push((cache::key("apollo", Op::Company, &[&domain]), entry));
        if let Some(org) = org {
            found.insert(domain, org.clone());
        }
    }
    Ok((found, ledger))
}

use crate::enrich::apollo_org::Organization;

/// Hunter's company enrichment for the domains Apollo did not know, one call each:
/// a fresh cached answer first; the price taken before a call, given back on a miss.
pub async fn companies_from_hunter(
    domains: &[String],
    hunter: &crate::enrich::hunter::Hunter,
    lookup: &dyn Fn(&str) -> Option<crate::store::CacheEntry>,
    budget: &std::cell::RefCell<crate::enrich::budget::Budget>,
    now: Millis,
) -> Result<(std::collections::BTreeMap<String, Organization>, Ledger), FetchError> {
    use crate::config::ProviderKind;
    use crate::enrich::cache::{self, Op};
    use crate::enrich::hunter::COMPANY_CREDITS;
    let mut found = std::collections::BTreeMap::new();
    let mut ledger = Ledger::default();
    for domain in domains {
        let key = cache::key("hunter", Op::Company, &[domain]);
        if let Some(entry) = lookup(&key).filter(|e| cache::fresh(e, Op::Company, now)) {
            ledger.spend.entry("hunter").or_default().cache_hits += 1;
            if let Some(org) = entry.found.then(|| serde_json::from_str(&entry.value).ok()).flatten() {
                found.insert(domain.clone(), org);
            }
            continue;
        }
        let Ok(dollars) = budget.borrow_mut().take_shared(ProviderKind::Hunter, COMPANY_CREDITS) else {
            break;
        };
        let answer = match hunter.company(domain).await {
            Ok(answer) => answer,
            Err(e) => {
                budget.borrow_mut().refund(ProviderKind::Hunter, COMPANY_CREDITS);
                return if ledger.spend.is_empty() { Err(e) } else { Ok((found, ledger)) };
            }
        };
        let spend = ledger.spend.entry("hunter").or_default();
        spend.calls += 1;
        let value = answer.as_ref().and_then(|o| serde_json::to_string(o).ok()).unwrap_or_default();
        ledger
            .cache
            .push((key, crate::store::CacheEntry { found: answer.is_some(), value, fetched_at: now }));
        match answer {
            Some(org) => {
                spend.hits += 1;
                spend.credits += COMPANY_CREDITS;
                spend.dollars += dollars;
                ledger.dollars += dollars;
                found.insert(domain.clone(), org);
            }
            None => {
                spend.misses += 1;
                budget.borrow_mut().refund(ProviderKind::Hunter, COMPANY_CREDITS);
            }
        }
    }
    Ok((found, ledger))
}

/// The writer's item filling `lead`'s company from `org` (its empty fields only),
/// its domain too when the lead had none (`domain` was learnt from other leads).
pub fn company_enriched(
    lead: &Lead,
    org: &Organization,
    domain: &str,
    provider: &str,
    now: Millis,
) -> Enriched {
    let raw = RawLead {
        linkedin_url: lead.linkedin_url.clone(),
        profile_ids: lead.identity.profile_ids.clone(),
        emails: if lead.linkedin_url.is_none() && lead.identity.profile_ids.is_empty() {
            lead.email.iter().cloned().collect()
        } else {
            Vec::new()
        },
        company_name: org.name.clone(),
        company_domain: lead.company.domain.is_none().then(|| domain.to_owned()),
        company_industry: org.industry.clone(),
        company_size: org.size.clone(),
        company_linkedin_url: org.linkedin_url.clone(),
        source: Source::new(provider, "enrichment", None, now),
        ..RawLead::default()
    };
    let record = match crate::pipeline::prepare(&raw, "enrichment", String::new, Vec::new, now) {
        Item::Lead(candidate) => Some(candidate),
        _ => None,
    };
    Enriched {
        lead: lead.id,
        record,
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
pub fn company_missed(lead: &Lead, domain: &str, now: Millis) -> Enriched {
    let empty = Organization::default();
    let mut item = company_enriched(lead, &empty, domain, "apollo", now);
    item.check.company_source = None;
    if lead.company.domain.is_some() {
        item.record = None;
    }
    item
}
