//! `leadsprint check`: tests each configured vendor connection with the cheapest
//! call it has and says, in one line, what works and what to fix.

use std::sync::Arc;

use serde_json::json;

use super::client::{FetchError, RequestMetrics, VendorClient};
use crate::config::{Settings, VendorKind, VendorSettings};

/// One connection's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Checks every configured vendor.
pub async fn all(settings: &Settings) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    for (kind, vendor) in &settings.vendors {
        lines.push(check(*kind, vendor).await);
    }
    lines
}

async fn check(kind: VendorKind, vendor: &VendorSettings) -> CheckLine {
    let line = |ok, detail: String| CheckLine { name: kind.name().to_owned(), ok, detail };
    let missing = vendor.missing_credentials();
    if !missing.is_empty() {
        return line(false, format!("{} not set: export it", missing.join(", ")));
    }
    match kind {
        VendorKind::Apollo => match apollo(vendor).await {
            Ok(total) => line(
                true,
                format!(
                    "{} answers; the key is accepted ({total} people in a sample search)",
                    vendor.base_url
                ),
            ),
            Err(e) => line(false, format!("{}: {e}", vendor.base_url)),
        },
        VendorKind::Salesnav => {
            let inbox = vendor.inbox.clone().unwrap_or_default();
            line(true, format!("reads exports dropped in {}/<workflow>/", inbox.display()))
        }
        other => line(
            false,
            format!("credentials set; the {} connector is not part of this build yet", other.name()),
        ),
    }
}

/// A one-result People Search: free, and proves the URL and the key.
async fn apollo(vendor: &VendorSettings) -> Result<u64, FetchError> {
    let client = VendorClient::new("apollo", &vendor.base_url, vendor.rate, vendor.timeout, 1.0)
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let key = vendor.credentials.first().and_then(|c| c.value.clone());
    let key = key.map(|k| k.expose().to_owned()).unwrap_or_default();
    let url = format!("{}/mixed_people/api_search", client.base_url());
    let metrics = Arc::new(RequestMetrics::default());
    let body: serde_json::Value = client
        .json(
            &metrics,
            |_, _, _| None,
            |http| http.post(&url).header("x-api-key", &key).json(&json!({ "page": 1, "per_page": 1 })),
        )
        .await?;
    Ok(body["total_entries"].as_u64().unwrap_or(0))
}
