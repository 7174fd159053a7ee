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

/// Every absorbed id is no lead of its own and resolves to the lead listing it — in
/// search too: `id:N` of an absorbed lead finds that lead, and nothing else (a
/// leftover document of the absorbed lead would show up under its own id).
fn assert_aliases_resolve(sb: &Sandbox, leads: &[Value]) {
    let live: BTreeSet<u64> = leads.iter().filter_map(|l| l["id"].as_u64()).collect();
    let mut survivor_of = std::collections::BTreeMap::new();
    for lead in leads {
        for absorbed in lead["absorbed"].as_array().into_iter().flatten() {
            let id = absorbed["id"].as_u64().unwrap();
            assert!(!live.contains(&id), "absorbed lead {id} still stands alone");
            survivor_of.insert(id, lead["id"].as_u64().unwrap());
        }
    }
    let absorbed: Vec<u64> = survivor_of.keys().copied().collect();
    for chunk in absorbed.chunks(200) {
        let query: Vec<String> = chunk.iter().map(|id| format!("id:{id}")).collect();
        let found = sb.run(&["search", &query.join(" OR "), "--json", "--limit", "1000"]).json();
        let hits: BTreeSet<u64> =
            found["hits"].as_array().unwrap().iter().filter_map(|h| h["id"].as_u64()).collect();
        let want: BTreeSet<u64> = chunk.iter().map(|id| survivor_of[id]).collect();
        assert_eq!(hits, want, "absorbed ids must find their survivors, and only them");
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

/// Two people exported to HubSpot, then a record shows they are one: the next
/// export merges the two contacts through HubSpot's merge endpoint, once.
#[test]
fn hubspot_contacts_of_merged_leads_are_merged_there_once() {
    use crate::support::crm::{FakeHubSpot, TOKEN};
    let fake = FakeHubSpot::start();
    let sb = Sandbox::new();
    let people = "First Name,Last Name,Title,Company,Email,Person Linkedin Url\n\
        Dana,Wills,PPC Manager,Acme,dana@acme.com,\n\
        Dana,Wills,PPC Manager,Acme,dana.wills@gmail.com,https://www.linkedin.com/in/dana-wills\n";
    assert_eq!(sb.import(&sb.write("people.csv", people)).code, 0);
    let hubspot = |sb: &Sandbox| crate::support::crm::export(sb, &fake, TOKEN, &[]).json();
    assert_eq!(hubspot(&sb)["created"], 2);
    let bridge =
        "First Name,Email,Person Linkedin Url\nDana,dana@acme.com,https://www.linkedin.com/in/dana-wills\n";
    assert_eq!(sb.import(&sb.write("bridge.csv", bridge)).code, 0);
    assert_eq!(sb.stats()["unique_leads"], 1);
    let second = hubspot(&sb);
    assert_eq!(second["merged"].as_array().map(Vec::len), Some(1), "{second}");
    {
        let hub = fake.hub.lock().unwrap();
        assert_eq!(hub.contacts.len(), 1, "one person, one contact");
        assert_eq!(hub.merges.len(), 1);
        assert_eq!(hub.contacts["dana@acme.com"].1["hs_additional_emails"], "dana.wills@gmail.com");
    }
    let report = std::fs::read_to_string(sb.path("hubspot-report.csv")).unwrap();
    assert!(report.contains(",merged,"), "{report}");
    let third = hubspot(&sb);
    assert_eq!(third["merged"].as_array().map(Vec::len), Some(0), "{third}");
    assert_eq!(fake.hub.lock().unwrap().merges.len(), 1, "a rerun merges nothing again");
}

/// One person in three vendors' exports (Apollo CSV, a Sales Navigator export, a
/// Bright Data snapshot), plus two others.
fn three_vendor_files(sb: &Sandbox) -> Vec<std::path::PathBuf> {
    let apollo = "First Name,Last Name,Title,Company,Email,Person Linkedin Url,Apollo Contact Id,Website\n\
        Dana,Wills,PPC Manager,Acme,dana@acme.com,https://www.linkedin.com/in/dana-forgotten,64a7ff0cc4dfae00013df1a5,acme.com\n\
        Ann,Lee,Paid Media Lead,Other,ann@other.com,https://www.linkedin.com/in/ann-lee,,other.com\n\
        Zed,Zane,CMO,Blocked,zed@blocked.com,https://www.linkedin.com/in/zed-zane,,blocked.com\n";
    let salesnav = "firstName,lastName,title,companyName,profileUrl,vmid\n\
        Dana,Wills,PPC Manager,Acme,https://www.linkedin.com/in/dana-forgotten/,ACwAAAbc123\n";
    let brightdata = r#"[{"id":"dana-forgotten","linkedin_num_id":"245026690","url":"https://www.linkedin.com/in/dana-forgotten","name":"Dana Wills",
        "first_name":"Dana","last_name":"Wills","position":"PPC Manager at Acme","city":"Chicago, Illinois, United States"}]"#;
    vec![
        sb.write("apollo.csv", apollo),
        sb.write("salesnav.csv", salesnav),
        sb.write("snapshot.json", brightdata),
    ]
}

fn import_all(sb: &Sandbox, files: &[std::path::PathBuf]) -> Value {
    let mut args = vec!["import", "--json"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    sb.run(&args).json()
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[test]
fn a_forgotten_person_stays_out_for_good_and_keeps_no_readable_key() {
    let sb = Sandbox::new();
    let files = three_vendor_files(&sb);
    import_all(&sb, &files);
    assert_eq!(sb.stats()["unique_leads"], 3, "the three exports of Dana are one lead");
    let forgot = sb.run(&["forget", "dana@acme.com", "--json"]).json();
    assert_eq!(forgot["erased_leads"].as_array().map(Vec::len), Some(1), "{forgot}");
    let keys = "email, LinkedIn URL, Apollo ID, Bright Data ID, two LinkedIn member IDs";
    assert_eq!(forgot["tombstones"], 6, "{keys}: {forgot}");
    let stats = sb.stats();
    assert_eq!((stats["unique_leads"].as_u64(), stats["leads_erased"].as_u64()), (Some(2), Some(1)));
    // The three vendors send Dana again: every record is dropped as erased.
    let again = import_all(&sb, &files);
    assert_eq!(again["totals"]["erased"], 3, "{again}");
    assert_eq!(again["totals"]["new_leads"], 0);
    assert_eq!(sb.stats()["unique_leads"], 2);
    assert_eq!(sb.run(&["search", "dana", "--json"]).json()["total"], 0);
    assert!(sb.leads().iter().all(|l| l["first_name"] != "Dana"));
    // Nothing stored holds a readable key of Dana's: not the store's tables (the
    // tombstones are salted hashes), not the search index's files.
    let store = leadsprint::store::Store::open_existing(&sb.data_dir()).unwrap();
    let reader = store.reader().unwrap();
    let (salt, tombstones) = reader.tombstones().unwrap();
    assert_eq!((salt.map(|s| s.len()), tombstones.len()), (Some(32), 6));
    let readable =
        ["dana@acme.com", "dana-forgotten", "64a7ff0cc4dfae00013df1a5", "acwaaabc123", "245026690"];
    for hash in &tombstones {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            readable.iter().all(
                |k| !hex.contains(k) && !k.as_bytes().windows(4).any(|w| hash.windows(4).any(|h| h == w))
            )
        );
    }
    assert!(reader.splits().unwrap().is_empty() && reader.quarantine().unwrap().count() == 0);
    drop(reader);
    drop(store);
    for (path, bytes) in files_under(&leadsprint::pipeline::index_dir(&sb.data_dir())) {
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        for key in ["dana-forgotten", "acwaaabc123", "245026690"] {
            assert!(!text.contains(key), "{} still holds {key}", path.display());
        }
    }
    // An unknown key is tombstoned all the same, and said so.
    let unknown = sb.run(&["forget", "nobody@acme.com", "--json"]).json();
    assert_eq!(unknown["not_found"][0], "e:nobody@acme.com");
    assert_eq!(sb.run(&["forget", "not a key"]).code, 1);
}

#[test]
fn a_suppressed_domain_is_left_out_of_every_export_and_dropped_when_it_comes_again() {
    use crate::support::crm::{FakeHubSpot, TOKEN};
    let sb = Sandbox::new();
    let files = three_vendor_files(&sb);
    import_all(&sb, &files);
    let listed = sb.write("dnc.csv", "Name,Email,Domain\nZed,,blocked.com\nNobody,,\n");
    let run = sb.run(&["suppress", "import", listed.to_str().unwrap()]);
    assert_eq!(run.code, 3, "a row without an entry is reported: {}", run.stderr);
    assert!(run.stderr.contains("dnc.csv line 3: no entry"), "{}", run.stderr);
    assert_eq!(sb.run(&["suppress", "list", "--json"]).json()["entries"][0]["entry"], "@blocked.com");
    // Still stored, and marked.
    assert_eq!(sb.stats()["unique_leads"], 3);
    let zed = sb.run(&["search", "zed", "--json"]).json();
    assert_eq!(zed["total"], 1);
    // Left out of CSV and JSONL, and counted.
    for format in ["csv", "jsonl"] {
        let out = sb.path(&format!("out.{format}"));
        let run = sb.run(&["export", format, "--out", out.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains("blocked.com") && text.contains("ann@other.com"), "{format}: {text}");
        assert!(run.stderr.contains("1 on the do-not-contact list left out"), "{}", run.stderr);
    }
    // Never sent to HubSpot.
    let fake = FakeHubSpot::start();
    let sent = crate::support::crm::export(&sb, &fake, TOKEN, &[]).json();
    assert_eq!((sent["created"].as_u64(), sent["suppressed"].as_u64()), (Some(2), Some(1)), "{sent}");
    assert!(!fake.hub.lock().unwrap().contacts.contains_key("zed@blocked.com"));
    // New records at the domain are dropped and counted.
    let more = sb.write("more.csv", "First Name,Email\nYan,yan@blocked.com\nBo,bo@fresh.com\n");
    let totals = sb.run(&["import", more.to_str().unwrap(), "--json"]).json()["totals"].clone();
    assert_eq!((totals["suppressed"].as_u64(), totals["new_leads"].as_u64()), (Some(1), Some(1)), "{totals}");
    assert_eq!(sb.stats()["suppressed"], 1);
    // Removed from the list, the lead exports again.
    let removed = sb.run(&["suppress", "remove", "@blocked.com", "--json"]).json();
    assert_eq!(removed["removed"][0], "@blocked.com");
    let out = sb.path("again.csv");
    assert_eq!(sb.run(&["export", "csv", "--out", out.to_str().unwrap()]).code, 0);
    assert!(std::fs::read_to_string(&out).unwrap().contains("zed@blocked.com"));
}

/// PostgreSQL follows the store: a bridging record's absorbed row goes in the
/// same export that updates the survivor (no unique-index refusal), suppressed
/// and erased leads' rows are deleted, and the row count is the unique leads.
#[test]
fn postgres_rows_follow_merges_suppression_and_erasure() {
    use crate::support::postgres::Postgres;
    let pg = Postgres::start();
    let sb = Sandbox::new();
    let people = "First Name,Last Name,Title,Company,Email,Person Linkedin Url\n\
        Dana,Wills,PPC Manager,Acme,dana@acme.com,\n\
        Dana,Wills,PPC Manager,Acme,dana.wills@gmail.com,https://www.linkedin.com/in/dana-wills\n\
        Zed,Zane,CMO,Blocked,zed@blocked.com,https://www.linkedin.com/in/zed-zane\n\
        Ann,Lee,Paid Media Lead,Other,ann@other.com,https://www.linkedin.com/in/ann-lee\n";
    assert_eq!(sb.import(&sb.write("people.csv", people)).code, 0);
    let export = |sb: &Sandbox| sb.run(&["export", "postgres", "--url", &pg.url, "--json"]).json();
    let rows = |sql: &str| pg.value(sql).and_then(|v| v.parse::<u64>().ok()).unwrap_or(u64::MAX);
    assert_eq!(export(&sb)["inserted"], 4);
    // The bridge: Dana's two leads become one; the survivor takes the gmail key the
    // absorbed row holds in the table's unique index.
    let bridge =
        "First Name,Email,Person Linkedin Url\nDana,dana@acme.com,https://www.linkedin.com/in/dana-wills\n";
    assert_eq!(sb.import(&sb.write("bridge.csv", bridge)).code, 0);
    let second = export(&sb);
    assert_eq!(second["failed"].as_array().map(Vec::len), Some(0), "{second}");
    assert_eq!(second["deleted_merged"], 1, "{second}");
    assert_eq!(rows("SELECT count(*) FROM performance_marketers"), 3);
    assert_eq!(
        rows("SELECT count(*) FROM performance_marketers WHERE lead_id = 2"),
        0,
        "the absorbed row is gone"
    );
    assert_eq!(
        pg.value("SELECT merged_ids::text FROM performance_marketers WHERE lead_id = 1").as_deref(),
        Some("{2}")
    );
    assert_eq!(
        rows("SELECT count(*) FROM performance_marketers WHERE 'danawills@gmail.com' = ANY(emails)"),
        1
    );
    // Suppressed and erased leads leave the table.
    assert_eq!(sb.run(&["suppress", "add", "@blocked.com"]).code, 0);
    assert_eq!(sb.run(&["forget", "ann@other.com"]).code, 0);
    let third = export(&sb);
    assert_eq!(
        (third["deleted_suppressed"].as_u64(), third["deleted_erased"].as_u64()),
        (Some(1), Some(1)),
        "{third}"
    );
    assert_eq!(third["suppressed"], 1);
    assert_eq!(rows("SELECT count(*) FROM performance_marketers"), 1);
    assert_eq!(
        rows("SELECT count(*) FROM performance_marketers"),
        sb.stats()["unique_leads"].as_u64().unwrap() - 1
    );
    // A rerun changes nothing.
    let fourth = export(&sb);
    assert_eq!((fourth["inserted"].as_u64(), fourth["updated"].as_u64()), (Some(0), Some(0)), "{fourth}");
}
