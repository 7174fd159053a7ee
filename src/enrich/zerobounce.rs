//! ZeroBounce, the second verifier: `GET /v2/validate?api_key=&email=` and
//! `GET /v2/getcredits`. Chosen beside Hunter because its API is public and
//! documented, it reports catch-all apart from valid and names role and disposable
//! addresses in `sub_status`, and it does not charge for `unknown` results
//! (NeverBounce's single check is for interactive use only and charges duplicates).
//! Errors arrive as `200 {"error": …}`; an exhausted account says so there.

use serde_json::Value;

use crate::config::{Rate, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, standard_errors};
use crate::lead::EmailStatus;

/// The public API root (an EU host exists: `https://api-eu.zerobounce.net/v2`).
pub const DEFAULT_BASE_URL: &str = "https://api.zerobounce.net/v2";

/// One validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub status: EmailStatus,
    /// `status/sub_status` as ZeroBounce gave them.
    pub raw_status: String,
    /// ZeroBounce bills a credit unless the result is unknown.
    pub billed: bool,
}

pub struct ZeroBounce {
    client: VendorClient,
    key: Secret,
    pub metrics: RequestMetrics,
}

impl ZeroBounce {
    pub fn new(
        base_url: &str,
        key: Secret,
        rate: Rate,
        timeout: std::time::Duration,
        speed: f64,
    ) -> Result<ZeroBounce, reqwest::Error> {
        Ok(ZeroBounce {
            client: VendorClient::new("zerobounce", base_url, rate, timeout, speed)?,
            key,
            metrics: RequestMetrics::default(),
        })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, FetchError> {
        let url = format!("{}/{path}", self.client.base_url());
        let answer: Value = self
            .client
            .json(&self.metrics, standard_errors, |http| {
                http.get(&url).query(&[("api_key", self.key.expose())]).query(query)
            })
            .await?;
        match answer["error"].as_str() {
            Some(error) if error.to_lowercase().contains("credits") => {
                Err(FetchError::QuotaExhausted(format!("ZeroBounce: {error}")))
            }
            Some(error) if error.to_lowercase().contains("api key") => {
                Err(FetchError::Unauthorized { status: 200, message: format!("ZeroBounce: {error}") })
            }
            Some(error) => Err(FetchError::Rejected { status: 200, body: format!("ZeroBounce: {error}") }),
            None => Ok(answer),
        }
    }

    pub async fn validate(&self, email: &str) -> Result<Validation, FetchError> {
        let answer = self.get("validate", &[("email", email), ("ip_address", "")]).await?;
        let status = answer["status"].as_str().unwrap_or("unknown");
        let sub = answer["sub_status"].as_str().unwrap_or_default();
        let canonical = status_of(status, sub);
        Ok(Validation {
            status: canonical,
            raw_status: format!("{status}/{sub}"),
            billed: status != "unknown",
        })
    }

    /// Credits left on the account.
    pub async fn credits(&self) -> Result<f64, FetchError> {
        let answer = self.get("getcredits", &[]).await?;
        Ok(answer["Credits"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .or_else(|| answer["Credits"].as_f64())
            .unwrap_or(0.0))
    }
}

/// ZeroBounce's status and sub-status in the one vocabulary.
pub fn status_of(status: &str, sub_status: &str) -> EmailStatus {
    match (status, sub_status) {
        (_, "role_based" | "role_based_catch_all") => EmailStatus::Role,
        (_, "disposable") => EmailStatus::Disposable,
        ("valid", _) => EmailStatus::Valid,
        ("catch-all", _) => EmailStatus::AcceptAll,
        ("invalid" | "spamtrap" | "abuse" | "do_not_mail", _) => EmailStatus::Invalid,
        _ => EmailStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_one_vocabulary() {
        assert_eq!(status_of("valid", ""), EmailStatus::Valid);
        assert_eq!(status_of("catch-all", ""), EmailStatus::AcceptAll);
        assert_eq!(status_of("do_not_mail", "role_based"), EmailStatus::Role);
        assert_eq!(status_of("do_not_mail", "disposable"), EmailStatus::Disposable);
        assert_eq!(status_of("spamtrap", ""), EmailStatus::Invalid);
        assert_eq!(status_of("unknown", "greylisted"), EmailStatus::Unknown);
    }
}
