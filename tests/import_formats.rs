//! The file shapes real exports come in: delimiters, BOMs, line endings,
//! encodings, preambles, vendor headers and JSON records.

use crate::support::Sandbox;

fn first_names(sb: &Sandbox) -> Vec<String> {
    sb.leads().iter().map(|l| l["first_name"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn delimiters_bom_and_line_endings() {
    let cases: &[(&str, &[u8])] = &[
        ("semicolon, BOM, CRLF", b"\xef\xbb\xbfFirst Name;Email\r\nAnn;ann@acme.com\r\nBob;bob@acme.com\r\n"),
        ("tab", b"first_name\temail\nAnn\tann@acme.com\nBob\tbob@acme.com\n"),
        (
            "pipe, quoted newline",
            b"first_name|email|notes\nAnn|ann@acme.com|\"two\nlines\"\nBob|bob@acme.com|x\n",
        ),
        ("comma, no final newline", b"first_name,email\nAnn,ann@acme.com\nBob,bob@acme.com"),
    ];
    for (name, bytes) in cases {
        let sb = Sandbox::new();
        let file = sb.write("in.csv", bytes);
        let run = sb.import(&file);
        assert_eq!(run.code, 0, "case {name}: {}{}", run.stdout, run.stderr);
        assert_eq!(first_names(&sb), ["Ann", "Bob"], "case {name}");
    }
}

#[test]
fn utf16_by_bom_and_latin1_by_flag() {
    let sb = Sandbox::new();
    let text = "first_name\temail\nZoë\tzoe@acme.com\n";
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let file = sb.write("excel.txt", utf16);
    assert_eq!(sb.import(&file).code, 0);
    assert_eq!(first_names(&sb), ["Zoë"]);

    let sb = Sandbox::new();
    let file = sb.write("latin1.csv", b"first_name,email\nJos\xe9,jose@acme.com\n");
    let run = sb.import(&file);
    assert_eq!(run.code, 3, "invalid UTF-8 is quarantined without --encoding");
    assert!(sb.quarantine()[0]["reason"].as_str().unwrap().contains("--encoding"));
    let run = sb.run(&["import", file.to_str().unwrap(), "--encoding", "latin1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first_names(&sb), ["José"]);
    let bad = sb.run(&["import", file.to_str().unwrap(), "--encoding", "klingon"]);
    assert!(bad.stderr.contains("unknown encoding"), "{}", bad.stderr);
}

#[test]
fn linkedin_connections_export_with_its_notes_preamble() {
    let sb = Sandbox::new();
    let file = sb.write(
        "Connections.csv",
        "Notes:\n\"When exporting your connection data, you may notice that some of the email addresses are missing.\"\n\n\
         First Name,Last Name,URL,Email Address,Company,Position,Connected On\n\
         Dana,Wills,https://www.linkedin.com/in/dana-wills,,Acme,PPC Manager,01 Nov 2026\n",
    );
    let run = sb.run(&["import", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(run["files"][0]["vendor"], "linkedin");
    let lead = &sb.leads()[0];
    assert_eq!(lead["linkedin_url"], "https://www.linkedin.com/in/dana-wills");
    assert_eq!(lead["job_title"], "PPC Manager");
    assert_eq!(lead["sources"][0]["record_id"], "line 5");
}

#[test]
fn apollo_export_headers_map_every_field() {
    let sb = Sandbox::new();
    let file = sb.write(
        "apollo.csv",
        "First Name,Last Name,Title,Company,Company Name for Emails,Email,Email Status,Seniority,# Employees,Industry,\
         Person Linkedin Url,Website,Company Linkedin Url,City,State,Country,Apollo Contact Id,Company City\n\
         Dana,Wills,VP Sales,Acme Corp,Acme,Dana@Acme.com,Verified,vp,120,Retail,http://www.linkedin.com/in/danawills,\
         https://www.acme.com,http://www.linkedin.com/company/acme,Austin,Texas,United States,64a7ff0cc4dfae00013df1a5,Denver\n",
    );
    let run = sb.run(&["import", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(run["files"][0]["vendor"], "apollo");
    let lead = &sb.leads()[0];
    let want = serde_json::json!({
        "first_name": "Dana", "last_name": "Wills", "job_title": "VP Sales", "seniority": "vp",
        "email": "dana@acme.com", "email_status": "valid",
        "linkedin_url": "https://www.linkedin.com/in/danawills",
        "company": {"name": "Acme Corp", "domain": "acme.com", "industry": "Retail", "size": "120",
                    "linkedin_url": "http://www.linkedin.com/company/acme"},
        "location": {"city": "Austin", "region": "Texas", "country": "United States"},
    });
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&lead[k], v, "field {k}");
    }
    assert_eq!(lead["identity"]["profile_ids"][0], "apollo:64a7ff0cc4dfae00013df1a5");
    assert_eq!(lead["quality"]["score"], 100);
}

#[test]
fn bright_data_snapshot_json_array() {
    let sb = Sandbox::new();
    let file = sb.write(
        "snapshot.json",
        r#"[{"id":"dana-wills","linkedin_id":"dana-wills","linkedin_num_id":"245026690",
            "url":"https://www.linkedin.com/in/dana-wills","input_url":"https://www.linkedin.com/in/dana-wills",
            "name":"Dana Wills","first_name":"Dana","last_name":"Wills","position":"VP Sales at Acme Corp",
            "city":"Austin, Texas, United States","country_code":"US","location":"Austin",
            "current_company":{"name":"Acme Corp","company_id":"acme-corp","link":"https://www.linkedin.com/company/acme-corp"},
            "followers":1200,"experience":null,"education":[]},
           {"id":"no-keys","name":"Nobody"}]"#,
    );
    let run = sb.run(&["import", file.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let lead = &sb.leads()[0];
    assert_eq!(lead["sources"][0]["vendor"], "brightdata");
    assert_eq!(lead["job_title"], "VP Sales");
    assert_eq!(lead["company"]["name"], "Acme Corp");
    assert_eq!(lead["company"]["linkedin_url"], "https://www.linkedin.com/company/acme-corp");
    assert_eq!(lead["location"]["city"], "Austin");
    assert_eq!(lead["location"]["region"], "Texas");
    assert_eq!(lead["location"]["country"], "United States");
    let ids: Vec<&str> =
        lead["identity"]["profile_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ids, ["brightdata:dana-wills", "li:245026690"]);
    // A record with an id but no LinkedIn URL still has a Bright Data key.
    assert_eq!(sb.stats()["unique_leads"], 2);
}

#[test]
fn jsonl_bad_lines_are_quarantined_and_the_rest_imports() {
    let sb = Sandbox::new();
    let file = sb.write(
        "leads.jsonl",
        "{\"email\":\"ann@acme.com\",\"first_name\":\"Ann\"}\n\
         {\"email\": \"broken\n\
         [1,2,3]\n\
         \n\
         {\"emails\":[\"bob@acme.com\",\"info@acme.com\"],\"first_name\":\"Bob\"}\n",
    );
    let run = sb.import(&file);
    assert_eq!(run.code, 3);
    assert_eq!(first_names(&sb), ["Ann", "Bob"]);
    let kinds: Vec<String> = sb.quarantine().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["malformed JSON", "not an object"]);
}

#[test]
fn a_broken_json_array_is_refused_whole_with_its_position() {
    let sb = Sandbox::new();
    let file = sb.write("bad.json", "[{\"email\":\"ann@acme.com\"},\n{\"email\": }]");
    let run = sb.import(&file);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not valid JSON") && run.stderr.contains("line 2"), "{}", run.stderr);
}
