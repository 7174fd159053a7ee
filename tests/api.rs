//! The HTTP API in-process, as a table of scenarios (method, path, headers → status,
//! must / must-not contain), security cases included: wrong Host, cross-site Origin,
//! the token of a server that requires one, traversal paths, query errors.

use std::path::Path;
use std::sync::Arc;

use leadsprint::config::Secret;
use leadsprint::pipeline;
use leadsprint::server::{Access, AppState, serve};
use leadsprint::store::Store;

use crate::support::Sandbox;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Scenario {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    must: &'static [&'static str],
    must_not: &'static [&'static str],
}

const fn get(path: &'static str, status: u16, must: &'static [&'static str]) -> Scenario {
    Scenario { method: "GET", path, headers: &[], status, must, must_not: &[] }
}

/// Starts the API over the search fixture; `token` makes it require one.
fn start(runtime: &tokio::runtime::Runtime, sb: &Sandbox, token: Option<&str>) -> String {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/search");
    assert_eq!(sb.import(&Path::new(fixtures).join("apollo.csv")).code, 0);
    let store = Store::open_existing(&sb.data_dir()).unwrap();
    let (index, _) = pipeline::open_index(&store).unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let access = Access::new(addr, token.map(Secret::new));
    let state = AppState { store: Arc::new(store), index: Arc::new(index), access: Arc::new(access) };
    runtime.spawn(serve(listener, state, std::future::pending()));
    format!("http://{addr}")
}

fn run(runtime: &tokio::runtime::Runtime, base: &str, scenarios: &[Scenario]) {
    let client = leadsprint::http::http(std::time::Duration::from_secs(10)).expect("client");
    let mut failures = Vec::new();
    for s in scenarios {
        let method = reqwest::Method::from_bytes(s.method.as_bytes()).unwrap();
        let mut request = client.request(method, format!("{base}{}", s.path));
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
    let base = start(&runtime, &sb, None);
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
        ],
    );
}

#[test]
fn a_server_that_requires_a_token_refuses_requests_without_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sb = Sandbox::new();
    let base = start(&runtime, &sb, Some(TOKEN));
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
        ],
    );
}

#[test]
fn generated_tokens_are_256_bit_and_distinct() {
    let a = leadsprint::server::generate_token();
    let b = leadsprint::server::generate_token();
    assert_eq!(a.len(), 64);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

/// `leadsprint serve`: prints its URL, records its address (never the token) in the
/// data dir, requires a generated token beyond loopback, stops cleanly on Ctrl-C.
#[test]
fn serve_prints_its_url_and_guards_a_non_loopback_bind() {
    use std::io::BufRead;
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
        let mut child = sb
            .command(&["serve", "--bind", bind])
            .env_remove("LEADSPRINT_TOKEN")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().nth(2).unwrap_or_default().to_owned();
        let port = url.split(':').nth(2).and_then(|p| p.split('/').next()).unwrap_or_default().to_owned();
        let local = format!("http://127.0.0.1:{port}/api/stats");
        let recorded = std::fs::read_to_string(sb.data_dir().join("server.json")).unwrap();
        assert!(recorded.contains(&format!(":{port}/")), "{recorded}");
        if needs_token {
            let token = url.split("?token=").nth(1).unwrap_or_default().to_owned();
            assert_eq!(token.len(), 64, "{line}");
            assert!(!recorded.contains(&token), "the token was written to the data dir");
            assert_eq!(get(local.clone(), None), 401);
            assert_eq!(get(local.clone(), Some(&token)), 200);
        } else {
            assert!(!url.contains("token"), "{line}");
            assert_eq!(get(local, None), 200);
        }
        let interrupted = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        assert!(interrupted.is_ok_and(|s| s.success()), "send Ctrl-C");
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(!sb.data_dir().join("server.json").exists(), "server.json left behind");
    }
}
