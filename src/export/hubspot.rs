//! The HubSpot export: contacts upserted by email through
//! `POST /crm/v3/objects/contacts/batch/upsert`, 100 per call, under the portal's
//! rate limit (the shared [`crate::http`] client: spacing, 429 + `Retry-After`,
//! retries). A 207 answer is read per contact; a lead without an email cannot be a
//! HubSpot contact and is listed, not sent. Upserting by email makes a rerun create
//! no duplicates. A lead that absorbed others may have several contacts (each
//! sent before the merge under its own email): after its batch, the contacts its
//! emails name are read (`batch/read` by email) and merged into the one its
//! primary email names (`POST /crm/v3/objects/contacts/merge`).

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::crm::field_value;
pub use super::crm::{CrmError, CrmReport};
use crate::config::{Rate, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, standard_errors};
use crate::lead::{Lead, LeadId};

/// Contacts per call (HubSpot's batch limit).
pub const BATCH: usize = 100;
/// The public API root.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// Private apps on Free/Starter portals: 100 requests per 10 s (Professional and
/// Enterprise: 190; set `--rate`).
pub const DEFAULT_RATE: Rate = Rate { requests: 100, per: Duration::from_secs(10) };
/// Times a batch that failed for a passing reason (429s, 5xx, timeouts beyond the
/// client's own retries) is tried again before the export stops (resumable).
const BATCH_ATTEMPTS: u32 = 4;

/// Lead field → HubSpot property, the defaults.
pub const DEFAULT_MAPPING: [(&str, &str); 11] = [
    ("email", "email"),
    ("first_name", "firstname"),
    ("last_name", "lastname"),
    ("job_title", "jobtitle"),
    ("company", "company"),
    ("website", "website"),
    ("city", "city"),
    ("region", "state"),
    ("country", "country"),
    ("phone", "phone"),
    // A custom contact property: create it in HubSpot, or map it elsewhere / away.
    ("linkedin_url", "linkedin_url"),
];

pub struct HubSpot {
    client: VendorClient,
    token: Secret,
    mapping: Vec<(String, String)>,
    metrics: RequestMetrics,
    report: CrmReport,
}

#[derive(Serialize)]
struct Input<'a> {
    #[serde(rename = "idProperty")]
    id_property: &'static str,
    id: &'a str,
    properties: HashMap<&'a str, String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<Contact>,
    #[serde(default)]
    errors: Vec<BatchError>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    id: String,
    #[serde(default)]
    new: bool,
    #[serde(default)]
    properties: HashMap<String, Option<String>>,
}

#[derive(Deserialize)]
struct BatchError {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    context: HashMap<String, Vec<String>>,
}

impl HubSpot {
    pub fn new(
        base_url: &str,
        token: Secret,
        rate: Rate,
        mapping: Vec<(String, String)>,
    ) -> Result<HubSpot, CrmError> {
        let client = VendorClient::new("hubspot", base_url, rate, Duration::from_secs(30), 1.0)
            .map_err(|e| CrmError::Request { crm: "HubSpot", error: FetchError::Connect(e.to_string()) })?;
        Ok(HubSpot {
            client,
            token,
            mapping,
            metrics: RequestMetrics::default(),
            report: CrmReport::default(),
        })
    }

    /// `leadsprint check`: reads one contact, which proves the token and the API.
    pub async fn check(&self) -> Result<String, CrmError> {
        let url = format!("{}/crm/v3/objects/contacts?limit=1", self.client.base_url());
        let result: Result<serde_json::Value, _> = self
            .client
            .json(&self.metrics, standard_errors, |http| http.get(&url).bearer_auth(self.token.expose()))
            .await;
        match result {
            Ok(_) => Ok(format!("{} answers; the token is accepted", self.client.base_url())),
            Err(FetchError::Unauthorized { status, message }) => {
                let detail = format!("HTTP {status}: {message}");
                Err(CrmError::Unauthorized { crm: "HubSpot", env: "HUBSPOT_TOKEN", detail })
            }
            Err(error) => Err(CrmError::Request { crm: "HubSpot", error }),
        }
    }

    /// Sends `leads` (any number; 100 per call). Leads without an email are listed.
    pub async fn send(&mut self, leads: &[Lead]) -> Result<(), CrmError> {
        let (with_email, without): (Vec<&Lead>, Vec<&Lead>) = leads.iter().partition(|l| l.email.is_some());
        for lead in without {
            self.report.not_sent.push((lead.id, "no email: HubSpot contacts are upserted by email".into()));
        }
        // A batch HubSpot rejects whole (a 4xx) is split in halves until the leads it
        // objects to stand alone and are reported; the others still go through.
        let mut pending: Vec<&[&Lead]> = with_email.chunks(BATCH).rev().collect();
        while let Some(batch) = pending.pop() {
            match self.send_batch(batch).await {
                Err(CrmError::Request { error: FetchError::Rejected { status, body }, .. }) => {
                    if batch.len() == 1 {
                        self.report.failed.push((batch[0].id, format!("HTTP {status}: {body}")));
                    } else {
                        let (a, b) = batch.split_at(batch.len() / 2);
                        pending.extend([b, a]);
                    }
                }
                other => other?,
            }
        }
        Ok(())
    }

    async fn send_batch(&mut self, leads: &[&Lead]) -> Result<(), CrmError> {
        let inputs: Vec<Input> = leads.iter().map(|l| self.input(l)).collect();
        let body = serde_json::json!({ "inputs": inputs });
        let url = format!("{}/crm/v3/objects/contacts/batch/upsert", self.client.base_url());
        let mut attempt = 1;
        let answer: Answer = loop {
            let result = self
                .client
                .json(&self.metrics, standard_errors, |http| {
                    http.post(&url).bearer_auth(self.token.expose()).json(&body)
                })
                .await;
            match result {
                Ok(answer) => break answer,
                Err(FetchError::Unauthorized { status, message }) => {
                    let detail = format!("HTTP {status}: {message}");
                    return Err(CrmError::Unauthorized { crm: "HubSpot", env: "HUBSPOT_TOKEN", detail });
                }
                Err(e) if e.is_retryable() && attempt < BATCH_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "HubSpot batch failed; trying it again");
                    tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
                    attempt += 1;
                }
                Err(error) => return Err(CrmError::Request { crm: "HubSpot", error }),
            }
        };
        self.read_answer(leads, answer);
        let merged = self.merge_duplicates(leads).await;
        self.report.requests = self.metrics.requests.load(std::sync::atomic::Ordering::Relaxed);
        merged
    }

    /// Merges the contacts of each lead that absorbed others into the contact its
    /// primary email names. Reading first makes it idempotent: once merged, the
    /// emails name one contact.
    async fn merge_duplicates(&mut self, leads: &[&Lead]) -> Result<(), CrmError> {
        let merged: Vec<&Lead> = leads.iter().copied().filter(|l| !l.absorbed.is_empty()).collect();
        for group in merged.chunks(BATCH / 4) {
            let emails: Vec<String> = group.iter().flat_map(|l| emails_of(l)).collect();
            let found = self.read_by_email(&emails).await?;
            for lead in group {
                let primary = lead.email.as_deref().unwrap_or_default().to_lowercase();
                let Some(keep) = found.get(&primary).cloned() else { continue };
                let mut others: Vec<String> = emails_of(lead)
                    .iter()
                    .filter_map(|e| found.get(e))
                    .filter(|id| **id != keep)
                    .cloned()
                    .collect();
                others.sort();
                others.dedup();
                for other in others {
                    self.merge(lead.id, &keep, &other).await?;
                }
            }
        }
        Ok(())
    }

    /// Contact ids by (lower-case) email, for the emails HubSpot knows.
    async fn read_by_email(&mut self, emails: &[String]) -> Result<HashMap<String, String>, CrmError> {
        let inputs: Vec<serde_json::Value> = emails.iter().map(|e| serde_json::json!({ "id": e })).collect();
        let body = serde_json::json!({ "idProperty": "email", "properties": ["email"], "inputs": inputs });
        let url = format!("{}/crm/v3/objects/contacts/batch/read", self.client.base_url());
        let answer: Answer = self.call(&url, &body).await?;
        let mut out = HashMap::new();
        for contact in answer.results {
            if let Some(Some(email)) = contact.properties.get("email") {
                out.insert(email.to_lowercase(), contact.id);
            }
        }
        Ok(out)
    }

    async fn merge(&mut self, lead: LeadId, keep: &str, other: &str) -> Result<(), CrmError> {
        let body = serde_json::json!({ "primaryObjectId": keep, "objectIdToMerge": other });
        let url = format!("{}/crm/v3/objects/contacts/merge", self.client.base_url());
        let _: serde_json::Value = self.call(&url, &body).await?;
        self.report.merged.push((lead, keep.to_owned(), other.to_owned()));
        Ok(())
    }

    /// One POST through the shared client, its credentials errors named.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<T, CrmError> {
        let result = self
            .client
            .json(&self.metrics, standard_errors, |http| {
                http.post(url).bearer_auth(self.token.expose()).json(body)
            })
            .await;
        match result {
            Ok(answer) => Ok(answer),
            Err(FetchError::Unauthorized { status, message }) => {
                let detail = format!("HTTP {status}: {message}");
                Err(CrmError::Unauthorized { crm: "HubSpot", env: "HUBSPOT_TOKEN", detail })
            }
            Err(error) => Err(CrmError::Request { crm: "HubSpot", error }),
        }
    }

    fn input<'a>(&'a self, lead: &'a Lead) -> Input<'a> {
        let properties = self
            .mapping
            .iter()
            .filter_map(|(field, property)| Some((property.as_str(), field_value(lead, field)?)))
            .collect::<HashMap<&str, String>>();
        // Safe: only leads with an email reach here.
        Input { id_property: "email", id: lead.email.as_deref().unwrap_or_default(), properties }
    }

    /// Counts created and updated contacts; an input HubSpot did not return failed,
    /// with the error naming it (or the batch's first error).
    fn read_answer(&mut self, leads: &[&Lead], answer: Answer) {
        let mut returned: HashMap<String, bool> = HashMap::new();
        for contact in answer.results {
            if let Some(Some(email)) = contact.properties.get("email") {
                returned.insert(email.to_lowercase(), contact.new);
            }
        }
        for lead in leads {
            let email = lead.email.as_deref().unwrap_or_default().to_lowercase();
            match returned.get(&email) {
                Some(true) => self.report.created += 1,
                Some(false) => self.report.updated += 1,
                None => {
                    let reason = error_for(&answer.errors, &email);
                    self.report.failed.push((lead.id, reason));
                }
            }
        }
    }

    pub fn report(&self) -> &CrmReport {
        &self.report
    }

    pub fn into_report(self) -> CrmReport {
        self.report
    }
}

/// Every address a lead's contacts may be filed under (its own, its email keys,
/// and the primary addresses of the leads merged into it), lower-case.
fn emails_of(lead: &Lead) -> Vec<String> {
    let absorbed = lead.absorbed.iter().filter_map(|a| a.email.as_ref());
    let mut out: Vec<String> =
        lead.email.iter().chain(&lead.identity.emails).chain(absorbed).map(|e| e.to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

fn error_for(errors: &[BatchError], email: &str) -> String {
    let names = |e: &&BatchError| e.context.values().flatten().any(|v| v.eq_ignore_ascii_case(email));
    let found = errors.iter().find(names).or(errors.first());
    match found {
        Some(e) => format!("{}: {}", e.category.as_deref().unwrap_or("ERROR"), e.message),
        None => "HubSpot did not return this contact".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_naming_a_contact_is_its_reason() {
        let errors = vec![
            BatchError {
                category: Some("VALIDATION_ERROR".into()),
                message: "bad a".into(),
                context: HashMap::new(),
            },
            BatchError {
                category: Some("VALIDATION_ERROR".into()),
                message: "Email address b@x is invalid".into(),
                context: HashMap::from([("ids".into(), vec!["B@x".into()])]),
            },
        ];
        assert_eq!(error_for(&errors, "b@x"), "VALIDATION_ERROR: Email address b@x is invalid");
        assert_eq!(error_for(&errors, "c@x"), "VALIDATION_ERROR: bad a");
        assert_eq!(error_for(&[], "c@x"), "HubSpot did not return this contact");
    }
}
