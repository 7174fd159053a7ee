//! The Salesforce export: Leads through a Bulk API 2.0 ingest job per batch —
//! create the job (upsert on an external-ID field holding the lead id, or insert
//! when asked), upload the CSV, mark it UploadComplete, poll to a final state, and
//! read the successful, failed and unprocessed results back into a per-lead report
//! whatever the final state (a job that fails part-way has still stored some
//! rows). OAuth by client credentials (on the org's My Domain URL, as Salesforce
//! requires for that flow) or JWT bearer (RS256, signed here with ring); a 401
//! re-authenticates once; the org's daily API limit (`REQUEST_LIMIT_EXCEEDED`) is
//! reported as such. Leads without the required `LastName` and `Company` are
//! reported, not sent.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::crm::{CrmError, CrmReport, field_value};
use crate::config::{Rate, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, snippet};
use crate::lead::{Lead, LeadId};

/// The REST API version used.
pub const API_VERSION: &str = "v62.0";
/// Leads per ingest job (far under the 150 MB upload limit).
pub const BATCH: usize = 10_000;
const CRM: &str = "Salesforce";

/// How to sign in.
pub enum Auth {
    /// `grant_type=client_credentials` (an external client app with the flow enabled).
    ClientCredentials { client_id: String, client_secret: Secret },
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an RS256 assertion.
    JwtBearer { client_id: String, username: String, private_key_pem: Secret },
}

pub struct SalesforceTarget {
    /// `https://login.salesforce.com`, `https://test.salesforce.com` or a My Domain URL.
    pub login_url: String,
    pub auth: Auth,
    /// The Lead field (custom, External ID) holding the lead id; `None` inserts.
    pub external_id: Option<String>,
    /// Lead field → Salesforce field.
    pub mapping: Vec<(String, String)>,
    pub rate: Rate,
    /// Time between job status polls.
    pub poll: Duration,
}

/// Lead field → Lead object field, the defaults (`LastName` and `Company` required).
pub const DEFAULT_MAPPING: [(&str, &str); 11] = [
    ("first_name", "FirstName"),
    ("last_name", "LastName"),
    ("company", "Company"),
    ("job_title", "Title"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("city", "City"),
    ("region", "State"),
    ("country", "Country"),
    ("website", "Website"),
    ("industry", "Industry"),
];

#[derive(Deserialize)]
struct Token {
    access_token: String,
    instance_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Job {
    id: String,
    state: String,
    #[serde(default)]
    error_message: Option<String>,
}

pub struct Salesforce {
    client: VendorClient,
    target: SalesforceTarget,
    token: Option<Token>,
    metrics: RequestMetrics,
    report: CrmReport,
}

impl Salesforce {
    pub fn new(target: SalesforceTarget) -> Result<Salesforce, CrmError> {
        let client =
            VendorClient::new("salesforce", &target.login_url, target.rate, Duration::from_secs(60), 1.0)
                .map_err(|e| CrmError::Request { crm: CRM, error: FetchError::Connect(e.to_string()) })?;
        Ok(Salesforce {
            client,
            target,
            token: None,
            metrics: RequestMetrics::default(),
            report: CrmReport::default(),
        })
    }

    /// Signs in (now, to test the credentials before anything is read).
    pub async fn sign_in(&mut self) -> Result<(), CrmError> {
        self.check_login_url()?;
        let form = self.token_form()?;
        let url = format!("{}/services/oauth2/token", self.target.login_url.trim_end_matches('/'));
        let token: Token = self
            .client
            .json(&self.metrics, classify, |http| http.post(&url).form(&form))
            .await
            .map_err(|e| auth_error(e, "the token request"))?;
        self.token = Some(token);
        Ok(())
    }

    /// The client-credentials flow works only on the org's My Domain URL
    /// (Salesforce refuses it on login.salesforce.com and test.salesforce.com).
    fn check_login_url(&self) -> Result<(), CrmError> {
        let generic = ["://login.salesforce.com", "://test.salesforce.com"];
        let url = self.target.login_url.trim_end_matches('/').to_lowercase();
        if matches!(self.target.auth, Auth::ClientCredentials { .. })
            && generic.iter().any(|g| url.ends_with(g))
        {
            return Err(CrmError::Setup {
                crm: CRM,
                message: format!(
                    "the client-credentials flow needs your org's My Domain URL, not {}: set SALESFORCE_LOGIN_URL (or --login-url) to https://YOUR-DOMAIN.my.salesforce.com (a sandbox: https://YOUR-DOMAIN--SANDBOX.sandbox.my.salesforce.com)",
                    self.target.login_url
                ),
            });
        }
        Ok(())
    }

    fn token_form(&self) -> Result<Vec<(&'static str, String)>, CrmError> {
        Ok(match &self.target.auth {
            Auth::ClientCredentials { client_id, client_secret } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_owned()),
            ],
            Auth::JwtBearer { client_id, username, private_key_pem } => {
                let assertion = jwt(client_id, username, &self.target.login_url, private_key_pem)?;
                vec![
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".into()),
                    ("assertion", assertion),
                ]
            }
        })
    }

    /// Sends `leads` as one ingest job; leads missing a required field are listed.
    pub async fn send(&mut self, leads: &[Lead]) -> Result<(), CrmError> {
        // Bulk API 2.0 has no merge: the pairs are listed for someone to merge in Salesforce.
        for lead in leads {
            self.report.to_merge.extend(lead.absorbed_ids().map(|absorbed| (lead.id, absorbed)));
        }
        let mut rows: Vec<&Lead> = Vec::with_capacity(leads.len());
        for lead in leads {
            match missing_required(lead) {
                Some(why) => self.report.not_sent.push((lead.id, why)),
                None => rows.push(lead),
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let (csv, by_row) = self.csv(&rows)?;
        let job = self.create_job().await?;
        let upload = format!("jobs/ingest/{}/batches", job.id);
        self.call(reqwest::Method::PUT, &upload, Body::Csv(csv)).await?;
        let state = serde_json::json!({ "state": "UploadComplete" }).to_string();
        self.call(reqwest::Method::PATCH, &format!("jobs/ingest/{}", job.id), Body::Json(state)).await?;
        let done = self.wait_for(&job.id).await?;
        self.read_results(&done, &rows, &by_row).await
    }

    async fn create_job(&mut self) -> Result<Job, CrmError> {
        let mut spec = serde_json::json!({
            "object": "Lead", "operation": "insert", "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"
        });
        if let Some(field) = &self.target.external_id {
            spec["operation"] = "upsert".into();
            spec["externalIdFieldName"] = field.clone().into();
        }
        let text = self.call(reqwest::Method::POST, "jobs/ingest", Body::Json(spec.to_string())).await?;
        serde_json::from_str(&text).map_err(|e| garbage(&e, &text))
    }

    async fn wait_for(&mut self, id: &str) -> Result<Job, CrmError> {
        loop {
            let text = self.call(reqwest::Method::GET, &format!("jobs/ingest/{id}"), Body::None).await?;
            let job: Job = serde_json::from_str(&text).map_err(|e| garbage(&e, &text))?;
            if matches!(job.state.as_str(), "JobComplete" | "Failed" | "Aborted") {
                return Ok(job);
            }
            tokio::time::sleep(self.target.poll).await;
        }
    }

    /// Reads what the finished job did to each row — successful (created or
    /// updated), failed (with Salesforce's error), unprocessed (a job that failed
    /// or was aborted part-way) — whatever its final state, and reports each lead.
    async fn read_results(
        &mut self,
        job: &Job,
        rows: &[&Lead],
        by_row: &HashMap<String, LeadId>,
    ) -> Result<(), CrmError> {
        let mut settled = std::collections::HashSet::new();
        let ok = self.results(&job.id, "successfulResults/").await?;
        for record in &ok {
            let created = record.get("sf__Created").is_some_and(|v| v == "true");
            if created {
                self.report.created += 1
            } else {
                self.report.updated += 1
            }
            settled.extend(self.lead_of(record, rows, by_row));
        }
        for record in self.results(&job.id, "failedResults/").await? {
            let reason = record.get("sf__Error").cloned().unwrap_or_else(|| "failed without a reason".into());
            self.settle_failed(&record, rows, by_row, reason, &mut settled);
        }
        if job.state == "JobComplete" {
            return Ok(());
        }
        let why = match &job.error_message {
            Some(message) => format!("job {} ended {} ({message})", job.id, job.state),
            None => format!("job {} ended {}", job.id, job.state),
        };
        for record in self.results(&job.id, "unprocessedrecords/").await? {
            let reason = format!("not processed: {why}; run the export again to send it");
            self.settle_failed(&record, rows, by_row, reason, &mut settled);
        }
        // Rows no result names (Salesforce lists each row in one of the three).
        for lead in rows.iter().filter(|l| !settled.contains(&l.id)) {
            self.report.failed.push((lead.id, format!("in no result of {why}")));
        }
        Ok(())
    }

    fn settle_failed(
        &mut self,
        record: &HashMap<String, String>,
        rows: &[&Lead],
        by_row: &HashMap<String, LeadId>,
        reason: String,
        settled: &mut std::collections::HashSet<LeadId>,
    ) {
        match self.lead_of(record, rows, by_row) {
            Some(id) => {
                settled.insert(id);
                self.report.failed.push((id, reason));
            }
            None => tracing::warn!(reason, "a Salesforce result row matches no lead sent"),
        }
    }

    /// The lead a result row carries, found by its input columns.
    fn lead_of(
        &self,
        record: &HashMap<String, String>,
        rows: &[&Lead],
        by_row: &HashMap<String, LeadId>,
    ) -> Option<LeadId> {
        let columns = self.columns();
        let key = row_key(columns.iter().map(|c| record.get(c).map(String::as_str).unwrap_or_default()));
        by_row.get(&key).copied().or_else(|| rows.first().map(|l| l.id).filter(|_| rows.len() == 1))
    }

    async fn results(&mut self, id: &str, kind: &str) -> Result<Vec<HashMap<String, String>>, CrmError> {
        let text = self.call(reqwest::Method::GET, &format!("jobs/ingest/{id}/{kind}"), Body::None).await?;
        Ok(parse_results(&text))
    }

    /// The job CSV and, per row, the lead it carries (failed rows come back with
    /// their input columns and in no particular order).
    fn csv(&self, leads: &[&Lead]) -> Result<(String, HashMap<String, LeadId>), CrmError> {
        let columns = self.columns();
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut by_row = HashMap::with_capacity(leads.len());
        let fail = |e: csv::Error| CrmError::Request { crm: CRM, error: FetchError::Connect(e.to_string()) };
        out.write_record(&columns).map_err(fail)?;
        for lead in leads {
            let values = self.values(lead);
            by_row.insert(row_key(values.iter().map(String::as_str)), lead.id);
            out.write_record(&values).map_err(fail)?;
        }
        let bytes = out.into_inner().map_err(|e| fail(e.into_error().into()))?;
        Ok((String::from_utf8_lossy(&bytes).into_owned(), by_row))
    }

    fn columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = self.target.mapping.iter().map(|(_, f)| f.clone()).collect();
        columns.extend(self.target.external_id.clone());
        columns
    }

    fn values(&self, lead: &Lead) -> Vec<String> {
        let mut values: Vec<String> = self
            .target
            .mapping
            .iter()
            .map(|(field, _)| field_value(lead, field).unwrap_or_default())
            .collect();
        if self.target.external_id.is_some() {
            values.push(lead.id.to_string());
        }
        values
    }

    /// One REST call on the instance, re-authenticating once on a 401.
    async fn call(&mut self, method: reqwest::Method, path: &str, body: Body) -> Result<String, CrmError> {
        if self.token.is_none() {
            self.sign_in().await?;
        }
        for attempt in 0..2 {
            let Some(token) = &self.token else { break };
            let url =
                format!("{}/services/data/{API_VERSION}/{path}", token.instance_url.trim_end_matches('/'));
            let bearer = token.access_token.clone();
            let result = self
                .client
                .text(&self.metrics, classify, |http| {
                    body.attach(http.request(method.clone(), &url).bearer_auth(&bearer))
                })
                .await;
            self.report.requests = self.metrics.requests.load(std::sync::atomic::Ordering::Relaxed);
            match result {
                Ok(text) => return Ok(text),
                Err(FetchError::Unauthorized { status: 401, .. }) if attempt == 0 => {
                    tracing::info!("Salesforce session expired; signing in again");
                    self.sign_in().await?;
                }
                Err(e) => return Err(auth_error(e, path)),
            }
        }
        Err(CrmError::Unauthorized {
            crm: CRM,
            env: "SALESFORCE_*",
            detail: "session refused after signing in again".into(),
        })
    }

    pub fn into_report(self) -> CrmReport {
        self.report
    }
}

enum Body {
    None,
    Json(String),
    Csv(String),
}

impl Body {
    fn attach(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Body::None => request,
            Body::Json(text) => request.header("content-type", "application/json").body(text.clone()),
            Body::Csv(text) => request.header("content-type", "text/csv").body(text.clone()),
        }
    }
}

fn missing_required(lead: &Lead) -> Option<String> {
    let missing: Vec<&str> =
        [("LastName", lead.last_name.is_none()), ("Company", lead.company.name.is_none())]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect();
    (!missing.is_empty())
        .then(|| format!("missing {}: Salesforce requires LastName and Company", missing.join(" and ")))
}

fn row_key<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.collect::<Vec<_>>().join("\u{1f}")
}

/// A results CSV as one map per row, by header.
fn parse_results(text: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let Ok(headers) = reader.headers().cloned() else { return Vec::new() };
    reader
        .records()
        .flatten()
        .map(|r| headers.iter().zip(r.iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}

/// Salesforce's 403 `REQUEST_LIMIT_EXCEEDED` is the org's daily API limit, not a
/// credentials problem.
fn classify(status: u16, _: &reqwest::header::HeaderMap, body: &[u8]) -> Option<FetchError> {
    let text = String::from_utf8_lossy(body);
    (status == 403 && text.contains("REQUEST_LIMIT_EXCEEDED")).then(|| {
        FetchError::QuotaExhausted(format!(
            "the org's API request limit is reached (REQUEST_LIMIT_EXCEEDED: {}); it frees up over 24 hours (Setup → System Overview shows the usage)",
            snippet(body)
        ))
    })
}

fn auth_error(e: FetchError, during: &str) -> CrmError {
    match e {
        FetchError::Unauthorized { status, message } => CrmError::Unauthorized {
            crm: CRM,
            env: "SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET (or SALESFORCE_USERNAME + SALESFORCE_PRIVATE_KEY)",
            detail: format!("HTTP {status} on {during}: {message}"),
        },
        error => CrmError::Request { crm: CRM, error },
    }
}

fn garbage(e: &serde_json::Error, text: &str) -> CrmError {
    CrmError::Request {
        crm: CRM,
        error: FetchError::Garbage { detail: e.to_string(), snippet: text.chars().take(200).collect() },
    }
}

/// The RS256 JWT bearer assertion: iss = client id, sub = username, aud = the login
/// URL, expiring in three minutes.
fn jwt(client_id: &str, username: &str, audience: &str, pem: &Secret) -> Result<String, CrmError> {
    use rustls_pki_types::pem::PemObject;
    let bad_key = |detail: String| CrmError::Unauthorized { crm: CRM, env: "SALESFORCE_PRIVATE_KEY", detail };
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.expose().as_bytes())
        .map_err(|e| bad_key(format!("not a PKCS#8 PEM private key ({e})")))?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| bad_key(format!("not an RSA key ({e})")))?;
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 180;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({ "iss": client_id, "sub": username, "aud": audience.trim_end_matches('/'), "exp": exp });
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; key.public().modulus_len()];
    let rng = ring::rand::SystemRandom::new();
    key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut signature)
        .map_err(|_| bad_key("signing failed".into()))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_are_named() {
        let lead = Lead { last_name: Some("Wills".into()), ..Lead::default() };
        assert_eq!(
            missing_required(&lead).as_deref(),
            Some("missing Company: Salesforce requires LastName and Company")
        );
        let neither = Lead::default();
        assert!(missing_required(&neither).is_some_and(|m| m.contains("LastName and Company:")));
    }

    #[test]
    fn client_credentials_need_a_my_domain_url() {
        let target = |login_url: &str| SalesforceTarget {
            login_url: login_url.into(),
            auth: Auth::ClientCredentials { client_id: "id".into(), client_secret: Secret::new("s") },
            external_id: None,
            mapping: Vec::new(),
            rate: Rate { requests: 1, per: Duration::from_secs(1) },
            poll: Duration::from_secs(1),
        };
        for generic in ["https://login.salesforce.com", "https://test.salesforce.com/"] {
            let err = Salesforce::new(target(generic)).unwrap().check_login_url().unwrap_err().to_string();
            assert!(err.contains("My Domain") && err.contains("SALESFORCE_LOGIN_URL"), "{err}");
        }
        assert!(Salesforce::new(target("https://acme.my.salesforce.com")).unwrap().check_login_url().is_ok());
    }

    #[test]
    fn the_daily_request_limit_is_not_a_credentials_error() {
        let body = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let error = classify(403, &reqwest::header::HeaderMap::new(), body);
        assert!(matches!(error, Some(FetchError::QuotaExhausted(m)) if m.contains("REQUEST_LIMIT_EXCEEDED")));
        assert_eq!(
            classify(403, &reqwest::header::HeaderMap::new(), b"[{\"errorCode\":\"INSUFFICIENT_ACCESS\"}]"),
            None
        );
    }

    #[test]
    fn results_csv_reads_by_header() {
        let rows = parse_results(
            "\"sf__Id\",\"sf__Error\",LastName\n\"\",\"REQUIRED_FIELD_MISSING:x\",\"Wills, Jr\"\n",
        );
        assert_eq!(rows[0]["sf__Error"], "REQUIRED_FIELD_MISSING:x");
        assert_eq!(rows[0]["LastName"], "Wills, Jr");
    }
}
