//! The writer over a real store and search index, on generated record sets with
//! bridges, chains and contradicting keys: the same partition and counters in
//! every order and batching, counters that agree with the stored leads, an index
//! that agrees with the store, and aliases that always resolve.

use proptest::prelude::*;

use super::*;
use crate::dedup::generated::{Gen, canonical_keys, raws, record_sets, reference_partition, shuffled};
use crate::store::Counters;

/// What a writer run left: the counters, the leads, the aliases and how many
/// documents the search index holds.
struct Outcome {
    counters: Counters,
    leads: Vec<Lead>,
    aliases: Vec<(LeadId, LeadId)>,
    indexed: u64,
}

/// Writes `records` in batches of `chunk` through a fresh writer.
fn write_all(records: &[RawLead], chunk: usize, passes: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    for _ in 0..passes {
        for part in records.chunks(chunk.max(1)) {
            let items = part.iter().map(|r| prepare(r, "test", String::new, Vec::new, 1)).collect();
            writer.write(items).unwrap();
        }
    }
    let store = writer.shared_store();
    writer.finish().unwrap();
    let reader = store.reader().unwrap();
    let leads: Vec<Lead> = reader.leads().unwrap().map(Result::unwrap).collect();
    let indexed = crate::search::SearchIndex::open(&index_dir(store.dir())).unwrap().len();
    Outcome { counters: reader.counters().unwrap(), leads, aliases: reader.aliases().unwrap(), indexed }
}

fn partition(leads: &[Lead]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = leads.iter().map(canonical_keys).collect();
    out.sort();
    out
}

/// The counters that describe the result, not the path to it (lead-to-lead
/// merges and aliases depend on which record came first).
fn result_counters(c: &Counters) -> Counters {
    Counters { leads_merged: 0, aliases: 0, ..*c }
}

/// The counters recomputed from the stored leads.
fn recount(leads: &[Lead]) -> [u64; 8] {
    let count = |f: fn(&Lead) -> bool| leads.iter().filter(|l| f(l)).count() as u64;
    [
        leads.len() as u64,
        leads.iter().map(|l| u64::from(l.quality.score)).sum(),
        count(|l| l.quality.is_qualified()),
        count(Lead::has_personal_email),
        count(|l| l.linkedin_url.is_some()),
        count(|l| l.company.is_complete()),
        count(Lead::needs_review),
        leads.iter().map(|l| l.identity.len() as u64).sum(),
    ]
}

fn kept(c: &Counters) -> [u64; 8] {
    [
        c.unique_leads,
        c.quality_sum,
        c.qualified,
        c.with_personal_email,
        c.with_linkedin,
        c.company_complete,
        c.needs_review,
        c.identity_keys,
    ]
}

fn check(run: &Outcome, records: &[Gen]) -> Result<(), TestCaseError> {
    prop_assert_eq!(partition(&run.leads), reference_partition(records));
    prop_assert_eq!(kept(&run.counters), recount(&run.leads), "counters vs stored leads");
    prop_assert_eq!(
        run.counters.records_received,
        run.counters.unique_leads + run.counters.duplicates_merged
    );
    prop_assert_eq!(run.indexed, run.counters.unique_leads, "index vs store");
    prop_assert_eq!(run.counters.aliases, run.counters.leads_merged);
    for (alias, lead) in &run.aliases {
        prop_assert!(
            run.leads.iter().any(|l| l.id == *lead && l.absorbed_ids().any(|a| a == *alias)),
            "alias {alias} -> {lead}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_order_and_batching_gives_the_same_leads_and_counters(
        records in record_sets(),
        seed in any::<u64>(),
        chunk in 1usize..12,
    ) {
        let once = write_all(&raws(&records), 500, 1);
        check(&once, &records)?;
        let other = write_all(&shuffled(&raws(&records), seed), chunk, 1);
        check(&other, &records)?;
        prop_assert_eq!(result_counters(&once.counters), result_counters(&other.counters));
    }

    #[test]
    fn writing_twice_changes_nothing(records in record_sets(), chunk in 1usize..12) {
        let once = write_all(&raws(&records), chunk, 1);
        let twice = write_all(&raws(&records), chunk, 2);
        check(&twice, &records)?;
        let n = records.len() as u64;
        let expected = Counters {
            records_received: once.counters.records_received + n,
            duplicates_merged: once.counters.duplicates_merged + n,
            ..once.counters
        };
        prop_assert_eq!(twice.counters, expected);
        prop_assert_eq!(partition(&twice.leads), partition(&once.leads));
    }
}

/// A store written by schema 1 — where a record naming two leads left them apart
/// and noted the other in its merge event — opens as it is, and its first writer
/// merges those leads once.
#[test]
fn a_schema_1_store_is_upgraded_and_its_left_apart_leads_merged() {
    let dir = tempfile::tempdir().unwrap();
    let raw = |url: Option<&str>, email: Option<&str>, line: &str| RawLead {
        linkedin_url: url.map(str::to_owned),
        emails: email.map(|e| vec![e.to_owned()]).unwrap_or_default(),
        source: lead::Source::new("file", "import:old.csv", Some(line.into()), 1),
        ..RawLead::default()
    };
    {
        let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
        let records =
            [raw(Some("https://www.linkedin.com/in/dana"), None, "1"), raw(None, Some("dana@acme.com"), "2")];
        let items = records.iter().map(|r| prepare(r, "old.csv", String::new, Vec::new, 1)).collect();
        writer.write(items).unwrap();
        let store = writer.shared_store();
        writer.finish().unwrap();
        // Rewrite lead 1 as schema 1 stored it after a bridging record: the record
        // stayed on lead 1 and named lead 2 as a conflict.
        let mut old = store.reader().unwrap().lead(1).unwrap().unwrap();
        old.merges.push(lead::MergeEvent { at: 2, conflicts_with: vec![2], ..lead::MergeEvent::default() });
        store
            .write(|batch| -> Result<(), StoreError> {
                batch.put_raw_lead(1, &crate::store::encode_v1(&old))?;
                batch.set_schema(1)
            })
            .unwrap();
    }
    let writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    let store = writer.shared_store();
    writer.finish().unwrap();
    let reader = store.reader().unwrap();
    let leads: Vec<Lead> = reader.leads().unwrap().map(Result::unwrap).collect();
    assert_eq!(leads.len(), 1, "the two leads schema 1 left apart are one");
    assert_eq!(leads[0].identity.keys().count(), 2);
    assert_eq!(reader.aliases().unwrap(), [(2, 1)]);
    let counters = reader.counters().unwrap();
    assert_eq!((counters.unique_leads, counters.leads_merged, counters.identity_keys), (1, 1, 2));
    assert_eq!(reader.meta(crate::store::META_RECONCILE).unwrap(), 0, "merged once, not at every start");
    assert!(leads[0].merges.iter().any(|m| m.absorbed == [2]));
}

/// A record as a vendor (or, for enrichment, a provider) gives it.
fn person(vendor: &str, url: &str, email: Option<&str>, status: Option<&str>) -> RawLead {
    RawLead {
        first_name: Some("Dana".into()),
        last_name: Some("Wills".into()),
        linkedin_url: Some(url.into()),
        emails: email.into_iter().map(str::to_owned).collect(),
        email_status: status.map(str::to_owned),
        company_name: Some("Acme".into()),
        company_domain: Some("acme.com".into()),
        source: crate::lead::Source::new(vendor, "w", None, 1),
        ..RawLead::default()
    }
}

#[test]
fn an_enrichment_result_lands_with_its_spend_in_one_transaction() {
    use crate::store::{CacheEntry, EmailCheck, LeadEnrichment, ProviderSpend};
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::new(Store::open(dir.path()).unwrap()).unwrap();
    let dana = person("apollo", "https://www.linkedin.com/in/dana-wills", None, None);
    // Another vendor's record of the same person under another profile, with her email.
    let other = person("zoominfo", "https://www.linkedin.com/in/dana-w-2", Some("dana@acme.com"), None);
    let items = [&dana, &other].iter().map(|r| prepare(r, "test", String::new, Vec::new, 1)).collect();
    writer.write(items).unwrap();
    assert_eq!(writer.store().reader().unwrap().lead_count().unwrap(), 2);

    let mut found =
        person("hunter", "https://www.linkedin.com/in/dana-wills", Some("dana@acme.com"), Some("valid"));
    found.company_industry = Some("Retail".into());
    let Item::Lead(record) = prepare(&found, "enrich:hunter", String::new, Vec::new, 2) else {
        panic!("a record")
    };
    let check = EmailCheck {
        address: "dana@acme.com".into(),
        status: crate::lead::EmailStatus::Valid,
        provider: "hunter".into(),
        raw_status: "valid".into(),
        checked_at: 2,
    };
    let spend = ProviderSpend { calls: 1, hits: 1, credits: 1.0, dollars: 0.05, ..ProviderSpend::default() };
    let cached = CacheEntry { found: true, value: "{\"email\":\"dana@acme.com\"}".into(), fetched_at: 2 };
    let enriched = Enriched {
        lead: 1,
        record: Some(record),
        check: LeadEnrichment {
            email: Some(check.clone()),
            email_tried_at: 2,
            dollars: 0.05,
            ..LeadEnrichment::default()
        },
        spend: vec![("hunter".into(), spend.clone())],
        cache: vec![
            ("hunter|finder|dana|wills|acme.com".into(), cached.clone()),
            (
                crate::enrich::cache::key("hunter", crate::enrich::cache::Op::Verify, &["dana@acme.com"]),
                cached.clone(),
            ),
            (
                crate::enrich::cache::key("apollo", crate::enrich::cache::Op::Company, &["acme.com"]),
                cached.clone(),
            ),
        ],
        suppress: Some(crate::lead::Suppression::parse("gone@acme.com").unwrap()),
    };
    let totals = writer.write(vec![Item::Enriched(Box::new(enriched))]).unwrap();
    assert_eq!((totals.enriched, totals.records_received), (1, 0), "a result is not a collected record");

    let store = writer.shared_store();
    writer.finish().unwrap();
    let reader = store.reader().unwrap();
    let leads: Vec<Lead> = reader.leads().unwrap().map(Result::unwrap).collect();
    assert_eq!(leads.len(), 1, "the found email bridged the two records of one person");
    let lead = &leads[0];
    assert_eq!((lead.id, lead.email.as_deref()), (1, Some("dana@acme.com")));
    assert_eq!(lead.email_status, crate::lead::EmailStatus::Valid);
    assert_eq!(lead.quality.email, 20, "a verified email is worth all its points");
    assert_eq!(lead.company.industry.as_deref(), Some("Retail"));
    assert_eq!(reader.counters().unwrap().records_received, 2);
    assert_eq!(reader.spend().unwrap(), vec![("hunter".to_owned(), spend)]);
    assert_eq!(reader.cache_entry("hunter|finder|dana|wills|acme.com").unwrap(), Some(cached));
    assert_eq!(reader.enrichment(1).unwrap().and_then(|e| e.email), Some(check));
    assert_eq!(reader.suppressions().unwrap().len(), 1, "the objection is on the do-not-contact list");

    // Erased on request: what enrichment kept of her (the address checked) goes too.
    drop(reader);
    let Ok(store) = std::sync::Arc::try_unwrap(store) else { panic!("the store is shared still") };
    let mut writer = Writer::new(store).unwrap();
    let keys = vec![crate::lead::IdentityKey::new(crate::lead::KeyKind::Email, "dana@acme.com")];
    writer.apply(super::identity::Command::Forget { keys }).unwrap();
    let store = writer.shared_store();
    writer.finish().unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(reader.lead_count().unwrap(), 0);
    assert_eq!(reader.enrichment(1).unwrap(), None, "the check went with the lead");
    // The cache forgets her addresses and the finder's question for her name...
    let verify = crate::enrich::cache::key("hunter", crate::enrich::cache::Op::Verify, &["dana@acme.com"]);
    assert_eq!(reader.cache_entry(&verify).unwrap(), None, "her address's check is erased");
    let found = leads[0].clone();
    let about = crate::enrich::runner::cached_about(&found);
    assert!(about.contains(&verify), "{about:?}");
    for key in &about {
        assert_eq!(reader.cache_entry(key).unwrap(), None, "{key} kept after erasure");
    }
    // ...and keeps what it knows of her company, which is about no one.
    let company = crate::enrich::cache::key("apollo", crate::enrich::cache::Op::Company, &["acme.com"]);
    assert!(reader.cache_entry(&company).unwrap().is_some());
}
