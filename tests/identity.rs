//! Identity resolution end to end, through the real binary: generated files with
//! bridges, chains and contradictions give the union-find's partition whatever
//! the row order; the index follows merges even across a crash; review and split;
//! suppression and erasure keep people out of every export.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Sandbox, assert_consistent, bridges, identities};

/// The stats that describe the result, not the path to it.
fn result_stats(stats: &Value) -> Vec<(String, Value)> {
    let keep = [
        "records_received",
        "unique_leads",
        "duplicates_merged",
        "needs_review",
        "qualified_leads",
        "avg_quality",
        "linkedin_availability",
        "email_availability",
    ];
    keep.iter().map(|k| (k.to_string(), stats[k].clone())).collect()
}

/// Every absorbed id is no lead of its own, and each resolves to the lead listing it.
fn assert_aliases_resolve(sb: &Sandbox, leads: &[Value]) {
    let live: BTreeSet<u64> = leads.iter().filter_map(|l| l["id"].as_u64()).collect();
    let absorbed: Vec<u64> = leads
        .iter()
        .flat_map(|l| l["absorbed"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_u64())
        .collect();
    for id in &absorbed {
        assert!(!live.contains(id), "absorbed lead {id} still stands alone");
    }
    for chunk in absorbed.chunks(200) {
        let query: Vec<String> = chunk.iter().map(|id| format!("id:{id}")).collect();
        let found = sb.run(&["search", &query.join(" OR "), "--json"]).json();
        assert_eq!(found["total"], 0, "absorbed leads still have search documents: {}", found["hits"]);
    }
    assert_eq!(sb.stats()["aliases"].as_u64(), Some(absorbed.len() as u64), "alias table vs absorbed lists");
}

#[test]
fn any_row_order_gives_the_union_find_partition_and_the_same_figures() {
    let records = bridges::records(11, 400, 700);
    let want = bridges::partition(&records);
    assert!(want.len() < records.len() / 2, "the generator should link records: {} groups", want.len());
    let mut figures = Vec::new();
    for seed in [1, 2, 3] {
        let sb = Sandbox::new();
        let file = sb.write("bridges.csv", bridges::csv(&records, &bridges::order(records.len(), seed)));
        assert_eq!(sb.import(&file).code, 0);
        let leads = sb.leads();
        assert_eq!(identities(&leads), want, "order {seed}");
        assert_consistent(&sb);
        assert_aliases_resolve(&sb, &leads);
        let stats = sb.stats();
        assert_eq!(sb.searchable(), stats["unique_leads"].as_u64().unwrap());
        assert_eq!(
            stats["needs_review"].as_u64(),
            Some(sb.run(&["search", "is:review", "--json"]).json()["total"].as_u64().unwrap())
        );
        figures.push(result_stats(&stats));
        // Importing again changes nothing but the records count.
        let again = sb.run(&["import", file.to_str().unwrap(), "--json"]).json();
        assert_eq!(again["totals"]["new_leads"], 0);
        assert_eq!(again["totals"]["duplicates_unchanged"], records.len() as u64);
        assert_eq!(identities(&sb.leads()), want);
    }
    assert_eq!(figures[0], figures[1]);
    assert_eq!(figures[1], figures[2]);
}

/// The records split in two files: the second's rows bridge groups the first left apart.
fn two_files(sb: &Sandbox, records: &[bridges::Record]) -> (std::path::PathBuf, std::path::PathBuf) {
    let half = records.len() / 2;
    let first: Vec<usize> = (0..half).collect();
    let second: Vec<usize> = (half..records.len()).collect();
    (
        sb.write("first.csv", bridges::csv(records, &first)),
        sb.write("second.csv", bridges::csv(records, &second)),
    )
}

/// A crash after the store committed merges but before the index did: the next
/// start deletes the absorbed leads' documents and updates the survivors.
#[test]
fn the_index_follows_merges_across_a_crash_before_its_commit() {
    let records = bridges::records(5, 600, 1000);
    let sb = Sandbox::new();
    let (first, second) = two_files(&sb, &records);
    assert_eq!(sb.import(&first).code, 0);
    let index = leadsprint::pipeline::index_dir(&sb.data_dir());
    let stale = sb.path("stale-index");
    crate::support::copy_dir(&index, &stale);
    let merged = sb.run(&["import", second.to_str().unwrap(), "--json"]).json();
    assert!(merged["totals"]["leads_merged"].as_u64().unwrap() > 10, "{merged}");
    // Put the index back as it was: the store is ahead by every merge.
    std::fs::remove_dir_all(&index).unwrap();
    crate::support::copy_dir(&stale, &index);
    let leads = sb.leads();
    assert_eq!(identities(&leads), bridges::partition(&records));
    assert_eq!(sb.searchable(), leads.len() as u64);
    assert_aliases_resolve(&sb, &leads);
    let merged_leads =
        leads.iter().filter(|l| l["absorbed"].as_array().is_some_and(|a| !a.is_empty())).count();
    assert_eq!(sb.run(&["search", "is:merged", "--json"]).json()["total"], merged_leads as u64);
}

/// `kill -9` at random moments of an import whose records merge leads: the store,
/// the key index and the search index agree after restart, no alias points at a
/// missing lead, and finishing the import gives the uninterrupted answer.
#[test]
fn kill_9_during_merges_leaves_store_keys_and_index_agreeing() {
    let records = bridges::records(9, 6000, 9000);
    let want = bridges::partition(&records);
    let baseline = Sandbox::new();
    let (first, second) = two_files(&baseline, &records);
    assert_eq!(baseline.import(&first).code, 0);
    let started = std::time::Instant::now();
    assert_eq!(baseline.import(&second).code, 0);
    let full = started.elapsed().as_millis() as u64;
    assert_eq!(identities(&baseline.leads()), want);
    let seed =
        std::env::var("LEADSPRINT_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(3, |d| d.as_nanos() as u64)
        });
    eprintln!("merge crash seed {seed} (LEADSPRINT_CRASH_SEED replays); the merging import takes {full} ms");
    let mut rng = seed;
    for trial in 0..4 {
        let sb = Sandbox::new();
        let (first, second) = two_files(&sb, &records);
        assert_eq!(sb.import(&first).code, 0);
        let started = std::time::Instant::now();
        let mut child = sb.command(&["import", second.to_str().unwrap()]).spawn().expect("spawn import");
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_millis((rng >> 33) % full.max(1));
        std::thread::sleep(delay);
        child.kill().expect("kill -9");
        let status = child.wait().expect("wait");
        eprintln!("trial {trial}: killed after {:?} ({status})", started.elapsed());
        assert_consistent(&sb);
        let leads = sb.leads();
        assert_eq!(sb.searchable(), leads.len() as u64, "trial {trial}: index vs store");
        assert_aliases_resolve(&sb, &leads);
        let run = sb.import(&second);
        assert_eq!(run.code, 0, "trial {trial}: {}", run.stderr);
        assert_eq!(identities(&sb.leads()), want, "trial {trial}: differs from an uninterrupted import");
        assert_eq!(sb.searchable(), want.len() as u64);
    }
}
