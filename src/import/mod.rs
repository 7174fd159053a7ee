//! File import: CSV (any of `, ; TAB |`, UTF-8 with or without BOM, UTF-16 by BOM,
//! other encodings by name) and JSON/JSONL. Each file becomes a stream of pipeline
//! [`Item`]s; rows that cannot become leads become quarantine entries with their
//! reason and raw bytes, so nothing read is lost.

pub mod columns;
mod csv_file;
mod json_file;
pub mod suppression;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lead::{Millis, RawLead, Source};
use crate::pipeline::{self, Item};
use columns::{Field, Mapper};

pub use columns::MapError;

/// Items are handed to the writer in chunks of this many.
const CHUNK: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `COLUMN=FIELD` overrides.
    pub maps: Vec<String>,
    /// An encoding label (`latin1`, `windows-1252`, `utf-16le` ...); default: UTF-8,
    /// or UTF-16 when the file starts with its BOM.
    pub encoding: Option<String>,
    /// The source name to record instead of the one detected from the headers.
    pub vendor: Option<String>,
    /// The workflow to record as the source (and quarantine origin) instead of
    /// `import:<file name>`; positions then name the file.
    pub workflow: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path}: no column identifies a person (headers seen: {headers}); name one with --map COLUMN=linkedin_url, =email or =profile_id"
    )]
    NoIdentityColumn { path: PathBuf, headers: String },
    #[error("{path} is not valid JSON ({message}); fix it, or write one object per line (JSONL)")]
    Json { path: PathBuf, message: String },
    #[error("unknown encoding {0:?}; use a label such as utf-8, latin1, windows-1252 or utf-16le")]
    UnknownEncoding(String),
    #[error(transparent)]
    Map(#[from] MapError),
    #[error("the writer stopped before {0} was read to the end")]
    WriterGone(PathBuf),
}

/// What was read from one file.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct FileReport {
    pub path: String,
    pub format: String,
    pub vendor: String,
    pub rows: u64,
    /// `header → field` for every mapped column.
    pub columns: Vec<(String, String)>,
    pub ignored_columns: Vec<String>,
}

/// Reads one file and hands its items to `send` (which returns false once the
/// writer is gone). `progress` is told how many bytes were consumed.
pub fn read_file(
    path: &Path,
    options: &ImportOptions,
    progress: &dyn Fn(u64),
    send: &mut dyn FnMut(Vec<Item>) -> bool,
) -> Result<FileReport, ImportError> {
    let mapper = Mapper::new(&options.maps)?;
    let encoding = match &options.encoding {
        None => None,
        Some(label) => Some(
            encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| ImportError::UnknownEncoding(label.clone()))?,
        ),
    };
    let io = |source| ImportError::Io { path: path.to_owned(), source };
    let file = File::open(path).map_err(io)?;
    let counted = Counted { inner: file, progress };
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(encoding)
        .bom_override(true)
        .utf8_passthru(true)
        .strip_bom(true)
        .build(counted);
    let mut input = BufReader::with_capacity(1 << 18, decoded);
    let first = input.fill_buf().map_err(io)?.iter().copied().find(|b| !b.is_ascii_whitespace());
    let mut ctx = Context::new(path, options, mapper, send);
    let report = match (extension(path).as_str(), first) {
        ("jsonl" | "ndjson", _) | (_, Some(b'{')) => json_file::read_lines(input, &mut ctx),
        (_, Some(b'[')) => json_file::read_array(input, &mut ctx),
        _ => csv_file::read(input, &mut ctx),
    }?;
    ctx.flush()?;
    Ok(report)
}

fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// A reader that reports how many bytes went through it.
struct Counted<'a, R> {
    inner: R,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// State shared by the format readers: where records come from and where they go.
struct Context<'a> {
    path: PathBuf,
    origin: String,
    workflow: String,
    /// Put in front of every position (`file.csv line 3` for a workflow's files).
    prefix: String,
    vendor_override: Option<String>,
    mapper: Mapper,
    send: &'a mut dyn FnMut(Vec<Item>) -> bool,
    chunk: Vec<Item>,
    now: Millis,
}

impl<'a> Context<'a> {
    fn new(
        path: &Path,
        options: &ImportOptions,
        mapper: Mapper,
        send: &'a mut dyn FnMut(Vec<Item>) -> bool,
    ) -> Self {
        let name =
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        // A workflow's file: the workflow is the source and origin, positions name the file.
        let (origin, workflow, prefix) = match &options.workflow {
            Some(w) => (w.clone(), w.clone(), format!("{name} ")),
            None => (path.display().to_string(), format!("import:{name}"), String::new()),
        };
        Context {
            path: path.to_owned(),
            origin,
            workflow,
            prefix,
            vendor_override: options.vendor.clone(),
            mapper,
            send,
            chunk: Vec::with_capacity(CHUNK),
            now: pipeline::now_millis(),
        }
    }

    fn vendor(&self, detected: &'static str) -> String {
        self.vendor_override.clone().unwrap_or_else(|| detected.to_owned())
    }

    fn io_error(&self, source: std::io::Error) -> ImportError {
        ImportError::Io { path: self.path.clone(), source }
    }

    /// A record built from mapped values, normalised on this thread.
    fn record(
        &mut self,
        mut raw: RawLead,
        vendor: &str,
        position: String,
        raw_bytes: impl FnOnce() -> Vec<u8>,
    ) -> Result<(), ImportError> {
        let position = format!("{}{position}", self.prefix);
        raw.source = Source {
            vendor: vendor.to_owned(),
            workflow: self.workflow.clone(),
            record_id: Some(position.clone()),
            fetched_at: self.now,
        };
        let item = pipeline::prepare(&raw, &self.origin, || position, raw_bytes, self.now);
        self.push(item)
    }

    /// A row rejected before mapping (bad bytes, wrong shape).
    fn reject(
        &mut self,
        position: String,
        kind: &str,
        reason: String,
        raw: Vec<u8>,
    ) -> Result<(), ImportError> {
        let position = format!("{}{position}", self.prefix);
        let entry = pipeline::quarantine(&self.origin, position, kind, reason, raw, self.now);
        self.push(Item::Quarantine(entry))
    }

    fn push(&mut self, item: Item) -> Result<(), ImportError> {
        self.chunk.push(item);
        if self.chunk.len() >= CHUNK { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), ImportError> {
        if !self.chunk.is_empty() && !(self.send)(std::mem::take(&mut self.chunk)) {
            return Err(ImportError::WriterGone(self.path.clone()));
        }
        Ok(())
    }
}

/// Applies `(field, value)` pairs to a fresh record.
fn raw_from<'v>(values: impl Iterator<Item = (Field, &'v str)>) -> RawLead {
    let mut raw = RawLead::default();
    for (field, value) in values {
        field.apply(&mut raw, value);
    }
    raw
}
