//! `leadsprint export ...`: the final export. Every target takes the same filters
//! (`--query` in the search language, `--min-quality`); files are written whole or
//! not at all, PostgreSQL in resumable, idempotent batches.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use leadsprint::config::Rate;
use leadsprint::export::hubspot;
use leadsprint::export::postgres::{self, PgExport, PgReport, PgTarget, Removal};
use leadsprint::export::{self, FileFormat, Filter, Verdict};
use leadsprint::lead::{Lead, LeadId, Suppression, SuppressionList};
use leadsprint::pipeline;
use leadsprint::store::Store;

mod crm_exports;

pub use crm_exports::check_all;
use crm_exports::{to_hubspot, to_salesforce};

use super::EXIT_FAILURE;
use super::remote::{self, Holder, Remote};

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// Upsert into a PostgreSQL table (created if missing); resumable and idempotent.
    Postgres(PostgresArgs),
    /// Upsert HubSpot contacts by email (token in HUBSPOT_TOKEN); resumable and idempotent.
    Hubspot(HubspotArgs),
    /// Load Leads with Bulk API 2.0 ingest jobs (credentials in SALESFORCE_*); resumable.
    Salesforce(SalesforceArgs),
    /// A CSV file (formula prefixes neutralised).
    Csv(FileExportArgs),
    /// One JSON lead per line, with identity keys, sources and merge history.
    Jsonl(FileExportArgs),
}

/// The filters every export takes.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only leads matching this search query (see README "Search"), e.g. 'title:ppc has:email'.
    #[arg(long)]
    query: Option<String>,
    /// Only leads scoring at least this (0-100).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    min_quality: u8,
}

#[derive(Debug, Args)]
pub struct FileExportArgs {
    /// Output file, or - for standard output.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(Debug, Args)]
pub struct PostgresArgs {
    /// Connection URL, e.g. postgres://user:password@host:5432/db (prefer the environment).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    url: String,
    /// Target table, optionally schema-qualified.
    #[arg(long, default_value = "performance_marketers")]
    table: String,
    /// Do everything in a transaction that is rolled back: exact counts, no change.
    #[arg(long)]
    dry_run: bool,
    /// Where to list leads the table refused (CSV: lead_id, reason); written only if any.
    #[arg(long, default_value = "leadsprint-postgres-failures.csv")]
    failures: PathBuf,
    /// Leads per transaction (each commits with the export's watermark).
    #[arg(long, default_value_t = postgres::BATCH as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(Debug, Args)]
pub struct HubspotArgs {
    /// The API root (a test double or a proxy; default HubSpot's).
    #[arg(long, env = "HUBSPOT_BASE_URL", default_value = hubspot::DEFAULT_BASE_URL)]
    base_url: String,
    /// The portal's API limit: 100/10s (Free/Starter private apps), 190/10s (Professional, Enterprise).
    #[arg(long, default_value = "100/10s", value_parser = leadsprint::config::parse_rate)]
    rate: Rate,
    /// LEAD_FIELD=PROPERTY, repeatable; an empty PROPERTY drops the field (see README).
    #[arg(long = "map", value_name = "FIELD=PROPERTY")]
    maps: Vec<String>,
    /// Where to list leads not sent or refused (CSV: lead_id, status, reason); written only if any.
    #[arg(long, default_value = "leadsprint-hubspot-report.csv")]
    report: PathBuf,
    /// Create the mapped contact properties HubSpot does not have (single-line text;
    /// needs the crm.schemas.contacts.write scope). Without it, a missing one stops the export.
    #[arg(long)]
    create_properties: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(Debug, Args)]
pub struct SalesforceArgs {
    /// Where to sign in: https://login.salesforce.com, https://test.salesforce.com or your My Domain URL.
    #[arg(long, env = "SALESFORCE_LOGIN_URL", default_value = "https://login.salesforce.com")]
    login_url: String,
    /// A custom External ID field on Lead holding the lead id (upsert: a rerun updates
    /// the Leads it sent). Required unless --insert.
    #[arg(long, required_unless_present = "insert")]
    external_id: Option<String>,
    /// Insert every Lead instead (no External ID field): a rerun inserts them all again.
    #[arg(long, conflicts_with = "external_id")]
    insert: bool,
    /// API calls allowed (the org's daily API limit spread out; Bulk jobs need few calls).
    #[arg(long, default_value = "20/s", value_parser = leadsprint::config::parse_rate)]
    rate: Rate,
    /// Time between job status polls.
    #[arg(long, default_value = "2s", value_parser = leadsprint::config::parse_duration)]
    poll: std::time::Duration,
    /// LEAD_FIELD=SalesforceField, repeatable; an empty field drops it (see README).
    #[arg(long = "map", value_name = "FIELD=SF_FIELD")]
    maps: Vec<String>,
    /// Where to list leads not sent or refused (CSV: lead_id, status, reason); written only if any.
    #[arg(long, default_value = "leadsprint-salesforce-report.csv")]
    report: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(dir: &Path, target: ExportTarget) -> anyhow::Result<ExitCode> {
    match target {
        ExportTarget::Postgres(args) => to_postgres(dir, args),
        ExportTarget::Hubspot(args) => to_hubspot(dir, args),
        ExportTarget::Salesforce(args) => to_salesforce(dir, args),
        ExportTarget::Csv(args) => to_file(dir, FileFormat::Csv, args),
        ExportTarget::Jsonl(args) => to_file(dir, FileFormat::Jsonl, args),
    }
}

/// Where an export's leads come from: the store with the filter (`--query`
/// resolved to lead ids through the index), or the server holding the data dir,
/// which applies the filters itself.
enum Leads {
    Local { store: Arc<Store>, filter: Filter },
    Remote { server: Remote, query: String, suppression: Arc<SuppressionList> },
}

type LeadIter<'a> = dyn Iterator<Item = anyhow::Result<Lead>> + 'a;

impl Leads {
    fn open(dir: &Path, args: &FilterArgs) -> anyhow::Result<Leads> {
        match remote::open(dir)? {
            Holder::Local(store) => {
                let only = match &args.query {
                    None => None,
                    Some(query) => {
                        let (index, _) = pipeline::open_index(&store)?;
                        let now = pipeline::now_millis();
                        Some(Arc::from(leadsprint::catalog::matching_ids(&store, &index, query, now)?))
                    }
                };
                let entries = store.reader()?.suppressions()?.into_iter().map(|(entry, _)| entry);
                let suppression = Some(Arc::new(SuppressionList::new(entries)));
                Ok(Leads::Local {
                    store: Arc::new(store),
                    filter: Filter { min_quality: args.min_quality, only, suppression },
                })
            }
            Holder::Remote(server) => {
                eprintln!("the data dir is held by the server at {}: exporting through it", server.url());
                let min_quality = args.min_quality.to_string();
                let q = args.query.as_deref().unwrap_or_default();
                // The list is applied here, as for a local store, so what it leaves out is counted.
                let query = remote::query_string(&[
                    ("q", q),
                    ("min_quality", &min_quality),
                    ("suppressed", "include"),
                ]);
                let listed: serde_json::Value = server.get("/api/suppressions")?;
                let entries = listed["entries"].as_array().into_iter().flatten();
                let entries = entries.filter_map(|e| Suppression::parse(e["entry"].as_str()?).ok());
                let suppression = Arc::new(SuppressionList::new(entries));
                Ok(Leads::Remote { server, query, suppression })
            }
        }
    }

    /// The filter still to apply here (the server has applied the query and quality).
    /// Records an export's result in the store (for the report) and, when rows
    /// failed, raises the export-failures alert. A server holding the data dir
    /// keeps its own store: nothing is recorded through it.
    fn record(&self, target: &str, written: u64, failed: u64, suppressed: u64, detail: String) {
        let Leads::Local { store, .. } = self else { return };
        let result = leadsprint::report::ExportResult {
            at_ms: pipeline::now_millis(),
            target: target.to_owned(),
            written,
            failed,
            suppressed,
            detail: detail.clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&result)
            && let Err(e) = store.append(leadsprint::store::Log::Exports, &[bytes])
        {
            eprintln!("note: the export's result was not recorded for the report: {e}");
        }
        if failed > 0 {
            alert_export_failures(store.clone(), target, failed, &detail);
        }
    }

    fn filter(&self) -> Filter {
        match self {
            Leads::Local { filter, .. } => filter.clone(),
            Leads::Remote { suppression, .. } => {
                Filter { suppression: Some(suppression.clone()), ..Filter::default() }
            }
        }
    }

    /// The leads that are gone: (merged into another lead, erased on request).
    fn removed(&self) -> anyhow::Result<(Vec<LeadId>, Vec<LeadId>)> {
        match self {
            Leads::Local { store, .. } => {
                let reader = store.reader()?;
                Ok((reader.aliases()?.into_iter().map(|(alias, _)| alias).collect(), reader.erased()?))
            }
            Leads::Remote { server, .. } => {
                let removed: serde_json::Value = server.get("/api/removed")?;
                let ids = |v: &serde_json::Value| v.as_u64();
                let aliases = removed["aliases"].as_array().into_iter().flatten().filter_map(|p| ids(&p[0]));
                let erased = removed["erased"].as_array().into_iter().flatten().filter_map(ids);
                Ok((aliases.collect(), erased.collect()))
            }
        }
    }

    /// About how many leads the export will take (for its progress bar).
    fn total(&self) -> anyhow::Result<u64> {
        Ok(match self {
            Leads::Local { store, filter } => match &filter.only {
                Some(ids) => ids.len() as u64,
                None => store.reader()?.counters()?.unique_leads,
            },
            Leads::Remote { server, query, .. } => server
                .get::<serde_json::Value>(&format!("/api/leads?limit=1&facets=false&{query}"))?["total"]
                .as_u64()
                .unwrap_or_default(),
        })
    }

    /// Hands `use_them` the leads after `resume` (every lead when `None`), in id order.
    fn each<R>(
        &self,
        resume: Option<u64>,
        use_them: impl FnOnce(&mut LeadIter<'_>) -> R,
    ) -> anyhow::Result<R> {
        match self {
            Leads::Local { store, .. } => {
                let reader = store.reader()?;
                let mut leads = reader.leads_after(resume)?.map(|l| l.map_err(anyhow::Error::from));
                Ok(use_them(&mut leads))
            }
            Leads::Remote { server, query, .. } => {
                let after = resume.map_or(String::new(), |id| format!("&after={id}"));
                Ok(use_them(&mut server.leads(&format!("{query}{after}"))))
            }
        }
    }
}

fn describe(args: &FilterArgs) -> String {
    format!("query={:?} min_quality={}", args.query.as_deref().unwrap_or(""), args.min_quality)
}

fn to_file(dir: &Path, format: FileFormat, args: FileExportArgs) -> anyhow::Result<ExitCode> {
    let leads = Leads::open(dir, &args.filter)?;
    let report = leads
        .each(None, |all| export::to_file(&args.out, format, leads.filter(), all))?
        .with_context(|| format!("exporting to {}", args.out.display()))?;
    let kind = if format == FileFormat::Csv { "csv" } else { "jsonl" };
    let what = format!("{kind} {}", args.out.display());
    leads.record(&what, report.written, 0, report.suppressed, describe(&args.filter));
    if args.out != Path::new("-") {
        eprintln!(
            "wrote {} leads to {} ({} left out by the filters: {}; {} on the do-not-contact list left out)",
            report.written,
            args.out.display(),
            report.filtered_out,
            describe(&args.filter),
            report.suppressed
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn to_postgres(dir: &Path, args: PostgresArgs) -> anyhow::Result<ExitCode> {
    let leads = Leads::open(dir, &args.filter)?;
    let target = PgTarget {
        url: args.url.clone(),
        table: args.table.clone(),
        dry_run: args.dry_run,
        filter: describe(&args.filter),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut export = runtime.block_on(PgExport::open(target))?;
    // Gone leads' rows leave with the first batch, before any survivor lands.
    let (merged, erased) = leads.removed()?;
    export.remove(Removal::Merged, merged);
    export.remove(Removal::Erased, erased);
    let skipped = in_batches(
        &leads,
        export.resume_after(),
        args.batch as usize,
        |_| true,
        |batch, suppressed| {
            export.remove(Removal::Suppressed, suppressed.iter().copied());
            Ok(runtime.block_on(export.load(batch))?)
        },
    )?;
    export.remove(Removal::Suppressed, skipped.suppressed_after_last.iter().copied());
    let report = runtime.block_on(export.finish())?;
    let written = report.inserted + report.updated + report.unchanged;
    let detail = format!("table {}, failures in {}", args.table, args.failures.display());
    leads.record("postgres", written, report.failed.len() as u64, skipped.suppressed, detail);
    if !report.failed.is_empty() {
        write_failures(&args.failures, &report)?;
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["filtered_out"] = skipped.filtered_out.into();
        value["suppressed"] = skipped.suppressed.into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_report(&args, &report, &skipped);
    }
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILURE) })
}

/// Pages the team when an export refused rows (sinks from the environment).
fn alert_export_failures(store: Arc<Store>, target: &str, failed: u64, detail: &str) {
    let env = |name: &str| std::env::var(name).ok();
    let sent = (|| -> anyhow::Result<()> {
        let settings = super::collect::load_settings(None, &env, &leadsprint::config::Flags::default())?;
        let mut alerting = leadsprint::alerts::Alerting::open(&settings, store, 1.0)?;
        let summary = format!("export to {target}: {failed} leads refused ({detail})");
        let alert = leadsprint::alerts::Alert::new(
            "export_failures",
            leadsprint::alerts::Severity::Page,
            &settings.name,
            None,
            summary,
        )
        .once(&pipeline::now_millis().to_string());
        alerting.raise(alert);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(alerting.send_events())?;
        Ok(())
    })();
    if let Err(e) = sent {
        eprintln!("note: the export-failures alert was not sent: {e:#}");
    }
}

/// The leads an export left out.
#[derive(Debug, Default)]
struct Skipped {
    /// By the query or the quality floor.
    filtered_out: u64,
    /// On the do-not-contact list.
    suppressed: u64,
    /// Suppressed leads met after the last batch was sent.
    suppressed_after_last: Vec<LeadId>,
}

/// Hands the accepted leads after `resume` to `send` in batches holding `size`
/// leads the target `takes` (those it cannot take ride along, to be reported),
/// each with the suppressed leads met since the batch before, with a progress
/// bar; returns what was left out.
fn in_batches(
    leads: &Leads,
    resume: Option<u64>,
    size: usize,
    takes: impl Fn(&Lead) -> bool,
    mut send: impl FnMut(&[Lead], &[LeadId]) -> anyhow::Result<()>,
) -> anyhow::Result<Skipped> {
    let filter = leads.filter();
    let bar = progress(leads.total()?);
    let sent = leads.each(resume, |all| -> anyhow::Result<Skipped> {
        let mut skipped = Skipped::default();
        let mut suppressed: Vec<LeadId> = Vec::new();
        let mut batch: Vec<Lead> = Vec::with_capacity(size);
        let mut taken = 0;
        loop {
            if let Some(lead) = all.next().transpose()? {
                match filter.verdict(&lead) {
                    Verdict::Accept => {
                        taken += usize::from(takes(&lead));
                        batch.push(lead);
                    }
                    Verdict::FilteredOut => skipped.filtered_out += 1,
                    Verdict::Suppressed => {
                        skipped.suppressed += 1;
                        suppressed.push(lead.id);
                    }
                }
                if taken < size {
                    continue;
                }
            }
            if batch.is_empty() {
                skipped.suppressed_after_last = suppressed;
                return Ok(skipped);
            }
            send(&batch, &suppressed)?;
            suppressed.clear();
            bar.inc(batch.len() as u64);
            batch.clear();
            taken = 0;
        }
    })?;
    bar.finish_and_clear();
    sent
}

fn progress(total: u64) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{spinner} exporting [{bar:30}] {pos}/{len} leads {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total).with_style(style)
}

fn write_failures(path: &Path, report: &PgReport) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    out.write_record(["lead_id", "reason"])?;
    for (id, reason) in &report.failed {
        out.write_record([id.to_string(), reason.clone()])?;
    }
    out.flush()?;
    Ok(())
}

fn print_report(args: &PostgresArgs, r: &PgReport, skipped: &Skipped) {
    let mode = if r.dry_run { " (dry run: rolled back, nothing changed)" } else { "" };
    println!("PostgreSQL table {}{mode}", args.table);
    if let Some(id) = r.resumed_after {
        println!("resumed an interrupted export after lead {id}");
    }
    println!("inserted      {:>10}", r.inserted);
    println!("updated       {:>10}", r.updated);
    println!("unchanged     {:>10}", r.unchanged);
    println!("filtered out  {:>10}  ({})", skipped.filtered_out, describe(&args.filter));
    println!("suppressed    {:>10}  (do-not-contact list: never exported)", skipped.suppressed);
    let deleted = [
        (r.deleted_merged, "their leads were merged into others"),
        (r.deleted_erased, "erased on request"),
        (r.deleted_suppressed, "on the do-not-contact list"),
    ];
    for (n, why) in deleted.iter().filter(|(n, _)| *n > 0) {
        println!("rows deleted  {n:>10}  ({why})");
    }
    println!("failed        {:>10}", r.failed.len());
    if r.cleaned_values > 0 {
        println!(
            "{} text values held NUL bytes, which PostgreSQL cannot store; they were dropped",
            r.cleaned_values
        );
    }
    if !r.failed.is_empty() {
        println!("the refused leads and why: {}", args.failures.display());
    }
}
