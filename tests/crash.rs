//! `kill -9` at random moments of a large import: the store always opens, its
//! counts agree with its contents, and re-importing finishes the job with exactly
//! the leads of an uninterrupted run, and the search index agrees with the store. Seeds are printed so a failure replays.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{Sandbox, assert_consistent, identities, messy};

const PEOPLE: usize = 4000;
const TRIALS: u64 = 5;

fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn kill_9_during_import_loses_nothing_and_counts_nothing_twice() {
    let (text, people) = messy::file(PEOPLE);
    let baseline = Sandbox::new();
    let file = baseline.write("big.csv", &text);
    let started = Instant::now();
    assert_eq!(baseline.import(&file).code, 0);
    let full = started.elapsed();
    let expected = identities(&baseline.leads());
    assert_eq!(expected.len(), people);

    let mut seed = std::env::var("LEADSPRINT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64));
    eprintln!("crash test seed {seed} (set LEADSPRINT_CRASH_SEED to replay); full import took {full:?}");
    for trial in 0..TRIALS {
        let sb = Sandbox::new();
        let file = sb.write("big.csv", &text);
        let delay = Duration::from_micros(next(&mut seed) % (full.as_micros() as u64).max(1));
        let mut child = sb.command(&["import", file.to_str().unwrap()]).spawn().expect("spawn import");
        std::thread::sleep(delay);
        child.kill().expect("kill -9");
        let status = child.wait().expect("wait");
        assert_consistent(&sb);
        let has_store = sb.data_dir().join(leadsprint::store::DB_FILE).exists();
        let committed = if has_store { sb.stats()["unique_leads"].as_u64().unwrap_or(0) } else { 0 };
        eprintln!("trial {trial}: killed after {delay:?} ({status}) with {committed} leads committed");
        if has_store {
            // The index catches up with whatever the store committed.
            assert_eq!(
                sb.searchable(),
                committed,
                "trial {trial}: index disagrees with the store after kill -9"
            );
        }
        let run = sb.import(&file);
        assert_eq!(run.code, 0, "trial {trial}: {}", run.stderr);
        assert_consistent(&sb);
        assert_eq!(
            identities(&sb.leads()),
            expected,
            "trial {trial}: leads differ from an uninterrupted run"
        );
        assert_eq!(sb.searchable(), people as u64, "trial {trial}: index disagrees after the re-import");
    }
}
