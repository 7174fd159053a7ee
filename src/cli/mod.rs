//! The command line (clap): each command is a function returning
//! `anyhow::Result<ExitCode>`; the composition root that wires store, pipeline,
//! import and export together.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use leadsprint::catalog::{self, Found};
use leadsprint::import::{self, FileReport, ImportOptions};
use leadsprint::pipeline::{self, Totals, Writer};
use leadsprint::search::{Request, Sort};
use leadsprint::stats::Stats;
use leadsprint::store::Store;

mod alerts;
mod collect;
mod enrich;
mod export;
mod identity;
mod plan;
mod remote;
mod serve;

use remote::Holder;

/// Exit codes (also in README): 0 done, 1 failed, 2 bad usage (clap),
/// 3 done but some records were quarantined, 4 a run ended short of its target.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_QUARANTINED: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "leadsprint", version, about = "Collect, de-duplicate, score and export B2B leads")]
pub struct Cli {
    /// Where the store lives [default: ./leadsprint-data; ./leadsprint-demo for `demo`].
    #[arg(long, global = true, env = "LEADSPRINT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log line format (logs go to standard error).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log detail: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The built-in ten-workflow campaign against the sandbox vendors (no keys, no network).
    Demo(collect::DemoArgs),
    /// Serve the HTTP API over the data dir (127.0.0.1:8080 by default).
    Serve(serve::ServeArgs),
    /// The campaign against the real vendors, headless, until its target.
    Run(collect::RunArgs),
    /// Test every configured vendor connection.
    Check(collect::CheckArgs),
    /// Alert sinks: `alerts test` sends a test alert to each one configured.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// The technical report: one self-contained HTML file (and --json the numbers).
    Report(plan::ReportArgs),
    /// Forecast the sprint before any spend: time to target, cost, KPIs, bottleneck.
    Plan(plan::PlanArgs),
    /// Find and verify emails and fill company data for the leads in the store
    /// (all, or those `--query` names); `--dry-run` prints the estimate only.
    Enrich(enrich::EnrichArgs),
    /// Import CSV, JSON or JSONL files through de-duplication into the store.
    Import(ImportArgs),
    /// Write the leads out: postgres, csv or jsonl.
    #[command(subcommand)]
    Export(export::ExportTarget),
    /// Search the leads with the query language (see README "Search").
    Search(SearchArgs),
    /// Rebuild the search index from the store.
    Reindex,
    /// Campaign figures and KPIs.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Leads whose keys contradict (two LinkedIn URLs, two IDs of one vendor), to review.
    Review(identity::ReviewArgs),
    /// Move keys off a lead into a new lead; the split is remembered.
    Split(identity::SplitArgs),
    /// The do-not-contact list: matching leads are kept out of every export and sync.
    #[command(subcommand)]
    Suppress(identity::SuppressCommand),
    /// Erase people on request (GDPR Art. 17): their leads go, their keys stay out for good.
    Forget(identity::ForgetArgs),
    /// List records that could not become leads, with the reason.
    Quarantine {
        #[arg(long)]
        json: bool,
        /// Show at most this many (newest last).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Files to import (.csv, .tsv, .txt, .json, .jsonl).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Map a column to a field, e.g. --map "E-Mail=email" or --map "Notes=ignore".
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    maps: Vec<String>,
    /// The files' text encoding when not UTF-8 (latin1, windows-1252, utf-16le ...).
    #[arg(long)]
    encoding: Option<String>,
    /// Record the leads' source as this vendor instead of the detected one.
    #[arg(long)]
    vendor: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SearchArgs {
    /// The query, e.g. 'title:ppc AND city:"new york"' (empty: every lead).
    #[arg(default_value = "")]
    query: String,
    /// Print {"total", "hits", "facets"} as JSON.
    #[arg(long)]
    json: bool,
    /// Hits to show.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Hits to skip (paging).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Order: relevance, quality, recent or oldest.
    #[arg(long, default_value = "relevance")]
    sort: Sort,
    /// Count matches per vendor, workflow, city, country, seniority, company, quality band.
    #[arg(long)]
    facets: bool,
}

pub fn parse() -> Cli {
    Cli::parse()
}

pub fn init_tracing(cli: &Cli) {
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // tantivy warns about merges it skips when deletes emptied a segment first:
    // routine for the index, noise for a user (shown from -vv on).
    let default = if cli.verbose < 2 { format!("{level},tantivy=error") } else { level.to_owned() };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = |default: &str| cli.data_dir.clone().unwrap_or_else(|| PathBuf::from(default));
    let data = dir("./leadsprint-data");
    match cli.command {
        Command::Demo(args) => collect::demo(&dir("./leadsprint-demo"), args),
        Command::Run(args) => collect::run(&data, args),
        Command::Serve(args) => serve::serve(&data, args),
        Command::Check(args) => collect::check(&data, args),
        Command::Plan(args) => plan::plan(&data, args),
        Command::Report(args) => plan::report(&data, args),
        Command::Alerts(command) => alerts::alerts(&data, command),
        Command::Enrich(args) => enrich::enrich(&data, args),
        Command::Import(args) => import_files(&data, args),
        Command::Export(target) => export::run(&data, target),
        Command::Search(args) => search(&data, args),
        Command::Reindex => reindex(&data),
        Command::Stats { json } => stats(&data, json),
        Command::Quarantine { json, limit } => quarantine(&data, json, limit),
        Command::Review(args) => identity::review(&data, args),
        Command::Split(args) => identity::split(&data, args),
        Command::Suppress(command) => identity::suppress(&data, command),
        Command::Forget(args) => identity::forget(&data, args),
    }
}

/// The store of an existing data dir (the read commands never create one).
pub(crate) fn open_store(dir: &std::path::Path) -> anyhow::Result<Store> {
    Ok(Store::open_existing(dir)?)
}

fn import_files(dir: &std::path::Path, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let store = match remote::holder_of(dir, Store::open(dir))? {
        Holder::Local(store) => store,
        Holder::Remote(server) => return import_through(&server, args),
    };
    let mut writer = Writer::new(store)?;
    let total: u64 = args.files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} importing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let options =
        ImportOptions { maps: args.maps, encoding: args.encoding, vendor: args.vendor, workflow: None };
    let files = args.files;
    let reports = pipeline::run(&mut writer, |send| {
        files
            .iter()
            .map(|f| import::read_file(f, &options, &|n| bar.inc(n), send))
            .collect::<Result<Vec<FileReport>, _>>()
    })??;
    bar.finish_and_clear();
    let totals = writer.totals().clone();
    report_import(&reports, &totals, args.json)
}

/// Uploads each file to the running server, which writes it through its writer.
fn import_through(server: &remote::Remote, args: ImportArgs) -> anyhow::Result<ExitCode> {
    eprintln!("the data dir is held by the server at {}: importing through it", server.url());
    let mut reports = Vec::new();
    let mut totals = Totals::default();
    for file in &args.files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut pairs: Vec<(&str, &str)> = vec![("name", &name)];
        pairs.extend(args.maps.iter().map(|m| ("map", m.as_str())));
        pairs.extend(args.encoding.as_deref().map(|e| ("encoding", e)));
        pairs.extend(args.vendor.as_deref().map(|v| ("vendor", v)));
        let answer = server
            .upload(&format!("/api/import?{}", remote::query_string(&pairs)), file)
            .with_context(|| format!("importing {}", file.display()))?;
        let mut report: FileReport = serde_json::from_value(answer["file"].clone())?;
        report.path = file.display().to_string();
        totals.add(serde_json::from_value(answer["totals"].clone())?);
        reports.push(report);
    }
    report_import(&reports, &totals, args.json)
}

fn report_import(reports: &[FileReport], totals: &Totals, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "files": reports, "totals": totals }))?
        );
    } else {
        print_import_summary(reports, totals);
    }
    Ok(if totals.quarantined > 0 { ExitCode::from(EXIT_QUARANTINED) } else { ExitCode::SUCCESS })
}

fn print_import_summary(reports: &[FileReport], totals: &Totals) {
    for r in reports {
        let mapped: Vec<String> = r.columns.iter().map(|(h, f)| format!("{h}→{f}")).collect();
        println!("{} ({} {}, {} rows): {}", r.path, r.vendor, r.format, r.rows, mapped.join(", "));
        if !r.ignored_columns.is_empty() {
            println!("  ignored columns: {}", r.ignored_columns.join(", "));
        }
    }
    println!("records read      {:>10}", totals.records_received);
    println!("new unique leads  {:>10}", totals.new_leads);
    println!(
        "duplicates merged {:>10}  ({} added nothing new)",
        totals.duplicates_merged, totals.duplicates_unchanged
    );
    if totals.leads_merged > 0 {
        println!("leads merged      {:>10}  (records that bridged leads made them one)", totals.leads_merged);
    }
    if totals.conflicts > 0 {
        println!("kept apart        {:>10}  (records naming leads a split keeps apart)", totals.conflicts);
    }
    if totals.suppressed > 0 {
        println!("suppressed        {:>10}  (on the do-not-contact list: dropped)", totals.suppressed);
    }
    if totals.erased > 0 {
        println!("erased            {:>10}  (people erased on request: dropped)", totals.erased);
    }
    println!("quarantined       {:>10}", totals.quarantined);
    for (kind, n) in &totals.quarantined_by_kind {
        println!("  {kind:<24}{n:>8}");
    }
    if totals.quarantined > 0 {
        println!("see them with: leadsprint quarantine");
    }
}

fn search(dir: &std::path::Path, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let found = match remote::open(dir)? {
        Holder::Local(store) => {
            let (index, _) = pipeline::open_index(&store)?;
            let request = Request {
                sort: args.sort,
                limit: usize::from(args.limit),
                offset: args.offset,
                facets: args.facets,
                ..Request::new(&args.query, pipeline::now_millis())
            };
            catalog::find(&store, &index, &request)?
        }
        Holder::Remote(server) => {
            let (limit, offset) = (args.limit.to_string(), args.offset.to_string());
            let sort = serde_json::to_value(args.sort)?;
            let query = remote::query_string(&[
                ("q", &args.query),
                ("sort", sort.as_str().unwrap_or_default()),
                ("limit", &limit),
                ("offset", &offset),
                ("facets", if args.facets { "true" } else { "false" }),
            ]);
            server.get::<Found>(&format!("/api/leads?{query}"))?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print_found(&found, args.offset);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_found(found: &Found, offset: usize) {
    let shown = found.hits.len();
    let range =
        if shown == 0 { String::new() } else { format!(", showing {}-{}", offset + 1, offset + shown) };
    println!("{} leads match{range}", found.total);
    if shown > 0 {
        println!(
            "\n{:>8}  {:<24} {:<28} {:<22} {:<22} {:<30} {:>3}",
            "id", "name", "title", "company", "location", "email", "q"
        );
    }
    for h in &found.hits {
        let cell = |v: Option<&str>, width: usize| clip(v.unwrap_or("-"), width);
        println!(
            "{:>8}  {:<24} {:<28} {:<22} {:<22} {:<30} {:>3}",
            h.id,
            clip(&h.name, 24),
            cell(h.title.as_deref(), 28),
            cell(h.company.as_deref(), 22),
            clip(&h.location(), 22),
            cell(h.email.as_deref(), 30),
            h.quality
        );
    }
    if let Some(f) = &found.facets {
        let groups = [
            ("vendor", &f.vendor),
            ("workflow", &f.workflow),
            ("city", &f.city),
            ("country", &f.country),
            ("seniority", &f.seniority),
            ("company", &f.company),
            ("email status", &f.email_status),
            ("quality", &f.quality),
        ];
        for (name, counts) in groups {
            let listed: Vec<String> =
                counts.iter().map(|c| format!("{} ({})", clip(&c.value, 40), c.count)).collect();
            println!("\n{name}: {}", if listed.is_empty() { "-".to_owned() } else { listed.join(", ") });
        }
    }
}

/// `text` cut to `width` characters, control characters shown as spaces.
fn clip(text: &str, width: usize) -> String {
    let clean = text.chars().map(|c| if c.is_control() { ' ' } else { c });
    if text.chars().count() <= width {
        return clean.collect();
    }
    clean.take(width.saturating_sub(1)).chain(['…']).collect()
}

fn reindex(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = open_store(dir)?;
    let started = std::time::Instant::now();
    let done = pipeline::reindex(&store)?;
    eprintln!("indexed {} leads in {:.1} s", done.leads, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// What `GET /api/stats` answers.
#[derive(serde::Deserialize)]
struct StatsAnswer {
    #[serde(flatten)]
    stats: Stats,
    costs: leadsprint::stats::Costs,
    email_status: std::collections::BTreeMap<String, u64>,
    workflows: std::collections::BTreeMap<String, leadsprint::store::WorkflowRecord>,
}

fn stats(dir: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let report = match remote::open(dir)? {
        Holder::Local(store) => leadsprint::stats::report(&store.reader()?)?,
        Holder::Remote(server) => server.get::<serde_json::Value>("/api/stats")?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let answer: StatsAnswer = serde_json::from_value(report)?;
    let stats = answer.stats;
    let rows: [(&str, String); 16] = [
        ("records received", stats.records_received.to_string()),
        ("unique leads", stats.unique_leads.to_string()),
        ("duplicates merged", stats.duplicates_merged.to_string()),
        ("leads merged (bridges)", stats.leads_merged.to_string()),
        ("aliases", stats.aliases.to_string()),
        ("needs review", stats.needs_review.to_string()),
        ("kept apart by splits", stats.conflicts.to_string()),
        ("suppressed (dropped)", stats.suppressed.to_string()),
        ("erased (dropped)", stats.erased.to_string()),
        ("leads erased", stats.leads_erased.to_string()),
        ("quarantined", stats.quarantined.to_string()),
        ("qualified leads (>= 80)", stats.qualified_leads.to_string()),
        ("average quality", format!("{:.1}", stats.avg_quality)),
        ("email availability", format!("{:.1}%", stats.email_availability)),
        ("company completeness", format!("{:.1}%", stats.company_completeness)),
        ("linkedin availability", format!("{:.1}%", stats.linkedin_availability)),
    ];
    for (name, value) in rows {
        println!("{name:<26}{value:>12}");
    }
    let c = &answer.costs;
    let per_qualified = c.cost_per_qualified_lead.map_or("n/a".to_owned(), |d| format!("${d:.4}"));
    for (name, value) in [
        ("vendor cost", format!("${:.2}", c.vendor_cost)),
        ("enrichment cost", format!("${:.2}", c.enrichment_cost)),
        ("cost total", format!("${:.2}", c.cost_total)),
        ("cost per qualified lead", per_qualified),
    ] {
        println!("{name:<26}{value:>12}");
    }
    let statuses: Vec<String> = answer.email_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("{:<26}{}", "email status", statuses.join(", "));
    let workflows = answer.workflows;
    if !workflows.is_empty() {
        print_workflows(&workflows);
    }
    Ok(ExitCode::SUCCESS)
}

/// The per-workflow figures kept in the store (what every run added up).
fn print_workflows(workflows: &std::collections::BTreeMap<String, leadsprint::store::WorkflowRecord>) {
    println!(
        "\n{:<44} {:>5} {:>6} {:>7} {:>7} {:>6} {:>5} {:>5} {:>9}",
        "workflow", "done", "req", "records", "new", "dup", "quar", "err", "cost"
    );
    for (name, w) in workflows {
        println!(
            "{name:<44} {:>5} {:>6} {:>7} {:>7} {:>6} {:>5} {:>5} {:>9.2}",
            if w.done { "yes" } else { "no" },
            w.requests,
            w.records,
            w.new_leads,
            w.duplicates,
            w.quarantined,
            w.errors.values().sum::<u64>(),
            w.cost
        );
    }
}

fn quarantine(dir: &std::path::Path, json: bool, limit: usize) -> anyhow::Result<ExitCode> {
    let store = open_store(dir)?;
    let entries = store.reader()?.quarantine()?.collect::<Result<Vec<_>, _>>()?;
    let shown = &entries[entries.len().saturating_sub(limit)..];
    if json {
        let list: Vec<_> = shown
            .iter()
            .map(|e| {
                serde_json::json!({
                    "at": e.at, "origin": e.origin, "position": e.position, "kind": e.kind,
                    "reason": e.reason, "raw": String::from_utf8_lossy(&e.raw), "raw_bytes": e.raw.len(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "total": entries.len(), "entries": list }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} quarantined records{}",
        entries.len(),
        if shown.len() < entries.len() { format!(", last {}", shown.len()) } else { String::new() }
    );
    for e in shown {
        let raw: String = String::from_utf8_lossy(&e.raw)
            .chars()
            .take(120)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        println!("{} {}: [{}] {}\n    {}", e.origin, e.position, e.kind, e.reason, raw.trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
