//! The PostgreSQL export (the only user of tokio-postgres). Leads go in batches: each
//! batch is `COPY`'d (binary) into a session staging table, then upserted into the
//! target with `INSERT ... ON CONFLICT (lead_id) DO UPDATE ... WHERE ... IS DISTINCT
//! FROM`, so an unchanged lead is never rewritten and a second export changes
//! nothing. The batch and the export's watermark commit in one transaction: an
//! interrupted export resumes after the last committed lead. Rows of leads that
//! are gone — merged into another lead, erased on request — or now on the
//! do-not-contact list are deleted in the first batch's transaction, before any
//! survivor is upserted, so the table never holds one person twice and its unique
//! key indexes never refuse a survivor.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres_types::{ToSql, Type};
use serde::Serialize;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::{Client, NoTls};

use crate::lead::{Lead, LeadId};

/// Leads per transaction.
pub const BATCH: usize = 5_000;
/// The table holding each target table's export watermark.
const WATERMARKS: &str = "leadsprint_exports";

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to {url}: {message} — check --url / DATABASE_URL and that the server is running")]
    Connect { url: String, message: String },
    #[error("PostgreSQL {context}: {message}")]
    Sql { context: &'static str, message: String },
    #[error(
        "table name '{0}' is not a plain identifier: use letters, digits and _ (optionally schema.table), at most 63 characters"
    )]
    BadTable(String),
    #[error("reading leads: {0}")]
    Source(String),
}

fn sql(context: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |e| {
        let message = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        PgError::Sql { context, message }
    }
}

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct PgTarget {
    /// The connection URL (a secret: it may hold a password; never printed whole).
    pub url: String,
    /// `table` or `schema.table`.
    pub table: String,
    /// Do everything in one transaction and roll it back: exact counts, no change.
    pub dry_run: bool,
    /// A description of the filters; a watermark only resumes an export with the same.
    pub filter: String,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PgReport {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Leads the table refused, with the reason (also written to the failures file).
    pub failed: Vec<(LeadId, String)>,
    /// Text values that held NUL bytes (PostgreSQL refuses them); the NULs were dropped.
    pub cleaned_values: u64,
    /// The lead id the export resumed after, when it continued an interrupted one.
    pub resumed_after: Option<LeadId>,
    pub dry_run: bool,
    /// Rows deleted because their lead was merged into another (its row holds them now).
    pub deleted_merged: u64,
    /// Rows deleted because their lead was erased on request.
    pub deleted_erased: u64,
    /// Rows deleted because their lead is on the do-not-contact list.
    pub deleted_suppressed: u64,
}

/// Why rows are to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The lead was merged into another.
    Merged,
    /// The lead was erased on request.
    Erased,
    /// The lead is on the do-not-contact list.
    Suppressed,
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "the database".to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// `leadsprint check`: connects and names the server.
pub async fn check(url: &str) -> Result<String, PgError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| PgError::Connect { url: redact_url(url), message: e.to_string() })?;
    tokio::spawn(connection);
    let version: String = client.query_one("SHOW server_version", &[]).await.map_err(sql("version"))?.get(0);
    Ok(format!("{} answers (PostgreSQL {version})", redact_url(url)))
}

/// An open export session: connected, table ready, watermark read.
pub struct PgExport {
    client: Client,
    target: PgTarget,
    table: String,
    resume_after: Option<LeadId>,
    report: PgReport,
    /// Rows to delete with the next batch (or at the end).
    removals: Vec<(Removal, Vec<i64>)>,
}

impl PgExport {
    /// Connects, creates the table, its indexes and the watermark table if missing,
    /// and reads where an interrupted export with the same filters stopped.
    pub async fn open(target: PgTarget) -> Result<PgExport, PgError> {
        let table = quote_table(&target.table)?;
        let (client, connection) = tokio_postgres::connect(&target.url, NoTls)
            .await
            .map_err(|e| PgError::Connect { url: redact_url(&target.url), message: e.to_string() })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        let report = PgReport::default();
        let mut export = PgExport { client, table, resume_after: None, report, target, removals: Vec::new() };
        export.prepare().await?;
        Ok(export)
    }

    /// The last lead id an interrupted export committed; leads after it remain.
    pub fn resume_after(&self) -> Option<LeadId> {
        self.resume_after
    }

    async fn prepare(&mut self) -> Result<(), PgError> {
        let version: i32 = self
            .client
            .query_one("SHOW server_version_num", &[])
            .await
            .map_err(sql("version"))?
            .get::<_, String>(0)
            .parse()
            .unwrap_or(0);
        // A dry run does everything, table creation included, inside one transaction
        // that `finish` rolls back.
        if self.target.dry_run {
            self.client.batch_execute("BEGIN").await.map_err(sql("starting the dry run"))?;
        }
        let ddl = schema_sql(&self.table, &self.target.table, version >= 150_000);
        self.client.batch_execute(&ddl).await.map_err(sql("creating the table"))?;
        let row = self
            .client
            .query_opt(
                &format!("SELECT last_lead_id, complete, filter FROM {WATERMARKS} WHERE target = $1"),
                &[&self.target.table],
            )
            .await
            .map_err(sql("reading the watermark"))?;
        let resumable = row.filter(|r| !r.get::<_, bool>(1) && r.get::<_, String>(2) == self.target.filter);
        self.resume_after = resumable.map(|r| r.get::<_, i64>(0) as LeadId).filter(|id| *id > 0);
        self.report.resumed_after = self.resume_after;
        self.report.dry_run = self.target.dry_run;
        if self.resume_after.is_none() {
            self.set_watermark(0, false).await?;
        }
        Ok(())
    }

    async fn set_watermark(&self, last: LeadId, complete: bool) -> Result<(), PgError> {
        let statement = format!(
            "INSERT INTO {WATERMARKS} (target, last_lead_id, complete, filter, updated_at) VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (target) DO UPDATE SET last_lead_id = EXCLUDED.last_lead_id, complete = EXCLUDED.complete,
             filter = EXCLUDED.filter, updated_at = now()"
        );
        let params: [&(dyn ToSql + Sync); 4] =
            [&self.target.table, &(last as i64), &complete, &self.target.filter];
        self.client.execute(&statement, &params).await.map_err(sql("saving the watermark"))?;
        Ok(())
    }

    /// Deletes these leads' rows with the next batch, before its upsert (or at
    /// the end when no batch follows).
    pub fn remove(&mut self, reason: Removal, ids: impl IntoIterator<Item = LeadId>) {
        let ids: Vec<i64> = ids.into_iter().map(|id| id as i64).collect();
        if !ids.is_empty() {
            self.removals.push((reason, ids));
        }
    }

    async fn delete_removed(&mut self) -> Result<(), PgError> {
        let statement = format!("DELETE FROM {} WHERE lead_id = ANY($1)", self.table);
        for (reason, ids) in std::mem::take(&mut self.removals) {
            let deleted = self.client.execute(&statement, &[&ids]).await.map_err(sql("deleting rows"))?;
            *match reason {
                Removal::Merged => &mut self.report.deleted_merged,
                Removal::Erased => &mut self.report.deleted_erased,
                Removal::Suppressed => &mut self.report.deleted_suppressed,
            } += deleted;
        }
        Ok(())
    }

    /// Loads one batch (leads in increasing id order) and moves the watermark past it,
    /// in one transaction (inside the dry run's transaction, a savepoint), after
    /// deleting the rows [`PgExport::remove`] named.
    pub async fn load(&mut self, leads: &[Lead]) -> Result<(), PgError> {
        let Some(last) = leads.last().map(|l| l.id) else { return Ok(()) };
        let begin = if self.target.dry_run { "SAVEPOINT batch" } else { "BEGIN" };
        self.client.batch_execute(begin).await.map_err(sql("starting a batch"))?;
        let removals = self.removals.clone();
        if let Err(e) = self.delete_removed().await {
            self.rollback_batch().await?;
            return Err(e);
        }
        match self.upsert(leads).await {
            Ok(()) => {}
            Err(PgError::Sql { message, .. }) if message.contains("(23505)") => {
                // Another row of the table holds one of these identity keys: find which
                // leads, keep the rest.
                self.rollback_batch().await?;
                self.client.batch_execute(begin).await.map_err(sql("starting a batch"))?;
                self.removals = removals;
                self.delete_removed().await?;
                self.upsert_one_by_one(leads).await?;
            }
            Err(e) => {
                self.rollback_batch().await?;
                self.removals = removals;
                return Err(e);
            }
        }
        self.set_watermark(last, false).await?;
        let end = if self.target.dry_run { "RELEASE SAVEPOINT batch" } else { "COMMIT" };
        self.client.batch_execute(end).await.map_err(sql("committing a batch"))?;
        Ok(())
    }

    async fn rollback_batch(&self) -> Result<(), PgError> {
        let rollback = if self.target.dry_run { "ROLLBACK TO SAVEPOINT batch" } else { "ROLLBACK" };
        self.client.batch_execute(rollback).await.map_err(sql("rolling back a batch"))
    }

    async fn upsert(&mut self, leads: &[Lead]) -> Result<(), PgError> {
        self.client
            .batch_execute("TRUNCATE leadsprint_staging")
            .await
            .map_err(sql("clearing the staging table"))?;
        let sink = self
            .client
            .copy_in(&format!("COPY leadsprint_staging ({}) FROM STDIN BINARY", column_list()))
            .await
            .map_err(sql("starting COPY"))?;
        let types: Vec<Type> = COLUMNS.iter().map(|(_, _, t)| t.clone()).collect();
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        for lead in leads {
            let (row, cleaned) = Row::of(lead);
            self.report.cleaned_values += cleaned;
            writer.as_mut().write(&row.params()).await.map_err(sql("COPY"))?;
        }
        writer.finish().await.map_err(sql("COPY"))?;
        let rows = self.client.query(&upsert_sql(&self.table), &[]).await.map_err(sql("upserting"))?;
        let inserted = rows.iter().filter(|r| r.get::<_, bool>(0)).count() as u64;
        let updated = rows.len() as u64 - inserted;
        self.report.inserted += inserted;
        self.report.updated += updated;
        self.report.unchanged += leads.len() as u64 - inserted - updated;
        Ok(())
    }

    /// The slow path for a batch that hit a unique-key conflict: each lead under its
    /// own savepoint; a refused lead is reported with the reason.
    async fn upsert_one_by_one(&mut self, leads: &[Lead]) -> Result<(), PgError> {
        for lead in leads {
            self.client.batch_execute("SAVEPOINT one").await.map_err(sql("savepoint"))?;
            match self.upsert(std::slice::from_ref(lead)).await {
                Ok(()) => {
                    self.client.batch_execute("RELEASE SAVEPOINT one").await.map_err(sql("savepoint"))?
                }
                Err(PgError::Sql { message, .. }) => {
                    self.client.batch_execute("ROLLBACK TO SAVEPOINT one").await.map_err(sql("savepoint"))?;
                    self.report.failed.push((lead.id, message));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Marks the pass complete (the next export starts a new pass) and returns the
    /// report; a dry run rolls everything back instead.
    pub async fn finish(mut self) -> Result<PgReport, PgError> {
        if !self.removals.is_empty() {
            // No batch came to carry them (every lead filtered out, say).
            self.delete_removed().await?;
        }
        if self.target.dry_run {
            self.client.batch_execute("ROLLBACK").await.map_err(sql("ending the dry run"))?;
        } else {
            let last = self.resume_after.unwrap_or(0);
            self.set_watermark(last, true).await?;
        }
        Ok(std::mem::take(&mut self.report))
    }
}

/// `schema.table` checked and quoted.
fn quote_table(name: &str) -> Result<String, PgError> {
    let parts: Vec<&str> = name.split('.').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && p.len() <= 63
            && p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if parts.len() > 2 || !parts.iter().all(plain) {
        return Err(PgError::BadTable(name.to_owned()));
    }
    Ok(parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join("."))
}

/// The exported columns: (name, SQL type, COPY type). `lead_id` first.
const COLUMNS: [(&str, &str, Type); 37] = [
    ("lead_id", "bigint NOT NULL", Type::INT8),
    ("first_name", "text", Type::TEXT),
    ("last_name", "text", Type::TEXT),
    ("full_name", "text", Type::TEXT),
    ("job_title", "text", Type::TEXT),
    ("seniority", "text", Type::TEXT),
    ("company_name", "text", Type::TEXT),
    ("company_domain", "text", Type::TEXT),
    ("company_industry", "text", Type::TEXT),
    ("company_size", "text", Type::TEXT),
    ("company_linkedin_url", "text", Type::TEXT),
    ("city", "text", Type::TEXT),
    ("region", "text", Type::TEXT),
    ("country", "text", Type::TEXT),
    ("email", "text", Type::TEXT),
    ("email_status", "text NOT NULL", Type::TEXT),
    ("phone", "text", Type::TEXT),
    ("linkedin_url", "text", Type::TEXT),
    ("email_key", "text", Type::TEXT),
    ("linkedin_key", "text", Type::TEXT),
    ("profile_key", "text", Type::TEXT),
    ("emails", "text[] NOT NULL", Type::TEXT_ARRAY),
    ("linkedin_urls", "text[] NOT NULL", Type::TEXT_ARRAY),
    ("profile_ids", "text[] NOT NULL", Type::TEXT_ARRAY),
    ("vendors", "text[] NOT NULL", Type::TEXT_ARRAY),
    ("workflows", "text[] NOT NULL", Type::TEXT_ARRAY),
    ("source_count", "integer NOT NULL", Type::INT4),
    ("quality", "smallint NOT NULL", Type::INT2),
    ("quality_breakdown", "jsonb NOT NULL", Type::JSONB),
    ("flags", "jsonb NOT NULL", Type::JSONB),
    ("merges", "integer NOT NULL", Type::INT4),
    ("created_at", "timestamptz NOT NULL", Type::TIMESTAMPTZ),
    ("updated_at", "timestamptz NOT NULL", Type::TIMESTAMPTZ),
    // A default, so rows written by other tools (a shared table) need not name it.
    ("merged_ids", "bigint[] NOT NULL DEFAULT '{}'", Type::INT8_ARRAY),
    // Who gave email_status, their own word for it, and when (NULL: nobody did).
    ("email_checked_by", "text", Type::TEXT),
    ("email_raw_status", "text", Type::TEXT),
    ("email_checked_at", "timestamptz", Type::TIMESTAMPTZ),
];

/// Columns added after the first release, added to a table an older build created.
const ADDED_COLUMNS: [&str; 4] = ["merged_ids", "email_checked_by", "email_raw_status", "email_checked_at"];

fn column_list() -> String {
    COLUMNS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The target table (typed columns, unique lead id and identity keys), the watermark
/// table and the session's staging table. NULL keys stay distinct: leads without an
/// email never collide.
fn schema_sql(quoted: &str, name: &str, explicit_nulls: bool) -> String {
    let columns: Vec<String> = COLUMNS.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    let index_name = |key: &str| format!("\"{}_{key}\"", name.replace('.', "_"));
    let nulls = if explicit_nulls { " NULLS DISTINCT" } else { "" };
    let added: String = COLUMNS
        .iter()
        .filter(|(n, _, _)| ADDED_COLUMNS.contains(n))
        .map(|(n, t, _)| format!("ALTER TABLE {quoted} ADD COLUMN IF NOT EXISTS {n} {t};\n"))
        .collect();
    let keys: String = ["email_key", "linkedin_key", "profile_key"]
        .iter()
        .map(|k| format!("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {quoted} ({k}){nulls};\n", index_name(k)))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {quoted} ({}, exported_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (lead_id));
{added}{keys}CREATE TABLE IF NOT EXISTS {WATERMARKS} (target text PRIMARY KEY, last_lead_id bigint NOT NULL,
  complete boolean NOT NULL, filter text NOT NULL, updated_at timestamptz NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS leadsprint_staging ({});",
        columns.join(", "),
        columns.join(", ")
    )
}

/// Insert new leads, update changed ones, leave identical ones alone; returns one
/// row per written lead, `true` when it was inserted.
fn upsert_sql(table: &str) -> String {
    let names: Vec<&str> = COLUMNS.iter().skip(1).map(|(n, _, _)| *n).collect();
    let set: Vec<String> = names.iter().map(|n| format!("{n} = EXCLUDED.{n}")).collect();
    let old: Vec<String> = names.iter().map(|n| format!("t.{n}")).collect();
    let new: Vec<String> = names.iter().map(|n| format!("EXCLUDED.{n}")).collect();
    format!(
        "INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM leadsprint_staging
         ON CONFLICT (lead_id) DO UPDATE SET {set}, exported_at = now()
         WHERE ({old}) IS DISTINCT FROM ({new})
         RETURNING (xmax = 0)",
        cols = column_list(),
        set = set.join(", "),
        old = old.join(", "),
        new = new.join(", "),
    )
}

/// One lead as COPY values.
struct Row {
    id: i64,
    texts: Vec<Option<String>>,
    arrays: [Vec<String>; 5],
    counts: [i32; 2],
    quality: i16,
    jsons: [serde_json::Value; 2],
    times: [SystemTime; 2],
    /// Lead ids merged into this one (a consumer holding one finds its row here).
    merged: Vec<i64>,
    /// Who checked the email and their word for it; when.
    check: [Option<String>; 2],
    checked_at: Option<SystemTime>,
}

impl Row {
    /// The row and how many of its text values held NUL bytes (dropped: PostgreSQL
    /// text cannot hold them).
    fn of(lead: &Lead) -> (Row, u64) {
        let mut cleaned = 0;
        let mut clean = |v: Option<&str>| -> Option<String> {
            let v = v?;
            if v.contains('\0') {
                cleaned += 1;
                return Some(v.replace('\0', ""));
            }
            Some(v.to_owned())
        };
        let c = &lead.company;
        let l = &lead.location;
        let id = &lead.identity;
        let raw: [Option<&str>; 20] = [
            lead.first_name.as_deref(),
            lead.last_name.as_deref(),
            lead.full_name.as_deref(),
            lead.job_title.as_deref(),
            lead.seniority.as_deref(),
            c.name.as_deref(),
            c.domain.as_deref(),
            c.industry.as_deref(),
            c.size.as_deref(),
            c.linkedin_url.as_deref(),
            l.city.as_deref(),
            l.region.as_deref(),
            l.country.as_deref(),
            lead.email.as_deref(),
            Some(lead.email_status.as_str()),
            lead.phone.as_deref(),
            lead.linkedin_url.as_deref(),
            id.emails.first().map(String::as_str),
            id.linkedin_urls.first().map(String::as_str),
            id.profile_ids.first().map(String::as_str),
        ];
        let texts = raw.into_iter().map(&mut clean).collect();
        let mut list = |values: &mut dyn Iterator<Item = &String>| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for v in values {
                let v = clean(Some(v)).unwrap_or_default();
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            out
        };
        let arrays = [
            list(&mut id.emails.iter()),
            list(&mut id.linkedin_urls.iter()),
            list(&mut id.profile_ids.iter()),
            list(&mut lead.sources.iter().map(|s| &s.vendor)),
            list(&mut lead.sources.iter().map(|s| &s.workflow)),
        ];
        let jsons = [
            serde_json::to_value(lead.quality).unwrap_or_default(),
            strip_nul(serde_json::to_value(&lead.flags).unwrap_or_default()),
        ];
        let row = Row {
            id: lead.id as i64,
            texts,
            arrays,
            counts: [lead.sources.len() as i32, lead.merges.len() as i32],
            quality: i16::from(lead.quality.score),
            jsons,
            times: [time(lead.created_at), time(lead.updated_at)],
            merged: lead.absorbed_ids().map(|id| id as i64).collect(),
            check: [
                clean(lead.email_check.as_ref().map(|c| c.provider.as_str())),
                clean(lead.email_check.as_ref().map(|c| c.raw_status.as_str())),
            ],
            checked_at: lead.email_check.as_ref().map(|c| time(c.checked_at)),
        };
        (row, cleaned)
    }

    /// The values in [`COLUMNS`] order.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut out: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(COLUMNS.len());
        out.push(&self.id);
        out.extend(self.texts.iter().map(|t| t as &(dyn ToSql + Sync)));
        out.extend(self.arrays.iter().map(|a| a as &(dyn ToSql + Sync)));
        out.push(&self.counts[0]);
        out.push(&self.quality);
        out.extend(self.jsons.iter().map(|j| j as &(dyn ToSql + Sync)));
        out.push(&self.counts[1]);
        out.extend(self.times.iter().map(|t| t as &(dyn ToSql + Sync)));
        out.push(&self.merged);
        out.extend(self.check.iter().map(|t| t as &(dyn ToSql + Sync)));
        out.push(&self.checked_at);
        out
    }
}

/// JSON strings cannot hold NUL in a jsonb value either.
fn strip_nul(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(s.replace('\0', "")),
        serde_json::Value::Array(a) => a.into_iter().map(strip_nul).collect(),
        serde_json::Value::Object(o) => {
            o.into_iter().map(|(k, v)| (k.replace('\0', ""), strip_nul(v))).collect()
        }
        other => other,
    }
}

fn time(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/leads"), "postgres://app:***@db:5432/leads");
        assert_eq!(redact_url("postgres://db/leads"), "postgres://db/leads");
        assert_eq!(redact_url("postgres://app@db/leads"), "postgres://app@db/leads");
        assert_eq!(redact_url("host=db password=x"), "the database");
    }

    #[test]
    fn table_names_are_checked_and_quoted() {
        assert_eq!(quote_table("performance_marketers").unwrap(), "\"performance_marketers\"");
        assert_eq!(quote_table("crm.leads").unwrap(), "\"crm\".\"leads\"");
        for bad in ["", "a;drop table x", "1abc", "a.b.c", "x\"y", &"a".repeat(64)] {
            assert!(quote_table(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_column_list_matches_the_row() {
        let (row, cleaned) = Row::of(&Lead { first_name: Some("a\0b".into()), ..Lead::default() });
        assert_eq!(row.params().len(), COLUMNS.len());
        assert_eq!(cleaned, 1);
        assert_eq!(row.texts[0].as_deref(), Some("ab"));
    }
}
