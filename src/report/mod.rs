//! The campaign's technical report (`leadsprint report`, `/report`,
//! `/api/report`): one set of numbers, read from the store, rendered as JSON and
//! as one self-contained HTML page with inline SVG charts ([`html`], [`svg`]).
//! KPIs with pass/fail; per-vendor funnel and overlap; quarantine and drops by
//! reason; spend, cache hits and cost per lead; quality and email status;
//! the timeline per vendor with its events; plan vs actual; export results.

pub mod html;
pub mod svg;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Kpi;
use crate::lead::Millis;
use crate::plan::PlanSummary;
use crate::stats::{Costs, KpiLine, Stats, kpis};
use crate::store::{Log, Named, Reader, StoreError};

/// Bins on the timeline.
const TIMELINE_BINS: usize = 24;

/// What a sprint recorded of itself at its end, for plan vs actual.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub target: u64,
    pub unique_leads: u64,
    /// Vendor time from start to end of collection.
    pub vendor_seconds: f64,
    pub leads_per_hour: f64,
    pub reached_target: bool,
    pub vendor_cost: f64,
}

/// Where the plan and the last run are kept ([`Named::Run`]).
pub const PLAN_KEY: &str = "plan";
pub const LAST_RUN_KEY: &str = "last_run";

/// A line on the timeline: a state change, a throttling burst, an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    pub at_ms: Millis,
    /// `throttled`, `breaker`, `paused`, `resumed`, `failed`, `alert`.
    pub kind: String,
    pub vendor: Option<String>,
    pub text: String,
}

/// One export's result, as the export command recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportResult {
    pub at_ms: Millis,
    pub target: String,
    pub written: u64,
    pub failed: u64,
    pub suppressed: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VendorFunnel {
    pub vendor: String,
    pub requested: u64,
    pub returned: u64,
    pub valid: u64,
    pub unique: u64,
    pub qualified: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub credits: u64,
    pub cost: f64,
}

/// `merged[i][j]`: records of `vendors[i]` merged into leads `vendors[j]` found first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    pub vendors: Vec<String>,
    pub merged: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spend {
    pub costs: Costs,
    pub cost_per_unique_lead: Option<f64>,
    pub vendor_cap: Option<f64>,
    pub enrichment_cap: Option<f64>,
    pub by_vendor: BTreeMap<String, f64>,
    pub enrichment: BTreeMap<String, crate::store::ProviderSpend>,
    /// Enrichment answers taken from the cache (no request, no cost).
    pub cache_hits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub start_ms: Millis,
    pub bin_ms: Millis,
    /// New unique leads per hour (wall clock) in each bin, per vendor.
    pub leads_per_hour: BTreeMap<String, Vec<f64>>,
    pub events: Vec<RunEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanVsActual {
    pub plan: PlanSummary,
    pub actual: RunSummary,
    /// Actual over planned time to target, when both are known.
    pub time_ratio: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub campaign: String,
    pub version: String,
    pub generated_at: String,
    /// First and last arrival of a record (wall clock, ms since the epoch).
    pub window: Option<(Millis, Millis)>,
    pub stats: Stats,
    pub kpis: Vec<KpiLine>,
    pub vendors: Vec<VendorFunnel>,
    pub overlap: Overlap,
    pub quarantine_by_reason: BTreeMap<String, u64>,
    pub dropped: BTreeMap<String, u64>,
    pub spend: Spend,
    /// Leads by quality score, 0–9, 10–19, ... 90–100.
    pub quality_histogram: Vec<u64>,
    pub email_status: BTreeMap<String, u64>,
    /// Share of unique leads with each field, in percent.
    pub fill_rates: BTreeMap<String, f64>,
    pub timeline: Timeline,
    pub plan_vs_actual: Option<PlanVsActual>,
    pub exports: Vec<ExportResult>,
    pub alerts_sent: u64,
}

/// What the report needs of the campaign besides the store.
pub struct Context<'a> {
    pub campaign: &'a str,
    pub kpi: &'a Kpi,
    pub vendor_cap: Option<f64>,
    pub enrichment_cap: Option<f64>,
}

/// Per-lead tallies, gathered in one pass over the leads.
#[derive(Default)]
struct LeadTally {
    qualified_by_vendor: BTreeMap<String, u64>,
    /// Leads each vendor found first.
    unique_by_vendor: BTreeMap<String, u64>,
    /// Records leads hold from imported files, per vendor (imports keep no workflow record).
    imported_by_vendor: BTreeMap<String, u64>,
    /// Of those, rows that merged into a lead found before.
    imported_duplicates: BTreeMap<String, u64>,
    merged: BTreeMap<(String, String), u64>,
    histogram: Vec<u64>,
    email_status: BTreeMap<String, u64>,
    fills: BTreeMap<&'static str, u64>,
    first_seen: Vec<(String, Millis)>,
    window: Option<(Millis, Millis)>,
    workflow_vendor: BTreeMap<String, String>,
}

fn tally(reader: &Reader) -> Result<LeadTally, StoreError> {
    let mut t = LeadTally { histogram: vec![0; 10], ..LeadTally::default() };
    for lead in reader.leads()? {
        let lead = lead?;
        let mut sources = lead.sources.clone();
        sources.sort_by_key(|s| s.fetched_at);
        let Some(first) = sources.first() else { continue };
        for s in &sources {
            t.workflow_vendor.entry(s.workflow.clone()).or_insert_with(|| s.vendor.clone());
            t.window = Some(match t.window {
                None => (s.fetched_at, s.fetched_at),
                Some((a, b)) => (a.min(s.fetched_at), b.max(s.fetched_at)),
            });
        }
        *t.unique_by_vendor.entry(first.vendor.clone()).or_default() += 1;
        for s in sources.iter().filter(|s| s.workflow.starts_with("import:")) {
            *t.imported_by_vendor.entry(s.vendor.clone()).or_default() += 1;
        }
        for s in sources[1..].iter().filter(|s| s.workflow.starts_with("import:")) {
            *t.imported_duplicates.entry(s.vendor.clone()).or_default() += 1;
        }
        for s in &sources[1..] {
            *t.merged.entry((s.vendor.clone(), first.vendor.clone())).or_default() += 1;
        }
        if lead.quality.is_qualified() {
            *t.qualified_by_vendor.entry(first.vendor.clone()).or_default() += 1;
        }
        t.histogram[usize::from(lead.quality.score / 10).min(9)] += 1;
        // As `Reader::email_status_counts` counts them, in the same pass.
        let status = if lead.email.is_some() { lead.email_status.as_str() } else { "none" };
        *t.email_status.entry(status.to_owned()).or_default() += 1;
        let fields = [
            ("email", lead.has_personal_email()),
            ("phone", lead.phone.is_some()),
            ("job title", lead.job_title.is_some()),
            ("linkedin", lead.linkedin_url.is_some()),
            ("company", lead.company.name.is_some()),
            ("company domain", lead.company.domain.is_some()),
            ("industry", lead.company.industry.is_some()),
        ];
        for (field, has) in fields {
            *t.fills.entry(field).or_default() += u64::from(has);
        }
        t.first_seen.push((first.vendor.clone(), first.fetched_at));
    }
    Ok(t)
}

fn read_log<T: for<'de> Deserialize<'de>>(reader: &Reader, log: Log) -> Result<Vec<T>, StoreError> {
    Ok(reader
        .log_after(log, 0, usize::MAX)?
        .iter()
        .filter_map(|(_, b)| serde_json::from_slice(b).ok())
        .collect())
}

fn named<T: for<'de> Deserialize<'de>>(reader: &Reader, key: &str) -> Result<Option<T>, StoreError> {
    Ok(reader
        .named(Named::Run)?
        .into_iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, b)| serde_json::from_slice(&b).ok()))
}

/// The plan the last sprint started with, if one did.
pub fn planned(reader: &Reader) -> Result<Option<PlanSummary>, StoreError> {
    named(reader, PLAN_KEY)
}

/// Builds the report from the store.
pub fn build(reader: &Reader, ctx: &Context<'_>) -> Result<Report, StoreError> {
    let stats = Stats::from(&reader.counters()?);
    let workflows = reader.workflows()?;
    let t = tally(reader)?;
    let vendors = funnels(&workflows, &t);
    // `+ 0.0`: an empty float sum is -0.0.
    let vendor_cost: f64 = workflows.values().map(|w| w.cost).sum::<f64>() + 0.0;
    let enrichment: BTreeMap<String, crate::store::ProviderSpend> = reader.spend()?.into_iter().collect();
    let enrichment_cost: f64 = enrichment.values().map(|s| s.dollars).sum::<f64>() + 0.0;
    let costs = Costs::new(vendor_cost, enrichment_cost, stats.qualified_leads);
    let last_run: Option<RunSummary> = named(reader, LAST_RUN_KEY)?;
    let leads_per_hour = last_run.as_ref().map_or(0.0, |r| r.leads_per_hour);
    let plan = planned(reader)?;
    let plan_vs_actual = match (plan, last_run.clone()) {
        (Some(plan), Some(actual)) => Some(PlanVsActual {
            time_ratio: plan
                .time_to_target_seconds
                .filter(|p| *p > 0.0 && actual.reached_target)
                .map(|p| (actual.vendor_seconds / p * 1000.0).round() / 1000.0),
            plan,
            actual,
        }),
        _ => None,
    };
    let mut events: Vec<RunEvent> = read_log(reader, Log::RunEvents)?;
    let notices = crate::alerts::logged_notices(reader, 0, usize::MAX)?;
    let alerts_sent = notices.len() as u64;
    for notice in notices {
        let text = crate::alerts::slack::headline(&notice.notice);
        events.push(RunEvent {
            at_ms: notice.at_ms,
            kind: "alert".into(),
            vendor: notice.notice.group.vendor,
            text,
        });
    }
    events.sort_by_key(|e| e.at_ms);
    let leads = stats.unique_leads.max(1) as f64;
    let percent = |n: u64| (n as f64 * 10_000.0 / leads).round() / 100.0;
    let report = Report {
        campaign: ctx.campaign.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        window: t.window,
        kpis: kpis(&stats, ctx.kpi, vendor_cost + enrichment_cost, leads_per_hour),
        overlap: overlap(&vendors, &t.merged),
        quarantine_by_reason: quarantine(reader)?,
        dropped: BTreeMap::from([
            ("suppressed (do-not-contact)".to_owned(), stats.suppressed),
            ("erased person".to_owned(), stats.erased),
            ("conflicts kept apart".to_owned(), stats.conflicts),
        ]),
        spend: Spend {
            cost_per_unique_lead: (stats.unique_leads > 0)
                .then(|| (costs.cost_total / stats.unique_leads as f64 * 1e4).round() / 1e4 + 0.0),
            costs,
            vendor_cap: ctx.vendor_cap,
            enrichment_cap: ctx.enrichment_cap,
            by_vendor: vendors
                .iter()
                .map(|v| (v.vendor.clone(), (v.cost * 100.0).round() / 100.0 + 0.0))
                .collect(),
            cache_hits: enrichment.values().map(|s| s.cache_hits).sum(),
            enrichment,
        },
        quality_histogram: t.histogram.clone(),
        email_status: t.email_status.clone(),
        fill_rates: t.fills.iter().map(|(k, n)| ((*k).to_owned(), percent(*n))).collect(),
        timeline: timeline(&t, events),
        plan_vs_actual,
        exports: read_log(reader, Log::Exports)?,
        alerts_sent,
        vendors,
        stats,
    };
    Ok(report)
}

/// Requested → returned → valid → unique → qualified, per vendor. Requests,
/// records and cost come from the workflows' records (and imported rows the
/// leads hold); unique and qualified are the leads each vendor found first, so
/// they add up to the store's leads after every merge.
fn funnels(workflows: &BTreeMap<String, crate::store::WorkflowRecord>, t: &LeadTally) -> Vec<VendorFunnel> {
    let mut by_vendor: BTreeMap<String, VendorFunnel> = BTreeMap::new();
    for (name, w) in workflows {
        let vendor = t.workflow_vendor.get(name).cloned().unwrap_or_else(|| vendor_of_workflow(name));
        let f = funnel_of(&mut by_vendor, &vendor);
        f.requested += w.requests;
        f.returned += w.records;
        f.valid += w.records.saturating_sub(w.quarantined);
        f.duplicates += w.duplicates;
        f.quarantined += w.quarantined;
        f.credits += w.credits;
        f.cost += w.cost;
    }
    for (vendor, records) in &t.imported_by_vendor {
        let f = funnel_of(&mut by_vendor, vendor);
        f.returned += records;
        f.valid += records;
        f.duplicates += t.imported_duplicates.get(vendor).copied().unwrap_or(0);
    }
    for (vendor, unique) in &t.unique_by_vendor {
        funnel_of(&mut by_vendor, vendor).unique = *unique;
    }
    for f in by_vendor.values_mut() {
        f.qualified = t.qualified_by_vendor.get(&f.vendor).copied().unwrap_or(0);
    }
    by_vendor.into_values().collect()
}

fn funnel_of<'a>(by_vendor: &'a mut BTreeMap<String, VendorFunnel>, vendor: &str) -> &'a mut VendorFunnel {
    by_vendor
        .entry(vendor.to_owned())
        .or_insert_with(|| VendorFunnel { vendor: vendor.to_owned(), ..VendorFunnel::default() })
}

/// A workflow that brought no lead names its vendor by its prefix (`apollo-...`).
fn vendor_of_workflow(name: &str) -> String {
    crate::config::VendorKind::ALL
        .iter()
        .map(|v| v.name())
        .find(|v| name.starts_with(v))
        .unwrap_or(if name.starts_with("import:") { "import" } else { "other" })
        .to_owned()
}

fn overlap(vendors: &[VendorFunnel], merged: &BTreeMap<(String, String), u64>) -> Overlap {
    let mut names: Vec<String> = vendors.iter().map(|v| v.vendor.clone()).collect();
    for (from, into) in merged.keys() {
        for v in [from, into] {
            if !names.contains(v) {
                names.push(v.clone());
            }
        }
    }
    let index = |v: &str| names.iter().position(|n| n == v);
    let mut matrix = vec![vec![0; names.len()]; names.len()];
    for ((from, into), n) in merged {
        if let (Some(i), Some(j)) = (index(from), index(into)) {
            matrix[i][j] += n;
        }
    }
    Overlap { vendors: names, merged: matrix }
}

fn quarantine(reader: &Reader) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut out = BTreeMap::new();
    for entry in reader.quarantine()? {
        *out.entry(entry?.kind).or_default() += 1;
    }
    Ok(out)
}

/// New leads per hour per vendor over the run's window, in bins.
fn timeline(t: &LeadTally, events: Vec<RunEvent>) -> Timeline {
    let Some((start, end)) = t.window else {
        return Timeline { start_ms: 0, bin_ms: 0, leads_per_hour: BTreeMap::new(), events };
    };
    let bin_ms = ((end - start) / TIMELINE_BINS as Millis).max(1) + 1;
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (vendor, at) in &t.first_seen {
        let bin = (((at - start) / bin_ms) as usize).min(TIMELINE_BINS - 1);
        counts.entry(vendor.clone()).or_insert_with(|| vec![0; TIMELINE_BINS])[bin] += 1;
    }
    let hours = bin_ms as f64 / 3_600_000.0;
    let leads_per_hour = counts
        .into_iter()
        .map(|(v, c)| (v, c.iter().map(|n| (*n as f64 / hours).round()).collect()))
        .collect();
    Timeline { start_ms: start, bin_ms, leads_per_hour, events }
}
