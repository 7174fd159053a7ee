//! The one integration test binary: the real `leadsprint` binary against real
//! redb stores in temporary data dirs.

mod support;

mod alerts;
mod api;
mod browser;
mod collect;
mod conformance;
mod crash;
mod disk_full;
mod engine;
mod enrich;
mod export_crm;
mod export_postgres;
mod identity;
mod import;
mod import_formats;
mod pipes;
mod plan;
mod report;
mod retries;
mod run_crash;
mod search;
mod shared_dir;
