//! The HubSpot export: contacts upserted by email through
//! `POST /crm/v3/objects/contacts/batch/upsert`, 100 per call, under the portal's
//! rate limit (the shared [`crate::http`] client: spacing, 429 + `Retry-After`,
//! retries). A 207 answer is read per contact; a lead without an email cannot be a
//! HubSpot contact and is listed, not sent. Upserting by email makes a rerun create
//! no duplicates. A lead that absorbed others may have several contacts (each
//! sent before the merge under its own email): after its batch, the contacts its
//! emails name are read (`batch/read` by email) and merged into the one its
//! primary email names (`POST /crm/v3/objects/contacts/merge`).
//!
//! One contact per email: leads may share an address (a role mailbox such as
//! `marketing@` is never an identity key, so two people can have it); the lead
//! with the best quality (then the lowest id) becomes the contact and the others
//! are listed, never sent — so no batch holds one id twice (HubSpot refuses that)
//! and no person's contact is overwritten with another's data. Batches are filled
//! to 100 contacts after leads without email are set aside. Before the first
//! batch, every mapped property is looked up (`GET /crm/v3/properties/contacts/{name}`);
//! a missing one is created with `--create-properties`, or named with what to do.
//!
//! Scopes: `crm.objects.contacts.write` to upsert (enough for `check` and the
//! property lookup too); `crm.objects.contacts.read` to read contacts for the
//! merges (without it, those are listed as "to merge"); `crm.schemas.contacts.write`
//! for `--create-properties`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::crm::field_value;
pub use super::crm::{CrmError, CrmReport};
use crate::config::{Rate, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, snippet};
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
    owners: EmailOwners,
    /// Without the read scope, merges are listed instead of made.
    can_read: bool,
}

/// Which lead is the HubSpot contact of each email that several leads share.
#[derive(Debug, Default)]
pub struct EmailOwners {
    /// Address hash → the best lead so far (id, quality).
    best: HashMap<u64, (LeadId, u8)>,
    shared: HashSet<u64>,
}

impl EmailOwners {
    fn key(email: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64(email.trim().to_lowercase().as_bytes())
    }

    /// Counts `lead` for its email (leads without one are not contacts).
    pub fn add(&mut self, lead: &Lead) {
        let Some(email) = &lead.email else { return };
        let key = Self::key(email);
        let candidate = (lead.id, lead.quality.score);
        match self.best.get_mut(&key) {
            None => {
                self.best.insert(key, candidate);
            }
            Some(best) => {
                self.shared.insert(key);
                let better = candidate.1 > best.1 || (candidate.1 == best.1 && candidate.0 < best.0);
                if better {
                    *best = candidate;
                }
            }
        }
    }

    /// The lead that is the contact for `lead`'s email, when it is another lead.
    pub fn other_owner(&self, lead: &Lead) -> Option<LeadId> {
        let key = Self::key(lead.email.as_deref()?);
        if !self.shared.contains(&key) {
            return None;
        }
        self.best.get(&key).map(|(id, _)| *id).filter(|id| *id != lead.id)
    }

    /// Emails that several leads share.
    pub fn shared(&self) -> usize {
        self.shared.len()
    }
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
            owners: EmailOwners::default(),
            can_read: true,
        })
    }

    /// Who is the contact of each shared email (from every lead the export will
    /// consider, so the choice is the same on a resumed run).
    pub fn with_owners(mut self, owners: EmailOwners) -> HubSpot {
        self.owners = owners;
        self
    }

    /// `leadsprint check`: looks up the `email` contact property, which any of the
    /// contact scopes allows — the write scope the export needs is enough.
    pub async fn check(&self) -> Result<String, CrmError> {
        match self.property("email").await? {
            Some(_) => Ok(format!("{} answers; the token is accepted", self.client.base_url())),
            None => Err(CrmError::Request {
                crm: "HubSpot",
                error: FetchError::Rejected { status: 404, body: "no email contact property".into() },
            }),
        }
    }

    /// A contact property's definition, `None` when the portal has no such property.
    async fn property(&self, name: &str) -> Result<Option<serde_json::Value>, CrmError> {
        let url = format!("{}/crm/v3/properties/contacts/{name}", self.client.base_url());
        let result = self
            .client
            .json(&self.metrics, classify, |http| http.get(&url).bearer_auth(self.token.expose()))
            .await;
        match result {
            Err(FetchError::Rejected { status: 404, .. }) => Ok(None),
            other => other.map(Some).map_err(credentials_named),
        }
    }

    /// Checks that every mapped property exists; creates the missing ones when
    /// `create` is set, else names them with what to do.
    pub async fn prepare(&mut self, create: bool) -> Result<(), CrmError> {
        let mut missing = Vec::new();
        for (_, property) in &self.mapping {
            if self.property(property).await?.is_none() {
                missing.push(property.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if !create {
            return Err(CrmError::MissingProperties { crm: "HubSpot", names: missing });
        }
        for name in missing {
            self.create_property(&name).await?;
            tracing::info!("created the HubSpot contact property {name}");
        }
        Ok(())
    }

    async fn create_property(&self, name: &str) -> Result<(), CrmError> {
        let label = name.replace('_', " ");
        let body = serde_json::json!({ "name": name, "label": label, "type": "string",
            "fieldType": "text", "groupName": "contactinformation" });
        let url = format!("{}/crm/v3/properties/contacts", self.client.base_url());
        let _: serde_json::Value = self.call(&url, &body).await?;
        Ok(())
    }

    /// Sends `leads` (any number; 100 contacts per call). Leads without an email,
    /// and leads whose email another lead holds, are listed, not sent.
    pub async fn send(&mut self, leads: &[Lead]) -> Result<(), CrmError> {
        let mut with_email = Vec::new();
        for lead in leads {
            match (&lead.email, self.owners.other_owner(lead)) {
                (None, _) => self
                    .report
                    .not_sent
                    .push((lead.id, "no email: HubSpot contacts are upserted by email".into())),
                (Some(email), Some(owner)) => self.report.not_sent.push((
                    lead.id,
                    format!("shares {email} with lead {owner}, whose data the one contact for it holds (better quality)"),
                )),
                (Some(_), None) => with_email.push(lead),
            }
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
                .json(&self.metrics, classify, |http| {
                    http.post(&url).bearer_auth(self.token.expose()).json(&body)
                })
                .await;
            match result {
                Ok(answer) => break answer,
                Err(e @ FetchError::Unauthorized { .. }) => return Err(credentials_named(e)),
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
            if !self.can_read {
                self.list_merges(group);
                continue;
            }
            let emails: Vec<String> = group.iter().flat_map(|l| emails_of(l)).collect();
            let found = match self.read_by_email(&emails).await {
                Err(CrmError::Unauthorized { detail, .. }) if detail.contains("MISSING_SCOPES") => {
                    tracing::warn!(
                        "the HubSpot token cannot read contacts ({detail}); merges are listed instead"
                    );
                    self.can_read = false;
                    self.list_merges(group);
                    continue;
                }
                other => other?,
            };
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

    /// Lists the merges of `leads` for someone to make in HubSpot.
    fn list_merges(&mut self, leads: &[&Lead]) {
        for lead in leads {
            self.report.to_merge.extend(lead.absorbed.iter().map(|a| (lead.id, a.id)));
        }
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
        self.client
            .json(&self.metrics, classify, |http| http.post(url).bearer_auth(self.token.expose()).json(body))
            .await
            .map_err(credentials_named)
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

/// HubSpot's 403 `MISSING_SCOPES` names the scopes the token lacks
/// (`requiredGranularScopes`, or `requiredScopes` in older answers).
fn classify(status: u16, _: &reqwest::header::HeaderMap, body: &[u8]) -> Option<FetchError> {
    if status != 403 {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    if answer["category"] != "MISSING_SCOPES" {
        return None;
    }
    let mut scopes: Vec<String> = answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| ["requiredGranularScopes", "requiredScopes"].map(|k| e["context"][k].clone()))
        .filter_map(|v| v.as_array().cloned())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    scopes.sort();
    scopes.dedup();
    let message = if scopes.is_empty() {
        format!("MISSING_SCOPES: {}", snippet(body))
    } else {
        format!("MISSING_SCOPES: the token lacks {} — add it to the private app", scopes.join(" or "))
    };
    Some(FetchError::Unauthorized { status, message })
}

/// Credentials errors as the CRM error that names the variable to check.
fn credentials_named(error: FetchError) -> CrmError {
    match error {
        FetchError::Unauthorized { status, message } => {
            let detail = format!("HTTP {status}: {message}");
            CrmError::Unauthorized { crm: "HubSpot", env: "HUBSPOT_TOKEN", detail }
        }
        error => CrmError::Request { crm: "HubSpot", error },
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
