//! Files in and out: `POST /api/import` (an upload, read by the same importer as
//! `leadsprint import` and written by the pipeline's single writer) and
//! `GET /api/export` (the leads matching a query, streamed as CSV or JSONL).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::live::Level;
use super::{AppState, MAX_BODY, WRITER_STOPPED_HINT, error};
use crate::export::{self, FileFormat, Filter};
use crate::import::{self, FileReport, ImportError, ImportOptions};
use crate::lead::SuppressionList;
use crate::pipeline::{self, IntakeSender, Item, PipelineError, Totals};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/import", post(upload)).route("/api/export", get(download))
}

/// Items handed to the writer per batch of an upload.
const UPLOAD_BATCH: usize = 2_000;

/// `key=value` pairs of a query string, decoded; keys may repeat (`map=`).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    let decode =
        |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) fn first(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// The upload's own name, reduced to a safe file name.
fn upload_name(given: Option<String>) -> String {
    let given = given.unwrap_or_default();
    let last = given.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(100)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.is_empty() { "upload.csv".to_owned() } else { clean }
}

async fn upload(State(state): State<AppState>, RawQuery(raw): RawQuery, body: Body) -> Response {
    let Some(intake) = state.intake.clone() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "this server is read-only: it has no writer");
    };
    let pairs = query_pairs(raw.as_deref());
    let name = upload_name(first(&pairs, "name"));
    let options = ImportOptions {
        maps: pairs.iter().filter(|(k, _)| k == "map").map(|(_, v)| v.clone()).collect(),
        encoding: first(&pairs, "encoding").filter(|e| !e.is_empty()),
        vendor: first(&pairs, "vendor").filter(|v| !v.is_empty()),
        workflow: None,
    };
    let folder = upload_folder(state.store.dir());
    let path = folder.join(&name);
    let saved = save_body(body, &folder, &path).await;
    let result = match saved {
        Ok(0) => {
            Err(error(StatusCode::BAD_REQUEST, "the upload is empty: send the file's bytes as the body"))
        }
        Ok(_) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || import_upload(&path, &options, &intake))
                .await
                .unwrap_or_else(|_| Err(UploadError::Writer(PipelineError::WriterLost, Box::default())))
                .map_err(|e| e.response())
        }
        Err(response) => Err(response),
    };
    let _ = tokio::fs::remove_dir_all(&folder).await;
    match result {
        Ok((mut report, totals)) => {
            report.path = name.clone();
            let message = format!(
                "imported {name}: {} records, {} new leads, {} merged, {} quarantined",
                totals.records_received, totals.new_leads, totals.duplicates_merged, totals.quarantined
            );
            state.live.note(Level::Info, None, message);
            axum::Json(json!({ "file": report, "totals": totals })).into_response()
        }
        Err(response) => response,
    }
}

/// A folder of its own per upload, inside the data dir (same disk, removed after).
fn upload_folder(dir: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join("uploads").join(format!("{}-{n}", std::process::id()))
}

/// Streams the body to `path`, refusing more than [`MAX_BODY`] bytes.
async fn save_body(body: Body, folder: &Path, path: &Path) -> Result<u64, Response> {
    let io =
        |e: std::io::Error| error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot store the upload: {e}"));
    tokio::fs::create_dir_all(folder).await.map_err(io)?;
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| error(StatusCode::BAD_REQUEST, format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > MAX_BODY as u64 {
            let limit = MAX_BODY >> 20;
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is over {limit} MiB: split the file, or import it with `leadsprint import`"
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(size)
}

enum UploadError {
    Import(ImportError),
    /// The writer failed; the totals of the batches stored before it did.
    Writer(PipelineError, Box<Totals>),
}

impl UploadError {
    fn response(self) -> Response {
        match self {
            UploadError::Import(ImportError::Io { source, .. }) => {
                error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the upload back: {source}"))
            }
            UploadError::Import(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
            UploadError::Writer(e, written) => {
                tracing::error!(error = %e, records = written.records_received, "upload not fully written");
                let body = json!({
                    "error": format!(
                        "the leads could not be stored: {e}; {} records of the file were stored before",
                        written.records_received
                    ),
                    "written": written,
                    "hint": WRITER_STOPPED_HINT,
                });
                (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
            }
        }
    }
}

/// Reads the saved upload and writes it in batches of its own, adding their totals.
fn import_upload(
    path: &Path,
    options: &ImportOptions,
    intake: &IntakeSender,
) -> Result<(FileReport, Totals), UploadError> {
    let mut totals = Totals::default();
    let mut pending: Vec<Item> = Vec::new();
    let mut failure: Option<PipelineError> = None;
    let write = |items: Vec<Item>, totals: &mut Totals| -> Result<(), PipelineError> {
        let batch = pipeline::write_batch(intake, items)?;
        totals.add(batch);
        Ok(())
    };
    let read = import::read_file(path, options, &|_| {}, &mut |items| {
        pending.extend(items);
        if pending.len() >= UPLOAD_BATCH
            && let Err(e) = write(std::mem::take(&mut pending), &mut totals)
        {
            failure = Some(e);
            return false;
        }
        true
    });
    if let Some(e) = failure {
        return Err(UploadError::Writer(e, Box::new(totals)));
    }
    let report = read.map_err(UploadError::Import)?;
    if !pending.is_empty()
        && let Err(e) = write(pending, &mut totals)
    {
        return Err(UploadError::Writer(e, Box::new(totals)));
    }
    Ok((report, totals))
}

async fn download(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let (format, extension, mime) = match first(&pairs, "format").as_deref() {
        None | Some("csv") => (FileFormat::Csv, "csv", "text/csv; charset=utf-8"),
        Some("jsonl") => (FileFormat::Jsonl, "jsonl", "application/x-ndjson"),
        Some(other) => return error(StatusCode::BAD_REQUEST, format!("format {other:?}: use csv or jsonl")),
    };
    let min_quality = match first(&pairs, "min_quality").map(|q| q.parse::<u8>()) {
        None => 0,
        Some(Ok(q)) if q <= 100 => q,
        Some(_) => return error(StatusCode::BAD_REQUEST, "min_quality is a whole number from 0 to 100"),
    };
    let after = match first(&pairs, "after").map(|a| a.parse::<u64>()) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "after is a lead id (a whole number)"),
    };
    let query = first(&pairs, "q").unwrap_or_default();
    let mut filter = match matching(&state, &query, min_quality).await {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    // `suppressed=include` hands the caller every lead (the CLI applies the list
    // itself, to count what it leaves out); a download never holds them otherwise.
    if first(&pairs, "suppressed").as_deref() != Some("include") {
        match suppression_list(&state).await {
            Ok(list) => filter.suppression = Some(list),
            Err(response) => return response,
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let out = ChannelWriter { tx: tx.clone(), buffer: Vec::with_capacity(CHUNK) };
        let written = store.reader().map_err(|e| e.to_string()).and_then(|reader| {
            let leads = reader.leads_after(after).map_err(|e| e.to_string())?;
            export::to_writer(out, format, filter, leads, Path::new("download")).map_err(|e| e.to_string())
        });
        if let Err(e) = written {
            // Cut the response short so the client sees a broken download, not a short file.
            tracing::warn!(error = %e, "export download failed");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let disposition = format!("attachment; filename=\"leads.{extension}\"");
    ([(header::CONTENT_TYPE, mime.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

/// The do-not-contact list as stored now.
async fn suppression_list(state: &AppState) -> Result<Arc<SuppressionList>, Response> {
    let store = state.store.clone();
    let read = move || store.reader().and_then(|r| r.suppressions());
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(entries)) => Ok(Arc::new(SuppressionList::new(entries.into_iter().map(|(e, _)| e)))),
        _ => {
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "the server could not read the store; see its log"))
        }
    }
}

/// The export filter for `query` (all leads when empty); a bad query is a 400.
async fn matching(state: &AppState, query: &str, min_quality: u8) -> Result<Filter, Response> {
    if query.trim().is_empty() {
        return Ok(Filter { min_quality, ..Filter::default() });
    }
    let (store, index, query) = (state.store.clone(), state.index.clone(), query.to_owned());
    let find = move || crate::catalog::matching_ids(&store, &index, &query, pipeline::now_millis());
    match tokio::task::spawn_blocking(find).await {
        Ok(Ok(ids)) => Ok(Filter { min_quality, only: Some(Arc::from(ids)), ..Filter::default() }),
        Ok(Err(e)) => Err(error(StatusCode::BAD_REQUEST, e.to_string())),
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "the search failed; see the server log")),
    }
}

/// Bytes per chunk of a streamed download.
const CHUNK: usize = 64 << 10;

/// Hands written bytes to the response body in chunks; a client that went away
/// turns into a write error, which ends the export.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_reduced_to_a_file_name() {
        assert_eq!(upload_name(Some("../../etc/passwd".into())), "passwd");
        assert_eq!(upload_name(Some("C:\\Users\\me\\leads (1).csv".into())), "leads 1.csv");
        assert_eq!(upload_name(Some("..".into())), "upload.csv");
        assert_eq!(upload_name(None), "upload.csv");
        assert_eq!(upload_name(Some("apollo-export.csv".into())), "apollo-export.csv");
    }

    #[test]
    fn query_pairs_decode_and_keep_repeats() {
        let pairs = query_pairs(Some("name=a%20b.csv&map=E-Mail%3Demail&map=Notes=ignore&q=title:ppc+ny"));
        assert_eq!(first(&pairs, "name").as_deref(), Some("a b.csv"));
        let maps: Vec<&str> = pairs.iter().filter(|(k, _)| k == "map").map(|(_, v)| v.as_str()).collect();
        assert_eq!(maps, ["E-Mail=email", "Notes=ignore"]);
        assert_eq!(first(&pairs, "q").as_deref(), Some("title:ppc ny"));
    }
}
