//! Identity routes: leads to review (contradicting keys) and splitting them, the
//! do-not-contact list, erasure requests, and the ids exports must delete (leads
//! merged away or erased). Changes go through the pipeline's single writer.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::live::Level;
use super::{AppState, error};
use crate::catalog;
use crate::import::suppression::{RejectedLine, read_list};
use crate::lead::{IdentityKey, LeadId, Suppression, identity};
use crate::pipeline::identity::{Answer, Command, CommandError};
use crate::pipeline::run_command_async;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/review", get(review))
        .route("/api/leads/{id}/split", post(split))
        .route("/api/suppressions", get(suppressions).post(suppress))
        .route("/api/suppressions/remove", post(unsuppress))
        .route("/api/suppressions/import", post(import_list))
        .route("/api/forget", post(forget))
        .route("/api/removed", get(removed))
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

/// The leads whose keys contradict, with the keys, oldest first.
async fn review(State(state): State<AppState>, Query(page): Query<Page>) -> Response {
    let (limit, offset) = (page.limit.unwrap_or(100).min(1000), page.offset.unwrap_or(0));
    let read = move || catalog::needing_review(&state.store.reader()?, limit, offset);
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(page)) => axum::Json(page).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading the leads to review failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "the server could not read the store; see its log")
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the review listing failed; see the server log"),
    }
}

#[derive(Debug, Deserialize)]
struct Keys {
    keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Entries {
    entries: Vec<String>,
}

async fn split(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(lead) = id.parse::<LeadId>() else {
        return error(StatusCode::BAD_REQUEST, "a lead id is a whole number");
    };
    let keys = match keys_of(&body) {
        Ok(keys) => keys,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let answer = command(&state, Command::Split { lead, keys }).await;
    if let Ok(Answer::Split(report)) = &answer {
        let message = format!(
            "lead {} split: {} moved to new lead {}",
            report.lead,
            report.moved.join(", "),
            report.new_lead
        );
        state.live.note(Level::Info, None, message);
    }
    respond(answer)
}

async fn suppressions(State(state): State<AppState>) -> Response {
    let read = move || state.store.reader().and_then(|r| r.suppressions());
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(list)) => {
            let entries: Vec<serde_json::Value> = list
                .iter()
                .map(|(entry, record)| {
                    json!({
                        "entry": entry.display(),
                        "kind": entry.kind(),
                        "added_at": record.added_at,
                        "origin": record.origin,
                    })
                })
                .collect();
            axum::Json(json!({ "total": entries.len(), "entries": entries })).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading the do-not-contact list failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "the server could not read the store; see its log")
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "reading the list failed; see the server log"),
    }
}

async fn suppress(State(state): State<AppState>, body: Bytes) -> Response {
    let entries = match entries_of(&body) {
        Ok(entries) => entries,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let answer = command(&state, Command::Suppress { entries, origin: "api".into() }).await;
    note_list_change(&state, &answer);
    respond(answer)
}

async fn unsuppress(State(state): State<AppState>, body: Bytes) -> Response {
    let entries = match entries_of(&body) {
        Ok(entries) => entries,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let answer = command(&state, Command::Unsuppress { entries }).await;
    note_list_change(&state, &answer);
    respond(answer)
}

/// A list file as the body (`?name=` names it in the list's origin): its entries
/// are added; lines that hold none come back in `rejected`.
async fn import_list(State(state): State<AppState>, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let pairs = super::transfer::query_pairs(raw.as_deref());
    let name = super::transfer::first(&pairs, "name").unwrap_or_else(|| "upload".to_owned());
    let list = read_list(&body);
    if list.entries.is_empty() {
        let message = "the file holds no entry: one email, @domain, LinkedIn URL or profile ID per line, or a CSV with such a column";
        let body = json!({ "error": message, "rejected": list.rejected });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let command_ = Command::Suppress { entries: list.entries, origin: format!("file {name}") };
    let answer = command(&state, command_).await;
    note_list_change(&state, &answer);
    match answer {
        Ok(Answer::Suppress(report)) => {
            let mut value = serde_json::to_value(report).unwrap_or_default();
            value["rejected"] = serde_json::to_value::<&[RejectedLine]>(&list.rejected).unwrap_or_default();
            value["columns"] = serde_json::to_value(&list.columns).unwrap_or_default();
            axum::Json(value).into_response()
        }
        other => respond(other),
    }
}

async fn forget(State(state): State<AppState>, body: Bytes) -> Response {
    let keys = match keys_of(&body) {
        Ok(keys) => keys,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let answer = command(&state, Command::Forget { keys }).await;
    if let Ok(Answer::Forget(report)) = &answer {
        // The event names ids only: the keys are what was erased.
        let message = format!("erasure request: {} lead(s) erased", report.erased_leads.len());
        state.live.note(Level::Info, None, message);
    }
    respond(answer)
}

/// The lead ids exports must delete: aliases (merged into another lead) and erased leads.
async fn removed(State(state): State<AppState>) -> Response {
    let read = move || -> Result<serde_json::Value, crate::store::StoreError> {
        let reader = state.store.reader()?;
        let aliases: Vec<[LeadId; 2]> = reader.aliases()?.into_iter().map(|(a, b)| [a, b]).collect();
        Ok(json!({ "aliases": aliases, "erased": reader.erased()? }))
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(value)) => axum::Json(value).into_response(),
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "the server could not read the store; see its log"),
    }
}

/// Runs a command through the writer; 409 when this server has none.
async fn command(state: &AppState, command: Command) -> Result<Answer, Response> {
    let Some(intake) = &state.intake else {
        return Err(error(StatusCode::CONFLICT, "this server is read-only: it has no writer"));
    };
    run_command_async(intake, command).await.map_err(|e| match e {
        CommandError::NotFound(m) => error(StatusCode::NOT_FOUND, m),
        CommandError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        CommandError::Failed(m) => {
            let body = json!({ "error": m, "hint": super::WRITER_STOPPED_HINT });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    })
}

fn respond(answer: Result<Answer, Response>) -> Response {
    match answer {
        Ok(Answer::Split(r)) => axum::Json(r).into_response(),
        Ok(Answer::Forget(r)) => axum::Json(r).into_response(),
        Ok(Answer::Suppress(r)) => axum::Json(r).into_response(),
        Err(response) => response,
    }
}

fn note_list_change(state: &AppState, answer: &Result<Answer, Response>) {
    if let Ok(Answer::Suppress(r)) = answer {
        let message = format!(
            "do-not-contact list: {} added, {} removed, {} entries now",
            r.added.len(),
            r.removed.len(),
            r.listed
        );
        state.live.note(Level::Info, None, message);
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body is not the JSON expected: {e}"))
}

/// The keys of a `{"keys": [...]}` body, or why they cannot be read.
fn keys_of(body: &[u8]) -> Result<Vec<IdentityKey>, String> {
    identity::parse_each(&json_body::<Keys>(body)?.keys, identity::parse_key)
}

/// The entries of an `{"entries": [...]}` body, or why they cannot be read.
fn entries_of(body: &[u8]) -> Result<Vec<Suppression>, String> {
    identity::parse_each(&json_body::<Entries>(body)?.entries, Suppression::parse)
}
