//! CRM exports against a fake HubSpot speaking the documented batch-upsert API:
//! batches of 100, leads without email listed, 207 read per contact, a rejected
//! batch narrowed to the bad record, 429 + Retry-After retried, 401 explained,
//! reruns create no duplicates, an interrupted export resumes.

use serde_json::json;

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
    crate::support::crm::export(sb, fake, token, extra)
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
        assert_eq!(hub.batch_sizes, [100, 100, 50], "the 5 leads without email take no place in a batch");
        assert_eq!(hub.contacts.len(), 250);
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
    // The report lists the export's result, and the failures raised their alert.
    let json = sb.path("report.json");
    let html = sb.path("report.html");
    let run = sb.run(&["report", "--out", html.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let export = &report["exports"][0];
    assert_eq!(
        (&export["target"], &export["written"], &export["failed"]),
        (&json!("hubspot"), &json!(117), &json!(3))
    );
    let events = report["timeline"]["events"].to_string();
    assert!(events.contains("export_failures"), "{events}");
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

mod salesforce {
    use crate::support::crm::salesforce::{CLIENT_ID, CLIENT_SECRET, FakeSalesforce, USERNAME};
    use crate::support::{Run, Sandbox};

    const KEY: &str = include_str!("fixtures/salesforce/jwt-key.pem");

    /// 20 complete leads, 2 without a company, 1 with an email the org refuses.
    fn leads_csv() -> String {
        let mut out = String::from("First Name,Last Name,Title,Company,Email,Person Linkedin Url\n");
        for i in 0..20 {
            let email = if i == 7 { format!("invalid{i}@acme.com") } else { format!("p{i}@acme.com") };
            out += &format!("P{i},Person{i},PPC Manager,Acme,{email},https://www.linkedin.com/in/p-{i}\n");
        }
        out += "Solo,NoCompany,CMO,,solo@x.com,https://www.linkedin.com/in/solo\n";
        out += "Free,Lancer,Consultant,,free@y.com,https://www.linkedin.com/in/free\n";
        out
    }

    fn export(sb: &Sandbox, fake: &FakeSalesforce, env: &[(&str, &str)], extra: &[&str]) -> Run {
        let report = sb.path("sf-report.csv");
        let report = report.to_str().unwrap().to_owned();
        let mut args = vec!["export", "salesforce", "--login-url", &fake.url, "--poll", "10ms", "--json"];
        args.extend_from_slice(&["--report", &report]);
        args.extend_from_slice(extra);
        let mut cmd = sb.command(&args);
        for var in ["SALESFORCE_CLIENT_SECRET", "SALESFORCE_PRIVATE_KEY", "SALESFORCE_USERNAME"] {
            cmd.env_remove(var);
        }
        cmd.env("SALESFORCE_CLIENT_ID", CLIENT_ID).envs(env.iter().copied());
        Run::from(cmd.output().expect("run leadsprint"))
    }

    #[test]
    fn upsert_job_reports_failures_per_lead_reauthenticates_and_reruns_without_duplicates() {
        let fake = FakeSalesforce::start();
        fake.org.lock().unwrap().expire_after = Some(3);
        let sb = Sandbox::new();
        assert_eq!(sb.import(&sb.write("l.csv", leads_csv())).code, 0);
        let secret = [("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)];
        let run = export(&sb, &fake, &secret, &["--external-id", "Leadsprint_Id__c"]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["created"], 19, "{report}");
        assert_eq!(report["not_sent"].as_array().unwrap().len(), 2, "{report}");
        let failed = report["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{report}");
        assert!(failed[0][1].as_str().unwrap().starts_with("INVALID_EMAIL_ADDRESS"), "{report}");
        let listed = std::fs::read_to_string(sb.path("sf-report.csv")).unwrap();
        assert!(listed.contains("not_sent,missing Company"), "{listed}");
        {
            let org = fake.org.lock().unwrap();
            assert!(org.sign_ins >= 2, "an expired session was not renewed ({} sign-ins)", org.sign_ins);
            assert_eq!(org.leads.len(), 19);
            let row = org.leads.values().find(|r| r["Email"] == "p3@acme.com").unwrap();
            assert_eq!(
                (row["LastName"].as_str(), row["Company"].as_str(), row["Title"].as_str()),
                ("Person3", "Acme", "PPC Manager")
            );
        }
        let again = export(&sb, &fake, &secret, &["--external-id", "Leadsprint_Id__c"]);
        let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
        assert_eq!((again["created"].as_u64(), again["updated"].as_u64()), (Some(0), Some(19)), "{again}");
        assert_eq!(fake.org.lock().unwrap().leads.len(), 19, "a rerun must not duplicate Leads");
    }

    #[test]
    fn a_job_that_fails_part_way_is_read_row_by_row() {
        let fake = FakeSalesforce::start();
        fake.org.lock().unwrap().fail_after = Some(10);
        let sb = Sandbox::new();
        assert_eq!(sb.import(&sb.write("l.csv", leads_csv())).code, 0);
        let secret = [("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)];
        let run = export(&sb, &fake, &secret, &["--external-id", "Leadsprint_Id__c"]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let stored = fake.org.lock().unwrap().leads.len() as u64;
        assert_eq!(stored, 9, "ten rows processed, one of them refused");
        assert_eq!(report["created"], stored, "what the failed job stored is reported as created: {report}");
        let failed = report["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 11, "{report}");
        let reasons: Vec<&str> = failed.iter().map(|f| f[1].as_str().unwrap()).collect();
        assert_eq!(
            reasons.iter().filter(|r| r.starts_with("INVALID_EMAIL_ADDRESS")).count(),
            1,
            "{reasons:?}"
        );
        let unprocessed: Vec<&&str> = reasons.iter().filter(|r| r.starts_with("not processed")).collect();
        assert_eq!(unprocessed.len(), 10, "{reasons:?}");
        assert!(
            unprocessed[0].contains("Failed") && unprocessed[0].contains("InternalServerError"),
            "{reasons:?}"
        );
        let ids: std::collections::BTreeSet<u64> = failed.iter().map(|f| f[0].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), 11, "each lead reported once");
    }

    #[test]
    fn the_daily_api_limit_is_reported_as_such() {
        let fake = FakeSalesforce::start();
        fake.org.lock().unwrap().limit_spent = true;
        let sb = Sandbox::new();
        assert_eq!(sb.import(&sb.write("l.csv", leads_csv())).code, 0);
        let secret = [("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)];
        let run = export(&sb, &fake, &secret, &["--external-id", "Leadsprint_Id__c"]);
        assert_eq!(run.code, 1);
        assert!(
            run.stderr.contains("REQUEST_LIMIT_EXCEEDED") && run.stderr.contains("API request limit"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("refused the credentials"), "{}", run.stderr);
    }

    #[test]
    fn jwt_bearer_signs_in_and_insert_maps_failed_rows_back() {
        let fake = FakeSalesforce::start();
        let sb = Sandbox::new();
        assert_eq!(sb.import(&sb.write("l.csv", leads_csv())).code, 0);
        let jwt = [("SALESFORCE_USERNAME", USERNAME), ("SALESFORCE_PRIVATE_KEY", KEY)];
        let refused = export(&sb, &fake, &jwt, &[]);
        assert_eq!(refused.code, 2, "{}", refused.stderr);
        assert!(refused.stderr.contains("--external-id"), "{}", refused.stderr);
        let run = export(&sb, &fake, &jwt, &["--insert"]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["created"], 19, "{report}");
        // The refused row is found by its content, without an external id.
        let leads = sb.leads();
        let refused = leads.iter().find(|l| l["email"] == "invalid7@acme.com").unwrap();
        assert_eq!(report["failed"][0][0], refused["id"], "{report}");
        assert_eq!(fake.org.lock().unwrap().jwt_sign_ins, 1);

        let wrong = export(
            &sb,
            &fake,
            &[("SALESFORCE_USERNAME", "someone@else"), ("SALESFORCE_PRIVATE_KEY", KEY)],
            &["--insert"],
        );
        assert_eq!(wrong.code, 1);
        assert!(wrong.stderr.contains("Salesforce"), "{}", wrong.stderr);
        assert!(!wrong.stderr.contains("BEGIN PRIVATE KEY"), "the key leaked");
        let none = export(&sb, &fake, &[], &["--insert"]);
        assert!(none.stderr.contains("set SALESFORCE_CLIENT_SECRET"), "{}", none.stderr);
    }
}

#[test]
fn check_tests_every_configured_export_connection() {
    let hub = FakeHubSpot::start();
    let sf = crate::support::crm::salesforce::FakeSalesforce::start();
    let pg = crate::support::postgres::Postgres::start();
    let sb = Sandbox::new();
    let run = |token: &str| {
        let output = sb
            .command(&["check"])
            .env("DATABASE_URL", &pg.url)
            .env("HUBSPOT_TOKEN", token)
            .env("HUBSPOT_BASE_URL", &hub.url)
            .env("SALESFORCE_CLIENT_ID", crate::support::crm::salesforce::CLIENT_ID)
            .env("SALESFORCE_CLIENT_SECRET", crate::support::crm::salesforce::CLIENT_SECRET)
            .env("SALESFORCE_LOGIN_URL", &sf.url)
            .output()
            .expect("run check");
        Run::from(output)
    };
    let good = run(TOKEN);
    for line in ["ok   postgres", "ok   hubspot", "ok   salesforce"] {
        assert!(good.stdout.contains(line), "{line} missing:\n{}", good.stdout);
    }
    let bad = run("revoked");
    let line = bad.stdout.lines().find(|l| l.starts_with("FAIL hubspot")).unwrap_or_default();
    assert!(line.contains("HubSpot refused the credentials"), "{}", bad.stdout);
    assert_eq!(bad.code, 1);
    assert!(!bad.stdout.contains("revoked"), "the token leaked: {}", bad.stdout);
}

#[test]
fn leads_sharing_an_email_make_one_contact_and_the_others_are_listed() {
    let fake = FakeHubSpot::start();
    let sb = Sandbox::new();
    // A role mailbox is not an identity key: these are different people sharing it.
    let mut csv = people(150, 0, |i| format!("p{i}@acme.com"));
    csv += "Ann,Lower,,,marketing@acme.com,https://www.linkedin.com/in/ann-lower,,\n";
    csv += "Bea,Better,Head of Growth,Acme,marketing@acme.com,https://www.linkedin.com/in/bea-better,acme.com,Chicago\n";
    csv += "Cid,Twin,,,Marketing@Acme.com,https://www.linkedin.com/in/cid-twin,,\n";
    assert_eq!(sb.import(&sb.write("p.csv", csv)).code, 0);
    let report = hubspot(&sb, &fake, TOKEN, &[]).json();
    let hub = fake.hub.lock().unwrap();
    assert_eq!(hub.duplicate_batches, 0, "no batch ever held one email twice");
    assert_eq!(hub.contacts.len(), 151, "one contact for the shared address");
    let (_, contact) = &hub.contacts["marketing@acme.com"];
    assert_eq!(
        (contact["firstname"].as_str(), contact["jobtitle"].as_str()),
        (Some("Bea"), Some("Head of Growth"))
    );
    assert_eq!(report["created"], 151, "{report}");
    let listed: Vec<String> =
        report["not_sent"].as_array().unwrap().iter().map(|r| r[1].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed.len(), 2, "{report}");
    assert!(
        listed.iter().all(|r| r.contains("shares") && r.to_lowercase().contains("marketing@acme.com")),
        "{listed:?}"
    );
    assert_eq!(hub.batch_sizes, [100, 51]);
}

#[test]
fn a_missing_custom_property_is_named_or_created_and_scopes_are_named() {
    let fake = FakeHubSpot::start();
    fake.hub.lock().unwrap().properties.remove("linkedin_url");
    let sb = Sandbox::new();
    assert_eq!(sb.import(&sb.write("p.csv", people(30, 0, |i| format!("p{i}@acme.com")))).code, 0);
    let refused = hubspot(&sb, &fake, TOKEN, &[]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("no contact property linkedin_url")
            && refused.stderr.contains("--create-properties"),
        "{}",
        refused.stderr
    );
    assert!(fake.hub.lock().unwrap().batch_sizes.is_empty(), "nothing sent before the mapping is sound");
    let no_scope = hubspot(&sb, &fake, crate::support::crm::WRITE_ONLY_TOKEN, &["--create-properties"]);
    assert_eq!(no_scope.code, 1);
    assert!(no_scope.stderr.contains("crm.schemas.contacts.write"), "{}", no_scope.stderr);
    let created = hubspot(&sb, &fake, TOKEN, &["--create-properties"]).json();
    assert_eq!(created["created"], 30, "{created}");
    let hub = fake.hub.lock().unwrap();
    assert!(hub.properties.contains("linkedin_url"));
    assert_eq!(hub.contacts["p3@acme.com"].1["linkedin_url"], "https://www.linkedin.com/in/p-3");
}

#[test]
fn a_write_only_token_exports_and_checks_and_a_token_without_contact_scopes_is_named() {
    let fake = FakeHubSpot::start();
    let sb = Sandbox::new();
    assert_eq!(sb.import(&sb.write("p.csv", people(20, 0, |i| format!("p{i}@acme.com")))).code, 0);
    let report = hubspot(&sb, &fake, crate::support::crm::WRITE_ONLY_TOKEN, &[]).json();
    assert_eq!(report["created"], 20, "the write scope is all the export needs: {report}");
    let check = |token: &str| {
        let output = sb
            .command(&["check"])
            .env("HUBSPOT_TOKEN", token)
            .env("HUBSPOT_BASE_URL", &fake.url)
            .env_remove("DATABASE_URL")
            .env_remove("SALESFORCE_CLIENT_ID")
            .output()
            .expect("run check");
        Run::from(output)
    };
    let ok = check(crate::support::crm::WRITE_ONLY_TOKEN);
    assert!(ok.stdout.lines().any(|l| l.starts_with("ok   hubspot")), "{}", ok.stdout);
    let missing = check(crate::support::crm::COMPANIES_TOKEN);
    let line = missing.stdout.lines().find(|l| l.starts_with("FAIL hubspot")).unwrap_or_default();
    assert!(
        line.contains("MISSING_SCOPES") && line.contains("crm.objects.contacts.write"),
        "{}",
        missing.stdout
    );
}
