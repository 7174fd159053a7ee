//! The web UI in a real browser — headless Chromium driven over WebDriver — against
//! `leadsprint demo` on a free port: the dashboard loads and its progress moves, a
//! workflow is paused and resumed from its button, a search returns hits, a lead's
//! detail opens, an upload lands, and a vendor string full of HTML stays text.
//! A screenshot of the dashboard is saved as `target/browser/dashboard.png`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::webdriver::Browser;
use crate::support::{Sandbox, call, served_url, spawn};

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(20);

fn api(url: &str) -> Value {
    call(reqwest::Method::GET, url, None).1
}

fn state_of(browser: &Browser, workflow: &str) -> String {
    let script = "const r = document.querySelector(`#workflows tr[data-workflow=\"${arguments[0]}\"] .state`); \
                  return r ? r.textContent.trim() : null;";
    browser.eval(script, json!([workflow])).as_str().unwrap_or_default().to_owned()
}

fn wait_state(browser: &Browser, workflow: &str, state: &str) {
    let deadline = std::time::Instant::now() + SHORT;
    while state_of(browser, workflow) != state {
        assert!(std::time::Instant::now() < deadline, "{workflow} never showed {state}");
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn the_web_ui_works_in_a_real_browser() {
    let sb = Sandbox::new();
    let mut demo = spawn(
        sb.command(&["demo", "--speed", "1", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let url = served_url(&mut demo);
    let browser = Browser::start();
    browser.open(&url);

    // The dashboard loads, goes live, and its progress moves.
    let count = "const e = document.querySelector('#unique-count'); \
                 return e && e.dataset.value ? Number(e.dataset.value) : null;";
    let first = browser.wait_for("the unique-lead count", count, LONG).as_u64().unwrap_or(0);
    let moved = format!("return Number(document.querySelector('#unique-count').dataset.value) > {first};");
    browser.wait_for("progress to move", &moved, LONG);
    browser.wait_for(
        "the live badge",
        "return document.querySelector('#live-status').textContent.includes('live');",
        SHORT,
    );
    let rows = browser
        .eval("return document.querySelectorAll('#workflows tbody tr[data-workflow]').length;", json!([]));
    assert_eq!(rows, json!(10), "one row per workflow of the built-in campaign");

    // The Enrichment panel: a row per provider, and its pause switch holds and lets go.
    browser.wait_for(
        "the enrichment panel",
        "return !document.querySelector('#enrichment-card').hidden \
         && !!document.querySelector('#enrichment tr[data-provider=\"hunter\"]');",
        LONG,
    );
    let summary = |state: &str| {
        format!("return document.querySelector('#enrichment-summary').textContent.startsWith('{state}');")
    };
    browser.wait_for("enrichment running", &summary("running"), LONG);
    browser.click("#enrichment-toggle");
    browser.wait_for("enrichment paused", &summary("paused"), SHORT);
    browser.click("#enrichment-toggle");
    browser.wait_for("enrichment running again", &summary("running"), SHORT);
    let chart =
        browser.eval("return document.querySelectorAll('#chart path, #chart polyline').length;", json!([]));
    assert!(chart.as_u64().unwrap_or(0) > 0, "the chart draws the series");
    assert!(browser.text("#kpis").contains("unique leads"), "KPI cards");
    browser.wait_for(
        "the sprint's plan",
        "const p = document.querySelector('#plan-line'); return !p.hidden && p.textContent.includes('bottleneck');",
        SHORT,
    );

    // Pause a running workflow from its button, then resume it.
    let running = "const r = [...document.querySelectorAll('#workflows tbody tr[data-workflow]')]\
                   .filter(r => r.querySelector('.state').textContent.trim() === 'running' \
                                && r.querySelector('button[data-action=\"pause\"]:not([disabled])'))\
                   .sort((a, b) => b.dataset.workflow.startsWith('apollo') - a.dataset.workflow.startsWith('apollo'))[0]; \
                   return r ? r.dataset.workflow : null;";
    let workflow =
        browser.wait_for("a running workflow", running, LONG).as_str().unwrap_or_default().to_owned();
    browser.click(&format!("#workflows tr[data-workflow=\"{workflow}\"] button[data-action=\"pause\"]"));
    wait_state(&browser, &workflow, "paused");
    let listed = api(&format!("{url}api/workflows"));
    let entry =
        listed["workflows"].as_array().unwrap().iter().find(|w| w["name"] == workflow.as_str()).cloned();
    assert_eq!(entry.map(|w| w["state"].clone()), Some(json!("paused")), "the API agrees");
    browser.wait_for(
        "the resume button",
        &format!("return !!document.querySelector('#workflows tr[data-workflow=\"{workflow}\"] button[data-action=\"resume\"]:not([disabled])');"),
        SHORT,
    );
    browser.click(&format!("#workflows tr[data-workflow=\"{workflow}\"] button[data-action=\"resume\"]"));
    wait_state(&browser, &workflow, "running");
    assert!(browser.text("#events").contains("paused"), "the pause is in the event list");
    browser.eval("window.scrollTo(0, 0);", json!([]));
    browser.screenshot("target/browser/dashboard.png");

    // Search: hits for a query, in the table, with a total.
    browser.click("#tab-leads");
    browser.clear("#search-input");
    browser.type_into("#search-input", "title:ppc\u{E007}");
    let total = "const t = document.querySelector('#results-total'); \
                 return t && Number(t.dataset.value) > 0 && document.querySelectorAll('#results tbody tr[data-id]').length > 0;";
    browser.wait_for("search hits", total, SHORT);
    assert!(
        browser.text("#results tbody tr[data-id]").to_lowercase().contains("ppc"),
        "a hit matches the query"
    );
    assert!(browser.text("#facets").to_lowercase().contains("vendor"), "facet panels");

    // A lead's detail: every field, its sources.
    let id =
        browser.eval("return document.querySelector('#results tbody tr[data-id]').dataset.id;", json!([]));
    browser.click("#results tbody tr[data-id]");
    browser.wait_for("the lead detail", "return !document.querySelector('#lead-detail').hidden && document.querySelector('#lead-name').textContent.length > 0;", SHORT);
    browser.screenshot("target/browser/lead-detail.png");
    let lead = api(&format!("{url}api/leads/{}", id.as_str().unwrap_or_default()));
    let name = lead["full_name"].as_str().map(str::to_owned).unwrap_or_else(|| {
        format!(
            "{} {}",
            lead["first_name"].as_str().unwrap_or_default(),
            lead["last_name"].as_str().unwrap_or_default()
        )
    });
    assert_eq!(browser.text("#lead-name").trim(), name.trim());
    let detail = browser.text("#lead-detail");
    for source in lead["sources"].as_array().unwrap() {
        assert!(
            detail.contains(source["workflow"].as_str().unwrap()),
            "the detail lists every source: {detail}"
        );
    }
    browser.click("#lead-close");
    browser.wait_for("the detail to close", "return document.querySelector('#lead-detail').hidden;", SHORT);

    // Upload a file whose vendor strings are HTML: it lands, and shows as text.
    let file = sb.write(
        "hostile.csv",
        "email,first_name,last_name,title,company\n\
         xss.probe@example.org,\"<img src=x onerror=\"\"window.__pwned=1\"\">\",Probe,\"<script>window.__pwned=2</script>\",Acme\n",
    );
    browser.type_into("#import-file", file.to_str().unwrap());
    browser.click("#import-button");
    browser.wait_for(
        "the import summary",
        "return /1 new lead/.test(document.querySelector('#import-result').textContent);",
        SHORT,
    );
    browser.clear("#search-input");
    browser.type_into("#search-input", "email:xss.probe@example.org\u{E007}");
    browser.wait_for(
        "the uploaded lead",
        "return Number(document.querySelector('#results-total').dataset.value) === 1;",
        SHORT,
    );
    assert!(browser.text("#results tbody tr[data-id]").contains("<img src=x onerror=\"window.__pwned=1\">"));
    browser.click("#results tbody tr[data-id]");
    browser.wait_for(
        "the hostile lead's detail",
        "return !document.querySelector('#lead-detail').hidden;",
        SHORT,
    );
    assert!(browser.text("#lead-detail").contains("<script>window.__pwned=2</script>"));
    let injected = browser.eval(
        "return [window.__pwned === undefined, document.querySelectorAll('#results img, #lead-detail img, #lead-detail script').length];",
        json!([]),
    );
    assert_eq!(injected, json!([true, 0]), "vendor text must never become markup");

    // Ctrl-C ends the demo and its server cleanly, with the page still open (its
    // event stream must not hold the server up).
    browser.click("#tab-dashboard");
    let status = interrupt(&mut demo);
    assert!(matches!(status.code(), Some(0 | 4)), "demo ended with {status}");
    assert!(!sb.data_dir().join("server.json").exists(), "server.json left behind");
    drop(browser);
}

/// Sends Ctrl-C and waits for the exit (about 0.1 s here). Still running after 3 s
/// means something held the server up: it would cut requests off only after 5 s.
fn interrupt(child: &mut std::process::Child) -> std::process::ExitStatus {
    let interrupted = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(interrupted.is_ok_and(|s| s.success()));
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 3 s after Ctrl-C with a page open");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `serve` beyond loopback: the printed URL (with its token) opens the UI — the token
/// moves into a cookie and out of the address bar — and without it the page is refused.
#[test]
fn a_token_bound_server_opens_from_its_printed_url_only() {
    let sb = Sandbox::new();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
    assert_eq!(sb.import(&std::path::Path::new(fixtures).join("apollo.csv")).code, 0);
    let mut serve = spawn(
        sb.command(&["serve", "--bind", "0.0.0.0:0"])
            .env_remove("LEADSPRINT_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let printed = served_url(&mut serve);
    let url = printed.split_whitespace().next().unwrap_or_default().replace("//0.0.0.0:", "//127.0.0.1:");
    assert!(url.contains("?token="), "{printed}");
    let browser = Browser::start();
    browser.open(&url);
    let count = "const e = document.querySelector('#unique-count'); return e && e.dataset.value === '7';";
    browser.wait_for("the dashboard of the 7 stored leads", count, SHORT);
    let address = browser.eval("return location.href;", json!([]));
    assert!(
        !address.as_str().unwrap_or_default().contains("token"),
        "token left in the address bar: {address}"
    );
    let cookie_visible = browser.eval("return document.cookie.includes('leadsprint_token');", json!([]));
    assert_eq!(cookie_visible, json!(false), "the cookie is HttpOnly");
    // No sprint here: the workflow buttons are disabled, the explorer works.
    let enabled = browser.eval(
        "return document.querySelectorAll('#workflows button[data-action]:not([disabled])').length;",
        json!([]),
    );
    assert_eq!(enabled, json!(0));
    browser.click("#tab-leads");
    browser.type_into("#search-input", "city:chicago\u{E007}");
    browser.wait_for(
        "two Chicago leads",
        "return document.querySelector('#results-total').dataset.value === '2';",
        SHORT,
    );
    // Without the cookie the server answers 401, not the page.
    browser.delete_cookies();
    let bare = url.split('?').next().unwrap_or_default().to_owned();
    browser.open(&bare);
    let refused = "return document.body.innerText.includes('access token') && !document.querySelector('#unique-count');";
    browser.wait_for("the refusal", refused, SHORT);
    browser.open(&url);
    browser.wait_for("the dashboard again", count, SHORT);
    assert!(interrupt(&mut serve).success());
    drop(browser);
}

/// Identity in the UI over `serve`: the "Needs review" filter finds the lead a
/// bridging record made, its detail flags the contradicting keys, the split button
/// moves the selected keys to a new lead; the do-not-contact page adds and lists an
/// entry and the lead detail shows the mark. Screenshot: `target/browser/lead-split.png`.
#[test]
fn review_split_and_do_not_contact_in_a_real_browser() {
    let sb = Sandbox::new();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
    assert_eq!(sb.import(&std::path::Path::new(fixtures).join("apollo.csv")).code, 0);
    let bridge =
        sb.write("bridge.csv", "email,linkedin_url\ndana@acme.com,https://www.linkedin.com/in/omar-haddad\n");
    assert_eq!(sb.import(&bridge).code, 0);
    let mut serve =
        spawn(sb.command(&["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()));
    let url = served_url(&mut serve).trim_end_matches('/').to_owned();
    let browser = Browser::start();
    browser.open(&format!("{url}#/leads"));
    browser.wait_for(
        "the leads view with its results",
        "return !document.querySelector('#view-leads').hidden && document.querySelector('#results-total').dataset.value === '6';",
        SHORT,
    );
    browser.click("#review-filter");
    browser.wait_for(
        "the one lead to review",
        "return document.querySelector('#results-total').dataset.value === '1' && location.hash.includes('is%3Areview');",
        SHORT,
    );
    browser.open(&format!("{url}#/leads/2"));
    browser.wait_for(
        "the survivor's detail, flagged",
        "const t = document.querySelector('#lead-body').innerText; \
         return t.includes('Lead #2 was merged into this lead (#1)') && t.includes('Needs review');",
        SHORT,
    );
    for key in ["u:linkedin.com/in/omar-haddad", "p:apollo:a00000000000000000000002", "e:omar@globex.io"] {
        let script = "const b = [...document.querySelectorAll('.split-key')].find((b) => b.value === arguments[0]); \
                      if (!b) return false; b.click(); return b.checked;";
        assert_eq!(browser.eval(script, json!([key])), json!(true), "checkbox for {key}");
    }
    browser.wait_for("the split button", "return !document.querySelector('#split-button').disabled;", SHORT);
    browser.click("#split-button");
    browser.wait_for(
        "the split's message",
        "return document.querySelector('#messages').innerText.includes('moved to new lead');",
        SHORT,
    );
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser")).unwrap();
    browser.screenshot(concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser/lead-split.png"));
    let review = api(&format!("{url}/api/review"));
    assert_eq!(review["total"], 0, "{review}");
    let stats = api(&format!("{url}/api/stats"));
    assert_eq!(stats["unique_leads"], 7, "the split gave the new lead back: {stats}");

    browser.open(&format!("{url}#/suppress"));
    browser.wait_for(
        "the do-not-contact page",
        "return !document.querySelector('#view-suppress').hidden && \
         document.querySelector('#suppress-form button').getBoundingClientRect().width > 0;",
        SHORT,
    );
    browser.type_into("#suppress-input", "@hooli.com");
    browser.click("#suppress-form button[type=submit]");
    browser.wait_for(
        "the new entry in the table",
        "return document.querySelector('#suppressions tbody').innerText.includes('@hooli.com');",
        SHORT,
    );
    let listed = api(&format!("{url}/api/suppressions"));
    assert_eq!(listed["entries"][0]["origin"], "api", "{listed}");
    browser.open(&format!("{url}#/leads/4"));
    browser.wait_for(
        "the do-not-contact mark",
        "return document.querySelector('#lead-body').innerText.includes('On the do-not-contact list (@hooli.com)');",
        SHORT,
    );
    assert!(interrupt(&mut serve).success());
    drop(browser);
}
