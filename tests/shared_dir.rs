//! One data dir, many commands: while `serve` holds the dir's lock, `stats`,
//! `search` and `export` read through its API and `import` writes through its
//! single writer — with the answers the commands give on their own.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::support::crm::{FakeHubSpot, TOKEN as HUBSPOT_TOKEN};
use crate::support::{Sandbox, Spawned, served_url, spawn};

/// Starts `serve` on a free port; returns it once it listens.
fn serve(sb: &Sandbox, bind: &str, token: Option<&str>) -> Spawned {
    let mut command = sb.command(&["serve", "--bind", bind]);
    command.env_remove("LEADSPRINT_TOKEN").stdout(Stdio::piped()).stderr(Stdio::null());
    if let Some(t) = token {
        command.env("LEADSPRINT_TOKEN", t);
    }
    let mut child = spawn(&mut command);
    let url = served_url(&mut child);
    assert!(url.starts_with("http://"), "{url}");
    child
}

fn stop(mut child: Spawned) {
    let interrupted = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(interrupted.is_ok_and(|s| s.success()));
    assert!(child.wait().expect("serve exit").success());
}

fn fixture(sb: &Sandbox) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
    assert_eq!(sb.import(&Path::new(fixtures).join("apollo.csv")).code, 0);
}

#[test]
fn read_commands_export_and_import_go_through_the_running_server() {
    let sb = Sandbox::new();
    fixture(&sb);
    let alone = (sb.stats(), sb.run(&["search", "city:chicago", "--json", "--facets"]).json());
    let out = sb.path("alone.jsonl");
    assert_eq!(sb.run(&["export", "jsonl", "--out", out.to_str().unwrap()]).code, 0);
    let exported_alone = std::fs::read_to_string(&out).unwrap();

    let server = serve(&sb, "127.0.0.1:0", None);
    // The lock is held: what each command answers must not change.
    assert_eq!(sb.stats(), alone.0, "stats through the server");
    let found = sb.run(&["search", "city:chicago", "--json", "--facets"]);
    assert!(found.stderr.is_empty() || !found.stderr.contains("in use"), "{}", found.stderr);
    assert_eq!(found.json(), alone.1, "search through the server");
    let table = sb.run(&["search", "title:ppc"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("leads match"), "{}", table.stdout);
    let via = sb.path("via.jsonl");
    let run = sb.run(&["export", "jsonl", "--out", via.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("through it"), "says where the leads came from: {}", run.stderr);
    assert_eq!(std::fs::read_to_string(&via).unwrap(), exported_alone, "the same file, byte for byte");
    let csv = sb.path("chicago.csv");
    let run = sb.run(&["export", "csv", "--out", csv.to_str().unwrap(), "--query", "city:chicago"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().count(), 3, "header + the 2 Chicago leads: {rows}");

    // A CRM export streams the filtered leads from the server too.
    let hub = FakeHubSpot::start();
    let run = sb
        .command(&[
            "export",
            "hubspot",
            "--base-url",
            &hub.url,
            "--rate",
            "1000/s",
            "--json",
            "--query",
            "city:chicago",
        ])
        .env("HUBSPOT_TOKEN", HUBSPOT_TOKEN)
        .current_dir(sb.root.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let sent = hub.hub.lock().unwrap().contacts.len();
    let with_email = alone.1["hits"].as_array().unwrap().iter().filter(|h| !h["email"].is_null()).count();
    assert_eq!(sent, with_email, "every Chicago lead with an email became a contact");

    // Import goes through the server's writer.
    let file = sb.write("more.csv", "email,first_name,last_name,title\nnew.one@acme.io,New,One,PPC Lead\n");
    let run = sb.run(&["import", file.to_str().unwrap(), "--json"]);
    let report: Value = run.json();
    assert_eq!(report["totals"]["new_leads"], 1, "{report}");
    assert_eq!(report["files"][0]["rows"], 1);
    let unique = alone.0["unique_leads"].as_u64().unwrap();
    assert_eq!(sb.stats()["unique_leads"].as_u64(), Some(unique + 1));
    let searchable = (0..50).any(|_| {
        let hit = sb.run(&["search", "email:new.one@acme.io", "--json"]).json()["total"] == 1;
        hit || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(searchable, "the imported lead became searchable");
    // A command that needs the store itself says who holds it.
    let held = sb.run(&["reindex"]);
    assert_ne!(held.code, 0);
    assert!(held.stderr.contains("in use"), "{}", held.stderr);
    stop(server);
    // After the server stops, the store has every lead.
    assert_eq!(sb.stats()["unique_leads"].as_u64(), Some(unique + 1));
}

#[test]
fn a_server_that_requires_a_token_is_reached_with_it_and_refuses_without() {
    let sb = Sandbox::new();
    fixture(&sb);
    let token = "a-long-enough-test-token-0123456789";
    let server = serve(&sb, "0.0.0.0:0", Some(token));
    let with = sb.command(&["stats", "--json"]).env("LEADSPRINT_TOKEN", token).output().unwrap();
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    let without = sb.command(&["stats", "--json"]).env_remove("LEADSPRINT_TOKEN").output().unwrap();
    assert!(!without.status.success());
    let message = String::from_utf8_lossy(&without.stderr);
    assert!(message.contains("set LEADSPRINT_TOKEN"), "{message}");
    assert!(!message.contains(token));
    stop(server);
}

/// `review`, `split`, `suppress` and `forget` run through the server's writer while
/// it holds the dir, with the answers they give on their own.
#[test]
fn identity_commands_go_through_the_running_server() {
    let sb = Sandbox::new();
    fixture(&sb);
    let bridge =
        sb.write("bridge.csv", "email,linkedin_url\ndana@acme.com,https://www.linkedin.com/in/omar-haddad\n");
    assert_eq!(sb.import(&bridge).code, 0);
    let server = serve(&sb, "127.0.0.1:0", None);
    let review = sb.run(&["review", "--json"]).json();
    assert_eq!(review["total"], 1, "{review}");
    let split = sb.run(&[
        "split",
        "2",
        "u:linkedin.com/in/omar-haddad",
        "p:apollo:a00000000000000000000002",
        "--json",
    ]);
    assert!(split.stderr.contains("asking it"), "{}", split.stderr);
    assert_eq!(split.json()["lead"], 1);
    let refused = sb.run(&["split", "1", "nobody@acme.com"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("does not hold"), "{}", refused.stderr);
    let listed = sb.write("dnc.txt", "@hooli.com\n");
    assert_eq!(sb.run(&["suppress", "import", listed.to_str().unwrap()]).code, 0);
    assert_eq!(sb.run(&["suppress", "list", "--json"]).json()["entries"][0]["entry"], "@hooli.com");
    let forgot = sb.run(&["forget", "jose@initech.com", "--json"]).json();
    assert_eq!(forgot["erased_leads"][0], 3, "{forgot}");
    let stats = sb.stats();
    assert_eq!((stats["leads_erased"].as_u64(), stats["aliases"].as_u64()), (Some(1), Some(1)), "{stats}");
    stop(server);
    // The server's changes are in the store.
    assert_eq!(sb.run(&["review", "--json"]).json()["total"], 0);
    assert_eq!(sb.stats()["leads_erased"], 1);
}
