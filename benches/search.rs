//! Search latency over a real data dir: ten typical queries (top-20 ranked, some
//! faceted, hits read back from the store as the CLI and API do), each run alone
//! many times; prints p50/p99 per query and the index
//! size. Run by `benches/search-1m.sh` on the store its import built; on its own it
//! needs `LEADSPRINT_BENCH_DATA_DIR` (without it, it says so and exits).

use std::time::{Duration, Instant};

use leadsprint::search::{Request, Sort};
use leadsprint::store::Store;
use leadsprint::{catalog, pipeline};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (label, query, sort, facets). The first eight have a PostgreSQL twin in
/// `benches/search-vs-postgres.sql`.
const QUERIES: [(&str, &str, Sort, bool); 10] = [
    ("term", "marketing", Sort::Relevance, false),
    ("field term", "title:ppc", Sort::Relevance, false),
    ("AND", "title:manager AND city:chicago", Sort::Relevance, false),
    ("phrase", "\"paid media\"", Sort::Relevance, false),
    ("OR", "director OR head", Sort::Relevance, false),
    ("domain", "domain:company123.com", Sort::Relevance, false),
    ("AND 3 terms", "performance marketing manager", Sort::Relevance, false),
    ("range+sort", "has:email quality:>=80", Sort::Quality, false),
    ("fuzzy", "markting~1", Sort::Relevance, false),
    ("faceted", "title:manager city:\"new york\"", Sort::Relevance, true),
];

const RUNS: usize = 300;

fn main() {
    let Some(dir) = std::env::var_os("LEADSPRINT_BENCH_DATA_DIR") else {
        eprintln!("search bench: set LEADSPRINT_BENCH_DATA_DIR to a data dir (benches/search-1m.sh does)");
        return;
    };
    if let Err(e) = run(std::path::Path::new(&dir)) {
        eprintln!("search bench: {e}");
        std::process::exit(1);
    }
}

fn run(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open_existing(dir)?;
    let started = Instant::now();
    let (index, caught_up) = pipeline::open_index(&store)?;
    println!(
        "index: {} documents; open + catch-up {:.3} s ({} leads re-read{})",
        index.len(),
        started.elapsed().as_secs_f64(),
        caught_up.leads,
        if caught_up.rebuilt { ", rebuilt" } else { "" }
    );
    println!("{:<12} {:<42} {:>9} {:>10} {:>10}", "kind", "query", "matches", "p50 ms", "p99 ms");
    let now = pipeline::now_millis();
    for (label, query, sort, facets) in QUERIES {
        let request = Request { sort, facets, ..Request::new(query, now) };
        let total = index.search(&request)?.total;
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            std::hint::black_box(catalog::find(&store, &index, &request)?);
            times.push(t.elapsed());
        }
        times.sort_unstable();
        let (p50, p99) = (ms(times[RUNS / 2]), ms(times[RUNS * 99 / 100]));
        println!("{label:<12} {query:<42} {total:>9} {p50:>10.3} {p99:>10.3}");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
