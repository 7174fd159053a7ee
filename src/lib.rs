//! leadsprint: collect leads from data vendors, de-duplicate, score, store, search
//! and export them — one binary, no external services.
//!
//! Data flows one way:
//!
//! ```text
//! import / sources ─► pipeline::prepare (lead::normalize, lead::quality)
//!                  ─► pipeline::Writer (dedup against store) ─► store (redb)
//!                  ─► search index (tantivy, fed after each commit)
//!                  ─► catalog (search + store) ─► export (CSV, JSONL)
//! ```
//!
//! - [`lead`]: the model, identity keys, normalisation and the quality score (pure).
//! - [`dedup`]: the xxh3 key index and the merge policy (pure, synchronous).
//! - [`store`]: redb tables, the durable batch write, readers.
//! - [`codec`]: bincode behind a format-version byte.
//! - [`config`]: the campaign file, environment and flags → validated settings.
//! - [`pipeline`]: stage order and the single writer.
//! - [`import`]: CSV and JSON files into pipeline items.
//! - [`http`]: the one rate-limited, retrying HTTP client (vendors and CRMs).
//! - [`sources`]: the vendor connectors and the sandbox vendors.
//! - [`engine`]: the collection run — a task per workflow, resume, breaker, target.
//! - [`enrich`]: enrichment providers (Hunter, Apollo organizations, ZeroBounce).
//! - [`search`]: the tantivy index (derived from the store), the query language, facets.
//! - [`catalog`]: searches answered with stored leads (CLI, HTTP API, exports).
//! - [`export`]: files, PostgreSQL, HubSpot and Salesforce at the end.
//! - [`server`]: the HTTP API (axum) over the store and index readers.
//! - [`stats`]: KPIs from the store's counters.

pub mod alerts;
pub mod catalog;
pub mod codec;
pub mod config;
pub mod dedup;
pub mod engine;
pub mod enrich;
pub mod export;
pub mod http;
pub mod import;
pub mod lead;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod search;
pub mod server;
pub mod sources;
pub mod stats;
pub mod store;
