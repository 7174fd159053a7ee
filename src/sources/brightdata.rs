//! Bright Data, Marketplace Dataset API: a workflow filters the LinkedIn people
//! dataset (`POST /datasets/filter`) into a snapshot (`snap_…`), reads its status
//! (`GET /datasets/snapshots/{id}`) until it is ready, counts its parts once
//! (`GET /datasets/snapshots/{id}/parts`), then downloads them
//! (`GET /datasets/snapshots/{id}/download?batch_size=&part=`), each part a page.
//!
//! Billing rule (Bright Data's): a filter snapshot is billed when it is created,
//! per record it holds. So the cost is counted on the page that creates it — at the
//! `records_limit` asked, which is never more than the spend cap allows — and
//! corrected to the snapshot's `dataset_size` when its status first tells it.
//! The snapshot id is committed with that cost before any status read, so a
//! restart never pays for a second one; a snapshot that fails or goes missing is
//! replaced at most once per query.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Link, Page, json_text};
use crate::config::{BrightDataQuery, Secret};
use crate::http::FetchError;
use crate::lead::{Millis, RawLead, Source};

/// Wait between status reads while a snapshot builds (vendor time).
pub const POLL_EVERY: Duration = Duration::from_secs(10);
/// Status reads before a snapshot that never gets ready fails the page (30 min).
const MAX_POLLS: u32 = 180;
/// Snapshots a query may replace (failed or gone) before the workflow gives up.
pub const MAX_REPLACEMENTS: u32 = 1;

/// Where a Bright Data workflow resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrightDataCursor {
    /// The snapshot of this query, once created.
    pub snapshot: Option<String>,
    /// The next part to download, from 1.
    pub part: u32,
    /// How many parts the snapshot has, once it is known ready.
    pub parts: Option<u32>,
    /// Records counted as billed for the snapshot: the limit asked at creation,
    /// then its own size.
    pub billed: u64,
    /// Snapshots of this query replaced so far.
    pub replaced: u32,
}

pub struct BrightData {
    link: Link,
    key: Secret,
    dataset_id: String,
    query: BrightDataQuery,
    /// The records limit of a filter whose query sets none.
    default_limit: u32,
}

/// What a status read says about a snapshot.
enum Status {
    Ready { size: u64 },
    Failed(String),
    Gone,
}

/// What one step produced: records, the cursor after them, a cost correction
/// (dollars, beside the requests and records), and a notice.
struct Step {
    records: Vec<RawLead>,
    next: Option<BrightDataCursor>,
    extra_cost: f64,
    notice: Option<String>,
}

impl Step {
    fn to(next: BrightDataCursor) -> Step {
        Step { records: Vec::new(), next: Some(next), extra_cost: 0.0, notice: None }
    }
}

impl BrightData {
    pub fn new(
        link: Link,
        key: Secret,
        dataset_id: String,
        query: BrightDataQuery,
        default_limit: u32,
    ) -> Self {
        BrightData { link, key, dataset_id, query, default_limit: default_limit.max(1) }
    }

    /// The next step of the query: create the snapshot, wait for it, or download a part.
    pub async fn next_page(
        &mut self,
        cursor: BrightDataCursor,
        now: Millis,
    ) -> Result<Page<BrightDataCursor>, FetchError> {
        let metrics = &self.link.metrics;
        let before = metrics.requests.load(Ordering::Relaxed);
        let step = self.step(cursor, now).await;
        let requests = (metrics.requests.load(Ordering::Relaxed) - before) as u32;
        let step = step?;
        let request_cost = f64::from(requests) * self.link.costs.per_request;
        self.link.spend.charge(request_cost);
        Ok(Page {
            records: step.records,
            items: Vec::new(),
            next: step.next,
            requests,
            credits: 0,
            cost: request_cost + step.extra_cost,
            notice: step.notice,
        })
    }

    async fn step(&self, cursor: BrightDataCursor, now: Millis) -> Result<Step, FetchError> {
        let Some(snapshot) = cursor.snapshot.clone() else {
            return self.create(cursor.replaced, None).await;
        };
        let Some(parts) = cursor.parts else {
            return match self.wait_ready(&snapshot).await? {
                Status::Ready { size } => self.ready(&snapshot, size, cursor).await,
                Status::Failed(why) => self.replace(&snapshot, &format!("failed: {why}"), cursor).await,
                Status::Gone => self.replace(&snapshot, "is not found", cursor).await,
            };
        };
        let part = cursor.part.max(1);
        if part > parts {
            return Ok(Step { records: Vec::new(), next: None, extra_cost: 0.0, notice: None });
        }
        match self.download(&snapshot, part, now).await {
            Err(FetchError::Rejected { status: 404, .. }) => {
                self.replace(&snapshot, "is gone (expired or deleted)", cursor).await
            }
            Err(e) => Err(e),
            Ok(records) => {
                let next = (part < parts).then(|| BrightDataCursor { part: part + 1, ..cursor });
                Ok(Step { records, next, extra_cost: 0.0, notice: None })
            }
        }
    }

    /// Creates the query's snapshot, billed now: its cost is the records limit
    /// asked (no more than the spend cap allows), committed with its id.
    async fn create(&self, replaced: u32, notice: Option<String>) -> Result<Step, FetchError> {
        let price = self.link.costs.per_record;
        let wanted = self.query.records_limit.unwrap_or(self.default_limit);
        let limit = self.link.spend.take(u64::from(wanted), price)?;
        let id = match self.filter(limit).await {
            Ok(id) => id,
            Err(e) => {
                self.link.spend.charge(-(limit as f64) * price);
                return Err(e);
            }
        };
        let cost = limit as f64 * price;
        let notice = notice
            .map(|n| format!("{n}; replaced by snapshot {id}, billed up to {limit} records (${cost:.2})"));
        let next = BrightDataCursor { snapshot: Some(id), part: 1, parts: None, billed: limit, replaced };
        Ok(Step { extra_cost: cost, notice, ..Step::to(next) })
    }

    /// The snapshot is ready: the bill is corrected to its size and its parts counted.
    async fn ready(&self, snapshot: &str, size: u64, cursor: BrightDataCursor) -> Result<Step, FetchError> {
        let parts = self.parts(snapshot).await?;
        let correction = (size as f64 - cursor.billed as f64) * self.link.costs.per_record;
        self.link.spend.charge(correction);
        let next = BrightDataCursor { part: 1, parts: Some(parts), billed: size, ..cursor };
        Ok(Step { extra_cost: correction, ..Step::to(next) })
    }

    /// A failed or missing snapshot: replaced once per query, then the workflow stops.
    async fn replace(&self, snapshot: &str, why: &str, cursor: BrightDataCursor) -> Result<Step, FetchError> {
        let what = format!("snapshot {snapshot} {why}");
        if cursor.replaced >= MAX_REPLACEMENTS {
            return Err(FetchError::Rejected {
                status: 200,
                body: format!(
                    "{what}, and this query's snapshot was already replaced once; not buying a third"
                ),
            });
        }
        tracing::warn!(workflow = %self.link.workflow, "{what}; requesting a new one");
        self.create(cursor.replaced + 1, Some(what)).await
    }

    async fn filter(&self, records_limit: u64) -> Result<String, FetchError> {
        let mut filters =
            vec![json!({ "name": "position", "operator": "includes", "value": self.query.title })];
        let city = self.query.location.split(',').next().unwrap_or("").trim();
        if !city.is_empty() {
            filters.push(json!({ "name": "city", "operator": "includes", "value": city }));
        }
        let body = json!({
            "dataset_id": self.dataset_id,
            "records_limit": records_limit,
            "filter": { "operator": "and", "filters": filters },
        });
        let url = format!("{}/datasets/filter", self.link.client.base_url());
        let answer: Value = self
            .link
            .client
            .json(&self.link.metrics, classify, |http| self.auth(http.post(&url)).json(&body))
            .await?;
        answer["snapshot_id"].as_str().map(str::to_owned).ok_or_else(|| FetchError::Garbage {
            detail: "no snapshot_id in the answer".into(),
            snippet: answer.to_string().chars().take(120).collect(),
        })
    }

    /// Reads the snapshot's status until it is ready, failed or gone.
    async fn wait_ready(&self, snapshot: &str) -> Result<Status, FetchError> {
        let url = format!("{}/datasets/snapshots/{snapshot}", self.link.client.base_url());
        for _ in 0..MAX_POLLS {
            let answer: Result<Value, FetchError> =
                self.link.client.json(&self.link.metrics, classify, |http| self.auth(http.get(&url))).await;
            let answer = match answer {
                Err(FetchError::Rejected { status: 404, .. }) => return Ok(Status::Gone),
                other => other?,
            };
            match answer["status"].as_str() {
                Some("ready") => {
                    return Ok(Status::Ready { size: answer["dataset_size"].as_u64().unwrap_or(0) });
                }
                Some(state @ ("failed" | "canceled" | "rolling_back")) => {
                    let why = ["error_message", "error", "message"]
                        .iter()
                        .find_map(|k| answer[*k].as_str())
                        .unwrap_or(state)
                        .to_owned();
                    return Ok(Status::Failed(why));
                }
                // scheduled, building, collecting, digesting, delivering, …
                _ => tokio::time::sleep(self.link.client.real(POLL_EVERY)).await,
            }
        }
        Err(FetchError::Timeout)
    }

    /// How many parts of `batch_size` records the ready snapshot has.
    async fn parts(&self, snapshot: &str) -> Result<u32, FetchError> {
        let url = format!("{}/datasets/snapshots/{snapshot}/parts", self.link.client.base_url());
        let query = self.part_query(None);
        let answer: Value = self
            .link
            .client
            .json(&self.link.metrics, classify, |http| self.auth(http.get(&url)).query(&query))
            .await?;
        answer["parts"].as_u64().map(|p| p as u32).ok_or_else(|| FetchError::Garbage {
            detail: "no parts count in the answer".into(),
            snippet: answer.to_string().chars().take(120).collect(),
        })
    }

    /// The format and batch size (and part) every parts and download call shares.
    fn part_query(&self, part: Option<u32>) -> Vec<(&'static str, String)> {
        let mut query = vec![("format", "json".to_owned()), ("batch_size", self.link.page_size.to_string())];
        query.extend(part.map(|p| ("part", p.to_string())));
        query
    }

    /// One part's records (rows of failed inputs left out).
    async fn download(&self, snapshot: &str, part: u32, now: Millis) -> Result<Vec<RawLead>, FetchError> {
        let url = format!("{}/datasets/snapshots/{snapshot}/download", self.link.client.base_url());
        let query = self.part_query(Some(part));
        let answer: Value = self
            .link
            .client
            .json(&self.link.metrics, classify, |http| self.auth(http.get(&url)).query(&query))
            .await?;
        let Value::Array(items) = answer else {
            return Err(FetchError::Garbage {
                detail: format!("part {part} of a ready snapshot is not a JSON array"),
                snippet: answer.to_string().chars().take(120).collect(),
            });
        };
        Ok(items
            .iter()
            .filter(|r| r.get("error_code").is_none())
            .map(|r| to_raw(r, &self.link.workflow, now))
            .collect())
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(self.key.expose())
    }
}

/// Bright Data's shapes: a 409 means "not ready yet, ask again in a while".
fn classify(status: u16, _: &HeaderMap, _: &[u8]) -> Option<FetchError> {
    (status == 409).then_some(FetchError::Throttled { retry_after: Some(POLL_EVERY) })
}

/// A LinkedIn profile record as a raw lead.
pub fn to_raw(record: &Value, workflow: &str, now: Millis) -> RawLead {
    let id = json_text(record, &["id"]);
    let mut profile_ids: Vec<String> = id.iter().map(|id| format!("brightdata:{id}")).collect();
    profile_ids.extend(json_text(record, &["linkedin_num_id"]).map(|n| format!("li:{n}")));
    RawLead {
        first_name: json_text(record, &["first_name"]),
        last_name: json_text(record, &["last_name"]),
        full_name: json_text(record, &["name"]),
        job_title: json_text(record, &["position"]),
        linkedin_url: json_text(record, &["url"]).or_else(|| json_text(record, &["input_url"])),
        profile_ids,
        company_name: json_text(record, &["current_company", "name"])
            .or_else(|| json_text(record, &["current_company_name"])),
        company_linkedin_url: json_text(record, &["current_company", "link"]),
        city: json_text(record, &["city"]),
        country: json_text(record, &["country_code"]),
        location: json_text(record, &["location"]),
        source: Source::new("brightdata", workflow, id, now),
        ..RawLead::default()
    }
}
