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
    lookup_latency(&store, &index);
}

/// p50/p99 of single lookups: every 8th stored key (hits) and as many random hashes
/// (misses), each timed on its own (the timer adds about 20 ns).
fn lookup_latency(store: &Store, index: &leadsprint::dedup::KeyIndex) {
    let mut probes = Vec::new();
    let mut n = 0u64;
    let _ = store.for_each_key_hash(|hash, _| {
        n += 1;
        if n.is_multiple_of(8) {
            probes.push(hash);
            probes.push(hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n);
        }
    });
    let mut nanos: Vec<u64> = probes
        .iter()
        .map(|&h| {
            let t = Instant::now();
            std::hint::black_box(index.candidates(h).next());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    nanos.sort_unstable();
    let at =
        |q: f64| nanos.get(((nanos.len() as f64 * q) as usize).min(nanos.len().saturating_sub(1))).copied();
    println!(
        "dedup lookup: {} probes, p50 {} ns, p99 {} ns, max {} ns",
        nanos.len(),
        at(0.5).unwrap_or(0),
        at(0.99).unwrap_or(0),
        nanos.last().copied().unwrap_or(0)
    );
}
