//! Apollo.io: People API Search (`mixed_people/api_search`, free, ids only) pages
//! the query; People Bulk Match (`people/bulk_match`, ≤ 10 per call, credits)
//! turns each run of ten ids into full records. A page of the workflow is one
//! bulk-match call, so the cursor (search page, offset in it) advances by ten.
//!
//! Billing rule (Apollo's): search costs nothing; bulk match costs credits per
//! person found (`credits_consumed`, 0 for a miss). Before each call the ids are
//! cut to what the spend cap still allows at one credit each; afterwards the
//! credits Apollo reports are what is counted.

use std::sync::atomic::Ordering;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Link, Page, SearchCursor, json_text};
use crate::config::{ApolloQuery, Secret};
use crate::http::{FetchError, snippet};
use crate::lead::{Millis, RawLead, Source};

/// Apollo shows at most 500 search pages (50,000 people at 100 a page).
pub const MAX_SEARCH_PAGES: u32 = 500;
/// Ids per bulk-match call.
pub const MATCH_BATCH: usize = 10;

/// Where an Apollo workflow resumes: the search page and the offset in it.
pub type ApolloCursor = SearchCursor;

pub struct Apollo {
    link: Link,
    key: Secret,
    query: ApolloQuery,
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
    pub fn new(link: Link, key: Secret, query: ApolloQuery) -> Self {
        Apollo { link, key, query, search: None }
    }

    /// Fetches the records after `cursor`; `next` is `None` once the search is
    /// exhausted or at Apollo's last page.
    pub async fn next_page(
        &mut self,
        cursor: ApolloCursor,
        now: Millis,
    ) -> Result<Page<ApolloCursor>, FetchError> {
        let page = cursor.page.max(1);
        if page > MAX_SEARCH_PAGES {
            return Ok(Page::exhausted());
        }
        let requests_before = self.link.metrics.requests.load(Ordering::Relaxed);
        let ids = self.search_page(page).await?;
        if ids.is_empty() {
            return Ok(Page::exhausted());
        }
        let offset = (cursor.offset as usize).min(ids.len());
        let per_credit = self.link.costs.per_credit;
        let wanted = MATCH_BATCH.min(ids.len() - offset) as u64;
        let affordable = self.link.spend.take(wanted, per_credit)? as usize;
        let chunk = &ids[offset..offset + affordable];
        let matched = if chunk.is_empty() { Ok((Vec::new(), 0)) } else { self.bulk_match(chunk, now).await };
        // What was set aside for the call, back; what Apollo billed, counted.
        self.link.spend.charge(-(affordable as f64) * per_credit);
        let (records, credits) = matched?;
        let next = cursor
            .after(offset + chunk.len(), ids.len(), self.link.page_size)
            .filter(|next| next.page <= MAX_SEARCH_PAGES);
        let requests = (self.link.metrics.requests.load(Ordering::Relaxed) - requests_before) as u32;
        let cost = f64::from(requests) * self.link.costs.per_request + f64::from(credits) * per_credit;
        self.link.spend.charge(cost);
        Ok(Page { records, items: Vec::new(), next, requests, credits, cost, notice: None })
    }

    /// The filters as Apollo documents them: query parameters, lists with `[]`.
    fn search_query(&self, page: u32) -> Vec<(&'static str, String)> {
        let q = &self.query;
        let lists = [
            ("person_titles[]", &q.person_titles),
            ("person_locations[]", &q.person_locations),
            ("person_seniorities[]", &q.person_seniorities),
            ("organization_num_employees_ranges[]", &q.organization_num_employees_ranges),
        ];
        let mut query: Vec<(&'static str, String)> =
            lists.iter().flat_map(|(key, values)| values.iter().map(|v| (*key, v.clone()))).collect();
        query.extend(q.q_keywords.iter().map(|k| ("q_keywords", k.clone())));
        query.push(("page", page.to_string()));
        query.push(("per_page", self.link.page_size.to_string()));
        query
    }

    async fn search_page(&mut self, page: u32) -> Result<Vec<String>, FetchError> {
        if let Some((cached, ids)) = &self.search
            && *cached == page
        {
            return Ok(ids.clone());
        }
        let query = self.search_query(page);
        let url = format!("{}/mixed_people/api_search", self.link.client.base_url());
        let response: SearchResponse = self
            .link
            .client
            .json(&self.link.metrics, classify, |http| self.post(http, &url).query(&query))
            .await?;
        let ids: Vec<String> = response.people.into_iter().map(|p| p.id).collect();
        self.search = Some((page, ids.clone()));
        Ok(ids)
    }

    async fn bulk_match(&self, ids: &[String], now: Millis) -> Result<(Vec<RawLead>, u32), FetchError> {
        let details: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let body = json!({ "details": details });
        let url = format!("{}/people/bulk_match", self.link.client.base_url());
        let response: MatchResponse = self
            .link
            .client
            .json(&self.link.metrics, classify, |http| self.post(http, &url).json(&body))
            .await?;
        let workflow = &self.link.workflow;
        let records = response.matches.iter().flatten().map(|person| to_raw(person, workflow, now)).collect();
        Ok((records, response.credits_consumed))
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
