//! Generated records whose identity keys link up in chains, bridges (a record
//! naming keys of two groups) and contradictions (a group holding two LinkedIn
//! URLs, or two IDs of one vendor), written as a CSV under several spellings of
//! each key, with the right answer computed apart from the product: a brute-force
//! union-find over the canonical keys.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// One record: canonical key numbers by kind.
#[derive(Debug, Clone)]
pub struct Record {
    pub url: Option<u32>,
    pub emails: Vec<u32>,
    pub ids: Vec<u32>,
}

impl Record {
    /// Canonical keys, as `export jsonl` lists a lead's identity values.
    pub fn keys(&self) -> Vec<String> {
        let urls = self.url.iter().map(|n| format!("linkedin.com/in/person-{n}"));
        let emails = self.emails.iter().map(|n| format!("person{n}@corp{}.com", n % 4));
        let ids = self.ids.iter().map(|n| format!("{}:{n}", namespace(*n)));
        urls.chain(emails).chain(ids).collect()
    }
}

fn namespace(n: u32) -> &'static str {
    if n.is_multiple_of(2) { "apollo" } else { "zoominfo" }
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u32) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % u64::from(below.max(1))) as u32
    }
}

/// `n` records over a key universe of `universe` numbers per kind: with a
/// universe near `n`, groups of a few records chain together.
pub fn records(seed: u64, n: usize, universe: u32) -> Vec<Record> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|_| {
            loop {
                let url = (rng.next(10) < 7).then(|| rng.next(universe));
                let emails = (0..rng.next(3)).map(|_| rng.next(universe)).collect::<Vec<_>>();
                let ids = (0..rng.next(3)).map(|_| rng.next(universe)).collect::<Vec<_>>();
                if url.is_some() || !emails.is_empty() || !ids.is_empty() {
                    break Record { url, emails, ids };
                }
            }
        })
        .collect()
}

/// The records in `order` as an Apollo-style CSV, each key in one of its spellings.
pub fn csv(records: &[Record], order: &[usize]) -> String {
    let mut out = String::from("First Name,Last Name,Title,Email,Person Linkedin Url,Profile Id\n");
    for (line, &i) in order.iter().enumerate() {
        let r = &records[i];
        let spelling = line % 3;
        let url = r.url.map_or(String::new(), |n| match spelling {
            0 => format!("https://www.linkedin.com/in/person-{n}"),
            1 => format!("http://uk.linkedin.com/in/Person-{n}/"),
            _ => format!("linkedin.com/in/person-{n}/details/experience/"),
        });
        let emails: Vec<String> = r
            .emails
            .iter()
            .map(|n| {
                let e = format!("person{n}@corp{}.com", n % 4);
                if spelling == 1 { e.to_uppercase() } else { e }
            })
            .collect();
        let ids: Vec<String> = r
            .ids
            .iter()
            .map(|n| {
                let ns = namespace(*n);
                if spelling == 2 { format!("{}:{n}", ns.to_uppercase()) } else { format!("{ns}:{n}") }
            })
            .collect();
        let title = if i % 2 == 0 { "PPC Manager" } else { "" };
        let _ = writeln!(out, "Person{i},Tester,{title},\"{}\",{url},{}", emails.join(";"), ids.join(" "));
    }
    out
}

/// The right partition: each group's sorted keys, groups sorted.
pub fn partition(records: &[Record]) -> Vec<Vec<String>> {
    let mut parent: Vec<usize> = (0..records.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            i = parent[i];
        }
        i
    }
    let keys: Vec<Vec<String>> = records.iter().map(Record::keys).collect();
    for i in 0..records.len() {
        for j in 0..i {
            if keys[i].iter().any(|k| keys[j].contains(k)) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (i, k) in keys.into_iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().extend(k);
    }
    let mut out: Vec<Vec<String>> = groups.into_values().map(|g| g.into_iter().collect()).collect();
    out.sort();
    out
}

/// A permutation of `0..n` from a seed.
pub fn order(n: usize, seed: u64) -> Vec<usize> {
    let mut out: Vec<usize> = (0..n).collect();
    let mut rng = Lcg(seed);
    for i in (1..n).rev() {
        out.swap(i, rng.next(i as u32 + 1) as usize);
    }
    out
}
