//! The HTTP API in-process, as a table of scenarios (method, path, headers → status,
//! must / must-not contain), security cases included: wrong Host, cross-site Origin,
//! the token of a server that requires one, traversal paths, query errors.

use std::path::Path;

use leadsprint::config::Secret;
use leadsprint::pipeline::{Intake, Writer};
use leadsprint::server::{Access, AppState, Campaign, serve};
use leadsprint::store::Store;

use crate::support::Sandbox;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Scenario {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    must: &'static [&'static str],
    must_not: &'static [&'static str],
}

const fn get(path: &'static str, status: u16, must: &'static [&'static str]) -> Scenario {
    Scenario { method: "GET", path, headers: &[], body: "", status, must, must_not: &[] }
}

/// A POST from this server's own page (same Origin).
const fn post(
    path: &'static str,
    body: &'static str,
    status: u16,
    must: &'static [&'static str],
) -> Scenario {
    Scenario { method: "POST", headers: SAME_ORIGIN, body, ..get(path, status, must) }
}

const SAME_ORIGIN: &[(&str, &str)] = &[("origin", "http://127.0.0.1:{port}")];

/// Starts the server over the search fixture, with a writer for uploads; `token`
/// makes it require one. Finish the intake at the end of the test.
fn start(runtime: &tokio::runtime::Runtime, sb: &Sandbox, token: Option<&str>) -> (String, Intake) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
    assert_eq!(sb.import(&Path::new(fixtures).join("apollo.csv")).code, 0);
    let intake = Intake::start(Writer::new(Store::open_existing(&sb.data_dir()).unwrap()).unwrap());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let access = Access::new(addr, token.map(Secret::new));
    let campaign = Campaign {
        target: 100,
        workflows: vec![("apollo-ppc".into(), "apollo".into())],
        ..Campaign::default()
    };
    let state = AppState::new(intake.store(), intake.index(), access, campaign).with_intake(intake.sender());
    runtime.spawn(serve(listener, state, std::future::pending()));
    (format!("http://{addr}"), intake)
}

fn run(runtime: &tokio::runtime::Runtime, base: &str, scenarios: &[Scenario]) {
    let client = leadsprint::http::http(std::time::Duration::from_secs(10)).expect("client");
    let mut failures = Vec::new();
    for s in scenarios {
        let method = reqwest::Method::from_bytes(s.method.as_bytes()).unwrap();
        let mut request = client.request(method, format!("{base}{}", s.path)).body(s.body);
        for (name, value) in s.headers {
            let value = value.replace("{port}", base.rsplit(':').next().unwrap_or_default());
            request = request.header(*name, value);
        }
        let (status, body) = runtime.block_on(async {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        });
        let label = format!("{} {} {:?}", s.method, s.path, s.headers);
        if status != s.status {
            failures.push(format!("{label}: status {status}, expected {}: {body:.300}", s.status));
        }
        for needle in s.must.iter().filter(|n| !body.contains(**n)) {
            failures.push(format!("{label}: body lacks {needle:?}: {body:.300}"));
        }
        for needle in s.must_not.iter().filter(|n| body.contains(**n)) {
            failures.push(format!("{label}: body contains {needle:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn api_scenarios_on_loopback() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sb = Sandbox::new();
    let (base, intake) = start(&runtime, &sb, None);
    run(
        &runtime,
        &base,
        &[
            get("/healthz", 200, &["ok"]),
            get("/api/stats", 200, &["\"unique_leads\":7", "workflows"]),
            get("/api/leads?q=city:chicago", 200, &["\"total\":2", "\"facets\"", "Wills", "Shah"]),
            get("/api/leads?q=&sort=quality&limit=2&offset=0", 200, &["\"total\":7"]),
            get("/api/leads?q=title:%22vp", 400, &["never closed", "\"column\":7"]),
            get("/api/leads?q=titel:ppc", 400, &["did you mean 'title'"]),
            get("/api/leads?sort=size", 400, &["unknown sort"]),
            get("/api/leads?limit=5000", 400, &["page with offset"]),
            get(
                "/api/leads/1",
                200,
                &["\"last_name\":\"Wills\"", "\"identity\"", "\"sources\"", "\"quality\""],
            ),
            get("/api/leads/99999", 404, &["no lead 99999"]),
            get("/api/leads/abc", 400, &["whole number"]),
            // Vendor strings come back as the characters they are (JSON, never HTML).
            get("/api/leads?q=onerror", 200, &["<img src=x onerror=alert(1)>"]),
            // Traversal and unknown paths.
            get("/../../etc/passwd", 404, &[]),
            get("/api/..%2f..%2fetc%2fpasswd", 404, &[]),
            get("/%2e%2e/%2e%2e/etc/passwd", 404, &[]),
            // DNS rebinding: a page on another name reaching this port.
            Scenario {
                headers: &[("host", "evil.example:{port}")],
                ..get("/api/stats", 421, &["unknown Host"])
            },
            Scenario { headers: &[("host", "localhost:{port}")], ..get("/api/stats", 200, &[]) },
            // Cross-site requests that would change state.
            Scenario {
                method: "POST",
                headers: &[("origin", "https://evil.example")],
                ..get("/api/leads", 403, &["cross-site"])
            },
            Scenario {
                method: "POST",
                headers: &[("origin", "http://127.0.0.1:{port}")],
                ..get("/api/leads", 405, &[])
            },
            Scenario {
                headers: &[("origin", "https://evil.example")],
                ..get("/api/events", 403, &["cross-site"])
            },
            // The UI: its files, the fallback page, the guard against reading anything else.
            get("/", 200, &["<script type=\"module\" src=\"/app.js\"></script>", "leadsprint"]),
            get("/index.html", 200, &["id=\"view-dashboard\""]),
            get("/app.js", 200, &["EventSource"]),
            get("/style.css", 200, &[]),
            // The UI routes by `#`: no other path is a page.
            get("/leads/some/page", 404, &[]),
            get("/missing.js", 404, &[]),
            get("/README.md", 404, &[]),
            get("/..%2fCargo.toml", 404, &[]),
            get("/web/../Cargo.toml", 404, &[]),
            get("/api/nothing-here", 404, &["no API route", "openapi"]),
            // The documented API.
            get(
                "/api/openapi.json",
                200,
                &[
                    "\"openapi\": \"3.1.0\"",
                    "/api/workflows/{name}/pause",
                    "/api/events",
                    "/api/enrichment/pause",
                ],
            ),
            get("/api/dashboard", 200, &["\"mode\":\"serve\"", "\"kpis\"", "\"target\":100", "unique leads"]),
            // The report over the fixture's 7 leads, as a page and as numbers; alerts as stored.
            get("/report", 200, &["<svg", "id=\"funnel\"", "<b>7</b>"]),
            get("/api/report", 200, &["\"unique_leads\":7", "\"quality_histogram\"", "\"overlap\""]),
            get("/api/alerts", 200, &["\"firing\":[]", "\"sinks\":[]", "\"notices\":[]"]),
            get(
                "/api/workflows",
                200,
                &["\"running\":false", "\"name\":\"apollo-ppc\"", "\"state\":\"idle\""],
            ),
            post("/api/workflows/apollo-ppc/pause", "", 409, &["no sprint is running"]),
            Scenario { headers: &[], ..post("/api/workflows/apollo-ppc/resume", "", 409, &["no sprint"]) },
            post("/api/enrichment/pause", "", 409, &["no enrichment is running"]),
            get(
                "/metrics",
                200,
                &[
                    "leadsprint_unique_leads 7\n",
                    "leadsprint_requests_total{workflow=\"apollo-ppc\",vendor=\"apollo\"} 0",
                ],
            ),
            // Export of a view: the query's leads only, as CSV or JSONL; vendor text stays text.
            Scenario {
                must_not: &["Shah,", "Lindqvist"],
                ..get("/api/export?q=city:chicago%20-shah", 200, &["id,", "Wills"])
            },
            get("/api/export?format=jsonl&q=onerror", 200, &["<img src=x onerror=alert(1)>", "\"sources\""]),
            get("/api/export?format=xml", 400, &["csv or jsonl"]),
            get("/api/export?q=titel:x", 400, &["did you mean 'title'"]),
            get("/api/export?min_quality=101", 400, &["0 to 100"]),
            // Upload: through the same importer and writer; bad files explained, nothing lost.
            post(
                "/api/import?name=new-leads.csv",
                "email,first_name,last_name,title\nnew.person@acme.io,New,Person,PPC Lead\nnot-an-email,,,\n",
                200,
                &["\"new_leads\":1", "\"quarantined\":1", "\"path\":\"new-leads.csv\"", "\"format\":\"csv\""],
            ),
            post("/api/import?name=broken.json", "[{\"email\": ", 400, &["not valid JSON"]),
            post("/api/import?name=empty.csv", "", 400, &["upload is empty"]),
            post("/api/import?name=x.csv&encoding=klingon", "a\n", 400, &["unknown encoding"]),
            Scenario {
                headers: &[("origin", "https://evil.example")],
                ..post("/api/import?name=x.csv", "email\na@b.io\n", 403, &["cross-site"])
            },
        ],
    );
    // The uploaded lead is searchable once the index commits (within a second or so).
    let client = leadsprint::http::http(std::time::Duration::from_secs(10)).unwrap();
    let url = format!("{base}/api/leads?q=email:new.person@acme.io");
    let found = (0..50).any(|_| {
        let body = runtime.block_on(async { client.get(&url).send().await.unwrap().text().await.unwrap() });
        body.contains("\"total\":1") || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(found, "the uploaded lead never became searchable");
    intake.finish().unwrap();
}

#[test]
fn a_server_that_requires_a_token_refuses_requests_without_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sb = Sandbox::new();
    let (base, intake) = start(&runtime, &sb, Some(TOKEN));
    const BEARER: &[(&str, &str)] = &[("authorization", "Bearer 0123456789abcdef0123456789abcdef")];
    run(
        &runtime,
        &base,
        &[
            Scenario { must_not: &[TOKEN], ..get("/api/stats", 401, &["access token"]) },
            get("/healthz", 401, &[]),
            Scenario {
                headers: &[("authorization", "Bearer wrong-token-wrong-token")],
                ..get("/api/stats", 401, &[])
            },
            Scenario { headers: BEARER, must_not: &[TOKEN], ..get("/api/stats", 200, &["unique_leads"]) },
            Scenario {
                headers: &[("cookie", "theme=dark; leadsprint_token=0123456789abcdef0123456789abcdef")],
                ..get("/api/leads/1", 200, &["Wills"])
            },
            get("/api/leads/1?token=0123456789abcdef0123456789abcdef", 200, &["Wills"]),
            // With the token, any Host (a LAN name) is fine; a cross-site POST still is not.
            Scenario {
                headers: &[
                    ("authorization", "Bearer 0123456789abcdef0123456789abcdef"),
                    ("host", "leads.lan:{port}"),
                ],
                ..get("/api/stats", 200, &[])
            },
            Scenario {
                method: "POST",
                headers: &[
                    ("authorization", "Bearer 0123456789abcdef0123456789abcdef"),
                    ("origin", "https://evil.example"),
                ],
                ..get("/api/leads", 403, &[])
            },
            // A token in any URL is taken (it also becomes the cookie).
            get("/app.js?token=0123456789abcdef0123456789abcdef", 200, &["EventSource"]),
            Scenario { must_not: &[TOKEN], ..get("/metrics", 401, &[]) },
        ],
    );
    intake.finish().unwrap();
}

#[test]
fn generated_tokens_are_256_bit_and_distinct() {
    let a = leadsprint::server::generate_token().unwrap();
    let b = leadsprint::server::generate_token().unwrap();
    assert_eq!(a.len(), 64);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

/// `leadsprint serve`: prints its URL, records its address (never the token) in the
/// data dir, requires a generated token beyond loopback, stops cleanly on Ctrl-C.
#[test]
fn serve_prints_its_url_and_guards_a_non_loopback_bind() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = leadsprint::http::http(std::time::Duration::from_secs(10)).unwrap();
    let get = |url: String, bearer: Option<&str>| {
        let mut request = client.get(url);
        if let Some(t) = bearer {
            request = request.bearer_auth(t);
        }
        runtime.block_on(async { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) })
    };
    for (bind, needs_token) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
        let sb = Sandbox::new();
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
        assert_eq!(sb.import(&Path::new(fixtures).join("apollo.csv")).code, 0);
        let mut child = crate::support::spawn(
            sb.command(&["serve", "--bind", bind])
                .env_remove("LEADSPRINT_TOKEN")
                .stdout(std::process::Stdio::piped()),
        );
        let printed = crate::support::served_url(&mut child);
        let url = printed.split_whitespace().next().unwrap_or_default().to_owned();
        let port = url.split(':').nth(2).and_then(|p| p.split('/').next()).unwrap_or_default().to_owned();
        let local = format!("http://127.0.0.1:{port}/api/stats");
        let recorded = std::fs::read_to_string(sb.data_dir().join("server.json")).unwrap();
        assert!(recorded.contains(&format!(":{port}/")), "{recorded}");
        if needs_token {
            let token = url.split("?token=").nth(1).unwrap_or_default().to_owned();
            assert_eq!(token.len(), 64, "{printed}");
            assert!(!recorded.contains(&token), "the token was written to the data dir");
            assert_eq!(get(local.clone(), None), 401);
            assert_eq!(get(local.clone(), Some(&token)), 200);
        } else {
            assert!(!url.contains("token"), "{printed}");
            assert_eq!(get(local, None), 200);
        }
        let interrupted = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        assert!(interrupted.is_ok_and(|s| s.success()), "send Ctrl-C");
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(!sb.data_dir().join("server.json").exists(), "server.json left behind");
    }
}

/// What the table cannot see: headers, revalidation, the event stream, the cookie.
#[test]
fn headers_revalidation_event_stream_and_token_cookie() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sb = Sandbox::new();
    let (base, intake) = start(&runtime, &sb, None);
    let client = leadsprint::http::http(std::time::Duration::from_secs(10)).unwrap();
    runtime.block_on(async {
        let page = client.get(format!("{base}/")).send().await.unwrap();
        let header = |name: &str| {
            page.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert!(header("content-security-policy").contains("script-src 'self'"));
        assert!(!header("content-security-policy").contains("unsafe-inline"));
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("cache-control"), "no-cache");
        let etag = header("etag");
        assert!(etag.len() > 8, "an ETag: {etag:?}");
        let again = client.get(format!("{base}/")).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 304, "an unchanged page is revalidated, not resent");

        let mut events = client.get(format!("{base}/api/events")).send().await.unwrap();
        assert_eq!(events.status().as_u16(), 200);
        let kind = events.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        let mut text = String::new();
        while !text.contains("\n\n") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), events.chunk()).await;
            text.push_str(&String::from_utf8_lossy(&chunk.expect("a snapshot event soon").unwrap().unwrap()));
        }
        assert!(text.starts_with("event: snapshot\ndata: {"), "{text:.200}");
        assert!(text.contains("\"mode\":\"serve\"") && text.contains("\"unique_leads\":7"), "{text:.300}");
    });
    intake.finish().unwrap();

    let sb = Sandbox::new();
    let (base, intake) = start(&runtime, &sb, Some(TOKEN));
    // The printed URL: the token becomes a same-site, script-proof cookie and leaves the URL.
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    runtime.block_on(async {
        let opened = no_redirects.get(format!("{base}/?token={TOKEN}")).send().await.unwrap();
        assert_eq!(opened.status().as_u16(), 303);
        assert_eq!(opened.headers().get("location").and_then(|v| v.to_str().ok()), Some("/"));
        let cookie =
            opened.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(cookie.starts_with(&format!("leadsprint_token={TOKEN};")), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let plain = client.get(format!("{base}/api/stats")).bearer_auth(TOKEN).send().await.unwrap();
        assert!(plain.headers().get("set-cookie").is_none(), "the cookie is set only from the URL");
    });
    intake.finish().unwrap();
}

/// Identity through the API, in order: a bridging upload merges two leads (the
/// absorbed id answers with the survivor and says so), the merged lead is up for
/// review and split, the do-not-contact list changes what exports hold, erasure.
#[test]
fn identity_routes_merge_review_split_suppress_and_forget() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sb = Sandbox::new();
    let (base, intake) = start(&runtime, &sb, None);
    run(
        &runtime,
        &base,
        &[
            // Dana's email with Omar's LinkedIn URL: leads 1 and 2 are one person.
            post(
                "/api/import?name=bridge.csv",
                "email,linkedin_url\ndana@acme.com,https://www.linkedin.com/in/omar-haddad\n",
                200,
                &["\"leads_merged\":1"],
            ),
            get(
                "/api/leads/2",
                200,
                &["\"requested_id\":2", "\"merged_into\":1", "\"id\":1,", "omar-haddad"],
            ),
            get(
                "/api/review",
                200,
                &["\"total\":1", "u:linkedin.com/in/omar-haddad", "\"kind\":\"linkedin_url\""],
            ),
            get("/api/stats", 200, &["\"aliases\":1", "\"needs_review\":1", "\"unique_leads\":6"]),
            post("/api/leads/1/split", "{\"keys\":[\"nobody@acme.com\"]}", 400, &["does not hold"]),
            post("/api/leads/999/split", "{\"keys\":[\"dana@acme.com\"]}", 404, &["no lead 999"]),
            post("/api/leads/1/split", "not json", 400, &["not the JSON expected"]),
            post("/api/leads/1/split", "{\"keys\":[\"info@acme.com\"]}", 400, &["role address"]),
            // Split through the alias: it names lead 1.
            post(
                "/api/leads/2/split",
                "{\"keys\":[\"https://www.linkedin.com/in/omar-haddad\", \"apollo:a00000000000000000000002\", \"omar@globex.io\"]}",
                200,
                &["\"requested\":2", "\"lead\":1", "\"new_lead\":", "u:linkedin.com/in/omar-haddad"],
            ),
            get("/api/review", 200, &["\"total\":0"]),
            post(
                "/api/suppressions",
                "{\"entries\":[\"@hooli.com\"]}",
                200,
                &["\"added\":[\"@hooli.com\"]", "\"listed\":1"],
            ),
            post("/api/suppressions", "{\"entries\":[\"bogus\"]}", 400, &["not an email"]),
            get(
                "/api/suppressions",
                200,
                &["\"entry\":\"@hooli.com\"", "\"kind\":\"domain\"", "\"origin\":\"api\""],
            ),
            get("/api/leads/4", 200, &["\"suppressed\":\"@hooli.com\"", "Chen"]),
            Scenario { must_not: &["hooli"], ..get("/api/export?format=jsonl", 200, &["dana@acme.com"]) },
            get("/api/export?format=jsonl&suppressed=include", 200, &["hooli"]),
            post(
                "/api/suppressions/remove",
                "{\"entries\":[\"@hooli.com\"]}",
                200,
                &["\"removed\":[\"@hooli.com\"]", "\"listed\":0"],
            ),
            post(
                "/api/suppressions/import?name=dnc.txt",
                "@hooli.com\nnot an entry\n",
                200,
                &["\"added\":[\"@hooli.com\"]", "\"line\":2"],
            ),
            post("/api/suppressions/import?name=empty.txt", "# nothing\n", 400, &["holds no entry"]),
            post(
                "/api/forget",
                "{\"keys\":[\"jose@initech.com\"]}",
                200,
                &["\"erased_leads\":[3]", "\"tombstones\":2"],
            ),
            get("/api/leads/3", 410, &["erased on request"]),
            get("/api/removed", 200, &["\"aliases\":[[2,1]]", "\"erased\":[3]"]),
            post(
                "/api/import?name=again.csv",
                "email\njose@initech.com\n",
                200,
                &["\"erased\":1", "\"new_leads\":0"],
            ),
            Scenario {
                headers: &[("origin", "https://evil.example")],
                ..post("/api/forget", "{\"keys\":[\"dana@acme.com\"]}", 403, &["cross-site"])
            },
            Scenario {
                headers: &[("origin", "https://evil.example")],
                ..post("/api/suppressions", "{\"entries\":[\"@acme.com\"]}", 403, &["cross-site"])
            },
            get(
                "/api/openapi.json",
                200,
                &["/api/leads/{id}/split", "/api/forget", "/api/suppressions/import"],
            ),
        ],
    );
    intake.finish().unwrap();
}
