//! CSV rows: delimiter sniffing, the header row (found past preambles such as the
//! notes LinkedIn puts on top of `Connections.csv`), and row checks — field count,
//! UTF-8, size — before a row is mapped.

use std::io::{BufRead, Cursor, Read};

use csv::ByteRecord;

use super::columns::{Field, detect_vendor, fold};
use super::{Context, FileReport, ImportError, raw_from};
use crate::lead::normalize::MAX_FIELD_BYTES;

/// Rows looked at to find the header before giving up.
const HEADER_SEARCH_ROWS: usize = 20;

struct Header {
    names: Vec<String>,
    fields: Vec<Option<Field>>,
    vendor: String,
}

pub(super) fn read(mut input: impl BufRead, ctx: &mut Context<'_>) -> Result<FileReport, ImportError> {
    let mut head = Vec::new();
    (&mut input).take(64 * 1024).read_to_end(&mut head).map_err(|e| ctx.io_error(e))?;
    let delimiter = sniff_delimiter(&head);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 18)
        .from_reader(Cursor::new(head).chain(input));
    let mut record = ByteRecord::new();
    let mut header: Option<Header> = None;
    let mut seen = Vec::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).map_err(|e| ctx.io_error(e.into()))? {
        match &header {
            Some(h) => {
                rows += 1;
                row(h, &record, delimiter, ctx)?;
            }
            None if seen.len() < HEADER_SEARCH_ROWS => {
                header = find_header(&record, ctx);
                seen.push(String::from_utf8_lossy(record.as_slice()).into_owned());
            }
            None => break,
        }
    }
    let header = header.ok_or_else(|| ImportError::NoIdentityColumn {
        path: ctx.path.clone(),
        headers: seen.first().cloned().unwrap_or_else(|| "none: the file is empty".into()),
    })?;
    Ok(report(ctx, header, rows))
}

fn report(ctx: &Context<'_>, header: Header, rows: u64) -> FileReport {
    let mut columns = Vec::new();
    let mut ignored_columns = Vec::new();
    for (name, field) in header.names.into_iter().zip(header.fields) {
        match field {
            Some(f) => columns.push((name, f.name().to_owned())),
            None => ignored_columns.push(name),
        }
    }
    FileReport {
        path: ctx.origin.clone(),
        format: "csv".to_owned(),
        vendor: header.vendor,
        rows,
        columns,
        ignored_columns,
    }
}

/// The delimiter among `, ; TAB |` seen most often outside quotes in the first lines.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut in_quotes = false;
    let mut lines = 0;
    for &b in head {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => {
                lines += 1;
                if lines == 10 {
                    break;
                }
            }
            _ if !in_quotes => {
                if let Some(i) = candidates.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    candidates[best]
}

/// A row is the header when one of its columns identifies a person.
fn find_header(record: &ByteRecord, ctx: &Context<'_>) -> Option<Header> {
    let names: Vec<String> = record.iter().map(|f| String::from_utf8_lossy(f).trim().to_owned()).collect();
    let folded: Vec<String> = names.iter().map(|n| fold(n)).collect();
    let vendor = ctx.vendor(detect_vendor(folded.iter().map(String::as_str)));
    let mut fields: Vec<Option<Field>> = names.iter().map(|n| ctx.mapper.field(n, &vendor)).collect();
    // A field fed by two columns: the first one wins (Apollo's `Company` before
    // `Company Name for Emails`), except for the lists (emails, IDs).
    let mut taken = Vec::new();
    for slot in fields.iter_mut() {
        if let Some(f) = *slot {
            let multi = f.is_identity() && f != Field::LinkedinUrl;
            if taken.contains(&f) && !multi {
                *slot = None;
            }
            taken.push(f);
        }
    }
    fields.iter().flatten().any(|f| f.is_identity()).then_some(Header { names, fields, vendor })
}

fn row(
    header: &Header,
    record: &ByteRecord,
    delimiter: u8,
    ctx: &mut Context<'_>,
) -> Result<(), ImportError> {
    let line = record.position().map_or(0, |p| p.line());
    let position = format!("line {line}");
    let raw = || raw_row(record, delimiter);
    if record.len() != header.names.len() {
        let reason = format!(
            "row has {} fields but the header has {}: check this line for an unquoted delimiter or a stray quote",
            record.len(),
            header.names.len()
        );
        return ctx.reject(position, "wrong field count", reason, raw());
    }
    let mut values = Vec::with_capacity(header.fields.len());
    for ((bytes, field), name) in record.iter().zip(&header.fields).zip(&header.names) {
        if bytes.len() > MAX_FIELD_BYTES {
            let reason = format!("column {name:?} is {} bytes, over the 64 KiB limit", bytes.len());
            return ctx.reject(position, "field over 64 KiB", reason, raw());
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            let reason = format!(
                "column {name:?} is not valid UTF-8: save the file as UTF-8, or name its encoding with --encoding (e.g. latin1)"
            );
            return ctx.reject(position, "invalid UTF-8", reason, raw());
        };
        if let Some(field) = field {
            values.push((*field, text));
        }
    }
    let lead = raw_from(values.into_iter());
    let vendor = header.vendor.clone();
    ctx.record(lead, &vendor, position, raw)
}

/// The row's fields, byte for byte, written back as one CSV line.
fn raw_row(record: &ByteRecord, delimiter: u8) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    let _ = writer.write_byte_record(record);
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_delimiters() {
        let cases: &[(&str, &[u8], u8)] = &[
            ("comma", b"a,b,c\n1,2,3\n", b','),
            ("semicolon with commas in quotes", b"a;b;c\n\"x, y\";2;3\n", b';'),
            ("tab", b"a\tb\tc\n1\t2\t3\n", b'\t'),
            ("pipe", b"a|b|c\n", b'|'),
            ("empty", b"", b','),
        ];
        for (name, head, want) in cases {
            assert_eq!(sniff_delimiter(head), *want, "case {name}");
        }
    }
}
