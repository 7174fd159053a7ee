//! `leadsprint plan`: the sprint's forecast before any spend; `leadsprint report`:
//! the technical report after it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use leadsprint::stats::human_duration;

use leadsprint::config::{Flags, Query, Settings};
use leadsprint::plan::{Forecast, InboxRows, forecast, inbox_rows};
use leadsprint::sources::sandbox::population::Population;
use leadsprint::sources::sandbox::salesnav;

use super::collect::load_settings;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Campaign file (TOML); the built-in campaign when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Unique leads to plan for (overrides the campaign's target).
    #[arg(long)]
    target: Option<u64>,
    /// Plan the demo: the built-in campaign with the exports the demo drops.
    #[arg(long)]
    demo: bool,
    /// Seed of the demo's sandbox population (with --demo).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn plan(dir: &Path, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let settings = load_settings(args.config.as_deref(), &env, &Flags { target: args.target })?;
    let rows = if args.demo { demo_inbox_rows(&settings, args.seed) } else { inbox_rows(dir, &settings) };
    let forecast = forecast(&settings, &rows);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&forecast)?);
    } else {
        print_forecast(&settings, &forecast);
    }
    Ok(ExitCode::SUCCESS)
}

/// The rows the demo drops in its two Sales Navigator inboxes.
fn demo_inbox_rows(settings: &Settings, seed: u64) -> InboxRows {
    let population = Population::generate(seed, leadsprint::sources::sandbox::DEMO_POPULATION);
    let mut rows = InboxRows::new();
    for wf in &settings.workflows {
        let Query::SalesNav(q) = &wf.query else { continue };
        if let Some((_, families)) = salesnav::DEMO_SEGMENTS.iter().find(|(folder, _)| *folder == q.inbox) {
            rows.insert(wf.name.clone(), salesnav::export_rows(&population, families) as u64);
        }
    }
    rows
}

fn print_forecast(settings: &Settings, f: &Forecast) {
    println!("plan: {} — target {} unique leads (vendor time)\n", settings.name, f.target);
    println!("{:<44} {:>10} {:>9} {:>9} {:>12}  bound by", "workflow", "records", "from", "to", "records/h");
    for w in &f.workflows {
        let pace = w.records_per_hour.map_or("at once".to_owned(), |r| format!("{r:.0}"));
        println!(
            "{:<44} {:>10.0} {:>9} {:>9} {:>12}  {}",
            w.name,
            w.records,
            human_duration(w.starts_at),
            human_duration(w.ends_at),
            pace,
            w.bound_by
        );
    }
    match f.time_to_target_seconds {
        Some(t) => {
            println!("\ntime to target: {} ({:.0} unique leads/hour)", human_duration(t), f.unique_per_hour)
        }
        None => println!(
            "\nthe target is out of reach: the workflows' expected yields give {:.0} unique leads",
            f.unique_available
        ),
    }
    println!(
        "at the end: {:.0} records, {:.0} unique, {:.0} qualified leads",
        f.records_collected, f.unique_leads, f.qualified_leads
    );
    let per_qualified = f.cost_per_qualified_lead.map_or("n/a".to_owned(), |c| format!("${c:.3}"));
    println!(
        "cost: vendors ${:.2} + enrichment ${:.2} = ${:.2}; {per_qualified} per qualified lead",
        f.vendor_cost,
        f.enrichment_cost,
        f.vendor_cost + f.enrichment_cost
    );
    if f.enrichment_seconds > 0.0 {
        println!("enrichment: about {} of Hunter's finder", human_duration(f.enrichment_seconds));
    }
    println!("bottleneck: {}", f.bottleneck);
    println!("\n{:<28} {:>12} {:>12}  forecast", "KPI", "value", "threshold");
    for k in &f.kpis {
        let value = if k.value.is_finite() { format!("{:.2}", k.value) } else { "n/a".to_owned() };
        println!("{:<28} {value:>12} {:>12}  {}", k.name, k.threshold, if k.pass { "pass" } else { "FAIL" });
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Campaign file (TOML) whose KPIs and caps the report measures against.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The HTML report (one self-contained file).
    #[arg(long, default_value = "report.html")]
    out: PathBuf,
    /// Also write the same numbers as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `leadsprint report`: the technical report as HTML (and JSON).
pub fn report(dir: &Path, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let settings = load_settings(args.config.as_deref(), &env, &Flags::default())?;
    let store = leadsprint::store::Store::open_existing(dir)?;
    let report = leadsprint::report::build(&store.reader()?, &report_context(&settings))?;
    let html = leadsprint::report::html::render(&report);
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    println!("report: {}", args.out.display());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("numbers: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// What the report measures against: the campaign's name, KPIs and caps.
pub fn report_context(settings: &Settings) -> leadsprint::report::Context<'_> {
    leadsprint::report::Context {
        campaign: &settings.name,
        kpi: &settings.kpi,
        vendor_cap: Some(settings.spend_cap),
        enrichment_cap: settings.enrichment.enabled.then_some(settings.enrichment.spend_cap),
    }
}
