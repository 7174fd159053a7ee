//! Finding leads: a search answered with stored leads. The one call behind
//! `leadsprint search`, the HTTP API and filtered exports — the index says which
//! leads match, the store (the truth) says what they hold.

use serde::{Deserialize, Serialize};

use crate::lead::{Contradiction, Lead, LeadId, Millis, SuppressionList};
use crate::search::{Facets, Request, SearchError, SearchIndex};
use crate::store::{Reader, Resolved, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of matching leads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Found {
    pub total: u64,
    pub hits: Vec<LeadSummary>,
    pub facets: Option<Facets>,
}

/// What a result list shows of a lead (the full lead is `GET /api/leads/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadSummary {
    pub id: LeadId,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub seniority: Option<String>,
    pub company: Option<String>,
    pub company_domain: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub email_status: String,
    pub linkedin_url: Option<String>,
    pub quality: u8,
    pub vendors: Vec<String>,
    pub sources: usize,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Its keys contradict (two LinkedIn URLs, two IDs of one vendor).
    #[serde(default)]
    pub needs_review: bool,
    /// The relevance score, when ordered by relevance.
    pub score: Option<f32>,
}

impl LeadSummary {
    pub fn of(lead: &Lead, score: Option<f32>) -> LeadSummary {
        let mut vendors: Vec<String> = Vec::new();
        for s in &lead.sources {
            if !vendors.contains(&s.vendor) {
                vendors.push(s.vendor.clone());
            }
        }
        LeadSummary {
            id: lead.id,
            name: lead.display_name(),
            first_name: lead.first_name.clone(),
            last_name: lead.last_name.clone(),
            title: lead.job_title.clone(),
            seniority: lead.seniority.clone(),
            company: lead.company.name.clone(),
            company_domain: lead.company.domain.clone(),
            city: lead.location.city.clone(),
            region: lead.location.region.clone(),
            country: lead.location.country.clone(),
            email: lead.email.clone(),
            email_status: lead.email_status.as_str().to_owned(),
            linkedin_url: lead.linkedin_url.clone(),
            quality: lead.quality.score,
            vendors,
            sources: lead.sources.len(),
            created_at: lead.created_at,
            updated_at: lead.updated_at,
            needs_review: lead.needs_review(),
            score,
        }
    }

    /// "City, Region, Country" with the parts known.
    pub fn location(&self) -> String {
        let parts = [&self.city, &self.region, &self.country];
        parts.into_iter().flatten().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// Runs `request` and reads each hit's lead from the store; `id:N` of a lead
/// merged into another finds that lead.
pub fn find(store: &Store, index: &SearchIndex, request: &Request) -> Result<Found, CatalogError> {
    let reader = store.reader()?;
    let request =
        Request { id_aliases: id_aliases(&reader, index, &request.query, request.now)?, ..request.clone() };
    let results = index.search(&request)?;
    let hits = summaries(&reader, results.hits.iter().map(|h| (h.id, h.score)))?;
    Ok(Found { total: results.total, hits, facets: results.facets })
}

/// Every lead matching `query`, in id order (a filtered export), aliases resolved.
pub fn matching_ids(
    store: &Store,
    index: &SearchIndex,
    query: &str,
    now: Millis,
) -> Result<Vec<LeadId>, CatalogError> {
    let aliases = id_aliases(&store.reader()?, index, query, now)?;
    Ok(index.matching_ids(query, now, &aliases)?)
}

/// The ids `query` names one by one that were merged into other leads → those leads.
fn id_aliases(
    reader: &Reader,
    index: &SearchIndex,
    query: &str,
    now: Millis,
) -> Result<std::collections::BTreeMap<LeadId, LeadId>, StoreError> {
    let mut out = std::collections::BTreeMap::new();
    for id in index.exact_ids(query, now) {
        if let Resolved::Merged { requested, lead } = reader.resolve(id)? {
            out.insert(requested, lead.id);
        }
    }
    Ok(out)
}

fn summaries(
    reader: &Reader,
    ids: impl Iterator<Item = (LeadId, Option<f32>)>,
) -> Result<Vec<LeadSummary>, CatalogError> {
    let mut out = Vec::new();
    for (id, score) in ids {
        // The index never runs ahead of the store; a missing lead is skipped, not fatal.
        if let Some(lead) = reader.lead(id)? {
            out.push(LeadSummary::of(&lead, score));
        }
    }
    Ok(out)
}

/// A lead to review: its summary and the keys that contradict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewItem {
    #[serde(flatten)]
    pub lead: LeadSummary,
    pub contradictions: Vec<Contradiction>,
}

/// One page of the leads to review, in id order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewPage {
    pub total: u64,
    pub leads: Vec<ReviewItem>,
}

/// The leads whose keys contradict (a scan of the store: exact at any moment).
pub fn needing_review(reader: &Reader, limit: usize, offset: usize) -> Result<ReviewPage, StoreError> {
    let all = reader.leads_needing_review()?;
    let leads = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|l| ReviewItem { lead: LeadSummary::of(l, None), contradictions: l.identity.contradictions() })
        .collect();
    Ok(ReviewPage { total: all.len() as u64, leads })
}

/// What the lead detail finds for an id.
pub enum Detail {
    /// The lead as JSON: every field, plus `contradictions`, `suppressed` and,
    /// when the id asked for was merged into it, `requested_id` and `merged_into`.
    Found(serde_json::Value),
    Erased,
    Missing,
}

/// Everything the lead detail shows: the lead (the survivor when the id asked
/// for was merged), why it needs review, the do-not-contact entry it matches, and
/// what enrichment did for it (the check, who filled the company, the dollars).
pub fn detail(reader: &Reader, id: LeadId) -> Result<Detail, StoreError> {
    let (lead, requested) = match reader.resolve(id)? {
        Resolved::Lead(lead) => (lead, None),
        Resolved::Merged { requested, lead } => (lead, Some(requested)),
        Resolved::Erased(_) => return Ok(Detail::Erased),
        Resolved::Missing(_) => return Ok(Detail::Missing),
    };
    let list = SuppressionList::new(reader.suppressions()?.into_iter().map(|(entry, _)| entry));
    let mut value = serde_json::to_value(&lead).unwrap_or_default();
    value["contradictions"] = serde_json::to_value(lead.identity.contradictions()).unwrap_or_default();
    value["suppressed"] = list.matching(&lead).map(|e| e.display()).into();
    if let Some(record) = reader.enrichment(lead.id)? {
        value["enrichment"] = serde_json::to_value(record).unwrap_or_default();
    }
    if let Some(requested) = requested {
        value["requested_id"] = requested.into();
        value["merged_into"] = lead.id.into();
    }
    Ok(Detail::Found(value))
}
