//! CSV export: one row per lead in a fixed column order, with spreadsheet formula
//! prefixes neutralised so a hostile name cannot run in Excel or Sheets.

use std::io::Write;

use crate::lead::Lead;

/// The columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_status",
    "email_checked_by",
    "email_raw_status",
    "email_checked_at",
    "job_title",
    "seniority",
    "company_name",
    "company_domain",
    "company_industry",
    "company_size",
    "company_linkedin_url",
    "city",
    "region",
    "country",
    "phone",
    "linkedin_url",
    "profile_ids",
    "emails",
    "sources",
    "quality",
    "created_at",
    "updated_at",
    "merged_ids",
];

/// Cells starting with `= + - @`, tab or carriage return are formulas to a
/// spreadsheet: a leading apostrophe makes them text (OWASP's advice).
pub fn neutralize_formula(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// The I/O error under a csv error as it is (a closed pipe stays `BrokenPipe`).
fn io_error(e: csv::Error) -> std::io::Error {
    if !matches!(e.kind(), csv::ErrorKind::Io(_)) {
        return std::io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

pub(super) struct Writer<W: Write> {
    inner: csv::Writer<W>,
    record: Vec<String>,
}

impl<W: Write> Writer<W> {
    /// Starts the file with the header row.
    pub fn new(out: W) -> std::io::Result<Self> {
        let mut inner = csv::WriterBuilder::new().buffer_capacity(1 << 20).from_writer(out);
        inner.write_record(CSV_COLUMNS).map_err(io_error)?;
        Ok(Writer { inner, record: Vec::with_capacity(CSV_COLUMNS.len()) })
    }

    pub fn row(&mut self, lead: &Lead) -> std::io::Result<()> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let sources: Vec<String> =
            lead.sources.iter().map(|s| format!("{}/{}", s.vendor, s.workflow)).collect();
        let check = lead.email_check.as_ref();
        self.record.clear();
        self.record.extend([
            lead.id.to_string(),
            opt(&lead.first_name),
            opt(&lead.last_name),
            opt(&lead.full_name),
            opt(&lead.email),
            lead.email_status.as_str().to_owned(),
            check.map(|c| c.provider.clone()).unwrap_or_default(),
            check.map(|c| c.raw_status.clone()).unwrap_or_default(),
            check.map(|c| c.checked_at.to_string()).unwrap_or_default(),
            opt(&lead.job_title),
            opt(&lead.seniority),
            opt(&lead.company.name),
            opt(&lead.company.domain),
            opt(&lead.company.industry),
            opt(&lead.company.size),
            opt(&lead.company.linkedin_url),
            opt(&lead.location.city),
            opt(&lead.location.region),
            opt(&lead.location.country),
            opt(&lead.phone),
            opt(&lead.linkedin_url),
            lead.identity.profile_ids.join(";"),
            lead.identity.emails.join(";"),
            sources.join(";"),
            lead.quality.score.to_string(),
            lead.created_at.to_string(),
            lead.updated_at.to_string(),
            lead.absorbed_ids().map(|id| id.to_string()).collect::<Vec<_>>().join(";"),
        ]);
        for value in &self.record {
            self.inner.write_field(neutralize_formula(value).as_bytes()).map_err(io_error)?;
        }
        self.inner.write_record(None::<&[u8]>).map_err(io_error)?;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_formula_prefixes() {
        let cases = [
            ("=1+1", "'=1+1"),
            ("+1 555", "'+1 555"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("Dana", "Dana"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(neutralize_formula(input), want);
        }
    }
}
