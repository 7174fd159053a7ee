//! The server holding a data dir, as seen by the other commands: while `serve` or
//! `demo` holds the dir's lock, `stats`, `search` and `export` read through its API
//! and `import` uploads through its single writer, instead of failing on the lock.
//! Its address comes from `<data dir>/server.json`; its token (for a server bound
//! beyond loopback) from `LEADSPRINT_TOKEN`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde::de::DeserializeOwned;

use leadsprint::lead::Lead;
use leadsprint::store::{Store, StoreError};

use super::serve::SERVER_FILE;

/// The store itself, or the server that holds it.
pub enum Holder {
    Local(Store),
    Remote(Remote),
}

/// Opens the data dir's store; when a running server holds it, that server.
pub fn open(dir: &Path) -> anyhow::Result<Holder> {
    holder_of(dir, Store::open_existing(dir))
}

/// What an attempt to open the store found: the store, or — when it is locked by
/// the process `server.json` names and that server answers — the server.
pub fn holder_of(dir: &Path, opened: Result<Store, StoreError>) -> anyhow::Result<Holder> {
    match opened {
        Ok(store) => Ok(Holder::Local(store)),
        Err(StoreError::Locked { dir: locked, holder }) => match Remote::find(dir, &holder)? {
            Some(remote) => Ok(Holder::Remote(remote)),
            None => Err(StoreError::Locked { dir: locked, holder }.into()),
        },
        Err(e) => Err(e.into()),
    }
}

pub struct Remote {
    /// `http://127.0.0.1:PORT` (a wildcard bind is reached over loopback).
    base: String,
    token: Option<String>,
    client: reqwest::Client,
    /// The CLI's commands are synchronous; their requests run here.
    runtime: tokio::runtime::Runtime,
}

impl Remote {
    /// The server recorded in `dir`, if the record names the process holding the
    /// lock (`holder`, as the lock error gives it) and the server answers. A record
    /// left by a killed server names another process and is ignored.
    fn find(dir: &Path, holder: &str) -> anyhow::Result<Option<Remote>> {
        let Ok(text) = std::fs::read_to_string(dir.join(SERVER_FILE)) else { return Ok(None) };
        let record: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let Some(url) = record["url"].as_str() else { return Ok(None) };
        let holder_pid: String = holder.chars().filter(char::is_ascii_digit).collect();
        if record["pid"].as_u64().map(|p| p.to_string()) != Some(holder_pid) {
            return Ok(None);
        }
        let base =
            url.trim_end_matches('/').replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
        let client = leadsprint::http::http(Duration::from_secs(600))?;
        let token = std::env::var("LEADSPRINT_TOKEN").ok().filter(|t| !t.is_empty());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let remote = Remote { base, token, client, runtime };
        let answers = remote.block(async { remote.request(reqwest::Method::GET, "/healthz").send().await });
        Ok(answers.is_ok().then_some(remote))
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    fn block<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// GETs `path` (with its query) as JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.block(async {
            let response = self.request(reqwest::Method::GET, path).send().await;
            let response = checked(&self.base, response).await?;
            response.json::<T>().await.with_context(|| format!("reading the answer of {}{path}", self.base))
        })
    }

    /// POSTs `body` as JSON to `path` and reads the JSON answer.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        self.block(async {
            let request = self.request(reqwest::Method::POST, path).json(body);
            let response = checked(&self.base, request.send().await).await?;
            response.json::<T>().await.with_context(|| format!("reading the answer of {}{path}", self.base))
        })
    }

    /// POSTs a file's bytes to `path` and returns the JSON answer.
    pub fn upload(&self, path: &str, file: &Path) -> anyhow::Result<serde_json::Value> {
        let size = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len();
        if size > leadsprint::server::MAX_BODY as u64 {
            anyhow::bail!(
                "{} is over the server's 64 MiB upload limit: split it, or stop the server and import it directly",
                file.display()
            );
        }
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        self.block(async {
            let request = self.request(reqwest::Method::POST, path).body(bytes);
            let response = checked(&self.base, request.send().await).await?;
            Ok(response.json().await?)
        })
    }

    /// The leads the server's export answers for `query` (a `/api/export` query
    /// string without `format`), streamed: the server applies the filters.
    pub fn leads(&self, query: &str) -> impl Iterator<Item = anyhow::Result<Lead>> + use<> {
        let (tx, rx) = flume::bounded(1024);
        let url = format!("{}/api/export?format=jsonl&{query}", self.base);
        let (base, token) = (self.base.clone(), self.token.clone());
        // Its own thread, runtime and client: a pooled connection belongs to the
        // runtime that opened it, and this one runs while the caller iterates.
        std::thread::spawn(move || {
            let streamed = (|| -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                let client = leadsprint::http::http(Duration::from_secs(600))?;
                let request = match &token {
                    Some(t) => client.get(&url).bearer_auth(t),
                    None => client.get(&url),
                };
                runtime.block_on(stream_lines(&base, request, &tx))
            })();
            if let Err(e) = streamed {
                let _ = tx.send(Err(e));
            }
        });
        rx.into_iter()
    }
}

/// Reads JSONL leads off the response, handing each to `tx` (its receiver's
/// iterator is the caller's). A cut-off stream is an error, not a short export.
async fn stream_lines(
    base: &str,
    request: reqwest::RequestBuilder,
    tx: &flume::Sender<anyhow::Result<Lead>>,
) -> anyhow::Result<()> {
    let mut response = checked(base, request.send().await).await?;
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) =
        response.chunk().await.with_context(|| format!("the export from {base} broke off"))?
    {
        buffer.extend_from_slice(&chunk);
        let Some(last) = buffer.iter().rposition(|b| *b == b'\n') else { continue };
        for line in buffer[..last].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let lead =
                serde_json::from_slice::<Lead>(line).context("the server sent a lead this build cannot read");
            if tx.send(lead).is_err() {
                return Ok(());
            }
        }
        buffer.drain(..=last);
    }
    if !buffer.iter().all(u8::is_ascii_whitespace) {
        anyhow::bail!("the export from {base} ended in the middle of a lead");
    }
    Ok(())
}

/// The response, or the server's error message with what to do.
async fn checked(
    base: &str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> anyhow::Result<reqwest::Response> {
    let response = response.with_context(|| format!("the server at {base} did not answer"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message = body["error"].as_str().unwrap_or("no reason given").to_owned();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(anyhow!("the server at {base} needs its access token: set LEADSPRINT_TOKEN ({message})"));
    }
    match body["hint"].as_str() {
        Some(hint) => Err(anyhow!("the server at {base} answered {status}: {message}; {hint}")),
        None => Err(anyhow!("the server at {base} answered {status}: {message}")),
    }
}

/// `key=value&…` with values percent-encoded.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let encode =
        |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}
