//! One lead's paid steps as the waterfall asks for them: answered from the cache
//! when it holds a fresh answer (no request, no cost), else by the provider; the
//! price is taken from the [`Budget`] before a call and given back when the call
//! turns out free (a finder miss, a cache hit, a check still pending). Everything
//! asked is written down — cache entries and each provider's spend — for the
//! writer to apply with the result, in one transaction.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::config::{ProviderKind, Verifier};
use crate::enrich::budget::Budget;
use crate::enrich::cache::{self, Op};
use crate::enrich::hunter::{At, Finding, Hunter, Verification};
use crate::enrich::mx::{MailDomain, MailResolver};
use crate::enrich::waterfall::{Allowance, EmailProviders, Paid};
use crate::enrich::zerobounce::ZeroBounce;
use crate::http::FetchError;
use crate::lead::{EmailStatus, Millis};
use crate::store::{CacheEntry, ProviderSpend};

/// Hunter's credits per call: a found address 1 (its verification included), a verification 0.5.
const HUNTER_FIND_CREDITS: f64 = 1.0;
const HUNTER_VERIFY_CREDITS: f64 = 0.5;
/// ZeroBounce: a credit per validation (none for `unknown`).
const ZEROBOUNCE_CREDITS: f64 = 1.0;

/// What a session asked: the answers to cache and each provider's spend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub cache: Vec<(String, CacheEntry)>,
    pub spend: BTreeMap<&'static str, ProviderSpend>,
    /// Dollars this lead cost.
    pub dollars: f64,
}

impl Ledger {
    /// Adds what another ledger holds.
    pub fn absorb(&mut self, other: Ledger) {
        self.cache.extend(other.cache);
        for (name, spend) in other.spend {
            self.spend.entry(name).or_default().add(&spend);
        }
        self.dollars += other.dollars;
    }

    /// A fresh cached answer of `op`, counted as `provider`'s cache hit: `Some(None)`
    /// a remembered miss, `None` nothing fresh cached (an entry that no longer
    /// reads is no answer either: the provider is asked).
    pub fn cached<T: serde::de::DeserializeOwned>(
        &mut self,
        provider: &'static str,
        entry: Option<CacheEntry>,
        op: Op,
        now: Millis,
    ) -> Option<Option<T>> {
        let entry = entry.filter(|e| cache::fresh(e, op, now))?;
        let value =
            if entry.value.is_empty() { None } else { Some(serde_json::from_str(&entry.value).ok()?) };
        self.spend.entry(provider).or_default().cache_hits += 1;
        Some(value)
    }

    /// Writes an answer down for the cache; `found` says whether it was a hit (a
    /// miss is kept for less time, with what it told, if anything).
    pub fn keep<T: serde::Serialize>(&mut self, key: String, value: Option<&T>, found: bool, now: Millis) {
        let text = value.and_then(|v| serde_json::to_string(v).ok()).unwrap_or_default();
        self.cache.push((key, CacheEntry { found, value: text, fetched_at: now }));
    }

    /// `calls` requests to `provider` answered with `hits` results.
    pub fn answered(&mut self, provider: &'static str, calls: u64, hits: u64, misses: u64) {
        let spend = self.spend.entry(provider).or_default();
        spend.calls += calls;
        spend.hits += hits;
        spend.misses += misses;
    }

    /// What `provider` billed.
    pub fn bill(&mut self, provider: &'static str, credits: f64, dollars: f64) {
        let spend = self.spend.entry(provider).or_default();
        spend.credits += credits;
        spend.dollars += dollars;
        self.dollars += dollars;
    }
}

pub struct Session<'a> {
    pub hunter: &'a Hunter,
    pub zerobounce: Option<&'a ZeroBounce>,
    pub verifier: Verifier,
    /// The store's cached answer for a key.
    pub lookup: &'a dyn Fn(&str) -> Option<CacheEntry>,
    /// Shared by the sessions running at once.
    pub budget: &'a RefCell<Budget>,
    pub now: Millis,
    pub ledger: RefCell<Ledger>,
    /// The price taken for the step under way: (provider, credits, dollars).
    taken: Cell<Option<(ProviderKind, f64, f64)>>,
    /// DNS for the free MX step (`None`: the step is off).
    mx: Option<&'a MailResolver>,
}

impl<'a> Session<'a> {
    pub fn new(
        hunter: &'a Hunter,
        zerobounce: Option<&'a ZeroBounce>,
        verifier: Verifier,
        lookup: &'a dyn Fn(&str) -> Option<CacheEntry>,
        budget: &'a RefCell<Budget>,
        now: Millis,
    ) -> Session<'a> {
        Session {
            hunter,
            zerobounce,
            verifier,
            lookup,
            budget,
            now,
            ledger: RefCell::default(),
            taken: Cell::new(None),
            mx: None,
        }
    }

    /// Asks `resolver` whether domains take mail before paying for their addresses.
    pub fn with_mx(mut self, resolver: Option<&'a MailResolver>) -> Session<'a> {
        self.mx = resolver;
        self
    }

    /// The allowance the waterfall asks before each paid step.
    pub fn allowance(&self) -> SessionAllowance<'_, 'a> {
        SessionAllowance(self)
    }

    fn verifier_kind(&self) -> (ProviderKind, f64) {
        match (self.verifier, self.zerobounce) {
            (Verifier::Zerobounce, Some(_)) => (ProviderKind::Zerobounce, ZEROBOUNCE_CREDITS),
            _ => (ProviderKind::Hunter, HUNTER_VERIFY_CREDITS),
        }
    }

    /// A fresh cached answer, counted as a cache hit (its price given back).
    fn cached<T: serde::de::DeserializeOwned>(
        &self,
        provider: ProviderKind,
        key: &str,
        op: Op,
    ) -> Option<Option<T>> {
        let found = self.ledger.borrow_mut().cached(provider.name(), (self.lookup)(key), op, self.now)?;
        self.give_back();
        Some(found)
    }

    fn remember<T: serde::Serialize>(&self, key: String, value: Option<&T>, found: bool) {
        self.ledger.borrow_mut().keep(key, value, found, self.now);
    }

    /// The step under way was billed: its price stays spent.
    fn billed(&self, provider: ProviderKind) {
        if let Some((_, credits, dollars)) = self.taken.take() {
            self.ledger.borrow_mut().bill(provider.name(), credits, dollars);
        }
    }

    /// The step under way cost nothing: its price goes back to the budget.
    fn give_back(&self) {
        if let Some((provider, credits, _)) = self.taken.take() {
            self.budget.borrow_mut().refund(provider, credits);
        }
    }

    fn called(&self, provider: ProviderKind, hit: bool) {
        self.ledger.borrow_mut().answered(provider.name(), 1, u64::from(hit), u64::from(!hit));
    }
}

impl EmailProviders for Session<'_> {
    async fn count(&self, at: &At) -> Result<u64, FetchError> {
        let key = cache::key("hunter", Op::Count, &[&at.key()]);
        if let Some(cached) = self.cached::<u64>(ProviderKind::Hunter, &key, Op::Count) {
            return Ok(cached.unwrap_or(0));
        }
        let count = self.hunter.count(at).await?;
        self.called(ProviderKind::Hunter, count > 0);
        self.remember(key, (count > 0).then_some(&count), count > 0);
        Ok(count)
    }

    async fn find(&self, first: &str, last: &str, at: &At) -> Result<Finding, FetchError> {
        let key = cache::key("hunter", Op::Find, &[first, last, &at.key()]);
        if let Some(cached) = self.cached::<Finding>(ProviderKind::Hunter, &key, Op::Find) {
            return Ok(cached.unwrap_or(Finding::NotFound { domain: None }));
        }
        let finding = self.hunter.find(first, last, at).await?;
        let found = matches!(finding, Finding::Found { .. });
        self.called(ProviderKind::Hunter, found);
        if found {
            self.billed(ProviderKind::Hunter)
        } else {
            self.give_back()
        }
        // A miss that resolved a company's domain is remembered with it.
        let worth_keeping = found || matches!(&finding, Finding::NotFound { domain: Some(_) });
        self.remember(key, worth_keeping.then_some(&finding), found);
        Ok(finding)
    }

    async fn verify(&self, email: &str) -> Result<Verification, FetchError> {
        let (provider, _) = self.verifier_kind();
        let key = cache::key(provider.name(), Op::Verify, &[email]);
        if let Some(Some(cached)) = self.cached::<Verification>(provider, &key, Op::Verify) {
            return Ok(cached);
        }
        let verification = match (provider, self.zerobounce) {
            (ProviderKind::Zerobounce, Some(zb)) => {
                let v = zb.validate(email).await?;
                if !v.billed {
                    self.give_back();
                }
                // ZeroBounce's `unknown` (greylisted, a mail server down) is no verdict:
                // not billed, not cached, asked again later like Hunter's 222.
                if v.status == EmailStatus::Unknown {
                    Verification::RetryLater
                } else {
                    Verification::Done { status: v.status, raw_status: v.raw_status, score: 0 }
                }
            }
            _ => self.hunter.verify(email).await?,
        };
        let settled =
            matches!(&verification, Verification::Done { status, .. } if *status != EmailStatus::Pending);
        self.called(provider, settled);
        // Billed when a verdict came back; a pending or inconclusive check is asked again later.
        if settled {
            self.billed(provider);
            self.remember(key, Some(&verification), true);
        } else {
            self.give_back();
        }
        Ok(verification)
    }

    fn verifier(&self) -> &'static str {
        self.verifier_kind().0.name()
    }

    async fn mail_domain(&self, domain: &str) -> MailDomain {
        match self.mx {
            Some(resolver) => resolver.mail_domain(domain).await,
            None => MailDomain::Unknown,
        }
    }
}

/// The session's budget, as the waterfall asks it.
pub struct SessionAllowance<'s, 'a>(&'s Session<'a>);

impl Allowance for SessionAllowance<'_, '_> {
    fn allows(&mut self, step: Paid) -> bool {
        let session = self.0;
        let (provider, credits) = match step {
            Paid::Find => (ProviderKind::Hunter, HUNTER_FIND_CREDITS),
            Paid::Verify => session.verifier_kind(),
        };
        let lead_spent = session.ledger.borrow().dollars;
        match session.budget.borrow_mut().take(provider, credits, lead_spent) {
            Ok(dollars) => {
                session.taken.set(Some((provider, credits, dollars)));
                true
            }
            Err(refusal) => {
                tracing::info!("enrichment step not taken: {refusal}");
                false
            }
        }
    }
}
