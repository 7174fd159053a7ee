//! A scriptable fake vendor: an axum app on port 0 that answers requests with a
//! scripted list of responses (the last one repeats) and records when each arrived.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply { status, headers: vec![("content-type", "application/json".into())], body: body.into() }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
struct Script {
    replies: Vec<Reply>,
    arrivals: Vec<Instant>,
}

pub struct FakeVendor {
    pub url: String,
    script: Arc<Mutex<Script>>,
}

impl FakeVendor {
    pub async fn start(replies: Vec<Reply>) -> FakeVendor {
        let script = Arc::new(Mutex::new(Script { replies, arrivals: Vec::new() }));
        let state = script.clone();
        let app = Router::new().fallback(move || {
            let state = state.clone();
            async move { answer(&state) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeVendor { url, script }
    }

    /// Gaps between consecutive requests.
    pub fn gaps(&self) -> Vec<Duration> {
        let s = self.script.lock().unwrap();
        s.arrivals.windows(2).map(|w| w[1] - w[0]).collect()
    }

    pub fn requests(&self) -> usize {
        self.script.lock().unwrap().arrivals.len()
    }
}

fn answer(script: &Mutex<Script>) -> Response {
    let mut s = script.lock().unwrap();
    let n = s.arrivals.len();
    s.arrivals.push(Instant::now());
    let reply = s.replies.get(n).or(s.replies.last()).cloned().unwrap_or_else(|| Reply::new(200, "{}"));
    let mut response =
        (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK), reply.body).into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
