//! `review`, `split`, `suppress` and `forget`: identity resolution by hand. Each
//! change runs through the single writer — this process's, or the running
//! server's when one holds the data dir.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use leadsprint::catalog::{self, ReviewPage};
use leadsprint::import::suppression::{ListFile, read_list};
use leadsprint::lead::{IdentityKey, LeadId, Suppression, identity};
use leadsprint::pipeline::identity::{Answer, Command, ForgetReport, SplitReport, SuppressReport};
use leadsprint::pipeline::{PipelineError, Writer};
use leadsprint::store::Store;

use super::EXIT_QUARANTINED;
use super::remote::{self, Holder, Remote};

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Show at most this many.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Skip this many (paging).
    #[arg(long, default_value_t = 0)]
    offset: usize,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The lead to split (an alias names the lead it was merged into).
    lead: LeadId,
    /// The keys to move to a new lead: emails, LinkedIn URLs, profile IDs, or their stored form (u:…, e:…, p:…).
    #[arg(required = true)]
    keys: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// An identity key of each person to erase: an email, LinkedIn URL or profile ID.
    #[arg(required = true)]
    keys: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SuppressCommand {
    /// Add entries: emails, @domains, LinkedIn URLs, profile IDs.
    Add {
        #[arg(required = true)]
        entries: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add every entry of a file: one per line, or a CSV with an email, domain, LinkedIn URL or ID column.
    Import {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show the list.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove entries.
    Remove {
        #[arg(required = true)]
        entries: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn review(dir: &Path, args: ReviewArgs) -> anyhow::Result<ExitCode> {
    let page: ReviewPage = match remote::open(dir)? {
        Holder::Local(store) => catalog::needing_review(&store.reader()?, args.limit, args.offset)?,
        Holder::Remote(server) => {
            server.get(&format!("/api/review?limit={}&offset={}", args.limit, args.offset))?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} leads need review (their keys contradict)", page.total);
    for item in &page.leads {
        println!("\nlead {}  {}  ({} sources)", item.lead.id, item.lead.name, item.lead.sources);
        for c in &item.contradictions {
            println!("  {:<22} {}", c.kind, c.keys.join("  "));
        }
    }
    if page.total > 0 {
        println!("\nsplit a lead with: leadsprint split LEAD KEY... (the keys that belong to someone else)");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn split(dir: &Path, args: SplitArgs) -> anyhow::Result<ExitCode> {
    let keys = parse_keys(&args.keys)?;
    let report: SplitReport = match writer_or_server(dir)? {
        Target::Local(writer) => match apply(writer, Command::Split { lead: args.lead, keys })? {
            Answer::Split(r) => r,
            other => anyhow::bail!("unexpected answer {other:?}"),
        },
        Target::Remote(server) => {
            let keys: Vec<String> = keys.iter().map(IdentityKey::encoded).collect();
            server.post(&format!("/api/leads/{}/split", args.lead), &json!({ "keys": keys }))?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if report.requested != report.lead {
        println!("lead {} was merged into lead {}: split that one", report.requested, report.lead);
    }
    println!("lead {}: {} moved to new lead {}", report.lead, report.moved.join(", "), report.new_lead);
    println!("lead {} keeps {}", report.lead, report.kept.join(", "));
    println!("remembered: these keys never join again by themselves");
    Ok(ExitCode::SUCCESS)
}

pub fn forget(dir: &Path, args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let keys = parse_keys(&args.keys)?;
    let report: ForgetReport = match writer_or_server(dir)? {
        Target::Local(writer) => match apply(writer, Command::Forget { keys })? {
            Answer::Forget(r) => r,
            other => anyhow::bail!("unexpected answer {other:?}"),
        },
        Target::Remote(server) => {
            let keys: Vec<String> = keys.iter().map(IdentityKey::encoded).collect();
            server.post("/api/forget", &json!({ "keys": keys }))?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    match report.erased_leads.as_slice() {
        [] => println!("no stored lead holds these keys"),
        ids => {
            let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            println!(
                "erased lead(s) {} with their sources, from the store and the search index",
                ids.join(", ")
            );
        }
    }
    println!(
        "{} identity key(s) kept as salted hashes only: any record carrying one is dropped from now on (counted as erased)",
        report.tombstones
    );
    if report.quarantine_purged > 0 {
        println!("{} quarantined record(s) holding these keys deleted", report.quarantine_purged);
    }
    if !report.erased_leads.is_empty() {
        println!("the next `export postgres` deletes their rows; CRM exports list them to delete there");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn suppress(dir: &Path, command: SuppressCommand) -> anyhow::Result<ExitCode> {
    match command {
        SuppressCommand::List { json } => list(dir, json),
        SuppressCommand::Add { entries, json } => {
            let entries = parse_entries(&entries)?;
            let report = change_list(dir, Command::Suppress { entries, origin: "cli".into() })?;
            print_list_change(&report, json, None)
        }
        SuppressCommand::Remove { entries, json } => {
            let entries = parse_entries(&entries)?;
            let report = change_list(dir, Command::Unsuppress { entries })?;
            print_list_change(&report, json, None)
        }
        SuppressCommand::Import { file, json } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let list = read_list(&bytes);
            if list.entries.is_empty() {
                print_rejected(&file, &list);
                anyhow::bail!(
                    "{} holds no entry: write one email, @domain, LinkedIn URL or profile ID per line, or a CSV with such a column",
                    file.display()
                );
            }
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let command = Command::Suppress { entries: list.entries.clone(), origin: format!("file {name}") };
            let report = change_list(dir, command)?;
            print_list_change(&report, json, Some((&file, &list)))
        }
    }
}

fn list(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let value: serde_json::Value = match remote::open(dir)? {
        Holder::Local(store) => {
            let entries: Vec<serde_json::Value> = store
                .reader()?
                .suppressions()?
                .iter()
                .map(|(e, r)| {
                    json!({ "entry": e.display(), "kind": e.kind(), "added_at": r.added_at, "origin": r.origin })
                })
                .collect();
            json!({ "total": entries.len(), "entries": entries })
        }
        Holder::Remote(server) => server.get("/api/suppressions")?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} entries on the do-not-contact list", value["total"]);
    for entry in value["entries"].as_array().into_iter().flatten() {
        println!(
            "  {:<50} {}",
            entry["entry"].as_str().unwrap_or_default(),
            entry["origin"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn change_list(dir: &Path, command: Command) -> anyhow::Result<SuppressReport> {
    match writer_or_server(dir)? {
        Target::Local(writer) => match apply(writer, command)? {
            Answer::Suppress(r) => Ok(r),
            other => anyhow::bail!("unexpected answer {other:?}"),
        },
        Target::Remote(server) => match command {
            Command::Unsuppress { entries } => {
                let entries: Vec<String> = entries.iter().map(Suppression::encoded).collect();
                server.post("/api/suppressions/remove", &json!({ "entries": entries }))
            }
            Command::Suppress { entries, .. } => {
                let entries: Vec<String> = entries.iter().map(Suppression::encoded).collect();
                server.post("/api/suppressions", &json!({ "entries": entries }))
            }
            other => anyhow::bail!("not a list change: {other:?}"),
        },
    }
}

fn print_list_change(
    report: &SuppressReport,
    json: bool,
    file: Option<(&Path, &ListFile)>,
) -> anyhow::Result<ExitCode> {
    let rejected = file.map_or(0, |(_, l)| l.rejected.len());
    if json {
        let mut value = serde_json::to_value(report)?;
        if let Some((_, list)) = file {
            value["rejected"] = serde_json::to_value(&list.rejected)?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if let Some((path, list)) = file {
            print_rejected(path, list);
        }
        let counts = [
            ("added", report.added.len()),
            ("already listed", report.already_listed.len()),
            ("removed", report.removed.len()),
            ("not on the list", report.not_listed.len()),
        ];
        let said: Vec<String> =
            counts.iter().filter(|(_, n)| *n > 0).map(|(what, n)| format!("{n} {what}")).collect();
        println!("{}; {} entries on the do-not-contact list", said.join(", "), report.listed);
        if !report.added.is_empty() {
            println!(
                "matching leads stay stored, marked, and are left out of every export; new matching records are dropped"
            );
        }
    }
    Ok(if rejected > 0 { ExitCode::from(EXIT_QUARANTINED) } else { ExitCode::SUCCESS })
}

fn print_rejected(path: &Path, list: &ListFile) {
    for r in &list.rejected {
        eprintln!("{} line {}: {} ({})", path.display(), r.line, r.reason, r.text);
    }
}

/// Where a change runs: this process's own writer, or the server holding the dir.
enum Target {
    Local(Box<Writer>),
    Remote(Remote),
}

fn writer_or_server(dir: &Path) -> anyhow::Result<Target> {
    match remote::holder_of(dir, Store::open_existing(dir))? {
        Holder::Local(store) => Ok(Target::Local(Box::new(Writer::new(store)?))),
        Holder::Remote(server) => {
            eprintln!("the data dir is held by the server at {}: asking it", server.url());
            Ok(Target::Remote(server))
        }
    }
}

/// Runs `command` through `writer` and commits the search index behind it.
fn apply(mut writer: Box<Writer>, command: Command) -> anyhow::Result<Answer> {
    let answer = writer.apply(command);
    writer.finish()?;
    answer.map_err(|e| match e {
        PipelineError::NotFound(m) | PipelineError::Invalid(m) => anyhow::anyhow!(m),
        other => other.into(),
    })
}

fn parse_keys(texts: &[String]) -> anyhow::Result<Vec<IdentityKey>> {
    identity::parse_each(texts, identity::parse_key).map_err(anyhow::Error::msg)
}

fn parse_entries(texts: &[String]) -> anyhow::Result<Vec<Suppression>> {
    identity::parse_each(texts, Suppression::parse).map_err(anyhow::Error::msg)
}
