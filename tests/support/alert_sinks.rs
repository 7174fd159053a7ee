//! Local stand-ins for the alert sinks, each on a thread of its own (usable from
//! sync and async tests alike): a Slack incoming webhook that checks what Slack
//! checks (a JSON body with `text`, Block Kit limits) and can be scripted to
//! answer 429 with Retry-After or "gone", and a minimal SMTP server (RFC 5321:
//! EHLO, MAIL, RCPT, DATA, QUIT) that keeps each message it receives.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A scripted answer of the webhook (after the script, `200 ok`).
#[derive(Clone)]
pub struct SlackReply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: &'static str,
}

#[derive(Default)]
struct Caught {
    /// Accepted messages, with when they arrived.
    messages: Vec<(Instant, Value)>,
    /// Every request, accepted or not.
    arrivals: Vec<Instant>,
    script: Vec<SlackReply>,
}

pub struct SlackCatcher {
    pub url: String,
    caught: Arc<Mutex<Caught>>,
}

impl SlackCatcher {
    pub fn start(script: Vec<SlackReply>) -> SlackCatcher {
        let caught = Arc::new(Mutex::new(Caught { script, ..Caught::default() }));
        let state = caught.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let app = Router::new().route(
                    "/services/T000/B000/XXXX",
                    axum::routing::post(move |headers: HeaderMap, body: String| {
                        let state = state.clone();
                        async move { answer(&state, &headers, &body) }
                    }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send addr");
                let _ = axum::serve(listener, app).await;
            });
        });
        let addr = rx.recv().expect("catcher address");
        SlackCatcher { url: format!("http://{addr}/services/T000/B000/XXXX"), caught }
    }

    pub fn messages(&self) -> Vec<(Instant, Value)> {
        self.caught.lock().unwrap().messages.clone()
    }

    pub fn arrivals(&self) -> Vec<Instant> {
        self.caught.lock().unwrap().arrivals.clone()
    }

    /// The `text` of every accepted message.
    pub fn texts(&self) -> Vec<String> {
        self.messages().iter().map(|(_, m)| m["text"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

/// What Slack refuses, it refuses here: a body that is not JSON, no `text`
/// while blocks carry none, more than 50 blocks, a header over 150 characters,
/// a section over 3,000.
fn answer(state: &Mutex<Caught>, headers: &HeaderMap, body: &str) -> Response {
    let mut caught = state.lock().unwrap();
    caught.arrivals.push(Instant::now());
    if !caught.script.is_empty() {
        let reply = caught.script.remove(0);
        let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
        if let Some(secs) = reply.retry_after {
            response.headers_mut().insert("retry-after", secs.into());
        }
        return response;
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if !json_type || message["text"].as_str().is_none_or(str::is_empty) {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    let blocks = message["blocks"].as_array().cloned().unwrap_or_default();
    let too_long =
        |b: &Value, max: usize| b["text"]["text"].as_str().is_some_and(|t| t.chars().count() > max);
    let invalid = blocks.len() > 50
        || blocks.iter().any(|b| match b["type"].as_str() {
            Some("header") => too_long(b, 150),
            Some("section") => too_long(b, 3000) || b["fields"].as_array().is_some_and(|f| f.len() > 10),
            Some("context") | Some("divider") => false,
            _ => true,
        });
    if invalid {
        return (StatusCode::BAD_REQUEST, "invalid_blocks").into_response();
    }
    caught.messages.push((Instant::now(), message));
    (StatusCode::OK, "ok").into_response()
}

/// A minimal SMTP server keeping each message's envelope and data.
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<SmtpMessage>>>,
}

#[derive(Debug, Clone)]
pub struct SmtpMessage {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = session(stream, &kept);
                });
            }
        });
        SmtpSink { port, messages }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<SmtpMessage> {
        self.messages.lock().unwrap().clone()
    }
}

fn session(stream: std::net::TcpStream, kept: &Mutex<Vec<SmtpMessage>>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 sink ESMTP ready\r\n")?;
    let mut current = SmtpMessage { from: String::new(), to: Vec::new(), data: String::new() };
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-sink\r\n250 8BITMIME\r\n")?,
            "HELO" | "RSET" | "NOOP" => out.write_all(b"250 ok\r\n")?,
            "MAIL" => {
                current.from = command[10..].to_owned();
                out.write_all(b"250 ok\r\n")?;
            }
            "RCPT" => {
                current.to.push(command[8..].to_owned());
                out.write_all(b"250 ok\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                current.data = data;
                kept.lock().unwrap().push(std::mem::replace(
                    &mut current,
                    SmtpMessage { from: String::new(), to: Vec::new(), data: String::new() },
                ));
                out.write_all(b"250 queued\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}
