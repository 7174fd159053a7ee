//! ZeroBounce's twin: `GET /validate?api_key=&email=&ip_address=` and `GET
//! /getcredits?api_key=`. As documented, errors come back as `200 {"error": …}`
//! (a bad key, an account out of credits), catch-all domains are `catch-all`, role
//! addresses `do_not_mail`/`role_based`, a greylisting server `unknown` — which is
//! not billed; everything else costs a credit.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::population::SplitMix;
use super::{Gate, State};

const VENDOR: &str = "zerobounce";
/// Credits a new sandbox account holds.
const CREDITS: u64 = 100_000;

pub(super) fn router() -> Router<Arc<State>> {
    Router::new().route("/validate", get(validate)).route("/getcredits", get(credits))
}

type Params = Query<HashMap<String, String>>;

fn refused(message: &str) -> Response {
    axum::Json(json!({ "error": message })).into_response()
}

async fn admit(state: &State, q: &HashMap<String, String>) -> Option<Response> {
    let key = q.get("api_key").and_then(|k| k.parse().ok());
    if !state.authorized(key.as_ref()) {
        return Some(refused("Invalid API key or your account ran out of credits"));
    }
    match state.gate(VENDOR).await {
        Gate::Proceed => None,
        Gate::Refuse(response) => Some(response),
    }
}

async fn validate(Extract(state): Extract<Arc<State>>, Query(q): Params) -> Response {
    if let Some(refused) = admit(&state, &q).await {
        return refused;
    }
    if state.billed(VENDOR) >= CREDITS {
        return refused("Invalid API key or your account ran out of credits");
    }
    let Some(email) = q.get("email").map(|e| e.trim().to_lowercase()) else {
        return refused("Missing parameter: email");
    };
    // Documented as required, blank allowed.
    if !q.contains_key("ip_address") {
        return refused("Missing parameter: ip_address");
    }
    let (local, domain) = email.rsplit_once('@').unwrap_or((email.as_str(), ""));
    let company = state.population.company_at(domain).map(|(_, c)| c);
    let free = crate::enrich::local::is_webmail(domain);
    let role = crate::lead::identity::is_role_email(&email);
    let greylisted =
        SplitMix::new(email.bytes().fold(state.population.seed, |h, b| h.rotate_left(5) ^ u64::from(b)))
            .chance(4);
    let (status, sub_status) = if domain.is_empty() {
        ("invalid", "failed_syntax_check")
    } else if greylisted {
        ("unknown", "greylisted")
    } else if role {
        ("do_not_mail", "role_based")
    } else if company.is_some_and(|c| c.catch_all) {
        ("catch-all", "")
    } else if free || known(&state, local, domain) {
        ("valid", "")
    } else {
        ("invalid", "mailbox_not_found")
    };
    if status != "unknown" {
        state.bill(VENDOR, 1);
    }
    axum::Json(json!({
        "address": email, "status": status, "sub_status": sub_status, "free_email": free,
        "did_you_mean": null, "account": local, "domain": domain, "domain_age_days": "4000",
        "smtp_provider": if free { "google" } else { "" }, "mx_found": "true", "mx_record": format!("mx.{domain}"),
        "firstname": null, "lastname": null, "gender": null, "country": null, "region": null,
        "city": null, "zipcode": null, "processed_at": "2026-11-30 10:00:00.000"
    }))
    .into_response()
}

/// Whether a mailbox exists: a person's work or personal address.
fn known(state: &State, local: &str, domain: &str) -> bool {
    state
        .population
        .by_local_part(local)
        .is_some_and(|p| p.domain == domain || p.email.ends_with(&format!("@{domain}")))
}

async fn credits(Extract(state): Extract<Arc<State>>, Query(q): Params) -> Response {
    let key = q.get("api_key").and_then(|k| k.parse().ok());
    if !state.authorized(key.as_ref()) {
        return axum::Json(json!({ "Credits": "-1" })).into_response();
    }
    let left = CREDITS.saturating_sub(state.billed(VENDOR));
    axum::Json(json!({ "Credits": left.to_string() })).into_response()
}
