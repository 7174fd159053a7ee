//! ZoomInfo's twin (the Enterprise API): `POST /authenticate` (username and
//! password → a JWT living 60 minutes; one call a second), `POST /search/contact`
//! (pages of ids and teasers, no emails; only documented input fields, `rpp` ≤ 100,
//! at most 1,000 records paged through, each refused with ZoomInfo's 400 message)
//! and `POST /enrich/contact` (≤ 25 per call, a credit per contact returned), with
//! ZoomInfo's error envelope (`ZI0001` for a bad or expired token).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::population::{Person, SplitMix, Vendor, family_of};
use super::{Gate, State};

const VENDOR: &str = "zoominfo";
/// A JWT's life, in sandbox time.
pub const TOKEN_LIFE: Duration = Duration::from_secs(3600);

/// Issued tokens and when.
#[derive(Default)]
pub(super) struct Tokens {
    issued: Mutex<HashMap<String, Instant>>,
    /// The last `/authenticate` call: the real API allows one a second.
    last_auth: Mutex<Option<Instant>>,
}

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/authenticate", post(authenticate))
        .route("/search/contact", post(search))
        .route("/enrich/contact", post(enrich))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "code": code, "message": message, "retryable": false } })))
        .into_response()
}

async fn gate(state: &State) -> Option<Response> {
    match state.gate(VENDOR).await {
        Gate::Proceed => None,
        Gate::Refuse(response) => Some(response),
    }
}

async fn authenticate(Extract(state): Extract<Arc<State>>, body: Bytes) -> Response {
    if let Some(refused) = gate(&state).await {
        return refused;
    }
    {
        let mut last = state.zoominfo.last_auth.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < state.real(Duration::from_secs(1))) {
            state.violation(VENDOR);
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "PFAPI0005",
                "authenticate is limited to 1 request per second",
            );
        }
        *last = Some(Instant::now());
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if body["password"].as_str() != Some(state.config.api_key.as_str()) || body["username"].as_str().is_none()
    {
        return error(StatusCode::UNAUTHORIZED, "ZI0001", "Invalid username or password");
    }
    let mut tokens = state.zoominfo.issued.lock().unwrap_or_else(|p| p.into_inner());
    let token = format!("eyJzandbox.{:x}.{}", state.population.seed, tokens.len());
    tokens.insert(token.clone(), Instant::now());
    axum::Json(json!({ "jwt": token })).into_response()
}

/// Auth by a live token, then the shared gate.
async fn admit(state: &State, headers: &HeaderMap) -> Option<Response> {
    let token =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let issued =
        token.and_then(|t| state.zoominfo.issued.lock().unwrap_or_else(|p| p.into_inner()).get(t).copied());
    match issued {
        Some(at) if at.elapsed() < state.real(TOKEN_LIFE) => gate(state).await,
        Some(_) => Some(error(StatusCode::UNAUTHORIZED, "ZI0001", "JWT expired")),
        None => Some(error(StatusCode::UNAUTHORIZED, "ZI0001", "Invalid or missing JWT")),
    }
}

/// The contact search's documented input fields (ZoomInfo's input-field list for
/// `search/contact`).
const SEARCH_FIELDS: [&str; 27] = [
    "rpp",
    "page",
    "sortBy",
    "sortOrder",
    "personId",
    "emailAddress",
    "firstName",
    "lastName",
    "fullName",
    "jobTitle",
    "exactJobTitle",
    "excludeJobTitle",
    "managementLevel",
    "department",
    "companyId",
    "companyName",
    "zipCode",
    "zipCodeRadiusMiles",
    "state",
    "country",
    "metroRegion",
    "continent",
    "excludedRegions",
    "locationSearchType",
    "requiredFields",
    "contactAccuracyScoreMin",
    "executivesOnly",
];
/// Records a search may page through (`rpp` × `page`).
const MAX_PAGED: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    rpp: Option<usize>,
    page: Option<usize>,
    job_title: Option<String>,
}

async fn search(Extract(state): Extract<Arc<State>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let unknown: Vec<&String> = raw
        .as_object()
        .map(|o| o.keys().filter(|k| !SEARCH_FIELDS.contains(&k.as_str())).collect())
        .unwrap_or_default();
    if !unknown.is_empty() {
        let message = format!("There are invalid fields in your request: {unknown:?}");
        return error(StatusCode::BAD_REQUEST, "PFAPI0002", &message);
    }
    let Ok(body) = serde_json::from_value::<SearchBody>(raw) else {
        return error(StatusCode::BAD_REQUEST, "PFAPI0002", "Invalid request body");
    };
    let rpp = body.rpp.unwrap_or(25).max(1);
    let page = body.page.unwrap_or(1).max(1);
    if rpp > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "PFAPI0002",
            "Results per page (rpp) is over max allowed value (100)",
        );
    }
    if rpp * page > MAX_PAGED {
        let message = format!("Total record pagination is over max allowed value ({MAX_PAGED})");
        return error(StatusCode::BAD_REQUEST, "PFAPI0002", &message);
    }
    let title = body.job_title.unwrap_or_default();
    let families: Vec<&str> = title.split(" OR ").filter_map(family_of).collect();
    let matching: Vec<&Person> = state.population.matching(Vendor::ZoomInfo, &families, &[]).collect();
    let data: Vec<Value> = matching
        .iter()
        .skip((page - 1) * rpp)
        .take(rpp)
        .map(|p| {
            json!({
                "id": p.zoominfo_id, "firstName": p.first_name, "lastName": p.last_name, "jobTitle": p.title,
                "contactAccuracyScore": 80 + p.index % 20, "hasEmail": true, "hasDirectPhone": p.index % 3 == 0,
                "company": { "id": p.index / 30, "name": p.company },
            })
        })
        .collect();
    axum::Json(json!({ "maxResults": matching.len(), "totalResults": data.len(), "currentPage": page, "data": data }))
        .into_response()
}

async fn enrich(Extract(state): Extract<Arc<State>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(inputs) = body["matchPersonInput"].as_array() else {
        return error(StatusCode::BAD_REQUEST, "PFAPI0002", "matchPersonInput is required");
    };
    if inputs.is_empty() || inputs.len() > 25 {
        return error(StatusCode::BAD_REQUEST, "PFAPI0002", "matchPersonInput takes 1 to 25 people");
    }
    let result: Vec<Value> = inputs
        .iter()
        .map(|input| {
            let id = input["personId"].as_u64().unwrap_or(0);
            let person = state.population.by_zoominfo_id(id).filter(|p| p.known_to(Vendor::ZoomInfo));
            let data: Vec<Value> = person.map(contact).into_iter().collect();
            let status = if data.is_empty() { "NO_MATCH" } else { "FULL_MATCH" };
            json!({ "input": input, "data": data, "matchStatus": status })
        })
        .collect();
    let found = result.iter().filter(|r| r["matchStatus"] == "FULL_MATCH").count();
    state.bill(VENDOR, found as u64);
    axum::Json(json!({ "success": true, "data": { "outputFields": [], "result": result } })).into_response()
}

/// A full contact: ZoomInfo's spellings (`https://linkedin.com/in/Slug`, upper-case
/// emails now and then, the company website instead of a domain).
fn contact(p: &Person) -> Value {
    let mut t = SplitMix::new(u64::from(p.index).wrapping_mul(0x2001) ^ 0x21);
    let shout = t.chance(25);
    let with_url = t.chance(80);
    let email = if shout { p.email.to_uppercase() } else { p.email.clone() };
    let url = format!("https://linkedin.com/in/{}/", p.slug.to_uppercase());
    json!({
        "id": p.zoominfo_id,
        "firstName": p.first_name,
        "lastName": p.last_name,
        "email": email,
        "phone": format!("+1 555 {:04}", p.index % 10_000),
        "jobTitle": p.title,
        "managementLevel": "Manager",
        "city": p.city(),
        "state": p.region(),
        "country": "United States",
        "externalUrls": if with_url { json!([{ "type": "linkedin.com", "url": url }]) } else { json!([]) },
        "companyId": p.index / 30,
        "companyName": p.company,
        "companyWebsite": format!("www.{}", p.domain),
        "companyIndustry": p.industry,
        "contactAccuracyScore": 80 + p.index % 20,
    })
}
