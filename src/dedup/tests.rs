//! Merge-policy tests over an in-memory exact-key map, plus the properties the
//! contract promises: no false merge, order independence, idempotence.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::lead::{RawLead, Source, normalize};

#[derive(Default)]
struct MemStore {
    bound: Vec<(u64, LeadId)>,
    leads: BTreeMap<LeadId, Lead>,
    next: LeadId,
}

impl LeadStore for MemStore {
    type Error = TooManyLeads;
    fn load(&mut self, id: LeadId) -> Result<Lead, Self::Error> {
        Ok(self.leads[&id].clone())
    }
    fn save(&mut self, _: Option<&Lead>, lead: &mut Lead) -> Result<(), Self::Error> {
        self.leads.insert(lead.id, lead.clone());
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
        source: Source {
            vendor: "test".into(),
            workflow: "w".into(),
            record_id: Some(line.to_string()),
            fetched_at: 0,
        },
        ..RawLead::default()
    }
}

fn run(records: &[RawLead]) -> (MemStore, Vec<Outcome>) {
    let mut set = KeyIndex::default();
    let mut store = MemStore::default();
    let outcomes = records
        .iter()
        .map(|r| {
            let c = normalize(r, 1).expect("test records have keys");
            ingest(&mut set, &mut store, c, 2).unwrap()
        })
        .collect();
    (store, outcomes)
}

#[test]
fn merges_on_any_shared_key_and_fills_fields() {
    let mut a = record(Some("dana"), None, None, 1);
    a.job_title = Some("PPC Manager".into());
    let mut b = record(Some("Dana/"), Some("dana@acme.com"), None, 2);
    b.company_name = Some("Acme".into());
    let (store, outcomes) = run(&[a, b]);
    assert_eq!(outcomes[1], Outcome::Merged { into: 1, changed: true, conflicts: vec![] });
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
fn conflict_attaches_by_priority_and_is_recorded() {
    let records = [
        record(None, Some("x@acme.com"), None, 1),
        record(Some("x"), None, None, 2),
        record(None, None, Some("apollo:7"), 3),
        record(Some("x"), Some("x@acme.com"), Some("apollo:7"), 4),
    ];
    let (store, outcomes) = run(&records);
    assert_eq!(outcomes[3], Outcome::Merged { into: 3, changed: true, conflicts: vec![1, 2] });
    assert_eq!(store.leads.len(), 3);
    assert_eq!(store.leads[&3].merges[0].conflicts_with, [1, 2]);
    // The conflicting keys stay with their own leads.
    assert_eq!(store.leads[&2].identity.linkedin_urls, ["linkedin.com/in/x"]);
    assert!(store.leads[&3].identity.linkedin_urls.is_empty());
}

#[test]
fn hash_collision_never_merges() {
    let mut index = KeyIndex::default();
    let mut store = MemStore::default();
    let a = normalize(&record(Some("a"), None, None, 1), 0).unwrap();
    assert_eq!(ingest(&mut index, &mut store, a, 0).unwrap(), Outcome::New(1));
    // Pretend b's key hashes like a's: the index names lead 1, whose exact keys say no.
    let b = normalize(&record(Some("b"), None, None, 2), 0).unwrap();
    index.insert(b.keys[0].hash64(), 1).unwrap();
    assert_eq!(ingest(&mut index, &mut store, b.clone(), 0).unwrap(), Outcome::New(2));
    // Both leads now share that hash in the index, and b still finds its own lead.
    let hits: Vec<LeadId> = index.candidates(b.keys[0].hash64()).collect();
    assert_eq!(hits, [1, 2]);
    assert_eq!(
        ingest(&mut index, &mut store, b, 0).unwrap(),
        Outcome::Merged { into: 2, changed: false, conflicts: vec![] }
    );
}

/// A person's keys; each of their records reveals a non-empty subset.
#[derive(Debug, Clone)]
struct Person {
    idx: usize,
    title: String,
}

fn person_record(p: &Person, mask: u8, line: u32) -> RawLead {
    let url = (mask & 1 != 0).then(|| format!("p{}", p.idx));
    let email = (mask & 2 != 0).then(|| format!("p{}@corp{}.com", p.idx, p.idx % 3));
    let id = (mask & 4 != 0).then(|| format!("zoominfo:{}", p.idx));
    let mut r = record(url.as_deref(), email.as_deref(), id.as_deref(), line);
    r.job_title = Some(p.title.clone());
    r
}

/// Records whose masks all share the URL bit: any two records of a person share a key.
fn linked_records() -> impl Strategy<Value = Vec<RawLead>> {
    let people = prop::collection::vec("[a-z]{1,8}", 1..12);
    people.prop_flat_map(|titles| {
        let n = titles.len();
        prop::collection::vec((0..n, 0u8..4), 1..40).prop_map(move |picks| {
            picks
                .iter()
                .enumerate()
                .map(|(line, &(who, extra))| {
                    let p = Person { idx: who, title: titles[who].clone() };
                    person_record(&p, 1 | (extra << 1), line as u32)
                })
                .collect()
        })
    })
}

/// The leads as an order-free value: sorted key sets with their titles.
fn summary(store: &MemStore) -> Vec<(Vec<String>, Option<String>)> {
    let mut out: Vec<_> = store
        .leads
        .values()
        .map(|l| {
            let mut keys: Vec<String> = l.identity.keys().map(|k| k.encoded()).collect();
            keys.sort();
            (keys, l.job_title.clone())
        })
        .collect();
    out.sort();
    out
}

proptest! {
    #[test]
    fn result_is_independent_of_record_order(records in linked_records(), seed in any::<u64>()) {
        let mut shuffled = records.clone();
        // Deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let (a, _) = run(&records);
        let (b, _) = run(&shuffled);
        prop_assert_eq!(summary(&a), summary(&b));
    }

    #[test]
    fn ingesting_twice_changes_nothing(records in linked_records()) {
        let (once, _) = run(&records);
        let twice: Vec<RawLead> = records.iter().chain(records.iter()).cloned().collect();
        let (both, _) = run(&twice);
        prop_assert_eq!(once.leads, both.leads);
    }

    #[test]
    fn never_merges_two_people(picks in prop::collection::vec((0usize..10, 1u8..8), 1..60)) {
        let records: Vec<RawLead> = picks
            .iter()
            .enumerate()
            .map(|(line, &(who, mask))| person_record(&Person { idx: who, title: "t".into() }, mask, line as u32))
            .collect();
        let (store, _) = run(&records);
        for lead in store.leads.values() {
            let people: std::collections::BTreeSet<String> = lead
                .identity
                .keys()
                .map(|k| k.value().trim_start_matches("linkedin.com/in/").trim_start_matches("zoominfo:")
                    .split('@').next().unwrap_or("").trim_start_matches('p').to_owned())
                .collect();
            prop_assert_eq!(people.len(), 1, "lead {:?} mixes people", lead.identity);
        }
        // Never more leads than records, never fewer than people seen.
        let seen: std::collections::BTreeSet<usize> = picks.iter().map(|p| p.0).collect();
        prop_assert!(store.leads.len() >= seen.len() && store.leads.len() <= records.len());
    }
}
