//! Apollo.io's twin: `POST /mixed_people/api_search` (filters as the documented
//! query parameters, `person_titles[]` and the like; ids and teasers, no emails;
//! `per_page` ≤ 100 and `page` ≤ 500 or 422) and `POST /people/bulk_match` (up to
//! 10 full records, `null` for no match, a credit per person found), and
//! `POST /organizations/bulk_enrich` (up to 10 bare domains as `domains[]` query
//! parameters, no body; a domain it does not know is absent; a credit per
//! organization, at half the per-minute limit), with `x-api-key` auth and Apollo's
//! error shapes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::population::{Person, SplitMix, Vendor, family_of, metro_of};
use super::{Gate, State};

const VENDOR: &str = "apollo";
/// Apollo shows at most 500 pages of results.
const MAX_PAGES: u32 = 500;

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/mixed_people/api_search", post(search))
        .route("/people/bulk_match", post(bulk_match))
        .route("/organizations/bulk_enrich", post(bulk_enrich))
}

/// The search's query parameters: repeated `key[]` for lists, as Apollo documents.
#[derive(Debug, Default)]
struct SearchQuery {
    person_titles: Vec<String>,
    person_locations: Vec<String>,
    page: Option<String>,
    per_page: Option<String>,
}

impl SearchQuery {
    fn parse(raw: Option<&str>) -> SearchQuery {
        let mut query = SearchQuery::default();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "person_titles[]" => query.person_titles.push(value),
                "person_locations[]" => query.person_locations.push(value),
                "page" => query.page = Some(value),
                "per_page" => query.per_page = Some(value),
                _ => {}
            }
        }
        query
    }
}

#[derive(Debug, Deserialize)]
struct MatchBody {
    details: Vec<MatchDetail>,
}

#[derive(Debug, Deserialize)]
struct MatchDetail {
    id: Option<String>,
}

fn unauthorized() -> Response {
    let text = "Invalid API key. See https://docs.apollo.io/reference/authentication for more information.";
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
}

fn invalid(message: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "error": message }))).into_response()
}

/// Auth, then the shared gate (rate limit, quota, faults).
async fn admit(state: &State, headers: &HeaderMap) -> Option<Response> {
    if !state.authorized(headers.get("x-api-key")) {
        return Some(unauthorized());
    }
    match state.gate(VENDOR).await {
        Gate::Proceed => None,
        Gate::Refuse(response) => Some(response),
    }
}

async fn search(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let query = SearchQuery::parse(raw.as_deref());
    let number = |text: &Option<String>, default: u32| match text {
        None => Some(default),
        Some(t) => t.parse::<u32>().ok(),
    };
    let (Some(per_page), Some(page)) = (number(&query.per_page, 25), number(&query.page, 1)) else {
        return invalid("Invalid parameters");
    };
    // Apollo displays 100 per page over 500 pages at most.
    if !(1..=100).contains(&per_page) || !(1..=MAX_PAGES).contains(&page) {
        return invalid("Invalid parameters");
    }
    let families: Vec<&str> = query.person_titles.iter().filter_map(|t| family_of(t)).collect();
    let metros: Vec<usize> = query.person_locations.iter().filter_map(|l| metro_of(l)).collect();
    let matching: Vec<&Person> = state.population.matching(Vendor::Apollo, &families, &metros).collect();
    let (page, per_page) = (page as usize, per_page as usize);
    let people: Vec<Value> =
        matching.iter().skip((page - 1) * per_page).take(per_page).map(|p| teaser(p)).collect();
    axum::Json(json!({ "total_entries": matching.len(), "people": people })).into_response()
}

/// What the free search shows: no email, no full last name, no LinkedIn URL.
fn teaser(p: &Person) -> Value {
    let last = &p.last_name;
    let first_char: String = last.chars().take(1).collect();
    let last_char: String = last.chars().last().into_iter().collect();
    json!({
        "id": p.apollo_id,
        "first_name": p.first_name,
        "last_name_obfuscated": format!("{first_char}***{last_char}"),
        "title": p.title,
        "has_email": has_email(p),
        "has_city": true,
        "has_state": true,
        "has_country": true,
        "organization": { "name": p.company, "has_industry": true, "has_employee_count": true },
    })
}

fn traits(p: &Person) -> SplitMix {
    SplitMix::new(u64::from(p.index).wrapping_mul(0xA9_0110) ^ 0x5EED)
}

fn has_email(p: &Person) -> bool {
    traits(p).chance(70)
}

async fn bulk_match(Extract(state): Extract<Arc<State>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admit(&state, &headers).await {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<MatchBody>(&body) else {
        return invalid("Invalid parameters");
    };
    if body.details.is_empty() || body.details.len() > 10 {
        return invalid("details must hold 1 to 10 people");
    }
    let matches: Vec<Value> = body
        .details
        .iter()
        .map(|d| {
            let id = d.id.as_deref().unwrap_or_default();
            state.population.by_apollo_id(id).filter(|p| p.known_to(Vendor::Apollo)).map(full_record)
        })
        .map(|m| m.unwrap_or(Value::Null))
        .collect();
    let found = matches.iter().filter(|m| !m.is_null()).count();
    state.bill(VENDOR, found as u64);
    axum::Json(json!({
        "status": "success",
        "error_code": null,
        "error_message": null,
        "total_requested_enrichments": matches.len(),
        "unique_enriched_records": found,
        "missing_records": matches.len() - found,
        "credits_consumed": found,
        "matches": matches,
        "request_id": 1,
    }))
    .into_response()
}

/// The enriched person, as Apollo spells it: `http://www.` LinkedIn URLs, some
/// fields missing, the odd upper-case email.
fn full_record(p: &Person) -> Value {
    let mut t = traits(p);
    let with_email = t.chance(70);
    let shout = t.chance(20);
    let with_url = t.chance(92);
    let with_industry = t.chance(85);
    let with_domain = t.chance(90);
    let email = with_email.then(|| if shout { p.email.to_uppercase() } else { p.email.clone() });
    json!({
        "id": p.apollo_id,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "name": format!("{} {}", p.first_name, p.last_name),
        "linkedin_url": with_url.then(|| format!("http://www.linkedin.com/in/{}", p.slug)),
        "title": p.title,
        "email": email,
        "email_status": if with_email { "verified" } else { "unavailable" },
        "city": p.city(),
        "state": p.region(),
        "country": "United States",
        "organization": {
            "id": format!("org{:x}", p.index / 7),
            "name": p.company,
            "primary_domain": with_domain.then(|| p.domain.clone()),
            "industry": with_industry.then_some(p.industry),
            "estimated_num_employees": p.employees,
        },
    })
}

/// The bulk organization endpoint's own limit (half the single one's per minute).
const ORGANIZATIONS: &str = "apollo-organizations";

async fn bulk_enrich(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if !state.authorized(headers.get("x-api-key")) {
        return unauthorized();
    }
    if let Gate::Refuse(response) = state.gate(ORGANIZATIONS).await {
        return response;
    }
    let domains: Vec<String> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "domains[]")
        .map(|(_, value)| value.trim().to_lowercase())
        .collect();
    if !body.is_empty() {
        return bad_request("domains are query parameters; send no body");
    }
    if domains.is_empty() || domains.len() > 10 {
        return bad_request("domains[] must hold 1 to 10 domains");
    }
    if let Some(not_bare) = domains.iter().find(|d| d.contains(['/', '@']) || d.starts_with("www.")) {
        return bad_request(&format!("{not_bare} is not a bare domain"));
    }
    // A domain asked twice is one organization, billed once.
    let unique: std::collections::BTreeSet<&String> = domains.iter().collect();
    let organizations: Vec<Value> = unique
        .iter()
        .filter_map(|d| state.population.company_at(d))
        .filter(|(_, c)| c.known_to_apollo)
        .map(|(index, c)| organization(index, c))
        .collect();
    state.bill(ORGANIZATIONS, organizations.len() as u64);
    axum::Json(json!({
        "status": "success",
        "error_code": null,
        "error_message": null,
        "total_requested_domains": domains.len(),
        "unique_domains": unique.len(),
        "unique_enriched_records": organizations.len(),
        "missing_records": unique.len() - organizations.len(),
        "organizations": organizations,
    }))
    .into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": message }))).into_response()
}

fn organization(index: usize, c: &super::population::Company) -> Value {
    json!({
        "id": format!("org{index:06x}"),
        "name": c.name,
        "website_url": format!("http://www.{}", c.domain),
        "linkedin_url": c.linkedin_url().replace("https://www.", "http://www."),
        "primary_domain": c.domain,
        "industry": c.industry.to_lowercase(),
        "estimated_num_employees": c.employees,
        "founded_year": 2000 + (index % 24) as u32,
        "primary_phone": {},
    })
}
