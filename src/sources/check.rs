//! `leadsprint check`: tests each configured vendor connection with the cheapest
//! call it has and says, in one line, what works and what to fix.

use std::sync::Arc;

use serde_json::json;

use crate::config::{Settings, VendorKind, VendorSettings};
use crate::http::{FetchError, RequestMetrics, VendorClient};

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
        VendorKind::Brightdata => match brightdata(vendor).await {
            Ok(()) => line(true, format!("{} answers; the API key is accepted", vendor.base_url)),
            Err(e) => line(false, format!("{}: {e}", vendor.base_url)),
        },
        VendorKind::Zoominfo => match zoominfo(vendor).await {
            Ok(()) => line(true, format!("{} answers; username and password are accepted", vendor.base_url)),
            Err(e) => line(false, format!("{}: {e}", vendor.base_url)),
        },
    }
}

/// A one-result People Search: free, and proves the URL and the key.
async fn apollo(vendor: &VendorSettings) -> Result<u64, FetchError> {
    let client = client(VendorKind::Apollo, vendor)?;
    let key = secret(vendor, 0);
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

fn client(kind: VendorKind, vendor: &VendorSettings) -> Result<VendorClient, FetchError> {
    let client = VendorClient::new(kind.name(), &vendor.base_url, vendor.rate, vendor.timeout, 1.0)
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    Ok(match kind {
        VendorKind::Zoominfo => client.with_auth_limit(super::zoominfo::AUTH_RATE),
        _ => client,
    })
}

fn secret(vendor: &VendorSettings, i: usize) -> String {
    vendor
        .credentials
        .get(i)
        .and_then(|c| c.value.as_ref())
        .map(|s| s.expose().to_owned())
        .unwrap_or_default()
}

/// Asks for the progress of a snapshot that does not exist: "not found" proves
/// the key, without starting (or paying for) anything.
async fn brightdata(vendor: &VendorSettings) -> Result<(), FetchError> {
    let client = client(VendorKind::Brightdata, vendor)?;
    let url = format!("{}/datasets/v3/progress/leadsprint-check", client.base_url());
    let key = secret(vendor, 0);
    let metrics = Arc::new(RequestMetrics::default());
    let answer: Result<serde_json::Value, FetchError> =
        client.json(&metrics, |_, _, _| None, |http| http.get(&url).bearer_auth(&key)).await;
    match answer {
        Ok(_) | Err(FetchError::Rejected { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Authenticates: a JWT back proves the username and password.
async fn zoominfo(vendor: &VendorSettings) -> Result<(), FetchError> {
    let client = client(VendorKind::Zoominfo, vendor)?;
    let url = format!("{}/authenticate", client.base_url());
    let body = json!({ "username": secret(vendor, 0), "password": secret(vendor, 1) });
    let metrics = Arc::new(RequestMetrics::default());
    let answer: serde_json::Value =
        client.json(&metrics, |_, _, _| None, |http| http.post(&url).json(&body)).await?;
    if answer["jwt"].is_string() {
        Ok(())
    } else {
        Err(FetchError::Garbage { detail: "no jwt in the answer".into(), snippet: String::new() })
    }
}
