//! Start-up cost of a data dir: how long rebuilding the de-duplication index from
//! the store takes, and how much memory it holds per lead. Run by
//! `benches/import-1m.sh` on the store its import built; on its own it needs
//! `LEADSPRINT_BENCH_DATA_DIR` (without it, it says so and exits).

use std::time::Instant;

use leadsprint::pipeline::rebuild_index;
use leadsprint::store::Store;

fn main() {
    let Some(dir) = std::env::var_os("LEADSPRINT_BENCH_DATA_DIR") else {
        eprintln!("startup bench: set LEADSPRINT_BENCH_DATA_DIR to a data dir (benches/import-1m.sh does)");
        return;
    };
    let started = Instant::now();
    let store = match Store::open(std::path::Path::new(&dir)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("startup bench: {e}");
            std::process::exit(1);
        }
    };
    let opened = started.elapsed();
    let index = match rebuild_index(&store) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("startup bench: {e}");
            std::process::exit(1);
        }
    };
    let total = started.elapsed();
    let leads = store.reader().map(|r| r.counters().map(|c| c.unique_leads).unwrap_or(0)).unwrap_or(0);
    println!(
        "start-up: open {:.3} s, index rebuild {:.3} s, total {:.3} s; {} keys of {} leads; index {:.1} MB = {:.1} bytes/lead",
        opened.as_secs_f64(),
        (total - opened).as_secs_f64(),
        total.as_secs_f64(),
        index.len(),
        leads,
        index.heap_bytes() as f64 / 1e6,
        index.heap_bytes() as f64 / leads.max(1) as f64
    );
}
