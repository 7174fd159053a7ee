//! Leads as older builds stored them, read here and converted, so a data dir
//! written by an older build opens as it is and each lead takes the new layout
//! when it is next written: schema 1 (format byte 1), before lead-to-lead merges,
//! and format 2, before the email status's provenance (`Lead::email_check`).

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
            email_check: None,
        }
    }
}

/// A format 2 lead: today's layout without its last field, `email_check`.
pub(super) fn decode_v2(bytes: &[u8]) -> Result<Lead, crate::codec::CodecError> {
    crate::codec::decode_without_last_option(crate::codec::FORMAT_V2, bytes)
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

    /// The bytes an older build wrote for [`sample_v2_lead`] (format 2).
    #[test]
    fn reads_a_format_2_lead() {
        let bytes = include_bytes!("testdata/lead-format-2.bin");
        assert_eq!(codec::format_of(bytes).unwrap(), codec::FORMAT_V2);
        let back = decode_v2(bytes).unwrap();
        assert_eq!(back, sample_v2_lead());
        assert_eq!(back.email_check, None);
        // Read through the store's own dispatch, and written back as format 3.
        assert_eq!(super::super::decode_lead(bytes).unwrap(), back);
        let again = super::super::encode_lead(&back).unwrap();
        assert_eq!(codec::format_of(&again).unwrap(), codec::FORMAT_V3);
        assert_eq!(super::super::decode_lead(&again).unwrap(), back);
    }

    /// A lead with every field set (the one `testdata/lead-format-2.bin` holds).
    fn sample_v2_lead() -> Lead {
        use crate::lead::{Absorbed, Flag};
        let source = Source::new("apollo", "apollo-people", Some("p-1".into()), 1_700_000_000_000);
        let mut lead = Lead {
            id: 42,
            first_name: Some("Dana".into()),
            last_name: Some("Wills".into()),
            full_name: Some("Dana Wills".into()),
            job_title: Some("Head of Growth".into()),
            seniority: Some("head".into()),
            company: Company {
                name: Some("Acme".into()),
                domain: Some("acme.com".into()),
                industry: Some("software".into()),
                size: Some("51-200".into()),
                linkedin_url: Some("https://www.linkedin.com/company/acme".into()),
            },
            location: Location { city: Some("Berlin".into()), region: None, country: Some("Germany".into()) },
            email: Some("dana@acme.com".into()),
            email_status: EmailStatus::Valid,
            phone: Some("+4930123456".into()),
            linkedin_url: Some("https://www.linkedin.com/in/dana-wills".into()),
            identity: Identity {
                linkedin_urls: vec!["linkedin.com/in/dana-wills".into()],
                emails: vec!["dana@acme.com".into()],
                profile_ids: vec!["apollo:p-1".into()],
            },
            flags: vec![Flag { field: "phone".into(), value: "x".into(), reason: "not a number".into() }],
            sources: vec![source.clone()],
            merges: vec![MergeEvent {
                at: 1_700_000_000_500,
                source,
                filled: vec!["phone".into()],
                absorbed: vec![43],
                ..MergeEvent::default()
            }],
            quality: Quality::default(),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_500,
            seq: 9,
            absorbed: vec![Absorbed { id: 43, email: Some("d.wills@acme.com".into()) }],
            email_check: None,
        };
        lead.quality = crate::lead::score(&lead);
        lead
    }
}
