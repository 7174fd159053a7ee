//! Leads as schema 1 stored them (format byte 1), before lead-to-lead merges: read
//! here and converted, so a data dir written by an older build opens as it is and
//! each lead takes the new layout when it is next written.

use serde::Deserialize;

use crate::lead::{
    Company, EmailStatus, Flag, Identity, Lead, LeadId, Location, MergeEvent, Millis, Quality, Source,
};

#[derive(Deserialize)]
struct MergeEventV1 {
    at: Millis,
    source: Source,
    filled: Vec<String>,
    added_keys: Vec<String>,
    /// Schema 1: leads this record's keys also named that were left apart.
    conflicts_with: Vec<LeadId>,
}

#[derive(Deserialize)]
pub(super) struct LeadV1 {
    id: LeadId,
    first_name: Option<String>,
    last_name: Option<String>,
    full_name: Option<String>,
    job_title: Option<String>,
    seniority: Option<String>,
    company: Company,
    location: Location,
    email: Option<String>,
    email_status: EmailStatus,
    phone: Option<String>,
    linkedin_url: Option<String>,
    identity: Identity,
    flags: Vec<Flag>,
    sources: Vec<Source>,
    merges: Vec<MergeEventV1>,
    quality: Quality,
    created_at: Millis,
    updated_at: Millis,
    seq: u64,
}

impl From<LeadV1> for Lead {
    fn from(v: LeadV1) -> Lead {
        let merges = v
            .merges
            .into_iter()
            .map(|m| MergeEvent {
                at: m.at,
                source: m.source,
                filled: m.filled,
                added_keys: m.added_keys,
                conflicts_with: m.conflicts_with,
                ..MergeEvent::default()
            })
            .collect();
        Lead {
            id: v.id,
            first_name: v.first_name,
            last_name: v.last_name,
            full_name: v.full_name,
            job_title: v.job_title,
            seniority: v.seniority,
            company: v.company,
            location: v.location,
            email: v.email,
            email_status: v.email_status,
            phone: v.phone,
            linkedin_url: v.linkedin_url,
            identity: v.identity,
            flags: v.flags,
            sources: v.sources,
            merges,
            quality: v.quality,
            created_at: v.created_at,
            updated_at: v.updated_at,
            seq: v.seq,
            absorbed: Vec::new(),
        }
    }
}

/// A lead in the schema 1 layout, as an older build wrote it (for upgrade tests).
#[cfg(test)]
pub(crate) fn encode_v1(lead: &Lead) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct OldEvent<'a> {
        at: Millis,
        source: &'a Source,
        filled: &'a [String],
        added_keys: &'a [String],
        conflicts_with: &'a [LeadId],
    }
    let events: Vec<OldEvent> = lead
        .merges
        .iter()
        .map(|m| OldEvent {
            at: m.at,
            source: &m.source,
            filled: &m.filled,
            added_keys: &m.added_keys,
            conflicts_with: &m.conflicts_with,
        })
        .collect();
    let old = (
        (lead.id, &lead.first_name, &lead.last_name, &lead.full_name, &lead.job_title, &lead.seniority),
        (&lead.company, &lead.location, &lead.email, lead.email_status, &lead.phone, &lead.linkedin_url),
        (&lead.identity, &lead.flags, &lead.sources, events, lead.quality, lead.created_at),
        (lead.updated_at, lead.seq),
    );
    crate::codec::encode(&old).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn reads_a_schema_1_lead() {
        let lead = Lead {
            id: 7,
            full_name: Some("Dana Wills".into()),
            identity: Identity { emails: vec!["dana@acme.com".into()], ..Identity::default() },
            seq: 3,
            ..Lead::default()
        };
        let mut lead = lead;
        lead.merges.push(MergeEvent { at: 5, conflicts_with: vec![9], ..MergeEvent::default() });
        let bytes = encode_v1(&lead);
        let back: Lead = codec::decode::<LeadV1>(&bytes).unwrap().into();
        assert_eq!(back.id, 7);
        assert_eq!(back.full_name.as_deref(), Some("Dana Wills"));
        assert_eq!(back.identity, lead.identity);
        assert_eq!(back.merges[0].conflicts_with, [9]);
        assert_eq!(back.seq, 3);
    }
}
