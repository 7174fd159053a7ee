//! Apollo organization enrichment: `POST /organizations/bulk_enrich` with up to ten
//! bare domains as `domains[]` query parameters and no body (more is a 400), under
//! a limiter of its own (Apollo throttles the bulk endpoint to half the per-minute
//! limit of the single one). A domain Apollo does not know is simply absent from
//! `organizations` (the single endpoint's miss is `200 {}`). Billing: a credit per
//! organization enriched, none for a miss.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::{Rate, Secret};
use crate::http::{FetchError, RequestMetrics, VendorClient, standard_errors};

/// Domains per call.
pub const BATCH: usize = 10;

/// What Apollo knows of a company.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Organization {
    pub name: Option<String>,
    pub industry: Option<String>,
    pub size: Option<String>,
    pub linkedin_url: Option<String>,
}

pub struct ApolloOrg {
    client: VendorClient,
    key: Secret,
    pub metrics: RequestMetrics,
}

impl ApolloOrg {
    /// `rate` is the bulk endpoint's own: half the single endpoint's per-minute limit.
    pub fn new(
        base_url: &str,
        key: Secret,
        rate: Rate,
        timeout: std::time::Duration,
        speed: f64,
    ) -> Result<ApolloOrg, reqwest::Error> {
        let client = VendorClient::new("apollo", base_url, rate, timeout, speed)?;
        Ok(ApolloOrg { client, key, metrics: RequestMetrics::default() })
    }

    /// Enriches up to [`BATCH`] domains: the organizations found, by the domain asked.
    pub async fn enrich(&self, domains: &[String]) -> Result<HashMap<String, Organization>, FetchError> {
        let domains: Vec<String> = domains.iter().take(BATCH).map(|d| bare(d)).collect();
        let query: Vec<(&str, &str)> = domains.iter().map(|d| ("domains[]", d.as_str())).collect();
        let url = format!("{}/organizations/bulk_enrich", self.client.base_url());
        let answer: Value = self
            .client
            .json(&self.metrics, standard_errors, |http| {
                http.post(&url)
                    .header("x-api-key", self.key.expose())
                    .header("cache-control", "no-cache")
                    .query(&query)
            })
            .await?;
        let mut found = HashMap::new();
        for org in answer["organizations"].as_array().into_iter().flatten().filter(|o| o.is_object()) {
            let domain =
                org["primary_domain"].as_str().map(bare).or_else(|| org["website_url"].as_str().map(bare));
            if let Some(domain) = domain.filter(|d| domains.contains(d)) {
                found.insert(domain, organization(org));
            }
        }
        Ok(found)
    }
}

fn organization(org: &Value) -> Organization {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    Organization {
        name: text(&org["name"]),
        industry: text(&org["industry"]),
        size: org["estimated_num_employees"].as_u64().map(|n| n.to_string()),
        linkedin_url: text(&org["linkedin_url"]),
    }
}

/// A domain as Apollo wants it: no scheme, `www.`, path or `@`.
pub fn bare(domain: &str) -> String {
    let d = domain.trim().to_lowercase();
    let d = d.rsplit('@').next().unwrap_or_default();
    let d = d.trim_start_matches("https://").trim_start_matches("http://");
    let d = d.split(['/', '?', '#']).next().unwrap_or_default();
    d.trim_start_matches("www.").trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_bare() {
        assert_eq!(bare("https://www.Acme.com/about"), "acme.com");
        assert_eq!(bare("dana@acme.co.uk"), "acme.co.uk");
        assert_eq!(bare(" acme.com. "), "acme.com");
    }

    #[test]
    fn an_organization_reads_its_documented_fields() {
        let org = serde_json::json!({"name": "Acme Corp", "industry": "retail", "estimated_num_employees": 120,
            "linkedin_url": "http://www.linkedin.com/company/acme", "primary_domain": "acme.com"});
        assert_eq!(
            organization(&org),
            Organization {
                name: Some("Acme Corp".into()),
                industry: Some("retail".into()),
                size: Some("120".into()),
                linkedin_url: Some("http://www.linkedin.com/company/acme".into()),
            }
        );
    }
}
