//! `leadsprint check`: tests each configured vendor connection with the cheapest
//! call it has and says, in one line, what works and what to fix; and, before
//! any spend, the most a run of the campaign could cost.

use std::sync::Arc;

use serde_json::json;

use crate::config::{Query, Settings, VendorKind, VendorSettings, WorkflowSettings};
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
    let query = [("page", "1"), ("per_page", "1")];
    let body: serde_json::Value = client
        .json(&metrics, |_, _, _| None, |http| http.post(&url).header("x-api-key", &key).query(&query))
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

/// Asks for the status of a snapshot that does not exist: "not found" proves
/// the key, without creating (or paying for) anything.
async fn brightdata(vendor: &VendorSettings) -> Result<(), FetchError> {
    let client = client(VendorKind::Brightdata, vendor)?;
    let url = format!("{}/datasets/snapshots/snap_leadsprintcheck", client.base_url());
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

/// The most one workflow can cost, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct CostBound {
    pub workflow: String,
    pub vendor: VendorKind,
    /// `None`: the vendor's API sets no bound; only the spend caps do.
    pub dollars: Option<f64>,
    pub how: String,
}

/// A vendor's bound: the sum of its workflows' bounds, its cap, and the lesser
/// (`None`: unbounded).
#[derive(Debug, Clone, PartialEq)]
pub struct VendorCeiling {
    pub vendor: VendorKind,
    pub workflows: Option<f64>,
    pub cap: Option<f64>,
    pub most: Option<f64>,
}

/// What a run could cost at most: per workflow, per vendor (under its cap) and in all.
#[derive(Debug, Clone, PartialEq)]
pub struct CostCeiling {
    pub workflows: Vec<CostBound>,
    pub vendors: Vec<VendorCeiling>,
    pub campaign_cap: f64,
    pub campaign: f64,
}

/// Works out, from the campaign alone (no request), the most a run could spend.
pub fn cost_ceiling(settings: &Settings) -> CostCeiling {
    let workflows: Vec<CostBound> = settings
        .workflows
        .iter()
        .filter(|w| w.enabled)
        .filter_map(|w| Some(workflow_bound(w, settings.vendors.get(&w.vendor)?, settings.target)))
        .collect();
    let vendors: Vec<_> = settings
        .vendors
        .iter()
        .map(|(kind, vendor)| {
            let sum = workflows
                .iter()
                .filter(|b| b.vendor == *kind)
                .try_fold(0.0, |total, b| b.dollars.map(|d| total + d));
            let most = match (sum, vendor.spend_cap) {
                (Some(s), Some(c)) => Some(s.min(c)),
                (s, c) => s.or(c),
            };
            VendorCeiling { vendor: *kind, workflows: sum, cap: vendor.spend_cap, most }
        })
        .collect();
    let vendors_most = vendors.iter().try_fold(0.0, |total, v| v.most.map(|d| total + d));
    let campaign = vendors_most.map_or(settings.spend_cap, |d| d.min(settings.spend_cap));
    CostCeiling { workflows, vendors, campaign_cap: settings.spend_cap, campaign }
}

fn workflow_bound(wf: &WorkflowSettings, vendor: &VendorSettings, target: u64) -> CostBound {
    let costs = &vendor.costs;
    let (dollars, how) = match &wf.query {
        Query::BrightData(q) => {
            let limit = q.records_limit.map_or(target, u64::from);
            let snapshots = 1 + super::brightdata::MAX_REPLACEMENTS;
            let dollars = (limit * u64::from(snapshots)) as f64 * costs.per_record;
            let how = format!(
                "{limit} records × ${} billed at snapshot creation, × {snapshots} if the snapshot must be replaced",
                costs.per_record
            );
            (Some(dollars), how)
        }
        Query::Apollo(_) => {
            let people = u64::from(super::apollo::MAX_SEARCH_PAGES) * u64::from(vendor.page_size);
            let requests = u64::from(super::apollo::MAX_SEARCH_PAGES) + people.div_ceil(10);
            let dollars = people as f64 * costs.per_credit + requests as f64 * costs.per_request;
            let how = format!(
                "{} search pages × {} people × 1 credit × ${} (search itself is free)",
                super::apollo::MAX_SEARCH_PAGES,
                vendor.page_size,
                costs.per_credit
            );
            (Some(dollars), how)
        }
        Query::ZoomInfo(_) => (
            None,
            format!(
                "1 credit × ${} per enriched contact; the API sets no total, the caps do",
                costs.per_credit
            ),
        ),
        Query::SalesNav(_) => (Some(0.0), "export files: nothing billed per record".to_owned()),
    };
    CostBound { workflow: wf.name.clone(), vendor: wf.vendor, dollars, how }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, Source, load};

    #[test]
    fn the_cost_ceiling_follows_the_billing_rules_and_the_caps() {
        let text = "[campaign]\nname = \"c\"\ntarget = 1000\nspend_cap = 200.0\n\
            [vendors.brightdata]\ncost_per_record = 0.002\nspend_cap = 5.0\n\
            [vendors.apollo]\ncost_per_credit = 0.03\npage_size = 50\n\
            [vendors.zoominfo]\ncost_per_credit = 0.1\n\
            [[workflow]]\nname = \"b1\"\nvendor = \"brightdata\"\nquery = { title = \"t\", location = \"l\", records_limit = 1000 }\n\
            [[workflow]]\nname = \"b2\"\nvendor = \"brightdata\"\nquery = { title = \"t\", location = \"l\" }\n\
            [[workflow]]\nname = \"a\"\nvendor = \"apollo\"\nquery = { person_titles = [\"x\"] }\n\
            [[workflow]]\nname = \"z\"\nvendor = \"zoominfo\"\nquery = { jobTitle = \"x\" }\n";
        let settings = load(Source { origin: "t", text }, &|_| None, &Flags::default()).unwrap();
        let ceiling = cost_ceiling(&settings);
        let bound = |name: &str| ceiling.workflows.iter().find(|b| b.workflow == name).unwrap().dollars;
        assert_eq!(bound("b1"), Some(4.0), "1000 records × $0.002, and one replacement");
        assert_eq!(bound("b2"), Some(4.0), "without a limit, the campaign's target");
        assert_eq!(bound("a"), Some(500.0 * 50.0 * 0.03));
        assert_eq!(bound("z"), None, "ZoomInfo sets no total");
        let vendor = |kind| ceiling.vendors.iter().find(|v| v.vendor == kind).unwrap().most;
        assert_eq!(vendor(VendorKind::Brightdata), Some(5.0), "its cap binds");
        assert_eq!(vendor(VendorKind::Apollo), Some(750.0), "no cap of its own");
        assert_eq!(vendor(VendorKind::Zoominfo), None);
        assert_eq!(ceiling.campaign, 200.0, "the campaign's cap bounds the unbounded");
    }
}
