//! What a sprint keeps about itself beside its leads: the alerting state (each
//! alert's last notice, each sink's health), the log of notices sent, the
//! timeline samples and run events the report draws, and export results. The
//! store holds them as opaque bytes under names or in append-only logs; their
//! owners (alerts, report) give them meaning. Written in small transactions of
//! their own, apart from the single writer's batches.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::reader::open_or_none;
use super::{Reader, Store, StoreError};

/// Values kept under a name, replaced whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// Alert fingerprint → its state (firing since, last sent, resolved).
    AlertState,
    /// Sink name → its health (a webhook found dead stays disabled).
    AlertSink,
    /// A sprint's own bookkeeping (open run, for crash detection).
    Run,
}

/// Append-only logs, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// Each notice sent (or that failed), with its alerts.
    AlertNotices,
    /// The sprint's figures at intervals (per-vendor leads, requests, 429s).
    Timeline,
    /// State changes worth a line on the timeline (breaker, pause, throttling).
    RunEvents,
    /// Each export's result (rows written and failed per target).
    Exports,
}

const ALERT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("alert_fingerprint_to_state");
const ALERT_SINK: TableDefinition<&str, &[u8]> = TableDefinition::new("alert_sink_to_status");
const RUN_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("run_name_to_state");
const ALERT_NOTICES: TableDefinition<u64, &[u8]> = TableDefinition::new("alert_notice_seq_to_notice");
const TIMELINE: TableDefinition<u64, &[u8]> = TableDefinition::new("timeline_seq_to_sample");
const RUN_EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("run_event_seq_to_event");
const EXPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("export_seq_to_result");

fn named(table: Named) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match table {
        Named::AlertState => ALERT_STATE,
        Named::AlertSink => ALERT_SINK,
        Named::Run => RUN_STATE,
    }
}

fn log(table: Log) -> TableDefinition<'static, u64, &'static [u8]> {
    match table {
        Log::AlertNotices => ALERT_NOTICES,
        Log::Timeline => TIMELINE,
        Log::RunEvents => RUN_EVENTS,
        Log::Exports => EXPORTS,
    }
}

impl Store {
    /// Puts `entries` and removes `removed` under `table`'s names, in one durable commit.
    pub fn put_named(
        &self,
        table: Named,
        entries: &[(String, Vec<u8>)],
        removed: &[String],
    ) -> Result<(), StoreError> {
        if entries.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(named(table))?;
            for (name, value) in entries {
                t.insert(name.as_str(), value.as_slice())?;
            }
            for name in removed {
                t.remove(name.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Appends `values` to `table` in one durable commit; returns the last number given.
    pub fn append(&self, table: Log, values: &[Vec<u8>]) -> Result<u64, StoreError> {
        let txn = self.db.begin_write()?;
        let last = {
            let mut t = txn.open_table(log(table))?;
            let mut next = t.last()?.map_or(0, |(k, _)| k.value()) + 1;
            for value in values {
                t.insert(next, value.as_slice())?;
                next += 1;
            }
            next - 1
        };
        txn.commit()?;
        Ok(last)
    }

    /// One name's value, read from the latest commit.
    pub fn named_value(&self, table: Named, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(t) = open_or_none(&txn, named(table))? else { return Ok(None) };
        Ok(t.get(name)?.map(|v| v.value().to_vec()))
    }
}

impl Reader {
    /// Every (name, value) under `table`.
    pub fn named(&self, table: Named) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let Some(t) = self.table(named(table))? else { return Ok(Vec::new()) };
        t.iter()?
            .map(|e| e.map(|(k, v)| (k.value().to_owned(), v.value().to_vec())).map_err(StoreError::from))
            .collect()
    }

    /// The entries of `table` numbered above `after`, oldest first, at most `limit`.
    pub fn log_after(&self, table: Log, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(t) = self.table(log(table))? else { return Ok(Vec::new()) };
        t.range(after.saturating_add(1)..)?
            .take(limit)
            .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())).map_err(StoreError::from))
            .collect()
    }

    /// The last `count` entries of `table`, oldest first.
    pub fn log_tail(&self, table: Log, count: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(t) = self.table(log(table))? else { return Ok(Vec::new()) };
        let mut tail: Vec<(u64, Vec<u8>)> = t
            .iter()?
            .rev()
            .take(count)
            .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
            .collect::<Result<_, _>>()?;
        tail.reverse();
        Ok(tail)
    }
}
