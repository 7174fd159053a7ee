//! `leadsprint export hubspot|salesforce` and the exports' part of `check`: the
//! two CRM exporters behind one loop (batches after the watermark, the watermark
//! moved after each), their report file and summary, and the watermark itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use leadsprint::config::{Rate, Secret};
use leadsprint::export::Verdict;
use leadsprint::export::crm::{self, CrmError, CrmReport};
use leadsprint::export::hubspot::{self, HubSpot};
use leadsprint::export::postgres;
use leadsprint::export::salesforce::{self, Auth, Salesforce, SalesforceTarget};
use leadsprint::lead::Lead;

use super::{FilterArgs, HubspotArgs, Leads, SalesforceArgs, Skipped, describe, in_batches};
use crate::cli::EXIT_FAILURE;

pub(super) fn to_hubspot(dir: &Path, args: HubspotArgs) -> anyhow::Result<ExitCode> {
    let token = std::env::var("HUBSPOT_TOKEN").map_err(|_| {
        anyhow::anyhow!(
            "HUBSPOT_TOKEN is not set: create a private app with the crm.objects.contacts.write scope (and crm.objects.contacts.read to merge contacts) and export its token"
        )
    })?;
    let mapping = crm::mapping(&hubspot::DEFAULT_MAPPING, &args.maps)?;
    let owners = email_owners(&Leads::open(dir, &args.filter)?)?;
    let client = HubSpot::new(&args.base_url, Secret::new(token), args.rate, mapping)?.with_owners(owners);
    let out = CrmOutput { title: "HubSpot contacts", report: &args.report, json: args.json };
    let crm = Crm::HubSpot(Box::new(client), args.create_properties);
    to_crm(dir, crm, "hubspot", hubspot::BATCH, &args.filter, out)
}

/// Which lead is the contact of each email leads share, over every lead the
/// export's filters accept (the same choice on a resumed run).
fn email_owners(leads: &Leads) -> anyhow::Result<hubspot::EmailOwners> {
    let filter = leads.filter();
    leads.each(None, |all| {
        let mut owners = hubspot::EmailOwners::default();
        for lead in all {
            let lead = lead?;
            if filter.verdict(&lead) == Verdict::Accept {
                owners.add(&lead);
            }
        }
        Ok(owners)
    })?
}

pub(super) fn to_salesforce(dir: &Path, args: SalesforceArgs) -> anyhow::Result<ExitCode> {
    let target = SalesforceTarget {
        login_url: args.login_url.clone(),
        auth: salesforce_auth()?,
        external_id: args.external_id.clone(),
        mapping: crm::mapping(&salesforce::DEFAULT_MAPPING, &args.maps)?,
        rate: args.rate,
        poll: args.poll,
    };
    let client = Salesforce::new(target)?;
    let out = CrmOutput { title: "Salesforce Leads", report: &args.report, json: args.json };
    to_crm(dir, Crm::Salesforce(Box::new(client)), "salesforce", salesforce::BATCH, &args.filter, out)
}

/// `leadsprint check` for the exports whose credentials are in the environment:
/// (name, `None` when not configured, else the verdict).
pub async fn check_all() -> Vec<(&'static str, Option<anyhow::Result<String>>)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let postgres = match var("DATABASE_URL") {
        Some(url) => Some(postgres::check(&url).await.map_err(anyhow::Error::from)),
        None => None,
    };
    let hubspot = match var("HUBSPOT_TOKEN") {
        Some(token) => {
            let base = var("HUBSPOT_BASE_URL").unwrap_or_else(|| hubspot::DEFAULT_BASE_URL.to_owned());
            let checked = async {
                let client: HubSpot =
                    HubSpot::new(&base, Secret::new(token), hubspot::DEFAULT_RATE, Vec::new())?;
                client.check().await
            };
            Some(checked.await.map_err(anyhow::Error::from))
        }
        None => None,
    };
    let salesforce = match var("SALESFORCE_CLIENT_ID") {
        Some(_) => Some(check_salesforce(var("SALESFORCE_LOGIN_URL")).await),
        None => None,
    };
    vec![("postgres", postgres), ("hubspot", hubspot), ("salesforce", salesforce)]
}

async fn check_salesforce(login_url: Option<String>) -> anyhow::Result<String> {
    let login_url = login_url.unwrap_or_else(|| "https://login.salesforce.com".to_owned());
    let target = SalesforceTarget {
        login_url: login_url.clone(),
        auth: salesforce_auth()?,
        external_id: None,
        mapping: Vec::new(),
        rate: Rate { requests: 5, per: std::time::Duration::from_secs(1) },
        poll: std::time::Duration::from_secs(2),
    };
    let mut client = Salesforce::new(target)?;
    client.sign_in().await?;
    Ok(format!("{login_url} signed in"))
}

/// Client credentials when SALESFORCE_CLIENT_SECRET is set, else the JWT bearer flow.
fn salesforce_auth() -> anyhow::Result<Auth> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let client_id = var("SALESFORCE_CLIENT_ID").ok_or_else(|| {
        anyhow::anyhow!("SALESFORCE_CLIENT_ID is not set: the consumer key of your external client app")
    })?;
    if let Some(secret) = var("SALESFORCE_CLIENT_SECRET") {
        return Ok(Auth::ClientCredentials { client_id, client_secret: Secret::new(secret) });
    }
    let key = match (var("SALESFORCE_PRIVATE_KEY"), var("SALESFORCE_PRIVATE_KEY_FILE")) {
        (Some(pem), _) => pem,
        (None, Some(path)) => std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?,
        (None, None) => anyhow::bail!(
            "set SALESFORCE_CLIENT_SECRET (client credentials flow), or SALESFORCE_USERNAME with SALESFORCE_PRIVATE_KEY or SALESFORCE_PRIVATE_KEY_FILE (JWT bearer flow)"
        ),
    };
    let username = var("SALESFORCE_USERNAME").ok_or_else(|| {
        anyhow::anyhow!("SALESFORCE_USERNAME is not set: the JWT bearer flow signs in as this user")
    })?;
    Ok(Auth::JwtBearer { client_id, username, private_key_pem: Secret::new(key) })
}

/// The CRM exporters, one loop for both (HubSpot with `--create-properties`).
enum Crm {
    HubSpot(Box<HubSpot>, bool),
    Salesforce(Box<Salesforce>),
}

impl Crm {
    async fn prepare(&mut self) -> Result<(), CrmError> {
        match self {
            Crm::HubSpot(h, create) => h.prepare(*create).await,
            Crm::Salesforce(sf) => sf.sign_in().await,
        }
    }

    /// Which leads fill a place in a batch (HubSpot sends only leads with an email).
    fn takes(&self) -> fn(&Lead) -> bool {
        match self {
            Crm::HubSpot(..) => |lead| lead.email.is_some(),
            Crm::Salesforce(_) => |_| true,
        }
    }

    async fn send(&mut self, leads: &[Lead]) -> Result<(), CrmError> {
        match self {
            Crm::HubSpot(h, _) => h.send(leads).await,
            Crm::Salesforce(sf) => sf.send(leads).await,
        }
    }

    fn into_report(self) -> CrmReport {
        match self {
            Crm::HubSpot(h, _) => h.into_report(),
            Crm::Salesforce(sf) => sf.into_report(),
        }
    }
}

struct CrmOutput<'a> {
    title: &'a str,
    report: &'a Path,
    json: bool,
}

/// Sends the accepted leads after the watermark in batches, moving the watermark
/// after each, then reports.
fn to_crm(
    dir: &Path,
    mut crm: Crm,
    name: &str,
    size: usize,
    args: &FilterArgs,
    out: CrmOutput,
) -> anyhow::Result<ExitCode> {
    let leads = Leads::open(dir, args)?;
    let (_, erased) = leads.removed()?;
    let watermark = Watermark::new(dir, name, describe(args));
    let resume = watermark.resume_after();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(crm.prepare())?;
    let takes = crm.takes();
    let skipped = in_batches(&leads, resume, size, takes, |batch, _| {
        runtime.block_on(crm.send(batch))?;
        // Only after the CRM has the batch: a crash before this resends it (upserts).
        watermark.save(batch.last().map_or(0, |l| l.id), false)
    })?;
    watermark.save(0, true)?;
    let mut report = crm.into_report();
    report.erased = erased;
    let detail = format!("report in {}", out.report.display());
    leads.record(
        name,
        report.created + report.updated,
        report.failed.len() as u64,
        skipped.suppressed,
        detail,
    );
    if has_rows(&report) {
        write_crm_report(out.report, &report)?;
    }
    if out.json {
        let mut value = serde_json::to_value(&report)?;
        value["filtered_out"] = skipped.filtered_out.into();
        value["suppressed"] = skipped.suppressed.into();
        value["resumed_after"] = resume.into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_crm_report(out.title, out.report, &report, &skipped, resume);
    }
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILURE) })
}

/// Whether the report file has anything to list.
fn has_rows(r: &CrmReport) -> bool {
    !(r.failed.is_empty()
        && r.not_sent.is_empty()
        && r.merged.is_empty()
        && r.to_merge.is_empty()
        && r.erased.is_empty())
}

fn write_crm_report(path: &Path, report: &CrmReport) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    out.write_record(["lead_id", "status", "reason"])?;
    let rows =
        report.failed.iter().map(|r| ("failed", r)).chain(report.not_sent.iter().map(|r| ("not_sent", r)));
    for (status, (id, reason)) in rows {
        out.write_record([id.to_string().as_str(), status, reason])?;
    }
    for (id, keep, other) in &report.merged {
        let reason = format!("its contact {other} was merged into contact {keep}: the leads were one person");
        out.write_record([id.to_string().as_str(), "merged", &reason])?;
    }
    for (id, absorbed) in &report.to_merge {
        let reason = format!("lead {absorbed} was merged into this lead: merge its record into this one's");
        out.write_record([id.to_string().as_str(), "to_merge", &reason])?;
    }
    for id in &report.erased {
        let reason = "erased on request: delete its record here if it was sent before";
        out.write_record([id.to_string().as_str(), "erased", reason])?;
    }
    out.flush()?;
    Ok(())
}

fn print_crm_report(what: &str, path: &Path, r: &CrmReport, skipped: &Skipped, resume: Option<u64>) {
    println!("{what}");
    if let Some(id) = resume {
        println!("resumed an interrupted export after lead {id}");
    }
    println!("created       {:>10}", r.created);
    println!("updated       {:>10}", r.updated);
    println!("not sent      {:>10}", r.not_sent.len());
    println!("failed        {:>10}", r.failed.len());
    println!("filtered out  {:>10}", skipped.filtered_out);
    println!("suppressed    {:>10}  (do-not-contact list: never sent)", skipped.suppressed);
    if !r.merged.is_empty() {
        println!("merged        {:>10}  (records of leads that became one)", r.merged.len());
    }
    if !r.to_merge.is_empty() {
        println!(
            "to merge      {:>10}  (records of leads that became one: merge them there)",
            r.to_merge.len()
        );
    }
    if !r.erased.is_empty() {
        println!("erased        {:>10}  (erased on request: delete them there)", r.erased.len());
    }
    println!("requests      {:>10}", r.requests);
    if has_rows(r) {
        println!("each lead not sent, refused, merged or erased, and why: {}", path.display());
    }
}

/// Where a CRM export stopped: `<data dir>/exports/<target>.json`, rewritten
/// atomically after each sent batch; a finished pass is marked complete.
struct Watermark {
    path: PathBuf,
    filter: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WatermarkFile {
    filter: String,
    last_lead_id: u64,
    complete: bool,
}

impl Watermark {
    fn new(dir: &Path, target: &str, filter: String) -> Watermark {
        Watermark { path: dir.join("exports").join(format!("{target}.json")), filter }
    }

    /// The last lead sent by an unfinished export with the same filters.
    fn resume_after(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let saved: WatermarkFile = serde_json::from_str(&text).ok()?;
        (!saved.complete && saved.filter == self.filter && saved.last_lead_id > 0)
            .then_some(saved.last_lead_id)
    }

    fn save(&self, last_lead_id: u64, complete: bool) -> anyhow::Result<()> {
        let saved = WatermarkFile { filter: self.filter.clone(), last_lead_id, complete };
        let folder = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        let tmp = self.path.with_extension("json.partial");
        std::fs::write(&tmp, serde_json::to_vec(&saved)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}
