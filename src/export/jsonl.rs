//! JSONL export: one full lead per line — every field, its identity keys, its
//! sources and merge history.

use std::io::Write;

use crate::lead::Lead;

pub(super) fn row(out: &mut impl Write, lead: &Lead) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, lead)?;
    out.write_all(b"\n")
}
