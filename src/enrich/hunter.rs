//! Hunter v2 (`https://api.hunter.io/v2`, key in the `X-API-KEY` header): Email
//! Finder (name + domain; billed a credit only when an email is found, its
//! verification included), Email Verifier (202: still verifying — the same call is
//! repeated and counts once; 222: the mail server answered oddly — retry later;
//! 451: the person asked Hunter to stop processing their data), `email-count` (free:
//! a pre-check before paying for a finder), company enrichment by domain, and
//! `/account` for the credits left. Hunter's 403 is its rate limit and 429 its
//! exhausted plan.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Rate, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, snippet};
use crate::lead::EmailStatus;

/// The public API root.
pub const DEFAULT_BASE_URL: &str = "https://api.hunter.io/v2";
/// Documented limits per key: finder, domain search and enrichment 15/s and 500/min;
/// verifier 10/s and 300/min. Requests go evenly spaced, so the per-minute limit binds.
pub const FINDER_RATE: Rate = Rate { requests: 500, per: Duration::from_secs(60) };
pub const VERIFIER_RATE: Rate = Rate { requests: 300, per: Duration::from_secs(60) };
/// Times a 202 ("still verifying") is asked again before the check is left pending.
const VERIFY_POLLS: u32 = 5;
/// Wait between those asks (vendor time).
const VERIFY_POLL_EVERY: Duration = Duration::from_secs(3);

/// What the Email Finder found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub enum Finding {
    Found {
        email: String,
        score: u8,
        status: EmailStatus,
        raw_status: String,
        /// The domain Hunter searched (the company's, when asked by name).
        #[serde(default)]
        domain: Option<String>,
    },
    /// No address; the domain Hunter resolved the company to, when it did.
    NotFound {
        #[serde(default)]
        domain: Option<String>,
    },
}

/// Where the Email Finder looks: a domain, or a company by name (Hunter resolves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Domain(String),
    Company(String),
}

impl At {
    /// The query parameter Hunter takes it as.
    pub fn param(&self) -> (&'static str, &str) {
        match self {
            At::Domain(d) => ("domain", d),
            At::Company(c) => ("company", c),
        }
    }

    /// Its part of a cache key.
    pub fn key(&self) -> String {
        match self {
            At::Domain(d) => d.clone(),
            At::Company(c) => format!("company:{c}"),
        }
    }
}

/// What the Email Verifier said.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub enum Verification {
    Done {
        status: EmailStatus,
        raw_status: String,
        score: u8,
    },
    /// Still verifying after the polls: ask again later (it counts once).
    Pending,
    /// 222: the remote mail server answered unexpectedly; retry later.
    RetryLater,
    /// 451: the person objected to processing: suppress, never enrich again.
    Objected,
}

/// Company data by domain: the same fields as Apollo's organization.
pub use crate::enrich::apollo_org::Organization as CompanyData;

/// Credits Hunter takes for a company it enriches (nothing for a miss).
pub const COMPANY_CREDITS: f64 = 0.2;

/// Credits left this period (`/account`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Credits {
    pub used: f64,
    pub available: f64,
}

pub struct Hunter {
    finder: VendorClient,
    verifier: VendorClient,
    key: Secret,
    pub metrics: RequestMetrics,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Value,
}

impl Hunter {
    pub fn new(base_url: &str, key: Secret, timeout: Duration, speed: f64) -> Result<Hunter, reqwest::Error> {
        Hunter::with_rate(base_url, key, FINDER_RATE, timeout, speed)
    }

    /// The same, with the finder (and count, company, account) calls spaced to `rate`
    /// (the campaign's `rate_limit`); the verifier keeps its documented 300 a minute.
    pub fn with_rate(
        base_url: &str,
        key: Secret,
        rate: Rate,
        timeout: Duration,
        speed: f64,
    ) -> Result<Hunter, reqwest::Error> {
        Ok(Hunter {
            finder: VendorClient::new("hunter", base_url, rate, timeout, speed)?,
            // The verifier waits up to ~20 s before a 202: its timeout must outlast that.
            verifier: VendorClient::new(
                "hunter",
                base_url,
                VERIFIER_RATE,
                timeout.max(Duration::from_secs(30)),
                speed,
            )?,
            key,
            metrics: RequestMetrics::default(),
        })
    }

    async fn get(
        &self,
        client: &VendorClient,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, Value), FetchError> {
        let url = format!("{}/{path}", client.base_url());
        let answer: (u16, Option<Envelope>) = client
            .json_with_status(&self.metrics, classify, |http| {
                http.get(&url).header("X-API-KEY", self.key.expose()).query(query)
            })
            .await?;
        Ok((answer.0, answer.1.map(|e| e.data).unwrap_or(Value::Null)))
    }

    /// Email Finder by name and domain. A 400/404 for these inputs is a miss.
    pub async fn find_email(&self, first: &str, last: &str, domain: &str) -> Result<Finding, FetchError> {
        self.find(first, last, &At::Domain(domain.to_owned())).await
    }

    /// Email Finder by name, at a domain or a company name.
    pub async fn find(&self, first: &str, last: &str, at: &At) -> Result<Finding, FetchError> {
        let query = [at.param(), ("first_name", first), ("last_name", last)];
        let data = match self.get(&self.finder, "email-finder", &query).await {
            Ok((_, data)) => data,
            Err(FetchError::Rejected { status: 400 | 404 | 422, .. }) => {
                return Ok(Finding::NotFound { domain: None });
            }
            Err(e) => return Err(e),
        };
        let domain = data["domain"].as_str().filter(|d| !d.is_empty()).map(str::to_lowercase);
        let Some(email) = data["email"].as_str().filter(|e| !e.is_empty()) else {
            return Ok(Finding::NotFound { domain });
        };
        let raw_status = data["verification"]["status"].as_str().unwrap_or("unknown").to_owned();
        let mut status = status_of(&raw_status);
        if data["accept_all"] == true && status == EmailStatus::Unknown {
            status = EmailStatus::AcceptAll;
        }
        let score = data["score"].as_u64().unwrap_or(0).min(100) as u8;
        Ok(Finding::Found { email: email.to_lowercase(), score, status, raw_status, domain })
    }

    /// Email Verifier, asking again while Hunter answers 202.
    pub async fn verify(&self, email: &str) -> Result<Verification, FetchError> {
        for poll in 0..=VERIFY_POLLS {
            match self.get(&self.verifier, "email-verifier", &[("email", email)]).await {
                Ok((202, _)) if poll < VERIFY_POLLS => {
                    tokio::time::sleep(self.verifier.real(VERIFY_POLL_EVERY)).await;
                }
                Ok((202, _)) => return Ok(Verification::Pending),
                Ok((222, _)) => return Ok(Verification::RetryLater),
                Ok((_, data)) => {
                    let raw_status = data["status"].as_str().unwrap_or("unknown").to_owned();
                    let score = data["score"].as_u64().unwrap_or(0).min(100) as u8;
                    return Ok(Verification::Done { status: status_of(&raw_status), raw_status, score });
                }
                Err(FetchError::Rejected { status: 451, .. }) => return Ok(Verification::Objected),
                Err(FetchError::Rejected { status: 400, .. }) => {
                    let raw_status = "invalid_email".to_owned();
                    return Ok(Verification::Done { status: EmailStatus::Invalid, raw_status, score: 0 });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Verification::Pending)
    }

    /// How many addresses Hunter knows at `domain` (free).
    pub async fn email_count(&self, domain: &str) -> Result<u64, FetchError> {
        self.count(&At::Domain(domain.to_owned())).await
    }

    /// How many addresses Hunter knows at a domain or a company (free).
    pub async fn count(&self, at: &At) -> Result<u64, FetchError> {
        let (_, data) = self.get(&self.finder, "email-count", &[at.param()]).await?;
        Ok(data["total"].as_u64().unwrap_or(0))
    }

    /// Company enrichment by domain; `None` when Hunter knows no such company.
    pub async fn company(&self, domain: &str) -> Result<Option<CompanyData>, FetchError> {
        let data = match self.get(&self.finder, "companies/find", &[("domain", domain)]).await {
            Ok((_, data)) => data,
            Err(FetchError::Rejected { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if data.is_null() {
            return Ok(None);
        }
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let handle = text(&data["linkedin"]["handle"]);
        Ok(Some(CompanyData {
            name: text(&data["name"]),
            industry: text(&data["category"]["industry"]).or_else(|| text(&data["industry"])),
            size: text(&data["metrics"]["employees"])
                .or_else(|| data["metrics"]["employees"].as_u64().map(|n| n.to_string())),
            linkedin_url: handle.map(|h| format!("https://www.linkedin.com/{}", h.trim_start_matches('/'))),
        }))
    }

    /// The credits used and available this period.
    pub async fn account(&self) -> Result<Credits, FetchError> {
        let (_, data) = self.get(&self.finder, "account", &[]).await?;
        let credits = &data["requests"]["credits"];
        Ok(Credits {
            used: credits["used"].as_f64().unwrap_or(0.0),
            available: credits["available"].as_f64().unwrap_or(0.0),
        })
    }
}

/// Hunter's verification status in the one vocabulary.
pub fn status_of(raw: &str) -> EmailStatus {
    match raw {
        "valid" => EmailStatus::Valid,
        "invalid" => EmailStatus::Invalid,
        "accept_all" => EmailStatus::AcceptAll,
        "webmail" => EmailStatus::Webmail,
        "disposable" => EmailStatus::Disposable,
        _ => EmailStatus::Unknown,
    }
}

/// Hunter's codes: 403 is its rate limit (retry), 429 its exhausted plan (stop).
fn classify(status: u16, _: &HeaderMap, body: &[u8]) -> Option<FetchError> {
    match status {
        403 => Some(FetchError::Throttled { retry_after: Some(Duration::from_secs(1)) }),
        429 => Some(FetchError::QuotaExhausted(format!("Hunter's plan is used up: {}", snippet(body)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_one_vocabulary() {
        assert_eq!(status_of("valid"), EmailStatus::Valid);
        assert_eq!(status_of("accept_all"), EmailStatus::AcceptAll);
        assert_eq!(status_of("webmail"), EmailStatus::Webmail);
        assert_eq!(status_of("disposable"), EmailStatus::Disposable);
        assert_eq!(status_of("invalid"), EmailStatus::Invalid);
        assert_eq!(status_of("something new"), EmailStatus::Unknown);
        assert!(matches!(classify(403, &HeaderMap::new(), b""), Some(FetchError::Throttled { .. })));
        assert!(matches!(classify(429, &HeaderMap::new(), b""), Some(FetchError::QuotaExhausted(_))));
        assert_eq!(classify(451, &HeaderMap::new(), b""), None, "451 is read by the caller");
    }
}
