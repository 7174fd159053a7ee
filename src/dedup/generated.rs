//! Generated record sets for identity tests: records over a small key universe,
//! so bridges, chains and contradicting keys all come up, each key under several
//! spellings; and the reference answer, a brute-force union-find that knows
//! nothing of the product's normalisation.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use crate::lead::{KeyKind, Lead, RawLead, Source};

/// A generated record: canonical key numbers (what the reference sees) and the
/// spelling the record carries (what the product normalises), plus which
/// scored fields it fills.
#[derive(Debug, Clone)]
pub struct Gen {
    url: Option<(u32, u8)>,
    emails: Vec<(u32, u8)>,
    ids: Vec<(u32, u8)>,
    fields: u8,
}

/// The key universe: LinkedIn slugs, emails and profile IDs numbered per kind, with
/// near misses (`k1` vs `k11`, `acme.com` vs `acme.co`) as distinct keys; every
/// key has spellings that must normalise to it.
pub fn url_text(n: u32, spelling: u8) -> String {
    match spelling % 4 {
        0 => format!("https://www.linkedin.com/in/k{n}"),
        1 => format!("http://uk.linkedin.com/in/K{n}/"),
        2 => format!("linkedin.com/in/k{n}?trk=x"),
        _ => format!("https://m.linkedin.com/in/k{n}/details/experience/"),
    }
}

fn email_text(n: u32, spelling: u8) -> String {
    let domain = if n.is_multiple_of(5) { "acme.co" } else { "acme.com" };
    match spelling % 3 {
        0 => format!("k{n}@{domain}"),
        1 => format!("  K{n}@{}  ", domain.to_uppercase()),
        _ => format!("mailto:k{n}@{domain}"),
    }
}

fn id_text(n: u32, spelling: u8) -> String {
    // Two namespaces, so one person can hold two IDs of one namespace (a contradiction).
    let ns = if n.is_multiple_of(2) { "apollo" } else { "zoominfo" };
    match spelling % 2 {
        0 => format!("{ns}:{n}"),
        _ => format!("{}:{n}", ns.to_uppercase()),
    }
}

impl Gen {
    pub fn raw(&self, line: u32) -> RawLead {
        let mut r =
            RawLead { source: Source::new("test", "w", Some(line.to_string()), 0), ..RawLead::default() };
        r.linkedin_url = self.url.map(|(n, s)| url_text(n, s));
        r.emails = self.emails.iter().map(|&(n, s)| email_text(n, s)).collect();
        if self.fields & 8 != 0 {
            r.emails.push("info@acme.com".into()); // a role address: never a key
        }
        r.profile_ids = self.ids.iter().map(|&(n, s)| id_text(n, s)).collect();
        let f = |bit: u8, v: &str| (self.fields & bit != 0).then(|| v.to_owned());
        r.first_name = f(1, "Dana");
        r.last_name = f(1, "Wills");
        r.job_title = f(2, "PPC Manager");
        r.company_name = f(4, "Acme");
        r.company_domain = f(4, "acme.com");
        r.company_industry = f(16, "Retail");
        r
    }

    /// The canonical keys the reference partition links by.
    pub fn keys(&self) -> Vec<String> {
        let urls = self.url.iter().map(|(n, _)| format!("u{n}"));
        let emails = self.emails.iter().map(|(n, _)| format!("e{n}"));
        urls.chain(emails).chain(self.ids.iter().map(|(n, _)| format!("p{n}"))).collect()
    }
}

/// Record sets over a small key universe, so records share keys often: bridges
/// (a record naming keys of two groups), chains, and contradictions (one group
/// holding two LinkedIn URLs or two IDs of one namespace) all come up.
pub fn record_sets() -> impl Strategy<Value = Vec<Gen>> {
    let key = |max: u32| (0..max, any::<u8>());
    let one = (
        prop::option::weighted(0.7, key(14)),
        prop::collection::vec(key(14), 0..3),
        prop::collection::vec(key(14), 0..3),
        any::<u8>(),
    )
        .prop_filter("a record needs a key", |(u, e, i, _)| u.is_some() || !e.is_empty() || !i.is_empty())
        .prop_map(|(url, emails, ids, fields)| Gen { url, emails, ids, fields });
    prop::collection::vec(one, 1..40)
}

/// The reference answer: a brute-force union-find over the records by shared
/// canonical keys; each group as its sorted set of keys.
pub fn reference_partition(records: &[Gen]) -> Vec<Vec<String>> {
    let n = records.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], i: usize) -> usize {
        let mut root = i;
        while parent[root] != root {
            root = parent[root];
        }
        root
    }
    for i in 0..n {
        for j in 0..i {
            let shared = records[i].keys().iter().any(|k| records[j].keys().contains(k));
            if shared {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().extend(record.keys());
    }
    let mut out: Vec<Vec<String>> = groups.into_values().map(|g| g.into_iter().collect()).collect();
    out.sort();
    out
}

pub fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut s = seed;
    for i in (1..out.len()).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.swap(i, (s >> 33) as usize % (i + 1));
    }
    out
}

pub fn raws(records: &[Gen]) -> Vec<RawLead> {
    records.iter().enumerate().map(|(line, g)| g.raw(line as u32)).collect()
}

/// A lead's keys in the reference's terms (`u3`, `e5`, `p7`), sorted.
pub fn canonical_keys(lead: &Lead) -> Vec<String> {
    let mut keys: Vec<String> = lead
        .identity
        .keys()
        .map(|k| {
            let digits: String = k.value().chars().filter(char::is_ascii_digit).collect();
            let kind = match k.kind() {
                KeyKind::LinkedIn => 'u',
                KeyKind::Email => 'e',
                KeyKind::ProfileId => 'p',
            };
            format!("{kind}{digits}")
        })
        .collect();
    keys.sort();
    keys
}
