//! Exports at the end of the sprint. File formats live here (CSV, JSONL); each
//! target is one file. Exporters take leads from the caller as an iterator and
//! never reach into the store themselves.

pub mod crm;
mod csv;
pub mod hubspot;
mod jsonl;
pub mod postgres;
pub mod salesforce;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lead::{Lead, LeadId, SuppressionList};

pub use csv::{CSV_COLUMNS, neutralize_formula};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}; check the folder exists and is writable")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reading leads: {0}")]
    Source(String),
}

/// Which leads an export takes.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub min_quality: u8,
    /// Only these leads (sorted ids: the matches of a search query), when set.
    pub only: Option<std::sync::Arc<[LeadId]>>,
    /// Leads matching the do-not-contact list are left out (and counted).
    pub suppression: Option<std::sync::Arc<SuppressionList>>,
}

/// What the filter says of one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Left out by the query or the quality floor.
    FilteredOut,
    /// On the do-not-contact list: never exported, whatever the filters say.
    Suppressed,
}

impl Filter {
    pub fn verdict(&self, lead: &Lead) -> Verdict {
        if self.suppression.as_ref().is_some_and(|list| list.matching(lead).is_some()) {
            return Verdict::Suppressed;
        }
        let wanted = lead.quality.score >= self.min_quality
            && self.only.as_ref().is_none_or(|ids| ids.binary_search(&lead.id).is_ok());
        if wanted { Verdict::Accept } else { Verdict::FilteredOut }
    }

    pub fn accepts(&self, lead: &Lead) -> bool {
        self.verdict(lead) == Verdict::Accept
    }
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub written: u64,
    pub filtered_out: u64,
    /// Leads on the do-not-contact list, left out.
    pub suppressed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Jsonl,
}

/// Writes the accepted leads to `path` (`-` for standard output). A file is written
/// beside its final name and renamed at the end, so an interrupted export never
/// leaves a half file behind; a device or pipe (`/dev/null`, a FIFO) is written in
/// place — renaming over it would replace it.
pub fn to_file<E: std::fmt::Display>(
    path: &Path,
    format: FileFormat,
    filter: Filter,
    leads: impl Iterator<Item = Result<Lead, E>>,
) -> Result<ExportReport, ExportError> {
    let io = |source| ExportError::Io { path: path.to_owned(), source };
    if path == Path::new("-") {
        let stdout = std::io::stdout().lock();
        return to_writer(BufWriter::new(stdout), format, filter, leads, path);
    }
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
        return to_writer(BufWriter::with_capacity(1 << 20, file), format, filter, leads, path);
    }
    let tmp = path
        .with_extension(format!("{}.partial", path.extension().map_or("".into(), |e| e.to_string_lossy())));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let report = to_writer(BufWriter::with_capacity(1 << 20, file), format, filter, leads, path);
    match report {
        Ok(r) => std::fs::rename(&tmp, path).map(|_| r).map_err(io),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes the accepted leads to `out`; `path` names the destination in errors.
pub fn to_writer<W: Write, E: std::fmt::Display>(
    out: W,
    format: FileFormat,
    filter: Filter,
    leads: impl Iterator<Item = Result<Lead, E>>,
    path: &Path,
) -> Result<ExportReport, ExportError> {
    let io = |source| ExportError::Io { path: path.to_owned(), source };
    match format {
        FileFormat::Csv => {
            let mut writer = csv::Writer::new(out).map_err(io)?;
            let report = each_accepted(leads, filter, |lead| writer.row(lead)).map_err(|e| e.at(path))?;
            writer.finish().map_err(io)?;
            Ok(report)
        }
        FileFormat::Jsonl => {
            let mut out = out;
            let report =
                each_accepted(leads, filter, |lead| jsonl::row(&mut out, lead)).map_err(|e| e.at(path))?;
            out.flush().map_err(io)?;
            Ok(report)
        }
    }
}

enum LoopError {
    Io(std::io::Error),
    Source(String),
}

impl LoopError {
    fn at(self, path: &Path) -> ExportError {
        match self {
            LoopError::Io(source) => ExportError::Io { path: path.to_owned(), source },
            LoopError::Source(e) => ExportError::Source(e),
        }
    }
}

/// Calls `write` for each lead the filter accepts, counting both kinds.
fn each_accepted<E: std::fmt::Display>(
    leads: impl Iterator<Item = Result<Lead, E>>,
    filter: Filter,
    mut write: impl FnMut(&Lead) -> std::io::Result<()>,
) -> Result<ExportReport, LoopError> {
    let mut report = ExportReport::default();
    for lead in leads {
        let lead = lead.map_err(|e| LoopError::Source(e.to_string()))?;
        match filter.verdict(&lead) {
            Verdict::Accept => {
                write(&lead).map_err(LoopError::Io)?;
                report.written += 1;
            }
            Verdict::FilteredOut => report.filtered_out += 1,
            Verdict::Suppressed => report.suppressed += 1,
        }
    }
    Ok(report)
}
