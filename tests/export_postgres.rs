//! `export postgres` against a real PostgreSQL (a throwaway cluster, or
//! `DATABASE_URL`): rows equal the unique leads, a second export changes nothing,
//! `kill -9` mid-export then a rerun gives the same rows, hostile strings round-trip,
//! NULL emails never collide, conflicts are reported per lead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::postgres::Postgres;
use crate::support::{Sandbox, messy};

fn export(sb: &Sandbox, pg: &Postgres, extra: &[&str]) -> Value {
    let mut args = vec!["export", "postgres", "--url", &pg.url, "--json"];
    args.extend_from_slice(extra);
    sb.run(&args).json()
}

fn count(pg: &Postgres, sql: &str) -> u64 {
    pg.value(sql).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

/// Every row's content (not the export time), in lead order, as one text.
fn table_picture(pg: &Postgres) -> String {
    let rows = pg.query("SELECT to_jsonb(t) - 'exported_at' FROM performance_marketers t ORDER BY lead_id");
    rows.into_iter().map(|r| r[0].clone().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

#[test]
fn rows_equal_the_unique_leads_and_a_second_export_changes_nothing() {
    let pg = Postgres::start();
    let sb = Sandbox::new();
    let (text, people) = messy::file(60);
    assert_eq!(sb.import(&sb.write("messy.csv", text)).code, 0);
    let first = export(&sb, &pg, &[]);
    assert_eq!(first["inserted"], people as u64, "{first}");
    assert_eq!(count(&pg, "SELECT count(*) FROM performance_marketers"), people as u64);
    assert_eq!(count(&pg, "SELECT count(DISTINCT lead_id) FROM performance_marketers"), people as u64);
    let before = pg.value("SELECT string_agg(xmin::text, ',' ORDER BY lead_id) FROM performance_marketers");
    let second = export(&sb, &pg, &[]);
    assert_eq!((second["inserted"].as_u64(), second["updated"].as_u64()), (Some(0), Some(0)), "{second}");
    assert_eq!(second["unchanged"], people as u64);
    let after = pg.value("SELECT string_agg(xmin::text, ',' ORDER BY lead_id) FROM performance_marketers");
    assert_eq!(before, after, "a second export rewrote rows");
    // After a re-import that adds a source to every lead and one new person: one
    // insert, every other lead updated (its sources changed), in place.
    let (more, more_people) = messy::file(61);
    assert_eq!(sb.import(&sb.write("more.csv", more)).code, 0);
    let third = export(&sb, &pg, &[]);
    let new = (more_people - people) as u64;
    assert_eq!(
        (third["inserted"].as_u64(), third["updated"].as_u64()),
        (Some(new), Some(people as u64)),
        "{third}"
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM performance_marketers"), more_people as u64);
}

#[test]
fn hostile_and_unicode_strings_round_trip_and_null_emails_do_not_collide() {
    let pg = Postgres::start();
    let sb = Sandbox::new();
    let csv = "First Name,Last Name,Title,Company,Email,Person Linkedin Url\n\
        Zoë,\"O'Brien; DROP TABLE performance_marketers;--\",\"Head of \"\"Growth\"\" \\N\",Ünïcödé GmbH 🚀,zoe@x.de,https://www.linkedin.com/in/zoe\n\
        محمد,الأحمد,مدير التسويق,شركة,,https://www.linkedin.com/in/mohammed-a\n\
        <script>alert(1)</script>,\\\\back\\slash,=cmd|' /C calc'!A0,\"tab\tand, comma\",,https://www.linkedin.com/in/xss\n\
        Wei,Zhang,增长经理,腾讯,,https://www.linkedin.com/in/wei-zhang\n";
    assert_eq!(sb.import(&sb.write("hostile.csv", csv)).code, 0);
    let report = export(&sb, &pg, &[]);
    assert_eq!(report["inserted"], 4, "{report}");
    // Three leads without an email: NULL keys stay distinct.
    assert_eq!(count(&pg, "SELECT count(*) FROM performance_marketers WHERE email_key IS NULL"), 3);
    let leads = sb.leads();
    for lead in &leads {
        let id = lead["id"].as_u64().unwrap();
        let row = &pg.query(&format!(
            "SELECT first_name, last_name, job_title, company_name, linkedin_url FROM performance_marketers WHERE lead_id = {id}"
        ))[0];
        let expected = [
            &lead["first_name"],
            &lead["last_name"],
            &lead["job_title"],
            &lead["company"]["name"],
            &lead["linkedin_url"],
        ];
        for (got, want) in row.iter().zip(expected) {
            assert_eq!(got.as_deref(), want.as_str(), "lead {id}");
        }
    }
    assert_eq!(count(&pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'performance_marketers'"), 1);
}

#[test]
fn kill_9_mid_export_then_rerun_gives_the_same_rows() {
    let sb = Sandbox::new();
    let (text, people) = messy::file(3000);
    assert_eq!(sb.import(&sb.write("big.csv", text)).code, 0);
    let baseline = Postgres::start();
    export(&sb, &baseline, &["--batch", "100"]);
    let expected = table_picture(&baseline);
    drop(baseline);

    let pg = Postgres::start();
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.subsec_micros() as u64);
    let delay = Duration::from_millis(150 + seed % 700);
    eprintln!("killing the export after {delay:?}");
    let mut child = sb
        .command(&["export", "postgres", "--url", &pg.url, "--batch", "100"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn export");
    std::thread::sleep(delay);
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let partial = count(&pg, "SELECT count(*) FROM performance_marketers");
    eprintln!("{partial} of {people} rows were committed before the kill");
    let rerun = export(&sb, &pg, &["--batch", "100"]);
    if partial > 0 && partial < people as u64 {
        assert!(rerun["resumed_after"].as_u64().is_some(), "{rerun}");
    }
    assert_eq!(count(&pg, "SELECT count(*) FROM performance_marketers"), people as u64);
    assert_eq!(table_picture(&pg), expected, "rows differ from an uninterrupted export");
}

#[test]
fn dry_run_counts_and_changes_nothing() {
    let pg = Postgres::start();
    let sb = Sandbox::new();
    let (text, people) = messy::file(20);
    assert_eq!(sb.import(&sb.write("messy.csv", text)).code, 0);
    let report = export(&sb, &pg, &["--dry-run"]);
    assert_eq!(report["inserted"], people as u64);
    assert_eq!(report["dry_run"], true);
    assert_eq!(count(&pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'performance_marketers'"), 0);
}

#[test]
fn filters_and_a_custom_table() {
    let pg = Postgres::start();
    let sb = Sandbox::new();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
    assert_eq!(sb.import(std::path::Path::new(&format!("{fixtures}/apollo.csv"))).code, 0);
    let report =
        export(&sb, &pg, &["--table", "crm_leads", "--query", "city:chicago", "--min-quality", "80"]);
    assert_eq!(report["inserted"], 2, "{report}");
    assert_eq!(report["filtered_out"], 5, "{report}");
    let names = pg.query("SELECT last_name FROM crm_leads ORDER BY last_name");
    assert_eq!(names, [[Some("Shah".to_owned())], [Some("Wills".to_owned())]]);
    // The status carries who gave it and their own word for it.
    let check = "SELECT email_status, email_checked_by, email_raw_status, email_checked_at IS NOT NULL \
                 FROM crm_leads WHERE last_name = 'Wills'";
    let row = |v: &[&str]| vec![v.iter().map(|s| Some((*s).to_owned())).collect::<Vec<_>>()];
    assert_eq!(pg.query(check), row(&["valid", "apollo", "verified", "t"]));
    // A table an older build made, without those columns, gets them.
    pg.query("ALTER TABLE crm_leads DROP COLUMN email_checked_by, DROP COLUMN email_raw_status, DROP COLUMN email_checked_at");
    pg.query("UPDATE crm_leads SET quality = 0");
    let again = export(&sb, &pg, &["--table", "crm_leads", "--query", "city:chicago", "--min-quality", "80"]);
    assert_eq!(again["updated"], 2, "{again}");
    assert_eq!(pg.query(check), row(&["valid", "apollo", "verified", "t"]));
    let bad = sb.run(&["export", "postgres", "--url", &pg.url, "--table", "x; drop table y"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("not a plain identifier"), "{}", bad.stderr);
}

#[test]
fn a_lead_the_table_refuses_is_reported_and_the_rest_load() {
    let pg = Postgres::start();
    let sb = Sandbox::new();
    let (text, people) = messy::file(10);
    assert_eq!(sb.import(&sb.write("messy.csv", text)).code, 0);
    // Another row (not from this store) holds lead 3's email key.
    export(&sb, &pg, &[]);
    let email = pg
        .value("SELECT email_key FROM performance_marketers WHERE lead_id = 3")
        .expect("lead 3 has an email");
    pg.query("DELETE FROM performance_marketers WHERE lead_id = 3");
    pg.query(&format!(
        "INSERT INTO performance_marketers (lead_id, email_status, email_key, emails, linkedin_urls, profile_ids,
         vendors, workflows, source_count, quality, quality_breakdown, flags, merges, created_at, updated_at)
         VALUES (999999, 'unverified', '{email}', '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', 0, 0, '{{}}', '[]', 0, now(), now())"
    ));
    let failures = sb.path("failures.csv");
    let run = sb.run(&["export", "postgres", "--url", &pg.url, "--failures", failures.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("failed                 1"), "{}", run.stdout);
    let listed = std::fs::read_to_string(&failures).unwrap();
    assert!(listed.starts_with("lead_id,reason\n3,"), "{listed}");
    assert!(listed.contains("duplicate key") && listed.contains("email_key"), "{listed}");
    // Every other lead is there, plus the foreign row.
    assert_eq!(count(&pg, "SELECT count(*) FROM performance_marketers"), people as u64);
    assert_eq!(count(&pg, "SELECT count(*) FROM performance_marketers WHERE lead_id = 3"), 0);
}

#[test]
fn a_wrong_url_says_what_to_do_and_hides_the_password() {
    let sb = Sandbox::new();
    let (text, _) = messy::file(2);
    assert_eq!(sb.import(&sb.write("two.csv", text)).code, 0);
    let run = sb.run(&["export", "postgres", "--url", "postgres://app:s3cret-pw@127.0.0.1:1/db"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("postgres://app:***@127.0.0.1:1/db"), "{}", run.stderr);
    assert!(run.stderr.contains("check --url"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret-pw"), "{}", run.stderr);
}
