//! Bright Data's twin, the Marketplace Dataset API over the LinkedIn people
//! dataset: `POST /datasets/filter` (a `snap_…` snapshot is built in the
//! background, billed at creation per record it holds), `GET
//! /datasets/snapshots/{id}` (metadata: scheduled → building → ready, with
//! `dataset_size`; 404 text/html when unknown), `GET
//! /datasets/snapshots/{id}/parts` and `GET /datasets/snapshots/{id}/download`
//! (`format`, `batch_size` ≥ 1000 or 400, `part`), with Bearer auth. The Web
//! Scraper routes (`/datasets/v3/…`) do not know filter snapshots: 404, as the
//! real API answers. Profile records carry no email, as LinkedIn's do not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::population::{Person, SplitMix, Vendor, family_of, metro_of};
use super::{Gate, State};

const VENDOR: &str = "brightdata";
/// How long a snapshot takes to build, in sandbox time (half of it scheduled).
const BUILD_TIME: Duration = Duration::from_secs(20);
/// Records a part holds at least (Bright Data refuses smaller batches).
const MIN_BATCH: usize = 1000;
/// The filter body's documented fields.
const FILTER_FIELDS: [&str; 3] = ["dataset_id", "records_limit", "filter"];

/// Snapshots by id: the matching people and when they are ready.
#[derive(Default)]
pub(super) struct Snapshots {
    by_id: Mutex<HashMap<String, Snapshot>>,
}

struct Snapshot {
    people: Vec<u32>,
    created: Instant,
    ready_at: Instant,
}

impl Snapshot {
    fn status(&self, now: Instant) -> &'static str {
        if now >= self.ready_at {
            "ready"
        } else if now >= self.created + (self.ready_at - self.created) / 2 {
            "building"
        } else {
            "scheduled"
        }
    }
}

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/datasets/filter", post(filter))
        .route("/datasets/snapshots/{id}", get(metadata))
        .route("/datasets/snapshots/{id}/parts", get(parts))
        .route("/datasets/snapshots/{id}/download", get(download))
}

async fn admit(state: &State, headers: &HeaderMap) -> Option<Response> {
    let token =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(state.config.api_key.as_str()) {
        return Some(
            (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "Unauthorized" }))).into_response(),
        );
    }
    match state.gate(VENDOR).await {
        Gate::Proceed => None,
        Gate::Refuse(response) => Some(response),
    }
}

#[derive(Debug, Deserialize)]
struct FilterBody {
    dataset_id: String,
    records_limit: Option<usize>,
    filter: Value,
}

fn bad_input(field: &str, message: &str) -> Response {
    let body = json!({ "validation_errors": [{ "field": field, "message": message }] });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Every `(name, value)` leaf of a filter (`{"operator":"and","filters":[…]}` or a leaf).
fn leaves(filter: &Value, out: &mut Vec<(String, String)>) {
    if let Some(children) = filter.get("filters").and_then(Value::as_array) {
        children.iter().for_each(|c| leaves(c, out));
    } else if let (Some(name), Some(value)) =
        (filter.get("name").and_then(Value::as_str), filter.get("value"))
    {
        out.push((name.to_owned(), value.as_str().map_or_else(|| value.to_string(), str::to_owned)));
    }
}

async fn filter(Extract(state): Extract<Arc<State>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(unknown) =
        raw.as_object().and_then(|o| o.keys().find(|k| !FILTER_FIELDS.contains(&k.as_str())))
    {
        return bad_input(unknown, "unknown field");
    }
    let Ok(body) = serde_json::from_value::<FilterBody>(raw) else {
        return bad_input("filter", "body must be {dataset_id, records_limit, filter}");
    };
    if !body.dataset_id.starts_with("gd_") {
        return bad_input("dataset_id", "unknown dataset");
    }
    let mut conditions = Vec::new();
    leaves(&body.filter, &mut conditions);
    let families: Vec<&str> =
        conditions.iter().filter(|(n, _)| n == "position").filter_map(|(_, v)| family_of(v)).collect();
    let metros: Vec<usize> =
        conditions.iter().filter(|(n, _)| n == "city").filter_map(|(_, v)| metro_of(v)).collect();
    if families.is_empty() && metros.is_empty() {
        return bad_input("filter", "filter on position and/or city");
    }
    let limit = body.records_limit.unwrap_or(usize::MAX);
    let people: Vec<u32> = state
        .population
        .matching(Vendor::BrightData, &families, &metros)
        .take(limit)
        .map(|p| p.index)
        .collect();
    // Billed now, per record the snapshot holds.
    state.bill(VENDOR, people.len() as u64);
    let mut snapshots = state.brightdata.by_id.lock().unwrap_or_else(|p| p.into_inner());
    let id = format!("snap_{:x}{:04x}", state.population.seed, snapshots.len());
    let now = Instant::now();
    snapshots.insert(id.clone(), Snapshot { people, created: now, ready_at: now + state.real(BUILD_TIME) });
    axum::Json(json!({ "snapshot_id": id })).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html")], "Snapshot not found").into_response()
}

/// The snapshot's people and status; `None` for an unknown id.
fn lookup(state: &State, id: &str) -> Option<(Vec<u32>, &'static str)> {
    let snapshots = state.brightdata.by_id.lock().unwrap_or_else(|p| p.into_inner());
    let snapshot = snapshots.get(id)?;
    Some((snapshot.people.clone(), snapshot.status(Instant::now())))
}

async fn metadata(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let Some((people, status)) = lookup(&state, &id) else { return not_found() };
    let ready = status == "ready";
    axum::Json(json!({
        "id": id,
        "created": "2026-11-30T00:00:00Z",
        "status": status,
        "dataset_id": "gd_l1viktl72bvl7bjuj0",
        "dataset_size": ready.then_some(people.len()),
        "file_size": ready.then_some(people.len() * 2048),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct PartQuery {
    format: Option<String>,
    batch_size: Option<usize>,
    part: Option<usize>,
}

impl PartQuery {
    /// The documented bounds: a known format, `batch_size` ≥ 1000.
    fn refusal(&self) -> Option<Response> {
        if self.format.as_deref().is_some_and(|f| !["json", "jsonl", "ndjson", "csv"].contains(&f)) {
            return Some(bad_input("format", "must be one of json, jsonl, ndjson, csv"));
        }
        self.batch_size
            .is_some_and(|size| size < MIN_BATCH)
            .then(|| bad_input("batch_size", "must be greater than or equal to 1000"))
    }
}

/// What `parts` and `download` both check first: auth and limits, the query's
/// bounds, a known snapshot that is ready. Its people and the batch size.
async fn ready(
    state: &State,
    headers: &HeaderMap,
    id: &str,
    query: &PartQuery,
) -> Result<(Vec<u32>, usize), Box<Response>> {
    if let Some(refused) = admit(state, headers).await.or_else(|| query.refusal()) {
        return Err(Box::new(refused));
    }
    let Some((people, status)) = lookup(state, id) else { return Err(Box::new(not_found())) };
    if status != "ready" {
        let body = axum::Json(json!({ "error": "Snapshot is not ready for download" }));
        return Err(Box::new((StatusCode::CONFLICT, body).into_response()));
    }
    let size = query.batch_size.unwrap_or(people.len().max(1));
    Ok((people, size))
}

async fn parts(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<PartQuery>,
) -> Response {
    let (people, size) = match ready(&state, &headers, &id, &query).await {
        Ok(ready) => ready,
        Err(refused) => return *refused,
    };
    axum::Json(json!({ "parts": people.len().div_ceil(size) })).into_response()
}

async fn download(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<PartQuery>,
) -> Response {
    let (people, size) = match ready(&state, &headers, &id, &query).await {
        Ok(ready) => ready,
        Err(refused) => return *refused,
    };
    let part = query.part.unwrap_or(1).max(1);
    let records = people
        .iter()
        .skip((part - 1) * size)
        .take(size)
        .map(|&i| profile(&state.population.people[i as usize]));
    // jsonl is the documented default; json is an array.
    match query.format.as_deref().unwrap_or("jsonl") {
        "json" => axum::Json(Value::Array(records.collect())).into_response(),
        _ => {
            let lines: String = records.map(|r| format!("{r}\n")).collect();
            ([(header::CONTENT_TYPE, "application/jsonl")], lines).into_response()
        }
    }
}

/// A LinkedIn profile record as Bright Data ships it: position often hidden, the
/// location in one string, the odd URL with a trailing slash.
fn profile(p: &Person) -> Value {
    let mut t = SplitMix::new(u64::from(p.index).wrapping_mul(0xB816) ^ 0xDA7A);
    let with_position = t.chance(60);
    let slash = if t.chance(30) { "/" } else { "" };
    let url = format!("{}{slash}", p.linkedin_url());
    json!({
        "id": p.slug,
        "linkedin_id": p.slug,
        "linkedin_num_id": p.member_id.to_string(),
        "url": url,
        "input_url": url,
        "name": format!("{} {}", p.first_name, p.last_name),
        "first_name": p.first_name,
        "last_name": p.last_name,
        "position": with_position.then(|| format!("{} at {}", p.title, p.company)),
        "city": format!("{}, {}, United States", p.city(), p.region()),
        "country_code": "US",
        "location": p.city(),
        "current_company": {
            "name": p.company,
            "company_id": p.domain.trim_end_matches(".com"),
            "link": format!("https://www.linkedin.com/company/{}", p.domain.trim_end_matches(".com")),
        },
        "current_company_name": p.company,
        "followers": 100 + p.index % 5000,
        "connections": 500,
        "experience": null,
        "education": [],
    })
}
