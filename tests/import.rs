//! Import through de-duplication into the store: identity rules end to end, idempotence,
//! bad rows to quarantine, hostile strings, exports.

use crate::support::{Sandbox, assert_consistent, identities, messy};

#[test]
fn messy_file_imports_to_exactly_the_people_in_it() {
    let sb = Sandbox::new();
    let (text, people) = messy::file(60);
    let file = sb.write("messy.csv", text);
    let run = sb.import(&file);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let stats = sb.stats();
    assert_eq!(stats["unique_leads"], people as u64, "{stats}");
    assert_eq!(stats["records_received"], (60 * 6 + 7) as u64);
    assert_eq!(stats["duplicates_merged"], (60 * 5) as u64);
    assert_eq!(stats["conflicts"], 0);
    assert_consistent(&sb);
    // Every lead of a generated person holds exactly that person's canonical keys.
    let leads = sb.leads();
    for i in 0..60 {
        let p = messy::person(i);
        let slug = p.slug.clone();
        let lead = leads
            .iter()
            .find(|l| l["identity"]["linkedin_urls"][0] == format!("linkedin.com/in/{slug}"))
            .unwrap_or_else(|| panic!("no lead for {slug}"));
        let ids: Vec<&str> =
            lead["identity"]["profile_ids"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(ids, [format!("apollo:{}", p.apollo), format!("li:{}", p.member)], "{slug}");
        assert_eq!(lead["identity"]["linkedin_urls"].as_array().unwrap().len(), 1, "{slug}");
        assert_eq!(lead["identity"]["emails"].as_array().unwrap().len(), 1, "{slug}");
        assert_eq!(lead["sources"].as_array().unwrap().len(), 6, "{slug}");
    }
    // The role mailbox is stored but names nobody.
    let role: Vec<_> = leads.iter().filter(|l| l["email"] == "info@acme0.com").collect();
    assert_eq!(role.len(), 2);
    assert!(role.iter().all(|l| l["identity"]["emails"].as_array().unwrap().is_empty()));
}

#[test]
fn importing_the_same_file_twice_adds_nothing() {
    let sb = Sandbox::new();
    let (text, people) = messy::file(30);
    let file = sb.write("messy.csv", text);
    assert_eq!(sb.import(&file).code, 0);
    let first = sb.leads();
    let run = sb.run(&["import", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(run["totals"]["new_leads"], 0);
    assert_eq!(run["totals"]["duplicates_unchanged"], 30 * 6 + 7);
    let second = sb.leads();
    assert_eq!(second.len(), people);
    assert_eq!(first, second, "a re-import must not change any lead");
    assert_eq!(sb.stats()["records_received"], 2 * (30 * 6 + 7));
}

#[test]
fn bad_rows_go_to_quarantine_and_good_rows_still_import() {
    let sb = Sandbox::new();
    let huge = "x".repeat(70 * 1024);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"First Name,Last Name,Email,LinkedIn URL\n");
    bytes.extend_from_slice(b"Ann,One,ann@acme.com,https://www.linkedin.com/in/ann-one\n");
    bytes.extend_from_slice(b"Too,Many,too@acme.com,https://www.linkedin.com/in/too,extra\n");
    bytes.extend_from_slice(b"Bad,\xff\xfeUtf8,bad@acme.com,https://www.linkedin.com/in/bad-utf8\n");
    bytes.extend_from_slice(
        format!("Huge,{huge},huge@acme.com,https://www.linkedin.com/in/huge\n").as_bytes(),
    );
    bytes.extend_from_slice(b"No,Keys,info@acme.com,https://acme.com/team\n");
    bytes.extend_from_slice(b"Too,Few\n");
    bytes.extend_from_slice(b"Bob,Two,bob@acme.com,https://www.linkedin.com/in/bob-two\n");
    let file = sb.write("mixed.csv", &bytes);
    let run = sb.import(&file);
    assert_eq!(run.code, 3, "exit code 3 says rows were quarantined\n{}", run.stdout);
    assert!(run.stdout.contains("leadsprint quarantine"), "{}", run.stdout);
    assert_eq!(sb.stats()["unique_leads"], 2);
    let q = sb.quarantine();
    let got: Vec<(String, String)> = q
        .iter()
        .map(|e| (e["position"].as_str().unwrap().to_owned(), e["kind"].as_str().unwrap().to_owned()))
        .collect();
    let want = [
        ("line 3", "wrong field count"),
        ("line 4", "invalid UTF-8"),
        ("line 5", "field over 64 KiB"),
        ("line 6", "no identity key"),
        ("line 7", "wrong field count"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    for e in &q {
        assert!(e["origin"].as_str().unwrap().ends_with("mixed.csv"));
        assert!(!e["reason"].as_str().unwrap().is_empty());
    }
    // The raw row is kept whole, even the 70 KiB one.
    assert!(q[2]["raw_bytes"].as_u64().unwrap() > 70 * 1024);
    assert!(q[0]["raw"].as_str().unwrap().contains("extra"));
    assert!(q[3]["reason"].as_str().unwrap().contains("linkedin_url"), "{}", q[3]["reason"]);
    assert_eq!(sb.stats()["quarantined"], 5);
}

#[test]
fn hostile_strings_round_trip_safely() {
    let sb = Sandbox::new();
    let names = [
        "<img src=x onerror=alert(1)>",
        "\u{202e}evil\u{202c} Name",
        "Zoë 🚀 Ünïcödé",
        "=HYPERLINK(\"http://x\")",
        "@SUM(A1:A9)",
        "Robert'); DROP TABLE leads;--",
    ];
    let mut csv_text = String::from("first_name,last_name,linkedin_url,job_title\n");
    for (i, name) in names.iter().enumerate() {
        let quoted = name.replace('"', "\"\"");
        csv_text
            .push_str(&format!("\"{quoted}\",Last,https://www.linkedin.com/in/h{i},\"Tab\there\u{7}\"\n"));
    }
    let megabyte = "🚀".repeat(256 * 1024);
    let big_row = format!("Big,{megabyte},https://www.linkedin.com/in/big,CMO\n");
    csv_text.push_str(&big_row);
    let file = sb.write("hostile.csv", csv_text);
    assert_eq!(sb.import(&file).code, 3, "the 1 MB row is quarantined");
    let q = sb.quarantine();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["raw_bytes"].as_u64(), Some(big_row.len() as u64), "the 1 MB row is kept whole");
    let leads = sb.leads();
    let firsts: Vec<&str> = leads.iter().map(|l| l["first_name"].as_str().unwrap()).collect();
    assert_eq!(firsts, names, "JSONL export keeps every character the import kept");
    assert!(
        leads.iter().all(|l| l["job_title"] == "Tab here"),
        "control characters are dropped, white space folded"
    );
    // CSV export: formulas neutralised, everything else verbatim.
    let out = sb.path("out.csv");
    assert_eq!(sb.run(&["export", "csv", "--out", out.to_str().unwrap()]).code, 0);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let col = reader.headers().unwrap().iter().position(|h| h == "first_name").unwrap();
    let cells: Vec<String> = reader.records().map(|r| r.unwrap()[col].to_owned()).collect();
    assert_eq!(cells[0], names[0]);
    assert_eq!(cells[1], names[1]);
    assert_eq!(cells[3], format!("'{}", names[3]));
    assert_eq!(cells[4], format!("'{}", names[4]));
}

#[test]
fn export_filters_by_quality_and_writes_identity() {
    let sb = Sandbox::new();
    let file = sb.write(
        "q.csv",
        "first_name,last_name,job_title,email,linkedin_url,company_name,company_domain,company_industry\n\
         Ann,One,CMO,ann@acme.com,https://www.linkedin.com/in/ann,Acme,acme.com,Retail\n\
         ,,,bob@acme.com,,,,\n",
    );
    assert_eq!(sb.import(&file).code, 0);
    let out = sb.path("top.jsonl");
    let run = sb.run(&["export", "jsonl", "--out", out.to_str().unwrap(), "--min-quality", "80"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("wrote 1 leads"), "{}", run.stderr);
    let line = std::fs::read_to_string(&out).unwrap();
    let lead: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(lead["quality"]["score"], 90, "an email nobody verified is worth 10 of 20");
    assert_eq!(
        identities(std::slice::from_ref(&lead)),
        [vec!["ann@acme.com".to_owned(), "linkedin.com/in/ann".to_owned()]]
    );
    assert_eq!(lead["sources"][0]["workflow"], "import:q.csv");
    let stats = sb.stats();
    assert_eq!(stats["qualified_leads"], 1);
    assert_eq!(stats["avg_quality"], 50.0, "(90 + 10) / 2");
    assert_eq!(stats["email_availability"], 100.0);
    assert_eq!(stats["company_completeness"], 50.0);
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused_clearly() {
    let sb = Sandbox::new();
    let missing = sb.run(&["stats"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no store in"), "{}", missing.stderr);
    assert!(!sb.data_dir().exists(), "a read command must not create a data dir");
    let store = leadsprint::store::Store::open(&sb.data_dir()).unwrap();
    let run = sb.run(&["stats"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("in use by another leadsprint process"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("pid {}", std::process::id())), "{}", run.stderr);
    drop(store);
    assert_eq!(sb.run(&["stats"]).code, 0);
}

#[test]
fn unknown_columns_get_a_clear_error_and_map_fixes_it() {
    let sb = Sandbox::new();
    let file = sb.write("odd.csv", "Vorname,Nachname,E-Post\nAnn,One,ann@acme.com\n");
    let run = sb.import(&file);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no column identifies a person"), "{}", run.stderr);
    assert!(run.stderr.contains("--map"), "{}", run.stderr);
    let run =
        sb.run(&["import", file.to_str().unwrap(), "--map", "E-Post=email", "--map", "Vorname=first_name"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(sb.leads()[0]["first_name"], "Ann");
    let bad = sb.run(&["import", file.to_str().unwrap(), "--map", "E-Post=mail"]);
    assert!(bad.stderr.contains("unknown field \"mail\""), "{}", bad.stderr);
}

/// Regression: exporting to a pipe or device (e.g. `/dev/null`) renamed a temporary
/// file over it, replacing the device with a regular file.
#[test]
fn export_to_a_pipe_writes_through_it_and_keeps_it() {
    use std::os::unix::fs::FileTypeExt;
    let sb = Sandbox::new();
    let (text, people) = messy::file(5);
    assert_eq!(sb.import(&sb.write("five.csv", text)).code, 0);
    let fifo = sb.path("leads.pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the pipe"))
    };
    let run = sb.run(&["export", "csv", "--out", fifo.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = reader.join().expect("reader thread");
    assert_eq!(text.lines().count(), people + 1, "header + one line per lead");
    let kind = std::fs::metadata(&fifo).expect("still there").file_type();
    assert!(kind.is_fifo(), "the pipe was replaced by {kind:?}");
}
