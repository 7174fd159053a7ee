//! ZoomInfo (Enterprise API): a JWT from `POST /authenticate` (renewed after 55
//! of its 60 minutes, and once more on a 401), contact search pages
//! (`POST /search/contact`, ids only), then `POST /enrich/contact` for up to 25 ids
//! at a time. A page of the workflow is one enrich call; the cursor is (search page,
//! offset in it).
//!
//! Search fields sent, each from ZoomInfo's contact-search input list (the legacy
//! API documentation, and `GET /lookup/inputfields/contact/search`): `rpp`, `page`,
//! `jobTitle` (titles joined by OR), `managementLevel`, `department`, and `country`
//! — the country of the company's primary address, not the person's.
//!
//! Billing rule (ZoomInfo's): search is free; enrich uses a credit per contact it
//! returns. Before each call the ids are cut to what the spend cap allows.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::{Link, Page, SearchCursor, json_text};
use crate::config::{Rate, Secret, ZoomInfoQuery};
use crate::http::{FetchError, snippet};
use crate::lead::{Millis, RawLead, Source};

/// Renew the token after this much of its 60-minute life (vendor time).
const TOKEN_RENEW_AFTER: Duration = Duration::from_secs(55 * 60);
/// Ids per enrich call.
pub const ENRICH_BATCH: usize = 25;
/// ZoomInfo's 400 messages that mean "no further page" rather than a fault.
const END_OF_RESULTS: [&str; 2] =
    ["Total record pagination is over max allowed value", "greater than the available results"];

/// Where a ZoomInfo workflow resumes: the search page and the offset in it.
pub type ZoomInfoCursor = SearchCursor;

pub struct ZoomInfo {
    link: Link,
    username: Secret,
    password: Secret,
    query: ZoomInfoQuery,
    token: Option<(Secret, Instant)>,
    search: Option<(u32, Vec<u64>)>,
}

/// ZoomInfo documents one `/authenticate` call a second, apart from the data limit;
/// spaced 1.2 s here, as an hourly call loses nothing by a wider margin against
/// network jitter.
pub const AUTH_RATE: Rate = Rate { requests: 1, per: std::time::Duration::from_millis(1200) };

impl ZoomInfo {
    pub fn new(link: Link, username: Secret, password: Secret, query: ZoomInfoQuery) -> Self {
        ZoomInfo { link, username, password, query, token: None, search: None }
    }

    pub async fn next_page(
        &mut self,
        cursor: ZoomInfoCursor,
        now: Millis,
    ) -> Result<Page<ZoomInfoCursor>, FetchError> {
        let before = self.link.metrics.requests.load(Ordering::Relaxed);
        let page = cursor.page.max(1);
        let ids = match self.search_page(page).await {
            Err(FetchError::Rejected { status: 400, body })
                if END_OF_RESULTS.iter().any(|m| body.contains(m)) =>
            {
                return Ok(Page {
                    notice: Some(format!("ZoomInfo pages no further: {body}")),
                    ..Page::exhausted()
                });
            }
            other => other?,
        };
        let offset = (cursor.offset as usize).min(ids.len());
        let per_credit = self.link.costs.per_credit;
        let wanted = ENRICH_BATCH.min(ids.len() - offset) as u64;
        let affordable = self.link.spend.take(wanted, per_credit)? as usize;
        let chunk = ids[offset..offset + affordable].to_vec();
        let enriched = if chunk.is_empty() { Ok(Vec::new()) } else { self.enrich(&chunk, now).await };
        self.link.spend.charge(-(affordable as f64) * per_credit);
        let records = enriched?;
        let next = cursor.after(offset + chunk.len(), ids.len(), self.link.page_size);
        let requests = (self.link.metrics.requests.load(Ordering::Relaxed) - before) as u32;
        let credits = records.len() as u32;
        let cost = f64::from(requests) * self.link.costs.per_request + f64::from(credits) * per_credit;
        self.link.spend.charge(cost);
        Ok(Page { records, items: Vec::new(), next, requests, credits, cost, notice: None })
    }

    /// The search body: documented input fields only (see the module's note).
    fn search_body(&self, page: u32) -> Value {
        let mut body = json!({ "rpp": self.link.page_size, "page": page, "jobTitle": self.query.job_title });
        for (key, value) in [
            ("managementLevel", &self.query.management_level),
            ("department", &self.query.department),
            ("country", &self.query.country),
        ] {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
        body
    }

    async fn search_page(&mut self, page: u32) -> Result<Vec<u64>, FetchError> {
        if let Some((cached, ids)) = &self.search
            && *cached == page
        {
            return Ok(ids.clone());
        }
        let answer = self.call("search/contact", &self.search_body(page)).await?;
        let ids: Vec<u64> =
            answer["data"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_u64()).collect();
        self.search = Some((page, ids.clone()));
        Ok(ids)
    }

    async fn enrich(&mut self, ids: &[u64], now: Millis) -> Result<Vec<RawLead>, FetchError> {
        let inputs: Vec<Value> = ids.iter().map(|id| json!({ "personId": id })).collect();
        let body = json!({
            "matchPersonInput": inputs,
            "outputFields": ["id", "firstName", "lastName", "email", "phone", "jobTitle", "managementLevel", "city",
                "state", "country", "externalUrls", "companyId", "companyName", "companyWebsite", "companyIndustry"],
        });
        let answer = self.call("enrich/contact", &body).await?;
        let results = answer["data"]["result"].as_array().cloned().unwrap_or_default();
        Ok(results
            .iter()
            .flat_map(|r| r["data"].as_array().cloned().unwrap_or_default())
            .map(|c| to_raw(&c, &self.link.workflow, now))
            .collect())
    }

    /// POSTs with a live token; a 401 (expired token) re-authenticates once.
    async fn call(&mut self, path: &str, body: &Value) -> Result<Value, FetchError> {
        let url = format!("{}/{path}", self.link.client.base_url());
        for renewed in [false, true] {
            let token = self.token().await?;
            let result: Result<Value, FetchError> = self
                .link
                .client
                .json(&self.link.metrics, classify, |http| {
                    http.post(&url).bearer_auth(token.expose()).json(body)
                })
                .await;
            match result {
                Err(FetchError::Unauthorized { status: 401, .. }) if !renewed => self.token = None,
                other => return other,
            }
        }
        Err(FetchError::Unauthorized { status: 401, message: "token refused right after renewal".into() })
    }

    async fn token(&mut self) -> Result<Secret, FetchError> {
        if let Some((token, at)) = &self.token
            && at.elapsed() < self.link.client.real(TOKEN_RENEW_AFTER)
        {
            return Ok(token.clone());
        }
        let url = format!("{}/authenticate", self.link.client.base_url());
        let body = json!({ "username": self.username.expose(), "password": self.password.expose() });
        // Under its own limit: ZoomInfo allows one `/authenticate` a second.
        let auth = self.link.client.for_auth();
        let answer: Value =
            auth.json(&self.link.metrics, classify, |http| http.post(&url).json(&body)).await?;
        let jwt = answer["jwt"].as_str().ok_or_else(|| FetchError::Garbage {
            detail: "no jwt in the authentication answer".into(),
            snippet: String::new(),
        })?;
        let token = Secret::new(jwt);
        self.token = Some((token.clone(), Instant::now()));
        Ok(token)
    }
}

/// ZoomInfo's shapes: `PFAPI0011` (credit limit) is an exhausted quota; a 429 on
/// the day bucket too.
fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<FetchError> {
    let text = String::from_utf8_lossy(body);
    let day_bucket = headers.get("x-ratelimit-rejected-bucket").and_then(|v| v.to_str().ok()) == Some("day");
    if text.contains("PFAPI0011") || (status == 429 && day_bucket) {
        return Some(FetchError::QuotaExhausted(format!(
            "ZoomInfo credit or daily limit reached: {}",
            snippet(body)
        )));
    }
    None
}

fn text(value: &Value, key: &str) -> Option<String> {
    json_text(value, &[key])
}

/// A ZoomInfo contact as a raw lead.
pub fn to_raw(contact: &Value, workflow: &str, now: Millis) -> RawLead {
    let id = text(contact, "id");
    let linkedin = contact["externalUrls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["type"].as_str().is_some_and(|t| t.contains("linkedin")))
        .and_then(|u| text(u, "url"));
    RawLead {
        first_name: text(contact, "firstName"),
        last_name: text(contact, "lastName"),
        job_title: text(contact, "jobTitle"),
        seniority: None,
        emails: text(contact, "email").into_iter().collect(),
        phone: text(contact, "phone"),
        linkedin_url: linkedin,
        profile_ids: id.iter().map(|id| format!("zoominfo:{id}")).collect(),
        company_name: text(contact, "companyName"),
        company_domain: text(contact, "companyWebsite"),
        company_industry: text(contact, "companyIndustry"),
        city: text(contact, "city"),
        region: text(contact, "state"),
        country: text(contact, "country"),
        source: Source::new("zoominfo", workflow, id, now),
        ..RawLead::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn zoominfo_quota_shapes() {
        let credit = b"{\"error\":{\"code\":\"PFAPI0011\",\"message\":\"Credit Limit Reached\"}}";
        assert!(matches!(classify(400, &HeaderMap::new(), credit), Some(FetchError::QuotaExhausted(_))));
        let mut day = HeaderMap::new();
        day.insert("x-ratelimit-rejected-bucket", HeaderValue::from_static("day"));
        assert!(matches!(classify(429, &day, b"{}"), Some(FetchError::QuotaExhausted(_))));
        let mut second = HeaderMap::new();
        second.insert("x-ratelimit-rejected-bucket", HeaderValue::from_static("second"));
        assert_eq!(classify(429, &second, b"{}"), None, "the per-second bucket is retried");
    }

    #[test]
    fn maps_a_documented_enrich_record() {
        let contact: Value = serde_json::from_str(
            r#"{"id":1260398587,"firstName":"Dana","lastName":"Wills","email":"dana@acme.com","phone":"+1 555 0100",
                "jobTitle":"VP Sales","city":"Austin","state":"Texas","country":"United States",
                "externalUrls":[{"type":"linkedin.com","url":"https://linkedin.com/in/danawills"}],
                "companyId":9867169,"companyName":"Acme Corp","companyWebsite":"www.acme.com"}"#,
        )
        .unwrap();
        let raw = to_raw(&contact, "w", 0);
        assert_eq!(raw.profile_ids, ["zoominfo:1260398587"]);
        assert_eq!(raw.linkedin_url.as_deref(), Some("https://linkedin.com/in/danawills"));
        assert_eq!(raw.region.as_deref(), Some("Texas"));
        assert_eq!(raw.company_domain.as_deref(), Some("www.acme.com"));
    }
}
