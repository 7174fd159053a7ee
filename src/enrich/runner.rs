//! The enrichment stage as a background task, beside collection and after it. It
//! follows the store's changes (every lead committed, by sequence), learns which
//! domain each company name and company page stands for from the leads that carry
//! both, and enriches each lead once: company data once per registrable domain (ten
//! a call), then the email waterfall, several leads at a time under the providers'
//! own limits. Results go back through the single writer; a lead whose check is
//! still running at the provider is asked again later, never bought twice.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{EnrichmentSettings, ProviderKind, Verifier};
use crate::enrich::apollo_org::ApolloOrg;
use crate::enrich::apollo_org::Organization;
use crate::enrich::budget::Budget;
use crate::enrich::hunter::Hunter;
use crate::enrich::mx::MailResolver;
use crate::enrich::queue::Queue;
use crate::enrich::session::{Ledger, Session};
use crate::enrich::stage;
use crate::enrich::waterfall::{Outcome, Paid, Policy};
use crate::enrich::zerobounce::ZeroBounce;
use crate::enrich::{cache, company};
use crate::http::FetchError;
use crate::lead::{Lead, LeadId, Millis};
use crate::pipeline::{Enriched, IntakeSender, Item, Job, PipelineError, now_millis};
use crate::store::{CacheEntry, ProviderSpend, Store, StoreError};

/// Leads whose email waterfall runs at once (each call still waits for its provider's
/// limiter; enough in flight to keep it busy across network latency and slow checks).
const CONCURRENT_LEADS: usize = 16;
/// How often the store is read for new leads (real time).
const IDLE: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Where the stage is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    /// Enrichment is off for this campaign.
    #[default]
    Off,
    Running,
    Paused,
    /// Nothing left to enrich.
    Done,
    /// Stopped early (a quota, a missing key, a cap): see the note.
    Stopped,
}

impl StageState {
    /// Running or paused: it can still be steered.
    pub fn is_active(self) -> bool {
        matches!(self, StageState::Running | StageState::Paused)
    }
}

/// One provider's figures (the store's, over its life) against its caps.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderView {
    #[serde(flatten)]
    pub spend: ProviderSpend,
    pub credits_cap: Option<f64>,
    pub spend_cap: Option<f64>,
}

/// What the dashboard's Enrichment panel and the CLI show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnrichStats {
    pub state: StageState,
    /// Why it stopped, or what limits it (a cap reached, a provider's quota).
    pub notes: Vec<String>,
    /// Leads waiting for a step.
    pub queue: u64,
    /// Leads whose email waterfall ran this run, and those it gave an address.
    pub leads_done: u64,
    pub emails_found: u64,
    /// Leads whose company fields enrichment filled this run.
    pub companies_filled: u64,
    pub providers: BTreeMap<String, ProviderView>,
    /// Dollars enrichment has spent (the store's, over its life) and may spend.
    pub spent: f64,
    pub cap: f64,
}

/// The providers a campaign can use: those whose key is set.
pub struct Providers {
    pub hunter: Option<Hunter>,
    pub zerobounce: Option<ZeroBounce>,
    pub apollo: Option<ApolloOrg>,
    /// DNS for the free MX step, when the campaign checks MX.
    pub mx: Option<MailResolver>,
}

impl Providers {
    /// Clients for every provider with a key; the names of the missing keys.
    pub fn build(settings: &EnrichmentSettings, speed: f64) -> Result<(Providers, Vec<String>), EnrichError> {
        let timeout = Duration::from_secs(30);
        let mut missing = Vec::new();
        let mut key = |kind: ProviderKind| {
            let p = settings.providers.get(&kind)?;
            match &p.key.value {
                Some(secret) => Some((p, secret.clone())),
                None => {
                    missing.push(format!("{} is not set: {} is skipped", p.key.env, kind.name()));
                    None
                }
            }
        };
        let hunter = key(ProviderKind::Hunter);
        let zerobounce =
            if settings.verifier == Verifier::Zerobounce { key(ProviderKind::Zerobounce) } else { None };
        let apollo = if settings.company { key(ProviderKind::Apollo) } else { None };
        let providers = Providers {
            hunter: hunter
                .map(|(p, k)| Hunter::with_rate(&p.base_url, k, p.rate, timeout, speed))
                .transpose()?,
            zerobounce: zerobounce
                .map(|(p, k)| ZeroBounce::new(&p.base_url, k, p.rate, timeout, speed))
                .transpose()?,
            apollo: apollo
                .map(|(p, k)| ApolloOrg::new(&p.base_url, k, p.rate, timeout, speed))
                .transpose()?,
            mx: settings.mx_check.then(|| MailResolver::new(settings.dns_server)).and_then(|built| {
                built.map_err(|e| missing.push(format!("{e}: the MX step is skipped"))).ok()
            }),
        };
        Ok((providers, missing))
    }
}

/// How a run of the stage is asked for.
pub struct StageOptions {
    pub speed: f64,
    /// Only these leads (`leadsprint enrich --query`); every lead when `None`.
    pub only: Option<HashSet<LeadId>>,
    /// True while collection runs: the stage keeps following new leads until it turns false.
    pub collecting: watch::Receiver<bool>,
    pub paused: watch::Receiver<bool>,
    pub cancel: CancellationToken,
}

/// Company data found, by domain, with the provider that gave it.
type Organizations = BTreeMap<String, (Organization, &'static str)>;

/// What a step in flight came back with.
enum Done {
    Email {
        lead: Box<Lead>,
        outcome: Result<Outcome, FetchError>,
        ledger: Ledger,
        now: Millis,
    },
    Companies {
        by_domain: BTreeMap<String, Vec<Lead>>,
        answer: Result<(Organizations, Ledger), FetchError>,
        now: Millis,
    },
}

/// What the steps in flight share (read-only but for the budget and the recent answers).
struct Context<'a> {
    settings: &'a EnrichmentSettings,
    store: Arc<Store>,
    providers: Providers,
    budget: RefCell<Budget>,
    /// Answers sent to the writer but perhaps not committed yet.
    recent: RefCell<HashMap<String, CacheEntry>>,
}

/// The stage's own progress over one run.
struct Progress {
    queue: Queue,
    stats: EnrichStats,
    email_stopped: bool,
    company_stopped: bool,
    speed: f64,
}

/// Runs the stage until nothing is left (after collection ends) or `cancel`.
pub async fn run(
    settings: &EnrichmentSettings,
    store: Arc<Store>,
    tx: IntakeSender,
    options: StageOptions,
    publish: watch::Sender<EnrichStats>,
) -> Result<EnrichStats, EnrichError> {
    if !settings.enabled {
        return Ok(EnrichStats::default());
    }
    let (providers, missing) = Providers::build(settings, options.speed)?;
    let spent = store.reader()?.spend()?;
    let mut progress = Progress {
        queue: Queue::new(options.only.clone()),
        stats: EnrichStats {
            state: StageState::Running,
            notes: missing,
            cap: settings.spend_cap,
            ..EnrichStats::default()
        },
        email_stopped: providers.hunter.is_none(),
        company_stopped: providers.apollo.is_none(),
        speed: options.speed,
    };
    let ctx = Context {
        settings,
        store,
        budget: RefCell::new(Budget::new(settings, &spent)),
        providers,
        recent: RefCell::default(),
    };
    progress.read_account(&ctx).await;
    let mut flying: FuturesUnordered<LocalBoxFuture<'_, Done>> = FuturesUnordered::new();
    let mut companies_flying = false;
    let mut asking: HashSet<String> = HashSet::new();
    let mut last_look = None::<Instant>;
    loop {
        if options.cancel.is_cancelled() {
            break;
        }
        let collecting = *options.collecting.borrow();
        if last_look.is_none_or(|at| at.elapsed() >= IDLE) {
            let reader = ctx.store.reader()?;
            progress.queue.follow(&reader, settings, collecting)?;
            progress.queue.release(!collecting);
            progress.publish(&ctx, &publish)?;
            last_look = Some(Instant::now());
        }
        let paused = *options.paused.borrow();
        progress.stats.state = if paused { StageState::Paused } else { StageState::Running };
        if !paused {
            let reader = ctx.store.reader()?;
            if !companies_flying && !progress.company_stopped && progress.queue.has_companies() {
                let by_domain = progress.queue.next_companies(&reader, crate::enrich::apollo_org::BATCH)?;
                if !by_domain.is_empty() {
                    flying.push(Box::pin(companies(&ctx, by_domain, !progress.email_stopped)));
                    companies_flying = true;
                }
            }
            while let (false, Some(hunter)) = (progress.email_stopped, &ctx.providers.hunter)
                && flying.len() < CONCURRENT_LEADS + 1
            {
                // One person at a time: a second lead for the same name and company
                // waits for the first's answer (from the cache then, not billed twice).
                let busy = |lead: &Lead| asking.contains(&person_key(lead));
                let Some(lead) = progress.queue.next_email(&reader, busy)? else { break };
                asking.insert(person_key(&lead));
                flying.push(Box::pin(email(&ctx, hunter, lead)));
            }
        }
        if flying.is_empty() {
            let idle = progress.queue.finished(!progress.email_stopped, !progress.company_stopped);
            if !collecting && idle && !paused {
                // What this run wrote last may owe a step still (a domain the finder
                // resolved needs its company data): committed and read before the end.
                let (done, committed) = flume::bounded(1);
                tx.send_async(Job::Flush(done)).await?;
                let _ = committed.recv_async().await;
                let reader = ctx.store.reader()?;
                progress.queue.follow(&reader, settings, false)?;
                progress.queue.release(true);
                if progress.queue.finished(!progress.email_stopped, !progress.company_stopped) {
                    break;
                }
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = options.cancel.cancelled() => {}
            }
            continue;
        }
        tokio::select! {
            done = flying.next() => {
                if let Some(done) = done {
                    companies_flying &= !matches!(done, Done::Companies { .. });
                    if let Done::Email { lead, .. } = &done {
                        asking.remove(&person_key(lead));
                    }
                    if let Some(items) = progress.settle(&ctx, done) {
                        tx.send_async(Job::Items(items)).await?;
                    }
                }
            }
            _ = tokio::time::sleep(IDLE) => {}
            _ = options.cancel.cancelled() => {}
        }
    }
    if ctx.providers.mx.as_ref().is_some_and(MailResolver::gave_up) {
        let note = "DNS stopped answering (offline?): the MX step was skipped for the rest of the run";
        progress.stats.notes.push(note.to_owned());
    }
    progress.stats.state =
        if options.cancel.is_cancelled() || (progress.email_stopped && progress.company_stopped) {
            StageState::Stopped
        } else {
            StageState::Done
        };
    progress.publish(&ctx, &publish)?;
    Ok(progress.stats)
}

/// The cache keys that hold answers about `lead`'s person (erased with it): the
/// finder's question for their name, every verifier's check of each address
/// they held. Company answers are about companies, and stay.
pub fn cached_about(lead: &Lead) -> Vec<String> {
    let mut emails: Vec<&str> = lead.identity.emails.iter().map(String::as_str).collect();
    emails.extend(lead.email.as_deref());
    emails.extend(lead.absorbed.iter().filter_map(|a| a.email.as_deref()));
    emails.sort_unstable();
    emails.dedup();
    let verifiers = [ProviderKind::Hunter, ProviderKind::Zerobounce];
    let mut keys = vec![person_key(lead)];
    for email in emails {
        keys.extend(verifiers.iter().map(|v| cache::key(v.name(), cache::Op::Verify, &[email])));
    }
    keys
}

/// Who a lead's finder call asks for: the finder's own cache key, so two leads
/// wait for each other exactly when the second would be answered by the first.
fn person_key(lead: &Lead) -> String {
    let subject = stage::subject(lead);
    let name = |n: &Option<String>| n.clone().unwrap_or_default();
    let at = subject.at().map(|at| at.key()).unwrap_or_default();
    cache::key("hunter", cache::Op::Find, &[&name(&subject.first_name), &name(&subject.last_name), &at])
}

/// One lead's email waterfall.
async fn email<'c>(ctx: &'c Context<'c>, hunter: &'c Hunter, lead: Lead) -> Done {
    let settings = ctx.settings;
    let policy = Policy::of(settings);
    let now = now_millis();
    let lookup = |key: &str| ctx.cached(key);
    let zerobounce = ctx.providers.zerobounce.as_ref();
    let session = Session::new(hunter, zerobounce, settings.verifier, &lookup, &ctx.budget, now)
        .with_mx(ctx.providers.mx.as_ref());
    let outcome = stage::enrich_email(&lead, policy, &session).await;
    Done::Email { lead: Box::new(lead), outcome, ledger: session.ledger.into_inner(), now }
}

/// Company data for up to ten domains: Apollo's, then Hunter's for what Apollo does not know.
async fn companies(ctx: &Context<'_>, by_domain: BTreeMap<String, Vec<Lead>>, hunter_ok: bool) -> Done {
    let now = now_millis();
    let domains: Vec<String> = by_domain.keys().cloned().collect();
    let lookup = |key: &str| ctx.cached(key);
    let answer = async {
        let Some(apollo) = &ctx.providers.apollo else { return Ok((BTreeMap::new(), Ledger::default())) };
        let (found, mut ledger) = company::from_apollo(&domains, apollo, &lookup, &ctx.budget, now).await?;
        let mut all: Organizations = found.into_iter().map(|(d, o)| (d, (o, "apollo"))).collect();
        let missed: Vec<String> = domains.iter().filter(|d| !all.contains_key(*d)).cloned().collect();
        if let (Some(hunter), true, false) = (&ctx.providers.hunter, hunter_ok, missed.is_empty()) {
            match company::from_hunter(&missed, hunter, &lookup, &ctx.budget, now).await {
                Ok((more, extra)) => {
                    all.extend(more.into_iter().map(|(d, o)| (d, (o, "hunter"))));
                    ledger.absorb(extra);
                }
                Err(e) => tracing::warn!("Hunter's company data for {} domains failed: {e}", missed.len()),
            }
        }
        Ok((all, ledger))
    }
    .await;
    Done::Companies { by_domain, answer, now }
}

impl Context<'_> {
    /// A cached answer: one just sent to the writer, else the store's.
    fn cached(&self, key: &str) -> Option<CacheEntry> {
        if let Some(entry) = self.recent.borrow().get(key) {
            return Some(entry.clone());
        }
        self.store.cache_entry(key).ok()?
    }

    fn remember(&self, entries: &[(String, CacheEntry)]) {
        let mut recent = self.recent.borrow_mut();
        for (key, entry) in entries {
            recent.insert(key.clone(), entry.clone());
        }
    }
}

impl Progress {
    /// Reads the credits left at Hunter before the first paid call.
    async fn read_account(&mut self, ctx: &Context<'_>) {
        let Some(hunter) = &ctx.providers.hunter else { return };
        match hunter.account().await {
            Ok(credits) if credits.available > 0.0 && credits.used >= credits.available => {
                let why =
                    format!("Hunter's plan is used up ({} of {} credits)", credits.used, credits.available);
                self.stop(true, why);
            }
            Ok(credits) => tracing::info!("Hunter: {} of {} credits used", credits.used, credits.available),
            Err(e) if e.stops_vendor() => self.stop(true, format!("Hunter: {e}")),
            Err(e) => tracing::warn!("Hunter's account could not be read: {e}"),
        }
    }

    /// Stops the email (or company) step for the rest of the run, saying why.
    fn stop(&mut self, email: bool, why: String) {
        let (flag, step) =
            if email { (&mut self.email_stopped, "email") } else { (&mut self.company_stopped, "company") };
        if !*flag {
            self.stats.notes.push(format!("{step} enrichment stopped: {why}"));
        }
        *flag = true;
    }

    /// What a finished step comes to: the writer's items, and what happens next.
    fn settle(&mut self, ctx: &Context<'_>, done: Done) -> Option<Vec<Item>> {
        match done {
            Done::Email { lead, outcome, ledger, now } => {
                ctx.remember(&ledger.cache);
                self.settle_email(ctx, &lead, outcome, ledger, now).map(|e| vec![Item::Enriched(Box::new(e))])
            }
            Done::Companies { by_domain, answer, now } => {
                let (found, mut ledger) = match answer {
                    Ok(answer) => answer,
                    Err(e) => {
                        if e.stops_vendor() {
                            self.stop(false, format!("Apollo: {e}"));
                        } else {
                            tracing::warn!("company enrichment of {} domains failed: {e}", by_domain.len());
                        }
                        return None;
                    }
                };
                ctx.remember(&ledger.cache);
                let mut items = Vec::new();
                for (domain, leads) in by_domain {
                    for lead in leads {
                        let item = match found.get(&domain) {
                            Some((org, provider)) => {
                                self.stats.companies_filled += 1;
                                company::enriched(&lead, org, &domain, provider, now)
                            }
                            None => company::missed(&lead, &domain, now),
                        };
                        items.push(Item::Enriched(Box::new(item)));
                    }
                }
                // The calls' spend and cache travel with the first lead's result.
                if let Some(Item::Enriched(first)) = items.first_mut() {
                    first.spend = std::mem::take(&mut ledger.spend)
                        .into_iter()
                        .map(|(n, s)| (n.to_owned(), s))
                        .collect();
                    first.cache = std::mem::take(&mut ledger.cache);
                }
                Some(items)
            }
        }
    }

    fn settle_email(
        &mut self,
        ctx: &Context<'_>,
        lead: &Lead,
        outcome: Result<Outcome, FetchError>,
        ledger: Ledger,
        now: Millis,
    ) -> Option<Enriched> {
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                if e.stops_vendor() {
                    self.stop(true, format!("Hunter: {e}"));
                } else {
                    tracing::warn!("enrichment of lead {} failed, to be tried again: {e}", lead.id);
                    self.queue.retry(lead.id, self.speed);
                }
                // What the steps before the failure cost still counts.
                return (!ledger.spend.is_empty()).then(|| Enriched {
                    lead: lead.id,
                    spend: ledger.spend.into_iter().map(|(n, s)| (n.to_owned(), s)).collect(),
                    cache: ledger.cache,
                    ..Enriched::default()
                });
            }
        };
        if outcome.steps.contains(&Paid::Find) {
            let filled = outcome.email.as_ref().is_some_and(|f| f.status.is_usable());
            ctx.budget.borrow_mut().record_attempt(filled);
        }
        let again = outcome.pending.is_some() || outcome.retry_later;
        if again {
            self.queue.retry(lead.id, self.speed);
        }
        self.stats.leads_done += u64::from(!again);
        let found_new = outcome.email.as_ref().is_some_and(|f| {
            f.status.is_usable() && f.provider != "vendor" && Some(&f.address) != lead.email.as_ref()
        });
        self.stats.emails_found += u64::from(found_new);
        Some(stage::enriched(lead, &outcome, ledger, now))
    }

    fn publish(
        &mut self,
        ctx: &Context<'_>,
        publish: &watch::Sender<EnrichStats>,
    ) -> Result<(), EnrichError> {
        let spent = ctx.store.reader()?.spend()?;
        self.stats.providers = ctx
            .settings
            .providers
            .iter()
            .map(|(kind, p)| {
                let spend =
                    spent.iter().find(|(n, _)| n == kind.name()).map(|(_, s)| s.clone()).unwrap_or_default();
                (
                    kind.name().to_owned(),
                    ProviderView { spend, credits_cap: p.credits_cap, spend_cap: p.spend_cap },
                )
            })
            .collect();
        self.stats.spent = spent.iter().map(|(_, s)| s.dollars).sum();
        if let Some(refusal) = ctx.budget.borrow().refused().map(|r| format!("spending stopped: {r}"))
            && !self.stats.notes.contains(&refusal)
        {
            self.stats.notes.push(refusal);
        }
        self.stats.queue = self.queue.waiting() as u64;
        publish.send_replace(self.stats.clone());
        Ok(())
    }
}
