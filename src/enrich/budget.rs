//! Enrichment's spend limits, kept across leads: each provider's credits and dollars
//! caps, enrichment's cap in all, the per-lead ceiling, and the kill switch that
//! stops paying when the first attempts fill too few leads. A paid step takes its
//! price before the call ([`Budget::take`]); a call that turns out free (a finder
//! miss, an `unknown` ZeroBounce answer) gives it back ([`Budget::refund`]), so
//! spending stops exactly at a cap.

use std::collections::BTreeMap;

use crate::config::{EnrichmentSettings, KillSwitch, ProviderKind};
use crate::store::ProviderSpend;

/// Why a paid step may not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("{provider} has used {used} of its {cap} credits (enrichment.providers.{provider}.credits_cap)")]
    Credits { provider: &'static str, used: f64, cap: f64 },
    #[error("{provider} has spent ${spent:.2} of its ${cap:.2} (enrichment.providers.{provider}.spend_cap)")]
    ProviderDollars { provider: &'static str, spent: f64, cap: f64 },
    #[error("enrichment has spent ${spent:.2} of its ${cap:.2} (enrichment.spend_cap)")]
    Dollars { spent: f64, cap: f64 },
    #[error("this lead has cost ${spent:.2} of its ${cap:.2} ceiling (enrichment.per_lead_ceiling)")]
    LeadCeiling { spent: f64, cap: f64 },
    #[error("kill switch: {filled} of the first {attempts} leads got an email (below {min_fill:.0}%)", min_fill = .min_fill * 100.0)]
    Killed { attempts: u64, filled: u64, min_fill: f64 },
}

#[derive(Debug, Clone, Default)]
struct Limit {
    price: f64,
    credits_cap: Option<f64>,
    spend_cap: Option<f64>,
    credits: f64,
    dollars: f64,
}

#[derive(Debug, Clone)]
pub struct Budget {
    limits: BTreeMap<ProviderKind, Limit>,
    cap: f64,
    spent: f64,
    per_lead: f64,
    kill: KillSwitch,
    attempts: u64,
    filled: u64,
    refused: Option<Refusal>,
}

impl Budget {
    /// The limits of `settings`, less what the store says was already spent.
    pub fn new(settings: &EnrichmentSettings, spent: &[(String, ProviderSpend)]) -> Budget {
        let mut limits: BTreeMap<ProviderKind, Limit> = settings
            .providers
            .iter()
            .map(|(kind, p)| {
                let limit = Limit {
                    price: p.cost_per_credit,
                    credits_cap: p.credits_cap,
                    spend_cap: p.spend_cap,
                    ..Limit::default()
                };
                (*kind, limit)
            })
            .collect();
        for (name, spend) in spent {
            if let Some(limit) = limits.iter_mut().find(|(k, _)| k.name() == name).map(|(_, l)| l) {
                limit.credits += spend.credits;
                limit.dollars += spend.dollars;
            }
        }
        let spent = spent.iter().map(|(_, s)| s.dollars).sum();
        Budget {
            limits,
            cap: settings.spend_cap,
            spent,
            per_lead: settings.per_lead_ceiling,
            kill: settings.kill_switch,
            attempts: 0,
            filled: 0,
            refused: None,
        }
    }

    /// Takes `credits` at `provider` for a lead that has cost `lead_spent` so far;
    /// returns their price in dollars.
    pub fn take(&mut self, provider: ProviderKind, credits: f64, lead_spent: f64) -> Result<f64, Refusal> {
        let taken = self.take_for(provider, credits, Some(lead_spent));
        self.note(taken)
    }

    /// Takes `credits` for a call made for many leads at once (ten domains' company
    /// data): the caps apply, the per-lead ceiling does not.
    pub fn take_shared(&mut self, provider: ProviderKind, credits: f64) -> Result<f64, Refusal> {
        let taken = self.take_for(provider, credits, None);
        self.note(taken)
    }

    /// Keeps the last refusal by a cap (the per-lead ceiling is routine), for the stage to show.
    fn note(&mut self, taken: Result<f64, Refusal>) -> Result<f64, Refusal> {
        if let Err(refusal) = &taken
            && !matches!(refusal, Refusal::LeadCeiling { .. })
        {
            self.refused = Some(refusal.clone());
        }
        taken
    }

    /// The last refusal by a cap or the kill switch, if any.
    pub fn refused(&self) -> Option<&Refusal> {
        self.refused.as_ref()
    }

    fn take_for(
        &mut self,
        provider: ProviderKind,
        credits: f64,
        lead_spent: Option<f64>,
    ) -> Result<f64, Refusal> {
        self.check_kill_switch()?;
        let name = provider.name();
        let limit = self.limits.entry(provider).or_default();
        let dollars = credits * limit.price;
        if let Some(cap) = limit.credits_cap.filter(|cap| limit.credits + credits > cap + 1e-9) {
            return Err(Refusal::Credits { provider: name, used: limit.credits, cap });
        }
        if let Some(cap) = limit.spend_cap.filter(|cap| limit.dollars + dollars > cap + 1e-9) {
            return Err(Refusal::ProviderDollars { provider: name, spent: limit.dollars, cap });
        }
        if self.spent + dollars > self.cap + 1e-9 {
            return Err(Refusal::Dollars { spent: self.spent, cap: self.cap });
        }
        if let Some(spent) = lead_spent.filter(|spent| spent + dollars > self.per_lead + 1e-9) {
            return Err(Refusal::LeadCeiling { spent, cap: self.per_lead });
        }
        limit.credits += credits;
        limit.dollars += dollars;
        self.spent += dollars;
        Ok(dollars)
    }

    /// Gives back what a call that turned out free had taken.
    pub fn refund(&mut self, provider: ProviderKind, credits: f64) {
        let limit = self.limits.entry(provider).or_default();
        let dollars = credits * limit.price;
        limit.credits -= credits;
        limit.dollars -= dollars;
        self.spent -= dollars;
    }

    /// Counts a lead the waterfall finished, and whether it got an email.
    pub fn record_attempt(&mut self, filled: bool) {
        self.attempts += 1;
        self.filled += u64::from(filled);
    }

    fn check_kill_switch(&self) -> Result<(), Refusal> {
        let judged = self.attempts >= self.kill.after && self.kill.after > 0;
        let rate = self.filled as f64 / self.attempts.max(1) as f64;
        if judged && rate < self.kill.min_fill {
            return Err(Refusal::Killed {
                attempts: self.attempts,
                filled: self.filled,
                min_fill: self.kill.min_fill,
            });
        }
        Ok(())
    }

    /// Dollars a credit costs at `provider`.
    pub fn price(&self, provider: ProviderKind) -> f64 {
        self.limits.get(&provider).map_or(0.0, |l| l.price)
    }

    /// Dollars enrichment has spent (before this run included).
    pub fn spent(&self) -> f64 {
        self.spent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, Source, load};

    fn settings(extra: &str) -> EnrichmentSettings {
        let text = format!("[campaign]\nname = \"t\"\ntarget = 10\n[enrichment]\nenabled = true\n{extra}");
        load(Source { origin: "t", text: &text }, &|_| None, &Flags::default()).unwrap().enrichment
    }

    #[test]
    fn spending_stops_exactly_at_a_cap() {
        let s = settings(
            "spend_cap = 2.0\nper_lead_ceiling = 10.0\n[enrichment.providers.hunter]\ncost_per_credit = 0.5\n",
        );
        let mut budget = Budget::new(&s, &[]);
        let taken: Vec<f64> = (0..4).map(|_| budget.take(ProviderKind::Hunter, 1.0, 0.0).unwrap()).collect();
        assert_eq!(taken, [0.5; 4]);
        let refused = budget.take(ProviderKind::Hunter, 1.0, 0.0).unwrap_err();
        assert!(matches!(refused, Refusal::Dollars { .. }), "{refused}");
        budget.refund(ProviderKind::Hunter, 1.0);
        assert_eq!(budget.take(ProviderKind::Hunter, 1.0, 0.0), Ok(0.5), "a refund frees its price");
        assert!((budget.spent() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn provider_caps_the_lead_ceiling_and_what_was_spent_before_all_count() {
        let s = settings(
            "per_lead_ceiling = 0.06\n[enrichment.providers.hunter]\ncost_per_credit = 0.05\ncredits_cap = 3\n",
        );
        let before =
            [("hunter".to_owned(), ProviderSpend { credits: 2.0, dollars: 0.1, ..ProviderSpend::default() })];
        let mut budget = Budget::new(&s, &before);
        assert_eq!(budget.take(ProviderKind::Hunter, 1.0, 0.0), Ok(0.05));
        assert!(matches!(budget.take(ProviderKind::Hunter, 1.0, 0.0), Err(Refusal::Credits { .. })));
        let mut fresh = Budget::new(&s, &[]);
        let refused = fresh.take(ProviderKind::Hunter, 1.0, 0.05).unwrap_err();
        assert!(refused.to_string().contains("per_lead_ceiling"), "{refused}");
    }

    #[test]
    fn the_kill_switch_stops_paying_after_a_poor_start() {
        let s = settings("kill_switch_after = 10\nkill_switch_min_fill = 0.3\n");
        let mut budget = Budget::new(&s, &[]);
        for n in 0..10 {
            assert!(budget.take(ProviderKind::Hunter, 1.0, 0.0).is_ok());
            budget.record_attempt(n < 2);
        }
        let killed = budget.take(ProviderKind::Hunter, 1.0, 0.0).unwrap_err();
        assert_eq!(killed, Refusal::Killed { attempts: 10, filled: 2, min_fill: 0.3 });
        let mut good = Budget::new(&s, &[]);
        (0..10).for_each(|n| good.record_attempt(n < 5));
        assert!(good.take(ProviderKind::Hunter, 1.0, 0.0).is_ok(), "half filled: go on");
    }
}
