//! `leadsprint enrich`: the enrichment stage over the leads already in the store
//! (collected, or imported from a file), all of them or those a search names, with
//! all providers or one; `--dry-run` prints what it would spend and calls no one.
//! Also the enrichment lines `run`, `demo` and `check` print.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use leadsprint::config::{EnrichmentSettings, Flags};
use leadsprint::enrich::estimate::{Estimate, estimate};
use leadsprint::enrich::runner::{self, EnrichStats, StageOptions, StageState};
use leadsprint::pipeline::{Intake, Writer};
use leadsprint::store::Store;

/// Exit code of an enrichment stopped short (a quota, a cap, a missing key).
const EXIT_STOPPED: u8 = 5;

#[derive(Debug, Args)]
pub struct EnrichArgs {
    /// Campaign file (TOML) whose `[enrichment]` section applies; the built-in one when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only the leads this search names, e.g. 'vendor:brightdata AND NOT email_status:valid'.
    #[arg(long)]
    query: Option<String>,
    /// Only this provider: hunter (emails, and company data) or apollo (company data).
    #[arg(long, value_parser = ["hunter", "apollo"])]
    provider: Option<String>,
    /// Print what it would spend, call no one.
    #[arg(long)]
    dry_run: bool,
    /// Providers' clock speed-up (for their sandbox twins; 1 against the real APIs).
    #[arg(long, default_value_t = 1.0, hide = true)]
    speed: f64,
}

pub fn enrich(dir: &Path, args: EnrichArgs) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let mut settings = super::collect::load_settings(args.config.as_deref(), &env, &Flags::default())?;
    let enrichment = &mut settings.enrichment;
    // Asking for enrichment turns it on, whatever the campaign says for its runs.
    enrichment.enabled = true;
    if let Some(only) = &args.provider {
        keep_only(enrichment, only);
    }
    let store =
        Store::open_existing(dir).with_context(|| format!("opening the store in {}", dir.display()))?;
    let intake = Intake::start(Writer::new(store)?);
    let only = match &args.query {
        Some(query) => {
            let now = leadsprint::pipeline::now_millis();
            let ids = leadsprint::catalog::matching_ids(&intake.store(), &intake.index(), query, now)?;
            Some(ids.into_iter().collect::<HashSet<_>>())
        }
        None => None,
    };
    let planned = estimate(&settings.enrichment, &intake.store().reader()?, only.as_ref())?;
    print_estimate(&planned);
    if args.dry_run {
        intake.finish()?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let stats = runtime.block_on(async {
        let (tx, rx) = watch::channel(EnrichStats::default());
        let options = StageOptions {
            speed: args.speed,
            only,
            collecting: watch::channel(false).1,
            paused: watch::channel(false).1,
            cancel: stop_on_ctrl_c(),
        };
        let stage = runner::run(&settings.enrichment, intake.store(), intake.sender(), options, tx);
        let (stats, ()) = tokio::join!(stage, enrichment_progress(rx, true));
        stats
    })?;
    intake.finish()?;
    print_enrichment(&stats);
    Ok(if stats.state == StageState::Done { ExitCode::SUCCESS } else { ExitCode::from(EXIT_STOPPED) })
}

/// Leaves only `provider`'s key: the others are skipped as if unset.
fn keep_only(settings: &mut EnrichmentSettings, provider: &str) {
    for (kind, p) in settings.providers.iter_mut() {
        if kind.name() != provider {
            p.key.value = None;
        }
    }
}

fn stop_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: the results in flight are committed; what was not asked is asked next time");
            token.cancel();
        }
    });
    cancel
}

/// The pre-flight estimate, as `enrich` and `check` print it.
pub(super) fn print_estimate(e: &Estimate) {
    let basis = if e.find_rate_measured { "this store's" } else { "a typical finder's" };
    println!(
        "enrichment estimate: {} leads owe a step; {} company domains (${:.2}) + {} leads without a usable email x {:.0}% found ({basis} rate) (${:.2}) = ${:.2}, ${:.2} left under enrichment.spend_cap",
        e.leads,
        e.domains,
        e.company_cost,
        e.without_email,
        e.find_rate * 100.0,
        e.finder_cost,
        e.total,
        e.cap_left
    );
}

/// A line on the terminal every few seconds while enrichment runs on after collection.
pub(super) async fn enrichment_progress(mut rx: watch::Receiver<EnrichStats>, enabled: bool) {
    if !enabled {
        return;
    }
    let bar = ProgressBar::new_spinner().with_prefix("enrichment");
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} {spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    while rx.changed().await.is_ok() {
        let s = rx.borrow_and_update().clone();
        bar.set_message(format!(
            "queue {}, {} leads checked, {} emails found, {} companies filled, ${:.2}",
            s.queue, s.leads_done, s.emails_found, s.companies_filled, s.spent
        ));
        bar.tick();
        if matches!(s.state, StageState::Done | StageState::Stopped) {
            break;
        }
    }
    bar.finish_and_clear();
}

pub(super) fn print_enrichment(enriched: &EnrichStats) {
    if enriched.state == StageState::Off {
        return;
    }
    println!(
        "\nenrichment: {} leads checked, {} emails found, {} companies filled, ${:.2} of ${:.2}",
        enriched.leads_done, enriched.emails_found, enriched.companies_filled, enriched.spent, enriched.cap
    );
    for (name, p) in &enriched.providers {
        let s = &p.spend;
        if s.calls + s.cache_hits == 0 {
            continue;
        }
        println!(
            "  {name:<12} calls {:>6}  hits {:>6}  misses {:>6}  cache hits {:>6}  credits {:>9.1}  ${:.2}",
            s.calls, s.hits, s.misses, s.cache_hits, s.credits, s.dollars
        );
    }
    for note in &enriched.notes {
        println!("  {note}");
    }
}
