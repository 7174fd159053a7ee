//! The JSON API: `/healthz`, `/api/stats`, `/api/dashboard` and its live stream
//! `/api/events`, `/api/workflows` with pause/resume, `/api/leads` (search: the
//! same call as `leadsprint search`), `/api/leads/{id}` (the whole lead), and
//! `/api/openapi.json` describing them all. Errors are JSON `{"error": ..., ...}`
//! with a status that says whose fault it was.

use std::convert::Infallible;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

use super::live::{self, Level};
use super::{AppState, WRITER_STOPPED_HINT, error};
use crate::catalog::{self, CatalogError, Detail};
use crate::lead::{LeadId, Millis};
use crate::search::{Request, SearchError, Sort};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
        .route("/api/stats", get(stats))
        .route("/api/alerts", get(alerts))
        .route("/api/report", get(report_json))
        .route("/report", get(report_html))
        .route("/api/dashboard", get(dashboard))
        .route("/api/events", get(events))
        .route("/api/workflows", get(workflows))
        .route("/api/workflows/{name}/pause", post(pause))
        .route("/api/workflows/{name}/resume", post(resume))
        .route("/api/enrichment/pause", post(pause_enrichment))
        .route("/api/enrichment/resume", post(resume_enrichment))
        .route("/api/leads", get(leads))
        .route("/api/leads/{id}", get(lead))
}

/// `ok`, or 503 once the writer has failed: reads still work, new leads cannot land.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.writer_failure() {
        None => axum::Json(json!({ "status": "ok" })).into_response(),
        Some(error) => {
            let body = json!({ "status": "failing", "error": error, "hint": WRITER_STOPPED_HINT });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

fn now() -> Millis {
    crate::pipeline::now_millis()
}

async fn stats(State(state): State<AppState>) -> Response {
    let read = move || -> Result<serde_json::Value, CatalogError> {
        Ok(crate::stats::report(&state.store.reader()?)?)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(value)) => axum::Json(value).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(_) => internal(),
    }
}

/// The alerts firing now, each sink's health, the latest notices sent.
async fn alerts(State(state): State<AppState>) -> Response {
    let read = move || -> Result<crate::alerts::AlertsView, CatalogError> {
        Ok(crate::alerts::view(&state.store.reader()?, 100)?)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(value)) => axum::Json(value).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(_) => internal(),
    }
}

/// The technical report over the store, measured against the served campaign.
fn build_report(state: &AppState) -> Result<crate::report::Report, CatalogError> {
    let campaign = state.live.campaign();
    let ctx = crate::report::Context {
        campaign: &campaign.name,
        kpi: &campaign.kpi,
        vendor_cap: Some(campaign.vendor_cap),
        enrichment_cap: campaign.enrichment_cap,
    };
    Ok(crate::report::build(&state.store.reader()?, &ctx)?)
}

async fn report_json(State(state): State<AppState>) -> Response {
    match tokio::task::spawn_blocking(move || build_report(&state)).await {
        Ok(Ok(report)) => axum::Json(report).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(_) => internal(),
    }
}

async fn report_html(State(state): State<AppState>) -> Response {
    match tokio::task::spawn_blocking(move || build_report(&state)).await {
        Ok(Ok(report)) => axum::response::Html(crate::report::html::render(&report)).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(_) => internal(),
    }
}

/// The API's description (OpenAPI 3.1), kept beside the handlers.
const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The latest snapshot, built now if none was yet.
async fn dashboard(State(state): State<AppState>) -> Response {
    let latest = state.live.subscribe().borrow().clone();
    let json = if latest.len() > 2 {
        Ok(latest)
    } else {
        let s = state.clone();
        tokio::task::spawn_blocking(move || s.live.refresh(&s)).await.unwrap_or_else(|_| Ok("{}".into()))
    };
    match json {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response(),
        Err(e) => failure(&CatalogError::Store(e)),
    }
}

/// Server-sent events: a `snapshot` event now, then one per change (at most one a
/// second, shared by every watcher); ends when the server shuts down.
async fn events(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.live.subscribe();
    let closing = state.live.closing();
    let stream = futures_util::stream::unfold((rx, true), move |(mut rx, first)| {
        let closing = closing.clone();
        async move {
            if !first {
                tokio::select! {
                    changed = rx.changed() => changed.ok()?,
                    _ = closing.cancelled() => return None,
                }
            }
            let data = rx.borrow_and_update().clone();
            Some((Ok(Event::default().event("snapshot").data(&*data)), (rx, false)))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn workflows(State(state): State<AppState>) -> Response {
    match tokio::task::spawn_blocking(move || live::workflows(&state)).await {
        Ok(Ok((workflows, running))) => {
            axum::Json(json!({ "workflows": workflows, "running": running })).into_response()
        }
        Ok(Err(e)) => failure(&CatalogError::Store(e)),
        Err(_) => internal(),
    }
}

async fn pause(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    set_paused(&state, &name, true)
}

async fn resume(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    set_paused(&state, &name, false)
}

fn set_paused(state: &AppState, name: &str, paused: bool) -> Response {
    let conflict = |message: &str| error(StatusCode::CONFLICT, message);
    let Some(sprint) = &state.sprint else {
        return conflict("no sprint is running in this server");
    };
    let Some(control) = sprint.control() else {
        return conflict("the sprint is starting; try again in a moment");
    };
    if sprint.stats.borrow().finished {
        return conflict("the sprint has finished");
    }
    if !control.set_paused(name, paused) {
        return error(StatusCode::NOT_FOUND, format!("no workflow {name:?}; GET /api/workflows lists them"));
    }
    let verb = if paused { "pause" } else { "resume" };
    state.live.note(Level::Info, Some(name), format!("{verb} requested from the web UI/API"));
    axum::Json(json!({ "name": name, "paused": paused })).into_response()
}

async fn pause_enrichment(State(state): State<AppState>) -> Response {
    set_enrichment_paused(&state, true)
}

async fn resume_enrichment(State(state): State<AppState>) -> Response {
    set_enrichment_paused(&state, false)
}

/// Pauses or resumes the enrichment stage: the steps in flight finish, no new one starts.
fn set_enrichment_paused(state: &AppState, paused: bool) -> Response {
    let stage = state.sprint.as_ref().and_then(|s| s.enrichment.as_ref());
    let Some((_, switch)) = stage.filter(|(stats, _)| stats.borrow().state.is_active()) else {
        return error(StatusCode::CONFLICT, "no enrichment is running in this server");
    };
    switch.send_replace(paused);
    let verb = if paused { "pause" } else { "resume" };
    state.live.note(Level::Info, None, format!("enrichment {verb} requested from the web UI/API"));
    axum::Json(json!({ "paused": paused })).into_response()
}

#[derive(Debug, Deserialize)]
struct LeadsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    facets: Option<bool>,
}

async fn leads(State(state): State<AppState>, Query(query): Query<LeadsQuery>) -> Response {
    let sort = match query.sort.as_deref().map(str::parse::<Sort>).transpose() {
        Ok(sort) => sort.unwrap_or_default(),
        Err(message) => {
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    let request = Request {
        sort,
        limit: query.limit.unwrap_or(20),
        offset: query.offset.unwrap_or(0),
        facets: query.facets.unwrap_or(true),
        ..Request::new(&query.q, now())
    };
    let find = move || catalog::find(&state.store, &state.index, &request);
    match tokio::task::spawn_blocking(find).await {
        Ok(Ok(found)) => axum::Json(found).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(_) => internal(),
    }
}

async fn lead(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<LeadId>() else {
        return error(StatusCode::BAD_REQUEST, "a lead id is a whole number");
    };
    let read = move || catalog::detail(&state.store.reader()?, id);
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(Detail::Found(lead))) => axum::Json(lead).into_response(),
        Ok(Ok(Detail::Erased)) => error(StatusCode::GONE, format!("lead {id} was erased on request")),
        Ok(Ok(Detail::Missing)) => error(StatusCode::NOT_FOUND, format!("no lead {id}")),
        Ok(Err(e)) => failure(&CatalogError::Store(e)),
        Err(_) => internal(),
    }
}

/// A query the user can fix is a 400 naming the problem; anything else a 500.
fn failure(e: &CatalogError) -> Response {
    match e {
        CatalogError::Search(SearchError::Query(q)) => {
            let body = json!({ "error": q.to_string(), "message": q.message, "column": q.column });
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        CatalogError::Search(SearchError::BadRequest(message)) => error(StatusCode::BAD_REQUEST, message),
        other => {
            tracing::error!(error = %other, "API request failed");
            internal()
        }
    }
}

fn internal() -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "the server could not read the store or index; see its log")
}
