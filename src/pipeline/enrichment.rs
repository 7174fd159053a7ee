//! An enrichment result applied by the single writer, in one transaction: the
//! provider spend it cost, the answers to cache, a do-not-contact entry when the
//! person objected (Hunter's 451), the fields found — as a record merged into the
//! lead through one of its own keys, so a found email that another lead holds
//! joins them as any bridging record would — the email status the check gave, and
//! what was checked. A crash before the commit loses the result and its spend
//! together; after it, both are there once.

use super::identity::{Command, Resolver};
use super::{BatchLeads, Changed, PipelineError};
use crate::dedup::LeadStore;
use crate::lead::{Candidate, LeadId, Millis, StatusCheck, Suppression, quality};
use crate::store::{Batch, CacheEntry, LeadEnrichment, ProviderSpend};

/// What enrichment found and spent for one lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enriched {
    pub lead: LeadId,
    /// The fields found, carrying a key of the lead; `None` when nothing was.
    pub record: Option<Box<Candidate>>,
    pub check: LeadEnrichment,
    pub spend: Vec<(String, ProviderSpend)>,
    pub cache: Vec<(String, CacheEntry)>,
    /// The person objected to processing: list them, never enrich them again.
    pub suppress: Option<Suppression>,
}

/// Applies `enriched`; a lead erased meanwhile gets nothing, but the spend counts.
pub(super) fn apply(
    resolver: &mut Resolver,
    batch: &mut Batch<'_>,
    changed: &mut Changed,
    enriched: Enriched,
    now: Millis,
) -> Result<(), PipelineError> {
    for (provider, delta) in &enriched.spend {
        batch.add_spend(provider, delta)?;
    }
    for (key, entry) in &enriched.cache {
        batch.put_cache_entry(key, entry)?;
    }
    if let Some(entry) = enriched.suppress {
        let origin = "enrichment: the person objected to processing".to_owned();
        resolver.apply(batch, changed, Command::Suppress { entries: vec![entry], origin }, now)?;
    }
    let id = batch.resolve(enriched.lead)?;
    if batch.find_lead(id)?.is_none() {
        return Ok(());
    }
    if let Some(record) = enriched.record
        && resolver.screen(&record).is_none()
    {
        resolver.ingest(&mut BatchLeads { batch, changed }, *record, now)?;
    }
    // A found email may have bridged this lead into an older one.
    let id = batch.resolve(id)?;
    if let Some(check) = &enriched.check.email {
        set_email_status(batch, changed, id, check, now)?;
    }
    let mut record = batch.enrichment(id)?.unwrap_or_default();
    merge_check(&mut record, enriched.check);
    batch.put_enrichment(id, &record)?;
    Ok(())
}

/// A lead's record of enrichment after another step: the email step's check and
/// pending state, the company step's source, the dollars of both.
fn merge_check(record: &mut LeadEnrichment, step: LeadEnrichment) {
    if step.email.is_some() || step.pending.is_some() {
        record.email = step.email.or(record.email.take());
        record.pending = step.pending;
    }
    record.company_source = step.company_source.or(record.company_source.take());
    record.email_tried_at = record.email_tried_at.max(step.email_tried_at);
    record.company_tried_at = record.company_tried_at.max(step.company_tried_at);
    record.dollars += step.dollars;
}

/// The checked status becomes the lead's when the check was of its primary email.
fn set_email_status(
    batch: &mut Batch<'_>,
    changed: &mut Changed,
    id: LeadId,
    check: &crate::store::EmailCheck,
    now: Millis,
) -> Result<(), PipelineError> {
    let previous = batch.lead(id)?;
    let same_address = previous.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&check.address));
    let by = StatusCheck {
        provider: check.provider.clone(),
        raw_status: check.raw_status.clone(),
        checked_at: check.checked_at,
    };
    if !same_address || (previous.email_status == check.status && previous.email_check.as_ref() == Some(&by))
    {
        return Ok(());
    }
    let mut lead = previous.clone();
    lead.email_status = check.status;
    lead.email_check = Some(by);
    lead.quality = quality::score(&lead);
    lead.updated_at = now;
    BatchLeads { batch, changed }.save(Some(&previous), &mut lead)
}
