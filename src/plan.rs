//! The sprint's forecast (`leadsprint plan`, the dashboard's ETA, the report's
//! plan vs actual): from each vendor's rate limit, page size and request shape,
//! each workflow's expected yield, the expected duplicate rate and the
//! enrichment hit rates and prices — the time to the target, the cost, the cost
//! per qualified lead, the KPIs, and what bounds the sprint.
//!
//! Each workflow is a stream of records over vendor time: Sales Navigator
//! exports are there at the start; a Bright Data snapshot arrives whole once
//! built and downloaded (its account's requests one after another); Apollo and
//! ZoomInfo pages come at their account's rate, shared by its workflows, or at
//! the round trip's pace where that is slower. Unique leads are the records
//! less the expected duplicates; the target is reached when they meet it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::config::{Query, Settings, VendorKind};
use crate::sources::{apollo, brightdata, zoominfo};
use crate::stats::{KpiLine, Stats, kpis};

/// The sprint's day, vendor time.
pub const SPRINT_DAY: f64 = 24.0 * 3600.0;

/// The email finder's pace: Hunter's campaign rate, requests a second.
fn finder_per_second(settings: &Settings) -> f64 {
    let hunter = settings.enrichment.providers.get(&crate::config::ProviderKind::Hunter);
    hunter.map_or(500.0 / 60.0, |p| f64::from(p.rate.requests) / p.rate.per.as_secs_f64().max(1e-9))
}

/// One workflow's expected records over time.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowForecast {
    pub name: String,
    pub vendor: String,
    /// Records its query is expected to return in all.
    pub records: f64,
    /// Seconds (vendor time) when its first and last records arrive.
    pub starts_at: f64,
    pub ends_at: f64,
    /// Its pace while it delivers, records per hour (`None`: all at once).
    pub records_per_hour: Option<f64>,
    /// Requests per record, and dollars per record.
    pub requests_per_record: f64,
    pub cost_per_record: f64,
    /// What sets its pace.
    pub bound_by: String,
}

impl WorkflowForecast {
    /// Records arrived by `t` seconds.
    pub fn records_at(&self, t: f64) -> f64 {
        if t < self.starts_at {
            0.0
        } else if t >= self.ends_at {
            self.records
        } else {
            self.records * (t - self.starts_at) / (self.ends_at - self.starts_at).max(1e-9)
        }
    }
}

/// The forecast for a campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub target: u64,
    pub workflows: Vec<WorkflowForecast>,
    /// Seconds (vendor time) until the target's unique leads; `None` if the
    /// workflows' expected yields fall short of it.
    pub time_to_target_seconds: Option<f64>,
    /// Unique leads the workflows can give in all.
    pub unique_available: f64,
    /// At the target (or when the workflows run dry): records and unique leads.
    pub records_collected: f64,
    pub unique_leads: f64,
    pub unique_per_hour: f64,
    pub vendor_cost: f64,
    pub enrichment_cost: f64,
    pub enrichment_seconds: f64,
    pub qualified_leads: f64,
    pub cost_per_qualified_lead: Option<f64>,
    pub kpis: Vec<KpiLine>,
    /// What bounds the sprint, in a sentence.
    pub bottleneck: String,
    /// Share of records expected to become unique leads.
    pub unique_share: f64,
}

impl Forecast {
    /// Unique leads planned by `t` seconds (vendor time) into the sprint.
    pub fn unique_at(&self, t: f64) -> f64 {
        self.workflows.iter().map(|w| w.records_at(t)).sum::<f64>() * self.unique_share
    }

    /// The same, from `vendor`'s workflows alone.
    pub fn vendor_unique_at(&self, vendor: &str, t: f64) -> f64 {
        self.workflows.iter().filter(|w| w.vendor == vendor).map(|w| w.records_at(t)).sum::<f64>()
            * self.unique_share
    }
}

/// The forecast's headline figures, kept with a sprint for the report's plan vs actual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub time_to_target_seconds: Option<f64>,
    pub unique_per_hour: f64,
    pub unique_leads: f64,
    pub vendor_cost: f64,
    pub enrichment_cost: f64,
    pub cost_per_qualified_lead: Option<f64>,
    pub bottleneck: String,
}

impl Forecast {
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            time_to_target_seconds: self.time_to_target_seconds,
            unique_per_hour: self.unique_per_hour,
            unique_leads: self.unique_leads,
            vendor_cost: self.vendor_cost,
            enrichment_cost: self.enrichment_cost,
            cost_per_qualified_lead: self.cost_per_qualified_lead,
            bottleneck: self.bottleneck.clone(),
        }
    }
}

/// What the plan knows of Sales Navigator inboxes: rows waiting per workflow.
pub type InboxRows = BTreeMap<String, u64>;

/// Rows waiting in each Sales Navigator workflow's inbox (CSV lines less headers).
pub fn inbox_rows(dir: &Path, settings: &Settings) -> InboxRows {
    let mut rows = InboxRows::new();
    for wf in &settings.workflows {
        let (Query::SalesNav(q), Some(vendor)) = (&wf.query, settings.vendors.get(&VendorKind::Salesnav))
        else {
            continue;
        };
        let folder = dir.join(vendor.inbox.clone().unwrap_or_else(|| "inbox".into())).join(&q.inbox);
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let count: usize = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|text| text.lines().filter(|l| !l.trim().is_empty()).count().saturating_sub(1))
            .sum();
        rows.insert(wf.name.clone(), count as u64);
    }
    rows
}

/// Forecasts `settings`' sprint. `inbox_rows` gives the rows waiting in each
/// Sales Navigator workflow's inbox.
pub fn forecast(settings: &Settings, inbox_rows: &InboxRows) -> Forecast {
    let workflows = workflow_streams(settings, inbox_rows);
    let a = &settings.plan;
    let unique_share = a.valid_share * (1.0 - a.duplicate_rate);
    let records_at = |t: f64| workflows.iter().map(|w| w.records_at(t)).sum::<f64>();
    let available: f64 = workflows.iter().map(|w| w.records).sum::<f64>() * unique_share;
    let target = settings.target as f64;
    let t_target = (available >= target).then(|| solve(|t| records_at(t) * unique_share, target));
    let t_end = t_target.unwrap_or_else(|| workflows.iter().map(|w| w.ends_at).fold(0.0, f64::max));
    let records = records_at(t_end);
    let unique = records * unique_share;
    let vendor_cost: f64 = workflows.iter().map(|w| w.records_at(t_end) * w.cost_per_record).sum();
    let (enrichment_cost, enrichment_seconds) = enrichment(settings, unique);
    let qualified = unique * a.qualified_share;
    let cost = vendor_cost + enrichment_cost;
    let per_hour = if t_end > 0.0 { unique / (t_end / 3600.0) } else { 0.0 };
    let stats = expected_stats(settings, records, unique, qualified);
    Forecast {
        target: settings.target,
        bottleneck: bottleneck(settings, &workflows, unique_share, t_end, enrichment_seconds),
        kpis: kpis(&stats, &settings.kpi, cost, per_hour),
        workflows,
        time_to_target_seconds: t_target,
        unique_available: available,
        records_collected: records,
        unique_leads: unique,
        unique_per_hour: per_hour,
        vendor_cost,
        enrichment_cost,
        enrichment_seconds,
        qualified_leads: qualified,
        cost_per_qualified_lead: (qualified > 0.0).then(|| cost / qualified),
        unique_share,
    }
}

/// The smallest t with `f(t) >= goal`, for a non-decreasing `f` that reaches it.
fn solve(f: impl Fn(f64) -> f64, goal: f64) -> f64 {
    let mut high = 1.0;
    while f(high) < goal && high < 1e9 {
        high *= 2.0;
    }
    let mut low = 0.0;
    if f(low) >= goal {
        return 0.0;
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if f(mid) >= goal { high = mid } else { low = mid }
    }
    high
}

/// How a workflow's records come, before costs: how many, from when, at what
/// pace (`None`: all at once), for how many requests and credits each.
struct Shape {
    records: f64,
    starts_at: f64,
    per_second: Option<f64>,
    requests_per_record: f64,
    credits_per_record: f64,
    bound_by: String,
}

/// What paces a paged workflow: its account's request spacing, the workflows
/// sharing it, the round trip, the share of requests retried.
struct Pace {
    vendor: VendorKind,
    spacing: f64,
    sharing: f64,
    latency: f64,
    failure_share: f64,
}

/// Each enabled workflow's stream.
fn workflow_streams(settings: &Settings, inbox_rows: &InboxRows) -> Vec<WorkflowForecast> {
    let a = &settings.plan;
    let latency = a.latency().as_secs_f64().max(1e-3);
    let enabled: Vec<_> = settings.workflows.iter().filter(|w| w.enabled).collect();
    let mut out = Vec::new();
    let mut brightdata_queue = 0.0;
    for wf in &enabled {
        let Some(vendor) = settings.vendors.get(&wf.vendor) else { continue };
        let rate = wf.rate.unwrap_or(vendor.rate);
        let spacing = rate.per.as_secs_f64() / f64::from(rate.requests.max(1));
        let sharing = if wf.rate.is_some() {
            1.0
        } else {
            enabled.iter().filter(|o| o.vendor == wf.vendor && o.rate.is_none()).count().max(1) as f64
        };
        let pace = Pace { vendor: wf.vendor, spacing, sharing, latency, failure_share: a.failure_share };
        let page = f64::from(vendor.page_size.max(1));
        let expected = wf.expected_records.map(|n| n as f64);
        let shape = match &wf.query {
            Query::SalesNav(_) => Shape {
                records: inbox_rows.get(&wf.name).copied().unwrap_or(0) as f64,
                starts_at: 0.0,
                per_second: None,
                requests_per_record: 0.0,
                credits_per_record: 0.0,
                bound_by: "salesnav: the export files in its inbox".to_owned(),
            },
            Query::BrightData(q) => {
                let records = expected.unwrap_or_else(|| {
                    f64::from(q.records_limit.unwrap_or(u32::MAX)).min(settings.target as f64)
                });
                // Trigger, polls, downloads: one after another on the account's limit.
                let build = a.snapshot_build().as_secs_f64();
                let poll = brightdata::POLL_EVERY.as_secs_f64();
                let ready = (build / poll).ceil().max(1.0) * poll;
                let downloads = (records / page).ceil().max(1.0);
                brightdata_queue += 1.0 + downloads;
                Shape {
                    records,
                    starts_at: ready + brightdata_queue * spacing.max(latency),
                    per_second: None,
                    requests_per_record: (1.0 + ready / poll + downloads) / records.max(1.0),
                    credits_per_record: 0.0,
                    bound_by: format!(
                        "brightdata's snapshot build (~{build:.0} s) and 1 request / {spacing:.1} s"
                    ),
                }
            }
            Query::Apollo(_) => {
                let records = expected.unwrap_or(f64::from(apollo::MAX_SEARCH_PAGES) * page);
                paged(&pace, records, page, apollo::MATCH_BATCH as f64)
            }
            Query::ZoomInfo(_) => {
                let records = expected.unwrap_or(settings.target as f64);
                paged(&pace, records, page, zoominfo::ENRICH_BATCH as f64)
            }
        };
        let costs = &vendor.costs;
        out.push(WorkflowForecast {
            name: wf.name.clone(),
            vendor: wf.vendor.name().to_owned(),
            records: shape.records,
            starts_at: shape.starts_at,
            ends_at: shape
                .per_second
                .map_or(shape.starts_at, |r| shape.starts_at + shape.records / r.max(1e-9)),
            records_per_hour: shape.per_second.map(|r| r * 3600.0),
            requests_per_record: shape.requests_per_record,
            cost_per_record: costs.per_record
                + costs.per_credit * shape.credits_per_record
                + costs.per_request * shape.requests_per_record,
            bound_by: shape.bound_by,
        });
    }
    out
}

/// A paged API's shape: a search page of `page` records, then one billing call
/// per `batch` of them (Apollo's match, ZoomInfo's enrich: a credit a record),
/// at the account's rate shared by its workflows or one round trip at a time,
/// whichever is slower; the failed share of requests are retries that bring
/// nothing, each after the first backoff.
fn paged(pace: &Pace, records: f64, page: f64, batch: f64) -> Shape {
    let calls_per_page = 1.0 + (page / batch).ceil();
    let slot = pace.spacing * crate::http::LIMIT_MARGIN * pace.sharing;
    let vendor = pace.vendor.name();
    let (cycle, bound_by) = if slot >= pace.latency {
        let limit = 1.0 / pace.spacing.max(1e-9);
        (slot, format!("{vendor} at {limit:.0} requests/s shared by {:.0} workflows", pace.sharing))
    } else {
        let ms = pace.latency * 1000.0;
        (pace.latency, format!("{vendor} at one request at a time ({ms:.0} ms round trip)"))
    };
    let cycle = cycle + pace.failure_share * crate::http::BACKOFF_BASE.as_secs_f64();
    let useful = (1.0 - pace.failure_share) / cycle.max(1e-9);
    Shape {
        records,
        starts_at: pace.latency,
        per_second: Some(useful * page / calls_per_page),
        requests_per_record: calls_per_page / page,
        credits_per_record: 1.0,
        bound_by,
    }
}

/// Enrichment's dollars and its time (Hunter's finder pace) for `unique` leads.
fn enrichment(settings: &Settings, unique: f64) -> (f64, f64) {
    let e = &settings.enrichment;
    if !e.enabled {
        return (0.0, 0.0);
    }
    let a = &settings.plan;
    let price =
        |kind| e.providers.get(&kind).map_or(0.0, |p: &crate::config::ProviderSettings| p.cost_per_credit);
    let hunter = price(crate::config::ProviderKind::Hunter);
    let apollo = price(crate::config::ProviderKind::Apollo);
    let asked = unique * (1.0 - a.sold_email_share);
    let found = asked * a.email_find_rate;
    // Hunter: a found address 1 credit, its verification 0.5; company data one credit a domain
    // (about one in four leads brings a company not seen yet).
    let dollars = (found * 1.5 * hunter + unique * 0.25 * apollo).min(e.spend_cap);
    (dollars, asked / finder_per_second(settings))
}

/// Store-like figures for the KPI lines, from the assumptions.
fn expected_stats(settings: &Settings, records: f64, unique: f64, qualified: f64) -> Stats {
    let a = &settings.plan;
    let email = a.sold_email_share
        + (1.0 - a.sold_email_share) * a.email_find_rate * settings.enrichment.enabled as u8 as f64;
    let company = if settings.enrichment.enabled { a.company_fill_rate } else { a.company_fill_rate * 0.5 };
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    Stats {
        records_received: records.round() as u64,
        unique_leads: unique.round() as u64,
        duplicates_merged: (records - unique).max(0.0).round() as u64,
        quarantined: (records * (1.0 - a.valid_share)).round() as u64,
        qualified_leads: qualified.round() as u64,
        avg_quality: a.quality,
        email_availability: round2(email * 100.0),
        company_completeness: round2(company * 100.0),
        ..Stats::default()
    }
}

/// The sentence naming what bounds the sprint: the slowest of collection's
/// paced workflows still delivering at the end, or enrichment when it ends later.
fn bottleneck(
    settings: &Settings,
    workflows: &[WorkflowForecast],
    unique_share: f64,
    t_end: f64,
    enrichment_seconds: f64,
) -> String {
    let still = workflows
        .iter()
        .filter(|w| w.records_per_hour.is_some() && w.starts_at < t_end)
        .max_by(|a, b| a.ends_at.total_cmp(&b.ends_at));
    let collection = match still {
        Some(w) => {
            let vendor_rate: f64 = workflows
                .iter()
                .filter(|o| o.vendor == w.vendor)
                .filter_map(|o| o.records_per_hour)
                .sum::<f64>()
                * unique_share;
            format!("{} bounds collection to {vendor_rate:.0} unique leads/hour", w.bound_by)
        }
        None => match workflows.iter().max_by(|a, b| a.ends_at.total_cmp(&b.ends_at)) {
            Some(w) => w.bound_by.clone(),
            None => "no enabled workflow".to_owned(),
        },
    };
    if enrichment_seconds > t_end && settings.enrichment.enabled {
        let per_second = finder_per_second(settings);
        format!(
            "Hunter at {:.0} requests/minute bounds email finding to {:.0} leads/hour ({}), longer than collection ({collection})",
            per_second * 60.0,
            per_second * 3600.0,
            crate::stats::human_duration(enrichment_seconds)
        )
    } else if t_end > SPRINT_DAY {
        format!("{collection}; the target takes longer than the one-day sprint")
    } else {
        collection
    }
}

/// A workflow as a running sprint measured it.
#[derive(Debug, Clone)]
pub struct MeasuredWorkflow {
    pub name: String,
    /// No more records will come from it this run.
    pub finished: bool,
    /// Records it had when the run started, and has now.
    pub records_at_start: u64,
    pub records_now: u64,
}

/// The time (vendor seconds from now) until the target, by the plan's model fed
/// with what the run measured: each running workflow goes on at its measured
/// pace up to its expected yield (a snapshot not yet delivered arrives when the
/// plan said), finished ones add nothing, and records become unique leads at
/// the run's measured share. `None` when what is left cannot reach the target.
pub fn eta(
    forecast: &Forecast,
    elapsed: f64,
    workflows: &[MeasuredWorkflow],
    unique_now: u64,
    unique_share: f64,
) -> Option<f64> {
    let remaining = forecast.target.saturating_sub(unique_now) as f64;
    if remaining <= 0.0 {
        return Some(0.0);
    }
    let share = unique_share.clamp(0.01, 1.0);
    let streams: Vec<(f64, f64, Option<f64>)> = workflows
        .iter()
        .filter(|w| !w.finished)
        .filter_map(|w| {
            let planned = forecast.workflows.iter().find(|p| p.name == w.name)?;
            let got = w.records_now.saturating_sub(w.records_at_start) as f64;
            let left = (planned.records - w.records_now as f64).max(0.0);
            match planned.records_per_hour {
                // Delivered whole: what is left arrives when the plan said (or now).
                None => Some((left, (planned.starts_at - elapsed).max(0.0), None)),
                Some(_) if got > 0.0 && elapsed > 0.0 => Some((left, 0.0, Some(got / elapsed))),
                Some(per_hour) => {
                    Some((left, (planned.starts_at - elapsed).max(0.0), Some(per_hour / 3600.0)))
                }
            }
        })
        .collect();
    let future = |t: f64| -> f64 {
        streams
            .iter()
            .map(|(left, from, pace)| match pace {
                _ if t < *from => 0.0,
                None => *left,
                Some(pace) => (pace * (t - from)).min(*left),
            })
            .sum::<f64>()
            * share
    };
    let reachable: f64 = streams.iter().map(|(left, _, _)| left).sum::<f64>() * share;
    (reachable >= remaining).then(|| solve(future, remaining))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast() -> Forecast {
        let stream = |name: &str, records: f64, starts_at: f64, per_hour: Option<f64>| WorkflowForecast {
            name: name.to_owned(),
            vendor: "v".to_owned(),
            records,
            starts_at,
            ends_at: starts_at + per_hour.map_or(0.0, |p| records / p * 3600.0),
            records_per_hour: per_hour,
            requests_per_record: 0.1,
            cost_per_record: 0.0,
            bound_by: String::new(),
        };
        Forecast {
            target: 1000,
            workflows: vec![
                stream("paged", 10_000.0, 0.0, Some(3600.0)),
                stream("snapshot", 500.0, 100.0, None),
            ],
            time_to_target_seconds: None,
            unique_available: 0.0,
            records_collected: 0.0,
            unique_leads: 0.0,
            unique_per_hour: 0.0,
            vendor_cost: 0.0,
            enrichment_cost: 0.0,
            enrichment_seconds: 0.0,
            qualified_leads: 0.0,
            cost_per_qualified_lead: None,
            kpis: Vec::new(),
            bottleneck: String::new(),
            unique_share: 1.0,
        }
    }

    fn measured(name: &str, finished: bool, now: u64) -> MeasuredWorkflow {
        MeasuredWorkflow { name: name.to_owned(), finished, records_at_start: 0, records_now: now }
    }

    #[test]
    fn the_eta_goes_on_at_the_measured_pace_and_counts_a_snapshot_when_it_lands() {
        let f = forecast();
        // 50 s in: the paged workflow measured 2 records/s (not the planned 1), the
        // snapshot lands at 100 s with 500 records; every record unique.
        let w = [measured("paged", false, 100), measured("snapshot", false, 0)];
        let eta = eta(&f, 50.0, &w, 100, 1.0).expect("reachable");
        // 900 to go: by 100 s (50 s from now) 100 from paging + 500 = 600; 300 more at 2/s.
        assert!((eta - 200.0).abs() < 0.5, "{eta}");
        // A finished paged workflow adds nothing: only the snapshot is left, 500 < 900.
        let w = [measured("paged", true, 100), measured("snapshot", false, 0)];
        assert_eq!(super::eta(&f, 50.0, &w, 100, 1.0), None);
        // Half the records are duplicates: twice the records, so the ETA grows.
        let w = [measured("paged", false, 100), measured("snapshot", false, 0)];
        let slower = super::eta(&f, 50.0, &w, 100, 0.5).expect("reachable");
        assert!(slower > eta, "{slower} vs {eta}");
    }
}
