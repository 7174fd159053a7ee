//! CRM exports against a fake HubSpot speaking the documented batch-upsert API:
//! batches of 100, leads without email listed, 207 read per contact, a rejected
//! batch narrowed to the bad record, 429 + Retry-After retried, 401 explained,
//! reruns create no duplicates, an interrupted export resumes.

use crate::support::crm::{FakeHubSpot, TOKEN};
use crate::support::{Run, Sandbox};

/// A CSV of `n` people with emails (some scripted to fail) and `no_email` without.
fn people(n: usize, no_email: usize, email: impl Fn(usize) -> String) -> String {
    let mut out = String::from("First Name,Last Name,Title,Company,Email,Person Linkedin Url,Website,City\n");
    for i in 0..n {
        out += &format!(
            "P{i},Person{i},PPC Manager,Acme,{},https://www.linkedin.com/in/p-{i},acme.com,Chicago\n",
            email(i)
        );
    }
    for i in 0..no_email {
        out += &format!("Q{i},NoMail{i},SEO Lead,Globex,,https://www.linkedin.com/in/q-{i},,Boston\n");
    }
    out
}

fn hubspot(sb: &Sandbox, fake: &FakeHubSpot, token: &str, extra: &[&str]) -> Run {
    let report = sb.path("hubspot-report.csv");
    let mut args = vec!["export", "hubspot", "--base-url", &fake.url, "--rate", "1000/s", "--json"];
    let report = report.to_str().unwrap().to_owned();
    args.extend_from_slice(&["--report", &report]);
    args.extend_from_slice(extra);
    let output = sb.command(&args).env("HUBSPOT_TOKEN", token).output().expect("run leadsprint");
    Run::from(output)
}

#[test]
fn contacts_go_in_batches_of_100_and_a_rerun_creates_no_duplicates() {
    let fake = FakeHubSpot::start();
    let sb = Sandbox::new();
    assert_eq!(sb.import(&sb.write("p.csv", people(250, 5, |i| format!("p{i}@acme.com")))).code, 0);
    let first = hubspot(&sb, &fake, TOKEN, &[]).json();
    assert_eq!(first["created"], 250, "{first}");
    assert_eq!(first["not_sent"].as_array().unwrap().len(), 5, "{first}");
    {
        let hub = fake.hub.lock().unwrap();
        assert_eq!((hub.requests, hub.largest_batch, hub.contacts.len()), (3, 100, 250));
        let (_, dana) = &hub.contacts["p7@acme.com"];
        assert_eq!(dana["firstname"], "P7");
        assert_eq!(dana["lastname"], "Person7");
        assert_eq!(dana["jobtitle"], "PPC Manager");
        assert_eq!(dana["company"], "Acme");
        assert_eq!(dana["website"], "https://acme.com");
        assert_eq!(dana["linkedin_url"], "https://www.linkedin.com/in/p-7");
    }
    let report = std::fs::read_to_string(sb.path("hubspot-report.csv")).unwrap();
    assert_eq!(report.lines().filter(|l| l.contains(",not_sent,no email")).count(), 5, "{report}");
    let second = hubspot(&sb, &fake, TOKEN, &[]).json();
    assert_eq!((second["created"].as_u64(), second["updated"].as_u64()), (Some(0), Some(250)), "{second}");
    assert_eq!(fake.hub.lock().unwrap().contacts.len(), 250, "a rerun must not duplicate contacts");
}

#[test]
fn partial_failures_are_read_per_contact_and_a_rejected_batch_is_narrowed() {
    let fake = FakeHubSpot::start();
    let sb = Sandbox::new();
    let email = |i: usize| match i {
        3 | 40 => format!("invalid{i}@acme.com"),
        77 => format!("poison{i}@acme.com"),
        _ => format!("p{i}@acme.com"),
    };
    assert_eq!(sb.import(&sb.write("p.csv", people(120, 0, email))).code, 0);
    let run = hubspot(&sb, &fake, TOKEN, &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["created"], 117, "{report}");
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 3, "{report}");
    let text = std::fs::read_to_string(sb.path("hubspot-report.csv")).unwrap();
    assert!(text.contains("Property values were not valid: email invalid3@acme.com"), "{text}");
    assert!(text.contains("HTTP 400") && text.contains("Invalid input JSON"), "{text}");
    assert_eq!(fake.hub.lock().unwrap().contacts.len(), 117);
}

#[test]
fn throttling_is_waited_out_and_a_bad_token_is_explained() {
    let fake = FakeHubSpot::start();
    fake.hub.lock().unwrap().throttle_next = 2;
    let sb = Sandbox::new();
    assert_eq!(sb.import(&sb.write("p.csv", people(30, 0, |i| format!("p{i}@acme.com")))).code, 0);
    let started = std::time::Instant::now();
    let report = hubspot(&sb, &fake, TOKEN, &[]).json();
    assert_eq!(report["created"], 30, "{report}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "Retry-After: 1 was not honoured twice");
    assert_eq!(fake.hub.lock().unwrap().throttled, 2);

    let refused = hubspot(&sb, &fake, "wrong-token", &[]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("HubSpot refused the credentials")
            && refused.stderr.contains("HUBSPOT_TOKEN"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("wrong-token"), "the token leaked: {}", refused.stderr);
    let missing = sb
        .command(&["export", "hubspot", "--base-url", &fake.url])
        .env_remove("HUBSPOT_TOKEN")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("HUBSPOT_TOKEN is not set"));
}

#[test]
fn an_interrupted_export_resumes_after_its_last_batch() {
    let fake = FakeHubSpot::start();
    let sb = Sandbox::new();
    assert_eq!(sb.import(&sb.write("p.csv", people(300, 0, |i| format!("p{i}@acme.com")))).code, 0);
    let first = hubspot(&sb, &fake, TOKEN, &["--query", "id:<=100"]).json();
    assert_eq!(first["created"], 100);
    // An export of every lead stopped after lead 100 (what a kill leaves behind).
    let watermark = sb.data_dir().join("exports/hubspot.json");
    std::fs::write(
        &watermark,
        r#"{"filter":"query=\"\" min_quality=0","last_lead_id":100,"complete":false}"#,
    )
    .unwrap();
    let resumed = hubspot(&sb, &fake, TOKEN, &[]).json();
    assert_eq!(resumed["resumed_after"], 100, "{resumed}");
    assert_eq!((resumed["created"].as_u64(), resumed["updated"].as_u64()), (Some(200), Some(0)), "{resumed}");
    assert_eq!(fake.hub.lock().unwrap().contacts.len(), 300);
    // Finished: the next export is a whole new pass.
    let again = hubspot(&sb, &fake, TOKEN, &[]).json();
    assert_eq!(again["resumed_after"], serde_json::Value::Null);
    assert_eq!(again["updated"], 300);
}
