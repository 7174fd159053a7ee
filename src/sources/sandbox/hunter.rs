//! Hunter's twin (v2): `email-finder` (name + domain, or company name), `email-verifier`
//! (202 while a slow mail server is still being checked, 222 now and then, 451 for a
//! person who objected), the free `email-count`, `companies/find` and `account`. The
//! key goes in `X-API-KEY` or `api_key`. Over its limits (finder 15/s and 500/min,
//! verifier 10/s and 300/min) it answers 403, and 429 once the plan is used up,
//! with Hunter's error envelope. It bills as Hunter does: a credit per address found,
//! half a credit per verification, nothing for a miss or for a repeat in the month.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::faults::Fault;
use super::population::{Company, Person, SplitMix};
use super::{Refusal, State, fault_response};

const FINDER: &str = "hunter";
const VERIFIER: &str = "hunter-verifier";
/// How long a slow mail server keeps a verification running (vendor time).
const SLOW_CHECK: Duration = Duration::from_secs(10);
/// Share of verifications the remote server answers oddly (Hunter's 222), in percent.
const ODD_ANSWERS: u64 = 3;
/// Credits for a company enriched (the "All-in-one" plans' price).
const COMPANY_CREDITS: f64 = 0.2;

/// What Hunter remembers of the account this month.
#[derive(Default)]
pub(super) struct Accounts {
    inner: Mutex<Month>,
}

#[derive(Default)]
struct Month {
    /// Finder inputs already billed, and addresses already verified: repeats are free.
    found: HashSet<String>,
    verified: HashSet<String>,
    companies: HashSet<String>,
    /// Verifications under way, since when.
    running: HashMap<String, Instant>,
    credits: f64,
    rng: Option<SplitMix>,
    /// Every finder request's `first|last|domain` (or `company:name`), in order.
    asked: Vec<String>,
}

impl Accounts {
    /// The finder's requests so far, as `first|last|domain` or `first|last|company:name`.
    pub(super) fn asked(&self) -> Vec<String> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).asked.clone()
    }
}

pub(super) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/email-finder", get(finder))
        .route("/email-verifier", get(verifier))
        .route("/email-count", get(count))
        .route("/companies/find", get(company))
        .route("/account", get(account))
}

type Params = Query<HashMap<String, String>>;

fn error(status: StatusCode, id: &str, details: &str) -> Response {
    let body = json!({ "errors": [{ "id": id, "code": status.as_u16(), "details": details }] });
    (status, axum::Json(body)).into_response()
}

/// The key, then Hunter's limits (403), its plan (429) and the day's faults.
async fn admit(
    state: &State,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    limit: &'static str,
) -> Option<Response> {
    let key =
        headers.get("x-api-key").cloned().or_else(|| params.get("api_key").and_then(|k| k.parse().ok()));
    if !state.authorized(key.as_ref()) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "No user found for the API key supplied",
        ));
    }
    let minute = if limit == FINDER { "hunter-minute" } else { "hunter-verifier-minute" };
    let over = |_| {
        error(StatusCode::FORBIDDEN, "too_many_requests", "You have reached the rate limit for this endpoint")
    };
    match state.check(limit).await {
        Ok(()) => state.within(minute, limit).err().map(over),
        Err(Refusal::OverLimit(_) | Refusal::Fault(Fault::Throttle | Fault::ThrottleBare)) => Some(over(0)),
        Err(Refusal::Quota) => Some(error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "You have reached your usage limit. Upgrade your plan if necessary.",
        )),
        Err(Refusal::Fault(f)) => Some(fault_response(f)),
    }
}

fn bare(domain: &str) -> String {
    domain.trim().trim_start_matches("www.").to_lowercase()
}

/// The company Hunter resolves a name to: only one it has addresses for (it learns
/// domains from the web, as it learns addresses).
fn company_named<'a>(state: &'a State, name: &str) -> Option<(usize, &'a Company)> {
    let name = name.trim().to_lowercase();
    let companies = state.population.companies.iter().enumerate();
    companies.filter(|(_, c)| c.known_to_hunter).find(|(_, c)| c.name.to_lowercase() == name)
}

async fn finder(Extract(state): Extract<Arc<State>>, headers: HeaderMap, Query(q): Params) -> Response {
    if let Some(refused) = admit(&state, &headers, &q, FINDER).await {
        return refused;
    }
    // An empty parameter is a missing one.
    let given = |name: &str| q.get(name).filter(|v| !v.trim().is_empty());
    let at = match (given("domain"), given("company")) {
        (Some(domain), _) => Ok(state.population.company_at(&bare(domain))),
        (None, Some(name)) => Ok(company_named(&state, name)),
        (None, None) => Err("You are missing the domain parameter"),
    };
    let (first, last) = match (q.get("first_name"), q.get("last_name"), q.get("full_name")) {
        (Some(f), Some(l), _) => (f.clone(), l.clone()),
        (_, _, Some(full)) => match full.split_once(' ') {
            Some((f, l)) => (f.to_owned(), l.to_owned()),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "wrong_params",
                    "full_name needs a first and a last name",
                );
            }
        },
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "wrong_params",
                "You are missing the first_name parameter",
            );
        }
    };
    let at = match at {
        Ok(at) => at,
        Err(why) => return error(StatusCode::BAD_REQUEST, "wrong_params", why),
    };
    let place = q.get("domain").cloned().or_else(|| q.get("company").map(|c| format!("company:{c}")));
    let asked = format!("{first}|{last}|{}", place.unwrap_or_default()).to_lowercase();
    state.hunter.inner.lock().unwrap_or_else(|p| p.into_inner()).asked.push(asked);
    let person = at.and_then(|(index, company)| {
        let found = state.population.named_at(index, &first, &last).find(|p| findable(&state, p, company));
        found.map(|p| (p, company))
    });
    let domain = at.map(|(_, c)| c.domain.clone()).or_else(|| q.get("domain").map(|d| bare(d)));
    let Some((person, company)) = person else {
        let accept_all = at.is_some_and(|(_, c)| c.catch_all);
        return axum::Json(json!({
            "data": { "first_name": first, "last_name": last, "email": null, "score": null,
                "domain": domain, "accept_all": accept_all, "verification": { "date": null, "status": null } },
            "meta": { "params": { "first_name": first, "last_name": last, "domain": q.get("domain"), "company": q.get("company") } }
        }))
        .into_response();
    };
    let email = person.work_email();
    bill_once(&state, FINDER, &format!("{first}|{last}|{}", company.domain).to_lowercase(), 1.0, |m| {
        &mut m.found
    });
    let mut draw = SplitMix::new(u64::from(person.index) ^ 0xF1ED);
    let (status, score) = if company.catch_all {
        ("accept_all", 40 + draw.below(30))
    } else if draw.chance(80) {
        ("valid", 85 + draw.below(15))
    } else {
        ("unknown", 50 + draw.below(30))
    };
    axum::Json(json!({
        "data": {
            "first_name": person.first_name, "last_name": person.last_name, "email": email, "score": score,
            "domain": company.domain, "accept_all": company.catch_all, "position": person.title,
            "twitter": null, "linkedin_url": null, "phone_number": null, "company": company.name,
            "sources": [{ "domain": company.domain, "uri": format!("https://{}/team", company.domain),
                "extracted_on": "2026-03-02", "last_seen_on": "2026-11-01", "still_on_page": true }],
            "verification": { "date": "2026-11-01", "status": if status == "unknown" { Value::Null } else { json!(status) } }
        },
        "meta": { "params": { "first_name": first, "last_name": last, "domain": q.get("domain"), "company": q.get("company") } }
    }))
    .into_response()
}

/// Whether Hunter's sources have this person's address (only at domains it knows).
fn findable(state: &State, person: &Person, company: &Company) -> bool {
    company.known_to_hunter && person.enrichment_traits(state.population.seed).findable
}

/// Bills `credits` unless `input` was billed already this month.
fn bill_once(
    state: &State,
    vendor: &'static str,
    input: &str,
    credits: f64,
    seen: impl Fn(&mut Month) -> &mut HashSet<String>,
) {
    let mut month = state.hunter.inner.lock().unwrap_or_else(|p| p.into_inner());
    if seen(&mut month).insert(input.to_owned()) {
        month.credits += credits;
        drop(month);
        state.bill(vendor, 1);
    }
}

/// Who an address at a company belongs to: the person whose local part it is
/// (the population's local parts end in the person's index).
fn owner<'a>(state: &'a State, email: &str) -> Option<(&'a Person, &'a Company)> {
    let (local, domain) = email.rsplit_once('@')?;
    let (index, company) = state.population.company_at(domain)?;
    let person = state.population.by_local_part(local)?;
    (person.company_index == index).then_some((person, company))
}

async fn verifier(Extract(state): Extract<Arc<State>>, headers: HeaderMap, Query(q): Params) -> Response {
    if let Some(refused) = admit(&state, &headers, &q, VERIFIER).await {
        return refused;
    }
    let Some(email) = q.get("email").map(|e| e.trim().to_lowercase()) else {
        return error(StatusCode::BAD_REQUEST, "wrong_params", "You are missing the email parameter");
    };
    let Some((_, domain)) = email.rsplit_once('@').filter(|(l, d)| !l.is_empty() && d.contains('.')) else {
        return error(StatusCode::BAD_REQUEST, "invalid_email", "The email is invalid");
    };
    let known = owner(&state, &email);
    if known.is_some_and(|(p, _)| p.enrichment_traits(state.population.seed).objected) {
        return error(
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            "claimed_email",
            "The owner of this email address asked us to stop processing their personal data",
        );
    }
    if let Some(response) = still_running(&state, &email, known.map(|(p, _)| p)) {
        return response;
    }
    let webmail = crate::enrich::local::is_webmail(domain);
    let catch_all = state.population.company_at(domain).is_some_and(|(_, c)| c.catch_all);
    let (status, score) = match (webmail, known.is_some(), catch_all) {
        (true, _, _) => ("webmail", 70),
        (_, _, true) => ("accept_all", 60),
        (_, true, _) => ("valid", 95),
        (_, false, _) => ("invalid", 10),
    };
    bill_once(&state, VERIFIER, &email, 0.5, |m| &mut m.verified);
    axum::Json(json!({
        "data": {
            "status": status, "result": if status == "valid" { "deliverable" } else { "risky" },
            "_deprecation_notice": "Using result is deprecated, use status instead",
            "score": score, "email": email, "regexp": true, "gibberish": false, "disposable": false,
            "webmail": webmail, "mx_records": true, "smtp_server": true, "smtp_check": status == "valid",
            "accept_all": catch_all, "block": false, "sources": []
        },
        "meta": { "params": { "email": email } }
    }))
    .into_response()
}

/// 202 while a slow mail server is still being checked (the same call asked again
/// counts once), 222 when the remote server answered oddly.
fn still_running(state: &State, email: &str, person: Option<&Person>) -> Option<Response> {
    let mut month = state.hunter.inner.lock().unwrap_or_else(|p| p.into_inner());
    let slow = person.is_some_and(|p| p.enrichment_traits(state.population.seed).slow_mail_server);
    if slow && !month.verified.contains(email) {
        let started = *month.running.entry(email.to_owned()).or_insert_with(Instant::now);
        if started.elapsed() < state.real(SLOW_CHECK) {
            return Some((StatusCode::ACCEPTED, axum::Json(json!({ "data": null }))).into_response());
        }
    }
    let seed = state.population.seed;
    let rng = month.rng.get_or_insert_with(|| SplitMix::new(seed ^ 0x222));
    rng.chance(ODD_ANSWERS).then(|| {
        let odd = json!({ "data": { "status": "unknown" } });
        (StatusCode::from_u16(222).unwrap_or(StatusCode::ACCEPTED), axum::Json(odd)).into_response()
    })
}

async fn count(Extract(state): Extract<Arc<State>>, headers: HeaderMap, Query(q): Params) -> Response {
    if let Some(refused) = admit(&state, &headers, &q, FINDER).await {
        return refused;
    }
    let at = match (q.get("domain"), q.get("company")) {
        (Some(domain), _) => state.population.company_at(&bare(domain)),
        (None, Some(name)) => company_named(&state, name),
        (None, None) => {
            return error(StatusCode::BAD_REQUEST, "wrong_params", "You are missing the domain parameter");
        }
    };
    let total = at
        .filter(|(_, c)| c.known_to_hunter)
        .map_or(0, |(index, c)| u64::from(state.population.staff(index) + c.employees / 20));
    axum::Json(json!({
        "data": { "total": total, "personal_emails": total * 9 / 10, "generic_emails": total / 10,
            "department": {}, "seniority": {} },
        "meta": { "params": { "domain": q.get("domain"), "company": q.get("company"), "type": null } }
    }))
    .into_response()
}

async fn company(Extract(state): Extract<Arc<State>>, headers: HeaderMap, Query(q): Params) -> Response {
    if let Some(refused) = admit(&state, &headers, &q, FINDER).await {
        return refused;
    }
    let Some(domain) = q.get("domain") else {
        return error(StatusCode::BAD_REQUEST, "wrong_params", "You are missing the domain parameter");
    };
    let Some((_, c)) = state.population.company_at(&bare(domain)).filter(|(_, c)| c.known_to_hunter) else {
        return error(StatusCode::NOT_FOUND, "not_found", "No company found for this domain");
    };
    bill_once(&state, "hunter-company", &c.domain, COMPANY_CREDITS, |m| &mut m.companies);
    let handle = c.linkedin_url().trim_start_matches("https://www.linkedin.com/").to_owned();
    axum::Json(json!({
        "data": { "name": c.name, "domain": c.domain, "category": { "industry": c.industry },
            "metrics": { "employees": c.employees.to_string() }, "linkedin": { "handle": handle } },
        "meta": { "domain": c.domain }
    }))
    .into_response()
}

async fn account(Extract(state): Extract<Arc<State>>, headers: HeaderMap, Query(q): Params) -> Response {
    let key = headers.get("x-api-key").cloned().or_else(|| q.get("api_key").and_then(|k| k.parse().ok()));
    if !state.authorized(key.as_ref()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "No user found for the API key supplied",
        );
    }
    let used = state.hunter.inner.lock().unwrap_or_else(|p| p.into_inner()).credits;
    let available = 50_000.0;
    axum::Json(json!({
        "data": { "plan_name": "Growth", "reset_date": "2026-12-01",
            "requests": { "credits": { "used": used, "available": available } } }
    }))
    .into_response()
}
