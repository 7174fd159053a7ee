//! The JSON API: `/healthz`, `/api/stats`, `/api/leads` (search: the same call as
//! `leadsprint search`), `/api/leads/{id}` (the whole lead). Errors are JSON
//! `{"error": ..., ...}` with a status that says whose fault it was.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::catalog::{self, CatalogError};
use crate::lead::{LeadId, Millis};
use crate::search::{Request, SearchError, Sort};
use crate::stats::Stats;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/api/stats", get(stats))
        .route("/api/leads", get(leads))
        .route("/api/leads/{id}", get(lead))
}

fn now() -> Millis {
    crate::pipeline::now_millis()
}

async fn stats(State(state): State<AppState>) -> Response {
    let read = move || -> Result<serde_json::Value, CatalogError> {
        let reader = state.store.reader()?;
        let mut value = serde_json::to_value(Stats::from(&reader.counters()?)).unwrap_or_default();
        value["workflows"] = serde_json::to_value(reader.workflows()?).unwrap_or_default();
        Ok(value)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(value)) => axum::Json(value).into_response(),
        Ok(Err(e)) => failure(&e),
        Err(_) => internal(),
    }
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
            return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message }))).into_response();
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
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "a lead id is a whole number" })))
            .into_response();
    };
    let read = move || state.store.reader().and_then(|r| r.lead(id));
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(Some(lead))) => axum::Json(lead).into_response(),
        Ok(Ok(None)) => {
            (StatusCode::NOT_FOUND, axum::Json(json!({ "error": format!("no lead {id}") }))).into_response()
        }
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
        CatalogError::Search(SearchError::BadRequest(message)) => {
            (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message }))).into_response()
        }
        other => {
            tracing::error!(error = %other, "API request failed");
            internal()
        }
    }
}

fn internal() -> Response {
    let body = json!({ "error": "the server could not read the store or index; see its log" });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}
