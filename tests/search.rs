//! Search end to end: known leads give exactly the expected hits and facet counts
//! for every query form; merged leads appear once; the index catches up after a
//! crash between store and index commit; `reindex` equals the incremental index;
//! hostile queries get a clear error.

use std::collections::BTreeSet;
use std::path::Path;

use leadsprint::catalog;
use leadsprint::pipeline::{self, Writer};
use leadsprint::search::{Request, Sort};
use leadsprint::store::Store;

use crate::support::{Sandbox, copy_dir, messy};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");

/// The fixture leads: seven from Apollo, then a ZoomInfo file with one new person
/// and one duplicate of Dana Wills (merged, adding a second email and vendor).
fn fixture() -> Sandbox {
    let sb = Sandbox::new();
    let apollo = sb.import(&Path::new(FIXTURES).join("apollo.csv"));
    assert_eq!(apollo.code, 0, "{}", apollo.stderr);
    let zoominfo = Path::new(FIXTURES).join("zoominfo.csv");
    let run = sb.run(&["import", zoominfo.to_str().unwrap(), "--vendor", "zoominfo"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    sb
}

/// Last names of every lead matching `query`, sorted.
fn last_names(data: &Path, query: &str) -> Vec<String> {
    let found = find(data, query, Sort::Relevance, 1000, 0, false);
    let mut names: Vec<String> = found.hits.iter().map(|h| h.last_name.clone().unwrap_or_default()).collect();
    names.sort();
    assert_eq!(found.total as usize, names.len(), "{query}: total vs hits");
    names
}

fn find(data: &Path, query: &str, sort: Sort, limit: usize, offset: usize, facets: bool) -> catalog::Found {
    let store = Store::open_existing(data).expect("open store");
    let (index, _) = pipeline::open_index(&store).expect("open index");
    let request = Request { sort, limit, offset, facets, ..Request::new(query, pipeline::now_millis()) };
    catalog::find(&store, &index, &request).unwrap_or_else(|e| panic!("{query}: {e}"))
}

#[test]
fn known_leads_give_exactly_the_expected_hits_for_each_query_form() {
    let sb = fixture();
    let all = ["Baker", "Berg", "Chen", "Haddad", "Núñez", "O'Brien", "Shah", "Wills"];
    let cases: &[(&str, &[&str])] = &[
        ("", &all),
        ("*", &all),
        // Free text over name, title, company, location, email; accents folded.
        ("marketing", &["Berg", "Haddad", "Núñez"]),
        ("acme", &["Berg", "Wills"]),
        ("jose", &["Núñez"]),
        ("NUNEZ", &["Núñez"]),
        ("o'brien", &["O'Brien"]),
        ("onerror", &["O'Brien"]),
        // Fields.
        ("title:ppc", &["Wills"]),
        ("title:manager", &["Baker", "Wills"]),
        ("name:núñez", &["Núñez"]),
        ("city:\"new york\"", &["Baker", "Haddad"]),
        ("city:chicago", &["Shah", "Wills"]),
        ("state:IL", &["Shah", "Wills"]),
        ("country:sweden", &["Berg"]),
        ("vendor:zoominfo", &["Baker", "Wills"]),
        ("workflow:import:zoominfo.csv", &["Baker", "Wills"]),
        ("domain:acme.com", &["Berg", "Wills"]),
        ("domain:@globex.io", &["Haddad"]),
        ("seniority:manager", &["Baker", "Haddad", "Wills"]),
        ("email_status:valid", &["Berg", "Wills"]),
        ("email_status:accept_all", &["Haddad"]),
        ("email_status:unknown", &["Baker", "Núñez", "O'Brien", "Shah"]),
        ("email:dwills@acme.com", &["Wills"]),
        ("linkedin:https://www.linkedin.com/in/mei-chen", &["Chen"]),
        ("linkedin:mei-chen", &["Chen"]),
        ("company:\"stark media\"", &["Baker"]),
        ("id:1", &["Wills"]),
        // Phrases, fuzzy, prefix.
        ("\"vp marketing\"", &["Núñez"]),
        ("\"marketing vp\"", &[]),
        ("markting~1", &["Berg", "Haddad", "Núñez"]),
        ("markting", &[]),
        ("title:market*", &["Berg", "Haddad", "Núñez", "O'Brien"]),
        // Boolean logic.
        ("title:ppc OR title:seo", &["Baker", "Wills"]),
        ("(city:chicago OR city:austin) AND has:email", &["Núñez", "Shah", "Wills"]),
        ("marketing NOT country:sweden", &["Haddad", "Núñez"]),
        ("marketing -country:sweden", &["Haddad", "Núñez"]),
        ("NOT vendor:apollo", &["Baker"]),
        // Ranges and presence.
        ("quality:<80", &["Núñez"]),
        ("quality:>=80 city:chicago", &["Shah", "Wills"]),
        ("quality:0..59", &["Núñez"]),
        ("created:>=2020-01-01", &all),
        ("created:<2020-01-01", &[]),
        ("created:>1h", &all),
        ("has:linkedin", &["Baker", "Berg", "Chen", "Haddad", "O'Brien", "Shah", "Wills"]),
        ("NOT has:email", &["Chen"]),
    ];
    let mut failures = Vec::new();
    for (query, expected) in cases {
        let got = last_names(&sb.data_dir(), query);
        if got != *expected {
            failures.push(format!("{query:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn facets_count_every_match() {
    let sb = fixture();
    let found = find(&sb.data_dir(), "", Sort::Relevance, 5, 0, true);
    assert_eq!(found.total, 8);
    assert_eq!(found.hits.len(), 5);
    let facets = serde_json::to_value(found.facets.expect("facets asked for")).unwrap();
    let pairs = |name: &str| -> Vec<(String, u64)> {
        facets[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["value"].as_str().unwrap().to_owned(), c["count"].as_u64().unwrap()))
            .collect()
    };
    let p = |v: &[(&str, u64)]| v.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect::<Vec<_>>();
    assert_eq!(pairs("vendor"), p(&[("apollo", 7), ("zoominfo", 2)]));
    assert_eq!(pairs("workflow"), p(&[("import:apollo.csv", 7), ("import:zoominfo.csv", 2)]));
    // "New York" and "new york" are one city, shown in the commoner (here: first) spelling.
    assert_eq!(
        pairs("city"),
        p(&[
            ("Chicago", 2),
            ("New York", 2),
            ("Austin", 1),
            ("Dublin", 1),
            ("San Francisco", 1),
            ("Stockholm", 1)
        ])
    );
    assert_eq!(pairs("country"), p(&[("United States", 6), ("Ireland", 1), ("Sweden", 1)]));
    assert_eq!(
        pairs("seniority"),
        p(&[("manager", 3), ("entry", 2), ("director", 1), ("head", 1), ("vp", 1)])
    );
    assert_eq!(pairs("company")[0], ("Acme Corp".to_owned(), 2));
    assert_eq!(pairs("email_status"), p(&[("unknown", 4), ("valid", 2), ("accept_all", 1)]));
    // An email not yet verified is worth 10 of its 20 points (José Núñez: 50).
    assert_eq!(pairs("quality"), p(&[("80-100", 7), ("60-79", 0), ("40-59", 1), ("0-39", 0)]));

    // Facets follow the query.
    let chicago = find(&sb.data_dir(), "city:chicago", Sort::Relevance, 5, 0, true);
    let facets = serde_json::to_value(chicago.facets.unwrap()).unwrap();
    assert_eq!(
        facets["vendor"],
        serde_json::json!([{"value": "apollo", "count": 2}, {"value": "zoominfo", "count": 1}])
    );
}

#[test]
fn sorting_and_paging() {
    let sb = fixture();
    let data = sb.data_dir();
    let by_quality = find(&data, "", Sort::Quality, 100, 0, false);
    let scores: Vec<u8> = by_quality.hits.iter().map(|h| h.quality).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert_eq!(by_quality.hits.last().and_then(|h| h.last_name.as_deref()), Some("Núñez"));
    // Pages of three cover every lead exactly once.
    let mut seen = BTreeSet::new();
    for offset in [0, 3, 6] {
        let page = find(&data, "", Sort::Quality, 3, offset, false);
        assert_eq!(page.total, 8);
        for h in page.hits {
            assert!(seen.insert(h.id), "lead {} on two pages", h.id);
        }
    }
    assert_eq!(seen.len(), 8);
    // Relevance: the name match outranks the email-domain match.
    let ranked = find(&data, "dana OR acme", Sort::Relevance, 10, 0, false);
    assert_eq!(ranked.hits.first().and_then(|h| h.last_name.as_deref()), Some("Wills"));
    assert!(ranked.hits.iter().all(|h| h.score.is_some()));
    // A fuzzy leaf counts, facets and ranks in one pass: the total is still every match.
    let one_pass = find(&data, "markting~1", Sort::Relevance, 1, 0, true);
    assert_eq!((one_pass.total, one_pass.hits.len()), (3, 1));
    assert!(one_pass.hits[0].score.is_some());
    let vendors = serde_json::to_value(one_pass.facets.expect("facets asked for")).unwrap()["vendor"].clone();
    let counted: u64 = vendors.as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert!(counted >= 3, "every match is in the facets: {vendors}");
}

#[test]
fn a_merged_lead_appears_once() {
    let sb = Sandbox::new();
    let (text, people) = messy::file(40);
    let file = sb.write("messy.csv", text);
    assert_eq!(sb.import(&file).code, 0);
    // Every person arrives six times; each is one document.
    let everyone = find(&sb.data_dir(), "", Sort::Relevance, 1000, 0, false);
    assert_eq!(everyone.total as usize, people);
    for i in [0, 1, 7, 39] {
        let p = messy::person(i);
        let found = find(&sb.data_dir(), &format!("linkedin:{}", p.slug), Sort::Relevance, 10, 0, false);
        assert_eq!(found.total, 1, "{}", p.slug);
        assert_eq!(found.hits[0].sources, 6, "{}", p.slug);
    }
    // Importing again changes nothing in the index either.
    assert_eq!(sb.import(&file).code, 0);
    assert_eq!(find(&sb.data_dir(), "", Sort::Relevance, 1, 0, false).total as usize, people);
}

/// The store and index, as one picture: for each query, the total and the set of
/// matching lead ids, and the facets of the empty query.
fn picture(data: &Path) -> Vec<(String, u64, BTreeSet<u64>)> {
    let queries = ["", "marketing", "vendor:zoominfo", "has:email", "quality:>=80", "NOT has:linkedin"];
    let mut out: Vec<_> = queries
        .iter()
        .map(|q| {
            let found = find(data, q, Sort::Quality, 1000, 0, false);
            (q.to_string(), found.total, found.hits.iter().map(|h| h.id).collect())
        })
        .collect();
    let facets = serde_json::to_string(&find(data, "", Sort::Relevance, 1, 0, true).facets).unwrap();
    out.push((facets, 0, BTreeSet::new()));
    out
}

#[test]
fn index_catches_up_after_a_crash_between_store_and_index_commit() {
    let sb = fixture();
    let data = sb.data_dir();
    let index_dir = pipeline::index_dir(&data);
    // Keep the index as it was after the first imports...
    let stale = sb.path("stale-index");
    copy_dir(&index_dir, &stale);
    let (text, _) = messy::file(30);
    let more = sb.write("more.csv", text);
    assert_eq!(sb.import(&more).code, 0);
    let expected = picture(&data);
    // ...then put it back: the store is ahead, as after a crash before the index commit.
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&stale, &index_dir);
    let store = Store::open_existing(&data).unwrap();
    let (_, caught_up) = pipeline::open_index(&store).unwrap();
    drop(store);
    assert!(!caught_up.rebuilt && caught_up.leads >= 30, "{caught_up:?}");
    assert_eq!(picture(&data), expected);

    // An index ahead of the store (the store restored from a backup) is rebuilt.
    let fresh = fixture();
    std::fs::remove_dir_all(pipeline::index_dir(&fresh.data_dir())).unwrap();
    copy_dir(&index_dir, &pipeline::index_dir(&fresh.data_dir()));
    let store = Store::open_existing(&fresh.data_dir()).unwrap();
    let (_, caught_up) = pipeline::open_index(&store).unwrap();
    drop(store);
    assert!(caught_up.rebuilt, "{caught_up:?}");
    assert_eq!(find(&fresh.data_dir(), "", Sort::Relevance, 1, 0, false).total, 8);

    // A damaged index is rebuilt, not trusted.
    std::fs::write(index_dir.join("meta.json"), b"{ not json").unwrap();
    assert_eq!(picture(&data), expected);
}

#[test]
fn reindex_equals_the_incremental_index() {
    let sb = fixture();
    let (text, _) = messy::file(50);
    let file = sb.write("messy.csv", text);
    assert_eq!(sb.import(&file).code, 0);
    let incremental = picture(&sb.data_dir());
    let run = sb.run(&["reindex"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let unique = sb.stats()["unique_leads"].as_u64().unwrap();
    assert!(run.stderr.contains(&format!("indexed {unique} leads")), "{}", run.stderr);
    assert_eq!(picture(&sb.data_dir()), incremental);
}

#[test]
fn new_leads_become_searchable_while_the_writer_runs() {
    let sb = fixture();
    let mut writer = Writer::new(Store::open_existing(&sb.data_dir()).unwrap()).unwrap();
    let index = writer.search_index();
    let (text, people) = messy::file(5);
    let file = sb.write("five.csv", text);
    let options = leadsprint::import::ImportOptions::default();
    pipeline::run(&mut writer, |send| leadsprint::import::read_file(&file, &options, &|_| {}, send))
        .unwrap()
        .unwrap();
    // The writer is still open: the index thread commits on its own within COMMIT_EVERY.
    let started = std::time::Instant::now();
    let request = Request::new("", pipeline::now_millis());
    while index.search(&request).unwrap().total < 8 + people as u64 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "new leads never became searchable");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("searchable {:?} after the store commit", started.elapsed());
    writer.finish().unwrap();
}

#[test]
fn search_command_prints_json_and_a_table() {
    let sb = fixture();
    let json = sb.run(&["search", "city:chicago", "--json", "--facets", "--sort", "quality"]).json();
    assert_eq!(json["total"], 2);
    let hit = &json["hits"][0];
    for field in ["id", "name", "first_name", "last_name", "title", "company", "city", "email", "quality"] {
        assert!(hit.get(field).is_some(), "hit lacks {field}: {hit}");
    }
    assert_eq!(json["facets"]["vendor"][0], serde_json::json!({"value": "apollo", "count": 2}));
    let table = sb.run(&["search", "title:ppc"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("1 leads match"), "{}", table.stdout);
    assert!(table.stdout.contains("Dana Wills") && table.stdout.contains("PPC Manager"), "{}", table.stdout);
    // Hostile strings are printed as their characters.
    let xss = sb.run(&["search", "onerror", "--json"]).json();
    assert_eq!(xss["hits"][0]["first_name"], "<img src=x onerror=alert(1)>");
}

#[test]
fn hostile_queries_get_a_clear_error() {
    let sb = fixture();
    let long = "marketing ".repeat(10_240);
    let cases: &[(&str, &str)] = &[
        ("title:\"vp marketing", "never closed"),
        ("(ppc OR sem", "never closed"),
        ("titel:ppc", "did you mean 'title'"),
        ("ppc\u{1b}[31m", "control character U+001B"),
        (&long, "limit is 8192"),
        ("quality:>=high", "whole number"),
    ];
    for (query, needle) in cases {
        let run = sb.run(&["search", query]);
        assert_eq!(run.code, 1, "{query:.40}: {}", run.stdout);
        assert!(run.stderr.contains(needle), "{query:.40}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

/// `demo --fresh` starts a new store: the index and the CRM export watermarks of the
/// old one (which name its lead ids) go with it, and the new index matches the new store.
#[test]
fn demo_fresh_clears_what_was_derived_from_the_old_store() {
    let sb = Sandbox::new();
    let demo = |extra: &[&str]| {
        let mut args = vec!["demo", "--headless", "--target", "300", "--speed", "200"];
        args.extend_from_slice(extra);
        let run = sb.run(&args);
        assert!(matches!(run.code, 0 | 3), "demo failed: {}{}", run.stdout, run.stderr);
    };
    demo(&[]);
    assert_eq!(Some(sb.searchable()), sb.stats()["unique_leads"].as_u64());
    let exports = sb.data_dir().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    std::fs::write(exports.join("hubspot.json"), r#"{"filter":"","last_lead_id":250,"complete":false}"#)
        .unwrap();
    demo(&["--fresh"]);
    assert!(!exports.exists(), "a watermark of the old store survived --fresh");
    assert_eq!(Some(sb.searchable()), sb.stats()["unique_leads"].as_u64());
}
