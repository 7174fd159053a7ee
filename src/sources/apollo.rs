//! Apollo.io: People API Search (`mixed_people/api_search`, free, ids only) pages
//! the query; People Bulk Match (`people/bulk_match`, ≤ 10 per call, credits)
//! turns each run of ten ids into full records. A page of the workflow is one
//! bulk-match call, so the cursor (search page, offset in it) advances by ten.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, SearchCursor, json_text};
use crate::config::{ApolloQuery, Costs, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, snippet};
use crate::lead::{Millis, RawLead, Source};

/// Apollo shows at most 500 search pages.
const MAX_SEARCH_PAGES: u32 = 500;
/// Ids per bulk-match call.
const MATCH_BATCH: usize = 10;

/// Where an Apollo workflow resumes: the search page and the offset in it.
pub type ApolloCursor = SearchCursor;

pub struct Apollo {
    client: VendorClient,
    key: Secret,
    query: ApolloQuery,
    workflow: String,
    page_size: u32,
    costs: Costs,
    metrics: Arc<RequestMetrics>,
    /// The ids of the search page the cursor is in, once fetched.
    search: Option<(u32, Vec<String>)>,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    people: Vec<SearchPerson>,
}

#[derive(Debug, Deserialize)]
struct SearchPerson {
    id: String,
}

#[derive(Debug, Deserialize)]
struct MatchResponse {
    #[serde(default)]
    matches: Vec<Option<Value>>,
    #[serde(default)]
    credits_consumed: u32,
}

impl Apollo {
    pub fn new(
        client: VendorClient,
        key: Secret,
        query: ApolloQuery,
        workflow: String,
        page_size: u32,
        costs: Costs,
        metrics: Arc<RequestMetrics>,
    ) -> Self {
        Apollo {
            client,
            key,
            query,
            workflow,
            page_size: page_size.clamp(1, 100),
            costs,
            metrics,
            search: None,
        }
    }

    /// Fetches the records after `cursor`; `next` is `None` once the search is exhausted.
    pub async fn next_page(
        &mut self,
        cursor: ApolloCursor,
        now: Millis,
    ) -> Result<Page<ApolloCursor>, FetchError> {
        let page = cursor.page.max(1);
        let requests_before = self.metrics.requests.load(Ordering::Relaxed);
        let ids = self.search_page(page).await?;
        let offset = (cursor.offset as usize).min(ids.len());
        if ids.is_empty() || page > MAX_SEARCH_PAGES {
            return Ok(Page::exhausted());
        }
        let chunk = &ids[offset..(offset + MATCH_BATCH).min(ids.len())];
        let (records, credits) =
            if chunk.is_empty() { (Vec::new(), 0) } else { self.bulk_match(chunk, now).await? };
        let next = cursor.after(offset + chunk.len(), ids.len(), self.page_size);
        let requests = (self.metrics.requests.load(Ordering::Relaxed) - requests_before) as u32;
        let cost = f64::from(requests) * self.costs.per_request + f64::from(credits) * self.costs.per_credit;
        Ok(Page { records, items: Vec::new(), next, requests, credits, cost })
    }

    async fn search_page(&mut self, page: u32) -> Result<Vec<String>, FetchError> {
        if let Some((cached, ids)) = &self.search
            && *cached == page
        {
            return Ok(ids.clone());
        }
        let body = json!({
            "person_titles": self.query.person_titles,
            "person_locations": self.query.person_locations,
            "person_seniorities": self.query.person_seniorities,
            "q_keywords": self.query.q_keywords,
            "organization_num_employees_ranges": self.query.organization_num_employees_ranges,
            "page": page,
            "per_page": self.page_size,
        });
        let url = format!("{}/mixed_people/api_search", self.client_base());
        let response: SearchResponse =
            self.client.json(&self.metrics, classify, |http| self.post(http, &url).json(&body)).await?;
        let ids: Vec<String> = response.people.into_iter().map(|p| p.id).collect();
        self.search = Some((page, ids.clone()));
        Ok(ids)
    }

    async fn bulk_match(&self, ids: &[String], now: Millis) -> Result<(Vec<RawLead>, u32), FetchError> {
        let details: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let body = json!({ "details": details });
        let url = format!("{}/people/bulk_match", self.client_base());
        let response: MatchResponse =
            self.client.json(&self.metrics, classify, |http| self.post(http, &url).json(&body)).await?;
        let records =
            response.matches.iter().flatten().map(|person| to_raw(person, &self.workflow, now)).collect();
        Ok((records, response.credits_consumed))
    }

    fn client_base(&self) -> &str {
        self.client.base_url()
    }

    fn post(&self, http: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        http.post(url).header("x-api-key", self.key.expose()).header("cache-control", "no-cache")
    }
}

/// Apollo's own error shapes: a daily-window 429 is quota, not throttling.
fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<FetchError> {
    let day_left = headers.get("x-24-hour-requests-left").and_then(|v| v.to_str().ok()).map(str::trim);
    let text = String::from_utf8_lossy(body).to_lowercase();
    match status {
        429 if day_left == Some("0") || text.contains("per day") || text.contains("for the day") => {
            Some(FetchError::QuotaExhausted(format!("Apollo daily limit reached: {}", snippet(body))))
        }
        403 if text.contains("api_inaccessible") => Some(FetchError::Unauthorized {
            status,
            message: "this API key may not call this endpoint (API_INACCESSIBLE): use a master key".into(),
        }),
        _ => None,
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    json_text(value, &[key])
}

/// An Apollo person record as a raw lead.
pub fn to_raw(person: &Value, workflow: &str, now: Millis) -> RawLead {
    let org = person.get("organization").cloned().unwrap_or(Value::Null);
    let id = text(person, "id");
    RawLead {
        first_name: text(person, "first_name"),
        last_name: text(person, "last_name"),
        full_name: text(person, "name"),
        job_title: text(person, "title"),
        seniority: text(person, "seniority"),
        emails: text(person, "email").into_iter().collect(),
        email_status: text(person, "email_status"),
        linkedin_url: text(person, "linkedin_url"),
        profile_ids: id.iter().map(|id| format!("apollo:{id}")).collect(),
        company_name: text(&org, "name"),
        company_domain: text(&org, "primary_domain"),
        company_industry: text(&org, "industry"),
        company_size: text(&org, "estimated_num_employees"),
        company_linkedin_url: text(&org, "linkedin_url"),
        city: text(person, "city"),
        region: text(person, "state"),
        country: text(person, "country"),
        source: Source::new("apollo", workflow, id, now),
        ..RawLead::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn apollo_error_shapes() {
        let mut day = HeaderMap::new();
        day.insert("x-24-hour-requests-left", HeaderValue::from_static("0"));
        let hourly = b"{\"message\":\"The maximum number of api calls allowed for api/v1/people/match is 600 times per hour.\"}";
        assert!(matches!(classify(429, &day, hourly), Some(FetchError::QuotaExhausted(_))));
        assert_eq!(classify(429, &HeaderMap::new(), hourly), None, "an hourly window is retried");
        let forbidden = b"{\"error\":\"This API key is not authorized\",\"error_code\":\"API_INACCESSIBLE\"}";
        assert!(matches!(classify(403, &HeaderMap::new(), forbidden), Some(FetchError::Unauthorized { .. })));
        assert_eq!(classify(500, &HeaderMap::new(), b""), None);
    }

    #[test]
    fn maps_a_documented_bulk_match_record() {
        let person: Value = serde_json::from_str(
            r#"{"id":"64a7ff0cc4dfae00013df1a5","first_name":"Dana","last_name":"Wills","title":"VP Sales",
                "email":"dana@acme.com","email_status":"verified","linkedin_url":"http://www.linkedin.com/in/danawills",
                "city":"Austin","country":"United States",
                "organization":{"id":"5e66b6381e05b4008c8331b8","name":"Acme Corp","primary_domain":"acme.com"}}"#,
        )
        .unwrap();
        let raw = to_raw(&person, "w", 7);
        assert_eq!(raw.profile_ids, ["apollo:64a7ff0cc4dfae00013df1a5"]);
        assert_eq!(raw.emails, ["dana@acme.com"]);
        assert_eq!(raw.company_domain.as_deref(), Some("acme.com"));
        assert_eq!(raw.source.record_id.as_deref(), Some("64a7ff0cc4dfae00013df1a5"));
        assert_eq!(raw.source.fetched_at, 7);
    }
}
