//! The collection commands: `run` (the configured campaign against the real
//! vendors), `demo` (the built-in campaign against the sandbox vendors) and
//! `check` (one line per configured connection). Terminal progress bars while
//! a run goes, the KPI table at its end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::watch;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use leadsprint::alerts::{self, Alerting};
use leadsprint::config::{self, DEFAULT_CAMPAIGN, Flags, Settings};
use leadsprint::engine::{self, RunOptions, stats::RunStats};
use leadsprint::enrich::runner::{self, EnrichStats, StageOptions};

use super::enrich::{enrichment_progress, print_enrichment};
use leadsprint::pipeline::{Intake, Writer};
use leadsprint::server::{AppState, Campaign, Sprint};
use leadsprint::sources::sandbox::faults::FaultRates;
use leadsprint::sources::sandbox::{Sandbox, SandboxConfig, salesnav};
use leadsprint::stats::human_duration;
use leadsprint::stats::{Stats, kpis};
use leadsprint::store::Store;
use tokio_util::sync::CancellationToken;

use super::serve::{BindArgs, Server};

/// Exit code of a run that ended before its target (queries exhausted or failed).
pub const EXIT_SHORT_OF_TARGET: u8 = 4;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Campaign file (TOML); the built-in ten-workflow campaign when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Unique leads to stop at (overrides the campaign's target).
    #[arg(long)]
    target: Option<u64>,
    /// Also serve the web UI (dashboard, pause/resume, explorer) while the sprint runs.
    #[arg(long)]
    ui: bool,
    #[command(flatten)]
    bind: BindArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Terminal progress only: no web UI.
    #[arg(long)]
    headless: bool,
    #[command(flatten)]
    bind: BindArgs,
    /// Unique leads to stop at.
    #[arg(long)]
    target: Option<u64>,
    /// Sandbox clock speed-up: rate limits, delays and timeouts all scale (1–10000).
    /// At 30 collection takes a few seconds and enrichment, bound by Hunter's 500
    /// calls a minute, a minute and a half.
    #[arg(long, default_value_t = 30.0)]
    speed: f64,
    /// Seed of the sandbox population and its faults.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start over: clear the demo data dir first.
    #[arg(long)]
    fresh: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long)]
    config: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

pub(super) fn load_settings(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &Flags,
) -> anyhow::Result<Settings> {
    let (origin, text) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading campaign file {}", p.display()))?;
            (p.display().to_string(), text)
        }
        None => ("built-in campaign".to_owned(), DEFAULT_CAMPAIGN.to_owned()),
    };
    Ok(config::load(config::Source { origin: &origin, text: &text }, env, flags)?)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub fn run(dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.config.as_deref(), &process_env, &Flags { target: args.target })?;
    let intake = Intake::start(Writer::new(Store::open(dir)?)?);
    let ui = args.ui.then_some(&args.bind);
    let outcome = runtime()?.block_on(sprint(dir, &settings, &intake, 1.0, "run", ui));
    intake.finish()?;
    Ok(outcome?.code)
}

/// The sprint, watched in the terminal, and with `ui` also in the web UI, which —
/// when started from a terminal — stays up after a sprint that was not interrupted,
/// until Ctrl-C.
async fn sprint(
    dir: &Path,
    settings: &Settings,
    intake: &Intake,
    speed: f64,
    mode: &'static str,
    ui: Option<&BindArgs>,
) -> anyhow::Result<Outcome> {
    let (tx, rx) = watch::channel(RunStats::default());
    let enrichment = Enrichment::channels();
    let sprint = Arc::new(
        Sprint::new(mode, rx).with_enrichment(enrichment.stats.subscribe(), enrichment.pause.clone()),
    );
    let server = match ui {
        None => None,
        Some(bind) => Some(
            Server::start(dir, bind, |access| {
                AppState::new(intake.store(), intake.index(), access, Campaign::of(settings))
                    .with_intake(intake.sender())
                    .with_sprint(sprint.clone())
            })
            .await?,
        ),
    };
    let outcome = collect(settings, intake, speed, Some(sprint), tx, enrichment).await;
    if let Some(server) = server {
        // Someone at a terminal can explore the results; a script gets its exit.
        let interactive = std::io::stdin().is_terminal();
        if interactive && outcome.as_ref().is_ok_and(|o| !o.interrupted) {
            println!("the sprint is over; the UI stays at {} — Ctrl-C to stop", server.url);
            let _ = tokio::signal::ctrl_c().await;
        }
        server.stop().await?;
    }
    outcome
}

/// The built-in campaign as configured by nothing but its defaults (what a server
/// without a sprint measures against).
pub fn builtin_settings() -> anyhow::Result<Settings> {
    load_settings(None, &|_| None, &Flags::default())
}

/// The environment variables of the alert sinks, which the demo takes from the
/// user's environment (everything else it takes from the sandbox).
const ALERT_VARIABLES: [&str; 3] = ["LEADSPRINT_SLACK_", "LEADSPRINT_SMTP_", "LEADSPRINT_ALERT_"];

/// Marks a data dir as the demo's, so `--fresh` never clears real data.
const DEMO_MARKER: &str = "demo.marker";

pub fn demo(dir: &Path, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && (1.0..=10_000.0).contains(&args.speed)) {
        anyhow::bail!("--speed {} is out of range: use 1 to 10000", args.speed);
    }
    let fresh_store = prepare_demo_dir(dir, args.fresh)?;
    let intake = Intake::start(Writer::new(Store::open(dir)?)?);
    let outcome = runtime()?.block_on(async {
        let config = SandboxConfig {
            seed: args.seed,
            speed: args.speed,
            faults: FaultRates::DEMO,
            ..SandboxConfig::default()
        };
        let key = config.api_key.clone();
        let sandbox = Sandbox::start(config).await.context("starting the sandbox vendors")?;
        eprintln!("sandbox vendors on http://{} (speed x{}, seed {})", sandbox.addr, args.speed, args.seed);
        if fresh_store {
            drop_salesnav_exports(&sandbox, dir)?;
        }
        // Vendors are the sandbox's; alerts go where the user's environment says.
        let env = |name: &str| match ALERT_VARIABLES.iter().any(|p| name.starts_with(p)) {
            true => process_env(name),
            false => sandbox.env(&key, name),
        };
        let settings = load_settings(None, &env, &Flags { target: args.target })?;
        let ui = (!args.headless).then_some(&args.bind);
        let outcome = sprint(dir, &settings, &intake, args.speed, "demo", ui).await;
        sandbox.stop().await;
        outcome
    });
    intake.finish()?;
    Ok(outcome?.code)
}

/// The Sales Navigator exports a team would drop in the two workflows' inboxes.
fn drop_salesnav_exports(sandbox: &Sandbox, dir: &Path) -> anyhow::Result<()> {
    let inbox = dir.join("inbox");
    for (folder, families) in salesnav::DEMO_SEGMENTS {
        let path = inbox.join(folder);
        let files = salesnav::write_exports(sandbox.population(), &path, families, 500)
            .with_context(|| format!("writing sandbox exports to {}", path.display()))?;
        eprintln!("dropped {files} Sales Navigator export files in {}", path.display());
    }
    Ok(())
}

/// Makes `dir` the demo's; returns whether its store starts empty.
fn prepare_demo_dir(dir: &Path, fresh: bool) -> anyhow::Result<bool> {
    let marker = dir.join(DEMO_MARKER);
    let has_store = dir.join(leadsprint::store::DB_FILE).exists();
    if has_store && !marker.exists() {
        anyhow::bail!(
            "{} holds a store that is not the demo's; pass another --data-dir for the demo (default ./leadsprint-demo)",
            dir.display()
        );
    }
    if fresh && has_store {
        std::fs::remove_file(dir.join(leadsprint::store::DB_FILE))
            .with_context(|| format!("clearing the demo store in {}", dir.display()))?;
        // What was derived from the old store goes with it: the search index, and
        // CRM export watermarks that name its lead ids.
        for derived in ["inbox", "search", "exports"] {
            let path = dir.join(derived);
            if path.exists() {
                std::fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&marker, b"created by leadsprint demo\n")
        .with_context(|| format!("writing {}", marker.display()))?;
    Ok(fresh || !has_store)
}

/// How a sprint ended, for the caller.
struct Outcome {
    code: ExitCode,
    /// Stopped by Ctrl-C (rather than by its target or exhausted queries).
    interrupted: bool,
}

/// The enrichment stage's progress and pause switch, shared with the web UI.
struct Enrichment {
    stats: watch::Sender<EnrichStats>,
    pause: watch::Sender<bool>,
}

impl Enrichment {
    fn channels() -> Enrichment {
        Enrichment { stats: watch::channel(EnrichStats::default()).0, pause: watch::channel(false).0 }
    }
}

/// Runs the engine over `intake` with progress bars and Ctrl-C handling, and the
/// enrichment stage beside it and after it, then prints the KPIs. `sprint` (the web
/// UI's view of it) gets its controls.
async fn collect(
    settings: &Settings,
    intake: &Intake,
    speed: f64,
    sprint: Option<Arc<Sprint>>,
    tx: watch::Sender<RunStats>,
    enrichment: Enrichment,
) -> anyhow::Result<Outcome> {
    let bars = tokio::spawn(render(tx.subscribe(), settings.target));
    let (control_tx, control_rx) = tokio::sync::oneshot::channel();
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let stop_enrichment = CancellationToken::new();
    let stop_stage = stop_enrichment.clone();
    let ctrl_c = tokio::spawn(async move {
        let Ok(control) = control_rx.await else { return };
        let control: engine::Control = control;
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopping: committing the pages in flight (Ctrl-C again to abort)");
            flag.store(true, Ordering::Relaxed);
            control.cancel.cancel();
            stop_stage.cancel();
            // Every committed page is safe: a second Ctrl-C may end the process at once.
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let alerts = SprintAlerts::start(settings, intake, speed, tx.subscribe())?;
    let (collecting_tx, collecting) = watch::channel(true);
    let collection = async {
        let result = engine::run_on(
            settings,
            intake,
            RunOptions { speed, plan: Some(alerts.plan.clone()) },
            tx,
            |control| {
                if let Some(sprint) = &sprint {
                    sprint.set_control(control.clone());
                }
                let _ = control_tx.send(control);
            },
        )
        .await;
        collecting_tx.send_replace(false);
        let _ = bars.await;
        result
    };
    let options = StageOptions {
        speed,
        only: None,
        collecting,
        paused: enrichment.pause.subscribe(),
        cancel: stop_enrichment,
    };
    let stage =
        runner::run(&settings.enrichment, intake.store(), intake.sender(), options, enrichment.stats.clone());
    let progress = enrichment_progress(enrichment.stats.subscribe(), settings.enrichment.enabled);
    let (result, enriched, ()) = tokio::join!(collection, stage, progress);
    ctrl_c.abort();
    let last = result?;
    let enriched = enriched.context("enrichment")?;
    if !intake.flush().await {
        anyhow::bail!("the writer stopped before enrichment's results were committed");
    }
    alerts.finish(settings, intake, &last).await?;
    print_report(settings, &last, &intake.store(), &enriched)?;
    let code = if last.unique_leads >= settings.target {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SHORT_OF_TARGET)
    };
    Ok(Outcome { code, interrupted: interrupted.load(Ordering::Relaxed) })
}

/// The sprint's plan and its alerting, running beside it.
struct SprintAlerts {
    plan: Arc<leadsprint::plan::Forecast>,
    task: tokio::task::JoinHandle<Alerting>,
    stop: CancellationToken,
}

impl SprintAlerts {
    /// Plans the sprint (kept for the report), then starts its alert rules.
    fn start(
        settings: &Settings,
        intake: &Intake,
        speed: f64,
        stats: watch::Receiver<RunStats>,
    ) -> anyhow::Result<SprintAlerts> {
        let rows = leadsprint::plan::inbox_rows(intake.store().dir(), settings);
        let plan = Arc::new(leadsprint::plan::forecast(settings, &rows));
        let alerting = Alerting::start(settings, intake.store(), speed).context("starting alerts")?;
        remember(&intake.store(), leadsprint::report::PLAN_KEY, &plan.summary())?;
        let stop = CancellationToken::new();
        let watch = alerts::sprint::watch(
            alerting,
            settings.clone(),
            intake.store(),
            stats,
            Some(plan.clone()),
            stop.clone(),
        );
        Ok(SprintAlerts { plan, task: tokio::spawn(watch), stop })
    }

    /// Keeps the run's summary beside its plan, and sends the sprint's last alerts.
    async fn finish(self, settings: &Settings, intake: &Intake, last: &RunStats) -> anyhow::Result<()> {
        let summary = leadsprint::report::RunSummary {
            target: settings.target,
            unique_leads: last.unique_leads,
            vendor_seconds: last.vendor_elapsed_seconds,
            leads_per_hour: last.leads_per_hour,
            reached_target: last.unique_leads >= settings.target,
            vendor_cost: last.cost,
        };
        remember(&intake.store(), leadsprint::report::LAST_RUN_KEY, &summary)?;
        self.stop.cancel();
        if let Ok(alerting) = self.task.await {
            alerts::sprint::finish(alerting, settings, &intake.store(), last, Some(&self.plan)).await;
        }
        Ok(())
    }
}

/// Keeps `value` with the sprint's own records (the report reads them).
fn remember(store: &Store, key: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec(value)?;
    store.put_named(leadsprint::store::Named::Run, &[(key.to_owned(), bytes)], &[])?;
    Ok(())
}

/// Draws one bar for the campaign and a line per workflow until the run finishes.
async fn render(mut rx: watch::Receiver<RunStats>, target: u64) {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>14} [{bar:40}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let overall = multi.add(ProgressBar::new(target).with_style(style).with_prefix("unique leads"));
    let line = ProgressStyle::with_template("{prefix:>42} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut rows: Vec<ProgressBar> = Vec::new();
    while rx.changed().await.is_ok() {
        let stats = rx.borrow_and_update().clone();
        overall.set_position(stats.unique_leads.min(target));
        let eta = stats.eta_seconds.map_or(String::new(), |s| format!(", eta {}", human_duration(s)));
        overall.set_message(format!("{:.0}/h{eta}, ${:.2}", stats.leads_per_hour, stats.cost));
        for (i, w) in stats.workflows.iter().enumerate() {
            if rows.len() <= i {
                rows.push(
                    multi
                        .add(ProgressBar::new_spinner().with_style(line.clone()).with_prefix(w.name.clone())),
                );
            }
            rows[i].set_message(format!(
                "{:<8} req {:>5} ({:>4.1}/s of {:.1}) rec {:>6} new {:>6} dup {:>5} err {:>3}",
                w.state.label(),
                w.requests,
                w.achieved_rate,
                w.allowed_rate,
                w.records,
                w.new_leads,
                w.duplicates,
                w.errors.values().sum::<u64>()
            ));
        }
        if stats.finished {
            break;
        }
    }
    for row in rows {
        row.finish_and_clear();
    }
    overall.finish_and_clear();
}

fn print_report(
    settings: &Settings,
    last: &RunStats,
    store: &Store,
    enriched: &EnrichStats,
) -> anyhow::Result<()> {
    let reader = store.reader()?;
    let stats = Stats::from(&reader.counters()?);
    let cost = last.cost + reader.enrichment_cost()?;
    println!(
        "\n{:<44} {:>8} {:>6} {:>7} {:>7} {:>6} {:>6} {:>9}",
        "workflow", "state", "req", "records", "new", "dup", "err", "cost"
    );
    for w in &last.workflows {
        println!(
            "{:<44} {:>8} {:>6} {:>7} {:>7} {:>6} {:>6} {:>9.2}",
            w.name,
            w.state.label(),
            w.requests,
            w.records,
            w.new_leads,
            w.duplicates,
            w.errors.values().sum::<u64>(),
            w.cost
        );
        if let engine::stats::WorkflowState::Failed(why) | engine::stats::WorkflowState::Paused(why) =
            &w.state
        {
            println!("{:<44} {why}", "");
        }
    }
    print_enrichment(enriched);
    println!("\ncost: vendors ${:.2} + enrichment ${:.2} = ${cost:.2}", last.cost, cost - last.cost);
    println!("\n{:<28} {:>12} {:>12}  result", "KPI", "value", "threshold");
    for k in kpis(&stats, &settings.kpi, cost, last.leads_per_hour) {
        let verdict = if k.pass { "pass" } else { "FAIL" };
        let value = if k.value.is_finite() { format!("{:.2}", k.value) } else { "n/a".to_owned() };
        println!("{:<28} {value:>12} {:>12}  {verdict}", k.name, k.threshold);
    }
    println!(
        "\n{} unique leads of {} target in {:.1} s",
        last.unique_leads, settings.target, last.elapsed_seconds
    );
    Ok(())
}

fn dollars(value: Option<f64>) -> String {
    value.map_or_else(|| "unbounded".to_owned(), |d| format!("${d:.2}"))
}

/// The most a run could cost, before any spend: per workflow, vendor and campaign.
fn print_cost_ceiling(ceiling: &leadsprint::sources::check::CostCeiling) {
    println!("\nmost a run can cost (before any spend):");
    for b in &ceiling.workflows {
        println!("  {:<44} {:>12}  {}", b.workflow, dollars(b.dollars), b.how);
    }
    for v in &ceiling.vendors {
        let cap = v.cap.map_or_else(|| "none of its own".to_owned(), |c| format!("${c:.2}"));
        let name = format!("{} at most", v.vendor.name());
        println!("  {name:<44} {:>12}  workflows {}, cap {cap}", dollars(v.most), dollars(v.workflows));
    }
    println!(
        "  {:<44} {:>12}  campaign.spend_cap ${:.2}\n",
        "campaign at most",
        format!("${:.2}", ceiling.campaign),
        ceiling.campaign_cap
    );
}

/// Enrichment's estimate over the leads already in `dir` (none before a first run:
/// then the most the campaign's caps allow).
fn print_enrichment_estimate(dir: &Path, settings: &Settings) {
    let e = &settings.enrichment;
    if !e.enabled {
        return;
    }
    // A store a running server holds is not read here: the caps still say the most.
    let store =
        dir.join(leadsprint::store::DB_FILE).exists().then(|| Store::open_existing(dir).ok()).flatten();
    let planned = store.and_then(|s| {
        let reader = s.reader().ok()?;
        leadsprint::enrich::estimate::estimate(e, &reader, None).ok()
    });
    match planned {
        Some(planned) => super::enrich::print_estimate(&planned),
        None => println!(
            "enrichment at most: ${:.2} (enrichment.spend_cap), ${:.2} a lead (per_lead_ceiling)\n",
            e.spend_cap, e.per_lead_ceiling
        ),
    }
}

/// `leadsprint check`: one line per configured connection.
pub fn check(dir: &Path, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.config.as_deref(), &process_env, &Flags::default())?;
    let runtime = runtime()?;
    let results = runtime.block_on(leadsprint::sources::check::all(&settings));
    let mut failed = false;
    for line in results {
        failed |= !line.ok;
        println!("{} {:<12} {}", if line.ok { "ok  " } else { "FAIL" }, line.name, line.detail);
    }
    print_cost_ceiling(&leadsprint::sources::check::cost_ceiling(&settings));
    print_enrichment_estimate(dir, &settings);
    for (name, result) in runtime.block_on(super::export::check_all()) {
        let (mark, detail) = match result {
            Some(Ok(detail)) => ("ok  ", detail),
            Some(Err(e)) => ("FAIL", e.to_string()),
            None => ("-   ", "export not configured".to_owned()),
        };
        failed |= mark == "FAIL";
        println!("{mark} {name:<12} {detail}");
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
