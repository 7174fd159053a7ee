#!/usr/bin/env bash
# The PostgreSQL export benchmark of README's Performance section:
#   benches/export-postgres-1m.sh      (reuses benches/import-1m.sh's 1,000,000-lead store)
# In one throwaway cluster: `leadsprint export postgres` into a fresh table (its CPU
# time is the binary's own side: scan + encode), then the physical limit — the same
# rows as CSV, `COPY FROM STDIN` into an identical, identically indexed table — and a
# second export, which must change nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${LEADSPRINT_BENCH_WORK:-/tmp/leadsprint-bench}
[ -f "$work/data/leads.redb" ] || { echo "run benches/import-1m.sh first"; exit 1; }
cargo build --release --quiet
# shellcheck source=benches/pg-cluster.sh
source benches/pg-cluster.sh "$work/pg-export" 55435
trap pg_stop EXIT
url="postgres://postgres@127.0.0.1:55435/postgres"
/usr/bin/time -f "leadsprint export: %e s wall; leadsprint's own CPU %U s user + %S s sys; %M KB peak RSS" \
  target/release/leadsprint --data-dir "$work/data" export postgres --url "$url" --table pm_export | tail -7
psql -q -d postgres -c "CREATE TABLE pm_copy (LIKE pm_export INCLUDING ALL)"
psql -q -d postgres -c "\\copy pm_export TO '$work/pm.csv' WITH (FORMAT csv)"
python3 - "$work/pm.csv" <<'PY'
import subprocess, sys, time
started = time.time()
subprocess.run(["psql", "-q", "-d", "postgres", "-c", f"\\copy pm_copy FROM '{sys.argv[1]}' WITH (FORMAT csv)"], check=True)
elapsed = time.time() - started
print(f"raw COPY FROM STDIN into the same indexed table: {elapsed:.1f} s ({1_000_000 / elapsed:,.0f} rows/s)")
PY
/usr/bin/time -f "second export (no change expected): %e s wall" \
  target/release/leadsprint --data-dir "$work/data" export postgres --url "$url" --table pm_export | tail -7
