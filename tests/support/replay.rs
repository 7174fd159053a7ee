//! Replays a service's documented exchanges (`tests/fixtures/vendors/*.json`,
//! `tests/fixtures/crm/*.json`): a server on port 0 that expects the scenario's
//! requests in order — method, path, query parameters, the headers named, the body
//! (JSON, a form, or text) — and answers each with its documented response
//! (`{{base}}` in it stands for the server's own URL). A request that differs is answered 400 and recorded, so a
//! wrong route or parameter fails the test even where a twin would accept it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Deserialize)]
pub struct Exchange {
    pub request: Expected,
    pub response: Answer,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    pub method: String,
    pub path: String,
    /// Every query parameter, in order, decoded (`[]` suffixes included).
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Headers that must be present with these values (names in lower case).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The JSON body; absent (with `form` and `text`): none is expected.
    pub body: Option<Value>,
    /// An `application/x-www-form-urlencoded` body, as pairs in any order.
    #[serde(default)]
    pub form: Option<Vec<(String, String)>>,
    /// A text body (a CSV upload), exactly.
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Answer {
    pub status: u16,
    #[serde(default)]
    pub content_type: Option<String>,
    /// A JSON body, or a text one.
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Fixture {
    scenarios: std::collections::BTreeMap<String, Scenario>,
}

#[derive(Debug, Deserialize)]
struct Scenario {
    exchanges: Vec<Exchange>,
}

/// The exchanges of one scenario of a fixture file (`vendors/apollo`, `crm/hubspot`).
pub fn scenario(file: &str, name: &str) -> Vec<Exchange> {
    let file = if file.contains('/') { file.to_owned() } else { format!("vendors/{file}") };
    let path = format!("{}/tests/fixtures/{file}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut fixture: Fixture = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    fixture.scenarios.remove(name).unwrap_or_else(|| panic!("{path} has no scenario {name}")).exchanges
}

#[derive(Default)]
struct Tape {
    left: std::collections::VecDeque<Exchange>,
    mismatches: Vec<String>,
    base: String,
}

pub struct Replay {
    pub url: String,
    tape: Arc<Mutex<Tape>>,
}

impl Replay {
    pub async fn start(exchanges: Vec<Exchange>) -> Replay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let tape =
            Arc::new(Mutex::new(Tape { left: exchanges.into(), base: url.clone(), ..Tape::default() }));
        let state = tape.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { serve(&state, &method, &uri, &headers, &body) }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Replay { url, tape }
    }

    /// Panics unless every request matched and every exchange was played.
    pub fn assert_played(&self) {
        let tape = self.tape.lock().unwrap();
        assert!(
            tape.mismatches.is_empty(),
            "requests that differ from the documented ones:\n{}",
            tape.mismatches.join("\n")
        );
        let left: Vec<String> =
            tape.left.iter().map(|e| format!("{} {}", e.request.method, e.request.path)).collect();
        assert!(left.is_empty(), "documented exchanges never requested: {left:?}");
    }
}

fn serve(tape: &Mutex<Tape>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut tape = tape.lock().unwrap();
    let base = tape.base.clone();
    let Some(next) = tape.left.pop_front() else {
        let what = format!("{method} {uri}: a request after the last documented exchange");
        tape.mismatches.push(what.clone());
        return (StatusCode::BAD_REQUEST, what).into_response();
    };
    if let Some(why) = differs(&next.request, method, uri, headers, body, &base) {
        let what = format!("{method} {uri}: {why}");
        tape.mismatches.push(what.clone());
        return (StatusCode::BAD_REQUEST, what).into_response();
    }
    let answer = next.response;
    let status = StatusCode::from_u16(answer.status).expect("status");
    let (default_type, text) = match (answer.body, answer.text) {
        (Some(json), _) => ("application/json", json.to_string().replace("{{base}}", &base)),
        (None, Some(text)) => ("text/plain", text),
        (None, None) => ("text/plain", String::new()),
    };
    let content_type = answer.content_type.unwrap_or_else(|| default_type.to_owned());
    (status, [("content-type", content_type)], text).into_response()
}

fn differs(
    expected: &Expected,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    base: &str,
) -> Option<String> {
    if method.as_str() != expected.method || uri.path() != expected.path {
        return Some(format!("expected {} {}", expected.method, expected.path));
    }
    let query: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    if query != expected.query {
        return Some(format!("query {query:?}, documented {:?}", expected.query));
    }
    for (name, value) in &expected.headers {
        let got = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if got != Some(value.as_str()) {
            return Some(format!("header {name} is {got:?}, expected {value:?}"));
        }
    }
    if let Some(form) = &expected.form {
        let mut got: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let mut want = form.clone();
        got.sort();
        want.sort();
        return (got != want).then(|| format!("form {got:?}, documented {want:?}"));
    }
    if let Some(text) = &expected.text {
        let got = String::from_utf8_lossy(body);
        let want = text.replace("{{base}}", base);
        return (got != want).then(|| format!("body {got:?}, documented {want:?}"));
    }
    let got: Option<Value> = if body.is_empty() { None } else { serde_json::from_slice(body).ok() };
    if got != expected.body {
        return Some(format!(
            "body {}, documented {}",
            got.map_or("none".into(), |b| b.to_string()),
            expected.body.as_ref().map_or("none".into(), |b| b.to_string())
        ));
    }
    None
}
