//! Bright Data's twin: the LinkedIn people dataset behind `POST /datasets/filter`
//! (a snapshot is built in the background), `GET /datasets/v3/progress/{id}`
//! (starting → running → ready) and `GET /datasets/v3/snapshot/{id}` (parts of
//! `batch_size` records; "not ready" as a 200 status object or a 409), with
//! Bearer auth. Profile records carry no email, as LinkedIn's do not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::population::{Person, SplitMix, Vendor, family_of, metro_of};
use super::{Gate, State};

const VENDOR: &str = "brightdata";
/// How long a snapshot takes to build, in sandbox time.
const BUILD_TIME: Duration = Duration::from_secs(20);

/// Snapshots by id: the matching people and when they are ready.
#[derive(Default)]
pub(super) struct Snapshots {
    by_id: Mutex<HashMap<String, Snapshot>>,
}

struct Snapshot {
    people: Vec<u32>,
    ready_at: Instant,
}

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/datasets/filter", post(filter))
        .route("/datasets/v3/progress/{id}", get(progress))
        .route("/datasets/v3/snapshot/{id}", get(download))
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

fn bad_input(message: &str) -> Response {
    let body = json!({ "error": "Invalid input provided", "code": "validation_error", "errors": [["filter", message]] });
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
    let Ok(body) = serde_json::from_slice::<FilterBody>(&body) else {
        return bad_input("body must be {dataset_id, records_limit, filter}");
    };
    if !body.dataset_id.starts_with("gd_") {
        return bad_input("unknown dataset_id");
    }
    let mut conditions = Vec::new();
    leaves(&body.filter, &mut conditions);
    let families: Vec<&str> =
        conditions.iter().filter(|(n, _)| n == "position").filter_map(|(_, v)| family_of(v)).collect();
    let metros: Vec<usize> =
        conditions.iter().filter(|(n, _)| n == "city").filter_map(|(_, v)| metro_of(v)).collect();
    if families.is_empty() && metros.is_empty() {
        return bad_input("filter on position and/or city");
    }
    let limit = body.records_limit.unwrap_or(usize::MAX);
    let people: Vec<u32> = state
        .population
        .matching(Vendor::BrightData, &families, &metros)
        .take(limit)
        .map(|p| p.index)
        .collect();
    let mut snapshots = state.brightdata.by_id.lock().unwrap_or_else(|p| p.into_inner());
    let id = format!("s_{:x}{:04x}", state.population.seed, snapshots.len());
    snapshots.insert(id.clone(), Snapshot { people, ready_at: Instant::now() + state.real(BUILD_TIME) });
    axum::Json(json!({ "snapshot_id": id })).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "Snapshot not found" }))).into_response()
}

async fn progress(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let snapshots = state.brightdata.by_id.lock().unwrap_or_else(|p| p.into_inner());
    let Some(snapshot) = snapshots.get(&id) else { return not_found() };
    let status = if Instant::now() >= snapshot.ready_at { "ready" } else { "running" };
    axum::Json(json!({ "snapshot_id": id, "dataset_id": "gd_l1viktl72bvl7bjuj0", "status": status }))
        .into_response()
}

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    batch_size: Option<usize>,
    part: Option<usize>,
}

async fn download(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let (people, ready) = {
        let snapshots = state.brightdata.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let Some(snapshot) = snapshots.get(&id) else { return not_found() };
        (snapshot.people.clone(), Instant::now() >= snapshot.ready_at)
    };
    if !ready {
        // Both documented shapes of "not ready", alternating by snapshot.
        return if id.ends_with(['0', '2', '4', '6', '8', 'a', 'c', 'e']) {
            axum::Json(
                json!({ "status": "running", "message": "Snapshot is not ready yet, try again in 10s" }),
            )
            .into_response()
        } else {
            (StatusCode::CONFLICT, axum::Json(json!({ "error": "Snapshot is not ready for download" })))
                .into_response()
        };
    }
    // As the real API: a batch_size under 1000 is refused.
    if query.batch_size.is_some_and(|size| size < 1000) {
        let body = json!({ "error": "batch_size must be greater than or equal to 1000" });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let size = query.batch_size.unwrap_or(people.len().max(1)).max(1);
    let part = query.part.unwrap_or(1).max(1);
    let records: Vec<Value> = people
        .iter()
        .skip((part - 1) * size)
        .take(size)
        .map(|&i| profile(&state.population.people[i as usize]))
        .collect();
    axum::Json(Value::Array(records)).into_response()
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
