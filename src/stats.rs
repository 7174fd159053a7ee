//! Campaign figures and KPIs (SPEC section 7), derived from the store's counters.
//! Pure arithmetic: the store keeps the counters in step with every commit.

use serde::Serialize;

use crate::config::Kpi;
use crate::store::Counters;

/// The figures `leadsprint stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Stats {
    pub records_received: u64,
    pub unique_leads: u64,
    pub duplicates_merged: u64,
    /// Records whose keys named leads a remembered split keeps apart.
    pub conflicts: u64,
    pub quarantined: u64,
    /// Records dropped because they match the do-not-contact list.
    #[serde(default)]
    pub suppressed: u64,
    /// Records dropped because they carry a key of an erased person.
    #[serde(default)]
    pub erased: u64,
    /// Leads whose keys contradict (two LinkedIn URLs, two IDs of one vendor).
    #[serde(default)]
    pub needs_review: u64,
    /// Lead ids that resolve to another lead (leads merged into others).
    #[serde(default)]
    pub aliases: u64,
    /// Lead-to-lead merges: a record bridged two leads.
    #[serde(default)]
    pub leads_merged: u64,
    /// Leads erased on request.
    #[serde(default)]
    pub leads_erased: u64,
    pub qualified_leads: u64,
    /// Mean quality score of the unique leads, 0–100.
    pub avg_quality: f64,
    /// Share of unique leads with a personal, valid email, in percent.
    pub email_availability: f64,
    /// Share of unique leads with company name, domain and industry, in percent.
    pub company_completeness: f64,
    /// Share of unique leads with a LinkedIn profile URL, in percent.
    pub linkedin_availability: f64,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { round2(part as f64 * 100.0 / whole as f64) }
}

/// Rounded to cents; never `-0` (an empty float sum is `-0.0`, which prints as such).
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

impl From<&Counters> for Stats {
    fn from(c: &Counters) -> Stats {
        let leads = c.unique_leads;
        Stats {
            records_received: c.records_received,
            unique_leads: leads,
            duplicates_merged: c.duplicates_merged,
            conflicts: c.conflicts,
            quarantined: c.quarantined,
            suppressed: c.suppressed,
            erased: c.erased,
            needs_review: c.needs_review,
            aliases: c.aliases,
            leads_merged: c.leads_merged,
            leads_erased: c.leads_erased,
            qualified_leads: c.qualified,
            avg_quality: if leads == 0 { 0.0 } else { round2(c.quality_sum as f64 / leads as f64) },
            email_availability: percent(c.with_personal_email, leads),
            company_completeness: percent(c.company_complete, leads),
            linkedin_availability: percent(c.with_linkedin, leads),
        }
    }
}

/// What the sprint cost: vendors and enrichment, and per qualified lead (the KPI's figure).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Costs {
    pub vendor_cost: f64,
    pub enrichment_cost: f64,
    pub cost_total: f64,
    /// `None` while no lead is qualified.
    pub cost_per_qualified_lead: Option<f64>,
}

impl Costs {
    pub fn new(vendor_cost: f64, enrichment_cost: f64, qualified: u64) -> Costs {
        let cost_total = round2(vendor_cost + enrichment_cost);
        Costs {
            vendor_cost: round2(vendor_cost),
            enrichment_cost: round2(enrichment_cost),
            cost_total,
            cost_per_qualified_lead: (qualified > 0)
                .then(|| (cost_total / qualified as f64 * 1e4).round() / 1e4 + 0.0),
        }
    }
}

/// What `leadsprint stats --json` and `GET /api/stats` answer: the figures, the
/// costs, the leads per email status, the enrichment providers' spend and every
/// workflow's record.
pub fn report(reader: &crate::store::Reader) -> Result<serde_json::Value, crate::store::StoreError> {
    let stats = Stats::from(&reader.counters()?);
    let workflows = reader.workflows()?;
    let vendor: f64 = workflows.values().map(|w| w.cost).sum();
    let costs = Costs::new(vendor, reader.enrichment_cost()?, stats.qualified_leads);
    let mut value = serde_json::to_value(&stats).unwrap_or_default();
    let extra = serde_json::json!({
        "costs": costs,
        "email_status": reader.email_status_counts()?,
        "enrichment": reader.spend()?.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "workflows": workflows,
    });
    if let (Some(into), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
        into.extend(more);
    }
    // The cost figures at the top level too, where scripts look for them.
    for key in ["vendor_cost", "enrichment_cost", "cost_total", "cost_per_qualified_lead"] {
        value[key] = value["costs"][key].clone();
    }
    Ok(value)
}

/// Seconds as a short duration: `5m`, `1h30m`, `45s`.
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// One KPI against its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiLine {
    pub name: &'static str,
    pub value: f64,
    /// The threshold, as text with its comparison (`>= 18000`, `< $0.60`).
    pub threshold: String,
    pub pass: bool,
}

/// The campaign KPIs (SPEC section 7) with pass/fail. `cost` is the run's vendor
/// spend; `leads_per_hour` the collection rate.
pub fn kpis(stats: &Stats, kpi: &Kpi, cost: f64, leads_per_hour: f64) -> Vec<KpiLine> {
    let per_qualified =
        if stats.qualified_leads == 0 { f64::INFINITY } else { cost / stats.qualified_leads as f64 };
    vec![
        Bound::AtLeast.line("leads collected", stats.records_received as f64, kpi.collected as f64),
        Bound::AtLeast.line("unique leads", stats.unique_leads as f64, kpi.unique as f64),
        Bound::Above.line("average quality", stats.avg_quality, kpi.avg_quality),
        Bound::Above.line("email availability %", stats.email_availability, kpi.email_availability),
        Bound::Above.line("company completeness %", stats.company_completeness, kpi.company_completeness),
        Bound::Below.line("cost per qualified lead $", per_qualified, kpi.cost_per_qualified_lead),
        Bound::AtLeast.line("leads per hour", leads_per_hour, kpi.leads_per_hour),
    ]
}

/// How a KPI compares with its threshold.
#[derive(Clone, Copy)]
enum Bound {
    AtLeast,
    Above,
    Below,
}

impl Bound {
    fn line(self, name: &'static str, value: f64, threshold: f64) -> KpiLine {
        let (sign, pass) = match self {
            Bound::AtLeast => (">=", value >= threshold),
            Bound::Above => (">", value > threshold),
            Bound::Below => ("<", value < threshold),
        };
        KpiLine { name, value, threshold: format!("{sign} {threshold}"), pass }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpis_pass_and_fail_against_thresholds() {
        let c = Counters {
            records_received: 21_000,
            unique_leads: 18_500,
            qualified: 10_000,
            quality_sum: 18_500 * 80,
            with_personal_email: 5_000,
            company_complete: 15_000,
            ..Counters::default()
        };
        let lines = kpis(&Stats::from(&c), &Kpi::default(), 7_000.0, 900.0);
        let verdicts: Vec<(&str, bool)> = lines.iter().map(|l| (l.name, l.pass)).collect();
        assert_eq!(
            verdicts,
            [
                ("leads collected", true),
                ("unique leads", true),
                ("average quality", true),
                ("email availability %", true),
                ("company completeness %", true),
                ("cost per qualified lead $", false),
                ("leads per hour", true),
            ]
        );
        assert_eq!(lines[5].value, 0.7);
    }

    #[test]
    fn derives_shares_and_handles_empty() {
        let empty = Stats::from(&Counters::default());
        assert_eq!((empty.avg_quality, empty.email_availability), (0.0, 0.0));
        let c = Counters {
            unique_leads: 3,
            quality_sum: 200,
            with_personal_email: 1,
            company_complete: 2,
            ..Counters::default()
        };
        let s = Stats::from(&c);
        assert_eq!(s.avg_quality, 66.67);
        assert_eq!(s.email_availability, 33.33);
        assert_eq!(s.company_completeness, 66.67);
    }
}
