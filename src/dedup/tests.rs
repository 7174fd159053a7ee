//! Merge-policy tests over an in-memory exact-key map, plus the properties the
//! contract promises: no false merge, order independence, idempotence.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::generated::{canonical_keys, raws, record_sets, reference_partition, shuffled};
use super::*;
use crate::lead::{RawLead, Source, normalize};

#[derive(Default)]
struct MemStore {
    bound: Vec<(u64, LeadId)>,
    leads: BTreeMap<LeadId, Lead>,
    aliases: BTreeMap<LeadId, LeadId>,
    next: LeadId,
}

impl LeadStore for MemStore {
    type Error = TooManyLeads;
    fn load(&mut self, id: LeadId) -> Result<Option<Lead>, Self::Error> {
        Ok(self.leads.get(&id).cloned())
    }
    fn save(&mut self, _: Option<&Lead>, lead: &mut Lead) -> Result<(), Self::Error> {
        self.leads.insert(lead.id, lead.clone());
        Ok(())
    }
    fn absorb(&mut self, absorbed: &Lead, into: LeadId) -> Result<(), Self::Error> {
        self.leads.remove(&absorbed.id);
        for id in std::iter::once(absorbed.id).chain(absorbed.absorbed_ids()) {
            self.aliases.insert(id, into);
        }
        Ok(())
    }
    fn bind(&mut self, hash: u64, id: LeadId) -> Result<(), Self::Error> {
        self.bound.push((hash, id));
        Ok(())
    }
    fn next_id(&mut self) -> Result<LeadId, Self::Error> {
        self.next += 1;
        Ok(self.next)
    }
}

fn record(url: Option<&str>, email: Option<&str>, id: Option<&str>, line: u32) -> RawLead {
    RawLead {
        linkedin_url: url.map(|u| format!("https://www.linkedin.com/in/{u}")),
        emails: email.map(|e| vec![e.to_owned()]).unwrap_or_default(),
        profile_ids: id.map(|i| vec![i.to_owned()]).unwrap_or_default(),
        source: Source::new("test", "w", Some(line.to_string()), 0),
        ..RawLead::default()
    }
}

fn run_with(records: &[RawLead], splits: &Splits) -> (MemStore, Vec<Outcome>) {
    let mut set = KeyIndex::default();
    let mut store = MemStore::default();
    let outcomes = records
        .iter()
        .map(|r| {
            let c = normalize(r, 1).expect("test records have keys");
            ingest(&mut set, splits, &mut store, c, 2).unwrap()
        })
        .collect();
    (store, outcomes)
}

fn run(records: &[RawLead]) -> (MemStore, Vec<Outcome>) {
    run_with(records, &Splits::default())
}

fn merged(into: LeadId, absorbed: Vec<LeadId>, kept_apart: Vec<LeadId>) -> Outcome {
    Outcome::Merged { into, changed: true, absorbed, kept_apart }
}

#[test]
fn merges_on_any_shared_key_and_fills_fields() {
    let mut a = record(Some("dana"), None, None, 1);
    a.job_title = Some("PPC Manager".into());
    let mut b = record(Some("Dana/"), Some("dana@acme.com"), None, 2);
    b.company_name = Some("Acme".into());
    let (store, outcomes) = run(&[a, b]);
    assert_eq!(outcomes[1], merged(1, vec![], vec![]));
    let lead = &store.leads[&1];
    assert_eq!(store.leads.len(), 1);
    assert_eq!(lead.job_title.as_deref(), Some("PPC Manager"));
    assert_eq!(lead.company.name.as_deref(), Some("Acme"));
    assert_eq!(lead.identity.emails, ["dana@acme.com"]);
    assert_eq!(lead.sources.len(), 2);
    assert_eq!(lead.merges[0].filled, ["company.name", "email"]);
    assert_eq!(lead.merges[0].added_keys, ["e:dana@acme.com"]);
}

#[test]
fn a_bridging_record_merges_the_leads_it_names_into_the_lowest() {
    let mut a = record(None, Some("x@acme.com"), None, 1);
    a.job_title = Some("PPC Manager".into());
    let mut b = record(Some("x"), None, None, 2);
    b.company_name = Some("Acme".into());
    let records = [
        a,
        b,
        record(None, None, Some("apollo:7"), 3),
        record(Some("x"), Some("x@acme.com"), Some("apollo:7"), 4),
    ];
    let (store, outcomes) = run(&records);
    assert_eq!(outcomes[3], merged(1, vec![2, 3], vec![]));
    assert_eq!(store.leads.len(), 1);
    let lead = &store.leads[&1];
    assert_eq!(lead.identity.linkedin_urls, ["linkedin.com/in/x"]);
    assert_eq!(lead.identity.profile_ids, ["apollo:7"]);
    assert_eq!(
        (lead.job_title.as_deref(), lead.company.name.as_deref()),
        (Some("PPC Manager"), Some("Acme"))
    );
    assert_eq!(lead.sources.len(), 4, "every record's source moved over");
    assert_eq!(lead.absorbed_ids().collect::<Vec<_>>(), [2, 3]);
    assert_eq!(lead.merges.last().unwrap().absorbed, [2, 3]);
    assert_eq!(store.aliases, BTreeMap::from([(2, 1), (3, 1)]));
}

#[test]
fn chains_merge_and_aliases_stay_flat() {
    // Three leads, then bridges 3-2 and 2-1: one lead, both aliases pointing at 1.
    let records = [
        record(Some("a"), None, None, 1),
        record(Some("b"), None, None, 2),
        record(Some("c"), None, None, 3),
        record(Some("c"), Some("bc@acme.com"), None, 4),
        record(Some("b"), Some("bc@acme.com"), None, 5),
        record(Some("a"), None, Some("zoominfo:1"), 6),
        record(Some("b"), None, Some("zoominfo:1"), 7),
    ];
    let (store, outcomes) = run(&records);
    assert_eq!(outcomes[4], merged(2, vec![3], vec![]));
    assert_eq!(outcomes[6], merged(1, vec![2], vec![]));
    assert_eq!(store.leads.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(store.leads[&1].absorbed_ids().collect::<Vec<_>>(), [2, 3]);
    assert_eq!(store.aliases, BTreeMap::from([(2, 1), (3, 1)]));
    // Contradicting keys (three LinkedIn URLs) stay on the one lead, flagged.
    let lead = &store.leads[&1];
    assert!(lead.needs_review());
    assert_eq!(lead.identity.contradictions()[0].keys.len(), 3);
}

#[test]
fn a_split_keeps_its_sides_apart() {
    let mut splits = Splits::default();
    splits.add(&["u:linkedin.com/in/b".to_owned()], &["u:linkedin.com/in/a".to_owned()]);
    let records = [
        record(Some("a"), None, None, 1),
        record(Some("b"), None, None, 2),
        record(Some("b"), Some("ab@acme.com"), None, 3),
        record(Some("a"), Some("ab@acme.com"), None, 4),
    ];
    let (store, outcomes) = run_with(&records, &splits);
    assert_eq!(outcomes[3], merged(1, vec![], vec![2]));
    assert_eq!(store.leads.len(), 2);
    assert_eq!(store.leads[&2].identity.emails, ["ab@acme.com"], "the key stays with its own lead");
    assert_eq!(store.leads[&1].merges.last().unwrap().conflicts_with, [2]);
}

#[test]
fn a_personal_email_outranks_a_role_address_in_any_order() {
    let mut role = record(Some("a"), None, None, 1);
    role.emails = vec!["info@acme.com".into()];
    let personal = record(Some("a"), Some("dana@acme.com"), None, 2);
    for order in [[role.clone(), personal.clone()], [personal.clone(), role.clone()]] {
        let (store, _) = run(&order);
        assert_eq!(store.leads[&1].email.as_deref(), Some("dana@acme.com"));
        assert_eq!(store.leads[&1].quality.email, 10, "a personal address, not yet verified");
    }
}

#[test]
fn hash_collision_never_merges() {
    let mut index = KeyIndex::default();
    let mut store = MemStore::default();
    let none = Splits::default();
    let a = normalize(&record(Some("a"), None, None, 1), 0).unwrap();
    assert_eq!(ingest(&mut index, &none, &mut store, a, 0).unwrap(), Outcome::New(1));
    // Pretend b's key hashes like a's: the index names lead 1, whose exact keys say no.
    let b = normalize(&record(Some("b"), None, None, 2), 0).unwrap();
    index.insert(b.keys[0].hash64(), 1).unwrap();
    assert_eq!(ingest(&mut index, &none, &mut store, b.clone(), 0).unwrap(), Outcome::New(2));
    // Both leads now share that hash in the index, and b still finds its own lead.
    let hits: Vec<LeadId> = index.candidates(b.keys[0].hash64()).collect();
    assert_eq!(hits, [1, 2]);
    assert_eq!(
        ingest(&mut index, &none, &mut store, b, 0).unwrap(),
        Outcome::Merged { into: 2, changed: false, absorbed: vec![], kept_apart: vec![] }
    );
}

/// The product's partition in the reference's terms.
fn partition(store: &MemStore) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = store.leads.values().map(canonical_keys).collect();
    out.sort();
    out
}

/// The figures the store's counters keep, recomputed from the leads: they must
/// not depend on the order either.
fn figures(store: &MemStore) -> [u64; 7] {
    let leads = store.leads.values();
    let count = |f: fn(&Lead) -> bool| store.leads.values().filter(|l| f(l)).count() as u64;
    [
        store.leads.len() as u64,
        leads.map(|l| u64::from(l.quality.score)).sum(),
        count(|l| l.quality.is_qualified()),
        count(Lead::has_personal_email),
        count(|l| l.linkedin_url.is_some()),
        count(|l| l.company.is_complete()),
        count(Lead::needs_review),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn leads_are_the_connected_components_in_every_order(records in record_sets(), seed in any::<u64>()) {
        let want = reference_partition(&records);
        let (first, _) = run(&raws(&records));
        prop_assert_eq!(partition(&first), want.clone());
        let (other, _) = run(&shuffled(&raws(&records), seed));
        prop_assert_eq!(partition(&other), want);
        prop_assert_eq!(figures(&first), figures(&other));
        // Every alias points at a lead that exists.
        for (alias, lead) in first.aliases.iter().chain(&other.aliases) {
            prop_assert!(first.leads.contains_key(lead) || other.leads.contains_key(lead), "alias {} -> {}", alias, lead);
        }
    }

    #[test]
    fn ingesting_twice_changes_nothing(records in record_sets()) {
        let once = raws(&records);
        let (first, _) = run(&once);
        let twice: Vec<RawLead> = once.iter().chain(once.iter()).cloned().collect();
        let (both, outcomes) = run(&twice);
        prop_assert_eq!(&first.leads, &both.leads);
        for outcome in &outcomes[once.len()..] {
            prop_assert!(matches!(outcome, Outcome::Merged { changed: false, .. }), "{:?}", outcome);
        }
    }
}
