//! Spend caps: what each vendor, and the campaign as a whole, may still spend.
//! A connector asks before a call that bills ([`Spend::affordable`]) and records
//! what it committed ([`Spend::charge`]) the moment the vendor bills, so two
//! workflows of one account never both spend the last dollars. The ledger starts
//! from the costs already committed in the store, so a restart keeps counting.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::config::VendorKind;
use crate::http::FetchError;

#[derive(Debug, Default)]
struct Ledger {
    caps: BTreeMap<VendorKind, f64>,
    spent: BTreeMap<VendorKind, f64>,
    campaign_cap: f64,
    campaign_spent: f64,
}

impl Ledger {
    fn spent(&self, vendor: VendorKind) -> f64 {
        self.spent.get(&vendor).copied().unwrap_or(0.0)
    }

    fn headroom(&self, vendor: VendorKind) -> f64 {
        let own = self.caps.get(&vendor).map_or(f64::INFINITY, |cap| cap - self.spent(vendor));
        own.min(self.campaign_cap - self.campaign_spent).max(0.0)
    }
}

/// One vendor's view of the campaign's shared ledger.
#[derive(Debug, Clone)]
pub struct Spend {
    vendor: VendorKind,
    ledger: Arc<Mutex<Ledger>>,
}

/// The campaign's ledger, from which each vendor's [`Spend`] is taken.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    ledger: Arc<Mutex<Ledger>>,
}

impl Budget {
    /// A ledger with the campaign's cap, each vendor's cap (absent: only the
    /// campaign's applies), what each vendor has already spent, and what the
    /// campaign spent elsewhere (workflows no longer in it).
    pub fn new(
        campaign_cap: f64,
        caps: BTreeMap<VendorKind, f64>,
        spent: BTreeMap<VendorKind, f64>,
        elsewhere: f64,
    ) -> Budget {
        let campaign_spent = spent.values().sum::<f64>() + elsewhere;
        let ledger = Ledger { caps, spent, campaign_cap, campaign_spent };
        Budget { ledger: Arc::new(Mutex::new(ledger)) }
    }

    /// No cap at all (tests and tools that only read).
    pub fn unlimited() -> Budget {
        Budget::new(f64::INFINITY, BTreeMap::new(), BTreeMap::new(), 0.0)
    }

    pub fn for_vendor(&self, vendor: VendorKind) -> Spend {
        Spend { vendor, ledger: self.ledger.clone() }
    }
}

impl Spend {
    /// A vendor with no cap of its own under an unlimited campaign.
    pub fn unlimited(vendor: VendorKind) -> Spend {
        Budget::unlimited().for_vendor(vendor)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        f(&mut self.ledger.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Dollars this vendor may still spend: the tighter of its cap and the campaign's.
    pub fn headroom(&self) -> f64 {
        self.with(|l| l.headroom(self.vendor))
    }

    /// How many of `wanted` units at `price` each fit in the headroom, taken at
    /// once (charged now) so no other workflow spends them meanwhile. Zero units
    /// is the spend-cap error: the vendor must stop.
    pub fn take(&self, wanted: u64, price: f64) -> Result<u64, FetchError> {
        if price <= 0.0 || wanted == 0 {
            return Ok(wanted);
        }
        let units = self.with(|l| {
            let headroom = l.headroom(self.vendor);
            // A hair of slack so a cap that is an exact multiple of the price is reachable.
            let units = ((headroom + 1e-9) / price).floor().min(wanted as f64) as u64;
            let cost = units as f64 * price;
            *l.spent.entry(self.vendor).or_default() += cost;
            l.campaign_spent += cost;
            units
        });
        if units == 0 { Err(self.cap_reached()) } else { Ok(units) }
    }

    /// Records a cost (or, negative, a correction) outside [`Spend::take`].
    pub fn charge(&self, dollars: f64) {
        self.with(|l| {
            *l.spent.entry(self.vendor).or_default() += dollars;
            l.campaign_spent += dollars;
        });
    }

    /// The error that stops the vendor, naming the cap that binds and its key.
    pub fn cap_reached(&self) -> FetchError {
        self.with(|l| {
            let spent = l.spent(self.vendor);
            let message = match l.caps.get(&self.vendor) {
                Some(cap) if cap - spent <= l.campaign_cap - l.campaign_spent => format!(
                    "{} has spent ${spent:.2} of its ${cap:.2} cap (vendors.{}.spend_cap)",
                    self.vendor.name(),
                    self.vendor.name()
                ),
                _ => format!(
                    "the campaign has spent ${:.2} of its ${:.2} cap (campaign.spend_cap)",
                    l.campaign_spent, l.campaign_cap
                ),
            };
            FetchError::SpendCap(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tighter_cap_binds_and_takes_stop_at_it() {
        let budget = Budget::new(
            10.0,
            BTreeMap::from([(VendorKind::Apollo, 3.0)]),
            BTreeMap::from([(VendorKind::Apollo, 1.0)]),
            0.0,
        );
        let apollo = budget.for_vendor(VendorKind::Apollo);
        let zoominfo = budget.for_vendor(VendorKind::Zoominfo);
        assert!((apollo.headroom() - 2.0).abs() < 1e-9, "its own cap less what it spent");
        assert!((zoominfo.headroom() - 9.0).abs() < 1e-9, "the campaign's cap less everyone's spend");
        assert_eq!(apollo.take(10, 0.5).ok(), Some(4), "four half-dollar credits fit in $2");
        assert!(
            matches!(apollo.take(1, 0.5), Err(FetchError::SpendCap(m)) if m.contains("vendors.apollo.spend_cap"))
        );
        assert_eq!(zoominfo.take(100, 1.0).ok(), Some(7), "$10 less apollo's $3");
        assert!(
            matches!(zoominfo.take(1, 1.0), Err(FetchError::SpendCap(m)) if m.contains("campaign.spend_cap"))
        );
        zoominfo.charge(-2.0);
        assert_eq!(zoominfo.take(5, 1.0).ok(), Some(2), "a correction frees what it returns");
        assert_eq!(apollo.take(3, 0.0).ok(), Some(3), "free calls are never refused");
    }
}
