//! Bright Data: a workflow filters the LinkedIn people dataset
//! (`POST /datasets/filter`) into a snapshot, waits for it
//! (`/datasets/v3/progress/{id}`), then downloads it part by part
//! (`/datasets/v3/snapshot/{id}?batch_size=&part=`). The snapshot id is in the
//! cursor, so a restart never pays for a second snapshot; each part is a page.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Page, json_text};
use crate::config::{BrightDataQuery, Costs, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient};
use crate::lead::{Millis, RawLead, Source};

/// Wait between progress polls, and after a "not ready" download (vendor time).
const POLL_EVERY: Duration = Duration::from_secs(10);
/// Polls before a snapshot that never gets ready fails the page (30 min).
const MAX_POLLS: u32 = 180;
/// Failed snapshots in a row before the workflow gives up.
const MAX_FAILED_JOBS: u32 = 3;

/// Where a Bright Data workflow resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrightDataCursor {
    /// The snapshot being downloaded, once requested.
    pub snapshot: Option<String>,
    /// The next part to download, from 1.
    pub part: u32,
    /// Snapshots that failed in a row.
    pub failed_jobs: u32,
}

pub struct BrightData {
    client: VendorClient,
    key: Secret,
    dataset_id: String,
    query: BrightDataQuery,
    workflow: String,
    batch_size: u32,
    costs: Costs,
    metrics: Arc<RequestMetrics>,
}

enum Progress {
    Ready,
    Failed(String),
    Gone,
}

impl BrightData {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: VendorClient,
        key: Secret,
        dataset_id: String,
        query: BrightDataQuery,
        workflow: String,
        batch_size: u32,
        costs: Costs,
        metrics: Arc<RequestMetrics>,
    ) -> Self {
        BrightData { client, key, dataset_id, query, workflow, batch_size: batch_size.max(1), costs, metrics }
    }

    /// The next part of the snapshot (requesting the snapshot first when needed).
    pub async fn next_page(
        &mut self,
        cursor: BrightDataCursor,
        now: Millis,
    ) -> Result<Page<BrightDataCursor>, FetchError> {
        let before = self.metrics.requests.load(Ordering::Relaxed);
        let (records, next) = self.step(cursor, now).await?;
        let requests = (self.metrics.requests.load(Ordering::Relaxed) - before) as u32;
        let cost =
            f64::from(requests) * self.costs.per_request + records.len() as f64 * self.costs.per_record;
        Ok(Page { records, items: Vec::new(), next, requests, credits: 0, cost })
    }

    async fn step(
        &self,
        cursor: BrightDataCursor,
        now: Millis,
    ) -> Result<(Vec<RawLead>, Option<BrightDataCursor>), FetchError> {
        let Some(snapshot) = cursor.snapshot.clone() else {
            let id = self.trigger().await?;
            return Ok((Vec::new(), Some(BrightDataCursor { snapshot: Some(id), part: 1, ..cursor })));
        };
        match self.wait_ready(&snapshot).await? {
            Progress::Ready => {}
            Progress::Gone => {
                tracing::warn!(workflow = %self.workflow, "snapshot {snapshot} is gone; requesting a new one");
                return Ok((Vec::new(), Some(BrightDataCursor { snapshot: None, part: 1, ..cursor })));
            }
            Progress::Failed(why) if cursor.failed_jobs + 1 >= MAX_FAILED_JOBS => {
                return Err(FetchError::Rejected {
                    status: 200,
                    body: format!("snapshot {snapshot} failed: {why}"),
                });
            }
            Progress::Failed(why) => {
                tracing::warn!(workflow = %self.workflow, "snapshot {snapshot} failed ({why}); requesting a new one");
                let failed_jobs = cursor.failed_jobs + 1;
                return Ok((Vec::new(), Some(BrightDataCursor { snapshot: None, part: 1, failed_jobs })));
            }
        }
        let part = cursor.part.max(1);
        let (records, rows) = self.download(&snapshot, part, now).await?;
        // A full part (error rows included) means more may follow.
        let next = (rows as u32 >= self.batch_size).then(|| BrightDataCursor {
            snapshot: Some(snapshot),
            part: part + 1,
            failed_jobs: 0,
        });
        Ok((records, next))
    }

    async fn trigger(&self) -> Result<String, FetchError> {
        let mut filters =
            vec![json!({ "name": "position", "operator": "includes", "value": self.query.title })];
        let city = self.query.location.split(',').next().unwrap_or("").trim();
        if !city.is_empty() {
            filters.push(json!({ "name": "city", "operator": "includes", "value": city }));
        }
        let mut body =
            json!({ "dataset_id": self.dataset_id, "filter": { "operator": "and", "filters": filters } });
        if let Some(limit) = self.query.records_limit {
            body["records_limit"] = json!(limit);
        }
        let url = format!("{}/datasets/filter", self.client.base_url());
        let answer: Value =
            self.client.json(&self.metrics, classify, |http| self.auth(http.post(&url)).json(&body)).await?;
        answer["snapshot_id"].as_str().map(str::to_owned).ok_or_else(|| FetchError::Garbage {
            detail: "no snapshot_id in the answer".into(),
            snippet: answer.to_string().chars().take(120).collect(),
        })
    }

    async fn wait_ready(&self, snapshot: &str) -> Result<Progress, FetchError> {
        let url = format!("{}/datasets/v3/progress/{snapshot}", self.client.base_url());
        for _ in 0..MAX_POLLS {
            let answer: Result<Value, FetchError> =
                self.client.json(&self.metrics, classify, |http| self.auth(http.get(&url))).await;
            let answer = match answer {
                Err(FetchError::Rejected { status: 404, .. }) => return Ok(Progress::Gone),
                other => other?,
            };
            match answer["status"].as_str() {
                Some("ready") => return Ok(Progress::Ready),
                Some("failed" | "canceled") => {
                    let why = answer["error_message"].as_str().unwrap_or("no reason given").to_owned();
                    return Ok(Progress::Failed(why));
                }
                _ => tokio::time::sleep(self.client.real(POLL_EVERY)).await,
            }
        }
        Err(FetchError::Timeout)
    }

    /// One part: its records (failed-input rows left out) and how many rows it had.
    async fn download(
        &self,
        snapshot: &str,
        part: u32,
        now: Millis,
    ) -> Result<(Vec<RawLead>, usize), FetchError> {
        let url = format!("{}/datasets/v3/snapshot/{snapshot}", self.client.base_url());
        let query = [
            ("format", "json".to_owned()),
            ("batch_size", self.batch_size.to_string()),
            ("part", part.to_string()),
        ];
        for _ in 0..MAX_POLLS {
            let answer: Value = self
                .client
                .json(&self.metrics, classify, |http| self.auth(http.get(&url)).query(&query))
                .await?;
            match answer {
                Value::Array(items) => {
                    let rows = items.len();
                    return Ok((
                        items
                            .iter()
                            .filter(|r| r.get("error_code").is_none())
                            .map(|r| self.to_raw(r, now))
                            .collect(),
                        rows,
                    ));
                }
                // A status object on 200: not ready yet.
                _ => tokio::time::sleep(self.client.real(POLL_EVERY)).await,
            }
        }
        Err(FetchError::Timeout)
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(self.key.expose())
    }

    fn to_raw(&self, record: &Value, now: Millis) -> RawLead {
        to_raw(record, &self.workflow, now)
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
