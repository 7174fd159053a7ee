//! JSON records: one object per line (JSONL), or one array of objects (Bright Data
//! snapshots). Nested objects are read by path (`current_company.name`), so a
//! vendor's record maps through the same synonym table as a CSV header.

use std::collections::HashMap;
use std::io::BufRead;

use serde_json::{Map, Value};

use super::columns::{Field, detect_vendor, fold};
use super::{Context, FileReport, ImportError, raw_from};

/// Reads JSONL: a bad line is quarantined, the rest of the file goes on.
pub(super) fn read_lines(mut input: impl BufRead, ctx: &mut Context<'_>) -> Result<FileReport, ImportError> {
    let mut reader = Records::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(|e| ctx.io_error(e))? == 0 {
            break;
        }
        number += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let position = format!("line {number}");
        let Ok(text) = std::str::from_utf8(text) else {
            let reason = "line is not valid UTF-8: save the file as UTF-8".to_owned();
            ctx.reject(position, "invalid UTF-8", reason, line.clone())?;
            continue;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(value) => reader.value(value, position, text.as_bytes(), ctx)?,
            Err(e) => {
                let reason = format!("malformed JSON ({e}): fix this line");
                ctx.reject(position, "malformed JSON", reason, text.as_bytes().to_vec())?;
            }
        }
    }
    Ok(reader.report(ctx, "jsonl"))
}

/// Reads a JSON array of records; a file that does not parse is refused whole.
pub(super) fn read_array(input: impl BufRead, ctx: &mut Context<'_>) -> Result<FileReport, ImportError> {
    let values: Vec<Value> = serde_json::from_reader(input)
        .map_err(|e| ImportError::Json { path: ctx.path.clone(), message: e.to_string() })?;
    let mut reader = Records::default();
    for (i, value) in values.into_iter().enumerate() {
        let raw = serde_json::to_vec(&value).unwrap_or_default();
        reader.value(value, format!("item {}", i + 1), &raw, ctx)?;
    }
    Ok(reader.report(ctx, "json"))
}

/// Field lookups cached per key path, and what the file turned out to be.
#[derive(Default)]
struct Records {
    vendor: Option<String>,
    fields: HashMap<String, Option<Field>>,
    rows: u64,
}

impl Records {
    fn value(
        &mut self,
        value: Value,
        position: String,
        raw: &[u8],
        ctx: &mut Context<'_>,
    ) -> Result<(), ImportError> {
        self.rows += 1;
        let Value::Object(object) = value else {
            let reason = "not a JSON object: each record must be {\"field\": value, ...}".to_owned();
            return ctx.reject(position, "not an object", reason, raw.to_vec());
        };
        let mut flat = Vec::new();
        flatten("", &object, &mut flat);
        let vendor = self.vendor.get_or_insert_with(|| {
            let folded: Vec<String> = flat.iter().map(|(k, _)| fold(k)).collect();
            ctx.vendor(detect_vendor(folded.iter().map(String::as_str)))
        });
        let fields = &mut self.fields;
        let values = flat.iter().filter_map(|(key, text)| {
            let field = *fields.entry(key.clone()).or_insert_with(|| ctx.mapper.field(key, vendor));
            field.map(|f| (f, text.as_str()))
        });
        let lead = raw_from(values.collect::<Vec<_>>().into_iter());
        let vendor = vendor.clone();
        ctx.record(lead, &vendor, position, || raw.to_vec())
    }

    fn report(self, ctx: &Context<'_>, format: &'static str) -> FileReport {
        let mut columns: Vec<(String, String)> =
            self.fields.iter().filter_map(|(k, f)| f.map(|f| (k.clone(), f.name().to_owned()))).collect();
        let mut ignored_columns: Vec<String> =
            self.fields.iter().filter(|(_, f)| f.is_none()).map(|(k, _)| k.clone()).collect();
        columns.sort();
        ignored_columns.sort();
        FileReport {
            path: ctx.origin.clone(),
            format: format.to_owned(),
            vendor: self.vendor.unwrap_or_else(|| ctx.vendor("file")),
            rows: self.rows,
            columns,
            ignored_columns,
        }
    }
}

/// `{"a":{"b":"x"},"c":["y",1]}` → `[("a.b","x"),("c","y"),("c","1")]`.
fn flatten(prefix: &str, object: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (key, value) in object {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::String(s) => out.push((path, s.clone())),
            Value::Number(n) => out.push((path, n.to_string())),
            Value::Object(inner) => flatten(&path, inner, out),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => out.push((path.clone(), s.clone())),
                        Value::Number(n) => out.push((path.clone(), n.to_string())),
                        _ => {}
                    }
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
}
