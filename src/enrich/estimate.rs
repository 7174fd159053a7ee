//! The pre-flight estimate of what enrichment will spend on a store's leads, before
//! any call: unique company domains × the price of company data, plus leads without
//! a usable email × the finder's price × its expected hit rate. The hit rate is the
//! store's own (leads the waterfall ran for that Hunter found an address for) once
//! enough leads were tried, else the practitioners' figure for one finder.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use crate::config::{EnrichmentSettings, ProviderKind};
use crate::enrich::queue::{DomainBook, needs};
use crate::lead::LeadId;
use crate::store::{Reader, StoreError};

/// One finder's share of names found, as practitioners report it (about 40–60%).
const TYPICAL_FIND_RATE: f64 = 0.5;
/// Leads the waterfall must have run for before the store's own rate is trusted.
const MEASURED_AFTER: u64 = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Leads owed a step.
    pub leads: u64,
    /// Unique registrable domains owed company data.
    pub domains: u64,
    /// Leads owed the email waterfall.
    pub without_email: u64,
    pub find_rate: f64,
    /// Whether `find_rate` is the store's own.
    pub find_rate_measured: bool,
    pub company_cost: f64,
    pub finder_cost: f64,
    pub total: f64,
    /// What `enrichment.spend_cap` still allows.
    pub cap_left: f64,
}

/// The estimate over the store's leads (only `only`'s when given).
pub fn estimate(
    settings: &EnrichmentSettings,
    reader: &Reader,
    only: Option<&HashSet<LeadId>>,
) -> Result<Estimate, StoreError> {
    let mut book = DomainBook::default();
    for lead in reader.leads()? {
        book.learn(&lead?);
    }
    let mut out = Estimate::default();
    let mut domains = BTreeSet::new();
    // The store's own rate: of the leads the waterfall ran for, those it found an address for.
    let (mut tried_leads, mut found_leads) = (0u64, 0u64);
    for lead in reader.leads()? {
        let lead = lead?;
        if only.is_some_and(|only| !only.contains(&lead.id)) {
            continue;
        }
        let record = reader.enrichment(lead.id)?;
        if let Some(tried) = record.as_ref().filter(|r| r.email_tried_at > 0) {
            tried_leads += 1;
            found_leads += u64::from(
                tried.email.as_ref().is_some_and(|c| c.provider == "hunter" && c.status.is_usable()),
            );
        }
        let owed = needs(&lead, record.as_ref(), settings);
        out.leads += u64::from(owed.company || owed.email);
        out.without_email += u64::from(owed.email);
        if owed.company {
            domains.extend(book.domain_of(&lead));
        }
    }
    out.domains = domains.len() as u64;
    out.find_rate_measured = tried_leads >= MEASURED_AFTER;
    out.find_rate =
        if out.find_rate_measured { found_leads as f64 / tried_leads as f64 } else { TYPICAL_FIND_RATE };
    let price = |kind: ProviderKind| settings.providers.get(&kind).map_or(0.0, |p| p.cost_per_credit);
    out.company_cost = out.domains as f64 * price(ProviderKind::Apollo);
    out.finder_cost = out.without_email as f64 * price(ProviderKind::Hunter) * out.find_rate;
    out.total = out.company_cost + out.finder_cost;
    out.cap_left = (settings.spend_cap - reader.enrichment_cost()?).max(0.0);
    Ok(out)
}
