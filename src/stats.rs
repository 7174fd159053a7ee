//! Campaign figures and KPIs (SPEC section 7), derived from the store's counters.
//! Pure arithmetic: the store keeps the counters in step with every commit.

use serde::Serialize;

use crate::store::Counters;

/// The figures `leadsprint stats` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub records_received: u64,
    pub unique_leads: u64,
    pub duplicates_merged: u64,
    pub conflicts: u64,
    pub quarantined: u64,
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

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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
            qualified_leads: c.qualified,
            avg_quality: if leads == 0 { 0.0 } else { round2(c.quality_sum as f64 / leads as f64) },
            email_availability: percent(c.with_personal_email, leads),
            company_completeness: percent(c.company_complete, leads),
            linkedin_availability: percent(c.with_linkedin, leads),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
