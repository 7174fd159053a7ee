#!/usr/bin/env bash
# The import and start-up benchmark of README's Performance section:
#   benches/import-1m.sh [ROWS]        (default 1,000,000 rows, 30% duplicates)
# Generates the file once, imports it into a fresh data dir (durable 500-record
# commits), then times opening that store and rebuilding the de-duplication index,
# warm (three runs) and cold (page cache dropped; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
work=${LEADSPRINT_BENCH_WORK:-/tmp/leadsprint-bench}
mkdir -p "$work"
cargo build --release --quiet
cargo bench --bench startup --no-run --quiet 2>/dev/null
csv="$work/leads-$rows.csv"
[ -f "$csv" ] || python3 benches/gen-leads.py "$rows" 0.3 "$csv"
rm -rf "$work/data"
/usr/bin/time -f "import: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
  target/release/leadsprint --data-dir "$work/data" import "$csv" | tail -6
du -sh "$work/data"
for run in 1 2 3; do
  LEADSPRINT_BENCH_DATA_DIR="$work/data" cargo bench --quiet --bench startup 2>/dev/null | sed "s/^/warm $run: /"
done
if [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
  sync && echo 3 > /proc/sys/vm/drop_caches
  LEADSPRINT_BENCH_DATA_DIR="$work/data" cargo bench --quiet --bench startup 2>/dev/null | sed "s/^/cold: /"
else
  echo "cold: skipped (dropping the page cache needs root)"
fi
